//! Bindings for the RBAC engine (rbac.md): a compiled `RbacPolicySet`, pre-normalised
//! `RbacTarget` handles and one FFI crossing per check. Conversions only (`convert`), decisions
//! from `meshauthz_core::rbac::Engine::decide`, Python results built in `decision`, errors mapped
//! in `crate::errors`.

pub mod convert;
pub mod decision;

use std::sync::Arc;

use meshauthz_core::rbac::policy_doc;
use meshauthz_core::rbac::{
    denial_text, go_quote, reason_text, Access, Action, Channel, Engine, PolicySet, SecretReads,
    Target,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};

use crate::errors;
use convert::{PyNode, PyUser};
use decision::{types, Grants, Names};

/// A pre-normalised target: build once, check many times (hot loops).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacTarget {
    pub(crate) inner: Arc<Target>,
    /// `Target::label`, built once for `AccessDecision.target`.
    label: Py<PyString>,
}

impl RbacTarget {
    pub(crate) fn from_target(py: Python<'_>, t: Arc<Target>) -> RbacTarget {
        RbacTarget {
            label: PyString::new(py, &t.label()).unbind(),
            inner: t,
        }
    }
}

#[pymethods]
impl RbacTarget {
    /// R4 normalisation of a resource document (either form) or a loaded `Resource`.
    #[new]
    fn new(py: Python<'_>, resource: &Bound<'_, PyAny>) -> PyResult<Self> {
        let t = convert::target(types(py)?, resource, false)
            .map_err(|e| errors::target_error(py, "cannot normalise the resource", &e))?;
        Ok(RbacTarget::from_target(py, t))
    }

    /// What `AccessDecision.target` shows for this handle.
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
        self.inner.labels()
    }

    fn __repr__(&self) -> String {
        format!("RbacTarget({})", self.inner.label())
    }
}

/// The compiled, immutable policy set (or the static strategy, R7.1).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacPolicySet {
    pub(crate) engine: Engine,
    names: Names,
    grants: Grants,
    template: PyOnceLock<Py<PyDict>>,
}

const NOTE_A9: &str = "types/names do not restrict token actions (A9)";

impl RbacPolicySet {
    /// R5.1 subject ids of a user through the interned Python dicts.
    fn subject_ids(&self, py: Python<'_>, u: &PyUser<'_>) -> PyResult<Vec<u32>> {
        let mut ids = Vec::with_capacity(1 + u.groups.len());
        if let Some(v) = self.names.users.bind(py).get_item(&u.name)? {
            ids.push(v.cast::<PyInt>()?.extract()?);
        }
        let groups = self.names.groups.bind(py);
        for g in &u.groups {
            if let Some(v) = groups.get_item(g)? {
                ids.push(v.cast::<PyInt>()?.extract()?);
            }
        }
        Ok(ids)
    }

    fn target_of(
        py: Python<'_>,
        v: Option<&Bound<'_, PyAny>>,
        context: &dyn Fn() -> String,
    ) -> PyResult<Option<Arc<Target>>> {
        match v.filter(|v| !v.is_none()) {
            None => Ok(None),
            Some(v) => convert::target(types(py)?, v, false)
                .map(Some)
                .map_err(|e| errors::target_error(py, &context(), &e)),
        }
    }
}

/// `RbacPolicySet.uncovered` (the function, called with the set as first argument).
fn uncovered_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.get_type::<RbacPolicySet>()
                .getattr("uncovered")?
                .unbind(),
        )
    })
    .map(|f| f.bind(py))
}

/// The `User` object a result carries: the caller's own `User`, else one built from the
/// converted name and groups.
fn user_object<'py>(
    types: &decision::Types,
    user: &Bound<'py, PyAny>,
    pu: &PyUser<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = user.py();
    if user.get_type().is(types.user.bind(py)) || user.is_instance(types.user.bind(py))? {
        return Ok(user.clone());
    }
    types
        .user
        .bind(py)
        .call1((&pu.name, PyTuple::new(py, &pu.groups)?))
}

