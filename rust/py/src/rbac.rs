//! Bindings for the RBAC engine (rbac.md): a compiled `RbacPolicySet`, pre-normalised
//! `RbacTarget` handles, and one FFI crossing per check. Conversions only; decisions live in
//! `meshauthz_core::rbac`. Bad input raises `ValueError` / `TypeError`, never panics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use meshauthz_core::rbac::{
    denial_text, go_quote, Access, Action, Binding, Body, Channel, Decision, Engine, Family, Grant,
    PolicySet, Qualifier, Role, Rule, Scope, SecretReads, StaticConfig, Subjects, Target,
    TargetRef, TokenRequest, User,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};

fn err(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// A scalar as a string (YAML may give ints/bools in places we compare as strings, R5.7).
fn scalar(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    Ok(v.str()?.to_cow()?.into_owned())
}

fn str_list(v: Option<Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(v) if v.is_none() => Ok(Vec::new()),
        Some(v) => {
            let list = v
                .cast::<PyList>()
                .map_err(|_| PyTypeError::new_err(format!("{what} must be a list")))?;
            list.iter().map(|x| scalar(&x)).collect()
        }
    }
}

fn str_map(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, String)>> {
    let d = v
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a mapping")))?;
    let mut out = Vec::with_capacity(d.len());
    for (k, val) in d.iter() {
        out.push((scalar(&k)?, scalar(&val)?));
    }
    Ok(meshauthz_core::rbac::glob::selector(out))
}

fn get<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(d.get_item(key)?.filter(|v| !v.is_none()))
}

fn as_dict<'py>(v: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyDict>> {
    v.cast::<PyDict>()
        .cloned()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a mapping")))
}

/// R5.7 TargetRef from a dict: `kind` plus scalar, map and list fields.
fn target_ref(v: &Bound<'_, PyAny>, what: &str) -> PyResult<TargetRef> {
    let d = as_dict(v, what)?;
    let mut t = TargetRef::default();
    let mut kind = None;
    for (k, val) in d.iter() {
        let key = scalar(&k)?;
        if val.is_none() {
            continue;
        }
        if key == "kind" {
            kind = Some(scalar(&val)?);
        } else if val.is_instance_of::<PyDict>() {
            let m = str_map(&val, &format!("{what}.{key}"))?;
            t.maps.push((key, m));
        } else if val.is_instance_of::<PyList>() {
            let l = str_list(Some(val), &format!("{what}.{key}"))?;
            t.lists.push((key, l));
        } else {
            t.scalars.push((key, scalar(&val)?));
        }
    }
    t.kind = kind.ok_or_else(|| err(format!("{what}.kind is required")))?;
    Ok(t.normalised())
}

/// `{targetRef: ...}` wrapper of `to` / `from` (qualifiers and policy list items).
fn wrapped_ref(v: &Bound<'_, PyAny>, what: &str) -> PyResult<TargetRef> {
    let d = as_dict(v, what)?;
    let tr = get(&d, "targetRef")?.ok_or_else(|| err(format!("{what}.targetRef is required")))?;
    target_ref(&tr, &format!("{what}.targetRef"))
}

fn match_of(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, String)>> {
    let d = as_dict(v, what)?;
    match get(&d, "match")? {
        Some(m) => str_map(&m, &format!("{what}.match")),
        None => Ok(Vec::new()),
    }
}

const QUALIFIER_KEYS: [&str; 7] = [
    "targetRef",
    "to",
    "from",
    "sources",
    "destinations",
    "selectors",
    "dpToken",
];

