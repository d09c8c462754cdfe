//! Bindings for the RBAC engine (rbac.md): a compiled `RbacPolicySet`, pre-normalised
//! `RbacTarget` handles and one FFI crossing per check. Conversions only (`convert`), decisions
//! from `meshauthz_core::rbac::Engine::decide`, Python results built in `decision`, errors mapped
//! in `crate::errors`.

mod call;
pub mod convert;
pub mod decision;
mod functions;
mod target;

pub use target::RbacTarget;

use std::sync::Arc;

use meshauthz_core::bundle::{self, SetsError};
use meshauthz_core::rbac::policy_doc;
use meshauthz_core::rbac::{Access, Engine, PolicySet, SecretReads, Target};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList};

use call::{parse_action, user_object};

use crate::errors;
use convert::{PyNode, PyUser};
use decision::{types, Grants, Names};
pub use decision::{AccessDecision, Grant};

/// The compiled, immutable policy set (or the static strategy, R7.1).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacPolicySet {
    pub(crate) engine: Engine,
    names: Names,
    grants: Grants,
}

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

    /// The engine for `mode` / `secret_reads` / `static_config`; `set` gives the compiled roles
    /// (called for mode "rbac" only, after the options are checked).
    fn engine(
        py: Python<'_>,
        mode: &str,
        secret_reads: &str,
        static_config: Option<&Bound<'_, PyDict>>,
        set: impl FnOnce() -> PyResult<PolicySet>,
    ) -> PyResult<Engine> {
        let node = static_config.map(|d| PyNode(d.clone().into_any()));
        let cfg =
            policy_doc::static_config(node.as_ref()).map_err(|e| errors::compile_error(py, &e))?;
        match mode {
            "static" => Ok(Engine::Static(cfg)),
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
                Ok(Engine::Rbac {
                    set: set()?,
                    secret_reads,
                    static_config: cfg,
                })
            }
            _ => Err(errors::argument(
                py,
                format!("mode must be rbac or static, not {mode:?}"),
            )),
        }
    }

    fn over(py: Python<'_>, engine: Engine) -> PyResult<Self> {
        let names = Names::new(py, &engine)?;
        Ok(RbacPolicySet {
            engine,
            names,
            grants: Grants::default(),
        })
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
        let engine = Self::engine(py, mode, secret_reads, static_config, || {
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
            PolicySet::compile(roles, bindings).map_err(fail)
        })?;
        Self::over(py, engine)
    }

    /// The compiled set of a verified bundle's compiled section (issue #13): its RBAC part (the
    /// core roles and bindings, `meshauthz_core::bundle::decode_rbac`) compiled, no document
    /// converted; `None` when the section has no RBAC part (the caller compiles from the
    /// resources). The section must name the resource section of sha256 `resources`; every defect
    /// is a `BundleError`. `mode`, `secret_reads`, `static_config` as for `RbacPolicySet(...)`.
    #[staticmethod]
    #[pyo3(signature = (sets, resources, mode="rbac", secret_reads="rbac", static_config=None))]
    fn from_bundle(
        py: Python<'_>,
        sets: &[u8],
        resources: &[u8],
        mode: &str,
        secret_reads: &str,
        static_config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Option<Self>> {
        let digest = <[u8; 32]>::try_from(resources).map_err(|_| {
            errors::bundle(
                py,
                SetsError::Malformed("the resource digest is not 32 bytes".into()),
            )
        })?;
        let inputs = errors::detached(py, || Ok(bundle::decode_rbac(sets, &digest)))?
            .map_err(|e| errors::bundle(py, e))?;
        let Some(inputs) = inputs else {
            return Ok(None);
        };
        let engine = Self::engine(py, mode, secret_reads, static_config, || {
            errors::detached(py, || Ok(PolicySet::compile(inputs.roles, inputs.bindings)))?
                .map_err(|e| errors::bundle(py, SetsError::Malformed(e.to_string())))
        })?;
        Self::over(py, engine).map(Some)
    }

    /// One decision (the only check path, and `Authorizer.check` itself: the authorizer binds
    /// this method, so a check is one call from Python into Rust): `user` a `User`,
    /// `(name, groups)` or a name; `resource` / `old` a dict (either form), a `Resource` or an
    /// `RbacTarget`; `token_request` the token request of a GENERATE_* action (`None` = `{}`).
    /// Returns an `AccessDecision`; raises `EvaluationError` when no decision can be made (fail
    /// closed), including for text that is not valid UTF-8.
    #[pyo3(signature = (user, action, resource=None, old=None, *, token_request=None))]
    fn check<'py>(
        slf: &Bound<'py, Self>,
        user: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        resource: Option<&Bound<'py, PyAny>>,
        old: Option<&Bound<'py, PyAny>>,
        token_request: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, AccessDecision>> {
        Self::check_impl(slf, user, action, resource, old, token_request)
            .map_err(|e| errors::text_only(slf.py(), e))
    }

    /// `check(...).allowed` without building the result object: the hot-loop form (same
    /// conversion, same decision, same errors); `Authorizer.allowed` itself.
    #[pyo3(signature = (user, action, resource=None, old=None, *, token_request=None))]
    fn allowed(
        &self,
        py: Python<'_>,
        user: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: Option<&Bound<'_, PyAny>>,
        old: Option<&Bound<'_, PyAny>>,
        token_request: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.decided(py, user, action, resource, old, token_request)
            .map(|d| d.d.allowed)
            .map_err(|e| errors::text_only(py, e))
    }

    /// Same arguments as `check`, no work at all (not even the dict conversion): the FFI floor
    /// for benchmarks.
    #[pyo3(signature = (user, action, resource=None, old=None, *, token_request=None))]
    fn _noop(
        &self,
        user: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: Option<&Bound<'_, PyAny>>,
        old: Option<&Bound<'_, PyAny>>,
        token_request: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        let _ = (user, action, resource, old, token_request);
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RbacPolicySet>()?;
    m.add_class::<RbacTarget>()?;
    m.add_class::<AccessDecision>()?;
    m.add_class::<Grant>()?;
    m.add_function(wrap_pyfunction!(functions::rbac_denial_text, m)?)?;
    m.add_function(wrap_pyfunction!(functions::rbac_go_quote, m)?)?;
    m.add_function(wrap_pyfunction!(decision::rbac_bind_types, m)?)?;
    m.add_function(wrap_pyfunction!(functions::rbac_kinds, m)?)?;
    Ok(())
}