/// An action given as an interned literal (the usual case) is recognised by identity: no text
/// conversion per check.
fn interned_action(py: Python<'_>, s: &Bound<'_, PyString>) -> Option<Action> {
    use meshauthz_core::rbac::Access as A;
    let table = [
        (intern!(py, "CREATE"), Action::Access(A::Create)),
        (intern!(py, "DELETE"), Action::Access(A::Delete)),
        (intern!(py, "UPDATE"), Action::Access(A::Update)),
        (intern!(py, "GET"), Action::Get),
        (intern!(py, "LIST"), Action::List),
    ];
    table
        .iter()
        .find(|(k, _)| k.as_ptr() == s.as_ptr())
        .map(|(_, a)| *a)
}

fn parse_action<'py>(
    py: Python<'py>,
    action: &Bound<'py, PyAny>,
) -> PyResult<(Action, Bound<'py, PyString>)> {
    let s = action
        .cast::<PyString>()
        .map_err(|_| errors::argument(py, "the action must be a str"))?;
    if let Some(a) = interned_action(py, s) {
        return Ok((a, s.clone()));
    }
    let parsed = Action::parse(&s.to_cow()?).ok_or_else(|| {
        errors::argument(
            py,
            format!(
                "unknown action {} (expected CREATE, UPDATE, DELETE, GET, LIST, VIEW_*, GENERATE_*)",
                s.repr().map(|r| r.to_string()).unwrap_or_default()
            ),
        )
    })?;
    Ok((parsed, s.clone()))
}

/// One decision with the converted inputs it was made from.
struct Decided<'py> {
    act: Action,
    action_str: Bound<'py, PyString>,
    pu: PyUser<'py>,
    handle: Option<Bound<'py, RbacTarget>>,
    t: Option<Arc<Target>>,
    o: Option<Arc<Target>>,
    d: meshauthz_core::rbac::Decision,
}

