//! The `TrafficDecision` Python class: one decision of the traffic snapshot, its list fields
//! (`shadowed`, `matched_policies`, `overridden`) and the A3/A4 divergence computed on access.

use std::sync::Arc;

use meshauthz_core::mtp;
use meshauthz_core::mtp::decide::MAX_DIVERGENCE_ITEMS;
use meshauthz_core::traffic::snapshot::ItemReport;
use meshauthz_core::traffic::{Checked, Snapshot, Subject};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString, PyTuple};

use crate::errors;
use crate::mtp::{py_rules, PyRules};
use crate::traffic::{Shared, TargetKey};

// ---- decisions -------------------------------------------------------------------------------

pub(crate) struct LazyDecision {
    pub(crate) shared: Arc<Shared>,
    pub(crate) checked: Checked,
    pub(crate) subject: Subject,
    pub(crate) mesh: u32,
    pub(crate) target: TargetKey,
}

const FIELDS: [&str; 13] = [
    "allowed",
    "reason",
    "policy",
    "mesh",
    "target",
    "matched_source",
    "shadowed",
    "bypass_possible",
    "action",
    "from_index",
    "shadow_deny",
    "kuma_enforcement_divergence",
    "matched_policies",
];

/// One traffic decision (trafficpermission.md §6; MTP fields of meshtrafficpermission.md §9 when
/// a MeshTrafficPermission decided). Immutable. `shadowed`, `matched_policies`, `overridden`
/// and `kuma_enforcement_divergence` are computed on access; `kuma_enforcement_divergence` is
/// None when not computed (the item list is above the cap, #12 item 5).
#[pyclass(frozen, module = "meshauthz._core", name = "TrafficDecision")]
pub struct TrafficDecision {
    pub(crate) inner: Inner,
}

pub(crate) enum Inner {
    Lazy(LazyDecision),
    /// Built from Python keyword arguments (tests, deserialisation): field -> value.
    Eager(Py<PyDict>),
}

impl TrafficDecision {
    fn field<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner {
            Inner::Eager(d) => Ok(d
                .bind(py)
                .get_item(name)?
                .unwrap_or_else(|| py.None().into_bound(py))),
            Inner::Lazy(l) => l.field(py, name),
        }
    }

    fn astuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items = FIELDS
            .iter()
            .map(|f| self.field(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }
}

impl LazyDecision {
    fn snap(&self) -> &Snapshot {
        &self.shared.snap
    }

    fn field<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let s = self.snap();
        let c = &self.checked;
        let any = |v: PyResult<Bound<'py, PyAny>>| v;
        match name {
            "allowed" => any(Ok(PyBool::new(py, c.allowed()).to_owned().into_any())),
            "reason" => any(Ok(PyString::new(py, c.reason().as_str()).into_any())),
            "policy" => any(s
                .policy_name(c)
                .into_pyobject(py)
                .map(|o| o.into_any())
                .map_err(PyErr::from)),
            "mesh" => {
                let m =
                    s.tp.meshes
                        .get(self.mesh as usize)
                        .map_or("", |m| m.name.as_str());
                any(Ok(PyString::new(py, m).into_any()))
            }
            "target" => {
                let d = PyDict::new(py);
                match self.target {
                    TargetKey::Inbound(dp, port) => {
                        let name =
                            s.tp.dataplanes
                                .get(dp as usize)
                                .map_or("", |d| d.name.as_str());
                        d.set_item("kind", "inbound")?;
                        d.set_item("dataplane", name)?;
                        d.set_item("port", port)?;
                    }
                    TargetKey::Es(es) => {
                        let name =
                            s.tp.external_services
                                .get(es as usize)
                                .map_or("", |e| e.name.as_str());
                        d.set_item("kind", "external_service")?;
                        d.set_item("name", name)?;
                    }
                }
                Ok(d.into_any())
            }
            "matched_source" => c
                .matched_source()
                .into_pyobject(py)
                .map(|o| o.into_any())
                .map_err(PyErr::from),
            "shadowed" => PyTuple::new(py, s.shadowed(c)).map(|t| t.into_any()),
            "bypass_possible" => Ok(PyBool::new(py, c.bypass_possible).to_owned().into_any()),
            "action" => c
                .action()
                .map(mtp::Action::as_str)
                .into_pyobject(py)
                .map(|o| o.into_any())
                .map_err(PyErr::from),
            "from_index" => s
                .from_index(c)
                .into_pyobject(py)
                .map(|o| o.into_any())
                .map_err(PyErr::from),
            "shadow_deny" => Ok(PyBool::new(
                py,
                c.reason() == meshauthz_core::traffic::Reason::MtpAllowShadowDeny,
            )
            .to_owned()
            .into_any()),
            "kuma_enforcement_divergence" => s
                .divergence(
                    c,
                    &self.subject,
                    MAX_DIVERGENCE_ITEMS,
                    self.shared.max_rules,
                )
                .map_err(|e| errors::traffic(py, e))?
                .into_pyobject(py)
                .map(|o| o.to_owned().into_any())
                .map_err(PyErr::from),
            "matched_policies" => PyTuple::new(py, s.matched_policies(c)).map(|t| t.into_any()),
            _ => Err(errors::input_error(py, format!("no field {name:?}"))),
        }
    }
}

