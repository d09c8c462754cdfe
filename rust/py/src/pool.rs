//! One rayon pool for every batch, sized to the machine; a caller's `threads` is clamped to it
//! (#12 item 6: no pool per distinct `threads` value, no thread count from user input).

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::errors;

/// The pool's size: the machine's available parallelism.
pub fn size() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The shared pool (None if the OS refused to start threads: batches then run on the caller).
pub fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(size())
            .thread_name(|i| format!("meshauthz-batch-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// `threads=` as given by Python: a positive int (bool refused), clamped to the pool size.
/// Anything else is an `InputError` (never an `OverflowError` / `TypeError`).
pub fn threads(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<PyBool>() {
        return Err(errors::input_error(
            py,
            "threads must be a positive integer, not a bool",
        ));
    }
    let n: i128 = v.extract().map_err(|_| {
        errors::input_error(
            py,
            format!("threads must be a positive integer, not {}", type_name(v)),
        )
    })?;
    if n < 1 {
        return Err(errors::input_error(
            py,
            format!("threads must be >= 1, not {n}"),
        ));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX).min(size()))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// Fills `out[i] = row(i)` with at most `threads` workers of the shared pool (contiguous parts).
pub fn fill<T: Send, R: Fn(usize) -> T + Sync>(out: &mut [T], threads: usize, row: R) {
    fill_with(out, threads, || (), |_, i| row(i));
}

/// As [`fill`], each worker with its own state from `init` (e.g. a memo of decided rows).
pub fn fill_with<T, S, I, R>(out: &mut [T], threads: usize, init: I, row: R)
where
    T: Send,
    I: Fn() -> S + Sync,
    R: Fn(&mut S, usize) -> T + Sync,
{
    let n = out.len();
    match pool() {
        Some(p) if threads > 1 && n >= 2 * 4096 => {
            let part = n.div_ceil(threads);
            let (row, init) = (&row, &init);
            p.scope(|s| {
                for (c, chunk) in out.chunks_mut(part).enumerate() {
                    s.spawn(move |_| {
                        let mut state = init();
                        for (j, slot) in chunk.iter_mut().enumerate() {
                            *slot = row(&mut state, c * part + j);
                        }
                    });
                }
            });
        }
        _ => {
            let mut state = init();
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = row(&mut state, i);
            }
        }
    }
}