impl RbacPolicySet {
    /// Convert the arguments (strictly, errors as `EvaluationError`) and decide in the core.
    fn decided<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        resource: Option<&Bound<'py, PyAny>>,
        old: Option<&Bound<'py, PyAny>>,
        token: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Decided<'py>> {
        let types = types(py)?;
        let (act, action_str) = parse_action(py, action)?;
        let context = || format!("cannot check {}", act.as_str());
        let pu = PyUser::from_obj(types, user)
            .map_err(|m| errors::argument(py, format!("{}: {m}", context())))?;
        let handle = resource.and_then(|r| r.cast::<RbacTarget>().ok().cloned());
        let t = match &handle {
            Some(h) => Some(h.get().inner.clone()),
            None => Self::target_of(py, resource, &context)?,
        };
        let o = Self::target_of(py, old, &context)?;
        let tok = match act {
            Action::Access(a) if a.is_token() => Some(match token.filter(|t| !t.is_none()) {
                Some(v) => convert::token(a, v, false)
                    .map_err(|e| errors::target_error(py, &context(), &e))?,
                None => meshauthz_core::rbac::TokenRequest::empty(a).ok_or_else(|| {
                    errors::argument(
                        py,
                        format!("{}: the dataplane token request needs `mesh`", context()),
                    )
                })?,
            }),
            _ => None,
        };
        let ids = self.subject_ids(py, &pu)?;
        let d = errors::contain(|| {
            self.engine.decide(
                &ids,
                || pu.owned(),
                act,
                t.as_deref(),
                o.as_deref(),
                tok.as_ref(),
            )
        })
        .map_err(|m| errors::evaluation(py, m))?
        .map_err(|e| errors::check_error(py, &context(), &e))?;
        Ok(Decided {
            act,
            action_str,
            pu,
            handle,
            t,
            o,
            d,
        })
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
        let fail = |e| errors::compile_error(py, &e);
        let node = static_config.map(|d| PyNode(d.clone().into_any()));
        let cfg = policy_doc::static_config(node.as_ref()).map_err(fail)?;
        let engine = match mode {
            "static" => Engine::Static(cfg),
            "rbac" => {
                let secret_reads = match secret_reads {
                    "rbac" => SecretReads::Rbac,
                    "open" => SecretReads::Open,
                    "static-admin" => SecretReads::StaticAdmin,
                    _ => {
                        return Err(errors::argument(
                            py,
                            format!(
                            "secret_reads must be rbac, open or static-admin, not {secret_reads:?}"
                        ),
                        ))
                    }
                };
                let roles = roles
                    .iter()
                    .map(|r| policy_doc::role(&PyNode(r)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                let bindings = bindings
                    .iter()
                    .map(|b| policy_doc::binding(&PyNode(b)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                Engine::Rbac {
                    set: PolicySet::compile(roles, bindings).map_err(fail)?,
                    secret_reads,
                    static_config: cfg,
                }
            }
            _ => {
                return Err(errors::argument(
                    py,
                    format!("mode must be rbac or static, not {mode:?}"),
                ))
            }
        };
        let names = Names::new(py, &engine)?;
        Ok(RbacPolicySet {
            engine,
            names,
            grants: Grants::default(),
            template: PyOnceLock::new(),
        })
    }

    /// One decision (the only check path): `user` a `User`, `(name, groups)` or a name; `resource`
    /// / `old` a dict (either form), a `Resource` or an `RbacTarget`; `token` the token request
    /// of a GENERATE_* action (`None` = `{}`). Returns an `AccessDecision`; raises
    /// `EvaluationError` when no decision can be made (fail closed).
    #[pyo3(signature = (user, action, resource=None, old=None, token=None))]
    fn check<'py>(
        slf: &Bound<'py, Self>,
        user: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        resource: Option<&Bound<'py, PyAny>>,
        old: Option<&Bound<'py, PyAny>>,
        token: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let types = types(py)?;
        let Decided {
            act,
            action_str,
            pu,
            handle,
            t,
            o,
            d,
        } = this.decided(py, user, action, resource, old, token)?;
        let context = || format!("cannot check {}", act.as_str());
        let reason = match &d.reason {
            Some(r) => {
                let u = pu.owned().ok_or_else(|| {
                    errors::argument(
                        py,
                        format!(
                            "{}: the user's name or groups are not valid text",
                            context()
                        ),
                    )
                })?;
                Some(reason_text(r, &u))
            }
            None => None,
        };
        let rbac = matches!(this.engine, Engine::Rbac { .. });
        let template = this.template.get_or_try_init(py, || {
            decision::template(py, if rbac { "rbac" } else { "static" })
        })?;
        let state = template.bind(py).copy()?;
        state.set_item(intern!(py, "allowed"), d.allowed)?;
        let user_obj = user_object(types, user, &pu)?;
        state.set_item(intern!(py, "user"), &user_obj)?;
        state.set_item(intern!(py, "action"), &action_str)?;
        let label = match (&handle, &t) {
            (Some(h), _) => h.get().label.clone_ref(py).into_bound(py),
            (None, Some(t)) => PyString::new(py, &t.label()),
            (None, None) => intern!(py, "token request").clone(),
        };
        state.set_item(intern!(py, "target"), &label)?;
        if d.grant.is_some() {
            state.set_item(
                intern!(py, "grant"),
                this.grants.get(py, types, &this.names, &d.grant)?,
            )?;
        }
        if d.old_grant.is_some() {
            state.set_item(
                intern!(py, "old_grant"),
                this.grants.get(py, types, &this.names, &d.old_grant)?,
            )?;
        }
        if let Some(side) = d.denied_side {
            state.set_item(intern!(py, "denied_side"), side)?;
        }
        let explained = matches!(act, Action::Access(a) if a.is_resource());
        if !d.allowed && rbac && explained {
            // R5.6 on demand (decision.py `_LazyUncovered`): the denied side as a handle.
            let old_side = d.denied_side == Some("old");
            let side = if old_side { &o } else { &t };
            if let Some(side) = side {
                let h = match (&handle, old_side) {
                    (Some(h), false) => (*h).clone(),
                    _ => Bound::new(
                        py,
                        RbacTarget {
                            inner: side.clone(),
                            label: if old_side {
                                PyString::new(py, &side.label()).unbind()
                            } else {
                                label.clone().unbind()
                            },
                        },
                    )?,
                };
                let lazy = (
                    uncovered_fn(py)?,
                    slf,
                    &pu.name,
                    &pu.groups_obj,
                    &action_str,
                    h,
                );
                state.del_item(intern!(py, "uncovered"))?;
                state.set_item(intern!(py, "_explain"), lazy)?;
            }
        }
        if let Some(r) = reason {
            state.set_item(intern!(py, "reason"), r)?;
        }
        state.set_item(intern!(py, "examined"), d.examined)?;
        if rbac && matches!(act, Action::Access(a) if a.is_token()) {
            state.set_item(intern!(py, "notes"), PyTuple::new(py, [NOTE_A9])?)?;
        }
        types.instance(py, &types.decision, state)
    }

    /// `check(...).allowed` without building the result object: the hot-loop form (same
    /// conversion, same decision, same errors).
    #[pyo3(signature = (user, action, resource=None, old=None, token=None))]
    fn allowed(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: Option<&Bound<'_, PyAny>>,
        old: Option<&Bound<'_, PyAny>>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        Ok(self
            .decided(py, user, action, resource, old, token)?
            .d
            .allowed)
    }

    /// Same arguments as `check`, no work at all (not even the dict conversion): the FFI floor
    /// for benchmarks.
    #[pyo3(signature = (user, action, resource=None, old=None, token=None))]
    fn _noop(
        &self,
        user: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: Option<&Bound<'_, PyAny>>,
        old: Option<&Bound<'_, PyAny>>,
        token: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        let _ = (user, action, resource, old, token);
        true
    }

    /// R5.6 on demand: for a denied resource action, the labels of `target`'s elements that no
    /// applicable rule of the user's roles covers. Empty for reads, token / VIEW_* actions and
    /// static mode.
    fn uncovered(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        groups: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        target: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<String>> {
        let (act, _) = parse_action(py, action)?;
        let u = PyUser::from_parts(name, Some(groups))
            .map_err(|m| errors::argument(py, m))?
            .owned()
            .ok_or_else(|| errors::argument(py, "the user's name or groups are not valid text"))?;
        let Some(t) = Self::target_of(py, Some(target), &|| "cannot explain".to_string())? else {
            return Ok(Vec::new());
        };
        Ok(self
            .engine
            .uncovered(&u.name, u.groups.iter().map(String::as_str), act, &t))
    }

    /// A pre-normalised handle for `resource`.
    fn target(&self, py: Python<'_>, resource: &Bound<'_, PyAny>) -> PyResult<RbacTarget> {
        RbacTarget::new(py, resource)
    }

    /// Reverse query (what-can): `(user, roles, missing_roles)`, roles sorted by name as
    /// `(role, bindings, rules)`, each rule `(access, types, names, mesh, has_when)`.
    #[allow(clippy::type_complexity)]
    fn permissions_of<'py>(
        &self,
        py: Python<'py>,
        user: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Vec<PermRole>, Vec<String>)> {
        let types = types(py)?;
        let pu = PyUser::from_obj(types, user)
            .map_err(|m| errors::argument(py, format!("cannot answer what-can: {m}")))?;
        let user_obj = user_object(types, user, &pu)?;
        let u = pu
            .owned()
            .ok_or_else(|| errors::argument(py, "the user's name or groups are not valid text"))?;
        let Engine::Rbac { set, .. } = &self.engine else {
            return Ok((user_obj, Vec::new(), Vec::new()));
        };
        let p = set.permissions_of(&u.name, u.groups.iter().map(String::as_str));
        let mut roles = Vec::new();
        for h in &p.roles {
            let role = set.role_name(h.role).to_string();
            let bindings = h
                .bindings
                .iter()
                .map(|b| set.binding_name(*b).to_string())
                .collect();
            let rules = set
                .roles()
                .get(h.role as usize)
                .map(|r| {
                    r.rules
                        .iter()
                        .map(|rule| {
                            (
                                rule.accesses().map(|a| a.as_str()).collect(),
                                rule.types.clone(),
                                rule.names.clone(),
                                rule.mesh.clone(),
                                !rule.when.is_empty(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.push((role, bindings, rules));
        }
        Ok((user_obj, roles, p.missing_roles))
    }

    /// R5.4 items 1–4 for one rule of one role: True (grants), False (never) or None (depends on
    /// the `when` qualifiers, R5.6).
    #[allow(clippy::too_many_arguments)] // the Python signature
    #[pyo3(signature = (role, rule, action, type_name, mesh, name))]
    fn rule_decides(
        &self,
        py: Python<'_>,
        role: &str,
        rule: usize,
        action: &str,
        type_name: &str,
        mesh: Option<&str>,
        name: &str,
    ) -> PyResult<Option<bool>> {
        let Engine::Rbac { set, .. } = &self.engine else {
            return Ok(Some(false));
        };
        let Some(a) = Access::parse(action) else {
            return Ok(Some(false)); // reads and unknown actions are not rule grants
        };
        let r = set
            .role_id(role)
            .and_then(|id| set.roles().get(id as usize))
            .and_then(|r| r.rules.get(rule))
            .ok_or_else(|| errors::argument(py, format!("no rule {rule} in role {role:?}")))?;
        Ok(r.decides(a, type_name, mesh, name))
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

/// `(role, bindings, rules)` of the reverse query; a rule is `(access, types, names, mesh, has_when)`.
type PermRule = (
    Vec<&'static str>,
    Vec<String>,
    Vec<String>,
    Option<String>,
    bool,
);
type PermRole = (String, Vec<String>, Vec<PermRule>);

/// R8.3 / R8.4: the text shown on `channel` for a reason.
#[pyfunction]
fn rbac_denial_text(py: Python<'_>, channel: &str, reason: &str) -> PyResult<String> {
    let ch = Channel::parse(channel).ok_or_else(|| {
        errors::argument(
            py,
            format!("channel must be api or kubernetes-webhook, not {channel:?}"),
        )
    })?;
    Ok(denial_text(ch, reason))
}

/// R8.1 Go `%q`.
#[pyfunction]
fn rbac_go_quote(s: &str) -> String {
    go_quote(s)
}

/// The kind registry (R4.3 / R4.4) as `(name, scope, family, namespaced, spec_wrapped)` rows.
#[pyfunction]
fn rbac_kinds() -> Vec<(&'static str, &'static str, &'static str, bool, bool)> {
    use meshauthz_core::rbac::{Family, Scope};
    meshauthz_core::rbac::kinds::KINDS
        .iter()
        .map(|k| {
            (
                k.name,
                match k.scope {
                    Scope::Global => "global",
                    Scope::Mesh => "mesh",
                },
                match k.family {
                    Family::TargetRef => "targetRef",
                    Family::LegacyConnection => "legacy-connection",
                    Family::LegacyDataplane => "legacy-dataplane",
                    Family::None => "none",
                },
                k.namespaced,
                k.spec_wrapped,
            )
        })
        .collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RbacPolicySet>()?;
    m.add_class::<RbacTarget>()?;
    m.add_function(wrap_pyfunction!(rbac_denial_text, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_go_quote, m)?)?;
    m.add_function(wrap_pyfunction!(decision::rbac_bind_types, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_kinds, m)?)?;
    Ok(())
}
