//! RBAC batches (issue #6, #11 item 4, #12 items 4 and 9): columns or rows in, a `BatchResult`
//! out, the GIL released for the evaluation. Conversions only: each row is decided by
//! `meshauthz_core::rbac::batch::decide_row`, the same path as a single check; a row that
//! cannot be converted or decided is an `error:*` row (codes from the core enums), never an abort.
//!
//! Columns: `user`, `groups` (list<string> or "a,b"), `action`, `resource` and `old_resource`
//! (JSON text of a document, or integer indices into `targets`), `token_request` (JSON text).

use std::sync::{Arc, LazyLock};

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use meshauthz_core::rbac::batch::{decide_row, Row, RowOutcome, Slot, TokenSlot};
use meshauthz_core::rbac::{
    document, json, Action, Engine, ReasonCode, RowError, Target, TokenRequest,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};
use rayon::prelude::*;

use crate::batch::{arrow_batches, column, BatchResult, Dict, IntCol, StrCol};
use crate::errors;
use crate::rbac::convert;
use crate::rbac::decision::types;
use crate::rbac::RbacPolicySet;

/// The reason dictionary of RBAC results: the core's reason codes, then its row errors (each
/// code is an enum offset).
pub(crate) static REASONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    ReasonCode::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(RowError::ALL.iter().map(|e| e.as_str()))
        .collect()
});

fn code(o: &RowOutcome) -> i32 {
    match o.code {
        Ok(c) => c as i32,
        Err(e) => (ReasonCode::ALL.len() + e as usize) as i32,
    }
}

// ---- groups ------------------------------------------------------------------------------------

/// A row's groups: inline up to 8, then spilled (one allocation for the rare larger set).
struct Groups<'a> {
    inline: [&'a str; 8],
    n: usize,
    spill: Vec<&'a str>,
}

impl<'a> Groups<'a> {
    fn new() -> Groups<'a> {
        Groups {
            inline: [""; 8],
            n: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, g: &'a str) {
        match self.inline.get_mut(self.n) {
            Some(slot) if self.spill.is_empty() => {
                *slot = g;
                self.n += 1;
            }
            _ => {
                if self.spill.is_empty() {
                    let first: Vec<&'a str> = self.inline.iter().take(self.n).copied().collect();
                    self.spill = first;
                }
                self.spill.push(g);
            }
        }
    }

    fn as_slice(&self) -> &[&'a str] {
        if self.spill.is_empty() {
            self.inline.get(..self.n).unwrap_or_default()
        } else {
            &self.spill
        }
    }
}

/// "a,b" → `[a, b]` (the documented text form of the groups column; never split into characters).
fn split_groups(s: Option<&str>) -> Groups<'_> {
    let mut out = Groups::new();
    if let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) {
        for g in s.split(',') {
            out.push(g.trim());
        }
    }
    out
}

/// Groups: list<string> (any list flavour) or a comma-separated string column.
enum GroupsCol {
    Absent,
    Text(StrCol),
    List(ArrayRef, StrCol),
}

impl GroupsCol {
    fn new(a: Option<&ArrayRef>) -> PyResult<GroupsCol> {
        let Some(a) = a else {
            return Ok(GroupsCol::Absent);
        };
        Ok(match a.data_type() {
            DataType::List(_) | DataType::LargeList(_) => {
                let values = match a.as_list_opt::<i32>() {
                    Some(l) => l.values().clone(),
                    None => a.as_list::<i64>().values().clone(),
                };
                GroupsCol::List(a.clone(), StrCol::new(Some(&values), "groups")?)
            }
            _ => GroupsCol::Text(StrCol::new(Some(a), "groups")?),
        })
    }