/// One `when[]` item (R2.1: unknown key, empty or mixed-family qualifiers are errors, A7).
fn qualifier(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Qualifier> {
    let d = as_dict(v, what)?;
    let mut fams = Vec::new();
    for (k, _) in d.iter() {
        let key = scalar(&k)?;
        let fam = match key.as_str() {
            "targetRef" | "to" | "from" => "targetRef",
            "sources" | "destinations" => "legacy-connection",
            "selectors" => "legacy-dataplane",
            "dpToken" => "dp-token",
            _ => {
                return Err(err(format!(
                    "{what}: unknown qualifier key {key:?} (expected one of {QUALIFIER_KEYS:?})"
                )))
            }
        };
        if !fams.contains(&fam) {
            fams.push(fam);
        }
    }
    match fams.as_slice() {
        [] => Err(err(format!("{what}: qualifier cannot be empty"))),
        ["targetRef"] => Qualifier::target_ref(
            get(&d, "targetRef")?
                .map(|x| target_ref(&x, &format!("{what}.targetRef")))
                .transpose()?,
            get(&d, "to")?
                .map(|x| wrapped_ref(&x, &format!("{what}.to")))
                .transpose()?,
            get(&d, "from")?
                .map(|x| wrapped_ref(&x, &format!("{what}.from")))
                .transpose()?,
        )
        .map_err(|e| err(format!("{what}: {e}"))),
        ["legacy-connection"] => Qualifier::connection(
            get(&d, "sources")?
                .map(|x| match_of(&x, &format!("{what}.sources")))
                .transpose()?,
            get(&d, "destinations")?
                .map(|x| match_of(&x, &format!("{what}.destinations")))
                .transpose()?,
        )
        .map_err(|e| err(format!("{what}: {e}"))),
        ["legacy-dataplane"] => Ok(Qualifier::Dataplane {
            selectors: match get(&d, "selectors")? {
                Some(x) => match_of(&x, &format!("{what}.selectors"))?,
                None => Vec::new(),
            },
        }),
        ["dp-token"] => {
            let mut tags = Vec::new();
            if let Some(dp) = get(&d, "dpToken")? {
                let dp = as_dict(&dp, &format!("{what}.dpToken"))?;
                if let Some(list) = get(&dp, "tags")? {
                    let list = list.cast::<PyList>().map_err(|_| {
                        PyTypeError::new_err(format!("{what}.dpToken.tags must be a list"))
                    })?;
                    for (i, t) in list.iter().enumerate() {
                        let t = as_dict(&t, &format!("{what}.dpToken.tags[{i}]"))?;
                        let name = get(&t, "name")?.ok_or_else(|| {
                            err(format!("{what}.dpToken.tags[{i}].name is required"))
                        })?;
                        let value = get(&t, "value")?
                            .map(|v| scalar(&v))
                            .transpose()?
                            .unwrap_or_default();
                        tags.push((scalar(&name)?, value));
                    }
                }
            }
            Ok(Qualifier::dp_token(tags))
        }
        _ => Err(err(format!(
            "{what}: qualifier mixes families {fams:?} (A7)"
        ))),
    }
}

fn rule(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Rule> {
    let d = as_dict(v, what)?;
    let mut access = Vec::new();
    for a in str_list(get(&d, "access")?, &format!("{what}.access"))? {
        access.push(
            Access::parse(&a)
                .ok_or_else(|| err(format!("{what}.access: unknown access value {a:?} (A17)")))?,
        );
    }
    let mut when = Vec::new();
    if let Some(w) = get(&d, "when")? {
        let w = w
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err(format!("{what}.when must be a list")))?;
        for (i, q) in w.iter().enumerate() {
            when.push(qualifier(&q, &format!("{what}.when[{i}]"))?);
        }
    }
    let mesh = get(&d, "mesh")?.map(|m| scalar(&m)).transpose()?;
    Ok(Rule::new(
        str_list(get(&d, "types")?, "types")?,
        str_list(get(&d, "names")?, "names")?,
        mesh,
        &access,
        when,
    ))
}

fn role(v: &Bound<'_, PyAny>) -> PyResult<Role> {
    let d = as_dict(v, "role")?;
    let name = scalar(&get(&d, "name")?.ok_or_else(|| err("role name is required"))?)?;
    let mut rules = Vec::new();
    if let Some(rs) = get(&d, "rules")? {
        let rs = rs.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!("AccessRole {name:?}: rules must be a list"))
        })?;
        for (i, r) in rs.iter().enumerate() {
            rules.push(rule(&r, &format!("AccessRole {name:?}: rules[{i}]"))?);
        }
    }
    Ok(Role { name, rules })
}

