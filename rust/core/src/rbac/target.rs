//! R4 target normalisation: the only data a decision looks at (type, scope, family, mesh, name and
//! the coverable elements of R4.5 / R4.6).

use super::error::InputError;
use super::glob::Selector;
use super::target_ref::TargetRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Mesh,
}

/// R4.4 section family: which qualifiers can apply to a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    TargetRef,
    LegacyConnection,
    LegacyDataplane,
    None,
}

impl Family {
    pub fn parse(s: &str) -> Option<Family> {
        Some(match s {
            "targetRef" => Family::TargetRef,
            "legacy-connection" => Family::LegacyConnection,
            "legacy-dataplane" => Family::LegacyDataplane,
            "none" => Family::None,
            _ => return None,
        })
    }
}

/// The section data of a policy body, already extracted from the spec.
#[derive(Debug, Clone)]
pub enum Body {
    /// R4.5: `top` = `spec.targetRef` (None = absent), `to[]`/`from[]` targetRefs, `has_rules` =
    /// non-empty top-level `spec.rules` (A4).
    TargetRef {
        top: Option<TargetRef>,
        to: Vec<TargetRef>,
        from: Vec<TargetRef>,
        has_rules: bool,
    },
    /// R4.6: `sources[].match` and `destinations[].match`.
    Connection {
        sources: Vec<Selector>,
        destinations: Vec<Selector>,
    },
    /// R4.6: `selectors[].match`.
    Dataplane {
        selectors: Vec<Selector>,
    },
    None,
}

/// One coverable element of a target (R4.5 / R4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Top,
    To(TargetRef),
    From(TargetRef),
    Pair(Selector, Selector),
    Selector(Selector),
}

/// A normalised target. Immutable once built; cheap to share across checks.
#[derive(Debug, Clone)]
pub struct Target {
    pub type_name: String,
    /// Index of the type in the kind registry (`kinds::KINDS`), when known.
    pub kind: Option<u16>,
    pub scope: Scope,
    pub family: Family,
    /// `Some` exactly for mesh-scoped targets.
    pub mesh: Option<String>,
    pub name: String,
    /// `T` of R4.5 (absent top-level targetRef = `{kind: Mesh}`, A4); unused by other families.
    pub top_ref: TargetRef,
    pub elements: Vec<Element>,
    /// The last element is the A4 `rules` from-element (for its label).
    rules_element: bool,
    /// Connection family: destinations per source (element `k` = pair `(k / n, k % n)`).
    pair_cols: usize,
}

