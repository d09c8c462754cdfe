//! The result classes of a check, `AccessDecision` and `Grant`: native frozen classes built
//! directly from core decisions (no Python-level construction per check), behaving as the frozen
//! dataclasses they replace (same fields, keyword constructor, equality and hashing over the
//! fields, dataclass-like repr, pickling). A denial's R5.6 `uncovered` list is computed by the
//! core on first access from the compiled set and the converted inputs the object keeps.

use std::sync::{Arc, Mutex};

use ahash::AHashMap;

use meshauthz_core::rbac::{Access, Action, Engine, Target};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType};

use super::convert::PyUser;
use super::functions::rbac_denial_text;
use super::RbacPolicySet;
use crate::errors;

/// The Python classes the bindings recognise (`rbac_bind_types`, once at import of the rbac
/// package).
pub struct Types {
    pub user: Py<PyType>,
    pub resource: Py<PyType>,
}

pub static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// Registers `User` and `Resource` for the bindings.
#[pyfunction]
pub fn rbac_bind_types(
    py: Python<'_>,
    user: &Bound<'_, PyType>,
    resource: &Bound<'_, PyType>,
) -> PyResult<()> {
    let types = Types {
        user: user.clone().unbind(),
        resource: resource.clone().unbind(),
    };
    let _ = TYPES.set(py, types);
    Ok(())
}

pub fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES
        .get(py)
        .ok_or_else(|| errors::evaluation(py, "rbac_bind_types was not called"))
}

/// The access value as an interned Python string (no per-check allocation).
pub fn access_py(py: Python<'_>, a: Access) -> &Bound<'_, PyString> {
    match a {
        Access::Create => intern!(py, "CREATE"),
        Access::Update => intern!(py, "UPDATE"),
        Access::Delete => intern!(py, "DELETE"),
        Access::GenerateDataplaneToken => intern!(py, "GENERATE_DATAPLANE_TOKEN"),
        Access::GenerateUserToken => intern!(py, "GENERATE_USER_TOKEN"),
        Access::GenerateZoneCpToken => intern!(py, "GENERATE_ZONE_CP_TOKEN"),
        Access::GenerateZoneToken => intern!(py, "GENERATE_ZONE_TOKEN"),
        Access::ViewConfigDump => intern!(py, "VIEW_CONFIG_DUMP"),
        Access::ViewStats => intern!(py, "VIEW_STATS"),
        Access::ViewClusters => intern!(py, "VIEW_CLUSTERS"),
    }
}

/// Names interned once per compiled set, and the R5.1 subject maps as Python dicts (a lookup by a
/// Python `str` uses its cached hash: no UTF-8 conversion, no allocation per check).
pub struct Names {
    pub roles: Vec<Py<PyString>>,
    pub bindings: Vec<Py<PyString>>,
    pub users: Py<PyDict>,
    pub groups: Py<PyDict>,
}

impl Names {
    pub fn new(py: Python<'_>, engine: &Engine) -> PyResult<Names> {
        let (users, groups) = (PyDict::new(py), PyDict::new(py));
        let (mut roles, mut bindings) = (Vec::new(), Vec::new());
        if let Engine::Rbac { set, .. } = engine {
            roles = set
                .roles()
                .iter()
                .map(|r| PyString::new(py, &r.name).unbind())
                .collect();
            bindings = set
                .bindings()
                .iter()
                .map(|b| PyString::new(py, &b.name).unbind())
                .collect();
            // each distinct subject once (a group named by many bindings is one entry)
            for (u, id) in set.user_subjects() {
                users.set_item(u, id)?;
            }
            for (g, id) in set.group_subjects() {
                groups.set_item(g, id)?;
            }
        }
        Ok(Names {
            roles,
            bindings,
            users: users.unbind(),
            groups: groups.unbind(),
        })
    }

    pub fn role(&self, py: Python<'_>, id: u32) -> PyResult<Py<PyString>> {
        self.roles
            .get(id as usize)
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| errors::evaluation(py, "role id out of range"))
    }

    pub fn binding(&self, py: Python<'_>, id: u32) -> PyResult<Py<PyString>> {
        self.bindings
            .get(id as usize)
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| errors::evaluation(py, "binding id out of range"))
    }
}

