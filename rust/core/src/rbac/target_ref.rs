//! R5.7 TargetRef matching (A3): kind equality, set fields equal, maps by containment, lists by
//! inclusion; no wildcards (`*` is an ordinary character).

use std::fmt;

/// A TargetRef split by value shape. Fields are kept sorted by name for deterministic output.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetRef {
    pub kind: String,
    /// Scalar fields (`name`, `namespace`, `sectionName`, `mesh`, ...), compared by string equality.
    pub scalars: Vec<(String, String)>,
    /// Map fields (`tags`, `labels`): qualifier map ⊆ policy map.
    pub maps: Vec<(String, Vec<(String, String)>)>,
    /// List fields (`proxyTypes`): policy list non-empty and ⊆ qualifier list.
    pub lists: Vec<(String, Vec<String>)>,
}

impl TargetRef {
    pub fn of_kind(kind: &str) -> TargetRef {
        TargetRef {
            kind: kind.to_string(),
            ..TargetRef::default()
        }
    }

    /// Sort every part so that lookups and rendering are deterministic.
    pub fn normalised(mut self) -> TargetRef {
        self.scalars.sort();
        for (_, m) in &mut self.maps {
            m.sort();
        }
        self.maps.sort();
        self.lists.sort();
        self
    }

    fn scalar(&self, key: &str) -> Option<&str> {
        self.scalars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn map(&self, key: &str) -> Option<&[(String, String)]> {
        self.maps
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    fn list(&self, key: &str) -> Option<&[String]> {
        self.lists
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// R5.7 `match(Q, P)`: `q` from the role, `p` from the policy.
pub fn matches(q: &TargetRef, p: &TargetRef) -> bool {
    q.kind == p.kind
        && q.scalars
            .iter()
            .all(|(k, v)| p.scalar(k) == Some(v.as_str()))
        && q.maps.iter().all(|(k, qm)| match p.map(k) {
            Some(pm) => qm
                .iter()
                .all(|(mk, mv)| pm.iter().any(|(pk, pv)| pk == mk && pv == mv)),
            None => false,
        })
        && q.lists.iter().all(|(k, ql)| match p.list(k) {
            Some(pl) => !pl.is_empty() && pl.iter().all(|x| ql.contains(x)),
            None => false,
        })
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{kind: {}", self.kind)?;
        for (k, v) in &self.scalars {
            write!(f, ", {k}: {v}")?;
        }
        for (k, m) in &self.maps {
            let inner: Vec<String> = m.iter().map(|(a, b)| format!("{a}: {b}")).collect();
            write!(f, ", {k}: {{{}}}", inner.join(", "))?;
        }
        for (k, l) in &self.lists {
            write!(f, ", {k}: [{}]", l.join(", "))?;
        }
        write!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(kind: &str, scalars: &[(&str, &str)], tags: &[(&str, &str)]) -> TargetRef {
        let mut t = TargetRef::of_kind(kind);
        t.scalars = scalars
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        if !tags.is_empty() {
            t.maps = vec![(
                "tags".into(),
                tags.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )];
        }
        t.normalised()
    }

    #[test]
    fn kind_must_be_equal_a3() {
        assert!(!matches(
            &tr("Mesh", &[], &[]),
            &tr("MeshService", &[("name", "backend")], &[])
        ));
        assert!(matches(&tr("Mesh", &[], &[]), &tr("Mesh", &[], &[])));
    }

    #[test]
    fn unset_fields_are_free_and_set_fields_must_be_equal() {
        let p = tr("MeshService", &[("name", "backend")], &[]);
        assert!(matches(&tr("MeshService", &[], &[]), &p));
        assert!(matches(&tr("MeshService", &[("name", "backend")], &[]), &p));
        assert!(!matches(&tr("MeshService", &[("name", "web")], &[]), &p));
        assert!(!matches(&tr("MeshService", &[("namespace", "x")], &[]), &p));
    }

    #[test]
    fn star_is_literal_r5_7() {
        assert!(!matches(
            &tr("MeshService", &[("name", "*-orders")], &[]),
            &tr("MeshService", &[("name", "eu-orders")], &[])
        ));
        assert!(matches(
            &tr("MeshService", &[("name", "*")], &[]),
            &tr("MeshService", &[("name", "*")], &[])
        ));
    }

    #[test]
    fn tags_containment() {
        let p = tr("MeshSubset", &[], &[("a", "1"), ("b", "2")]);
        assert!(matches(&tr("MeshSubset", &[], &[("a", "1")]), &p));
        assert!(!matches(
            &tr("MeshSubset", &[], &[("a", "1"), ("c", "3")]),
            &p
        ));
        assert!(!matches(
            &tr("MeshSubset", &[], &[("a", "1")]),
            &tr("MeshSubset", &[], &[])
        ));
    }

    #[test]
    fn proxy_types_inclusion() {
        let mut q = TargetRef::of_kind("Mesh");
        q.lists = vec![("proxyTypes".into(), vec!["Sidecar".into()])];
        let mut p = TargetRef::of_kind("Mesh");
        assert!(!matches(&q, &p));
        p.lists = vec![("proxyTypes".into(), vec![])];
        assert!(!matches(&q, &p));
        p.lists = vec![("proxyTypes".into(), vec!["Sidecar".into()])];
        assert!(matches(&q, &p));
        p.lists = vec![(
            "proxyTypes".into(),
            vec!["Sidecar".into(), "Gateway".into()],
        )];
        assert!(!matches(&q, &p));
    }
}