    /// Row `i`'s groups, borrowed from the column (R1.1 order kept).
    fn get(&self, i: usize) -> Groups<'_> {
        match self {
            GroupsCol::Absent => Groups::new(),
            GroupsCol::Text(c) => split_groups(c.get(i)),
            GroupsCol::List(a, values) => {
                let mut out = Groups::new();
                if a.is_null(i) {
                    return out;
                }
                let range = match a.as_list_opt::<i32>() {
                    Some(l) => l
                        .value_offsets()
                        .get(i..i + 2)
                        .map(|o| (o[0] as usize, o[1] as usize)),
                    None => a
                        .as_list::<i64>()
                        .value_offsets()
                        .get(i..i + 2)
                        .map(|o| (o[0] as usize, o[1] as usize)),
                };
                if let Some((s, e)) = range {
                    for j in s..e {
                        if let Some(g) = values.get(j) {
                            out.push(g);
                        }
                    }
                }
                out
            }
        }
    }
}

// ---- targets -----------------------------------------------------------------------------------

const ABSENT: u32 = u32::MAX;
const BAD: u32 = u32::MAX - 1;

/// Per row, an index into a table of converted targets (or `ABSENT` / `BAD`).
struct Targets {
    ids: Vec<u32>,
    table: Vec<Arc<Target>>,
}

impl Targets {
    fn slot(&self, i: usize) -> Slot<'_> {
        match self.ids.get(i).copied().unwrap_or(ABSENT) {
            ABSENT => Slot::Absent,
            BAD => Slot::Bad,
            id => self
                .table
                .get(id as usize)
                .map_or(Slot::Bad, |t| Slot::Target(t)),
        }
    }
}

fn from_json(text: &str) -> Option<Arc<Target>> {
    let doc = json::parse(text).ok()?;
    document::target_from_document(&&doc).ok().map(Arc::new)
}

/// A `resource` / `old_resource` column: JSON texts (each distinct text converted once; a
/// dictionary column's values converted once each) or integer indices into `handles`.
fn resolve(
    a: Option<&ArrayRef>,
    n: usize,
    handles: &[Option<Arc<Target>>],
    what: &str,
) -> PyResult<Targets> {
    let mut t = Targets {
        ids: Vec::with_capacity(n),
        table: Vec::new(),
    };
    let Some(a) = a.filter(|a| a.data_type() != &DataType::Null) else {
        t.ids.resize(n, ABSENT);
        return Ok(t);
    };
    if a.data_type().is_integer() {
        let c = IntCol::new(Some(a), what)?;
        t.table = handles.iter().flatten().cloned().collect();
        // handle position -> table position (None handles are bad targets)
        let mut pos = Vec::with_capacity(handles.len());
        let mut k = 0u32;
        for h in handles {
            pos.push(if h.is_some() {
                k += 1;
                k - 1
            } else {
                BAD
            });
        }
        for i in 0..n {
            t.ids.push(match c.get(i) {
                None => ABSENT,
                Some(r) => usize::try_from(r)
                    .ok()
                    .and_then(|r| pos.get(r).copied())
                    .unwrap_or(BAD),
            });
        }
        return Ok(t);
    }
    let col = StrCol::new(Some(a), what)?;
    let add = |table: &mut Vec<Arc<Target>>, text: &str| match from_json(text) {
        Some(x) => {
            table.push(x);
            (table.len() - 1) as u32
        }
        None => BAD,
    };
    if let (StrCol::Dict(arr, keys, values), DataType::Dictionary(_, _)) = (&col, a.data_type()) {
        let nvalues = arr.as_any_dictionary().values().len();
        let per_value: Vec<u32> = (0..nvalues)
            .map(|v| values.get(v).map_or(ABSENT, |s| add(&mut t.table, s)))
            .collect();
        for i in 0..n {
            t.ids.push(if arr.is_null(i) {
                ABSENT
            } else {
                keys.get(i)
                    .and_then(|k| per_value.get(*k).copied())
                    .unwrap_or(BAD)
            });
        }
        return Ok(t);
    }
    let mut seen: AHashMap<&str, u32> = AHashMap::default();
    for i in 0..n {
        t.ids.push(match col.get(i) {
            None => ABSENT,
            Some(s) => match seen.get(s) {
                Some(&id) => id,
                None => {
                    let id = add(&mut t.table, s);
                    seen.insert(s, id);
                    id
                }
            },
        });
    }
    Ok(t)
}