type GrantKey = (u32, u32, usize, Access);

/// `Grant` objects are immutable and determined by their key: built once each.
#[derive(Default)]
pub struct Grants(Mutex<AHashMap<GrantKey, Py<Grant>>>);

impl Grants {
    pub fn get(
        &self,
        py: Python<'_>,
        names: &Names,
        g: &meshauthz_core::rbac::Grant,
    ) -> PyResult<Py<Grant>> {
        let key = (g.role, g.binding, g.rule, g.access);
        let cached = self
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&key).map(|o| o.clone_ref(py)));
        if let Some(o) = cached {
            return Ok(o);
        }
        let obj = Py::new(
            py,
            Grant {
                role: names.role(py, g.role)?.into_any(),
                binding: names.binding(py, g.binding)?.into_any(),
                rule: g.rule.into_pyobject(py)?.into_any().unbind(),
                access: access_py(py, g.access).clone().into_any().unbind(),
            },
        )?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, obj.clone_ref(py));
        }
        Ok(obj)
    }
}

/// `NotImplemented` unless `other` is exactly `slf`'s class (dataclass `__eq__`), else the
/// comparison of the two field tuples.
fn eq_fields<'py>(
    slf: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
    fields: impl Fn(&Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>>,
) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    if !other.get_type().is(slf.get_type()) {
        return Ok(py.NotImplemented());
    }
    let eq = fields(slf)?.eq(fields(other)?)?;
    Ok(PyBool::new(py, eq).to_owned().into_any().unbind())
}

/// `Name(field=repr, ...)`, the dataclass repr.
fn repr_fields(name: &str, names: &[&str], values: &Bound<'_, PyTuple>) -> PyResult<String> {
    let parts = names
        .iter()
        .zip(values.iter())
        .map(|(n, v)| Ok(format!("{n}={}", v.repr()?)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(format!("{name}({})", parts.join(", ")))
}

// ---- Grant -----------------------------------------------------------------------------------

const GRANT_FIELDS: [&str; 4] = ["role", "binding", "rule", "access"];

/// Which binding gave which role whose rule (0-based index) granted which access value.
#[pyclass(frozen, module = "meshauthz._core", name = "Grant")]
pub struct Grant {
    role: Py<PyAny>,
    binding: Py<PyAny>,
    rule: Py<PyAny>,
    access: Py<PyAny>,
}

impl Grant {
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            [&self.role, &self.binding, &self.rule, &self.access].map(|v| v.bind(py)),
        )
    }

    /// `vars(grant)` of the dataclass: the fields as a new dict.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in GRANT_FIELDS.iter().zip(self.fields(py)?.iter()) {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

#[pymethods]
impl Grant {
    #[new]
    fn new(
        role: Bound<'_, PyAny>,
        binding: Bound<'_, PyAny>,
        rule: Bound<'_, PyAny>,
        access: Bound<'_, PyAny>,
    ) -> Grant {
        Grant {
            role: role.unbind(),
            binding: binding.unbind(),
            rule: rule.unbind(),
            access: access.unbind(),
        }
    }

    #[getter]
    fn role(&self, py: Python<'_>) -> Py<PyAny> {
        self.role.clone_ref(py)
    }
    #[getter]
    fn binding(&self, py: Python<'_>) -> Py<PyAny> {
        self.binding.clone_ref(py)
    }
    #[getter]
    fn rule(&self, py: Python<'_>) -> Py<PyAny> {
        self.rule.clone_ref(py)
    }
    #[getter]
    fn access(&self, py: Python<'_>) -> Py<PyAny> {
        self.access.clone_ref(py)
    }

    #[classattr]
    fn __match_args__(py: Python<'_>) -> PyResult<Py<PyTuple>> {
        Ok(PyTuple::new(py, GRANT_FIELDS)?.unbind())
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "role {} rule {} ({}) via binding {}",
            self.role.bind(py).repr()?,
            self.rule.bind(py).str()?,
            self.access.bind(py).str()?,
            self.binding.bind(py).repr()?
        ))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields("Grant", &GRANT_FIELDS, &self.fields(py)?)
    }

    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        eq_fields(slf.as_any(), other, |o| {
            o.cast::<Grant>()
                .map_err(PyErr::from)
                .and_then(|g| g.get().fields(o.py()))
        })
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.fields(py)?.hash()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, Bound<'py, PyTuple>)> {
        Ok((slf.get_type(), slf.get().fields(slf.py())?))
    }
}

