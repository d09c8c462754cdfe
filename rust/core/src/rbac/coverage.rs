//! Qualifiers and the R5.6 coverage check (A1, A5, A6, A7).

use super::error::InputError;
use super::glob::{covers, Selector};
use super::target::{Element, Target};
use super::target_ref::{matches, TargetRef};

/// One `when[]` item. Mixed-family qualifiers cannot be represented (A7: rejected at load).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[allow(clippy::large_enum_variant)] // built once per role load; boxing buys nothing on the hot path
pub enum Qualifier {
    /// targetRef family; at least one of the three is set.
    TargetRef {
        target_ref: Option<TargetRef>,
        to: Option<TargetRef>,
        from: Option<TargetRef>,
    },
    /// legacy-connection; at least one side is set.
    Connection {
        sources: Option<Selector>,
        destinations: Option<Selector>,
    },
    /// legacy-dataplane.
    Dataplane { selectors: Selector },
    /// dpToken: tag name -> allowed values (grouped by name, R5.12).
    DpToken { tags: Vec<(String, Vec<String>)> },
}

impl Qualifier {
    /// Validating constructor for the targetRef family.
    pub fn target_ref(
        target_ref: Option<TargetRef>,
        to: Option<TargetRef>,
        from: Option<TargetRef>,
    ) -> Result<Qualifier, InputError> {
        if target_ref.is_none() && to.is_none() && from.is_none() {
            return Err(InputError::EmptyQualifier {
                path: String::new(),
            });
        }
        Ok(Qualifier::TargetRef {
            target_ref,
            to,
            from,
        })
    }

    pub fn connection(
        sources: Option<Selector>,
        destinations: Option<Selector>,
    ) -> Result<Qualifier, InputError> {
        if sources.is_none() && destinations.is_none() {
            return Err(InputError::EmptyQualifier {
                path: String::new(),
            });
        }
        Ok(Qualifier::Connection {
            sources,
            destinations,
        })
    }

    /// Group `(name, value)` tags into allowed value sets.
    pub fn dp_token(tags: Vec<(String, String)>) -> Qualifier {
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (n, v) in tags {
            match grouped.iter_mut().find(|(k, _)| *k == n) {
                Some((_, vs)) => vs.push(v),
                None => grouped.push((n, vec![v])),
            }
        }
        Qualifier::DpToken { tags: grouped }
    }

    /// R5.6: does this qualifier cover element `e` of a target whose top-level targetRef is `t`?
    pub fn covers(&self, t: &TargetRef, e: &Element) -> bool {
        match (self, e) {
            (
                Qualifier::TargetRef {
                    target_ref,
                    to,
                    from,
                },
                Element::Top | Element::To(_) | Element::From(_),
            ) => {
                if let Some(q) = target_ref {
                    if !matches(q, t) {
                        return false;
                    }
                }
                let free = to.is_none() && from.is_none();
                match e {
                    Element::Top => free,
                    Element::To(x) => to.as_ref().map_or(free, |q| matches(q, x)),
                    Element::From(y) => from.as_ref().map_or(free, |q| matches(q, y)),
                    _ => false,
                }
            }
            (
                Qualifier::Connection {
                    sources,
                    destinations,
                },
                Element::Pair(s, d),
            ) => {
                // A5: one qualifier must cover the whole (source, destination) pair.
                sources.as_ref().is_none_or(|p| covers(p, s))
                    && destinations.as_ref().is_none_or(|p| covers(p, d))
            }
            (Qualifier::Dataplane { selectors }, Element::Selector(s)) => covers(selectors, s),
            // A7: a qualifier only covers elements of its own family.
            _ => false,
        }
    }
}

/// Coverage bitmap of `target`'s elements by `when` (bit i = element i covered).
pub fn covered_elements(when: &[Qualifier], target: &Target) -> Vec<bool> {
    target
        .elements
        .iter()
        .map(|e| when.iter().any(|q| q.covers(&target.top_ref, e)))
        .collect()
}

/// R5.6: every element covered by some qualifier of this one rule (A2). A target without elements
/// (family "none") is never covered (A7).
pub fn rule_covers(when: &[Qualifier], target: &Target) -> bool {
    !target.elements.is_empty()
        && target
            .elements
            .iter()
            .all(|e| when.iter().any(|q| q.covers(&target.top_ref, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::glob::selector;
    use crate::rbac::target::{Body, Scope};

    fn ms(name: &str) -> TargetRef {
        let mut t = TargetRef::of_kind("MeshService");
        t.scalars = vec![("name".into(), name.into())];
        t
    }

    fn policy(top: Option<TargetRef>, to: Vec<TargetRef>, from: Vec<TargetRef>) -> Target {
        Target::new(
            "MeshHTTPRoute",
            Scope::Mesh,
            Some("default"),
            "p",
            Body::TargetRef {
                top,
                to,
                from,
                has_rules: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn targetref_only_leaves_to_and_from_free() {
        let q = [Qualifier::target_ref(Some(ms("backend")), None, None).unwrap()];
        assert!(rule_covers(
            &q,
            &policy(Some(ms("backend")), vec![ms("x")], vec![ms("y")])
        ));
        assert!(!rule_covers(&q, &policy(Some(ms("web")), vec![], vec![])));
    }

    #[test]
    fn a1_to_qualifier_never_covers_policy_without_to() {
        let q =
            [
                Qualifier::target_ref(Some(TargetRef::of_kind("Mesh")), Some(ms("backend")), None)
                    .unwrap(),
            ];
        assert!(!rule_covers(&q, &policy(None, vec![], vec![])));
        assert!(rule_covers(&q, &policy(None, vec![ms("backend")], vec![])));
        // A1: the to-qualifier does not cover a from element.
        assert!(!rule_covers(
            &q,
            &policy(None, vec![ms("backend")], vec![ms("web")])
        ));
        // Every to element needs a covering qualifier.
        assert!(!rule_covers(
            &q,
            &policy(None, vec![ms("backend"), ms("payments")], vec![])
        ));
    }

    #[test]
    fn from_only_leaves_top_free() {
        let q = [Qualifier::target_ref(None, None, Some(ms("web"))).unwrap()];
        assert!(rule_covers(
            &q,
            &policy(Some(ms("anything")), vec![], vec![ms("web")])
        ));
        assert!(!rule_covers(
            &q,
            &policy(Some(ms("anything")), vec![], vec![])
        ));
    }

    #[test]
    fn a5_pairs_not_independent_sides() {
        let sel = |v: &str| selector([("kuma.io/service".to_string(), v.to_string())]);
        let q = [
            Qualifier::connection(Some(sel("backend")), None).unwrap(),
            Qualifier::connection(None, Some(sel("backend"))).unwrap(),
        ];
        let t = Target::new(
            "TrafficPermission",
            Scope::Mesh,
            Some("default"),
            "tp",
            Body::Connection {
                sources: vec![sel("web")],
                destinations: vec![sel("redis")],
            },
        )
        .unwrap();
        assert!(!rule_covers(&q, &t));
    }

    #[test]
    fn a7_family_none_never_covered() {
        let q = [Qualifier::target_ref(Some(TargetRef::of_kind("Mesh")), None, None).unwrap()];
        let t = Target::new("Mesh", Scope::Global, None, "m", Body::None).unwrap();
        assert!(!rule_covers(&q, &t));
    }

    #[test]
    fn empty_qualifier_rejected() {
        assert!(Qualifier::target_ref(None, None, None).is_err());
        assert!(Qualifier::connection(None, None).is_err());
    }
}
