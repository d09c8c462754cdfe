//! Traffic batch input (TrafficPermission + MeshTrafficPermission rows): conversions only; each
//! row is decided by `Snapshot::batch_row_ids` in the core (E4 included) with the GIL released.
//!
//! Strict input (#12 items 1–3, 9): only an explicit null source (or id -1) means "no sidecar";
//! an unknown column or dict key, a non-string source, an invalid dictionary index or invalid
//! UTF-8 makes the row an `error:*` row; a column of the wrong type is an `InputError`.

use std::collections::HashMap;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use meshauthz_core::traffic::batch::{NameId, RowError, RowOutcome, SourceIds, TagClient};
use meshauthz_core::traffic::policy_set::MeshId;
use meshauthz_core::traffic::Snapshot;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::Borrowed;

use crate::batch::{arrow_batches, traffic_code, BatchResult, Dict, IntCol, REASONS};
use crate::errors;
use crate::pool;
use crate::traffic::TrafficSnapshot;

/// "No port" in the per-row port column (i64::MIN is never a valid port).
const NO_PORT: i64 = i64::MIN;

/// The port column (any integer width) appended as i64 ([`NO_PORT`] for null / out of range).
fn extend_ports(col: &IntCol, n: usize, out: &mut Vec<i64>) {
    let IntCol::Some(a) = col else {
        out.extend(std::iter::repeat_n(NO_PORT, n));
        return;
    };
    macro_rules! prim {
        ($($t:ty),*) => {{
            $(if let Some(p) = a.as_primitive_opt::<$t>() {
                match p.nulls() {
                    None => out.extend(
                        p.values().iter().map(|&v| i64::try_from(v).unwrap_or(NO_PORT)),
                    ),
                    Some(_) => out.extend(
                        p.iter().map(|v| v.and_then(|v| i64::try_from(v).ok()).unwrap_or(NO_PORT)),
                    ),
                }
                return;
            })*
        }};
    }
    prim!(Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);
    out.extend(std::iter::repeat_n(NO_PORT, n));
}

/// Per-row id codes: an index into a [`Distinct`] table, or one of these.
const NULL: u32 = u32::MAX;
const BAD_INDEX: u32 = u32::MAX - 1;
const BAD_TEXT: u32 = u32::MAX - 2;
const BAD_TYPE: u32 = u32::MAX - 3;
const UNKNOWN_FIELD: u32 = u32::MAX - 4;
/// Neither `source` nor `source_tags` given (only an explicit null means "no sidecar").
const MISSING_SOURCE: u32 = u32::MAX - 5;
const FIRST_CODE: u32 = u32::MAX - 5;

fn code_error(c: u32) -> Option<RowError> {
    match c {
        BAD_INDEX => Some(RowError::BadIndex),
        BAD_TEXT | BAD_TYPE => Some(RowError::BadValue),
        UNKNOWN_FIELD => Some(RowError::UnknownField),
        _ => None,
    }
}

const COLUMNS: [&str; 5] = ["mesh", "source", "source_tags", "destination", "port"];

// ---- text columns (no &str over unvalidated bytes) --------------------------------------------

/// One cell of a text column.
enum Cell<'a> {
    Null,
    Text(&'a str),
    Bad(u32),
}

/// A string column read through its raw bytes: every value is UTF-8 checked before use.
enum TextCol {
    Absent,
    Utf8(ArrayRef),
    Large(ArrayRef),
    /// Validated as a whole on import (view arrays have no cheap per-row byte access here).
    View(ArrayRef, bool),
    /// keys (per row: index, or a bad-index marker) + the values column.
    Dict(ArrayRef, Vec<u32>, Box<TextCol>),
}

fn keys_of(a: &ArrayRef, n_values: usize) -> Vec<u32> {
    let d = a.as_any_dictionary();
    let keys = d.keys();
    let conv = |k: Option<i64>| match k {
        None => NULL,
        Some(k) => match usize::try_from(k) {
            Ok(k) if k < n_values => u32::try_from(k).unwrap_or(BAD_INDEX),
            _ => BAD_INDEX,
        },
    };
    macro_rules! prim {
        ($($t:ty),*) => {{
            $(if let Some(p) = keys.as_primitive_opt::<$t>() {
                return p.iter().map(|v| conv(v.and_then(|v| i64::try_from(v).ok()))).collect();
            })*
        }};
    }
    prim!(Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type);
    vec![BAD_INDEX; keys.len()]
}