// ---- AccessDecision --------------------------------------------------------------------------

const DECISION_FIELDS: [&str; 12] = [
    "allowed",
    "user",
    "action",
    "target",
    "mode",
    "grant",
    "old_grant",
    "denied_side",
    "uncovered",
    "reason",
    "examined",
    "notes",
];

/// What a denial made by a check keeps to compute its R5.6 list on first access (the compiled
/// set, the user's name and groups as given, the action, the denied side's target).
pub(super) struct LazyUncovered {
    pub(super) set: Py<RbacPolicySet>,
    pub(super) name: Py<PyString>,
    pub(super) groups: Py<PyAny>,
    pub(super) action: Action,
    pub(super) target: Arc<Target>,
}

impl LazyUncovered {
    fn compute(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let u = PyUser::from_parts(self.name.bind(py).as_any(), Some(self.groups.bind(py)))
            .map_err(|m| errors::argument(py, m))?
            .owned()
            .ok_or_else(|| errors::argument(py, "the user's name or groups are not valid text"))?;
        let list = self.set.get().engine.uncovered(
            &u.name,
            u.groups.iter().map(String::as_str),
            self.action,
            &self.target,
        );
        Ok(PyTuple::new(py, list)?.into_any().unbind())
    }
}

/// The outcome of one check, with the exact §8 texts and an explanation. Immutable; compares,
/// hashes, prints and pickles like a frozen dataclass over its fields.
#[pyclass(frozen, module = "meshauthz._core", name = "AccessDecision")]
pub struct AccessDecision {
    pub(super) allowed: Py<PyAny>,
    pub(super) user: Py<PyAny>,
    pub(super) action: Py<PyAny>,
    pub(super) target: Py<PyAny>,
    pub(super) mode: Py<PyAny>,
    pub(super) grant: Py<PyAny>,
    pub(super) old_grant: Py<PyAny>,
    pub(super) denied_side: Py<PyAny>,
    /// Set at construction, or on first access from `lazy` (R5.6 on demand).
    pub(super) uncovered: PyOnceLock<Py<PyAny>>,
    pub(super) lazy: Option<LazyUncovered>,
    pub(super) reason: Py<PyAny>,
    pub(super) examined: Py<PyAny>,
    pub(super) notes: Py<PyAny>,
}

impl AccessDecision {
    fn uncovered_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.uncovered.get_or_try_init(py, || match &self.lazy {
            Some(l) => l.compute(py),
            None => Ok(PyTuple::empty(py).into_any().unbind()),
        })?;
        Ok(v.bind(py).clone())
    }

    /// The fields in declaration order, `uncovered` materialised.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let b = |v: &Py<PyAny>| v.bind(py).clone();
        PyTuple::new(
            py,
            [
                b(&self.allowed),
                b(&self.user),
                b(&self.action),
                b(&self.target),
                b(&self.mode),
                b(&self.grant),
                b(&self.old_grant),
                b(&self.denied_side),
                self.uncovered_value(py)?,
                b(&self.reason),
                b(&self.examined),
                b(&self.notes),
            ],
        )
    }

    fn is_allowed(&self, py: Python<'_>) -> PyResult<bool> {
        self.allowed.bind(py).is_truthy()
    }

    /// `grant.<attr>` when there is a grant, else None.
    fn grant_attr(&self, py: Python<'_>, attr: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
        let g = self.grant.bind(py);
        if g.is_truthy()? {
            Ok(g.getattr(attr)?.unbind())
        } else {
            Ok(py.None())
        }
    }
}

/// `vars(grant).copy()` of the dataclass for a `Grant`; any other object through `vars`.
fn grant_dict<'py>(g: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = g.py();
    if g.is_none() {
        return Ok(g.clone());
    }
    if let Ok(grant) = g.cast::<Grant>() {
        return Ok(grant.get().as_dict(py)?.into_any());
    }
    py.import("builtins")?
        .getattr("vars")?
        .call1((g,))?
        .call_method0("copy")
}