// ---- evaluation --------------------------------------------------------------------------------

/// Evaluates `n` rows on the shared rayon pool (`threads` ≤ 1: this thread); a panic becomes an
/// error (no `PanicException` reaches Python).
fn run(
    n: usize,
    threads: usize,
    row: impl Fn(usize, &mut Vec<u32>) -> RowOutcome + Sync,
) -> Result<Vec<RowOutcome>, String> {
    errors::contain(|| {
        let empty = RowOutcome::error(RowError::BadRow);
        let mut out = vec![empty; n];
        let fill = |start: usize, chunk: &mut [RowOutcome]| {
            let mut ids = Vec::with_capacity(8);
            for (j, slot) in chunk.iter_mut().enumerate() {
                *slot = row(start + j, &mut ids);
            }
        };
        let threads = threads.min(rayon::current_num_threads());
        if threads <= 1 || n < 2 * 4096 {
            fill(0, &mut out);
        } else {
            let chunk = n.div_ceil(threads * 8).max(4096);
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(c, s)| fill(c * chunk, s));
        }
        out
    })
}

fn collect(engine: &Engine, outcomes: Vec<RowOutcome>) -> BatchResult {
    let n = outcomes.len();
    let mut res = BatchResult {
        allowed: Vec::with_capacity(n),
        reason: Vec::with_capacity(n),
        policy: Vec::with_capacity(n),
        policies: Dict::default(),
        vocab: &REASONS,
    };
    // Role id → dictionary id, resolved once per distinct role.
    let mut ids: Vec<i32> = Vec::new();
    for o in outcomes {
        res.allowed.push(o.allowed);
        res.reason.push(code(&o));
        let id = match (o.role, engine) {
            (Some(p), Engine::Rbac { set, .. }) => {
                let p = p as usize;
                if ids.len() <= p {
                    ids.resize(p + 1, -2);
                }
                match ids.get(p).copied() {
                    Some(-2) | None => {
                        let d = res.policies.id(set.role_name(p as u32));
                        if let Some(slot) = ids.get_mut(p) {
                            *slot = d;
                        }
                        d
                    }
                    Some(d) => d,
                }
            }
            _ => -1,
        };
        res.policy.push(id);
    }
    res
}

fn token_slot<'a>(
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

fn handles(py: Python<'_>, targets: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Arc<Target>>>> {
    let types = types(py)?;
    if targets.is_none() {
        return Ok(Vec::new());
    }
    let items: Vec<Bound<'_, PyAny>> = targets
        .try_iter()
        .map_err(|_| errors::argument(py, "targets must be a sequence of RbacTarget handles"))?
        .collect::<PyResult<_>>()?;
    Ok(items
        .iter()
        .map(|t| convert::target(types, t, true).ok())
        .collect())
}

/// The columns an RBAC batch reads.
const COLUMNS: [&str; 6] = [
    "user",
    "groups",
    "action",
    "resource",
    "old_resource",
    "token_request",
];