impl TextCol {
    fn new(py: Python<'_>, a: Option<&ArrayRef>, what: &str) -> PyResult<TextCol> {
        let Some(a) = a else {
            return Ok(TextCol::Absent);
        };
        Ok(match a.data_type() {
            DataType::Null => TextCol::Absent,
            DataType::Utf8 => TextCol::Utf8(a.clone()),
            DataType::LargeUtf8 => TextCol::Large(a.clone()),
            DataType::Utf8View => TextCol::View(a.clone(), a.to_data().validate_full().is_ok()),
            DataType::Dictionary(_, v)
                if matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                let values = a.as_any_dictionary().values().clone();
                let keys = keys_of(a, values.len());
                TextCol::Dict(
                    a.clone(),
                    keys,
                    Box::new(TextCol::new(py, Some(&values), what)?),
                )
            }
            t => {
                return Err(errors::input_error(
                    py,
                    format!("column {what:?} must be a string column, not {t}"),
                ))
            }
        })
    }

    fn get(&self, i: usize) -> Cell<'_> {
        fn bytes<'d>(off: &[i64], data: &'d [u8], i: usize) -> Option<&'d [u8]> {
            let (s, e) = (*off.get(i)?, *off.get(i + 1)?);
            data.get(usize::try_from(s).ok()?..usize::try_from(e).ok()?)
        }
        fn utf8(b: Option<&[u8]>) -> Cell<'_> {
            match b.map(std::str::from_utf8) {
                Some(Ok(s)) => Cell::Text(s),
                _ => Cell::Bad(BAD_TEXT),
            }
        }
        match self {
            TextCol::Absent => Cell::Null,
            TextCol::Utf8(a) => {
                let a = a.as_string::<i32>();
                if a.is_null(i) {
                    return Cell::Null;
                }
                let off = a.value_offsets();
                let (s, e) = match (off.get(i), off.get(i + 1)) {
                    (Some(&s), Some(&e)) => (s, e),
                    _ => return Cell::Bad(BAD_TEXT),
                };
                let r = usize::try_from(s).ok().zip(usize::try_from(e).ok());
                utf8(r.and_then(|(s, e)| a.values().as_slice().get(s..e)))
            }
            TextCol::Large(a) => {
                let a = a.as_string::<i64>();
                if a.is_null(i) {
                    return Cell::Null;
                }
                utf8(bytes(a.value_offsets(), a.values().as_slice(), i))
            }
            TextCol::View(a, valid) => {
                if a.is_null(i) {
                    return Cell::Null;
                }
                if !valid || i >= a.len() {
                    return Cell::Bad(BAD_TEXT);
                }
                Cell::Text(a.as_string_view().value(i)) // validated on import
            }
            TextCol::Dict(_, keys, values) => match keys.get(i).copied() {
                Some(NULL) | None => Cell::Null,
                Some(BAD_INDEX) => Cell::Bad(BAD_INDEX),
                Some(k) => values.get(k as usize),
            },
        }
    }

    fn len_hint(&self) -> usize {
        match self {
            TextCol::Absent => 0,
            TextCol::Utf8(a) | TextCol::Large(a) | TextCol::View(a, _) | TextCol::Dict(a, _, _) => {
                a.len()
            }
        }
    }
}

// ---- distinct values ------------------------------------------------------------------------------

/// The distinct values of one input role (mesh, dataplane name, source tags), each resolved
/// once per batch, not once per row.
struct Distinct<'a, T> {
    ids: AHashMap<&'a str, u32>,
    values: Vec<T>,
}

impl<'a, T> Distinct<'a, T> {
    fn new() -> Self {
        Distinct {
            ids: AHashMap::new(),
            values: Vec::new(),
        }
    }

