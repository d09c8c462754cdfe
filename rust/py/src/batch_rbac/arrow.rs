//! Arrow input of RBAC batches: columns validated, then read zero-copy; actions and R5.1
//! subjects converted once per dictionary value.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use meshauthz_core::rbac::batch::{decide_row_memo, Row, RowOutcome, TargetKeys, TokenSlot};
use meshauthz_core::rbac::{document, json, Action, Engine, Target, TokenRequest};
use pyo3::prelude::*;

use super::columns::{dict_key, list_range, per_value, resolve, GroupsCol, Targets};
use super::{run, Worker};
use crate::batch::{arrow_batches, column, StrCol};
use crate::errors;

/// The columns an RBAC batch reads.
pub(super) const COLUMNS: [&str; 6] = [
    "user",
    "groups",
    "action",
    "resource",
    "old_resource",
    "token_request",
];

/// Arrow input (any `__arrow_c_stream__` / `__arrow_c_array__` producer), zero-copy.
pub(super) fn check_arrow(
    py: Python<'_>,
    engine: &Engine,
    data: &Bound<'_, PyAny>,
    handles: &[Option<Arc<Target>>],
    threads: usize,
) -> PyResult<Vec<RowOutcome>> {
    let bad = |e: PyErr| errors::argument(py, format!("cannot read the RBAC batch: {e}"));
    let batches: Vec<RecordBatch> = arrow_batches(data).map_err(bad)?;
    let mut out = Vec::new();
    for b in &batches {
        let n = b.num_rows();
        // No `&str` over unvalidated bytes, no out-of-range dictionary key (issue #12 items 2, 3):
        // the columns read are fully validated first (UTF-8, offsets, dictionary keys).
        for name in COLUMNS {
            if let Some(a) = column(b, name) {
                a.to_data().validate_full().map_err(|e| {
                    errors::argument(
                        py,
                        format!("cannot read the RBAC batch: column {name:?}: {e}"),
                    )
                })?;
            }
        }
        let user = StrCol::new(column(b, "user"), "user").map_err(bad)?;
        let groups = GroupsCol::new(column(b, "groups")).map_err(bad)?;
        let action = StrCol::new(column(b, "action"), "action").map_err(bad)?;
        let token = StrCol::new(column(b, "token_request"), "token_request").map_err(bad)?;
        let rows = py
            .detach(|| {
                let resource = resolve(column(b, "resource"), n, handles, "resource")?;
                let old = resolve(column(b, "old_resource"), n, handles, "old_resource")?;
                let cols = Cols::new(engine, &user, &groups, &action);
                Ok::<_, PyErr>(run(n, threads, |i, w| {
                    cols.row(engine, i, w, &token, &resource, &old)
                }))
            })
            .map_err(bad)?
            .map_err(|m| errors::evaluation(py, m))?;
        if out.is_empty() {
            out = rows;
        } else {
            out.extend(rows);
        }
    }
    Ok(out)
}

pub(super) fn token_slot<'a>(
    action: Option<Action>,
    text: Option<&str>,
    owned: &'a mut Option<TokenRequest>,
) -> TokenSlot<'a> {
    let (Some(Action::Access(a)), Some(text)) = (action, text) else {
        return TokenSlot::Absent;
    };
    if !a.is_token() {
        return TokenSlot::Absent;
    }
    match json::parse(text).and_then(|v| document::token_request(a, &&v)) {
        Ok(t) => {
            *owned = Some(t);
            owned.as_ref().map_or(TokenSlot::Bad, TokenSlot::Request)
        }
        Err(_) => TokenSlot::Bad,
    }
}

/// The identity and action columns with per-dictionary-value conversions: actions parsed and
/// R5.1 subjects resolved once per distinct text, not once per row.
struct Cols<'a> {
    user: &'a StrCol,
    groups: &'a GroupsCol,
    action: &'a StrCol,
    actions: Option<Vec<Option<Action>>>,
    users: Option<Vec<Option<u32>>>,
    group_ids: Option<Vec<Option<u32>>>,
    text: bool,
}

impl<'a> Cols<'a> {
    fn new(engine: &Engine, user: &'a StrCol, groups: &'a GroupsCol, action: &'a StrCol) -> Self {
        let group_ids = match groups {
            GroupsCol::List(_, values) => per_value(values, |g| engine.group_subject(g)),
            _ => None,
        };
        Cols {
            user,
            groups,
            action,
            actions: per_value(action, Action::parse),
            users: per_value(user, |u| engine.user_subject(u)),
            group_ids,
            text: engine.needs_user_text(),
        }
    }

