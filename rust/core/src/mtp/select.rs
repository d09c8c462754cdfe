//! M4.1–M4.8: does a policy's top-level targetRef select an inbound of a destination Dataplane.

use crate::selector::map_matches;

use super::{Labels, MtpDataplane, MtpInbound, MtpPolicy};

const NS: &str = "k8s.kuma.io/namespace";
const ORIGIN: &str = "kuma.io/origin";
const ZONE: &str = "kuma.io/zone";
const SERVICE: &str = "kuma.io/service";

fn tags_match(selector: &Labels, tags: &Labels) -> bool {
    map_matches(
        selector.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        |k| tags.get(k).map(String::as_str),
    )
}

/// M4.2: `proxyTypes` empty, or containing the DP's type.
fn proxy_type_ok(proxy_types: &[String], dp: &MtpDataplane) -> bool {
    let ty = if dp.gateway.is_some() {
        "Gateway"
    } else {
        "Sidecar"
    };
    proxy_types.is_empty() || proxy_types.iter().any(|t| t == ty)
}

/// M4.7: `workload-owner` / `consumer` policies apply only in their own namespace.
fn namespace_ok(p: &MtpPolicy, dp: &MtpDataplane) -> bool {
    match p.role() {
        "workload-owner" | "consumer" => p
            .labels
            .get(NS)
            .is_some_and(|ns| dp.labels.get(NS) == Some(ns)),
        _ => true,
    }
}

/// M4.8: a zone-origin policy with a zone label applies to zone-origin DPs of that zone only
/// (a zone-origin DP without a zone label counts as local, i.e. unrestricted).
fn zone_ok(p: &MtpPolicy, dp: &MtpDataplane) -> bool {
    if p.role() == "producer" {
        return true;
    }
    let zone_origin = |l: &Labels| l.get(ORIGIN).is_some_and(|o| o == "zone");
    match (
        zone_origin(&dp.labels),
        zone_origin(&p.labels),
        p.labels.get(ZONE),
        dp.labels.get(ZONE),
    ) {
        (true, true, Some(pz), Some(dz)) => pz == dz,
        _ => true,
    }
}

/// M4.5 (b): the Dataplane named by a `Dataplane` ref (display name, mesh, namespace, zone).
fn dataplane_named(p: &MtpPolicy, dp: &MtpDataplane) -> bool {
    let tr = &p.target_ref;
    let ns = if tr.namespace.is_empty() {
        p.labels.get(NS).map(String::as_str)
    } else {
        Some(tr.namespace.as_str())
    };
    (tr.name.is_empty() || dp.display_name() == tr.name)
        && p.mesh == dp.mesh
        && ns == dp.labels.get(NS).map(String::as_str)
        && p.labels.get(ZONE) == dp.labels.get(ZONE)
}

/// M4.1–M4.8 for one (policy, DP, non-ignored inbound).
pub fn selects(p: &MtpPolicy, dp: &MtpDataplane, inbound: &MtpInbound) -> bool {
    if inbound.ignored
        || p.mesh != dp.mesh
        || p.is_shadow()
        || !namespace_ok(p, dp)
        || !zone_ok(p, dp)
    {
        return false;
    }
    let tr = &p.target_ref;
    match tr.kind.as_str() {
        "Mesh" | "" => proxy_type_ok(&tr.proxy_types, dp),
        "MeshSubset" => proxy_type_ok(&tr.proxy_types, dp) && tags_match(&tr.tags, &inbound.tags),
        // M4.4 / A10: selection by name only; `labels` select nothing.
        "MeshService" => !tr.name.is_empty() && inbound.tags.get(SERVICE) == Some(&tr.name),
        // `tags` overlay the name (a `kuma.io/service` key in `tags` replaces it).
        "MeshServiceSubset" => {
            !tr.name.is_empty()
                && (tr.tags.contains_key(SERVICE) || inbound.tags.get(SERVICE) == Some(&tr.name))
                && tags_match(&tr.tags, &inbound.tags)
        }
        "Dataplane" => {
            if dp.gateway.as_ref().is_some_and(|g| g.builtin) {
                return false;
            }
            let dp_ok = if !tr.name.is_empty() || !tr.namespace.is_empty() {
                dataplane_named(p, dp)
            } else {
                tr.labels.iter().all(|(k, v)| dp.labels.get(k) == Some(v))
            };
            dp_ok && (tr.section_name.is_empty() || inbound.name == tr.section_name)
        }
        _ => false, // M4.6
    }
}

