//! Batch APIs (issue #6): columnar input in, columns out, the GIL released for the whole batch.
//!
//! Input: any object with `__arrow_c_stream__` / `__arrow_c_array__` (read zero-copy through
//! arrow-pyarrow's PyCapsule import), int64 id buffers (numpy, one memcpy), or a list of
//! tuples / dicts (strings interned by object identity while the GIL is held).
//! Output: [`BatchResult`], which exports `__arrow_c_array__` itself (no pyarrow needed).
//! Bad rows become `error:*` reason codes; nothing raises once evaluation starts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ahash::AHashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, RecordBatch, StringArray,
    StructArray,
};
use arrow_pyarrow::FromPyArrow;
use arrow_schema::{DataType, Field};
use meshauthz_core::traffic::batch::{
    BatchCache, BatchIndex, NameId, RowError, RowOutcome, RowSource, SourceIds,
};
use meshauthz_core::traffic::intern::TagMap;
use meshauthz_core::traffic::policy_set::MeshId;
use meshauthz_core::traffic::{PolicySet, Reason};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCapsule, PyDict, PyList, PyString, PyTuple};
use pyo3::Borrowed;
use rayon::prelude::*;

use crate::traffic::TrafficPolicySet;

// ---- output ------------------------------------------------------------------------------------

/// Row errors raised in the bindings rather than by the traffic core.
const BINDING_ERRORS: &[&str] = &["error:invalid"];

/// The reason dictionary of traffic batch results, with fixed positions: the traffic reasons and
/// the traffic row errors come from their enums in discriminant order (so their code is an
/// offset), then the bindings' own errors. The last entry is the catch-all. (RBAC results carry
/// their own dictionary: `batch_rbac::REASONS`.)
static REASONS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(RowError::ALL.iter().map(|e| e.as_str()))
        .chain(BINDING_ERRORS.iter().copied())
        .collect()
});

/// Position of the first traffic row error in `REASONS`.
const ROW_ERROR_BASE: usize = Reason::ALL.len();

fn code(s: &str) -> i32 {
    REASONS
        .iter()
        .position(|r| *r == s)
        .map_or(REASONS.len() as i32 - 1, |i| i as i32)
}

fn traffic_code(r: Result<Reason, RowError>) -> i32 {
    match r {
        Ok(r) => r as i32,
        Err(e) => (ROW_ERROR_BASE + e as usize) as i32,
    }
}

/// An append-only string dictionary.
#[derive(Default)]
pub(crate) struct Dict {
    names: Vec<String>,
    ids: HashMap<String, i32>,
}

impl Dict {
    fn from_names<I: IntoIterator<Item = String>>(names: I) -> Dict {
        let mut d = Dict::default();
        for n in names {
            d.names.push(n);
        }
        d
    }

    pub(crate) fn id(&mut self, name: &str) -> i32 {
        if self.ids.is_empty() && !self.names.is_empty() {
            for (i, n) in self.names.iter().enumerate() {
                self.ids.entry(n.clone()).or_insert(i as i32);
            }
        }
        if let Some(&i) = self.ids.get(name) {
            return i;
        }
        let i = self.names.len() as i32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), i);
        i
    }
}

/// Decisions as columns, in input order: `allowed` (bool), `reason` and `policy`
/// (dictionary-encoded strings; `policy` null when none decided).
#[pyclass(module = "meshauthz._core")]
pub struct BatchResult {
    pub(crate) allowed: Vec<bool>,
    pub(crate) reason: Vec<i32>,
    pub(crate) policy: Vec<i32>,
    pub(crate) policies: Dict,
    /// The reason dictionary `reason` indexes (traffic or RBAC vocabulary).
    pub(crate) vocab: &'static [&'static str],
}

impl BatchResult {
    fn dict_array(keys: &[i32], values: &[String], nullable: bool) -> PyResult<ArrayRef> {
        let keys: Int32Array = if nullable {
            keys.iter().map(|&k| (k >= 0).then_some(k)).collect()
        } else {
            Int32Array::from(keys.to_vec())
        };
        let values = Arc::new(StringArray::from_iter_values(values.iter()));
        Ok(Arc::new(
            DictionaryArray::<Int32Type>::try_new(keys, values)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
        ))
    }