    fn id(&mut self, s: &'a str, resolve: &impl Fn(&str) -> T) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.values.len())
            .unwrap_or(BAD_TYPE)
            .min(FIRST_CODE - 1);
        self.ids.insert(s, i);
        self.values.push(resolve(s));
        i
    }

    fn from_owned(texts: &'a [String], resolve: impl Fn(&str) -> T) -> Self {
        Distinct {
            ids: AHashMap::new(),
            values: texts.iter().map(|t| resolve(t)).collect(),
        }
    }

    fn get(&self, c: u32) -> Option<&T> {
        self.values.get(c as usize)
    }

    /// Per-row ids of a text column appended to `out`; a dictionary column's values are
    /// resolved once each, then its keys are gathered.
    fn column(
        &mut self,
        col: &'a TextCol,
        n: usize,
        out: &mut Vec<u32>,
        resolve: impl Fn(&str) -> T,
    ) {
        match col {
            TextCol::Absent => out.extend(std::iter::repeat_n(NULL, n)),
            TextCol::Dict(_, keys, values) => {
                let map: Vec<u32> = (0..values.len_hint())
                    .map(|k| match values.get(k) {
                        Cell::Null => NULL,
                        Cell::Bad(c) => c,
                        Cell::Text(s) => self.id(s, &resolve),
                    })
                    .collect();
                out.extend(keys.iter().map(|&k| match k {
                    NULL | BAD_INDEX => k,
                    k => map.get(k as usize).copied().unwrap_or(BAD_INDEX),
                }));
            }
            _ => out.extend((0..n).map(|i| match col.get(i) {
                Cell::Null => NULL,
                Cell::Bad(c) => c,
                Cell::Text(s) => self.id(s, &resolve),
            })),
        }
    }
}

/// Traffic rows as per-row ids into per-batch resolved tables.
struct TrafficRows<'a> {
    mesh: Vec<u32>,
    source: Vec<u32>,
    tags: Vec<u32>,
    dest: Vec<u32>,
    /// Per row: the port, or [`NO_PORT`] (null, or out of i64 range: `error:bad-port`).
    port: Vec<i64>,
    /// Per row: a row-level error found while reading (unknown field, bad value); empty while
    /// no row has one (allocated on the first).
    error: Vec<Option<RowError>>,
    meshes: Distinct<'a, Option<MeshId>>,
    /// dataplane names of `source` and `destination`.
    names: Distinct<'a, Option<NameId>>,
    tag_maps: Distinct<'a, Result<TagClient, RowError>>,
}

impl<'a> TrafficRows<'a> {
    fn with_capacity(n: usize) -> Self {
        TrafficRows {
            mesh: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            dest: Vec::with_capacity(n),
            port: Vec::with_capacity(n),
            error: Vec::new(),
            meshes: Distinct::new(),
            names: Distinct::new(),
            tag_maps: Distinct::new(),
        }
    }

    fn eval(&self, s: &Snapshot, i: usize) -> RowOutcome {
        let at = |v: &Vec<u32>| v.get(i).copied().unwrap_or(NULL);
        if let Some(Some(e)) = self.error.get(i) {
            return RowOutcome::error(*e);
        }
        for c in [
            at(&self.mesh),
            at(&self.source),
            at(&self.tags),
            at(&self.dest),
        ] {
            if let Some(e) = code_error(c) {
                return RowOutcome::error(e);
            }
        }
        let mesh = match at(&self.mesh) {
            NULL => None,
            m => Some(self.meshes.get(m).copied().flatten()),
        };
        // A dataplane source wins over source_tags.
        let source = match (at(&self.source), at(&self.tags)) {
            (MISSING_SOURCE, _) => SourceIds::Bad(RowError::MissingField),
            (NULL, NULL) => SourceIds::NonMesh,
            (NULL, t) => match self.tag_maps.get(t) {
                Some(r) => SourceIds::Tags(r.as_ref().map_err(|e| *e)),
                None => SourceIds::Bad(RowError::BadSource),
            },
            (d, _) => SourceIds::Dataplane(self.names.get(d).copied().flatten()),
        };
        let dest = match at(&self.dest) {
            NULL => None,
            d => Some(self.names.get(d).copied().flatten()),
        };
        let port = self.port.get(i).copied().filter(|&p| p != NO_PORT);
        s.batch_row_ids(mesh, source, dest, port)
    }

