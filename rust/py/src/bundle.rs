//! Bindings for a bundle's compiled section (`meshauthz_core::bundle`): conversions only.
//! Whether a bundle may use its compiled sets (a verified signature) is decided by the caller;
//! every defect of a section is a `BundleError` (mapped in `errors.rs`).

use meshauthz_core::bundle::{self, SetsError};
use meshauthz_core::mtp::rules::DEFAULT_MAX_RULES;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::traffic::{inputs, DataplaneRow, MeshRow, PolicyRow, TrafficSnapshot};

type Tags = std::collections::HashMap<String, String>;

fn digest(py: Python<'_>, resources: &[u8]) -> PyResult<[u8; 32]> {
    <[u8; 32]>::try_from(resources).map_err(|_| {
        errors::bundle(
            py,
            SetsError::Malformed("the resource digest is not 32 bytes".into()),
        )
    })
}

/// The compiled section of a bundle: the rows of `TrafficSnapshot(...)` (same arguments) compiled
/// by the core and serialised with the sha256 `resources` of the resource section.
#[pyfunction]
#[pyo3(signature = (meshes, dataplanes, external_services, policies, mtp_policies, mtp_dataplanes, resources))]
#[allow(clippy::too_many_arguments)]
fn bundle_traffic_sets<'py>(
    py: Python<'py>,
    meshes: Vec<MeshRow>,
    dataplanes: Vec<DataplaneRow>,
    external_services: Vec<(String, String, Tags)>,
    policies: Vec<PolicyRow>,
    mtp_policies: &Bound<'py, PyAny>,
    mtp_dataplanes: &Bound<'py, PyAny>,
    resources: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let resources = digest(py, resources)?;
    let inputs = inputs(
        meshes,
        dataplanes,
        external_services,
        policies,
        mtp_policies,
        mtp_dataplanes,
    )?;
    let bytes = errors::detached(py, || Ok(bundle::encode(&resources, inputs)))?
        .map_err(|e| errors::traffic(py, e))?;
    Ok(PyBytes::new(py, &bytes))
}

/// A `TrafficSnapshot` straight from a compiled section (deserialised, not recompiled): the
/// section must name the resource section of sha256 `resources` and this meshauthz version.
#[pyfunction]
#[pyo3(signature = (sets, resources, max_rules = DEFAULT_MAX_RULES))]
fn bundle_traffic_snapshot(
    py: Python<'_>,
    sets: &[u8],
    resources: &[u8],
    max_rules: usize,
) -> PyResult<TrafficSnapshot> {
    let resources = digest(py, resources)?;
    let snap = errors::detached(py, || {
        Ok(bundle::decode(sets, &resources).map(|c| c.snapshot()))
    })?
    .map_err(|e| errors::bundle(py, e))?;
    TrafficSnapshot::from_snapshot(py, snap, max_rules)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bundle_traffic_sets, m)?)?;
    m.add_function(wrap_pyfunction!(bundle_traffic_snapshot, m)?)?;
    Ok(())
}
