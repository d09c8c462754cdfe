//! Batch APIs (issue #6): columnar input in, columns out, the GIL released for the whole batch.
//!
//! Input: any object with `__arrow_c_stream__` / `__arrow_c_array__` (read zero-copy through
//! arrow-pyarrow's PyCapsule import), int64 id buffers (numpy, one memcpy), or a list of
//! tuples / dicts (strings interned by object identity while the GIL is held).
//! Output: [`BatchResult`], which exports `__arrow_c_array__` itself (no pyarrow needed).
//! Bad rows become `error:*` reason codes; nothing raises once evaluation starts.

use std::collections::HashMap;
use std::sync::Arc;

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
use meshauthz_core::rbac::{Action, Engine, Reason as RbacReason, Target};
use meshauthz_core::traffic::batch::RowError;
use meshauthz_core::traffic::Reason;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyString, PyTuple};
use rayon::prelude::*;

use crate::rbac::{RbacPolicySet, RbacTarget};

// ---- output ------------------------------------------------------------------------------------

/// RBAC reason codes of a batch (`meshauthz_core::rbac::Reason`, without their payloads).
const RBAC_REASONS: &[&str] = &[
    "cannot-access-resource",
    "resource-of-type",
    "dataplane-token",
    "zone-token",
    "user-token",
    "envoy-proxy-info",
    "zone-cp-token",
];

/// Row errors raised in the bindings rather than by the traffic core.
const BINDING_ERRORS: &[&str] = &[
    "error:unknown-action",
    "error:unsupported-action",
    "error:bad-resource",
    "error:invalid",
];

/// The reason dictionary of every batch result, with fixed positions: the traffic reasons and the
/// traffic row errors come from their enums in discriminant order (so their code is an offset),
/// then the RBAC reasons and the bindings' own errors. The last entry is the catch-all.
static REASONS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .chain(RBAC_REASONS.iter().copied())
        .chain(RowError::ALL.iter().map(|e| e.as_str()))
        .chain(BINDING_ERRORS.iter().copied())
        .collect()
});

/// Position of the first traffic row error in `REASONS`.
const ROW_ERROR_BASE: usize = Reason::ALL.len() + RBAC_REASONS.len();

fn code(s: &str) -> i32 {
    REASONS
        .iter()
        .position(|r| *r == s)
        .map_or(REASONS.len() as i32 - 1, |i| i as i32)
}

pub(crate) fn traffic_code(r: Result<Reason, RowError>) -> i32 {
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
    pub(crate) fn from_names<I: IntoIterator<Item = String>>(names: I) -> Dict {
        let mut d = Dict::default();
        for n in names {
            d.names.push(n);
        }
        d
    }

    fn id(&mut self, name: &str) -> i32 {
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
        let reasons: Vec<String> = REASONS.iter().map(|s| s.to_string()).collect();
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
        self.reason.iter().map(|&r| REASONS[r as usize]).collect()
    }

    #[getter]
    fn policy(&self) -> Vec<Option<&str>> {
        self.policy
            .iter()
            .map(|&p| (p >= 0).then(|| self.policies.names[p as usize].as_str()))
            .collect()
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

    fn get(&self, i: usize) -> Option<i64> {
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

// ---- RBAC --------------------------------------------------------------------------------------

fn rbac_reason(r: &RbacReason) -> &'static str {
    match r {
        RbacReason::CannotAccessResource => "cannot-access-resource",
        RbacReason::ResourceOfType(_) => "resource-of-type",
        RbacReason::DataplaneToken => "dataplane-token",
        RbacReason::ZoneToken(_) => "zone-token",
        RbacReason::UserToken => "user-token",
        RbacReason::EnvoyProxyInfo => "envoy-proxy-info",
        RbacReason::ZoneCpToken => "zone-cp-token",
    }
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

    /// Row `i`'s groups, borrowed from the column (no per-row string copies, R1.1 order kept).
    fn get(&self, i: usize) -> Groups<'_> {
        match self {
            GroupsCol::Absent => Groups::new(),
            GroupsCol::Text(c) => split_groups(c.get(i)),
            GroupsCol::List(a, values) => {
                if a.is_null(i) {
                    return Groups::new();
                }
                let range = match a.as_list_opt::<i32>() {
                    Some(l) => {
                        let o = l.value_offsets();
                        o[i] as usize..o[i + 1] as usize
                    }
                    None => {
                        let o = a.as_list::<i64>().value_offsets();
                        o[i] as usize..o[i + 1] as usize
                    }
                };
                let mut out = Groups::new();
                out.extend(range.filter_map(|j| values.get(j)));
                out
            }
        }
    }
}

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
        if self.spill.is_empty() && self.n < self.inline.len() {
            self.inline[self.n] = g;
            self.n += 1;
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline[..self.n]);
            }
            self.spill.push(g);
        }
    }

    fn extend(&mut self, it: impl IntoIterator<Item = &'a str>) {
        for g in it {
            self.push(g);
        }
    }

    fn as_slice(&self) -> &[&'a str] {
        if self.spill.is_empty() {
            &self.inline[..self.n]
        } else {
            &self.spill
        }
    }
}

