//! Bindings for MeshTrafficPermission (`meshauthz.mtp`): conversions only, decisions live in
//! `meshauthz_core::mtp`. Bad input raises `ValueError`; nothing here panics.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use meshauthz_core::mtp::{
    self, subset, Action, ClientIdentity, ClientIds, FromItem, InboundPlan, MtpDataplane,
    MtpGateway, MtpInbound, MtpPolicy, PolicyOrder, Tag, TargetRef, Verdict,
};
use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors;
use crate::yaml::YamlMarks;

type Map = BTreeMap<String, String>;
/// Kuma's rule list (M6.4): [(subset strings, action)].
pub(crate) type PyRules = Vec<(Vec<String>, &'static str)>;

/// Identity hash for object addresses.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(26);
    }
}

/// Converts the compile inputs, turning each distinct Python string object into UTF-8 once (policy
/// sets repeat kinds, service names, keys and actions many times). Entries keep their object alive, so
/// an address is never reused during one conversion.
///
/// Input shapes (""/{}/[] = not set):
/// targetRef: (kind, name, namespace, labels, tags, proxyTypes, sectionName);
/// policy: (name, mesh, labels, targetRef, [(from targetRef, action)]), or
/// (name, mesh, labels, doc, doc) with `doc` the `YamlMarks` of a document read with its body
/// deferred (its targetRefs and actions read natively);
/// dataplane: (name, mesh, labels, [(port, name, tags, ignored)] | YamlMarks of a deferred Dataplane
/// document, gateway: (builtin, tags) | None).
#[derive(Default)]
pub(crate) struct Converter<'py> {
    strings: HashMap<usize, (Bound<'py, PyAny>, String), BuildHasherDefault<AddrHasher>>,
}

fn tuple<'a, 'py>(
    o: &'a Bound<'py, PyAny>,
    n: usize,
    what: &str,
) -> PyResult<&'a Bound<'py, PyTuple>> {
    let t = o.cast::<PyTuple>()?;
    if t.len() != n {
        return Err(PyValueError::new_err(format!(
            "{what}: expected a tuple of {n} items, got {}",
            t.len()
        )));
    }
    Ok(t)
}

