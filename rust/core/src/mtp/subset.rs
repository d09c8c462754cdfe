//! M6.5 subset algebra (Kuma `subsetutils`): subsets are conjunctions of positive (`k=v`) and
//! negated (`k!=v`) tag requirements.

use std::collections::{BTreeMap, BTreeSet};

use super::TargetRef;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag {
    pub key: String,
    pub value: String,
    pub not: bool,
}

impl Tag {
    pub fn pos(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
            not: false,
        }
    }
    pub fn neg(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
            not: true,
        }
    }
    /// Parse the vector encoding `k=v` / `k!=v`.
    pub fn parse(s: &str) -> Option<Tag> {
        if let Some((k, v)) = s.split_once("!=") {
            return Some(Tag::neg(k, v));
        }
        s.split_once('=').map(|(k, v)| Tag::pos(k, v))
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.key,
            if self.not { "!=" } else { "=" },
            self.value
        )
    }
}

pub type Subset = Vec<Tag>;

/// M6.5 `ContainsElement` for a single-valued element.
pub fn contains(ss: &[Tag], element: &BTreeMap<String, String>) -> bool {
    if ss.is_empty() {
        return true;
    }
    if element.is_empty() {
        return false;
    }
    ss.iter().all(|t| match element.get(&t.key) {
        Some(v) => (v == &t.value) != t.not,
        None => t.not,
    })
}

/// Envoy's view of a rule (A3/A4): positive `(k, v)` needs that SAN, negated `(k, v)` needs its absence.
/// Equals [`contains`] for non-empty single-valued identities.
pub fn contains_identity(ss: &[Tag], identity: &BTreeSet<(String, String)>) -> bool {
    ss.iter()
        .all(|t| identity.contains(&(t.key.clone(), t.value.clone())) != t.not)
}

/// M6.5 `IsSubset`: is `s2` a subset of `s1`.
pub fn is_subset(s1: &[Tag], s2: &[Tag]) -> bool {
    if s1.is_empty() {
        return true;
    }
    s1.iter().all(|t1| {
        let mut same = s2.iter().filter(|t2| t2.key == t1.key).peekable();
        same.peek().is_some()
            && same.all(|t2| match (t1.not, t2.not) {
                (a, b) if a == b => t1.value == t2.value,
                (true, false) => t1.value != t2.value,
                _ => false,
            })
    })
}

/// M6.4.2: two subsets intersect unless some key has positive requirements with different values.
pub fn intersect(s1: &[(String, String)], s2: &[(String, String)]) -> bool {
    !s1.iter()
        .any(|(k1, v1)| s2.iter().any(|(k2, v2)| k1 == k2 && v1 != v2))
}

/// M6.4.4 `SubsetIter`: dimensions = keys in first-appearance order, values in appearance order
/// (callers sort first); odometer with the first dimension fastest.
pub fn iter(tags: &[Tag]) -> Vec<Subset> {
    let mut dims: Vec<(String, Vec<String>)> = Vec::new();
    for t in tags {
        match dims.iter_mut().find(|(k, _)| *k == t.key) {
            Some((_, vals)) if !vals.contains(&t.value) => vals.push(t.value.clone()),
            Some(_) => {}
            None => dims.push((t.key.clone(), vec![t.value.clone()])),
        }
    }
    let emit = |digits: &[usize]| -> Subset {
        let mut out = Vec::new();
        for ((k, vals), &d) in dims.iter().zip(digits) {
            // digit d < len: the d-th value from the end; d == len: all values negated
            match vals.iter().rev().nth(d) {
                Some(v) => out.push(Tag::pos(k, v)),
                None => out.extend(vals.iter().map(|v| Tag::neg(k, v))),
            }
        }
        out
    };
    let mut digits = vec![0usize; dims.len()];
    let mut out = Vec::new();
    loop {
        let mut overflow = true;
        for (digit, (_, vals)) in digits.iter_mut().zip(&dims) {
            *digit += 1;
            if *digit <= vals.len() {
                overflow = false;
                break;
            }
            *digit = 0;
        }
        out.push(emit(&digits));
        if overflow {
            return out; // the all-zero state was emitted last
        }
    }
}