    fn struct_array(&self) -> PyResult<StructArray> {
        let reasons: Vec<String> = self.vocab.iter().map(|s| s.to_string()).collect();
        let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let fields = vec![
            Field::new("allowed", DataType::Boolean, false),
            Field::new("reason", dict(), false),
            Field::new("policy", dict(), true),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(self.allowed.clone())),
            Self::dict_array(&self.reason, &reasons, false)?,
            Self::dict_array(&self.policy, &self.policies.names, true)?,
        ];
        StructArray::try_new(fields.into(), columns, None)
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

#[pymethods]
impl BatchResult {
    fn __len__(&self) -> usize {
        self.allowed.len()
    }

    /// Arrow PyCapsule interface: a struct array `{allowed, reason, policy}`.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // only the native schema is offered
        let data = self.struct_array()?.into_data();
        let (array, schema) =
            arrow_array::ffi::to_ffi(&data).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
        let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    #[getter]
    fn allowed(&self) -> Vec<bool> {
        self.allowed.clone()
    }

    #[getter]
    fn reason(&self) -> Vec<&'static str> {
        self.reason
            .iter()
            .map(|&r| {
                self.vocab
                    .get(r as usize)
                    .copied()
                    .unwrap_or("error:invalid")
            })
            .collect()
    }

    #[getter]
    fn policy(&self) -> Vec<Option<&str>> {
        self.policy
            .iter()
            .map(|&p| (p >= 0).then(|| self.policies.names[p as usize].as_str()))
            .collect()
    }

    /// Overwrites rows (the E4 MeshTrafficPermission step decided in Python).
    fn _patch(
        &mut self,
        rows: Vec<usize>,
        allowed: Vec<bool>,
        reasons: Vec<String>,
        policies: Vec<Option<String>>,
    ) -> PyResult<()> {
        if allowed.len() != rows.len()
            || reasons.len() != rows.len()
            || policies.len() != rows.len()
        {
            return Err(PyValueError::new_err("_patch: lengths differ"));
        }
        for (i, &row) in rows.iter().enumerate() {
            if row >= self.allowed.len() {
                return Err(PyValueError::new_err("_patch: row out of range"));
            }
            self.allowed[row] = allowed[i];
            self.reason[row] = code(&reasons[i]);
            self.policy[row] = policies[i].as_deref().map_or(-1, |p| self.policies.id(p));
        }
        Ok(())
    }
}

// ---- columns -----------------------------------------------------------------------------------

/// A string column: utf8, large_utf8, utf8_view or a dictionary of those (any integer keys).
pub(crate) enum StrCol {
    Absent,
    Utf8(ArrayRef),
    Large(ArrayRef),
    View(ArrayRef),
    /// keys normalised once (one pass, 8 bytes a row) + the values column.
    Dict(ArrayRef, Vec<usize>, Box<StrCol>),
}

impl StrCol {
    pub(crate) fn new(a: Option<&ArrayRef>, what: &str) -> PyResult<StrCol> {
        let Some(a) = a else {
            return Ok(StrCol::Absent);
        };
        Ok(match a.data_type() {
            DataType::Null => StrCol::Absent,
            DataType::Utf8 => StrCol::Utf8(a.clone()),
            DataType::LargeUtf8 => StrCol::Large(a.clone()),
            DataType::Utf8View => StrCol::View(a.clone()),
            DataType::Dictionary(_, _) => {
                let d = a.as_any_dictionary();
                if d.values().is_empty() {
                    return Ok(StrCol::Absent); // every key null (normalized_keys needs values)
                }
                let values = d.values().clone();
                StrCol::Dict(
                    a.clone(),
                    d.normalized_keys(),
                    Box::new(StrCol::new(Some(&values), what)?),
                )
            }
            t => {
                return Err(PyTypeError::new_err(format!(
                    "column {what:?} must be a string column, not {t}"
                )))
            }
        })
    }

    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Absent => None,
            StrCol::Utf8(a) => {
                let a = a.as_string::<i32>();
                a.is_valid(i).then(|| a.value(i))
            }
            StrCol::Large(a) => {
                let a = a.as_string::<i64>();
                a.is_valid(i).then(|| a.value(i))
            }
            StrCol::View(a) => {
                let a = a.as_string_view();
                a.is_valid(i).then(|| a.value(i))
            }
            StrCol::Dict(a, keys, values) => {
                if a.is_null(i) {
                    return None;
                }
                values.get(keys[i])
            }
        }
    }
}