    fn push_arrow(&mut self, s: &Snapshot, cols: &'a ArrowCols) {
        let n = cols.len;
        self.meshes
            .column(&cols.mesh, n, &mut self.mesh, |m| s.batch_mesh(m));
        if cols.no_source {
            self.source.extend(std::iter::repeat_n(MISSING_SOURCE, n));
        } else {
            self.names
                .column(&cols.source, n, &mut self.source, |d| s.name_id(d));
        }
        self.tag_maps
            .column(&cols.tags, n, &mut self.tags, |t| s.batch_tags(t));
        self.names
            .column(&cols.dest, n, &mut self.dest, |d| s.name_id(d));
        let start = self.port.len();
        extend_ports(&cols.port, n, &mut self.port);
        if let Some(e) = cols.row_error {
            for i in start..start + n {
                self.set_error(i, e);
            }
        }
    }

    /// Marks row `i` as an `error:*` row.
    fn set_error(&mut self, i: usize, e: RowError) {
        if self.error.len() <= i {
            self.error.resize(self.port.len().max(i + 1), None);
        }
        if let Some(slot) = self.error.get_mut(i) {
            *slot = Some(e);
        }
    }
}

// ---- Arrow -------------------------------------------------------------------------------------

struct ArrowCols {
    mesh: TextCol,
    source: TextCol,
    tags: TextCol,
    dest: TextCol,
    port: IntCol,
    len: usize,
    /// Neither a `source` nor a `source_tags` column.
    no_source: bool,
    /// An unknown column (e.g. a misspelt `src`): every row is `error:unknown-field`.
    row_error: Option<RowError>,
}

impl ArrowCols {
    fn new(py: Python<'_>, b: &RecordBatch) -> PyResult<ArrowCols> {
        let col = |name: &str| b.column_by_name(name);
        let dest = col("destination").ok_or_else(|| {
            errors::input_error(py, "a traffic batch needs a \"destination\" column")
        })?;
        let unknown = b
            .schema()
            .fields()
            .iter()
            .any(|f| !COLUMNS.contains(&f.name().as_str()));
        let port = match col("port") {
            Some(a) if !a.data_type().is_integer() && *a.data_type() != DataType::Null => {
                return Err(errors::input_error(
                    py,
                    format!(
                        "column \"port\" must be an integer column, not {}",
                        a.data_type()
                    ),
                ))
            }
            p => IntCol::new(p, "port")?,
        };
        Ok(ArrowCols {
            mesh: TextCol::new(py, col("mesh"), "mesh")?,
            source: TextCol::new(py, col("source"), "source")?,
            tags: TextCol::new(py, col("source_tags"), "source_tags")?,
            dest: TextCol::new(py, Some(dest), "destination")?,
            port,
            len: b.num_rows(),
            no_source: col("source").is_none() && col("source_tags").is_none(),
            row_error: unknown.then_some(RowError::UnknownField),
        })
    }
}

/// A row's resolved input: equal keys decide equally (a decision is a pure function of it).
type RowKey = (u32, u32, u32, u32, i64);

/// Memo of decided rows per worker, bounded (a batch of distinct rows gains nothing from it).
const MEMO_MAX: usize = 1 << 16;
/// A per-worker memo of decided rows (sized up front: no rehashing on the row path).
struct Memo {
    map: AHashMap<RowKey, RowOutcome>,
}

impl Memo {
    fn with_capacity(n: usize) -> Memo {
        Memo {
            map: AHashMap::with_capacity(n),
        }
    }

    fn get_or(&mut self, k: RowKey, decide: impl FnOnce() -> RowOutcome) -> RowOutcome {
        if let Some(o) = self.map.get(&k) {
            return *o;
        }
        let o = decide();
        if self.map.len() < MEMO_MAX {
            self.map.insert(k, o);
        }
        o
    }
}