fn binding(v: &Bound<'_, PyAny>) -> PyResult<Binding> {
    let d = as_dict(v, "binding")?;
    let name = scalar(&get(&d, "name")?.ok_or_else(|| err("binding name is required"))?)?;
    let mut subjects = Subjects::default();
    if let Some(ss) = get(&d, "subjects")? {
        let ss = ss
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err("subjects must be a list"))?;
        for (i, s) in ss.iter().enumerate() {
            let what = format!("AccessRoleBinding {name:?}: subjects[{i}]");
            let s = as_dict(&s, &what)?;
            let kind = get(&s, "type")?
                .map(|x| scalar(&x))
                .transpose()?
                .unwrap_or_default();
            let sname = get(&s, "name")?
                .map(|x| scalar(&x))
                .transpose()?
                .unwrap_or_default();
            if sname.is_empty() {
                return Err(err(format!("{what}.name must not be empty (R2.1)")));
            }
            match kind.as_str() {
                "User" => subjects.users.push(sname),
                "Group" => subjects.groups.push(sname),
                _ => {
                    return Err(err(format!(
                        "{what}.type must be User or Group, not {kind:?} (R2.1)"
                    )))
                }
            }
        }
    }
    Ok(Binding {
        name,
        subjects,
        roles: str_list(get(&d, "roles")?, "roles")?,
    })
}

fn subjects(v: Option<Bound<'_, PyAny>>, default: Subjects) -> PyResult<Subjects> {
    match v {
        None => Ok(default),
        Some(v) => {
            let d = as_dict(&v, "static list")?;
            Ok(Subjects {
                users: str_list(get(&d, "users")?, "users")?,
                groups: str_list(get(&d, "groups")?, "groups")?,
            })
        }
    }
}

fn static_config(v: Option<&Bound<'_, PyDict>>) -> PyResult<StaticConfig> {
    let mut c = StaticConfig::default();
    if let Some(d) = v {
        for (k, _) in d.iter() {
            let k = scalar(&k)?;
            if ![
                "adminResources",
                "generateDpToken",
                "generateUserToken",
                "generateZoneToken",
                "generateCpToken",
                "viewEnvoy",
            ]
            .contains(&k.as_str())
            {
                return Err(err(format!("unknown static access option {k:?}")));
            }
        }
        c.admin_resources = subjects(get(d, "adminResources")?, c.admin_resources)?;
        c.generate_dp_token = subjects(get(d, "generateDpToken")?, c.generate_dp_token)?;
        c.generate_user_token = subjects(get(d, "generateUserToken")?, c.generate_user_token)?;
        c.generate_zone_token = subjects(get(d, "generateZoneToken")?, c.generate_zone_token)?;
        c.generate_cp_token = subjects(get(d, "generateCpToken")?, c.generate_cp_token)?;
        c.view_envoy = subjects(get(d, "viewEnvoy")?, c.view_envoy)?;
    }
    Ok(c)
}

/// R4 target from `(type, scope, family, mesh, name, spec)`; `spec` is Kuma's spec (targetRef
/// policies) or the top-level body (legacy policies).
fn build_target(
    type_name: &str,
    scope: &str,
    family: &str,
    mesh: Option<&str>,
    name: &str,
    spec: &Bound<'_, PyAny>,
) -> PyResult<Target> {
    let scope = match scope {
        "global" => Scope::Global,
        "mesh" => Scope::Mesh,
        _ => return Err(err(format!("unknown scope {scope:?}"))),
    };
    let family = Family::parse(family).ok_or_else(|| err(format!("unknown family {family:?}")))?;
    let spec = if spec.is_none() {
        PyDict::new(spec.py())
    } else {
        as_dict(spec, "spec")?
    };
    let list = |key: &str| -> PyResult<Vec<Bound<'_, PyAny>>> {
        match get(&spec, key)? {
            None => Ok(Vec::new()),
            Some(v) => Ok(v
                .cast::<PyList>()
                .map_err(|_| PyTypeError::new_err(format!("{key} must be a list")))?
                .iter()
                .collect()),
        }
    };
    let body = match family {
        Family::TargetRef => Body::TargetRef {
            top: get(&spec, "targetRef")?
                .map(|t| target_ref(&t, "targetRef"))
                .transpose()?,
            to: list("to")?
                .iter()
                .enumerate()
                .map(|(i, x)| wrapped_ref(x, &format!("to[{i}]")))
                .collect::<PyResult<_>>()?,
            from: list("from")?
                .iter()
                .enumerate()
                .map(|(i, x)| wrapped_ref(x, &format!("from[{i}]")))
                .collect::<PyResult<_>>()?,
            has_rules: !list("rules")?.is_empty(),
        },
        Family::LegacyConnection => Body::Connection {
            sources: list("sources")?
                .iter()
                .enumerate()
                .map(|(i, x)| match_of(x, &format!("sources[{i}]")))
                .collect::<PyResult<_>>()?,
            destinations: list("destinations")?
                .iter()
                .enumerate()
                .map(|(i, x)| match_of(x, &format!("destinations[{i}]")))
                .collect::<PyResult<_>>()?,
        },
        Family::LegacyDataplane => Body::Dataplane {
            selectors: list("selectors")?
                .iter()
                .enumerate()
                .map(|(i, x)| match_of(x, &format!("selectors[{i}]")))
                .collect::<PyResult<_>>()?,
        },
        Family::None => Body::None,
    };
    Target::new(type_name, scope, mesh, name, body).map_err(err)
}