/// An integer column (any width), read as i64.
pub(crate) enum IntCol {
    Absent,
    Some(ArrayRef),
}

impl IntCol {
    pub(crate) fn new(a: Option<&ArrayRef>, what: &str) -> PyResult<IntCol> {
        let Some(a) = a else {
            return Ok(IntCol::Absent);
        };
        match a.data_type() {
            DataType::Null => Ok(IntCol::Absent),
            t if t.is_integer() => Ok(IntCol::Some(a.clone())),
            t => Err(PyTypeError::new_err(format!(
                "column {what:?} must be an integer column, not {t}"
            ))),
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<i64> {
        let IntCol::Some(a) = self else { return None };
        if a.is_null(i) {
            return None;
        }
        macro_rules! prim {
            ($($t:ty),*) => {{
                $(if let Some(p) = a.as_primitive_opt::<$t>() {
                    return i64::try_from(p.value(i)).ok();
                })*
                None
            }};
        }
        prim!(
            Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        )
    }
}

impl IntCol {
    /// Every row (`None` for null or out of i64 range), the column type dispatched once.
    fn extend_into(&self, n: usize, out: &mut Vec<Option<i64>>) {
        let IntCol::Some(a) = self else {
            out.extend(std::iter::repeat_n(None, n));
            return;
        };
        macro_rules! prim {
            ($($t:ty),*) => {{
                $(if let Some(p) = a.as_primitive_opt::<$t>() {
                    out.extend(p.iter().map(|v| v.and_then(|v| i64::try_from(v).ok())));
                    return;
                })*
            }};
        }
        prim!(
            Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        );
        out.extend((0..n).map(|i| self.get(i)));
    }
}

/// Record batches from an Arrow PyCapsule producer (stream or array), zero-copy.
pub(crate) fn arrow_batches(data: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    if data.hasattr("__arrow_c_stream__")? {
        let reader = arrow_array::ffi_stream::RecordBatchStreamReader::from_pyarrow_bound(data)?;
        return reader
            .map(|b| b.map_err(|e| PyValueError::new_err(e.to_string())))
            .collect();
    }
    Ok(vec![RecordBatch::from_pyarrow_bound(data)?])
}

pub(crate) fn column<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a ArrayRef> {
    b.column_by_name(name)
}

// ---- traffic -----------------------------------------------------------------------------------

/// One traffic row by names (what the E4 MTP step needs).
type TrafficRow<'a> = (Option<&'a str>, RowSource<'a>, Option<&'a str>, Option<i64>);

/// "No value" in a per-row id column.
const NULL: u32 = u32::MAX;

/// The distinct values of one input role (mesh, dataplane name, source tags), each resolved
/// once per batch, not once per row.
struct Distinct<'a, T> {
    ids: AHashMap<&'a str, u32>,
    texts: Vec<&'a str>,
    values: Vec<T>,
}

impl<'a, T> Distinct<'a, T> {
    fn new() -> Self {
        Distinct {
            ids: AHashMap::new(),
            texts: Vec::new(),
            values: Vec::new(),
        }
    }

    fn id(&mut self, s: &'a str, resolve: impl Fn(&str) -> T) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.texts.len() as u32;
        self.ids.insert(s, i);
        self.texts.push(s);
        self.values.push(resolve(s));
        i
    }

    /// A table of interned texts (ids = positions), each resolved once.
    fn from_owned(texts: &'a [String], resolve: impl Fn(&str) -> T) -> Self {
        Distinct {
            ids: AHashMap::new(),
            texts: texts.iter().map(String::as_str).collect(),
            values: texts.iter().map(|t| resolve(t)).collect(),
        }
    }

