//! M5 client identity and M6.2 decision: the last matching item of the M6.1 list decides.

use std::collections::BTreeSet;

use super::{rules, Action, Selection};

/// M5.1: the client's certificate identity, a set of (key, value) SAN pairs plus its mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    pub mesh: String,
    pub tags: BTreeSet<(String, String)>,
}

impl ClientIdentity {
    /// M5.3: every requirement of the item's subset is a SAN of the client (and same mesh, M5.4).
    pub fn matches(&self, mesh: &str, requirements: &[(String, String)]) -> bool {
        self.mesh == mesh && requirements.iter().all(|r| self.tags.contains(r))
    }
}

/// §7 E6 reason codes: one decision vocabulary for both traffic kinds (trafficpermission.md §4.1 E4),
/// so an MTP decision only ever uses the `Mtp*` variants.
pub use crate::traffic::decide::Reason;

/// An earlier matching item that the deciding item overrides (§9 `overridden`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overridden {
    pub policy: String,
    pub from_index: usize,
    pub action: Action,
}

/// The MTP decision for one inbound (§9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtpDecision {
    pub allowed: bool,
    pub reason: Reason,
    pub action: Option<Action>,
    pub policy: Option<String>,
    pub from_index: Option<usize>,
    pub shadow_deny: bool,
    /// A3/A4: DENY here, but a non-Deny rule of Kuma's M6.4 list would admit the client in Envoy.
    pub kuma_enforcement_divergence: bool,
    /// Lowest priority first (M4.9).
    pub matched_policies: Vec<String>,
    pub overridden: Vec<Overridden>,
    /// A2: the priority order had a full tie.
    pub tie: bool,
}

/// Above this many items the divergence flag is not computed (the clique graph is quadratic to build
/// and its enumeration exponential); the decision itself is unaffected.
pub const MAX_DIVERGENCE_ITEMS: usize = 256;

/// A3/A4: would Envoy's ALLOW list built from Kuma's rules (M6.4) admit the client?
/// Only matching items can be relevant to a rule containing the client, so without an allowing
/// matching item the answer is no; beyond the M6.4 size bounds it is reported as no.
/// `None` when not computed (more than [`MAX_DIVERGENCE_ITEMS`] items, or the clique /
/// combination bounds of [`rules::admits`] exceeded).
pub(crate) fn kuma_rules_admit(
    sel: &Selection<'_>,
    mesh: &str,
    client: &ClientIdentity,
    budget: usize,
) -> Option<bool> {
    if !sel
        .items()
        .any(|(s, a, ..)| a.allows() && client.matches(mesh, s))
    {
        return Some(false);
    }
    let items: Vec<_> = sel.items().map(|(s, a, _, _)| (s, a)).collect();
    if items.len() > MAX_DIVERGENCE_ITEMS {
        return None;
    }
    rules::admits_within(&items, &client.tags, budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtp::{FromItem, Labels, MtpDataplane, MtpInbound, MtpPolicy, MtpSet, TargetRef};

    fn item(kind: &str, name: &str, tags: &[(&str, &str)], action: Action) -> FromItem {
        FromItem {
            target_ref: TargetRef {
                kind: kind.into(),
                name: name.into(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..TargetRef::default()
            },
            action,
        }
    }
    fn set(policies: Vec<(&str, Vec<FromItem>)>) -> (MtpSet, MtpDataplane) {
        let ps = policies
            .into_iter()
            .map(|(n, from)| MtpPolicy {
                name: n.into(),
                mesh: "m".into(),
                labels: Labels::new(),
                target_ref: TargetRef::mesh(),
                from,
            })
            .collect();
        let dp = MtpDataplane {
            name: "d".into(),
            mesh: "m".into(),
            inbounds: vec![MtpInbound {
                port: 80,
                tags: Labels::from([("kuma.io/service".into(), "z".into())]),
                ..MtpInbound::default()
            }],
            ..MtpDataplane::default()
        };
        (MtpSet::new(ps, vec![]), dp)
    }
    fn client(pairs: &[(&str, &str)]) -> ClientIdentity {
        ClientIdentity {
            mesh: "m".into(),
            tags: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn m6_2_last_matching_item_wins_m6_3_specificity_irrelevant() {
        let (s, dp) = set(vec![(
            "p",
            vec![
                item("MeshSubset", "", &[("zone", "east")], Action::Allow),
                item("MeshSubset", "", &[("env", "dev")], Action::Deny),
            ],
        )]);
        let d = s
            .decide_inbound(&dp, 80, &client(&[("zone", "east"), ("env", "dev")]))
            .unwrap();
        assert_eq!(
            (d.reason, d.from_index, d.overridden.len()),
            (Reason::MtpDeny, Some(1), 1)
        );
        let d = s
            .decide_inbound(&dp, 80, &client(&[("env", "prod")]))
            .unwrap();
        assert_eq!((d.reason, d.policy), (Reason::MtpNoMatch, None));
        assert!(s.decide_inbound(&dp, 81, &client(&[])).is_none());
    }

    #[test]
    fn m6_2_shadow_deny_and_m5_4_other_mesh() {
        let (s, dp) = set(vec![(
            "p",
            vec![item("Mesh", "", &[], Action::AllowWithShadowDeny)],
        )]);
        let d = s
            .decide_inbound(&dp, 80, &client(&[("kuma.io/service", "a")]))
            .unwrap();
        assert!(d.allowed && d.shadow_deny && d.reason == Reason::MtpAllowShadowDeny);
        let other = ClientIdentity {
            mesh: "x".into(),
            ..client(&[])
        };
        assert_eq!(
            s.decide_inbound(&dp, 80, &other).unwrap().reason,
            Reason::MtpNoMatch
        );
    }

    #[test]
    fn a3_divergence_flag() {
        // Mesh: AllowWithShadowDeny, a: Deny, c: Allow -> rule `service!=c` admits `a` in Envoy.
        let (s, dp) = set(vec![(
            "p",
            vec![
                item("Mesh", "", &[], Action::AllowWithShadowDeny),
                item("MeshService", "a", &[], Action::Deny),
                item("MeshService", "c", &[], Action::Allow),
            ],
        )]);
        let d = s
            .decide_inbound(&dp, 80, &client(&[("kuma.io/service", "a")]))
            .unwrap();
        assert_eq!(d.reason, Reason::MtpDeny);
        assert!(d.kuma_enforcement_divergence);
    }

    #[test]
    fn m5_3_pairs_from_different_inbounds() {
        let (s, dp) = set(vec![(
            "p",
            vec![item(
                "MeshServiceSubset",
                "a",
                &[("version", "v2")],
                Action::Allow,
            )],
        )]);
        let multi = MtpDataplane {
            name: "c".into(),
            mesh: "m".into(),
            inbounds: vec![
                MtpInbound {
                    port: 1,
                    tags: Labels::from([("kuma.io/service".into(), "a".into())]),
                    ..MtpInbound::default()
                },
                MtpInbound {
                    port: 2,
                    tags: Labels::from([("version".into(), "v2".into())]),
                    ignored: true,
                    ..MtpInbound::default()
                },
            ],
            ..MtpDataplane::default()
        };
        assert_eq!(
            s.decide_inbound(&dp, 80, &multi.identity()).unwrap().reason,
            Reason::MtpAllow
        );
    }
}
