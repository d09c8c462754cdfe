//! `RbacTarget`: a pre-normalised target handle (R4), built once and checked many times.

use std::sync::Arc;

use meshauthz_core::rbac::Target;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::convert;
use super::decision::types;
use crate::errors;

/// A pre-normalised target: build once, check many times (hot loops).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct RbacTarget {
    pub(crate) inner: Arc<Target>,
    /// `Target::label`, built once for `AccessDecision.target`.
    pub(crate) label: Py<PyString>,
}

impl RbacTarget {
    pub(crate) fn from_target(py: Python<'_>, t: Arc<Target>) -> RbacTarget {
        RbacTarget {
            label: PyString::new(py, &t.label()).unbind(),
            inner: t,
        }
    }
}

#[pymethods]
impl RbacTarget {
    /// R4 normalisation of a resource document (either form) or a loaded `Resource`.
    #[new]
    pub(crate) fn new(py: Python<'_>, resource: &Bound<'_, PyAny>) -> PyResult<Self> {
        let t = convert::target(types(py)?, resource, false)
            .map_err(|e| errors::target_error(py, "cannot normalise the resource", &e))?;
        Ok(RbacTarget::from_target(py, t))
    }

    /// What `AccessDecision.target` shows for this handle.
    #[getter]
    fn label(&self, py: Python<'_>) -> Py<PyString> {
        self.label.clone_ref(py)
    }

    #[getter]
    fn type_name(&self) -> &str {
        &self.inner.type_name
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    #[getter]
    fn mesh(&self) -> Option<&str> {
        self.inner.mesh.as_deref()
    }

    /// Labels of the coverable elements (R4.5 / R4.6).
    #[getter]
    fn elements(&self) -> Vec<String> {
        self.inner.labels()
    }

    fn __repr__(&self) -> String {
        format!("RbacTarget({})", self.inner.label())
    }
}