    fn text(&self, i: u32) -> Option<&'a str> {
        self.texts.get(i as usize).copied()
    }

    /// Per-row ids of a string column appended to `out` (NULL for null); a dictionary column's
    /// values are resolved once each, then its keys are gathered.
    fn column(
        &mut self,
        col: &'a StrCol,
        n: usize,
        out: &mut Vec<u32>,
        resolve: impl Fn(&str) -> T,
    ) {
        match col {
            StrCol::Absent => out.extend(std::iter::repeat_n(NULL, n)),
            StrCol::Dict(a, keys, values) => {
                let map: Vec<u32> = (0..a.as_any_dictionary().values().len())
                    .map(|k| values.get(k).map_or(NULL, |s| self.id(s, &resolve)))
                    .collect();
                match a.nulls() {
                    None => out.extend(keys.iter().map(|&k| map[k])),
                    Some(nulls) => out.extend(keys.iter().enumerate().map(|(i, &k)| {
                        if nulls.is_valid(i) {
                            map[k]
                        } else {
                            NULL
                        }
                    })),
                }
            }
            _ => out.extend((0..n).map(|i| col.get(i).map_or(NULL, |s| self.id(s, &resolve)))),
        }
    }
}

/// Traffic rows as per-row ids into per-batch resolved tables (§4.1 input, names resolved once).
struct TrafficRows<'a> {
    mesh: Vec<u32>,
    source: Vec<u32>,
    tags: Vec<u32>,
    dest: Vec<u32>,
    port: Vec<Option<i64>>,
    meshes: Distinct<'a, Option<MeshId>>,
    /// dataplane names of `source` and `destination`.
    names: Distinct<'a, Option<NameId>>,
    tag_maps: Distinct<'a, Result<TagMap, RowError>>,
}

impl<'a> TrafficRows<'a> {
    fn with_capacity(n: usize) -> Self {
        TrafficRows {
            mesh: Vec::with_capacity(n),
            source: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            dest: Vec::with_capacity(n),
            port: Vec::with_capacity(n),
            meshes: Distinct::new(),
            names: Distinct::new(),
            tag_maps: Distinct::new(),
        }
    }

    fn eval(
        &self,
        set: &PolicySet,
        idx: &BatchIndex,
        cache: &mut BatchCache,
        i: usize,
    ) -> RowOutcome {
        let mesh = match self.mesh[i] {
            NULL => None,
            m => Some(self.meshes.values[m as usize]),
        };
        // A dataplane source wins over source_tags (`source_of`).
        let source = match (self.source[i], self.tags[i]) {
            (NULL, NULL) => SourceIds::NonMesh,
            (NULL, t) => {
                SourceIds::Tags(self.tag_maps.values[t as usize].as_deref().map_err(|e| *e))
            }
            (s, _) => SourceIds::Dataplane(self.names.values[s as usize]),
        };
        let dest = match self.dest[i] {
            NULL => None,
            d => Some(self.names.values[d as usize]),
        };
        set.batch_row_ids(idx, cache, mesh, source, dest, self.port[i])
    }

    fn text(&self, i: usize) -> TrafficRow<'a> {
        (
            self.meshes.text(self.mesh[i]),
            source_of(
                self.names.text(self.source[i]),
                self.tag_maps.text(self.tags[i]),
            ),
            self.names.text(self.dest[i]),
            self.port[i],
        )
    }

    fn push_strs(&mut self, set: &PolicySet, idx: &BatchIndex, cols: &'a ArrowCols) {
        let n = cols.len;
        self.meshes
            .column(&cols.mesh, n, &mut self.mesh, |m| set.batch_mesh(m));
        self.names
            .column(&cols.source, n, &mut self.source, |d| idx.name_id(d));
        self.tag_maps
            .column(&cols.tags, n, &mut self.tags, |t| set.batch_tags(t));
        self.names
            .column(&cols.dest, n, &mut self.dest, |d| idx.name_id(d));
        cols.port.extend_into(n, &mut self.port);
    }
}

struct ArrowCols {
    mesh: StrCol,
    source: StrCol,
    tags: StrCol,
    dest: StrCol,
    port: IntCol,
    len: usize,
}

impl ArrowCols {
    fn new(b: &RecordBatch) -> PyResult<ArrowCols> {
        let dest = column(b, "destination")
            .ok_or_else(|| PyValueError::new_err("traffic batch needs a \"destination\" column"))?;
        Ok(ArrowCols {
            mesh: StrCol::new(column(b, "mesh"), "mesh")?,
            source: StrCol::new(column(b, "source"), "source")?,
            tags: StrCol::new(column(b, "source_tags"), "source_tags")?,
            dest: StrCol::new(Some(dest), "destination")?,
            port: IntCol::new(column(b, "port"), "port")?,
            len: b.num_rows(),
        })
    }
}

