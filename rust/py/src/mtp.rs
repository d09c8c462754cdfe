//! Bindings for MeshTrafficPermission (`meshauthz.mtp`): conversions only, decisions live in
//! `meshauthz_core::mtp`. Bad input raises `ValueError`; nothing here panics.

use std::collections::{BTreeMap, HashMap};

use meshauthz_core::mtp::{
    self, subset, Action, ClientIdentity, FromItem, MtpDataplane, MtpDecision, MtpGateway,
    MtpInbound, MtpPolicy, PolicyOrder, Tag, TargetRef,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

type Map = BTreeMap<String, String>;
/// (kind, name, namespace, labels, tags, proxyTypes, sectionName); "" / {} / [] = not set.
type PyTargetRef = (String, String, String, Map, Map, Vec<String>, String);
/// (name, mesh, labels, targetRef, [(from targetRef, action)]).
type PyPolicy = (String, String, Map, PyTargetRef, Vec<(PyTargetRef, String)>);
/// [(subset strings, action)].
type PyRules = Vec<(Vec<String>, &'static str)>;
/// (name, mesh, labels, [(port, name, tags, ignored)], gateway: (builtin, tags) | None).
type PyDataplane = (
    String,
    String,
    Map,
    Vec<(u32, String, Map, bool)>,
    Option<(bool, Map)>,
);

fn target_ref(t: PyTargetRef) -> TargetRef {
    let (kind, name, namespace, labels, tags, proxy_types, section_name) = t;
    TargetRef {
        kind,
        name,
        namespace,
        labels,
        tags,
        proxy_types,
        section_name,
    }
}

fn policy(p: PyPolicy) -> PyResult<MtpPolicy> {
    let (name, mesh, labels, tr, from) = p;
    let from = from
        .into_iter()
        .map(|(t, a)| {
            let action = Action::parse(&a).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "MeshTrafficPermission {name}: unknown action {a:?}"
                ))
            })?;
            Ok(FromItem {
                target_ref: target_ref(t),
                action,
            })
        })
        .collect::<PyResult<_>>()?;
    Ok(MtpPolicy {
        name,
        mesh,
        labels,
        target_ref: target_ref(tr),
        from,
    })
}

fn dataplane(d: PyDataplane) -> MtpDataplane {
    let (name, mesh, labels, inbounds, gateway) = d;
    MtpDataplane {
        name,
        mesh,
        labels,
        inbounds: inbounds
            .into_iter()
            .map(|(port, name, tags, ignored)| MtpInbound {
                port,
                name,
                tags,
                ignored,
            })
            .collect(),
        gateway: gateway.map(|(builtin, tags)| MtpGateway { builtin, tags }),
    }
}

fn tags(items: &[String]) -> PyResult<Vec<Tag>> {
    items
        .iter()
        .map(|s| {
            Tag::parse(s).ok_or_else(|| {
                PyValueError::new_err(format!("bad subset tag {s:?}: want k=v or k!=v"))
            })
        })
        .collect()
}

fn render(ss: &[Tag]) -> Vec<String> {
    ss.iter().map(Tag::to_string).collect()
}

fn decision<'py>(py: Python<'py>, d: &MtpDecision) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("allowed", d.allowed)?;
    out.set_item("reason", d.reason.as_str())?;
    out.set_item("action", d.action.map(Action::as_str))?;
    out.set_item("policy", d.policy.as_deref())?;
    out.set_item("from_index", d.from_index)?;
    out.set_item("shadow_deny", d.shadow_deny)?;
    out.set_item("kuma_enforcement_divergence", d.kuma_enforcement_divergence)?;
    out.set_item("matched_policies", &d.matched_policies)?;
    let overridden: Vec<(&str, usize, &str)> = d
        .overridden
        .iter()
        .map(|o| (o.policy.as_str(), o.from_index, o.action.as_str()))
        .collect();
    out.set_item("overridden", overridden)?;
    out.set_item("tie", d.tie)?;
    Ok(out)
}

/// The compiled MTP engine (`meshauthz_core::mtp::MtpSet`), immutable.
#[pyclass(frozen, name = "MtpSet", module = "meshauthz._core")]
struct PyMtpSet {
    inner: mtp::MtpSet,
}