/// A pre-normalised target: build once, check many times (hot loops).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacTarget {
    pub(crate) inner: Arc<Target>,
    /// `"<type> <mesh>/<name>"` (or `"<type> <name>"`), built once for `AccessDecision.target`.
    label: Py<PyString>,
}

impl RbacTarget {
    pub(crate) fn from_target(py: Python<'_>, t: Target) -> RbacTarget {
        let label = match t.mesh.as_deref() {
            Some(m) if !m.is_empty() => format!("{} {}/{}", t.type_name, m, t.name),
            _ => format!("{} {}", t.type_name, t.name),
        };
        RbacTarget {
            inner: Arc::new(t),
            label: PyString::new(py, &label).unbind(),
        }
    }
}

#[pymethods]
impl RbacTarget {
    #[new]
    #[pyo3(signature = (type_name, scope, family, mesh, name, spec))]
    fn new(
        py: Python<'_>,
        type_name: &str,
        scope: &str,
        family: &str,
        mesh: Option<&str>,
        name: &str,
        spec: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let t = build_target(type_name, scope, family, mesh, name, spec)?;
        Ok(RbacTarget::from_target(py, t))
    }

    /// What `AccessDecision.target` shows for this handle (same text as `describe`).
    #[getter]
    fn label(&self, py: Python<'_>) -> Py<PyString> {
        self.label.clone_ref(py)
    }

    #[getter]
    fn type_name(&self) -> &str {
        &self.inner.type_name
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    #[getter]
    fn mesh(&self) -> Option<&str> {
        self.inner.mesh.as_deref()
    }

    /// Labels of the coverable elements (R4.5 / R4.6).
    #[getter]
    fn elements(&self) -> Vec<String> {
        self.inner.labels.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "RbacTarget({} {:?}/{})",
            self.inner.type_name,
            self.inner.mesh.as_deref().unwrap_or(""),
            self.inner.name
        )
    }
}

fn target_arg(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<Target>>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(h) = v.cast::<RbacTarget>() {
        return Ok(Some(h.get().inner.clone()));
    }
    let t = v.cast::<PyTuple>().map_err(|_| {
        PyTypeError::new_err(
            "target must be an RbacTarget or a (type, scope, family, mesh, name, spec) tuple",
        )
    })?;
    if t.len() != 6 {
        return Err(PyTypeError::new_err("target tuple must have 6 items"));
    }
    let s = |i: usize| -> PyResult<String> { t.get_item(i)?.extract() };
    let mesh: Option<String> = t.get_item(3)?.extract()?;
    Ok(Some(Arc::new(build_target(
        &s(0)?,
        &s(1)?,
        &s(2)?,
        mesh.as_deref(),
        &s(4)?,
        &t.get_item(5)?,
    )?)))
}