    fn action(&self, i: usize) -> Option<Action> {
        match &self.actions {
            Some(c) => dict_key(self.action, i).and_then(|k| c.get(k).copied().flatten()),
            None => self.action.get(i).and_then(Action::parse),
        }
    }

    /// R5.1 subject ids of row `i` into `ids` (user, then each group).
    fn subjects(&self, engine: &Engine, i: usize, name: &str, ids: &mut Vec<u32>) {
        ids.clear();
        match &self.users {
            Some(c) => ids.extend(dict_key(self.user, i).and_then(|k| c.get(k).copied().flatten())),
            None => ids.extend(engine.user_subject(name)),
        }
        match (self.groups, &self.group_ids) {
            (GroupsCol::List(a, values), Some(c)) => {
                if let Some((s, e)) = list_range(a, i) {
                    ids.extend((s..e).filter_map(|j| {
                        dict_key(values, j).and_then(|k| c.get(k).copied().flatten())
                    }));
                }
            }
            (GroupsCol::List(a, values), None) => {
                // Plain string values: look each up in place (no per-row group list).
                if let Some((s, e)) = list_range(a, i) {
                    ids.extend(
                        (s..e).filter_map(|j| values.get(j).and_then(|g| engine.group_subject(g))),
                    );
                }
            }
            _ => {
                let g = self.groups.get(i);
                ids.extend(g.as_slice().iter().filter_map(|g| engine.group_subject(g)));
            }
        }
    }

    /// Whether rows `i` and `j` have the same groups cell (same texts, same order).
    fn same_groups(&self, i: usize, j: usize) -> bool {
        match self.groups {
            GroupsCol::Absent => true,
            GroupsCol::Text(c) => c.get(i) == c.get(j),
            GroupsCol::List(a, values) => match (list_range(a, i), list_range(a, j)) {
                (None, None) => true,
                (Some((s, e)), Some((s0, e0))) => {
                    e - s == e0 - s0
                        && (s..e)
                            .zip(s0..e0)
                            .all(|(x, y)| values.get(x) == values.get(y))
                }
                _ => false,
            },
        }
    }

    /// Row `i`'s outcome, reused from an earlier row with the same cells when there is one: the
    /// row's user and action are dictionary keys, its targets table entries, its token request
    /// null, and its groups equal to the earlier row's (compared as texts). Equal cells make the
    /// same row, so this is a pure-input cache (no decision knowledge); everything else goes
    /// through `row_uncached` (and the core's `RowMemo`).
    fn row(
        &self,
        engine: &Engine,
        i: usize,
        w: &mut Worker,
        token: &StrCol,
        resource: &Targets,
        old: &Targets,
    ) -> RowOutcome {
        let key = match (
            dict_key(self.user, i),
            dict_key(self.action, i),
            token.get(i),
        ) {
            (Some(u), Some(a), None) => match (u32::try_from(u), u32::try_from(a)) {
                (Ok(u), Ok(a)) => [u, a, resource.key(i), old.key(i)],
                _ => return self.row_uncached(engine, i, w, token, resource, old),
            },
            _ => return self.row_uncached(engine, i, w, token, resource, old),
        };
        if let Some(&(j, o)) = w.rows.get(&key) {
            if self.same_groups(i, j) {
                return o;
            }
        }
        let o = self.row_uncached(engine, i, w, token, resource, old);
        if w.rows.len() >= super::ROWS_CAPACITY {
            w.rows.clear();
        }
        w.rows.insert(key, (i, o));
        o
    }

    fn row_uncached(
        &self,
        engine: &Engine,
        i: usize,
        w: &mut Worker,
        token: &StrCol,
        resource: &Targets,
        old: &Targets,
    ) -> RowOutcome {
        let act = self.action(i);
        let name = self.user.get(i);
        if let Some(name) = name {
            self.subjects(engine, i, name, &mut w.ids);
        }
        // The group texts are read only when the engine needs the user as text.
        let g;
        let groups: &[&str] = if self.text {
            g = self.groups.get(i);
            g.as_slice()
        } else {
            &[]
        };
        let mut owned = None;
        let row = Row {
            user: name,
            groups: Ok(groups),
            action: act,
            subjects: Some(w.ids.as_slice()),
            resource: resource.slot(i),
            old: old.slot(i),
            token: token_slot(act, token.get(i), &mut owned),
        };
        let keys = TargetKeys {
            resource: resource.key(i),
            old: old.key(i),
        };
        decide_row_memo(engine, &row, &mut Vec::new(), keys, &mut w.memo)
    }
}
