//! Core decisions → the Python `AccessDecision` / `Grant` dataclasses (built without their
//! per-field `__setattr__`: same fields, same instance dict as `cls(**state)`).

use std::sync::Mutex;

use ahash::AHashMap;

use meshauthz_core::rbac::{Access, Engine, Grant};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

/// The Python classes the bindings build or recognise (`rbac_bind_types`, once at import of the
/// rbac package).
pub struct Types {
    pub decision: Py<PyType>,
    pub grant: Py<PyType>,
    pub user: Py<PyType>,
    pub resource: Py<PyType>,
    object_new: Py<PyAny>,
    object_setattr: Py<PyAny>,
}

pub static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// Registers `AccessDecision`, `Grant`, `User` and `Resource` for the bindings.
#[pyfunction]
pub fn rbac_bind_types(
    py: Python<'_>,
    decision: &Bound<'_, PyType>,
    grant: &Bound<'_, PyType>,
    user: &Bound<'_, PyType>,
    resource: &Bound<'_, PyType>,
) -> PyResult<()> {
    let object = py.get_type::<pyo3::types::PyAny>();
    let types = Types {
        decision: decision.clone().unbind(),
        grant: grant.clone().unbind(),
        user: user.clone().unbind(),
        resource: resource.clone().unbind(),
        object_new: object.getattr("__new__")?.unbind(),
        object_setattr: object.getattr("__setattr__")?.unbind(),
    };
    let _ = TYPES.set(py, types);
    Ok(())
}

pub fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES
        .get(py)
        .ok_or_else(|| crate::errors::evaluation(py, "rbac_bind_types was not called"))
}

impl Types {
    /// `cls.__new__` + one `__dict__` assignment.
    pub fn instance<'py>(
        &self,
        py: Python<'py>,
        cls: &Py<PyType>,
        state: Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let obj = self.object_new.bind(py).call1((cls.bind(py),))?;
        self.object_setattr
            .bind(py)
            .call1((&obj, intern!(py, "__dict__"), state))?;
        Ok(obj)
    }
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
            for b in set.bindings() {
                for u in &b.subjects.users {
                    if let Some(id) = set.user_subject(u) {
                        users.set_item(u, id)?;
                    }
                }
                for g in &b.subjects.groups {
                    if let Some(id) = set.group_subject(g) {
                        groups.set_item(g, id)?;
                    }
                }
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
            .ok_or_else(|| crate::errors::evaluation(py, "role id out of range"))
    }

    pub fn binding(&self, py: Python<'_>, id: u32) -> PyResult<Py<PyString>> {
        self.bindings
            .get(id as usize)
            .map(|r| r.clone_ref(py))
            .ok_or_else(|| crate::errors::evaluation(py, "binding id out of range"))
    }
}

type GrantKey = (u32, u32, usize, Access);

/// `Grant` objects are immutable and determined by their key: built once each.
#[derive(Default)]
pub struct Grants(Mutex<AHashMap<GrantKey, Py<PyAny>>>);

impl Grants {
    pub fn get<'py>(
        &self,
        py: Python<'py>,
        types: &Types,
        names: &Names,
        g: &Option<Grant>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(g) = g else {
            return Ok(py.None().into_bound(py));
        };
        let key = (g.role, g.binding, g.rule, g.access);
        let cached = self
            .0
            .lock()
            .ok()
            .and_then(|m| m.get(&key).map(|o| o.clone_ref(py)));
        if let Some(o) = cached {
            return Ok(o.into_bound(py));
        }
        let state = PyDict::new(py);
        state.set_item(intern!(py, "role"), names.role(py, g.role)?)?;
        state.set_item(intern!(py, "binding"), names.binding(py, g.binding)?)?;
        state.set_item(intern!(py, "rule"), g.rule)?;
        state.set_item(intern!(py, "access"), access_py(py, g.access))?;
        let obj = types.instance(py, &types.grant, state)?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, obj.clone().unbind());
        }
        Ok(obj)
    }
}

/// `AccessDecision.__dict__` defaults (field order as the dataclass).
pub fn template(py: Python<'_>, mode: &str) -> PyResult<Py<PyDict>> {
    let t = PyDict::new(py);
    let none = py.None();
    for k in ["allowed", "user", "action", "target"] {
        t.set_item(k, &none)?;
    }
    t.set_item("mode", mode)?;
    for k in ["grant", "old_grant", "denied_side"] {
        t.set_item(k, &none)?;
    }
    t.set_item("uncovered", PyTuple::empty(py))?;
    t.set_item("reason", &none)?;
    t.set_item("examined", 0)?;
    t.set_item("notes", PyTuple::empty(py))?;
    Ok(t.unbind())
}
