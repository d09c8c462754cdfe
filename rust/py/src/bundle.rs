//! Bindings for a bundle's compiled section (`meshauthz_core::bundle`): conversions only.
//! Whether a bundle may use its compiled sets (a verified signature) is decided by the caller;
//! every defect of a section is a `BundleError` (mapped in `errors.rs`).

use meshauthz_core::bundle::{self, SetsError};
use meshauthz_core::bundle_rows;
use meshauthz_core::mtp::rules::DEFAULT_MAX_RULES;
use meshauthz_core::rbac::policy_doc;
use meshauthz_core::traffic::PolicyInput;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use std::sync::Mutex;

use crate::errors;
use crate::rbac::convert::PyNode;
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

/// The compile inputs of the TrafficPermission rows `bundle_rows` vouched for (kept native until
/// `bundle_rows_sets` takes them: the sets are derived once).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct BundlePolicies {
    policies: Mutex<Option<Vec<PolicyInput>>>,
    /// Two rows have one store key (type, mesh, name).
    #[pyo3(get)]
    duplicates: bool,
}

#[pymethods]
impl BundlePolicies {
    /// The vouched TrafficPermissions whose inputs are held (0 once `bundle_rows_sets` took them).
    fn __len__(&self) -> usize {
        self.policies
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(Vec::len))
            .unwrap_or(0)
    }
}

/// The rows of `(kind names, kind per row, names, meshes, flat [start, end] byte spans (native
/// u64: `memoryview(spans).cast("Q")`), rows not vouched for, native TrafficPermission inputs)`.
type Rows<'py> = (
    Bound<'py, PyList>,
    Vec<u32>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Bound<'py, PyBytes>,
    Vec<usize>,
    BundlePolicies,
);

/// A bundle's inflated resources section read by the core (`meshauthz_core::bundle_rows::scan`),
/// or None when it is not on the native path (the caller's reference decoder reads it).
#[pyfunction(name = "bundle_rows")]
fn scan_rows<'py>(py: Python<'py>, section: &[u8]) -> PyResult<Option<Rows<'py>>> {
    let Ok((scan, duplicates)) = errors::detached(py, || {
        Ok(bundle_rows::scan(section).map(|s| {
            let d = s.has_duplicate_keys();
            (s, d)
        }))
    })?
    else {
        return Ok(None);
    };
    let kinds = PyList::new(py, scan.kinds.iter().map(|k| k.as_ref()))?;
    let names = PyList::new(py, scan.rows.iter().map(|r| r.name.as_ref()))?;
    // one str per distinct mesh (a bundle's rows name few)
    let mut distinct: Vec<(&str, Bound<'py, PyString>)> = Vec::new();
    let mut mesh_objs: Vec<Option<Bound<'py, PyString>>> = Vec::with_capacity(scan.rows.len());
    for m in scan.rows.iter().map(|r| r.mesh.as_deref()) {
        mesh_objs.push(m.map(|m| {
            if let Some((_, o)) = distinct.iter().find(|(k, _)| *k == m) {
                return o.clone();
            }
            let o = PyString::new(py, m);
            if distinct.len() < 64 {
                distinct.push((m, o.clone()));
            }
            o
        }));
    }
    let meshes = PyList::new(py, mesh_objs)?;
    let kind = scan.rows.iter().map(|r| r.kind).collect();
    let spans: Vec<u8> = (scan.rows.iter())
        .flat_map(|r| [r.start as u64, r.end as u64])
        .flat_map(u64::to_ne_bytes)
        .collect();
    let spans = PyBytes::new(py, &spans);
    let unvouched = (scan.rows.iter().enumerate())
        .filter(|(_, r)| !r.vouched)
        .map(|(i, _)| i)
        .collect();
    let policies = scan.policies.into_iter().map(|(_, p)| p).collect();
    Ok(Some((
        kinds,
        kind,
        names,
        meshes,
        spans,
        unvouched,
        BundlePolicies {
            policies: Mutex::new(Some(policies)),
            duplicates,
        },
    )))
}

/// `bundle_traffic_sets` for a bundle read by `bundle_rows`: the rows Python extracted (every
/// kind but the vouched TrafficPermissions) with `native`'s inputs.
#[pyfunction]
#[pyo3(signature = (native, meshes, dataplanes, external_services, policies, mtp_policies, mtp_dataplanes, resources))]
#[allow(clippy::too_many_arguments)]
fn bundle_rows_sets<'py>(
    py: Python<'py>,
    native: &BundlePolicies,
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
    let taken = native.policies.lock().ok().and_then(|mut p| p.take());
    let Some(native) = taken else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "the native TrafficPermission inputs were already used",
        ));
    };
    let bytes = errors::detached(py, || {
        Ok(bundle::encode(
            &resources,
            bundle_rows::traffic_inputs(native, inputs),
        ))
    })?
    .map_err(|e| errors::traffic(py, e))?;
    Ok(PyBytes::new(py, &bytes))
}

/// `sets` (a compiled section written by `bundle_traffic_sets` / `bundle_rows_sets` for the
/// resource section of sha256 `resources`) with its RBAC part: the AccessRole and
/// AccessRoleBinding documents `{name, rules}` / `{name, subjects, roles}` (load order) converted
/// by the core as `RbacPolicySet(...)` converts them. `None` when they do not convert or compile
/// (the section is then written without the part: the Authorizer compiles from the resources and
/// reports the error as from YAML).
#[pyfunction]
fn bundle_rbac_sets<'py>(
    py: Python<'py>,
    sets: &[u8],
    roles: &Bound<'py, PyList>,
    bindings: &Bound<'py, PyList>,
    resources: &[u8],
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let resources = digest(py, resources)?;
    let roles = roles
        .iter()
        .map(|r| policy_doc::role(&PyNode(r)))
        .collect::<Result<Vec<_>, _>>();
    let bindings = bindings
        .iter()
        .map(|b| policy_doc::binding(&PyNode(b)))
        .collect::<Result<Vec<_>, _>>();
    let (Ok(roles), Ok(bindings)) = (roles, bindings) else {
        return Ok(None);
    };
    let inputs = bundle::RbacInputs { roles, bindings };
    if meshauthz_core::rbac::PolicySet::compile(inputs.roles.clone(), inputs.bindings.clone())
        .is_err()
    {
        return Ok(None);
    }
    let bytes = errors::detached(py, || Ok(bundle::with_rbac(sets, &resources, &inputs)))?
        .map_err(|e| errors::bundle(py, e))?;
    Ok(Some(PyBytes::new(py, &bytes)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bundle_rbac_sets, m)?)?;
    m.add_function(wrap_pyfunction!(bundle_traffic_sets, m)?)?;
    m.add_function(wrap_pyfunction!(bundle_traffic_snapshot, m)?)?;
    m.add_class::<BundlePolicies>()?;
    m.add_function(wrap_pyfunction!(scan_rows, m)?)?;
    m.add_function(wrap_pyfunction!(bundle_rows_sets, m)?)?;
    Ok(())
}
