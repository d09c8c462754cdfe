//! The check path: arguments converted strictly (`convert`), one core decision
//! (`Engine::decide`), the Python `AccessDecision` built from it.

use std::sync::Arc;

use meshauthz_core::rbac::{Action, Engine, Target};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};

use super::convert::{self, PyUser};
use super::decision::{self, types};
use super::{RbacPolicySet, RbacTarget};
use crate::errors;

const NOTE_A9: &str = "types/names do not restrict token actions (A9)";

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

// Building the result (bench/RESULTS.md, RBAC section): the `AccessDecision` stays the Python
// dataclass (its instance `__dict__`, with the lazy `_explain` entry, is public behaviour; a
// `#[pyclass]` would change it), built as `object.__new__` + one `__dict__` assignment from a
// copied template. Sharing decision objects per outcome was rejected: a decision carries the
// caller's user and the target, so the key would be the whole request (a request memo, which on
// the benchmark's cycled requests would measure a hash lookup, not a check).
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
            Some(r) => Some(pu.reason_text(r).ok_or_else(|| {
                errors::argument(
                    py,
                    format!(
                        "{}: the user's name or groups are not valid text",
                        context()
                    ),
                )
            })?),
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
}
