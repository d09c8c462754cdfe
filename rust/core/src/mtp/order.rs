//! M4.9 priority order of the policies selecting one inbound (lowest priority first), A2 ties.

use std::cmp::{Ordering, Reverse};

use super::{Compiled, MtpPolicy};

/// M4.9 criteria 1–6 as a total key (criterion 4 concerns MeshGateway only, unreachable for MTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityKey {
    pub kind_rank: u8,
    /// M4.9.2: `Dataplane` labels form (and the bare form, which ties with it) < name form.
    pub dp_form: u8,
    /// M4.9.2: `Dataplane` without `sectionName` < with.
    pub dp_section: u8,
    pub origin: u8,
    pub role: u8,
    pub display_name: String,
}

/// M4.9.1 kind rank (Kuma `Compare`).
pub fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Mesh" | "" => 1,
        "Dataplane" => 2,
        "MeshSubset" => 3,
        "MeshGateway" => 4,
        "MeshService" => 5,
        "MeshExternalService" => 6,
        "MeshMultiZoneService" => 7,
        "MeshServiceSubset" => 8,
        "MeshHTTPRoute" => 9,
        _ => 0,
    }
}

impl PriorityKey {
    pub fn of(p: &MtpPolicy) -> PriorityKey {
        let tr = &p.target_ref;
        let is_dp = tr.kind == "Dataplane";
        PriorityKey {
            kind_rank: kind_rank(&tr.kind),
            dp_form: u8::from(is_dp && !tr.name.is_empty()),
            dp_section: u8::from(is_dp && !tr.section_name.is_empty()),
            // M4.9.3: global < absent < zone.
            origin: match p.labels.get("kuma.io/origin").map(String::as_str) {
                Some("global") => 0,
                Some("zone") => 2,
                _ => 1,
            },
            // M4.9.5: system < producer < consumer < workload-owner.
            role: match p.role() {
                "producer" => 1,
                "consumer" => 2,
                "workload-owner" => 3,
                _ => 0,
            },
            display_name: p.display_name().to_string(),
        }
    }

    /// M4.9 comparison (display name descending).
    pub fn priority_cmp(&self, o: &PriorityKey) -> Ordering {
        (
            self.kind_rank,
            self.dp_form,
            self.dp_section,
            self.origin,
            self.role,
            Reverse(&self.display_name),
        )
            .cmp(&(
                o.kind_rank,
                o.dp_form,
                o.dp_section,
                o.origin,
                o.role,
                Reverse(&o.display_name),
            ))
    }
}

/// Sort positions in `all` lowest priority first; A2: full ties by resource name ascending, then
/// document order. Returns whether any tie occurred.
pub(crate) fn sort_ids(all: &[Compiled], ids: &mut [usize]) -> bool {
    ids.sort_unstable_by(|&a, &b| {
        by_position(all, a, b, |a, b| {
            a.key
                .priority_cmp(&b.key)
                .then_with(|| a.policy.name.cmp(&b.policy.name))
                .then_with(|| a.doc_order.cmp(&b.doc_order))
        })
    });
    ids.iter().zip(ids.iter().skip(1)).any(|(&a, &b)| {
        matches!((all.get(a), all.get(b)), (Some(a), Some(b)) if a.key.priority_cmp(&b.key) == Ordering::Equal)
    })
}

/// `cmp` of the policies at positions `a` and `b` of `all`. A position outside `all` (the ids are
/// positions in it by construction) sorts first and still reaches the plan, which makes it a
/// deny ([`super::plan::InboundPlan::new`]).
fn by_position(
    all: &[Compiled],
    a: usize,
    b: usize,
    cmp: impl Fn(&Compiled, &Compiled) -> Ordering,
) -> Ordering {
    match (all.get(a), all.get(b)) {
        (Some(a), Some(b)) => cmp(a, b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// Zone egress (M7.5 / T4.7): Kuma orders the policies selecting an ExternalService by
/// top-level targetRef kind, then resource name ascending (`ByTargetRef`), not by M4.9.
pub(crate) fn sort_egress(all: &[Compiled], ids: &mut [usize]) {
    ids.sort_unstable_by(|&a, &b| {
        by_position(all, a, b, |a, b| {
            a.key
                .kind_rank
                .cmp(&b.key.kind_rank)
                .then_with(|| a.policy.name.cmp(&b.policy.name))
                .then_with(|| a.doc_order.cmp(&b.doc_order))
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtp::{Action, FromItem, MtpDataplane, MtpInbound};
    use crate::mtp::{Labels, MtpSet, PolicyOrder, TargetRef};

    fn p(name: &str, kind: &str, labels: &[(&str, &str)]) -> MtpPolicy {
        MtpPolicy {
            name: name.into(),
            mesh: "m".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            target_ref: TargetRef {
                kind: kind.into(),
                ..TargetRef::default()
            },
            from: vec![FromItem {
                target_ref: TargetRef::mesh(),
                action: Action::Allow,
            }],
        }
    }
    fn order(ps: Vec<MtpPolicy>) -> (Vec<String>, bool) {
        let dp = MtpDataplane {
            name: "d".into(),
            mesh: "m".into(),
            inbounds: vec![MtpInbound {
                port: 1,
                tags: Labels::new(),
                ..MtpInbound::default()
            }],
            ..MtpDataplane::default()
        };
        let set = MtpSet::new(ps, vec![]);
        let sel = set.select(&dp, 1, PolicyOrder::Kuma);
        (sel.names(), sel.tie)
    }

    #[test]
    fn m4_9_1_kind_rank_beats_name() {
        let (names, _) = order(vec![
            p("a", "MeshSubset", &[]),
            p("b", "Dataplane", &[]),
            p("c", "Mesh", &[]),
        ]);
        assert_eq!(names, ["c", "b", "a"]);
    }

    #[test]
    fn m4_9_3_5_6_origin_role_name_descending() {
        let (names, tie) = order(vec![
            p("aaa", "Mesh", &[]),
            p("aaa1", "Mesh", &[]),
            p("zzz", "Mesh", &[("kuma.io/origin", "zone")]),
            p("yyy", "Mesh", &[("kuma.io/origin", "global")]),
            p("xxx", "Mesh", &[("kuma.io/policy-role", "producer")]),
        ]);
        assert_eq!(names, ["yyy", "aaa1", "aaa", "xxx", "zzz"]);
        assert!(!tie);
    }

    #[test]
    fn a2_ties_by_name_then_document_order() {
        let dn = [("kuma.io/display-name", "same")];
        let (names, tie) = order(vec![p("b.ns2", "Mesh", &dn), p("a.ns1", "Mesh", &dn)]);
        assert_eq!(names, ["a.ns1", "b.ns2"]);
        assert!(tie);
    }
}