#[pymethods]
impl AccessDecision {
    #[new]
    #[allow(clippy::too_many_arguments)] // the dataclass fields
    #[pyo3(signature = (allowed, user, action, target, mode, grant=None, old_grant=None, denied_side=None, uncovered=None, reason=None, examined=None, notes=None))]
    fn new(
        py: Python<'_>,
        allowed: Bound<'_, PyAny>,
        user: Bound<'_, PyAny>,
        action: Bound<'_, PyAny>,
        target: Bound<'_, PyAny>,
        mode: Bound<'_, PyAny>,
        grant: Option<Bound<'_, PyAny>>,
        old_grant: Option<Bound<'_, PyAny>>,
        denied_side: Option<Bound<'_, PyAny>>,
        uncovered: Option<Bound<'_, PyAny>>,
        reason: Option<Bound<'_, PyAny>>,
        examined: Option<Bound<'_, PyAny>>,
        notes: Option<Bound<'_, PyAny>>,
    ) -> PyResult<AccessDecision> {
        let or_none = |v: Option<Bound<'_, PyAny>>| v.map_or_else(|| py.None(), Bound::unbind);
        let empty = || PyTuple::empty(py).into_any().unbind();
        let cell = PyOnceLock::new();
        let _ = cell.set(py, uncovered.map_or_else(empty, Bound::unbind));
        Ok(AccessDecision {
            allowed: allowed.unbind(),
            user: user.unbind(),
            action: action.unbind(),
            target: target.unbind(),
            mode: mode.unbind(),
            grant: or_none(grant),
            old_grant: or_none(old_grant),
            denied_side: or_none(denied_side),
            uncovered: cell,
            lazy: None,
            reason: or_none(reason),
            examined: match examined {
                Some(e) => e.unbind(),
                None => 0u32.into_pyobject(py)?.into_any().unbind(),
            },
            notes: notes.map_or_else(empty, Bound::unbind),
        })
    }