#[pymethods]
impl TrafficDecision {
    #[new]
    #[pyo3(signature = (allowed, reason, policy, mesh, target, matched_source = None, shadowed = None, bypass_possible = false, action = None, from_index = None, shadow_deny = false, kuma_enforcement_divergence = Some(false), matched_policies = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        allowed: bool,
        reason: String,
        policy: Option<String>,
        mesh: String,
        target: Bound<'_, PyDict>,
        matched_source: Option<u32>,
        shadowed: Option<Vec<String>>,
        bypass_possible: bool,
        action: Option<String>,
        from_index: Option<usize>,
        shadow_deny: bool,
        kuma_enforcement_divergence: Option<bool>,
        matched_policies: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let d = PyDict::new(py);
        d.set_item("allowed", allowed)?;
        d.set_item("reason", reason)?;
        d.set_item("policy", policy)?;
        d.set_item("mesh", mesh)?;
        d.set_item("target", target)?;
        d.set_item("matched_source", matched_source)?;
        d.set_item("shadowed", PyTuple::new(py, shadowed.unwrap_or_default())?)?;
        d.set_item("bypass_possible", bypass_possible)?;
        d.set_item("action", action)?;
        d.set_item("from_index", from_index)?;
        d.set_item("shadow_deny", shadow_deny)?;
        d.set_item("kuma_enforcement_divergence", kuma_enforcement_divergence)?;
        d.set_item(
            "matched_policies",
            PyTuple::new(py, matched_policies.unwrap_or_default())?,
        )?;
        Ok(TrafficDecision {
            inner: Inner::Eager(d.unbind()),
        })
    }

    #[getter]
    fn allowed(&self, py: Python<'_>) -> PyResult<bool> {
        match &self.inner {
            Inner::Lazy(l) => Ok(l.checked.allowed()),
            Inner::Eager(_) => self.field(py, "allowed")?.extract(),
        }
    }
    #[getter]
    fn reason<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "reason")
    }
    #[getter]
    fn policy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "policy")
    }
    #[getter]
    fn mesh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "mesh")
    }
    #[getter]
    fn target<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "target")
    }
    #[getter]
    fn matched_source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "matched_source")
    }
    /// Other matching TPs, most specific first (T3.6), computed on access.
    #[getter]
    fn shadowed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "shadowed")
    }
    #[getter]
    fn bypass_possible<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "bypass_possible")
    }
    #[getter]
    fn action<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "action")
    }
    #[getter]
    #[allow(clippy::wrong_self_convention)]
    fn from_index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "from_index")
    }
    #[getter]
    fn shadow_deny<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "shadow_deny")
    }
    /// A3/A4; None = not computed (item list above the cap).
    #[getter]
    fn kuma_enforcement_divergence<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "kuma_enforcement_divergence")
    }
    /// MTPs selecting the target, lowest priority first (M4.9), computed on access.
    #[getter]
    fn matched_policies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "matched_policies")
    }
    /// §9 `overridden`: earlier matching `from` items, [(policy, from index, action)].
    #[getter]
    fn overridden(&self, py: Python<'_>) -> PyResult<Vec<(String, usize, &'static str)>> {
        match &self.inner {
            Inner::Eager(_) => Ok(Vec::new()),
            Inner::Lazy(l) => Ok(l
                .snap()
                .overridden(&l.checked, &l.subject)
                .map_err(|e| errors::traffic(py, e))?
                .into_iter()
                .map(|(p, f, a)| (p.to_owned(), f, a.as_str()))
                .collect()),
        }
    }
    /// A2: the MTP priority order had a full tie.
    #[getter]
    fn tie(&self) -> bool {
        match &self.inner {
            Inner::Eager(_) => false,
            Inner::Lazy(l) => l.snap().tie(&l.checked),
        }
    }
    /// The M6.1 item list for this client (MTP decisions; `[]` otherwise):
    /// [(policy, from index, action, M5.2 subset pairs, matched, deciding)].
    #[allow(clippy::type_complexity)]
    fn mtp_items(
        &self,
        py: Python<'_>,
    ) -> PyResult<
        Vec<(
            String,
            usize,
            &'static str,
            Vec<(String, String)>,
            bool,
            bool,
        )>,
    > {
        match &self.inner {
            Inner::Eager(_) => Ok(Vec::new()),
            Inner::Lazy(l) => Ok(l
                .snap()
                .items(&l.checked, &l.subject)
                .map_err(|e| errors::traffic(py, e))?
                .into_iter()
                .map(|i: ItemReport<'_>| {
                    (
                        i.policy.to_owned(),
                        i.from_index,
                        i.action.as_str(),
                        i.subset.to_vec(),
                        i.matched,
                        i.deciding,
                    )
                })
                .collect()),
        }
    }
    /// M6.4 rule list of the deciding MTP plan (None: TP decided); `EvaluationError` above the cap.
    fn mtp_rules(&self, py: Python<'_>) -> PyResult<Option<PyRules>> {
        let Inner::Lazy(l) = &self.inner else {
            return Ok(None);
        };
        if !matches!(l.checked.outcome, meshauthz_core::traffic::Outcome::Mtp(..)) {
            return Ok(None);
        }
        let rules = l
            .snap()
            .rules(l.checked.target, l.shared.max_rules)
            .map_err(|e| errors::traffic(py, e))?;
        Ok(rules.as_deref().map(py_rules))
    }

    /// Pickles as the eager form (every field materialised).
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        let args = FIELDS
            .iter()
            .map(|f| {
                let v = this.field(py, f)?;
                Ok(match *f {
                    "shadowed" | "matched_policies" => v
                        .try_iter()?
                        .collect::<PyResult<Vec<_>>>()?
                        .into_pyobject(py)?
                        .into_any(),
                    _ => v,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok((slf.get_type().into_any(), PyTuple::new(py, args)?))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for f in FIELDS {
            let v = self.field(py, f)?;
            let v = match f {
                "shadowed" | "matched_policies" => v
                    .call_method0("__iter__")?
                    .try_iter()?
                    .collect::<PyResult<Vec<_>>>()?
                    .into_pyobject(py)?
                    .into_any(),
                "target" => v.call_method0("copy")?,
                _ => v,
            };
            d.set_item(f, v)?;
        }
        Ok(d)
    }

    fn __eq__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(o) = other.cast::<TrafficDecision>() else {
            return Ok(py.NotImplemented().into_bound(py));
        };
        let eq = self.astuple(py)?.eq(o.get().astuple(py)?)?;
        Ok(PyBool::new(py, eq).to_owned().into_any())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let parts = FIELDS
            .iter()
            .map(|f| Ok(format!("{f}={}", self.field(py, f)?.repr()?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!("TrafficDecision({})", parts.join(", ")))
    }

    /// The field names (dataclass-like introspection).
    #[classattr]
    fn _fields() -> Vec<&'static str> {
        FIELDS.to_vec()
    }
}
