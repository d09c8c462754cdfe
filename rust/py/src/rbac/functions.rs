//! Module-level RBAC helpers: §8 texts, R8.1 quoting, the kind registry.

use meshauthz_core::rbac::{denial_text, go_quote, Channel};
use pyo3::prelude::*;

use crate::errors;

/// R8.3 / R8.4: the text shown on `channel` for a reason.
#[pyfunction]
pub fn rbac_denial_text(py: Python<'_>, channel: &str, reason: &str) -> PyResult<String> {
    let ch = Channel::parse(channel).ok_or_else(|| {
        errors::argument(
            py,
            format!("channel must be api or kubernetes-webhook, not {channel:?}"),
        )
    })?;
    Ok(denial_text(ch, reason))
}

/// R8.1 Go `%q`.
#[pyfunction]
pub fn rbac_go_quote(s: &str) -> String {
    go_quote(s)
}

/// The kind registry (R4.3 / R4.4) as `(name, scope, family, namespaced, spec_wrapped)` rows.
#[pyfunction]
pub fn rbac_kinds() -> Vec<(&'static str, &'static str, &'static str, bool, bool)> {
    use meshauthz_core::rbac::{Family, Scope};
    meshauthz_core::rbac::kinds::KINDS
        .iter()
        .map(|k| {
            (
                k.name,
                match k.scope {
                    Scope::Global => "global",
                    Scope::Mesh => "mesh",
                },
                match k.family {
                    Family::TargetRef => "targetRef",
                    Family::LegacyConnection => "legacy-connection",
                    Family::LegacyDataplane => "legacy-dataplane",
                    Family::None => "none",
                },
                k.namespaced,
                k.spec_wrapped,
            )
        })
        .collect()
}