fn split_groups(s: Option<&str>) -> Groups<'_> {
    let mut out = Groups::new();
    match s.map(str::trim) {
        None | Some("") => {}
        Some(s) => out.extend(s.split(',').map(str::trim)),
    }
    out
}

/// Arrow RBAC input held between `rbac_prepare` and `rbac_run` (resources resolved in Python).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacBatchInput {
    batches: Vec<RecordBatch>,
    /// per row: index into the targets passed to `rbac_run` (-1 = no resource).
    resource: Vec<i64>,
}

/// Per row: resource handle index (-1 = none, -2 = bad) plus the row's user/groups/action.
struct RbacRows<'a> {
    user: Vec<StrCol>,
    groups: Vec<GroupsCol>,
    action: Vec<StrCol>,
    starts: Vec<usize>,
    targets: &'a [Option<Arc<Target>>],
    resource: &'a [i64],
}

/// One row: `(allowed, reason code, granting role id)`.
type RbacOut = (bool, i32, Option<u32>);

fn rbac_row(
    engine: &Engine,
    name: Option<&str>,
    groups: &[&str],
    action: Option<&str>,
    target: Result<Option<&Target>, ()>,
) -> RbacOut {
    let err = |c: &str| (false, code(c), None);
    let Some(action) = action.and_then(Action::parse) else {
        return err("error:unknown-action");
    };
    if matches!(action, Action::Access(a) if a.is_token()) {
        return err("error:unsupported-action");
    }
    let Ok(target) = target else {
        return err("error:bad-resource");
    };
    // R5.1 subjects are interned in the compiled set: the row's user is never copied.
    match engine.check_named(
        name.unwrap_or_default(),
        groups.iter().copied(),
        action,
        target,
        None,
        None,
    ) {
        Ok(d) => {
            let reason = match &d.reason {
                Some(r) => rbac_reason(r),
                None if d.allowed => "allowed",
                None => "cannot-access-resource",
            };
            (d.allowed, code(reason), d.grant.map(|g| g.role))
        }
        Err(_) => err("error:invalid"),
    }
}

impl RbacRows<'_> {
    fn eval(&self, engine: &Engine, i: usize) -> RbacOut {
        let b = self.starts.partition_point(|&s| s <= i) - 1;
        let j = i - self.starts[b];
        let target = match self.resource[i] {
            -1 => Ok(None),
            r => match usize::try_from(r).ok().and_then(|r| self.targets.get(r)) {
                Some(Some(t)) => Ok(Some(t.as_ref())),
                _ => Err(()),
            },
        };
        rbac_row(
            engine,
            self.user[b].get(j),
            self.groups[b].get(j).as_slice(),
            self.action[b].get(j),
            target,
        )
    }
}

fn rbac_collect(
    engine: &Engine,
    n: usize,
    threads: usize,
    row: impl Fn(usize) -> RbacOut + Sync,
) -> PyResult<BatchResult> {
    let mut out: Vec<RbacOut> = vec![(false, 0, None); n];
    if threads <= 1 || n < 2 * 4096 {
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = row(i);
        }
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let chunk = n.div_ceil(threads * 8).max(4096);
        pool.install(|| {
            out.par_chunks_mut(chunk).enumerate().for_each(|(c, s)| {
                for (j, slot) in s.iter_mut().enumerate() {
                    *slot = row(c * chunk + j);
                }
            })
        });
    }
    let mut res = BatchResult {
        allowed: Vec::with_capacity(n),
        reason: Vec::with_capacity(n),
        policy: Vec::with_capacity(n),
        policies: Dict::default(),
    };
    // Role id → dictionary id, resolved once per distinct role.
    let mut ids: Vec<i32> = Vec::new();
    for (a, r, p) in out {
        res.allowed.push(a);
        res.reason.push(r);
        let id = match (p, engine) {
            (Some(p), Engine::Rbac { set, .. }) => {
                let p = p as usize;
                if ids.len() <= p {
                    ids.resize(p + 1, -2);
                }
                if ids[p] == -2 {
                    ids[p] = res.policies.id(set.role_name(p as u32));
                }
                ids[p]
            }
            _ => -1,
        };
        res.policy.push(id);
    }
    Ok(res)
}

fn engine_of<'a>(set: &'a Bound<'_, RbacPolicySet>) -> &'a Engine {
    &set.get().engine
}