/// Number of subsets [`iter`] yields for `tags` (saturating), to bound work before enumerating.
pub fn iter_len(tags: &[Tag]) -> usize {
    let mut dims: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in tags {
        dims.entry(&t.key).or_default().insert(&t.value);
    }
    dims.values()
        .fold(1usize, |acc, v| acc.saturating_mul(v.len() + 1))
}

/// M5.2: the client subset of a `from` item as positive (key, value) requirements, sorted.
/// `MeshServiceSubset` keeps a second `kuma.io/service` requirement from `tags` (matches nobody if
/// it differs). Unknown kinds (unreachable after validation) match nobody.
pub fn from_item_subset(tr: &TargetRef) -> Vec<(String, String)> {
    let svc = || ("kuma.io/service".to_string(), tr.name.clone());
    let mut out: Vec<(String, String)> = match tr.kind.as_str() {
        "Mesh" => Vec::new(),
        "MeshSubset" => tr
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        "MeshService" => vec![svc()],
        "MeshServiceSubset" => std::iter::once(svc())
            .chain(tr.tags.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect(),
        // Match nobody: a requirement no identity can carry (keys cannot contain '!').
        _ => vec![("!unsupported".to_string(), tr.kind.clone())],
    };
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ss(tags: &[&str]) -> Subset {
        tags.iter().map(|s| Tag::parse(s).unwrap()).collect()
    }
    fn el(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn m6_5_contains() {
        assert!(contains(
            &ss(&["key1=val1"]),
            &el(&[("key1", "val1"), ("key2", "val2")])
        ));
        assert!(!contains(&ss(&["key1=val1"]), &el(&[])));
        assert!(contains(&ss(&[]), &el(&[])));
        assert!(contains(
            &ss(&["key1!=val1", "key2!=val2", "key3=val3"]),
            &el(&[("key3", "val3"), ("key4", "val4")])
        ));
        assert!(!contains(&ss(&["k!=v"]), &el(&[("k", "v")])));
        assert!(contains(&ss(&["k!=v"]), &el(&[("other", "x")])));
    }

    #[test]
    fn m6_5_is_subset() {
        assert!(!is_subset(
            &ss(&["service=backend"]),
            &ss(&["service!=frontend", "version=v2"])
        ));
        assert!(is_subset(
            &ss(&["service=backend"]),
            &ss(&["service=backend", "version=v2"])
        ));
        assert!(is_subset(
            &ss(&["service!=frontend"]),
            &ss(&["service=backend"])
        ));
        assert!(is_subset(&ss(&[]), &ss(&["a=b"])));
        assert!(!is_subset(&ss(&["a=b"]), &ss(&[])));
    }

    #[test]
    fn m6_4_2_intersect_ignores_keys_on_one_side() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(intersect(&[p("a", "1")], &[p("b", "2")]));
        assert!(!intersect(&[p("a", "1")], &[p("a", "2")]));
        assert!(intersect(&[], &[p("a", "2")]));
    }

    #[test]
    fn m6_4_4_odometer_order() {
        let got: Vec<Vec<String>> = iter(&ss(&["zone=us-east", "env=dev", "env=prod"]))
            .into_iter()
            .map(|s| s.iter().map(Tag::to_string).collect())
            .collect();
        let want = [
            vec!["zone!=us-east", "env=prod"],
            vec!["zone=us-east", "env=dev"],
            vec!["zone!=us-east", "env=dev"],
            vec!["zone=us-east", "env!=dev", "env!=prod"],
            vec!["zone!=us-east", "env!=dev", "env!=prod"],
            vec!["zone=us-east", "env=prod"],
        ];
        assert_eq!(got, want);
        assert_eq!(iter_len(&ss(&["zone=us-east", "env=dev", "env=prod"])), 6);
        assert_eq!(iter(&[]), vec![Vec::<Tag>::new()]);
    }

    #[test]
    fn m5_2_mesh_service_subset_keeps_second_service() {
        let tr = TargetRef {
            kind: "MeshServiceSubset".into(),
            name: "a".into(),
            tags: el(&[("kuma.io/service", "b")]),
            ..TargetRef::default()
        };
        assert_eq!(from_item_subset(&tr).len(), 2);
    }
}