fn token_arg(
    access: Option<Access>,
    v: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<TokenRequest>> {
    let (Some(a), Some(v)) = (access, v.filter(|v| !v.is_none())) else {
        return Ok(None);
    };
    let d = as_dict(v, "token_request")?;
    let text =
        |k: &str| -> PyResult<Option<String>> { get(&d, k)?.map(|x| scalar(&x)).transpose() };
    Ok(Some(match a {
        Access::GenerateDataplaneToken => {
            // R5.12: the request mesh is required (dataplane tokens are always mesh-scoped).
            let mesh = text("mesh")?
                .filter(|m| !m.is_empty())
                .ok_or_else(|| err("dataplane token request needs `mesh`"))?;
            let mut tags = Vec::new();
            if let Some(t) = get(&d, "tags")? {
                for (k, vals) in as_dict(&t, "tags")?.iter() {
                    let values = if vals.is_instance_of::<PyList>() {
                        str_list(Some(vals), "tags")?
                    } else if vals.is_none() {
                        Vec::new()
                    } else {
                        vec![scalar(&vals)?]
                    };
                    tags.push((scalar(&k)?, values));
                }
            }
            TokenRequest::Dataplane { mesh, tags }
        }
        Access::GenerateUserToken => TokenRequest::User,
        Access::GenerateZoneToken => TokenRequest::Zone {
            zone: text("zone")?.unwrap_or_default(),
        },
        Access::GenerateZoneCpToken => TokenRequest::ZoneCp {
            zone: text("zone")?.unwrap_or_default(),
        },
        _ => return Ok(None),
    }))
}

/// The access value as an interned Python string (no per-check allocation).
fn access_py(py: Python<'_>, a: Access) -> &Bound<'_, PyString> {
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
struct Names {
    roles: Vec<Py<PyString>>,
    bindings: Vec<Py<PyString>>,
    users: Py<PyDict>,
    groups: Py<PyDict>,
}

impl Names {
    fn new(py: Python<'_>, engine: &Engine) -> PyResult<Names> {
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
}

/// A user passed as `(name, groups)` Python objects; groups a list or tuple of `str`.
struct PyUser<'a, 'py> {
    name: &'a Bound<'py, PyString>,
    groups: &'a Bound<'py, PyAny>,
}

impl<'py> PyUser<'_, 'py> {
    fn for_each_group(&self, mut f: impl FnMut(&Bound<'py, PyString>)) -> PyResult<()> {
        let mut each = |g: Bound<'py, PyAny>| -> PyResult<()> {
            f(g.cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("groups must be strings"))?);
            Ok(())
        };
        if let Ok(t) = self.groups.cast::<PyTuple>() {
            t.iter().try_for_each(&mut each)
        } else if let Ok(l) = self.groups.cast::<PyList>() {
            l.iter().try_for_each(&mut each)
        } else if self.groups.is_instance_of::<PyString>() {
            Err(PyTypeError::new_err(
                "groups must be a list of strings, not str",
            ))
        } else {
            self.groups.try_iter()?.try_for_each(|g| each(g?))
        }
    }

    /// The owned user (messages, static mode): only built when needed.
    fn owned(&self) -> PyResult<User> {
        let mut groups = Vec::new();
        let mut bad = None;
        self.for_each_group(|g| match g.to_cow() {
            Ok(c) => groups.push(c.into_owned()),
            Err(e) => bad = Some(e),
        })?;
        if let Some(e) = bad {
            return Err(e);
        }
        Ok(User {
            name: self.name.to_cow()?.into_owned(),
            groups,
        })
    }
}

fn subject_id(d: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<Option<u32>> {
    match d.get_item(key)? {
        Some(v) => Ok(Some(v.cast::<PyInt>()?.extract()?)),
        None => Ok(None),
    }
}

/// `(role, binding, rule index, access)` with interned strings.
fn grant_py<'py>(py: Python<'py>, names: &Names, g: &Option<Grant>) -> PyResult<Bound<'py, PyAny>> {
    match g {
        None => Ok(py.None().into_bound(py)),
        Some(g) => (
            names.roles[g.role as usize].bind(py),
            names.bindings[g.binding as usize].bind(py),
            g.rule,
            access_py(py, g.access),
        )
            .into_bound_py_any(py),
    }
}

/// The Python classes `decide` builds (`rbac_bind_types`, once at import of the rbac package).
struct Types {
    decision: Py<PyType>,
    grant: Py<PyType>,
    object_new: Py<PyAny>,
    object_setattr: Py<PyAny>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// Registers `AccessDecision` and `Grant` for `RbacPolicySet.decide`.
#[pyfunction]
fn rbac_bind_types(
    py: Python<'_>,
    decision: &Bound<'_, PyType>,
    grant: &Bound<'_, PyType>,
) -> PyResult<()> {
    let object = py.get_type::<pyo3::types::PyAny>();
    let types = Types {
        decision: decision.clone().unbind(),
        grant: grant.clone().unbind(),
        object_new: object.getattr("__new__")?.unbind(),
        object_setattr: object.getattr("__setattr__")?.unbind(),
    };
    let _ = TYPES.set(py, types);
    Ok(())
}

impl Types {
    /// `object.__new__(cls)` (a plain, non-slotted Python class) and its fresh `__dict__`; the
    /// caller fills the dict (a frozen dataclass without its per-field `__setattr__`, same fields
    /// as `cls(**state)`).
    fn blank<'py>(
        &self,
        py: Python<'py>,
        cls: &Py<PyType>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let obj = self.object_new.bind(py).call1((cls.bind(py),))?;
        let dict = obj
            .getattr(intern!(py, "__dict__"))?
            .cast_into::<PyDict>()?;
        Ok((obj, dict))
    }

    /// `cls.__new__` + one `__dict__` assignment: a frozen dataclass instance without its
    /// per-field `__setattr__` (same fields, same dict as `cls(**state)`).
    fn instance<'py>(
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

type GrantKey = (u32, u32, usize, Access);

/// The compiled, immutable policy set (or the static strategy, R7.1).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacPolicySet {
    pub(crate) engine: Engine,
    names: Names,
    /// `Grant` objects are immutable and determined by their key: built once each.
    grants: Mutex<HashMap<GrantKey, Py<PyAny>>>,
    /// `AccessDecision.__dict__` defaults for `decide` (field order as the dataclass).
    template: PyOnceLock<Py<PyDict>>,
}

impl RbacPolicySet {
    fn grant_obj<'py>(
        &self,
        py: Python<'py>,
        types: &Types,
        g: &Option<Grant>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(g) = g else {
            return Ok(py.None().into_bound(py));
        };
        let key = (g.role, g.binding, g.rule, g.access);
        if let Some(o) = self.grants.lock().unwrap().get(&key) {
            return Ok(o.bind(py).clone());
        }
        let state = PyDict::new(py);
        state.set_item(
            intern!(py, "role"),
            self.names.roles[g.role as usize].bind(py),
        )?;
        state.set_item(
            intern!(py, "binding"),
            self.names.bindings[g.binding as usize].bind(py),
        )?;
        state.set_item(intern!(py, "rule"), g.rule)?;
        state.set_item(intern!(py, "access"), access_py(py, g.access))?;
        let obj = types.instance(py, &types.grant, state)?;
        self.grants
            .lock()
            .unwrap()
            .insert(key, obj.clone().unbind());
        Ok(obj)
    }
}

