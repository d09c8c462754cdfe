//! `TrafficEngine.check` itself (`TrafficChecker.check`): one call into Rust for the common form.

use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::errors;
use crate::traffic::TrafficSnapshot;

// ---- the engine's `check` ---------------------------------------------------------------------

struct CheckState {
    store: Py<PyAny>,
    version: i64,
    core: Py<TrafficSnapshot>,
}

/// `TrafficEngine.check` itself: one call from Python into Rust for the common query
/// (`source` a dataplane name or `NON_MESH`, `destination` a `(dataplane, port)` tuple). It
/// compares the store's version with its snapshot's (a stale snapshot, or any other argument
/// form, goes through `engine._check_any`, which recompiles / normalises in Python).
#[pyclass(frozen, module = "meshauthz._core")]
pub struct TrafficChecker {
    state: std::sync::RwLock<CheckState>,
    /// The engine (for the other argument forms); a cycle engine -> check -> engine that the
    /// garbage collector sees through `__traverse__` / `__clear__`.
    engine: std::sync::Mutex<Option<Py<PyAny>>>,
    non_mesh: Py<PyAny>,
}

#[pymethods]
impl TrafficChecker {
    #[new]
    fn new(
        engine: Py<PyAny>,
        non_mesh: Py<PyAny>,
        store: Py<PyAny>,
        version: i64,
        core: Py<TrafficSnapshot>,
    ) -> Self {
        TrafficChecker {
            state: std::sync::RwLock::new(CheckState {
                store,
                version,
                core,
            }),
            engine: std::sync::Mutex::new(Some(engine)),
            non_mesh,
        }
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Ok(engine) = self.engine.try_lock() {
            if let Some(e) = engine.as_ref() {
                visit.call(e)?;
            }
        }
        if let Ok(st) = self.state.try_read() {
            visit.call(&st.store)?;
            visit.call(&st.core)?;
        }
        visit.call(&self.non_mesh)
    }

    fn __clear__(&self) {
        if let Ok(mut engine) = self.engine.lock() {
            *engine = None;
        }
    }

    /// Installs a new snapshot (after `refresh` / `reload`).
    fn _set(&self, store: Py<PyAny>, version: i64, core: Py<TrafficSnapshot>) {
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        *st = CheckState {
            store,
            version,
            core,
        };
    }

    #[pyo3(signature = (*, source, destination, mesh = None))]
    fn check<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        destination: &Bound<'py, PyAny>,
        mesh: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (store, version, core) = {
            let st = self.state.read().unwrap_or_else(|e| e.into_inner());
            (st.store.clone_ref(py), st.version, st.core.clone_ref(py))
        };
        let current: i64 = store
            .bind(py)
            .getattr(pyo3::intern!(py, "version"))?
            .extract()?;
        let non_mesh = source.is(self.non_mesh.bind(py));
        let mesh_str = match mesh {
            None => Some(None),
            Some(m) if m.is_none() => Some(None),
            Some(m) => m.cast::<PyString>().ok().map(Some),
        };
        let fast = current == version
            && destination.is_exact_instance_of::<PyTuple>()
            && (non_mesh || source.is_exact_instance_of::<PyString>());
        match (fast, mesh_str) {
            (true, Some(m)) => {
                let none = py.None().into_bound(py);
                let src = if non_mesh { &none } else { source };
                let d = core.get().check_obj(py, src, destination, m)?;
                Ok(Bound::new(py, d)?.into_any())
            }
            _ => {
                let engine = self
                    .engine
                    .lock()
                    .ok()
                    .and_then(|e| e.as_ref().map(|e| e.clone_ref(py)))
                    .ok_or_else(|| errors::evaluation(py, "the engine of this check is gone"))?
                    .into_bound(py);
                engine.call_method1(
                    pyo3::intern!(py, "_check_any"),
                    (
                        source,
                        destination,
                        mesh.map_or_else(|| py.None().into_bound(py), Clone::clone),
                    ),
                )
            }
        }
    }
}