fn render_selector(s: &Selector) -> String {
    let parts: Vec<String> = s.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

impl Target {
    /// `"<type> <mesh>/<name>"` (mesh-scoped) or `"<type> <name>"` (what decisions show).
    pub fn label(&self) -> String {
        match self.mesh.as_deref() {
            Some(m) => format!("{} {}/{}", self.type_name, m, self.name),
            None => format!("{} {}", self.type_name, self.name),
        }
    }

    /// Build a target. Errors: a mesh-scoped target without mesh (R4.1), a body that does not fit
    /// the family.
    pub fn new(
        type_name: &str,
        scope: Scope,
        mesh: Option<&str>,
        name: &str,
        body: Body,
    ) -> Result<Target, InputError> {
        Target::from_owned(
            type_name.to_string(),
            scope,
            mesh.map(str::to_string),
            name.to_string(),
            body,
        )
    }

    /// [`Target::new`] from owned texts (a converted document's: no copies per check).
    pub fn from_owned(
        type_name: String,
        scope: Scope,
        mesh: Option<String>,
        name: String,
        body: Body,
    ) -> Result<Target, InputError> {
        let mesh = match (scope, mesh) {
            (Scope::Mesh, Some(m)) if !m.is_empty() => Some(m),
            (Scope::Mesh, _) => return Err(InputError::MissingMesh { type_name, name }),
            (Scope::Global, _) => None,
        };
        let mut elements = Vec::new();
        let mut rules_element = false;
        let mut pair_cols = 1;
        let mut top_ref = None;
        let family = match body {
            Body::TargetRef {
                top,
                to,
                from,
                has_rules,
            } => {
                top_ref = top;
                elements.extend(to.into_iter().map(Element::To));
                elements.extend(from.into_iter().map(Element::From));
                if has_rules {
                    // A4: top-level `rules` count as one from-element `{kind: Mesh}`.
                    rules_element = true;
                    elements.push(Element::From(TargetRef::of_kind("Mesh")));
                }
                if elements.is_empty() {
                    elements.push(Element::Top);
                }
                Family::TargetRef
            }
            Body::Connection {
                sources,
                destinations,
            } => {
                // R4.6: an empty list counts as one selector `{}`.
                let one = vec![Selector::new()];
                let s = if sources.is_empty() { &one } else { &sources };
                let d = if destinations.is_empty() {
                    &one
                } else {
                    &destinations
                };
                pair_cols = d.len();
                for a in s {
                    for b in d {
                        elements.push(Element::Pair(a.clone(), b.clone()));
                    }
                }
                Family::LegacyConnection
            }
            Body::Dataplane { selectors } => {
                let list = if selectors.is_empty() {
                    vec![Selector::new()]
                } else {
                    selectors
                };
                elements.extend(list.into_iter().map(Element::Selector));
                Family::LegacyDataplane
            }
            Body::None => Family::None,
        };
        Ok(Target {
            kind: super::kinds::index(&type_name).map(|i| i as u16),
            type_name,
            scope,
            family,
            mesh,
            name,
            // R4.5 / A4: an absent top-level targetRef is `{kind: Mesh}`.
            top_ref: top_ref.unwrap_or_else(|| TargetRef::of_kind("Mesh")),
            elements,
            rules_element,
            pair_cols,
        })
    }

    /// Human-readable label per element (same order), for explanations (built on demand).
    pub fn labels(&self) -> Vec<String> {
        let (mut to_i, mut from_i) = (0usize, 0usize);
        let last = self.elements.len().saturating_sub(1);
        self.elements
            .iter()
            .enumerate()
            .map(|(k, e)| match e {
                Element::Top => format!("targetRef {}", self.top_ref),
                Element::To(x) => {
                    to_i += 1;
                    format!("to[{}].targetRef {x}", to_i - 1)
                }
                Element::From(_) if self.rules_element && k == last => {
                    "rules (from {kind: Mesh})".to_string()
                }
                Element::From(y) => {
                    from_i += 1;
                    format!("from[{}].targetRef {y}", from_i - 1)
                }
                Element::Pair(a, b) => {
                    let n = self.pair_cols.max(1);
                    format!(
                        "sources[{}] {} -> destinations[{}] {}",
                        k / n,
                        render_selector(a),
                        k % n,
                        render_selector(b)
                    )
                }
                Element::Selector(s) => format!("selectors[{k}] {}", render_selector(s)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_5_elements() {
        let t = Target::new(
            "MeshTimeout",
            Scope::Mesh,
            Some("default"),
            "t",
            Body::TargetRef {
                top: None,
                to: vec![TargetRef::of_kind("Mesh")],
                from: vec![],
                has_rules: true,
            },
        )
        .unwrap();
        assert_eq!(t.top_ref.kind, "Mesh");
        assert_eq!(t.elements.len(), 2);
        let t = Target::new(
            "MeshTrace",
            Scope::Mesh,
            Some("default"),
            "t",
            Body::TargetRef {
                top: None,
                to: vec![],
                from: vec![],
                has_rules: false,
            },
        )
        .unwrap();
        assert_eq!(t.elements, vec![Element::Top]);
    }

    #[test]
    fn r4_6_empty_lists_are_one_empty_selector() {
        let t = Target::new(
            "TrafficPermission",
            Scope::Mesh,
            Some("m"),
            "tp",
            Body::Connection {
                sources: vec![],
                destinations: vec![],
            },
        )
        .unwrap();
        assert_eq!(t.elements, vec![Element::Pair(vec![], vec![])]);
    }

    #[test]
    fn r4_1_mesh_required() {
        assert!(Target::new("Secret", Scope::Mesh, None, "s", Body::None).is_err());
        assert_eq!(
            Target::new("Mesh", Scope::Global, Some("x"), "m", Body::None)
                .unwrap()
                .mesh,
            None
        );
    }
}