/// Arrow input (any `__arrow_c_stream__` / `__arrow_c_array__` producer), zero-copy.
fn check_arrow(
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
                Ok::<_, PyErr>(run(n, threads, |i, ids| {
                    cols.row(engine, i, ids, &token, &resource, &old)
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

/// A dictionary column's key at row `i` (`None` for null or a plain column).
fn dict_key(col: &StrCol, i: usize) -> Option<usize> {
    match col {
        StrCol::Dict(arr, keys, _) if !arr.is_null(i) => keys.get(i).copied(),
        _ => None,
    }
}

/// `f` of every value of a dictionary column (each distinct text converted once), or `None`.
fn per_value<T>(col: &StrCol, f: impl Fn(&str) -> Option<T>) -> Option<Vec<Option<T>>> {
    match col {
        StrCol::Dict(arr, _, values) => {
            let n = arr.as_any_dictionary().values().len();
            Some((0..n).map(|v| values.get(v).and_then(&f)).collect())
        }
        _ => None,
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
            _ => {
                let g = self.groups.get(i);
                ids.extend(g.as_slice().iter().filter_map(|g| engine.group_subject(g)));
            }
        }
    }

    fn row(
        &self,
        engine: &Engine,
        i: usize,
        ids: &mut Vec<u32>,
        token: &StrCol,
        resource: &Targets,
        old: &Targets,
    ) -> RowOutcome {
        let act = self.action(i);
        let name = self.user.get(i);
        if let Some(name) = name {
            self.subjects(engine, i, name, ids);
        }
        let g = if self.text {
            self.groups.get(i)
        } else {
            Groups::new()
        };
        let mut owned = None;
        let row = Row {
            user: name,
            groups: Ok(g.as_slice()),
            action: act,
            subjects: Some(ids.as_slice()),
            resource: resource.slot(i),
            old: old.slot(i),
            token: token_slot(act, token.get(i), &mut owned),
        };
        decide_row(engine, &row, &mut Vec::new())
    }
}

/// The value range of list row `i` (`None` for null).
fn list_range(a: &ArrayRef, i: usize) -> Option<(usize, usize)> {
    if a.is_null(i) {
        return None;
    }
    let pair = |o: &[i64]| Some((o[0] as usize, o[1] as usize));
    match a.as_list_opt::<i32>() {
        Some(l) => l
            .value_offsets()
            .get(i..i + 2)
            .map(|o| (o[0] as usize, o[1] as usize)),
        None => a
            .as_list_opt::<i64>()
            .and_then(|l| l.value_offsets().get(i..i + 2).and_then(pair)),
    }
}

/// One list-form row converted (GIL held); `Err` = the row's error code.
struct OwnedRow {
    user: Option<String>,
    groups: Result<Vec<String>, ()>,
    action: Option<String>,
    resource: u32,
    old: u32,
    token: Option<Result<TokenRequest, ()>>,
}

struct ListState<'py> {
    table: Vec<Arc<Target>>,
    by_text: AHashMap<String, u32>,
    by_obj: AHashMap<usize, (Bound<'py, PyAny>, u32)>,
    handles: &'py [Option<Arc<Target>>],
}

impl<'py> ListState<'py> {
    fn push(&mut self, t: Option<Arc<Target>>) -> u32 {
        match t {
            Some(t) => {
                self.table.push(t);
                (self.table.len() - 1) as u32
            }
            None => BAD,
        }
    }

    /// A resource cell: None, an index into `targets`, JSON text, a dict / Resource / handle.
    fn target(&mut self, v: Option<Bound<'py, PyAny>>) -> PyResult<u32> {
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

fn check_rows(
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
        run(rows.len(), threads, |i, ids| {
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
            decide_row(engine, &row, ids)
        })
    })
    .map_err(|m| errors::evaluation(py, m))
}

/// RBAC decisions for every row of `data` (Arrow or a list of rows); `targets`: the handles (or
/// documents) integer `resource` / `old_resource` cells index.
#[pyfunction]
#[pyo3(signature = (set, data, targets=None, threads=1))]
fn rbac_check_batch(
    py: Python<'_>,
    set: &Bound<'_, RbacPolicySet>,
    data: &Bound<'_, PyAny>,
    targets: Option<&Bound<'_, PyAny>>,
    threads: usize,
) -> PyResult<BatchResult> {
    let engine = &set.get().engine;
    let handles = match targets {
        Some(t) => handles(py, t)?,
        None => Vec::new(),
    };
    let arrow = data.hasattr("__arrow_c_stream__")? || data.hasattr("__arrow_c_array__")?;
    let outcomes = if arrow {
        check_arrow(py, engine, data, &handles, threads)?
    } else {
        check_rows(py, engine, data, &handles, threads)?
    };
    Ok(collect(engine, outcomes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rbac_check_batch, m)?)?;
    Ok(())
}