fn source_of<'a>(dp: Option<&'a str>, tags: Option<&'a str>) -> RowSource<'a> {
    match (dp, tags) {
        (Some(d), _) => RowSource::Dataplane(d),
        (None, Some(t)) => RowSource::Tags(t),
        (None, None) => RowSource::NonMesh,
    }
}

/// One rayon pool per thread count, built on first use and reused by later batches.
fn pool(threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
    static POOLS: Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(t, _)| *t == threads) {
        return Ok(p.clone());
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?,
    );
    pools.push((threads, p.clone()));
    Ok(p)
}

/// Evaluates `n` rows with `threads` workers (1 = this thread); each chunk has its own cache.
fn run_rows<R>(n: usize, threads: usize, row: R) -> PyResult<Vec<RowOutcome>>
where
    R: Fn(&mut BatchCache, usize) -> RowOutcome + Sync,
{
    let empty = RowOutcome {
        allowed: false,
        reason: Err(RowError::MissingField),
        policy: None,
        e4: false,
    };
    let mut out = vec![empty; n];
    let fill = |start: usize, chunk: &mut [RowOutcome]| {
        let mut cache = BatchCache::default();
        for (j, slot) in chunk.iter_mut().enumerate() {
            *slot = row(&mut cache, start + j);
        }
    };
    if threads <= 1 || n < 2 * 4096 {
        fill(0, &mut out);
        return Ok(out);
    }
    let chunk = n.div_ceil(threads * 8).max(4096);
    pool(threads)?.install(|| {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, slice)| fill(c * chunk, slice));
    });
    Ok(out)
}

/// An E4 row for the Python MTP hook: (row, mesh, dataplane, port, client tuple).
type E4Row = (usize, String, String, u32, E4Client);

#[derive(IntoPyObject)]
enum E4Client {
    Dataplane(String, String),
    Adhoc(String, Vec<HashMap<String, String>>, Vec<(String, String)>),
}

/// Batch evaluator over a compiled `TrafficPolicySet` (name indexes built once).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct TrafficBatch {
    set: Py<TrafficPolicySet>,
    index: BatchIndex,
}

impl TrafficBatch {
    fn finish<'r>(
        &self,
        set: &PolicySet,
        outcomes: Vec<RowOutcome>,
        row: impl Fn(usize) -> TrafficRow<'r>,
    ) -> (BatchResult, Vec<E4Row>) {
        let mut e4 = Vec::new();
        let mut res = BatchResult {
            allowed: Vec::with_capacity(outcomes.len()),
            reason: Vec::with_capacity(outcomes.len()),
            policy: Vec::with_capacity(outcomes.len()),
            policies: Dict::from_names(set.policies.iter().map(|p| p.name.clone())),
            vocab: &REASONS,
        };
        for (i, o) in outcomes.iter().enumerate() {
            res.allowed.push(o.allowed);
            res.reason.push(traffic_code(o.reason));
            res.policy.push(o.policy.map_or(-1, |p| p as i32));
            if o.e4 {
                if let Some(r) = self.e4_row(set, i, row(i)) {
                    e4.push(r);
                }
            }
        }
        (res, e4)
    }

    /// Evaluates resolved rows and builds the result.
    fn run(
        &self,
        set: &PolicySet,
        rows: &TrafficRows<'_>,
        threads: usize,
    ) -> PyResult<(BatchResult, Vec<E4Row>)> {
        let outcomes = run_rows(rows.port.len(), threads, |cache, i| {
            rows.eval(set, &self.index, cache, i)
        })?;
        Ok(self.finish(set, outcomes, |i| rows.text(i)))
    }

    /// The resolved names `TrafficEngine._mtp_decision` needs for row `i`.
    fn e4_row(&self, set: &PolicySet, i: usize, r: TrafficRow<'_>) -> Option<E4Row> {
        let (mesh, source, dest, port) = r;
        let dp = set.batch_destination(&self.index, mesh, dest?).ok()?;
        let d = &set.dataplanes[dp as usize];
        let m = set.meshes[d.mesh as usize].name.clone();
        let client = match source {
            RowSource::NonMesh => return None,
            RowSource::Dataplane(name) => E4Client::Dataplane(m.clone(), name.to_owned()),
            RowSource::DataplaneId(s) => {
                E4Client::Dataplane(m.clone(), set.dataplanes.get(s as usize)?.name.clone())
            }
            RowSource::Tags(t) => {
                let tags = meshauthz_core::traffic::batch::parse_tags(t).ok()?;
                let owned: Vec<(String, String)> = tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                E4Client::Adhoc(m.clone(), vec![owned.iter().cloned().collect()], owned)
            }
        };
        Some((i, m, d.name.clone(), u32::try_from(port?).ok()?, client))
    }
}

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

    /// A dict row's string field (absent or None: NULL).
    fn item(&mut self, d: &Bound<'py, PyDict>, key: &str) -> PyResult<u32> {
        match d.get_item(key)? {
            Some(v) => self.get(v.as_borrowed(), key),
            None => Ok(NULL),
        }
    }

    fn get(&mut self, v: Borrowed<'_, 'py, PyAny>, what: &str) -> PyResult<u32> {
        if v.is_none() {
            return Ok(NULL);
        }
        let s = v
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a string or None")))?;
        let h = s.hash()?;
        let head = self.by_hash.get(&h).copied().unwrap_or(NULL);
        let mut cur = head;
        while cur != NULL {
            let o = &self.objs[cur as usize];
            if o.is(&*s) || o.as_any().eq(&*s)? {
                return Ok(cur);
            }
            cur = self.next[cur as usize];
        }
        let id = self.texts.len() as u32;
        self.texts.push(s.to_cow()?.into_owned()); // decoded once per distinct text
        self.objs.push(s.to_owned());
        self.next.push(head);
        self.by_hash.insert(h, id);
        Ok(id)
    }
}

