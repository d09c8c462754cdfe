//! The one place where core errors become Python exceptions: the classes of
//! `meshauthz/errors.py` (every error the bindings raise is a `MeshauthzError` subclass), and where
//! panics are contained (issue #12 item 3: no `PanicException` reaches Python).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

use meshauthz_core::bundle::SetsError;
use meshauthz_core::rbac::{CheckError, InputError};
use meshauthz_core::traffic::policy_set::TrafficError;

// ---- shared --------------------------------------------------------------------------------------

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE.get_or_try_init(py, || py.import("meshauthz.errors").map(Bound::unbind))?;
    Ok(m.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// `meshauthz.errors.<name>(arg)` as a `PyErr` (a failure to build it is returned instead).
fn build<'py, A: IntoPyObject<'py>>(py: Python<'py>, name: &str, arg: A) -> PyErr {
    match class(py, name).and_then(|c| c.call1((arg,))) {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// An `InputError` subclass `name` with one `Problem(message, file=file, code=code)`.
fn problem(
    py: Python<'_>,
    name: &str,
    message: String,
    file: Option<&str>,
    code: Option<&str>,
) -> PyErr {
    let built = class(py, "Problem").and_then(|p| {
        let kw = PyDict::new(py);
        if let Some(file) = file {
            kw.set_item("file", file)?;
        }
        if let Some(code) = code {
            kw.set_item("code", code)?;
        }
        p.call((message,), Some(&kw))
    });
    match built.and_then(|p| PyList::new(py, [p])) {
        Ok(list) => build(py, name, list),
        Err(e) => e,
    }
}

/// `EvaluationError(message)`: a decision could not be made (fail closed).
pub fn evaluation(py: Python<'_>, message: impl Into<String>) -> PyErr {
    build(py, "EvaluationError", message.into())
}

/// `NotFoundError(message)`: a named thing does not exist.
pub fn not_found(py: Python<'_>, message: impl Into<String>) -> PyErr {
    build(py, "NotFoundError", message.into())
}

/// `InputError([Problem(message, file="<query>")])`: bad user input to a query.
pub fn input_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    problem(py, "InputError", message.into(), Some("<query>"), None)
}

/// A bad argument to an engine call (wrong type, unknown value): `EvaluationError`.
pub fn argument(py: Python<'_>, message: impl Into<String>) -> PyErr {
    evaluation(py, message)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `f` (usually with the GIL released) and turns a panic into an error text; the caller maps
/// it with [`evaluation`] once it holds the GIL again.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        format!(
            "internal error (no decision made): {}",
            panic_text(p.as_ref())
        )
    })
}

/// Runs `f` and turns a panic into `EvaluationError`.
pub fn contained<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(evaluation(
            py,
            format!(
                "internal error while evaluating: {}",
                panic_text(payload.as_ref())
            ),
        )),
    }
}

/// As [`contained`], with the GIL released for `f`.
pub fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> PyResult<T> + Send) -> PyResult<T> {
    let r = py.detach(|| catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(p.as_ref())));
    match r {
        Ok(r) => r,
        Err(what) => Err(evaluation(
            py,
            format!("internal error while evaluating: {what}"),
        )),
    }
}

// ---- RBAC ----------------------------------------------------------------------------------------

/// Text reaches the core as UTF-8: a `UnicodeError` raised while reading a name, action or
/// document (a lone surrogate) becomes `EvaluationError` like any other bad value (#12 item 9;
/// `Authorizer.check` is this native method itself, so no Python wrapper maps it).
pub fn text_only(py: Python<'_>, e: PyErr) -> PyErr {
    if e.is_instance_of::<pyo3::exceptions::PyUnicodeError>(py) {
        evaluation(
            py,
            "names, actions and documents must be valid UTF-8 text (no lone surrogates)",
        )
    } else {
        e
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
    let message = e.to_string();
    match e {
        InputError::Duplicate { .. } => problem(
            py,
            "DuplicateResourceError",
            message,
            None,
            Some("duplicate"),
        ),
        InputError::UnknownOption { .. } => problem(py, "SchemaError", message, None, Some("rbac")),
        _ => problem(py, "ValidationError", message, None, Some("rbac")),
    }
}

// ---- traffic (TrafficPermission / MeshTrafficPermission) -----------------------------------------

/// `TrafficError` -> the `meshauthz.errors` class callers catch.
pub fn traffic(py: Python<'_>, e: TrafficError) -> PyErr {
    let message = e.to_string();
    match e {
        TrafficError::UnknownMesh(_)
        | TrafficError::UnknownDataplane { .. }
        | TrafficError::UnknownExternalService { .. } => not_found(py, message),
        TrafficError::Ambiguous { .. } | TrafficError::Invalid(_) => input_error(py, message),
        TrafficError::Duplicate(_) | TrafficError::Rules(_) => evaluation(py, message),
    }
}

// ---- bundles -------------------------------------------------------------------------------------

/// A compiled section that cannot be used: `BundleError` (every malformed bundle is one).
pub fn bundle(py: Python<'_>, e: SetsError) -> PyErr {
    build(py, "BundleError", e.to_string())
}