impl PyMtpSet {
    fn dp(&self, mesh: &str, name: &str) -> PyResult<&MtpDataplane> {
        self.inner
            .dataplane(mesh, name)
            .ok_or_else(|| PyValueError::new_err(format!("no Dataplane {name:?} in mesh {mesh:?}")))
    }
}

#[pymethods]
impl PyMtpSet {
    #[new]
    fn new(policies: Vec<PyPolicy>, dataplanes: Vec<PyDataplane>) -> PyResult<Self> {
        let policies = policies.into_iter().map(policy).collect::<PyResult<_>>()?;
        Ok(PyMtpSet {
            inner: mtp::MtpSet::new(policies, dataplanes.into_iter().map(dataplane).collect()),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn has_dataplane(&self, mesh: &str, name: &str) -> bool {
        self.inner.dataplane(mesh, name).is_some()
    }

    /// M4: names of the policies selecting the inbound, lowest priority first.
    fn matched_policies(&self, mesh: &str, name: &str, port: u32) -> PyResult<Vec<String>> {
        Ok(self.inner.matched_policies(self.dp(mesh, name)?, port))
    }

    /// E4 hook: M6.2 decision for a client Dataplane, or None when no MTP selects the inbound.
    fn decide<'py>(
        &self,
        py: Python<'py>,
        mesh: &str,
        name: &str,
        port: u32,
        client_mesh: &str,
        client_name: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let identity = self.dp(client_mesh, client_name)?.identity();
        self.inner
            .decide_inbound(self.dp(mesh, name)?, port, &identity)
            .map(|d| decision(py, &d))
            .transpose()
    }

    /// As `decide`, for an explicit certificate identity (M5.1: (key, value) SAN pairs).
    fn decide_identity<'py>(
        &self,
        py: Python<'py>,
        mesh: &str,
        name: &str,
        port: u32,
        client_mesh: String,
        client_tags: Vec<(String, String)>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let identity = ClientIdentity {
            mesh: client_mesh,
            tags: client_tags.into_iter().collect(),
        };
        self.inner
            .decide_inbound(self.dp(mesh, name)?, port, &identity)
            .map(|d| decision(py, &d))
            .transpose()
    }

    /// M6.4 rule list as [(subset strings, action)], or None when no MTP selects the inbound.
    #[pyo3(signature = (mesh, name, port, as_listed = false))]
    fn rules(
        &self,
        mesh: &str,
        name: &str,
        port: u32,
        as_listed: bool,
    ) -> PyResult<Option<PyRules>> {
        let order = if as_listed {
            PolicyOrder::AsListed
        } else {
            PolicyOrder::Kuma
        };
        let rules = self
            .inner
            .rules(self.dp(mesh, name)?, port, order)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(rules.map(|rs| {
            rs.iter()
                .map(|r| (render(&r.subset), r.action.as_str()))
                .collect()
        }))
    }

    /// Benchmark baseline: same arguments as `decide`, does nothing.
    fn noop(&self, mesh: &str, name: &str, port: u32, client_mesh: &str, client_name: &str) {
        let _ = (mesh, name, port, client_mesh, client_name);
    }
}

/// M6.5 `ContainsElement`.
#[pyfunction]
fn mtp_subset_contains(subset: Vec<String>, element: HashMap<String, String>) -> PyResult<bool> {
    Ok(subset::contains(
        &tags(&subset)?,
        &element.into_iter().collect(),
    ))
}

/// M6.5 `IsSubset`: is `s2` a subset of `s1`.
#[pyfunction]
fn mtp_subset_is_subset(s1: Vec<String>, s2: Vec<String>) -> PyResult<bool> {
    Ok(subset::is_subset(&tags(&s1)?, &tags(&s2)?))
}

/// M6.4.4 `SubsetIter` in enumeration order.
#[pyfunction]
fn mtp_subset_iter(tag_list: Vec<String>) -> PyResult<Vec<Vec<String>>> {
    let t = tags(&tag_list)?;
    if subset::iter_len(&t) > mtp::rules::MAX_COMBINATIONS {
        return Err(PyValueError::new_err("too many combinations"));
    }
    Ok(subset::iter(&t).iter().map(|s| render(s)).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMtpSet>()?;
    m.add_function(wrap_pyfunction!(mtp_subset_contains, m)?)?;
    m.add_function(wrap_pyfunction!(mtp_subset_is_subset, m)?)?;
    m.add_function(wrap_pyfunction!(mtp_subset_iter, m)?)?;
    Ok(())
}
