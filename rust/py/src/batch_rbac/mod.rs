//! RBAC batches (issue #6, #11 item 4, #12 items 4 and 9): columns or rows in, a `BatchResult`
//! out, the GIL released for the evaluation. Conversions only: each row is decided by
//! `meshauthz_core::rbac::batch::decide_row`, the same path as a single check; a row that
//! cannot be converted or decided is an `error:*` row (codes from the core enums), never an abort.
//!
//! Columns: `user`, `groups` (list<string> or "a,b"), `action`, `resource` and `old_resource`
//! (JSON text of a document, or integer indices into `targets`), `token_request` (JSON text).

mod arrow;
mod columns;
mod rows;

use std::sync::{Arc, LazyLock};

use meshauthz_core::rbac::batch::{RowMemo, RowOutcome};
use meshauthz_core::rbac::{Engine, ReasonCode, RowError, Target};
use pyo3::prelude::*;

use crate::batch::{BatchResult, Dict};
use crate::errors;
use crate::pool;
use crate::rbac::convert;
use crate::rbac::decision::types;
use crate::rbac::RbacPolicySet;

pub(crate) static REASONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    ReasonCode::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(RowError::ALL.iter().map(|e| e.as_str()))
        .collect()
});

fn code(o: &RowOutcome) -> i32 {
    match o.code {
        Ok(c) => c as i32,
        Err(e) => (ReasonCode::ALL.len() + e as usize) as i32,
    }
}

// ---- evaluation --------------------------------------------------------------------------------

/// One worker's scratch state: the subject ids of the current row and the memo of decided rows
/// (`meshauthz_core::rbac::batch::RowMemo`).
pub(super) struct Worker {
    pub(super) ids: Vec<u32>,
    pub(super) memo: RowMemo,
    /// Arrow rows by their cells' dictionary keys / target entries → (a row with those cells,
    /// its outcome); `arrow::Cols::row`.
    pub(super) rows: ahash::AHashMap<[u32; 4], (usize, RowOutcome)>,
}

/// Bound of `Worker::rows` (cleared when reached).
pub(super) const ROWS_CAPACITY: usize = 1 << 16;

/// Evaluates `n` rows on the shared rayon pool (`threads` ≤ 1: this thread); a panic becomes an
/// error (no `PanicException` reaches Python).
pub(super) fn run(
    n: usize,
    threads: usize,
    row: impl Fn(usize, &mut Worker) -> RowOutcome + Sync,
) -> Result<Vec<RowOutcome>, String> {
    errors::contain(|| {
        let mut out = vec![RowOutcome::error(RowError::BadRow); n];
        // The one shared pool (pool.rs, #12 item 6): no pool per call, `threads` clamped to it.
        pool::fill_with(
            &mut out,
            threads.min(pool::size()),
            || Worker {
                ids: Vec::with_capacity(8),
                memo: RowMemo::default(),
                rows: ahash::AHashMap::default(),
            },
            |w, i| row(i, w),
        );
        out
    })
}

fn collect(engine: &Engine, outcomes: Vec<RowOutcome>) -> BatchResult {
    let n = outcomes.len();
    let mut res = BatchResult {
        allowed: Vec::with_capacity(n),
        reason: Vec::with_capacity(n),
        policy: Vec::with_capacity(n),
        policies: Dict::default(),
        vocab: &REASONS,
    };
    // Role id → dictionary id, resolved once per distinct role.
    let mut ids: Vec<i32> = Vec::new();
    for o in outcomes {
        res.allowed.push(o.allowed);
        res.reason.push(code(&o));
        let id = match (o.role, engine) {
            (Some(p), Engine::Rbac { set, .. }) => {
                let p = p as usize;
                if ids.len() <= p {
                    ids.resize(p + 1, -2);
                }
                match ids.get(p).copied() {
                    Some(-2) | None => {
                        let d = res.policies.id(set.role_name(p as u32));
                        if let Some(slot) = ids.get_mut(p) {
                            *slot = d;
                        }
                        d
                    }
                    Some(d) => d,
                }
            }
            _ => -1,
        };
        res.policy.push(id);
    }
    res
}

fn handles(py: Python<'_>, targets: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Arc<Target>>>> {
    let types = types(py)?;
    if targets.is_none() {
        return Ok(Vec::new());
    }
    let items: Vec<Bound<'_, PyAny>> = targets
        .try_iter()
        .map_err(|_| errors::argument(py, "targets must be a sequence of RbacTarget handles"))?
        .collect::<PyResult<_>>()?;
    Ok(items
        .iter()
        .map(|t| convert::target(types, t, true).ok())
        .collect())
}

/// RBAC decisions for every row of `data` (Arrow or a list of rows); `targets`: the handles (or
/// documents) integer `resource` / `old_resource` cells index.
#[pyfunction]
#[pyo3(signature = (set, data, targets=None, threads=1))]
fn rbac_check_batch(
    py: Python<'_>,
    set: &Bound<'_, RbacPolicySet>,
    data: &Bound<'_, PyAny>,
    targets: Option<&Bound<'_, PyAny>>,
    threads: usize,
) -> PyResult<BatchResult> {
    let engine = &set.get().engine;
    let handles = match targets {
        Some(t) => handles(py, t)?,
        None => Vec::new(),
    };
    let arrow = data.hasattr("__arrow_c_stream__")? || data.hasattr("__arrow_c_array__")?;
    let outcomes = if arrow {
        arrow::check_arrow(py, engine, data, &handles, threads)?
    } else {
        rows::check_rows(py, engine, data, &handles, threads)?
    };
    Ok(collect(engine, outcomes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rbac_check_batch, m)?)?;
    Ok(())
}