/// Evaluates resolved rows (GIL released by the caller) into a result.
fn run(s: &Snapshot, rows: &TrafficRows<'_>, threads: usize) -> BatchResult {
    let n = rows.port.len();
    let mut out = vec![RowOutcome::error(RowError::MissingField); n];
    let key = |i: usize| -> Option<RowKey> {
        if rows.error.get(i).copied().flatten().is_some() {
            return None;
        }
        Some((
            *rows.mesh.get(i)?,
            *rows.source.get(i)?,
            *rows.tags.get(i)?,
            *rows.dest.get(i)?,
            *rows.port.get(i)?,
        ))
    };
    let cap = n.div_ceil(threads.max(1)).min(MEMO_MAX);
    pool::fill_with(
        &mut out,
        threads,
        || Memo::with_capacity(cap),
        |memo, i| match key(i) {
            Some(k) => memo.get_or(k, || rows.eval(s, i)),
            None => rows.eval(s, i),
        },
    );
    result(s, &out)
}

/// Row outcomes as result columns (reason codes in `REASONS`, policies in the snapshot's dictionary).
fn result(s: &Snapshot, out: &[RowOutcome]) -> BatchResult {
    let mut res = BatchResult {
        allowed: Vec::with_capacity(out.len()),
        reason: Vec::with_capacity(out.len()),
        policy: Vec::with_capacity(out.len()),
        policies: Dict::from_names(s.policy_dictionary().map(str::to_owned)),
        vocab: &REASONS,
    };
    for o in out {
        res.allowed.push(o.allowed);
        res.reason.push(traffic_code(o.reason));
        res.policy
            .push(o.policy.and_then(|p| i32::try_from(p).ok()).unwrap_or(-1));
    }
    res
}

/// Arrow input: columns `mesh`?, `source` and/or `source_tags`, `destination`, `port`.
#[pyfunction]
#[pyo3(signature = (snapshot, data, threads = None))]
fn traffic_batch_arrow(
    py: Python<'_>,
    snapshot: &Bound<'_, TrafficSnapshot>,
    data: &Bound<'_, PyAny>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<BatchResult> {
    let threads = threads.map_or(Ok(1), |t| pool::threads(py, t))?;
    let batches = errors::contained(py, || arrow_batches(data))
        .map_err(|e| errors::input_error(py, format!("cannot read the Arrow input: {e}")))?;
    let cols = batches
        .iter()
        .map(|b| ArrowCols::new(py, b))
        .collect::<PyResult<Vec<_>>>()?;
    let s = snapshot.get().snap();
    errors::detached(py, || {
        let n = cols.iter().map(|c| c.len).sum();
        let mut rows = TrafficRows::with_capacity(n);
        for c in &cols {
            rows.push_arrow(s, c);
        }
        Ok(run(s, &rows, threads))
    })
}

// ---- Python rows ---------------------------------------------------------------------------------

/// Interns the Python strings of one role of a row list: by the string's own (cached) hash and
/// equality, so each distinct text is decoded once (no pointer keys, no `unsafe`).
struct PyStrings<'py> {
    by_hash: AHashMap<isize, u32>,
    /// per id: the next id with the same hash (NULL = end of chain).
    next: Vec<u32>,
    objs: Vec<Bound<'py, PyString>>,
    texts: Vec<String>,
}

