//! `meshauthz._core`: thin PyO3 translation layer over `meshauthz-core`.
//! Conversions only; every decision lives in the core crate.

use pyo3::prelude::*;

mod batch;
mod batch_rbac;
mod batch_traffic;
mod bundle;
mod errors;
mod mtp;
mod pool;
mod rbac;
mod selector;
mod traffic;
mod traffic_checker;
mod traffic_decision;
mod yaml;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    selector::register(m)?;
    traffic::register(m)?;
    rbac::register(m)?;
    mtp::register(m)?;
    batch::register(m)?;
    batch_rbac::register(m)?;
    batch_traffic::register(m)?;
    bundle::register(m)?;
    yaml::register(m)?;
    Ok(())
}