impl RbacPolicySet {
    fn user<'a, 'py>(
        name: &'a Bound<'py, PyAny>,
        groups: &'a Bound<'py, PyAny>,
    ) -> PyResult<PyUser<'a, 'py>> {
        let name = name
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("user name must be a string"))?;
        Ok(PyUser { name, groups })
    }

    /// Run §5 / §7 for a Python user: under RBAC the user's roles come from the interned subject
    /// maps (R5.1, R5.2); the owned user is built only for static checks.
    fn run(
        &self,
        py: Python<'_>,
        user: &PyUser<'_, '_>,
        action: Action,
        t: Option<&Target>,
        o: Option<&Target>,
        tok: Option<&TokenRequest>,
    ) -> PyResult<Decision> {
        match &self.engine {
            Engine::Rbac {
                set,
                secret_reads,
                static_config,
            } => {
                let mut ids: Vec<u32> = Vec::with_capacity(4);
                ids.extend(subject_id(self.names.users.bind(py), user.name)?);
                let groups = self.names.groups.bind(py);
                let mut bad = None;
                user.for_each_group(|g| match subject_id(groups, g) {
                    Ok(id) => ids.extend(id),
                    Err(e) => bad = Some(e),
                })?;
                if let Some(e) = bad {
                    return Err(e);
                }
                let mut owned_err = None;
                let d = set.decide(
                    &set.held_roles(&ids),
                    || match user.owned() {
                        Ok(u) => static_config.admin_resources.matches(&u),
                        Err(e) => {
                            owned_err = Some(e);
                            false
                        }
                    },
                    action,
                    t,
                    o,
                    tok,
                    *secret_reads,
                );
                if let Some(e) = owned_err {
                    return Err(e);
                }
                d.map_err(err)
            }
            Engine::Static(cfg) => cfg.check(&user.owned()?, action, t, tok).map_err(err),
        }
    }
}

