//! List-form RBAC batches: `(user, groups, action, resource[, old_resource[, token_request]])`
//! tuples or dicts, converted while the GIL is held (each distinct document once), then decided
//! with the GIL released. A row that is not a row is an `error:bad-row` row.

use std::sync::Arc;

use ahash::AHashMap;
use meshauthz_core::rbac::batch::{decide_row, Row, RowOutcome, Slot, TokenSlot};
use meshauthz_core::rbac::{Action, Engine, RowError, Target, TokenRequest};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};

use super::columns::{from_json, split_groups, Groups, ABSENT, BAD};
use super::run;
use crate::errors;
use crate::rbac::convert;
use crate::rbac::decision::types;

/// One list-form row converted (GIL held); `Err` = the row's error code.
struct OwnedRow {
    user: Option<String>,
    groups: Result<Vec<String>, ()>,
    action: Option<String>,
    resource: u32,
    old: u32,
    token: Option<Result<TokenRequest, ()>>,
}

pub(super) struct ListState<'py> {
    table: Vec<Arc<Target>>,
    by_text: AHashMap<String, u32>,
    by_obj: AHashMap<usize, (Bound<'py, PyAny>, u32)>,
    handles: &'py [Option<Arc<Target>>],
}

impl<'py> ListState<'py> {
    pub(super) fn push(&mut self, t: Option<Arc<Target>>) -> u32 {
        match t {
            Some(t) => {
                self.table.push(t);
                (self.table.len() - 1) as u32
            }
            None => BAD,
        }
    }

    /// A resource cell: None, an index into `targets`, JSON text, a dict / Resource / handle.
    pub(super) fn target(&mut self, v: Option<Bound<'py, PyAny>>) -> PyResult<u32> {
        let Some(v) = v.filter(|v| !v.is_none()) else {
            return Ok(ABSENT);
        };
        let py = v.py();
        if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
            let h = v
                .extract::<i64>()
                .ok()
                .and_then(|r| usize::try_from(r).ok());
            let t = h.and_then(|r| self.handles.get(r)).cloned().flatten();
            return Ok(self.push(t));
        }
        if let Ok(s) = v.cast::<PyString>() {
            let Ok(text) = s.to_cow() else { return Ok(BAD) };
            if let Some(&id) = self.by_text.get(text.as_ref()) {
                return Ok(id);
            }
            let id = self.push(from_json(&text));
            self.by_text.insert(text.into_owned(), id);
            return Ok(id);
        }
        let key = v.as_ptr() as usize;
        if let Some((_, id)) = self.by_obj.get(&key) {
            return Ok(*id);
        }
        let id = self.push(convert::target(types(py)?, &v, false).ok());
        // The object is kept alive with its id, so its address cannot be reused meanwhile.
        self.by_obj.insert(key, (v, id));
        Ok(id)
    }
}

fn cell_str(v: Option<&Bound<'_, PyAny>>) -> Result<Option<String>, ()> {
    match v.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => s.to_cow().map(|c| Some(c.into_owned())).map_err(|_| ()),
            Err(_) => Err(()),
        },
    }
}

fn cell_groups(v: Option<&Bound<'_, PyAny>>) -> Result<Vec<String>, ()> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_cow().map_err(|_| ())?;
        return Ok(split_groups(Some(&s))
            .as_slice()
            .iter()
            .map(|g| g.to_string())
            .collect());
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = v.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = v.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(());
    };
    items
        .iter()
        .map(|g| cell_str(Some(g)).and_then(|s| s.ok_or(())))
        .collect()
}

