//! The one place where core errors become Python exceptions: the classes of
//! `meshauthz/errors.py` (every public error is a `MeshauthzError` subclass).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || py.import("meshauthz.errors").map(Bound::unbind))?;
    Ok(m.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

fn build(py: Python<'_>, name: &str, arg: Bound<'_, PyAny>) -> PyErr {
    match class(py, name).and_then(|c| c.call1((arg,))) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// `InputError([Problem(message, file="<query>")])`: bad user input to a query.
pub fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    let problem = class(py, "Problem").and_then(|p| {
        let kw = PyDict::new(py);
        kw.set_item("file", "<query>")?;
        p.call((message.into(),), Some(&kw))
    });
    match problem.and_then(|p| PyList::new(py, [p])) {
        Ok(list) => build(py, "InputError", list.into_any()),
        Err(e) => e,
    }
}

/// `NotFoundError(message)`: a named thing does not exist.
pub fn not_found(py: Python<'_>, message: impl Into<String>) -> PyErr {
    build(
        py,
        "NotFoundError",
        message
            .into()
            .into_pyobject(py)
            .map_or_else(|_| py.None().into_bound(py), |s| s.into_any()),
    )
}

/// `EvaluationError(message)`: a decision could not be made (fail closed).
pub fn evaluation_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    build(
        py,
        "EvaluationError",
        message
            .into()
            .into_pyobject(py)
            .map_or_else(|_| py.None().into_bound(py), |s| s.into_any()),
    )
}

/// A panic caught at an entry point: an `EvaluationError`, never a `PanicException`.
pub fn panicked(py: Python<'_>, payload: &(dyn std::any::Any + Send)) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    evaluation_error(py, format!("internal error while evaluating: {what}"))
}

/// Runs `f` (usually with the GIL released) and turns a panic into `EvaluationError`.
pub fn contained<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panicked(py, payload.as_ref())),
    }
}

/// As [`contained`], with the GIL released for `f`.
pub fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> PyResult<T> + Send) -> PyResult<T> {
    let r = py.detach(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            what
        })
    });
    match r {
        Ok(r) => r,
        Err(what) => Err(evaluation_error(
            py,
            format!("internal error while evaluating: {what}"),
        )),
    }
}

// ---- traffic (TrafficPermission / MeshTrafficPermission) -------------------------------------

use meshauthz_core::traffic::policy_set::TrafficError;

/// `TrafficError` -> the `meshauthz.errors` class callers catch.
pub fn traffic(py: Python<'_>, e: TrafficError) -> PyErr {
    let message = e.to_string();
    match e {
        TrafficError::UnknownMesh(_)
        | TrafficError::UnknownDataplane { .. }
        | TrafficError::UnknownExternalService { .. } => not_found(py, message),
        TrafficError::Ambiguous { .. } | TrafficError::Invalid(_) => input_error(py, message),
        TrafficError::Duplicate(_) | TrafficError::Rules(_) => evaluation_error(py, message),
    }
}