#[pymethods]
impl RbacPolicySet {
    #[new]
    #[pyo3(signature = (roles, bindings, mode="rbac", secret_reads="rbac", static_config=None))]
    fn new(
        py: Python<'_>,
        roles: &Bound<'_, PyList>,
        bindings: &Bound<'_, PyList>,
        mode: &str,
        secret_reads: &str,
        static_config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let cfg = self::static_config(static_config)?;
        let engine = match mode {
            "static" => Engine::Static(cfg),
            "rbac" => {
                let secret_reads = match secret_reads {
                    "rbac" => SecretReads::Rbac,
                    "open" => SecretReads::Open,
                    "static-admin" => SecretReads::StaticAdmin,
                    _ => {
                        return Err(err(format!(
                            "secret_reads must be rbac, open or static-admin, not {secret_reads:?}"
                        )))
                    }
                };
                let roles = roles
                    .iter()
                    .map(|r| role(&r))
                    .collect::<PyResult<Vec<_>>>()?;
                let bindings = bindings
                    .iter()
                    .map(|b| binding(&b))
                    .collect::<PyResult<Vec<_>>>()?;
                Engine::Rbac {
                    set: PolicySet::compile(roles, bindings).map_err(err)?,
                    secret_reads,
                    static_config: cfg,
                }
            }
            _ => return Err(err(format!("mode must be rbac or static, not {mode:?}"))),
        };
        let names = Names::new(py, &engine)?;
        Ok(RbacPolicySet {
            engine,
            names,
            grants: Mutex::new(HashMap::new()),
            template: PyOnceLock::new(),
        })
    }

