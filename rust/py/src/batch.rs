//! Batch APIs (issue #6): columnar input in, columns out, the GIL released for the whole batch.
//!
//! Input: any object with `__arrow_c_stream__` / `__arrow_c_array__` (read zero-copy through
//! arrow-pyarrow's PyCapsule import), int64 id buffers (numpy, one memcpy), or a list of
//! tuples / dicts (strings interned by object identity while the GIL is held).
//! Output: [`BatchResult`], which exports `__arrow_c_array__` itself (no pyarrow needed).
//! Bad rows become `error:*` reason codes; nothing raises once evaluation starts.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray, StructArray,
};
use arrow_buffer::{ArrowNativeType, ScalarBuffer};
use arrow_pyarrow::FromPyArrow;
use arrow_schema::{DataType, Field};
use meshauthz_core::traffic::batch::RowError;
use meshauthz_core::traffic::Reason;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

// ---- output ------------------------------------------------------------------------------------

/// Row errors raised in the bindings rather than by the traffic core.
const BINDING_ERRORS: &[&str] = &["error:invalid"];

/// The reason dictionary of traffic batch results, with fixed positions: the traffic reasons and
/// the traffic row errors come from their enums in discriminant order (so their code is an
/// offset), then the bindings' own errors. The last entry is the catch-all. (RBAC results carry
/// their own dictionary: `batch_rbac::REASONS`.)
pub(crate) static REASONS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        Reason::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(RowError::ALL.iter().map(|e| e.as_str()))
            .chain(BINDING_ERRORS.iter().copied())
            .collect()
    });

/// Position of the first traffic row error in `REASONS`.
const ROW_ERROR_BASE: usize = Reason::ALL.len();

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
            .map(|&p| {
                let name = usize::try_from(p)
                    .ok()
                    .and_then(|p| self.policies.names.get(p));
                name.map(String::as_str)
            })
            .collect()
    }
}

// ---- columns -----------------------------------------------------------------------------------

/// A string column: utf8, large_utf8, utf8_view or a dictionary of those (any integer keys).
/// Typed once per batch (no downcast per row); dictionary keys are read in place.
pub(crate) enum StrCol {
    Absent,
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
    /// The dictionary column (for its nulls), its keys read in place + the values column.
    Dict(ArrayRef, DictKeys, Box<StrCol>),
}

/// A dictionary column's keys, any integer type, read in place: no normalised copy of the keys
/// per batch (a 1 M-row batch used to allocate and fault in 8 MB per dictionary column).
pub(crate) enum DictKeys {
    I8(ScalarBuffer<i8>),
    I16(ScalarBuffer<i16>),
    I32(ScalarBuffer<i32>),
    I64(ScalarBuffer<i64>),
    U8(ScalarBuffer<u8>),
    U16(ScalarBuffer<u16>),
    U32(ScalarBuffer<u32>),
    U64(ScalarBuffer<u64>),
}

impl DictKeys {
    fn new(keys: &dyn Array) -> Option<DictKeys> {
        Some(match keys.data_type() {
            DataType::Int8 => DictKeys::I8(keys.as_primitive_opt::<Int8Type>()?.values().clone()),
            DataType::Int16 => {
                DictKeys::I16(keys.as_primitive_opt::<Int16Type>()?.values().clone())
            }
            DataType::Int32 => {
                DictKeys::I32(keys.as_primitive_opt::<Int32Type>()?.values().clone())
            }
            DataType::Int64 => {
                DictKeys::I64(keys.as_primitive_opt::<Int64Type>()?.values().clone())
            }
            DataType::UInt8 => DictKeys::U8(keys.as_primitive_opt::<UInt8Type>()?.values().clone()),
            DataType::UInt16 => {
                DictKeys::U16(keys.as_primitive_opt::<UInt16Type>()?.values().clone())
            }
            DataType::UInt32 => {
                DictKeys::U32(keys.as_primitive_opt::<UInt32Type>()?.values().clone())
            }
            DataType::UInt64 => {
                DictKeys::U64(keys.as_primitive_opt::<UInt64Type>()?.values().clone())
            }
            _ => return None,
        })
    }

    /// Row `i`'s key (`None` out of range or negative; the caller checks nulls first).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<usize> {
        fn at<T: ArrowNativeType + TryInto<usize>>(b: &ScalarBuffer<T>, i: usize) -> Option<usize> {
            b.as_ref().get(i).and_then(|k| (*k).try_into().ok())
        }
        match self {
            DictKeys::I8(b) => at(b, i),
            DictKeys::I16(b) => at(b, i),
            DictKeys::I32(b) => at(b, i),
            DictKeys::I64(b) => at(b, i),
            DictKeys::U8(b) => at(b, i),
            DictKeys::U16(b) => at(b, i),
            DictKeys::U32(b) => at(b, i),
            DictKeys::U64(b) => at(b, i),
        }
    }
}

impl StrCol {
    pub(crate) fn new(a: Option<&ArrayRef>, what: &str) -> PyResult<StrCol> {
        let Some(a) = a else {
            return Ok(StrCol::Absent);
        };
        let typed = |ok: Option<StrCol>| {
            ok.ok_or_else(|| {
                PyTypeError::new_err(format!("column {what:?} has an unreadable string layout"))
            })
        };
        Ok(match a.data_type() {
            DataType::Null => StrCol::Absent,
            DataType::Utf8 => typed(a.as_string_opt::<i32>().cloned().map(StrCol::Utf8))?,
            DataType::LargeUtf8 => typed(a.as_string_opt::<i64>().cloned().map(StrCol::Large))?,
            DataType::Utf8View => typed(a.as_string_view_opt().cloned().map(StrCol::View))?,
            DataType::Dictionary(_, _) => {
                let d = a.as_any_dictionary();
                if d.values().is_empty() {
                    return Ok(StrCol::Absent); // every key null
                }
                let values = d.values().clone();
                let keys = DictKeys::new(d.keys()).ok_or_else(|| {
                    PyTypeError::new_err(format!(
                        "column {what:?} must have integer dictionary keys"
                    ))
                })?;
                StrCol::Dict(a.clone(), keys, Box::new(StrCol::new(Some(&values), what)?))
            }
            t => {
                return Err(PyTypeError::new_err(format!(
                    "column {what:?} must be a string column, not {t}"
                )))
            }
        })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Absent => None,
            StrCol::Utf8(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::Large(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::View(a) => (i < a.len() && a.is_valid(i)).then(|| a.value(i)),
            StrCol::Dict(a, keys, values) => {
                if a.is_null(i) {
                    return None;
                }
                keys.get(i).and_then(|k| values.get(k))
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BatchResult>()?;
    Ok(())
}