/// M7.5 / T4.7: does a policy's top-level targetRef select an ExternalService (tags `tags`) at the
/// zone egress? `Mesh` (or omitted): every ES; `MeshSubset`: its tags over the ES tags (T2.2);
/// `MeshService`: name = the ES `kuma.io/service`; `MeshServiceSubset`: both. Other kinds select
/// nothing there (Kuma `serviceSelectedByTargetRef`); shadow policies (M2.7) are never applied.
pub fn selects_egress(p: &MtpPolicy, mesh: &str, tags: &Labels) -> bool {
    if p.mesh != mesh || p.is_shadow() {
        return false;
    }
    let tr = &p.target_ref;
    let service = || tags.get(SERVICE) == Some(&tr.name);
    match tr.kind.as_str() {
        "Mesh" | "" => true,
        "MeshSubset" => tags_match(&tr.tags, tags),
        "MeshService" => service(),
        "MeshServiceSubset" => service() && tags_match(&tr.tags, tags),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtp::{Action, FromItem, MtpGateway, TargetRef};

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn policy(tr: TargetRef, l: &[(&str, &str)]) -> MtpPolicy {
        MtpPolicy {
            name: "p".into(),
            mesh: "default".into(),
            labels: labels(l),
            target_ref: tr,
            from: vec![FromItem {
                target_ref: TargetRef::mesh(),
                action: Action::Allow,
            }],
        }
    }
    fn dp() -> MtpDataplane {
        MtpDataplane {
            name: "web-1".into(),
            mesh: "default".into(),
            labels: labels(&[("app", "web")]),
            inbounds: vec![
                MtpInbound {
                    port: 8080,
                    name: "http".into(),
                    tags: labels(&[(SERVICE, "web"), ("version", "v1")]),
                    ignored: false,
                },
                MtpInbound {
                    port: 8081,
                    name: "admin".into(),
                    tags: labels(&[(SERVICE, "web-admin")]),
                    ignored: false,
                },
            ],
            gateway: None,
        }
    }
    fn tr(kind: &str) -> TargetRef {
        TargetRef {
            kind: kind.into(),
            ..TargetRef::default()
        }
    }

    #[test]
    fn m7_5_egress_selection_by_kind() {
        let es = labels(&[("kuma.io/service", "httpbin"), ("env", "prod")]);
        let mut t = tr("MeshService");
        t.name = "httpbin".into();
        assert!(selects_egress(&policy(t.clone(), &[]), "default", &es));
        assert!(!selects_egress(&policy(t, &[]), "other", &es));
        let mut t = tr("MeshServiceSubset");
        t.name = "httpbin".into();
        t.tags = labels(&[("env", "dev")]);
        assert!(!selects_egress(&policy(t, &[]), "default", &es));
        let mut t = tr("MeshSubset");
        t.tags = labels(&[("env", "*")]);
        assert!(selects_egress(&policy(t, &[]), "default", &es));
        assert!(selects_egress(&policy(tr("Mesh"), &[]), "default", &es));
        assert!(!selects_egress(
            &policy(tr("Dataplane"), &[]),
            "default",
            &es
        ));
        let shadow = policy(tr("Mesh"), &[("kuma.io/effect", "shadow")]);
        assert!(!selects_egress(&shadow, "default", &es));
    }

    #[test]
    fn m4_2_mesh_and_proxy_types() {
        let d = dp();
        assert!(selects(&policy(tr("Mesh"), &[]), &d, &d.inbounds[0]));
        let gw_only = TargetRef {
            proxy_types: vec!["Gateway".into()],
            ..tr("Mesh")
        };
        assert!(!selects(&policy(gw_only, &[]), &d, &d.inbounds[0]));
    }

    #[test]
    fn m4_3_m4_4_tag_kinds() {
        let d = dp();
        let sub = TargetRef {
            tags: labels(&[("version", "v1")]),
            ..tr("MeshSubset")
        };
        assert!(selects(&policy(sub.clone(), &[]), &d, &d.inbounds[0]));
        assert!(!selects(&policy(sub, &[]), &d, &d.inbounds[1]));
        let ms = TargetRef {
            name: "web".into(),
            ..tr("MeshService")
        };
        assert!(selects(&policy(ms, &[]), &d, &d.inbounds[0]));
        let mss = TargetRef {
            name: "web".into(),
            tags: labels(&[("version", "*")]),
            ..tr("MeshServiceSubset")
        };
        assert!(selects(&policy(mss, &[]), &d, &d.inbounds[0]));
        // A10: labels on MeshService select nothing.
        let msl = TargetRef {
            labels: labels(&[("app", "web")]),
            ..tr("MeshService")
        };
        assert!(!selects(&policy(msl, &[]), &d, &d.inbounds[0]));
    }

    #[test]
    fn m4_5_dataplane_kind() {
        let mut d = dp();
        let by_labels = TargetRef {
            labels: labels(&[("app", "web")]),
            ..tr("Dataplane")
        };
        assert!(selects(&policy(by_labels.clone(), &[]), &d, &d.inbounds[0]));
        let by_name = TargetRef {
            name: "web-1".into(),
            section_name: "admin".into(),
            ..tr("Dataplane")
        };
        assert!(!selects(&policy(by_name.clone(), &[]), &d, &d.inbounds[0]));
        assert!(selects(&policy(by_name, &[]), &d, &d.inbounds[1]));
        d.gateway = Some(MtpGateway {
            builtin: true,
            tags: Labels::new(),
        });
        assert!(!selects(&policy(by_labels, &[]), &d, &d.inbounds[0]));
    }

    #[test]
    fn m2_7_m4_7_m4_8_scoping() {
        let mut d = dp();
        assert!(!selects(
            &policy(tr("Mesh"), &[("kuma.io/effect", "shadow")]),
            &d,
            &d.inbounds[0]
        ));
        let owner = [("kuma.io/policy-role", "workload-owner"), (NS, "team-a")];
        assert!(!selects(&policy(tr("Mesh"), &owner), &d, &d.inbounds[0]));
        d.labels.insert(NS.into(), "team-a".into());
        assert!(selects(&policy(tr("Mesh"), &owner), &d, &d.inbounds[0]));
        d.labels.insert(ORIGIN.into(), "zone".into());
        d.labels.insert(ZONE.into(), "east".into());
        assert!(!selects(
            &policy(tr("Mesh"), &[(ORIGIN, "zone"), (ZONE, "west")]),
            &d,
            &d.inbounds[0]
        ));
        assert!(selects(
            &policy(tr("Mesh"), &[(ORIGIN, "zone"), (ZONE, "east")]),
            &d,
            &d.inbounds[0]
        ));
    }
}