impl<'py> Converter<'py> {
    fn str_ref(&mut self, o: &Bound<'py, PyAny>) -> PyResult<&str> {
        let entry = match self.strings.entry(o.as_ptr() as usize) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert((o.clone(), o.extract()?)),
        };
        Ok(entry.1.as_str())
    }
    fn str(&mut self, o: &Bound<'py, PyAny>) -> PyResult<String> {
        self.str_ref(o).map(str::to_string)
    }
    fn map(&mut self, o: &Bound<'py, PyAny>) -> PyResult<Map> {
        let mut out = Map::new();
        for (k, v) in o.cast::<PyDict>()?.iter() {
            out.insert(self.str(&k)?, self.str(&v)?);
        }
        Ok(out)
    }
    pub(crate) fn list<T>(
        &mut self,
        o: &Bound<'py, PyAny>,
        mut f: impl FnMut(&mut Self, &Bound<'py, PyAny>) -> PyResult<T>,
    ) -> PyResult<Vec<T>> {
        if let Ok(l) = o.cast::<PyList>() {
            let mut out = Vec::with_capacity(l.len());
            for x in l.iter() {
                out.push(f(self, &x)?);
            }
            return Ok(out);
        }
        if o.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err("expected a sequence, not str"));
        }
        let mut out = Vec::with_capacity(o.len().unwrap_or(0));
        for x in o.try_iter()? {
            out.push(f(self, &x?)?);
        }
        Ok(out)
    }
    fn target_ref(&mut self, o: &Bound<'py, PyAny>) -> PyResult<TargetRef> {
        let t = tuple(o, 7, "targetRef")?;
        Ok(TargetRef {
            kind: self.str(&*t.get_borrowed_item(0)?)?,
            name: self.str(&*t.get_borrowed_item(1)?)?,
            namespace: self.str(&*t.get_borrowed_item(2)?)?,
            labels: self.map(&*t.get_borrowed_item(3)?)?,
            tags: self.map(&*t.get_borrowed_item(4)?)?,
            proxy_types: self.list(&*t.get_borrowed_item(5)?, Self::str)?,
            section_name: self.str(&*t.get_borrowed_item(6)?)?,
        })
    }
    pub(crate) fn policy(&mut self, o: &Bound<'py, PyAny>) -> PyResult<MtpPolicy> {
        let t = tuple(o, 5, "MeshTrafficPermission")?;
        let name = self.str(&*t.get_borrowed_item(0)?)?;
        let top = t.get_borrowed_item(3)?;
        if let Ok(doc) = top.cast::<YamlMarks>() {
            // a document read with its body deferred: the YAML reader kept its targetRefs and
            // actions natively (issue #13: no Python body is built); fail closed when it did not
            let (target_ref, from) = doc.get().mtp_parts().ok_or_else(|| {
                errors::evaluation(
                    o.py(),
                    format!(
                        "MeshTrafficPermission {name}: its document's compile inputs were not \
                         kept by the YAML reader"
                    ),
                )
            })?;
            return Ok(MtpPolicy {
                mesh: self.str(&*t.get_borrowed_item(1)?)?,
                labels: self.map(&*t.get_borrowed_item(2)?)?,
                target_ref,
                from,
                name,
            });
        }
        let from = self.list(&*t.get_borrowed_item(4)?, |c, item| {
            let it = tuple(item, 2, "from item")?;
            let target_ref = c.target_ref(&*it.get_borrowed_item(0)?)?;
            let a = c.str_ref(&*it.get_borrowed_item(1)?)?;
            let action = Action::parse(a).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "MeshTrafficPermission {name}: unknown action {a:?}"
                ))
            })?;
            Ok(FromItem { target_ref, action })
        })?;
        Ok(MtpPolicy {
            mesh: self.str(&*t.get_borrowed_item(1)?)?,
            labels: self.map(&*t.get_borrowed_item(2)?)?,
            target_ref: self.target_ref(&*t.get_borrowed_item(3)?)?,
            from,
            name,
        })
    }
    pub(crate) fn dataplane(&mut self, o: &Bound<'py, PyAny>) -> PyResult<MtpDataplane> {
        let t = tuple(o, 5, "Dataplane")?;
        let name = self.str(&*t.get_borrowed_item(0)?)?;
        let rows = t.get_borrowed_item(3)?;
        let inbounds = if let Ok(doc) = rows.cast::<YamlMarks>() {
            // a document read with its body deferred: its inbounds kept natively by the YAML
            // reader (the clean shape: no inbound name or state, no gateway); fail closed when not
            let kept = doc.get().dataplane_inbounds().ok_or_else(|| {
                errors::evaluation(
                    o.py(),
                    format!(
                        "Dataplane {name}: its document's inbounds were not kept by the YAML reader"
                    ),
                )
            })?;
            kept.into_iter()
                .map(|(port, tags)| MtpInbound {
                    port,
                    name: String::new(),
                    tags: tags.into_iter().collect(),
                    ignored: false,
                })
                .collect()
        } else {
            self.list(&rows, |c, i| {
                let i = tuple(i, 4, "inbound")?;
                Ok(MtpInbound {
                    port: i.get_borrowed_item(0)?.extract()?,
                    name: c.str(&*i.get_borrowed_item(1)?)?,
                    tags: c.map(&*i.get_borrowed_item(2)?)?,
                    ignored: i.get_borrowed_item(3)?.extract()?,
                })
            })?
        };
        let gw = t.get_borrowed_item(4)?;
        let gateway = if gw.is_none() {
            None
        } else {
            let g = tuple(&gw, 2, "gateway")?;
            Some(MtpGateway {
                builtin: g.get_borrowed_item(0)?.extract()?,
                tags: self.map(&*g.get_borrowed_item(1)?)?,
            })
        };
        Ok(MtpDataplane {
            name,
            mesh: self.str(&*t.get_borrowed_item(1)?)?,
            labels: self.map(&*t.get_borrowed_item(2)?)?,
            inbounds,
            gateway,
        })
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

/// Kuma's rule list (M6.4) as Python gets it, from `MtpEngine` and the traffic engine alike.
pub(crate) fn py_rules(rules: &[mtp::Rule]) -> PyRules {
    rules
        .iter()
        .map(|r| (render(&r.subset), r.action.as_str()))
        .collect()
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
    /// The plan this verdict was made from (it exists: a verdict is only made from one; were it
    /// not, an `EvaluationError`).
    fn plan<'a>(&self, set: &'a PyMtpSet) -> PyResult<&'a InboundPlan> {
        set.inner.plan(self.dp, self.port).ok_or_else(|| {
            Python::attach(|py| {
                crate::errors::evaluation(py, "the verdict's inbound plan is missing")
            })
        })
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
    fn policy(&self) -> PyResult<Option<String>> {
        let set = self.set.get();
        let plan = self.plan(set)?;
        Ok(self
            .v
            .last
            .and_then(|l| plan.item_policy(&set.inner, l))
            .map(str::to_string))
    }
    #[getter(from_index)]
    fn deciding_from_index(&self) -> PyResult<Option<usize>> {
        let plan = self.plan(self.set.get())?;
        Ok(self.v.last.and_then(|l| plan.item_from_index(l)))
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
    fn tie(&self) -> PyResult<bool> {
        Ok(self.plan(self.set.get())?.tie)
    }
    /// Lowest priority first (M4.9).
    #[getter]
    fn matched_policies(&self) -> PyResult<Vec<&str>> {
        let set = self.set.get();
        Ok(self.plan(set)?.policy_names(&set.inner).collect())
    }
    /// Earlier matching items: [(policy, from index, action)].
    #[getter]
    fn overridden(&self) -> PyResult<Vec<(&str, usize, &'static str)>> {
        let set = self.set.get();
        Ok(self
            .plan(set)?
            .overridden(&set.inner, &self.v, &self.ids)
            .map(|(p, f, a)| (p, f, a.as_str()))
            .collect())
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
        self.inner
            .dataplane(mesh, name)
            .ok_or_else(|| PyValueError::new_err(format!("no Dataplane {name:?} in mesh {mesh:?}")))
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
    /// policies: [(name, mesh, labels, targetRef, [(from targetRef, action)])], dataplanes:
    /// [(name, mesh, labels, [(port, name, tags, ignored)], (builtin, tags) | None)] (see `Converter`).
    #[new]
    fn new(policies: &Bound<'_, PyAny>, dataplanes: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut c = Converter::default();
        let policies = c.list(policies, Converter::policy)?;
        let dataplanes = c.list(dataplanes, Converter::dataplane)?;
        drop(c);
        Ok(PyMtpSet {
            inner: mtp::MtpSet::new(policies, dataplanes),
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
        let (identity, ids) = this.inner.dataplane_identity(client).ok_or_else(|| {
            PyValueError::new_err(format!(
                "no Dataplane {client_name:?} in mesh {client_mesh:?}"
            ))
        })?;
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
    /// Above `max_rules` candidate rules: `EvaluationError` naming the cap (#12 item 5).
    #[pyo3(signature = (mesh, name, port, as_listed = false, max_rules = mtp::rules::DEFAULT_MAX_RULES))]
    fn rules(
        &self,
        py: Python<'_>,
        mesh: &str,
        name: &str,
        port: u32,
        as_listed: bool,
        max_rules: usize,
    ) -> PyResult<Option<PyRules>> {
        let order = if as_listed {
            PolicyOrder::AsListed
        } else {
            PolicyOrder::Kuma
        };
        let rules = self
            .inner
            .rules(self.dp(mesh, name)?, port, order, max_rules)
            .map_err(|e| crate::errors::evaluation(py, e.to_string()))?;
        Ok(rules.as_deref().map(py_rules))
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
