//! The check path: arguments converted strictly (`convert`), one core decision
//! (`Engine::decide`), the Python `AccessDecision` built from it.

use std::sync::Arc;

use meshauthz_core::rbac::{Action, Engine, Target};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyString, PyTuple};

use super::convert::{self, PyUser};
use super::decision::{self, types, AccessDecision, LazyUncovered};
use super::{RbacPolicySet, RbacTarget};
use crate::errors;

const NOTE_A9: &str = "types/names do not restrict token actions (A9)";

/// The `User` object a result carries: the caller's own `User`, else one built from the
/// converted name and groups.
pub(super) fn user_object<'py>(
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

pub(super) fn parse_action<'py>(
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
pub(super) struct Decided<'py> {
    act: Action,
    action_str: Bound<'py, PyString>,
    pu: PyUser<'py>,
    handle: Option<Bound<'py, RbacTarget>>,
    t: Option<Arc<Target>>,
    o: Option<Arc<Target>>,
    pub(super) d: meshauthz_core::rbac::Decision,
}

impl RbacPolicySet {
    /// Convert the arguments (strictly, errors as `EvaluationError`) and decide in the core.
    pub(super) fn decided<'py>(
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

// Building the result (bench/RESULTS.md, RBAC section): a native frozen `AccessDecision`
// (`decision.rs`), allocated directly with its field values; a denial of a resource action keeps
// the compiled set, the user's name and groups as given, the action and the denied side's target
// so its R5.6 `uncovered` list is computed on first access. Sharing decision objects per outcome
// was rejected: a decision carries the caller's user and the target, so the key would be the
// whole request (a request memo, which on the benchmark's cycled requests would measure a hash
// lookup, not a check).
impl RbacPolicySet {
    /// One decision (the only check path): `user` a `User`, `(name, groups)` or a name; `resource`
    /// / `old` a dict (either form), a `Resource` or an `RbacTarget`; `token` the token request
    /// of a GENERATE_* action (`None` = `{}`). Returns an `AccessDecision`; raises
    /// `EvaluationError` when no decision can be made (fail closed).
    pub(super) fn check_impl<'py>(
        slf: &Bound<'py, Self>,
        user: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        resource: Option<&Bound<'py, PyAny>>,
        old: Option<&Bound<'py, PyAny>>,
        token: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, AccessDecision>> {
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
        let none = || py.None();
        let reason = match &d.reason {
            Some(r) => PyString::new(
                py,
                &pu.reason_text(r).ok_or_else(|| {
                    errors::argument(
                        py,
                        format!(
                            "{}: the user's name or groups are not valid text",
                            context()
                        ),
                    )
                })?,
            )
            .into_any()
            .unbind(),
            None => none(),
        };
        let rbac = matches!(this.engine, Engine::Rbac { .. });
        let user_obj = user_object(types, user, &pu)?;
        let label = match (&handle, &t) {
            (Some(h), _) => h.get().label.clone_ref(py),
            (None, Some(t)) => PyString::new(py, &t.label()).unbind(),
            (None, None) => intern!(py, "token request").clone().unbind(),
        };
        let grant = |g: &Option<meshauthz_core::rbac::Grant>| -> PyResult<Py<PyAny>> {
            match g {
                Some(g) => Ok(this.grants.get(py, &this.names, g)?.into_any()),
                None => Ok(none()),
            }
        };
        let explained = matches!(act, Action::Access(a) if a.is_resource());
        let uncovered = PyOnceLock::new();
        let mut lazy = None;
        let side = if d.denied_side == Some("old") { &o } else { &t };
        match side {
            // R5.6 on demand: the denied side, computed on first access.
            Some(side) if !d.allowed && rbac && explained => {
                lazy = Some(LazyUncovered {
                    set: slf.clone().unbind(),
                    name: pu.name.clone().unbind(),
                    groups: pu.groups_obj.clone().unbind(),
                    action: act,
                    target: side.clone(),
                });
            }
            _ => {
                let _ = uncovered.set(py, PyTuple::empty(py).into_any().unbind());
            }
        }
        let notes = if rbac && matches!(act, Action::Access(a) if a.is_token()) {
            PyTuple::new(py, [NOTE_A9])?
        } else {
            PyTuple::empty(py)
        };
        let decision = AccessDecision {
            allowed: PyBool::new(py, d.allowed).to_owned().into_any().unbind(),
            user: user_obj.unbind(),
            action: action_str.into_any().unbind(),
            target: label.into_any(),
            mode: if rbac {
                intern!(py, "rbac")
            } else {
                intern!(py, "static")
            }
            .clone()
            .into_any()
            .unbind(),
            grant: grant(&d.grant)?,
            old_grant: grant(&d.old_grant)?,
            denied_side: match d.denied_side {
                Some(s) => PyString::new(py, s).into_any().unbind(),
                None => none(),
            },
            uncovered,
            lazy,
            reason,
            examined: d.examined.into_pyobject(py)?.into_any().unbind(),
            notes: notes.into_any().unbind(),
        };
        Bound::new(py, decision)
    }
}