impl<'py> PyStrings<'py> {
    fn new() -> Self {
        PyStrings {
            by_hash: AHashMap::new(),
            next: Vec::new(),
            objs: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// A dict row's string field (absent: `absent`; None: NULL).
    fn item(&mut self, d: &Bound<'py, PyDict>, key: &str, absent: u32) -> PyResult<u32> {
        match d.get_item(key)? {
            Some(v) => self.get(v.as_borrowed()),
            None => Ok(absent),
        }
    }

    /// A string's id; None = NULL; any other type = BAD_TYPE (an `error:*` row, #12 item 9).
    fn get(&mut self, v: Borrowed<'_, 'py, PyAny>) -> PyResult<u32> {
        if v.is_none() {
            return Ok(NULL);
        }
        let Ok(s) = v.cast::<PyString>() else {
            return Ok(BAD_TYPE);
        };
        let h = s.hash()?;
        let head = self.by_hash.get(&h).copied().unwrap_or(NULL);
        let mut cur = head;
        while cur != NULL {
            let Some(o) = self.objs.get(cur as usize) else {
                break;
            };
            if o.is(&*s) || o.as_any().eq(&*s)? {
                return Ok(cur);
            }
            cur = self.next.get(cur as usize).copied().unwrap_or(NULL);
        }
        let Ok(text) = s.to_cow() else {
            return Ok(BAD_TEXT); // lone surrogates: not UTF-8
        };
        let id = u32::try_from(self.texts.len())
            .unwrap_or(BAD_TYPE)
            .min(FIRST_CODE - 1);
        self.texts.push(text.into_owned()); // decoded once per distinct text
        self.objs.push(s.to_owned());
        self.next.push(head);
        self.by_hash.insert(h, id);
        Ok(id)
    }
}

/// A port cell: an int (bool refused) in i64, else None (`error:bad-port`).
fn port_of(v: Option<Borrowed<'_, '_, PyAny>>) -> Option<i64> {
    v.filter(|v| !v.is_none() && !v.is_instance_of::<PyBool>())
        .and_then(|v| v.extract().ok())
}

const DICT_KEYS: [&str; 5] = COLUMNS;

/// A list of `(source, destination, port)` / `(mesh, source, destination, port)` tuples or of
/// dicts with the Arrow column names. A malformed row is an `error:*` row.
#[pyfunction]
#[pyo3(signature = (snapshot, rows, threads = None))]
fn traffic_batch_rows(
    py: Python<'_>,
    snapshot: &Bound<'_, TrafficSnapshot>,
    rows: &Bound<'_, PyList>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<BatchResult> {
    let threads = threads.map_or(Ok(1), |t| pool::threads(py, t))?;
    let n = rows.len();
    let (mut meshes, mut names, mut tags) = (PyStrings::new(), PyStrings::new(), PyStrings::new());
    let mut ids = TrafficRows::with_capacity(n);
    for r in rows.iter() {
        let mut error = None;
        if let Ok(t) = r.cast::<PyTuple>() {
            let off = match t.len() {
                3 => {
                    ids.mesh.push(NULL);
                    0
                }
                4 => {
                    ids.mesh.push(meshes.get(t.get_borrowed_item(0)?)?);
                    1
                }
                _ => {
                    ids.mesh.push(NULL);
                    ids.source.push(NULL);
                    ids.tags.push(NULL);
                    ids.dest.push(NULL);
                    ids.port.push(NO_PORT);
                    ids.set_error(ids.port.len() - 1, RowError::BadValue);
                    continue;
                }
            };
            ids.source.push(names.get(t.get_borrowed_item(off)?)?);
            ids.tags.push(NULL);
            ids.dest.push(names.get(t.get_borrowed_item(off + 1)?)?);
            ids.port
                .push(port_of(Some(t.get_borrowed_item(off + 2)?)).unwrap_or(NO_PORT));
        } else if let Ok(d) = r.cast::<PyDict>() {
            for k in d.keys() {
                let known = k
                    .cast::<PyString>()
                    .ok()
                    .and_then(|k| k.to_cow().ok().map(|k| DICT_KEYS.contains(&k.as_ref())))
                    .unwrap_or(false);
                if !known {
                    error = Some(RowError::UnknownField);
                }
            }
            let has_source = d.contains("source")? || d.contains("source_tags")?;
            ids.mesh.push(meshes.item(d, "mesh", NULL)?);
            ids.source.push(if has_source {
                names.item(d, "source", NULL)?
            } else {
                MISSING_SOURCE
            });
            ids.tags.push(tags.item(d, "source_tags", NULL)?);
            ids.dest.push(names.item(d, "destination", NULL)?);
            ids.port.push(
                port_of(d.get_item("port")?.as_ref().map(Bound::as_borrowed)).unwrap_or(NO_PORT),
            );
        } else {
            ids.mesh.push(NULL);
            ids.source.push(NULL);
            ids.tags.push(NULL);
            ids.dest.push(NULL);
            ids.port.push(NO_PORT);
            error = Some(RowError::BadValue);
        }
        if let Some(e) = error {
            ids.set_error(ids.port.len() - 1, e);
        }
    }
    let s = snapshot.get().snap();
    let (meshes, names, tags) = (meshes.texts, names.texts, tags.texts);
    errors::detached(py, || {
        ids.meshes = Distinct::from_owned(&meshes, |m| s.batch_mesh(m));
        ids.names = Distinct::from_owned(&names, |d| s.name_id(d));
        ids.tag_maps = Distinct::from_owned(&tags, |t| s.batch_tags(t));
        Ok(run(s, &ids, threads))
    })
}

/// Ids for the numpy form: `{(mesh, dataplane name): id}`.
#[pyfunction]
fn traffic_dataplane_ids(snapshot: &Bound<'_, TrafficSnapshot>) -> HashMap<(String, String), u32> {
    let s = snapshot.get().snap();
    s.tp.dataplanes
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mesh =
                s.tp.meshes
                    .get(d.mesh as usize)
                    .map_or("", |m| m.name.as_str());
            ((mesh.to_owned(), d.name.clone()), i as u32)
        })
        .collect()
}

