//! Bindings for MeshTrafficPermission (`meshauthz.mtp`): conversions only, decisions live in
//! `meshauthz_core::mtp`. Bad input raises `ValueError`; nothing here panics.

use std::collections::{BTreeMap, HashMap};

use meshauthz_core::mtp::{
    self, subset, Action, ClientIdentity, ClientIds, FromItem, InboundPlan, MtpDataplane,
    MtpGateway, MtpInbound, MtpPolicy, PolicyOrder, Tag, TargetRef, Verdict,
};
use pyo3::exceptions::{PyKeyError, PyValueError};
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

const KEYS: [&str; 10] = [
    "allowed",
    "reason",
    "action",
    "policy",
    "from_index",
    "shadow_deny",
    "kuma_enforcement_divergence",
    "matched_policies",
    "overridden",
    "tie",
];

/// One M6.2 decision (§9). The scalar fields are computed by `decide`; `matched_policies` and
/// `overridden` are built from the cached inbound plan when read. Readable as attributes or as a
/// read-only mapping (`d["reason"]`, `keys()`, `to_dict()`).
#[pyclass(frozen, name = "MtpVerdict", module = "meshauthz._core")]
struct PyMtpVerdict {
    set: Py<PyMtpSet>,
    dp: usize,
    port: u32,
    ids: ClientIds,
    v: Verdict,
}

impl PyMtpVerdict {
    fn plan<'a>(&self, set: &'a PyMtpSet) -> &'a InboundPlan {
        set.inner
            .plan(self.dp, self.port)
            .expect("a verdict is made from an existing plan")
    }
}

#[pymethods]
impl PyMtpVerdict {
    #[getter]
    fn allowed(&self) -> bool {
        self.v.allowed
    }
    #[getter]
    fn reason(&self) -> &'static str {
        self.v.reason.as_str()
    }
    #[getter]
    fn action(&self) -> Option<&'static str> {
        self.v.action.map(Action::as_str)
    }
    #[getter]
    fn policy(&self) -> Option<String> {
        let set = self.set.get();
        self.v
            .last
            .map(|l| self.plan(set).item_policy(&set.inner, l).to_string())
    }
    #[getter(from_index)]
    fn deciding_from_index(&self) -> Option<usize> {
        let set = self.set.get();
        self.v.last.map(|l| self.plan(set).item_from_index(l))
    }
    #[getter]
    fn shadow_deny(&self) -> bool {
        self.v.reason == mtp::Reason::MtpAllowShadowDeny
    }
    #[getter]
    fn kuma_enforcement_divergence(&self) -> bool {
        self.v.divergence
    }
    #[getter]
    fn tie(&self) -> bool {
        self.plan(self.set.get()).tie
    }
    /// Lowest priority first (M4.9).
    #[getter]
    fn matched_policies(&self) -> Vec<&str> {
        let set = self.set.get();
        self.plan(set).policy_names(&set.inner).collect()
    }
    /// Earlier matching items: [(policy, from index, action)].
    #[getter]
    fn overridden(&self) -> Vec<(&str, usize, &'static str)> {
        let set = self.set.get();
        self.plan(set)
            .overridden(&set.inner, &self.v, &self.ids)
            .map(|(p, f, a)| (p, f, a.as_str()))
            .collect()
    }

    fn keys(&self) -> Vec<&'static str> {
        KEYS.to_vec()
    }
    fn __getitem__<'py>(slf: &Bound<'py, Self>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        if !KEYS.contains(&key) {
            return Err(PyKeyError::new_err(key.to_string()));
        }
        slf.getattr(key)
    }
    fn to_dict<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(slf.py());
        for k in KEYS {
            out.set_item(k, slf.getattr(k)?)?;
        }
        Ok(out)
    }
    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(format!("MtpVerdict({})", Self::to_dict(slf)?.repr()?))
    }
}

/// The compiled MTP engine (`meshauthz_core::mtp::MtpSet`), immutable.
#[pyclass(frozen, name = "MtpSet", module = "meshauthz._core")]
struct PyMtpSet {
    inner: mtp::MtpSet,
}

impl PyMtpSet {
    fn dp_index(&self, mesh: &str, name: &str) -> PyResult<usize> {
        self.inner
            .dataplane_index(mesh, name)
            .ok_or_else(|| PyValueError::new_err(format!("no Dataplane {name:?} in mesh {mesh:?}")))
    }
    fn dp(&self, mesh: &str, name: &str) -> PyResult<&MtpDataplane> {
        Ok(&self.inner.dataplanes()[self.dp_index(mesh, name)?])
    }

    fn verdict(
        &self,
        slf: &Bound<'_, Self>,
        mesh: &str,
        name: &str,
        port: u32,
        identity: &ClientIdentity,
        ids: &ClientIds,
    ) -> PyResult<Option<PyMtpVerdict>> {
        let dp = self.dp_index(mesh, name)?;
        let Some(plan) = self.inner.plan(dp, port).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let v = plan.decide(&self.inner, mesh, identity, ids);
        Ok(Some(PyMtpVerdict {
            set: slf.clone().unbind(),
            dp,
            port,
            ids: ids.clone(),
            v,
        }))
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
    fn matched_policies(&self, mesh: &str, name: &str, port: u32) -> PyResult<Vec<&str>> {
        let dp = self.dp_index(mesh, name)?;
        Ok(self
            .inner
            .plan(dp, port)
            .map(|p| p.policy_names(&self.inner).collect())
            .unwrap_or_default())
    }

    /// E4 hook: M6.2 decision for a client Dataplane, or None when no MTP selects the inbound.
    fn decide(
        slf: &Bound<'_, Self>,
        mesh: &str,
        name: &str,
        port: u32,
        client_mesh: &str,
        client_name: &str,
    ) -> PyResult<Option<PyMtpVerdict>> {
        let this = slf.get();
        let client = this.dp_index(client_mesh, client_name)?;
        let (identity, ids) = this.inner.dataplane_identity(client);
        this.verdict(slf, mesh, name, port, identity, ids)
    }

    /// As `decide`, for an explicit certificate identity (M5.1: (key, value) SAN pairs).
    fn decide_identity(
        slf: &Bound<'_, Self>,
        mesh: &str,
        name: &str,
        port: u32,
        client_mesh: String,
        client_tags: Vec<(String, String)>,
    ) -> PyResult<Option<PyMtpVerdict>> {
        let this = slf.get();
        let identity = ClientIdentity {
            mesh: client_mesh,
            tags: client_tags.into_iter().collect(),
        };
        let ids = this.inner.client_ids(&identity);
        this.verdict(slf, mesh, name, port, &identity, &ids)
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
    m.add_class::<PyMtpVerdict>()?;
    m.add_function(wrap_pyfunction!(mtp_subset_contains, m)?)?;
    m.add_function(wrap_pyfunction!(mtp_subset_is_subset, m)?)?;
    m.add_function(wrap_pyfunction!(mtp_subset_iter, m)?)?;
    Ok(())
}