fn port_of(v: Option<Borrowed<'_, '_, PyAny>>) -> Option<i64> {
    v.filter(|v| !v.is_none()).and_then(|v| v.extract().ok())
}

#[pymethods]
impl TrafficBatch {
    /// `mtp_meshes`: meshes whose TP outcomes the caller passes through the E4 MTP hook.
    #[new]
    fn new(py: Python<'_>, set: Py<TrafficPolicySet>, mtp_meshes: Vec<String>) -> Self {
        let index = set
            .get()
            .set
            .batch_index(mtp_meshes.iter().map(String::as_str));
        let _ = py;
        TrafficBatch { set, index }
    }

    /// Ids for the numpy form: `{(mesh, dataplane name): id}`.
    fn dataplane_ids(&self) -> HashMap<(String, String), u32> {
        let set = &self.set.get().set;
        set.dataplanes
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    (set.meshes[d.mesh as usize].name.clone(), d.name.clone()),
                    i as u32,
                )
            })
            .collect()
    }

    /// Arrow input: columns `mesh`?, `source`? / `source_tags`?, `destination`, `port`.
    #[pyo3(signature = (data, threads=1))]
    fn check_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        threads: usize,
    ) -> PyResult<(BatchResult, Vec<E4Row>)> {
        let batches = arrow_batches(data)?;
        let cols = batches
            .iter()
            .map(ArrowCols::new)
            .collect::<PyResult<Vec<_>>>()?;
        let set = &self.set.get().set;
        py.detach(|| {
            let n = cols.iter().map(|c| c.len).sum();
            let mut rows = TrafficRows::with_capacity(n);
            for c in &cols {
                rows.push_strs(set, &self.index, c);
            }
            self.run(set, &rows, threads)
        })
    }

    /// A list of `(source, destination, port)` / `(mesh, source, destination, port)` tuples or
    /// of dicts with the Arrow column names.
    #[pyo3(signature = (rows, threads=1))]
    fn check_rows(
        &self,
        py: Python<'_>,
        rows: &Bound<'_, PyList>,
        threads: usize,
    ) -> PyResult<(BatchResult, Vec<E4Row>)> {
        let n = rows.len();
        let (mut meshes, mut names, mut tags) =
            (PyStrings::new(), PyStrings::new(), PyStrings::new());
        let mut ids = TrafficRows::with_capacity(n);
        for r in rows.iter() {
            if let Ok(t) = r.cast::<PyTuple>() {
                let (mesh, off) = match t.len() {
                    3 => (NULL, 0),
                    4 => (meshes.get(t.get_borrowed_item(0)?, "mesh")?, 1),
                    n => {
                        return Err(PyTypeError::new_err(format!(
                            "a row tuple has 3 or 4 items, not {n}"
                        )))
                    }
                };
                ids.mesh.push(mesh);
                ids.source
                    .push(names.get(t.get_borrowed_item(off)?, "source")?);
                ids.tags.push(NULL);
                ids.dest
                    .push(names.get(t.get_borrowed_item(off + 1)?, "destination")?);
                ids.port.push(port_of(Some(t.get_borrowed_item(off + 2)?)));
            } else if let Ok(d) = r.cast::<PyDict>() {
                ids.mesh.push(meshes.item(d, "mesh")?);
                ids.source.push(names.item(d, "source")?);
                ids.tags.push(tags.item(d, "source_tags")?);
                ids.dest.push(names.item(d, "destination")?);
                ids.port.push(port_of(
                    d.get_item("port")?.as_ref().map(Bound::as_borrowed),
                ));
            } else {
                return Err(PyTypeError::new_err("rows must be tuples or dicts"));
            }
        }
        let set = &self.set.get().set;
        let index = &self.index;
        let (meshes, names, tags) = (meshes.texts, names.texts, tags.texts);
        py.detach(|| {
            ids.meshes = Distinct::from_owned(&meshes, |m| set.batch_mesh(m));
            ids.names = Distinct::from_owned(&names, |d| index.name_id(d));
            ids.tag_maps = Distinct::from_owned(&tags, |t| set.batch_tags(t));
            self.run(set, &ids, threads)
        })
    }

    /// Pre-interned ids (native-endian int64 buffers): source id (-1 = non-mesh client),
    /// destination id (from `dataplane_ids`), port.
    #[pyo3(signature = (sources, destinations, ports, threads=1))]
    fn check_ids(
        &self,
        py: Python<'_>,
        sources: &Bound<'_, PyBytes>,
        destinations: &Bound<'_, PyBytes>,
        ports: &Bound<'_, PyBytes>,
        threads: usize,
    ) -> PyResult<(BatchResult, Vec<E4Row>)> {
        let ints = |b: &Bound<'_, PyBytes>| -> Vec<i64> {
            b.as_bytes()
                .chunks_exact(8)
                .map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
                .collect()
        };
        let (sources, destinations, ports) = (ints(sources), ints(destinations), ints(ports));
        if sources.len() != destinations.len() || sources.len() != ports.len() {
            return Err(PyValueError::new_err("id arrays differ in length"));
        }
        let set = &self.set.get().set;
        py.detach(|| {
            let names: Vec<(&str, &str)> = set
                .dataplanes
                .iter()
                .map(|d| (set.meshes[d.mesh as usize].name.as_str(), d.name.as_str()))
                .collect();
            // Per dataplane id: (mesh, name group), resolved once (not per row).
            let resolved: Vec<(Option<MeshId>, Option<NameId>)> = set
                .dataplanes
                .iter()
                .map(|d| (Some(d.mesh), self.index.name_id(&d.name)))
                .collect();
            let unknown = self.index.name_id("");
            let source = |i: usize| match sources[i] {
                s if s < 0 => RowSource::NonMesh,
                s => RowSource::DataplaneId(u32::try_from(s).unwrap_or(u32::MAX)),
            };
            let dest = |i: usize| usize::try_from(destinations[i]).ok();
            let outcomes = run_rows(sources.len(), threads, |cache, i| {
                let src = match source(i) {
                    RowSource::DataplaneId(d) => SourceIds::DataplaneId(d),
                    _ => SourceIds::NonMesh,
                };
                let (mesh, name) = match dest(i).and_then(|d| resolved.get(d)) {
                    Some(&(m, n)) => (Some(m), n),
                    None => (None, unknown),
                };
                set.batch_row_ids(&self.index, cache, mesh, src, Some(name), Some(ports[i]))
            })?;
            let row = |i: usize| -> TrafficRow<'_> {
                match dest(i).and_then(|d| names.get(d)) {
                    Some((m, d)) => (Some(*m), source(i), Some(*d), Some(ports[i])),
                    None => (None, source(i), Some(""), Some(ports[i])),
                }
            };
            Ok(self.finish(set, outcomes, row))
        })
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchResult>()?;
    m.add_class::<TrafficBatch>()?;
    Ok(())
}
