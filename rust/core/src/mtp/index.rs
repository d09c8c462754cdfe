//! Selection index (M4 pre-filter): policies bucketed by a necessary condition of their top-level
//! targetRef, so selecting an inbound looks at a superset of the selecting policies instead of all
//! of them. Every candidate is still checked with [`super::select::selects`]: the index only prunes.

use std::collections::HashMap;

use super::{MtpDataplane, MtpInbound, MtpPolicy};

const SERVICE: &str = "kuma.io/service";
const WILDCARD: &str = "*";

type PairMap = HashMap<String, HashMap<String, Vec<usize>>>;

/// Where one policy is filed: the key it requires of every inbound / Dataplane it selects.
#[derive(Debug, PartialEq, Eq)]
enum Bucket<'a> {
    /// Selects nothing whatever the Dataplane (shadow M2.7, unknown kind M4.6, nameless MeshService).
    Never,
    /// No cheap necessary condition: always a candidate.
    Any,
    /// Needs inbound tag `kuma.io/service` equal to this value.
    Service(&'a str),
    /// Needs this exact inbound tag pair.
    Tag(&'a str, &'a str),
    /// `Dataplane` ref by name: needs this Dataplane display name.
    DpName(&'a str),
    /// `Dataplane` ref by labels: needs this exact Dataplane label pair.
    DpLabel(&'a str, &'a str),
}

fn exact_pair(map: &super::Labels) -> Option<(&str, &str)> {
    map.iter()
        .find(|(_, v)| v.as_str() != WILDCARD)
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

fn bucket(p: &MtpPolicy) -> Bucket<'_> {
    if p.is_shadow() {
        return Bucket::Never;
    }
    let tr = &p.target_ref;
    match tr.kind.as_str() {
        "Mesh" | "" => Bucket::Any,
        "MeshSubset" => exact_pair(&tr.tags).map_or(Bucket::Any, |(k, v)| Bucket::Tag(k, v)),
        "MeshService" if tr.name.is_empty() => Bucket::Never,
        "MeshService" => Bucket::Service(&tr.name),
        "MeshServiceSubset" if tr.name.is_empty() => Bucket::Never,
        // A `kuma.io/service` key in `tags` replaces the name (see `select::selects`).
        "MeshServiceSubset" => match tr.tags.get(SERVICE) {
            None => Bucket::Service(&tr.name),
            Some(v) if v != WILDCARD => Bucket::Service(v),
            Some(_) => exact_pair(&tr.tags).map_or(Bucket::Any, |(k, v)| Bucket::Tag(k, v)),
        },
        "Dataplane" if !tr.name.is_empty() => Bucket::DpName(&tr.name),
        "Dataplane" if tr.namespace.is_empty() => tr
            .labels
            .iter()
            .next()
            .map_or(Bucket::Any, |(k, v)| Bucket::DpLabel(k, v)),
        "Dataplane" => Bucket::Any,
        _ => Bucket::Never,
    }
}

/// `map[key].push(i)`, allocating the key only when it is new.
fn push(map: &mut HashMap<String, Vec<usize>>, key: &str, i: usize) {
    match map.get_mut(key) {
        Some(ids) => ids.push(i),
        None => {
            map.insert(key.to_string(), vec![i]);
        }
    }
}

fn push_pair(map: &mut PairMap, k: &str, v: &str, i: usize) {
    match map.get_mut(k) {
        Some(values) => push(values, v, i),
        None => {
            push(map.entry(k.to_string()).or_default(), v, i);
        }
    }
}

fn get_pair<'m>(map: &'m PairMap, k: &str, v: &str) -> &'m [usize] {
    map.get(k).and_then(|m| m.get(v)).map_or(&[], Vec::as_slice)
}

/// The policies of one mesh, bucketed.
#[derive(Debug, Default)]
pub(crate) struct MeshIndex {
    any: Vec<usize>,
    by_service: HashMap<String, Vec<usize>>,
    by_tag: PairMap,
    by_dp_name: HashMap<String, Vec<usize>>,
    by_dp_label: PairMap,
}

impl MeshIndex {
    pub(crate) fn add(&mut self, p: &MtpPolicy, i: usize) {
        match bucket(p) {
            Bucket::Never => {}
            Bucket::Any => self.any.push(i),
            Bucket::Service(s) => push(&mut self.by_service, s, i),
            Bucket::Tag(k, v) => push_pair(&mut self.by_tag, k, v, i),
            Bucket::DpName(n) => push(&mut self.by_dp_name, n, i),
            Bucket::DpLabel(k, v) => push_pair(&mut self.by_dp_label, k, v, i),
        }
    }

    /// A superset of the policies of this mesh selecting `inbound` of `dp`; each at most once
    /// (a policy is filed under one key, and a map holds one value per key).
    pub(crate) fn candidates(&self, dp: &MtpDataplane, inbound: &MtpInbound) -> Vec<usize> {
        let mut out = self.any.clone();
        if let Some(ids) = inbound
            .tags
            .get(SERVICE)
            .and_then(|s| self.by_service.get(s))
        {
            out.extend_from_slice(ids);
        }
        for (k, v) in &inbound.tags {
            out.extend_from_slice(get_pair(&self.by_tag, k, v));
        }
        if let Some(ids) = self.by_dp_name.get(dp.display_name()) {
            out.extend_from_slice(ids);
        }
        for (k, v) in &dp.labels {
            out.extend_from_slice(get_pair(&self.by_dp_label, k, v));
        }
        out
    }
}
