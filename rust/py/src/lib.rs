//! `meshauthz._core`: thin PyO3 translation layer over `meshauthz-core`.
//! Conversions only; every decision lives in the core crate.

use pyo3::prelude::*;

mod batch;
mod mtp;
mod rbac;
mod selector;
mod traffic;
mod yaml;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    selector::register(m)?;
    traffic::register(m)?;
    rbac::register(m)?;
    mtp::register(m)?;
    batch::register(m)?;
    yaml::register(m)?;
    Ok(())
}