/// Reads Arrow RBAC input (zero-copy). Returns the held input and the distinct resource texts
/// for Python to normalise once each (None when `resource` is an integer handle column).
#[pyfunction]
fn rbac_prepare(data: &Bound<'_, PyAny>) -> PyResult<(RbacBatchInput, Option<Vec<String>>)> {
    let batches = arrow_batches(data)?;
    let mut distinct: AHashMap<String, i64> = AHashMap::default();
    let mut texts: Vec<String> = Vec::new();
    let mut resource: Vec<i64> = Vec::new();
    let mut ints = false;
    for b in &batches {
        match column(b, "resource") {
            None => resource.extend(std::iter::repeat_n(-1, b.num_rows())),
            Some(a) if a.data_type().is_integer() => {
                ints = true;
                let c = IntCol::new(Some(a), "resource")?;
                resource.extend((0..b.num_rows()).map(|i| c.get(i).unwrap_or(-1)));
            }
            Some(a) => {
                let c = StrCol::new(Some(a), "resource")?;
                for i in 0..b.num_rows() {
                    resource.push(match c.get(i) {
                        None => -1,
                        // Look up before inserting: no per-row copy of a seen text.
                        Some(t) => match distinct.get(t) {
                            Some(&id) => id,
                            None => {
                                texts.push(t.to_owned());
                                let id = texts.len() as i64 - 1;
                                distinct.insert(t.to_owned(), id);
                                id
                            }
                        },
                    });
                }
            }
        }
    }
    if ints && !texts.is_empty() {
        return Err(PyTypeError::new_err(
            "resource must be text in every batch or integer handles in every batch",
        ));
    }
    Ok((
        RbacBatchInput { batches, resource },
        (!ints).then_some(texts),
    ))
}

/// Evaluates prepared Arrow RBAC rows; a row's resource indexes `targets` (the normalised
/// distinct texts, or the caller's handles); a None target is a bad resource.
#[pyfunction]
#[pyo3(signature = (set, input, targets, threads=1))]
fn rbac_run(
    py: Python<'_>,
    set: &Bound<'_, RbacPolicySet>,
    input: &Bound<'_, RbacBatchInput>,
    targets: Vec<Option<Bound<'_, RbacTarget>>>,
    threads: usize,
) -> PyResult<BatchResult> {
    let targets: Vec<Option<Arc<Target>>> = targets
        .into_iter()
        .map(|t| t.map(|t| t.get().inner.clone()))
        .collect();
    let input = input.get();
    let mut starts = Vec::new();
    let mut n = 0usize;
    let (mut user, mut groups, mut action) = (Vec::new(), Vec::new(), Vec::new());
    for b in &input.batches {
        user.push(StrCol::new(column(b, "user"), "user")?);
        groups.push(GroupsCol::new(column(b, "groups"))?);
        action.push(StrCol::new(column(b, "action"), "action")?);
        starts.push(n);
        n += b.num_rows();
    }
    let rows = RbacRows {
        user,
        groups,
        action,
        starts,
        targets: &targets,
        resource: &input.resource,
    };
    let engine = engine_of(set);
    py.detach(|| rbac_collect(engine, n, threads, |i| rows.eval(engine, i)))
}

/// List form: `(user, groups, action, resource_id)` tuples; groups a list or "a,b" string.
type RbacPyRow<'py> = (Option<String>, Bound<'py, PyAny>, Option<String>, i64);
type RbacRow = (Option<String>, Vec<String>, Option<String>, i64);

#[pyfunction]
#[pyo3(signature = (set, rows, targets, threads=1))]
fn rbac_check_rows(
    py: Python<'_>,
    set: &Bound<'_, RbacPolicySet>,
    rows: Vec<RbacPyRow<'_>>,
    targets: Vec<Option<Bound<'_, RbacTarget>>>,
    threads: usize,
) -> PyResult<BatchResult> {
    let targets: Vec<Option<Arc<Target>>> = targets
        .into_iter()
        .map(|t| t.map(|t| t.get().inner.clone()))
        .collect();
    let rows: Vec<RbacRow> = rows
        .into_iter()
        .map(|(u, g, a, r)| {
            let groups = if g.is_none() {
                Vec::new()
            } else if let Ok(s) = g.cast::<PyString>() {
                let s = s.to_cow()?;
                split_groups(Some(&s))
                    .as_slice()
                    .iter()
                    .map(|g| g.to_string())
                    .collect()
            } else {
                g.extract::<Vec<String>>()?
            };
            Ok((u, groups, a, r))
        })
        .collect::<PyResult<_>>()?;
    let engine = engine_of(set);
    py.detach(|| {
        rbac_collect(engine, rows.len(), threads, |i| {
            let (u, g, a, r) = &rows[i];
            let target = match *r {
                -1 => Ok(None),
                r => match usize::try_from(r).ok().and_then(|r| targets.get(r)) {
                    Some(Some(t)) => Ok(Some(t.as_ref())),
                    _ => Err(()),
                },
            };
            let mut groups = Groups::new();
            groups.extend(g.iter().map(String::as_str));
            rbac_row(
                engine,
                u.as_deref(),
                groups.as_slice(),
                a.as_deref(),
                target,
            )
        })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchResult>()?;
    m.add_class::<RbacBatchInput>()?;
    m.add_function(wrap_pyfunction!(rbac_prepare, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_run, m)?)?;
    m.add_function(wrap_pyfunction!(rbac_check_rows, m)?)?;
    Ok(())
}