/// The cells of one list row: `(user, groups, action, resource[, old_resource[, token_request]])`
/// or a dict with those keys.
fn cells<'py>(r: &Bound<'py, PyAny>) -> Option<[Option<Bound<'py, PyAny>>; 6]> {
    const KEYS: [&str; 6] = [
        "user",
        "groups",
        "action",
        "resource",
        "old_resource",
        "token_request",
    ];
    if let Ok(t) = r.cast::<PyTuple>() {
        if !(4..=6).contains(&t.len()) {
            return None;
        }
        return Some(std::array::from_fn(|i| t.get_item(i).ok()));
    }
    if let Ok(l) = r.cast::<PyList>() {
        if !(4..=6).contains(&l.len()) {
            return None;
        }
        return Some(std::array::from_fn(|i| l.get_item(i).ok()));
    }
    if let Ok(d) = r.cast::<PyDict>() {
        return Some(KEYS.map(|k| d.get_item(k).ok().flatten()));
    }
    None
}

fn convert_row<'py>(
    st: &mut ListState<'py>,
    r: &Bound<'py, PyAny>,
) -> PyResult<Result<OwnedRow, RowError>> {
    let Some([u, g, a, res, old, tok]) = cells(r) else {
        return Ok(Err(RowError::BadRow));
    };
    let Ok(user) = cell_str(u.as_ref()) else {
        return Ok(Err(RowError::BadUser));
    };
    let action = cell_str(a.as_ref()).ok().flatten();
    let token = match (
        action.as_deref().and_then(Action::parse),
        tok.filter(|t| !t.is_none()),
    ) {
        (Some(Action::Access(acc)), Some(t)) if acc.is_token() => {
            Some(convert::token(acc, &t, true).map_err(|_| ()))
        }
        _ => None,
    };
    Ok(Ok(OwnedRow {
        user,
        groups: cell_groups(g.as_ref()),
        action,
        resource: st.target(res)?,
        old: st.target(old)?,
        token,
    }))
}

fn slot(table: &[Arc<Target>], id: u32) -> Slot<'_> {
    match id {
        ABSENT => Slot::Absent,
        BAD => Slot::Bad,
        id => table
            .get(id as usize)
            .map_or(Slot::Bad, |t| Slot::Target(t)),
    }
}

pub(super) fn check_rows(
    py: Python<'_>,
    engine: &Engine,
    data: &Bound<'_, PyAny>,
    handles: &[Option<Arc<Target>>],
    threads: usize,
) -> PyResult<Vec<RowOutcome>> {
    let items: Vec<Bound<'_, PyAny>> = match data.cast::<PyList>() {
        Ok(l) => l.iter().collect(),
        Err(_) => data
            .try_iter()
            .map_err(|_| {
                errors::argument(
                    py,
                    "RBAC batch data must be Arrow data or an iterable of rows",
                )
            })?
            .collect::<PyResult<_>>()
            .map_err(|e| errors::argument(py, format!("cannot read the RBAC batch rows: {e}")))?,
    };
    let mut st = ListState {
        table: Vec::new(),
        by_text: AHashMap::default(),
        by_obj: AHashMap::default(),
        handles,
    };
    let rows: Vec<Result<OwnedRow, RowError>> = items
        .iter()
        .map(|r| convert_row(&mut st, r))
        .collect::<PyResult<_>>()?;
    let table = st.table;
    py.detach(|| {
        run(rows.len(), threads, |i, w| {
            let Some(r) = rows.get(i) else {
                return RowOutcome::error(RowError::BadRow);
            };
            let r = match r {
                Ok(r) => r,
                Err(e) => return RowOutcome::error(*e),
            };
            let mut g = Groups::new();
            let groups = match &r.groups {
                Ok(v) => {
                    for x in v {
                        g.push(x);
                    }
                    Ok(g.as_slice())
                }
                Err(()) => Err(()),
            };
            let row = Row {
                user: r.user.as_deref(),
                groups,
                action: r.action.as_deref().and_then(Action::parse),
                subjects: None,
                resource: slot(&table, r.resource),
                old: slot(&table, r.old),
                token: match &r.token {
                    None => TokenSlot::Absent,
                    Some(Ok(t)) => TokenSlot::Request(t),
                    Some(Err(())) => TokenSlot::Bad,
                },
            };
            decide_row(engine, &row, &mut w.ids)
        })
    })
    .map_err(|m| errors::evaluation(py, m))
}