    #[allow(clippy::too_many_arguments)] // the Python signature
    /// One decision: `(allowed, grant, old_grant, denied_side, reason, examined)`, grants as
    /// `(role, binding, rule index, access)`. `groups`: a list or tuple of `str`. R5.6 uncovered
    /// elements of a denial come from `uncovered` (on demand).
    #[pyo3(signature = (name, groups, action, target=None, old=None, token=None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        groups: &Bound<'py, PyAny>,
        action: &str,
        target: Option<&Bound<'py, PyAny>>,
        old: Option<&Bound<'py, PyAny>>,
        token: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let action =
            Action::parse(action).ok_or_else(|| err(format!("unknown action {action:?}")))?;
        let access = match action {
            Action::Access(a) => Some(a),
            _ => None,
        };
        let user = Self::user(name, groups)?;
        let t = target_arg(target)?;
        let o = target_arg(old)?;
        let tok = token_arg(access, token)?;
        let d = self.run(py, &user, action, t.as_deref(), o.as_deref(), tok.as_ref())?;
        let reason = match &d.reason {
            Some(r) => Some(meshauthz_core::rbac::reason_text(r, &user.owned()?)),
            None => None,
        };
        PyTuple::new(
            py,
            [
                d.allowed.into_bound_py_any(py)?,
                grant_py(py, &self.names, &d.grant)?,
                grant_py(py, &self.names, &d.old_grant)?,
                d.denied_side.into_bound_py_any(py)?,
                reason.into_bound_py_any(py)?,
                d.examined.into_bound_py_any(py)?,
            ],
        )
    }

    /// R5.6 on demand: for a denied resource action, the labels of the denied side's elements
    /// (`target`, or `old` for an UPDATE denied on the stored object) that no applicable rule of
    /// the user's roles covers. Empty for reads, token / VIEW_* actions and static mode.
    #[pyo3(signature = (name, groups, action, target))]
    fn uncovered(
        &self,
        name: &Bound<'_, PyAny>,
        groups: &Bound<'_, PyAny>,
        action: &str,
        target: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<String>> {
        let action =
            Action::parse(action).ok_or_else(|| err(format!("unknown action {action:?}")))?;
        let user = Self::user(name, groups)?.owned()?;
        let Some(t) = target_arg(Some(target))? else {
            return Ok(Vec::new());
        };
        Ok(self.engine.uncovered(
            &user.name,
            user.groups.iter().map(String::as_str),
            action,
            &t,
        ))
    }

    /// `Authorizer.check` hot path: `user` a `User`, `target` a handle, a non-token action without
    /// a stored object. Returns the `AccessDecision` (`rbac_bind_types`) with the same fields as
    /// the Python path; a resource-write denial carries `_explain` for the lazy R5.6 `uncovered`.
    fn decide<'py>(
        slf: &Bound<'py, Self>,
        user: &Bound<'py, PyAny>,
        action: &Bound<'py, PyString>,
        target: &Bound<'py, RbacTarget>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let types = TYPES
            .get(py)
            .ok_or_else(|| err("rbac_bind_types was not called"))?;
        let act = Action::parse(&action.to_cow()?)
            .ok_or_else(|| err(format!("unknown action {action}")))?;
        let name = user.getattr(intern!(py, "name"))?;
        let groups = user.getattr(intern!(py, "groups"))?;
        let pu = Self::user(&name, &groups)?;
        let handle = target.get();
        let d = this.run(py, &pu, act, Some(&handle.inner), None, None)?;
        let reason = match &d.reason {
            Some(r) => Some(meshauthz_core::rbac::reason_text(r, &pu.owned()?)),
            None => None,
        };
        let (mode, rbac) = match &this.engine {
            Engine::Rbac { .. } => (intern!(py, "rbac"), true),
            Engine::Static(_) => (intern!(py, "static"), false),
        };
        let template = this
            .template
            .get_or_try_init(py, || -> PyResult<Py<PyDict>> {
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
            })?;
        let (obj, state) = types.blank(py, &types.decision)?;
        state.update(template.bind(py).as_mapping())?;
        state.set_item(intern!(py, "allowed"), d.allowed)?;
        state.set_item(intern!(py, "user"), user)?;
        state.set_item(intern!(py, "action"), action)?;
        state.set_item(intern!(py, "target"), handle.label.bind(py))?;
        if d.grant.is_some() {
            state.set_item(intern!(py, "grant"), this.grant_obj(py, types, &d.grant)?)?;
        }
        let explained = matches!(act, Action::Access(a) if a.is_resource());
        if !d.allowed && rbac && explained {
            // R5.6 on demand (decision.py `_LazyUncovered`).
            let lazy = (
                slf.getattr(intern!(py, "uncovered"))?,
                &name,
                &groups,
                action,
                target,
            );
            state.del_item(intern!(py, "uncovered"))?;
            state.set_item(intern!(py, "_explain"), lazy)?;
        }
        if let Some(r) = reason {
            state.set_item(intern!(py, "reason"), r)?;
        }
        state.set_item(intern!(py, "examined"), d.examined)?;
        Ok(obj)
    }

    /// Same arguments as `check`, no work: the FFI floor for benchmarks.
    #[pyo3(signature = (name, groups, action, target=None, old=None, token=None))]
    fn _noop(
        &self,
        name: &str,
        groups: Vec<String>,
        action: &str,
        target: Option<&Bound<'_, PyAny>>,
        old: Option<&Bound<'_, PyAny>>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> (bool, Option<()>, Option<()>, Option<()>, Option<()>, usize) {
        let _ = (name, groups, action, target, old, token);
        (true, None, None, None, None, 0)
    }

    /// Candidate rules examined by every check so far (index test).
    #[getter]
    fn examined_total(&self) -> u64 {
        match &self.engine {
            Engine::Rbac { set, .. } => set.examined_total(),
            Engine::Static(_) => 0,
        }
    }

    #[getter]
    fn rule_count(&self) -> usize {
        match &self.engine {
            Engine::Rbac { set, .. } => set.rule_count(),
            Engine::Static(_) => 0,
        }
    }

    #[getter]
    fn mode(&self) -> &'static str {
        match &self.engine {
            Engine::Rbac { .. } => "rbac",
            Engine::Static(_) => "static",
        }
    }
}

/// R8.3 / R8.4: the text shown on `channel` for a reason.
#[pyfunction]
fn rbac_denial_text(channel: &str, reason: &str) -> PyResult<String> {
    let ch = Channel::parse(channel).ok_or_else(|| {
        err(format!(
            "channel must be api or kubernetes-webhook, not {channel:?}"
        ))
    })?;
    Ok(denial_text(ch, reason))
}

/// R8.1 Go `%q`.
#[pyfunction]
fn rbac_go_quote(s: &str) -> String {
    go_quote(s)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RbacPolicySet>()?;
    m.add_class::<RbacTarget>()?;
    m.add_function(wrap_pyfunction!(rbac_denial_text, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_go_quote, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_bind_types, m)?)?;
    Ok(())
}