    #[getter]
    fn allowed(&self, py: Python<'_>) -> Py<PyAny> {
        self.allowed.clone_ref(py)
    }
    /// The `User` checked (the caller's own object when a `User` was passed).
    #[getter]
    fn user(&self, py: Python<'_>) -> Py<PyAny> {
        self.user.clone_ref(py)
    }
    #[getter]
    fn action(&self, py: Python<'_>) -> Py<PyAny> {
        self.action.clone_ref(py)
    }
    /// The target's label (`"<type> <mesh>/<name>"`, or `"token request"`).
    #[getter]
    fn target(&self, py: Python<'_>) -> Py<PyAny> {
        self.target.clone_ref(py)
    }
    /// `"rbac"` or `"static"` (R7.1).
    #[getter]
    fn mode(&self, py: Python<'_>) -> Py<PyAny> {
        self.mode.clone_ref(py)
    }
    #[getter]
    fn grant(&self, py: Python<'_>) -> Py<PyAny> {
        self.grant.clone_ref(py)
    }
    /// UPDATE: the stored object's grant (R5.9).
    #[getter]
    fn old_grant(&self, py: Python<'_>) -> Py<PyAny> {
        self.old_grant.clone_ref(py)
    }
    /// UPDATE denials: `"old"` or `"new"`.
    #[getter]
    fn denied_side(&self, py: Python<'_>) -> Py<PyAny> {
        self.denied_side.clone_ref(py)
    }
    /// Denials: the elements no applicable rule covers (R5.6), computed on first access.
    #[getter]
    fn uncovered<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.uncovered_value(py)
    }
    /// True while the R5.6 list has not been computed yet (tests).
    #[getter]
    fn _uncovered_pending(&self, py: Python<'_>) -> bool {
        self.uncovered.get(py).is_none()
    }
    /// The R8.2 / R8.6 reason (HTTP `detail`).
    #[getter]
    fn reason(&self, py: Python<'_>) -> Py<PyAny> {
        self.reason.clone_ref(py)
    }
    /// Candidate rules examined.
    #[getter]
    fn examined(&self, py: Python<'_>) -> Py<PyAny> {
        self.examined.clone_ref(py)
    }
    #[getter]
    fn notes(&self, py: Python<'_>) -> Py<PyAny> {
        self.notes.clone_ref(py)
    }

    #[getter]
    fn role(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.grant_attr(py, intern!(py, "role"))
    }
    #[getter]
    fn binding(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.grant_attr(py, intern!(py, "binding"))
    }
    #[getter]
    fn rule_index(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.grant_attr(py, intern!(py, "rule"))
    }
    #[getter]
    fn http_status(&self, py: Python<'_>) -> PyResult<u16> {
        Ok(if self.is_allowed(py)? { 200 } else { 403 })
    }

    #[classattr]
    fn __match_args__(py: Python<'_>) -> PyResult<Py<PyTuple>> {
        Ok(PyTuple::new(py, DECISION_FIELDS)?.unbind())
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        self.allowed.bind(py).extract()
    }

    /// The exact denial text (R8.3 api, R8.4 kubernetes-webhook); None when allowed.
    #[pyo3(signature = (channel="api"))]
    fn message(&self, py: Python<'_>, channel: &str) -> PyResult<Option<String>> {
        let reason = self.reason.bind(py);
        if self.is_allowed(py)? || reason.is_none() {
            return Ok(None);
        }
        rbac_denial_text(py, channel, &reason.extract::<String>()?).map(Some)
    }

    fn explain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let user = self.user.bind(py);
        let u = PyDict::new(py);
        u.set_item("name", user.getattr(intern!(py, "name"))?)?;
        u.set_item(
            "groups",
            PyList::new(
                py,
                user.getattr(intern!(py, "groups"))?
                    .try_iter()?
                    .collect::<PyResult<Vec<_>>>()?,
            )?,
        )?;
        let list = |v: &Bound<'py, PyAny>| -> PyResult<Bound<'py, PyList>> {
            PyList::new(py, v.try_iter()?.collect::<PyResult<Vec<_>>>()?)
        };
        d.set_item("allowed", &self.allowed)?;
        d.set_item("mode", &self.mode)?;
        d.set_item("user", u)?;
        d.set_item("action", &self.action)?;
        d.set_item("target", &self.target)?;
        d.set_item("grant", grant_dict(self.grant.bind(py))?)?;
        d.set_item("old_grant", grant_dict(self.old_grant.bind(py))?)?;
        d.set_item("denied_side", &self.denied_side)?;
        d.set_item("uncovered", list(&self.uncovered_value(py)?)?)?;
        d.set_item("reason", &self.reason)?;
        d.set_item("examined", &self.examined)?;
        d.set_item("notes", list(self.notes.bind(py))?)?;
        Ok(d)
    }

    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        let allowed = self.is_allowed(py)?;
        let mut lines = vec![format!(
            "{} {} {} for {}",
            if allowed { "ALLOW" } else { "DENY" },
            self.action.bind(py).str()?,
            self.target.bind(py).str()?,
            self.user.bind(py).str()?
        )];
        let (grant, old_grant) = (self.grant.bind(py), self.old_grant.bind(py));
        if grant.is_truthy()? {
            lines.push(format!("  granted by {}", grant.str()?));
        }
        if old_grant.is_truthy()? {
            lines.push(format!("  stored object granted by {}", old_grant.str()?));
        }
        if !allowed {
            let side = self.denied_side.bind(py);
            if side.is_truthy()? {
                lines.push(format!(
                    "  UPDATE not granted on the {} object (R5.9)",
                    side.str()?
                ));
            }
            for u in self.uncovered_value(py)?.try_iter()? {
                lines.push(format!("  not covered: {}", u?.str()?));
            }
            if self.reason.bind(py).is_truthy()? {
                let m = self.message(py, "api")?;
                lines.push(format!("  {}", m.as_deref().unwrap_or("None")));
            }
        }
        for n in self.notes.bind(py).try_iter()? {
            lines.push(format!("  note: {}", n?.str()?));
        }
        Ok(lines.join("\n"))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields("AccessDecision", &DECISION_FIELDS, &self.fields(py)?)
    }

    fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        eq_fields(slf.as_any(), other, |o| {
            o.cast::<AccessDecision>()
                .map_err(PyErr::from)
                .and_then(|d| d.get().fields(o.py()))
        })
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.fields(py)?.hash()
    }

    /// Pickles (and copies) with `uncovered` materialised, never the compiled set.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, Bound<'py, PyTuple>)> {
        Ok((slf.get_type(), slf.get().fields(slf.py())?))
    }
}
