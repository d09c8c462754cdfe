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
    Array, ArrayRef, BooleanArray, DictionaryArray, Int32Array, RecordBatch, StringArray,
    StructArray,
};
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
                values.get(*keys.get(i)?)
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