/// Pre-interned ids (native-endian int64 buffers): source id (-1 = a client without a sidecar;
/// any other negative value is `error:bad-source`), destination id (from
/// `traffic_dataplane_ids`), port. `bad`: optional per-row flags (1 = the caller could not
/// convert the source / destination value exactly: NaN, fraction, out of range).
#[pyfunction]
#[pyo3(signature = (snapshot, sources, destinations, ports, bad = None, threads = None))]
fn traffic_batch_ids(
    py: Python<'_>,
    snapshot: &Bound<'_, TrafficSnapshot>,
    sources: &Bound<'_, PyBytes>,
    destinations: &Bound<'_, PyBytes>,
    ports: &Bound<'_, PyBytes>,
    bad: Option<&Bound<'_, PyBytes>>,
    threads: Option<&Bound<'_, PyAny>>,
) -> PyResult<BatchResult> {
    let threads = threads.map_or(Ok(1), |t| pool::threads(py, t))?;
    let ints = |b: &Bound<'_, PyBytes>| -> Vec<i64> {
        b.as_bytes()
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                i64::from_ne_bytes(a)
            })
            .collect()
    };
    let (sources, destinations, ports) = (ints(sources), ints(destinations), ints(ports));
    let bad: Vec<u8> = bad.map(|b| b.as_bytes().to_vec()).unwrap_or_default();
    if sources.len() != destinations.len() || sources.len() != ports.len() {
        return Err(errors::input_error(py, "id arrays differ in length"));
    }
    let s = snapshot.get().snap();
    errors::detached(py, || {
        let n = sources.len();
        // Per dataplane id: (mesh, name group), resolved once (not per row).
        let resolved: Vec<(MeshId, Option<NameId>)> =
            s.tp.dataplanes
                .iter()
                .map(|d| (d.mesh, s.name_id(&d.name)))
                .collect();
        let unknown: Option<NameId> = None;
        let mut out = vec![RowOutcome::error(RowError::MissingField); n];
        pool::fill(&mut out, threads, |i| {
            if bad.get(i).is_some_and(|&b| b != 0) {
                return RowOutcome::error(RowError::BadSource);
            }
            let src = match sources.get(i).copied().unwrap_or(-2) {
                -1 => SourceIds::NonMesh,
                v if v < 0 => SourceIds::Bad(RowError::BadSource),
                v => SourceIds::DataplaneId(u32::try_from(v).unwrap_or(u32::MAX)),
            };
            let (mesh, name) = match destinations
                .get(i)
                .and_then(|&d| usize::try_from(d).ok())
                .and_then(|d| resolved.get(d))
            {
                Some(&(m, n)) => (Some(Some(m)), n),
                None => (None, unknown),
            };
            s.batch_row_ids(mesh, src, Some(name), ports.get(i).copied())
        });
        Ok(result(s, &out))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(traffic_batch_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(traffic_batch_rows, m)?)?;
    m.add_function(wrap_pyfunction!(traffic_batch_ids, m)?)?;
    m.add_function(wrap_pyfunction!(traffic_dataplane_ids, m)?)?;
    Ok(())
}
