//! Bindings for tag selector matching and ranks (conformance kinds selector_match, rank_*).

use std::collections::HashMap;

use meshauthz_core::selector::{map_matches, Rank};
use meshauthz_core::traffic::identity::{dataplane_matches_strs, identity_matches_strs};
use pyo3::prelude::*;

/// T2.2 map matcher over plain dicts.
#[pyfunction]
fn selector_matches(selector: HashMap<String, String>, tags: HashMap<String, String>) -> bool {
    map_matches(
        selector.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        |k| tags.get(k).map(String::as_str),
    )
}

/// T2.7 identity matcher: the selector against a client's (key, value) pairs.
#[pyfunction]
fn identity_matches(selector: HashMap<String, String>, pairs: Vec<(String, String)>) -> bool {
    let sel: Vec<(String, String)> = selector.into_iter().collect();
    identity_matches_strs(&sel, &pairs)
}

/// T2.6 dataplane matcher: the selector against some single tag map.
#[pyfunction]
fn dataplane_matches(
    selector: HashMap<String, String>,
    maps: Vec<HashMap<String, String>>,
) -> bool {
    let sel: Vec<(String, String)> = selector.into_iter().collect();
    let maps: Vec<Vec<(String, String)>> =
        maps.into_iter().map(|m| m.into_iter().collect()).collect();
    dataplane_matches_strs(&sel, &maps)
}

/// T3.1 rank of a selector as (exact, wildcard).
#[pyfunction]
fn selector_rank(selector: HashMap<String, String>) -> (u32, u32) {
    let r = Rank::of(selector.values().map(String::as_str));
    (r.exact, r.wildcard)
}

/// T3.2 comparison value of two ranks given as (exact, wildcard).
#[pyfunction]
fn rank_compare(a: (u32, u32), b: (u32, u32)) -> i64 {
    Rank {
        exact: a.0,
        wildcard: a.1,
    }
    .compare_value(&Rank {
        exact: b.0,
        wildcard: b.1,
    })
}

/// Kuma's CombinedWith (informative).
#[pyfunction]
fn rank_combine(a: (u32, u32), b: (u32, u32)) -> (u32, u32) {
    let r = Rank {
        exact: a.0,
        wildcard: a.1,
    }
    .combined_with(&Rank {
        exact: b.0,
        wildcard: b.1,
    });
    (r.exact, r.wildcard)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(identity_matches, m)?)?;
    m.add_function(wrap_pyfunction!(dataplane_matches, m)?)?;
    m.add_function(wrap_pyfunction!(selector_matches, m)?)?;
    m.add_function(wrap_pyfunction!(selector_rank, m)?)?;
    m.add_function(wrap_pyfunction!(rank_compare, m)?)?;
    m.add_function(wrap_pyfunction!(rank_combine, m)?)?;
    Ok(())
}
