//! The one place where core errors become Python exceptions (`meshauthz/errors.py` classes).
//! Every error the bindings raise is a `meshauthz.MeshauthzError` subclass.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

// ---- RBAC ----------------------------------------------------------------------------------------

use meshauthz_core::rbac::{CheckError, InputError};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("meshauthz.errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// `meshauthz.errors.<class>(*args)` as a `PyErr` (a failure to build it is returned instead).
fn raise<'py, A: IntoPyObject<'py>>(py: Python<'py>, class: &str, args: A) -> PyErr {
    let built = errors_module(py)
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((args,)));
    match built {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// `EvaluationError(message)`: a decision could not be made (fail closed).
pub fn evaluation(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(py, "EvaluationError", message.into())
}

/// An `InputError` subclass with one `Problem(message, code=code)`.
fn input(py: Python<'_>, class: &str, message: String, code: &str) -> PyErr {
    let problem = errors_module(py).and_then(|m| {
        let kw = PyDict::new(py);
        kw.set_item("code", code)?;
        m.getattr("Problem")?.call((message,), Some(&kw))
    });
    match problem {
        Ok(p) => raise(py, class, vec![p]),
        Err(e) => e,
    }
}

/// A check that could not be decided (`context`: "cannot check CREATE", ...).
pub fn check_error(py: Python<'_>, context: &str, e: &CheckError) -> PyErr {
    evaluation(py, format!("{context}: {e}"))
}

/// A resource / token request that cannot be converted while checking.
pub fn target_error(py: Python<'_>, context: &str, e: &InputError) -> PyErr {
    evaluation(py, format!("{context}: {e}"))
}

/// AccessRoles / bindings / configuration that do not compile (R2.1, A14, A17).
pub fn compile_error(py: Python<'_>, e: &InputError) -> PyErr {
    match e {
        InputError::Duplicate { .. } => {
            input(py, "DuplicateResourceError", e.to_string(), "duplicate")
        }
        InputError::UnknownOption { .. } => input(py, "SchemaError", e.to_string(), "rbac"),
        _ => input(py, "ValidationError", e.to_string(), "rbac"),
    }
}

/// A bad argument to an engine call (wrong type, unknown value): `EvaluationError`.
pub fn argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    evaluation(py, message)
}

/// Runs `f` (usually with the GIL released) and turns a panic into an `EvaluationError`: no Rust
/// panic reaches Python as `PanicException` (issue #12 item 3).
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("internal error (no decision made): {what}")
    })
}
