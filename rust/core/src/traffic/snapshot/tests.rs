use super::*;
use crate::mtp::{FromItem, MtpDataplane, MtpInbound, MtpPolicy, TargetRef};
use crate::traffic::batch::{RowError, RowSource};
use crate::traffic::policy_set::*;

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    kv(pairs).into_iter().collect()
}

fn mesh(mtls: bool, permissive: bool) -> MeshInput {
    MeshInput {
        name: "default".into(),
        mtls_enabled: mtls,
        permissive,
        passthrough: true,
        prometheus: Some(PrometheusInput {
            port: 5670,
            tags: kv(&[("kuma.io/service", "dataplane-metrics")]),
        }),
        ..Default::default()
    }
}

/// (dataplane name, inbound port, inbound tags)
type DpRow<'a> = (&'a str, u32, &'a [(&'a str, &'a str)]);

const DPS: &[DpRow] = &[
    ("web-1", 8080, &[("kuma.io/service", "web")]),
    (
        "backend-1",
        9000,
        &[("kuma.io/service", "backend"), ("version", "v1")],
    ),
];

fn tp(name: &str, src: &[(&str, &str)], dst: &[(&str, &str)]) -> PolicyInput {
    PolicyInput {
        mesh: "default".into(),
        name: name.into(),
        created: (0, 0),
        sources: vec![kv(src)],
        destinations: vec![kv(dst)],
    }
}

fn mtp(name: &str, target: TargetRef, from: Vec<(TargetRef, Action)>) -> MtpPolicy {
    MtpPolicy {
        name: name.into(),
        mesh: "default".into(),
        labels: Labels::new(),
        target_ref: target,
        from: from
            .into_iter()
            .map(|(target_ref, action)| FromItem { target_ref, action })
            .collect(),
    }
}

fn service(kind: &str, name: &str) -> TargetRef {
    TargetRef {
        kind: kind.into(),
        name: name.into(),
        ..TargetRef::default()
    }
}

fn world(m: MeshInput, policies: Vec<PolicyInput>, mtps: Vec<MtpPolicy>) -> Snapshot {
    let mut dps: Vec<DataplaneInput> = DPS
        .iter()
        .map(|(n, p, t)| DataplaneInput {
            mesh: "default".into(),
            name: (*n).into(),
            inbounds: vec![(*p, kv(t))],
            gateway: None,
        })
        .collect();
    dps.push(DataplaneInput {
        mesh: "default".into(),
        name: "edge".into(),
        inbounds: vec![],
        gateway: Some(kv(&[("kuma.io/service", "edge")])),
    });
    let mdps = DPS
        .iter()
        .map(|(n, p, t)| MtpDataplane {
            name: (*n).into(),
            mesh: "default".into(),
            inbounds: vec![MtpInbound {
                port: *p,
                tags: labels(t),
                ..MtpInbound::default()
            }],
            ..MtpDataplane::default()
        })
        .collect();
    let set = PolicySet::compile(
        vec![m],
        dps,
        vec![ExternalServiceInput {
            mesh: "default".into(),
            name: "httpbin".into(),
            tags: kv(&[("kuma.io/service", "httpbin")]),
        }],
        policies,
    )
    .unwrap();
    Snapshot::new(set, MtpSet::new(mtps, mdps))
}

fn dp(s: &Snapshot, name: &str) -> DpId {
    s.tp.dataplane("default", name).unwrap()
}

fn check(s: &Snapshot, client: &Subject, dst: &str, port: u32) -> (bool, Reason, Option<String>) {
    let c = s.check_inbound(client, dp(s, dst), port).unwrap();
    (
        c.allowed(),
        c.reason(),
        s.policy_name(&c).map(str::to_owned),
    )
}

fn web_to_backend() -> PolicyInput {
    tp(
        "web-to-backend",
        &[("kuma.io/service", "web")],
        &[("kuma.io/service", "backend")],
    )
}

#[test]
fn e0_to_e7_in_order() {
    let s = world(mesh(true, false), vec![web_to_backend()], vec![]);
    let web = Subject::Dataplane(dp(&s, "web-1"));
    let backend = Subject::Dataplane(dp(&s, "backend-1"));
    assert_eq!(check(&s, &web, "edge", 80).1, Reason::NotEnforced); // E0 gateway
    assert_eq!(check(&s, &web, "backend-1", 5670).1, Reason::NotEnforced); // E0 Prometheus
    assert_eq!(check(&s, &web, "backend-1", 1).1, Reason::UnknownInbound); // E0b
    assert_eq!(
        check(&s, &Subject::NonMesh, "backend-1", 9000).1,
        Reason::MtlsRequired
    ); // E3
    assert_eq!(check(&s, &web, "web-1", 8080).1, Reason::NoPolicy); // E5
    assert_eq!(
        check(&s, &web, "backend-1", 9000),
        (true, Reason::Allowed, Some("web-to-backend".into()))
    );
    assert_eq!(
        check(&s, &backend, "backend-1", 9000).1,
        Reason::SourceNotMatched
    ); // E7
    let s = world(mesh(false, false), vec![], vec![]);
    assert_eq!(
        check(&s, &Subject::NonMesh, "backend-1", 9000).1,
        Reason::MtlsDisabled
    ); // E1
    let s = world(mesh(true, true), vec![], vec![]);
    assert_eq!(
        check(&s, &Subject::NonMesh, "backend-1", 9000).1,
        Reason::PermissiveNonMeshTraffic
    ); // E2
}

#[test]
fn e4_mtp_replaces_tp_on_the_selected_inbound_only() {
    // M7.1: backend's inbound is selected by an MTP denying web; TP would allow.
    let deny = mtp(
        "deny-web",
        service("MeshService", "backend"),
        vec![(service("MeshService", "web"), Action::Deny)],
    );
    let s = world(mesh(true, false), vec![web_to_backend()], vec![deny]);
    let web = Subject::Dataplane(dp(&s, "web-1"));
    let c = s.check_inbound(&web, dp(&s, "backend-1"), 9000).unwrap();
    assert_eq!(
        (c.allowed(), c.reason(), s.policy_name(&c)),
        (false, Reason::MtpDeny, Some("deny-web"))
    );
    assert_eq!(s.from_index(&c), Some(0));
    assert_eq!(s.matched_policies(&c), ["deny-web"]);
    assert!(s.shadowed(&c).is_empty());
    // web-1's inbound is not selected: TP decides (E5 no-policy).
    assert_eq!(check(&s, &web, "web-1", 8080).1, Reason::NoPolicy);
    // E0–E3 precede E4.
    assert_eq!(
        check(&s, &Subject::NonMesh, "backend-1", 9000).1,
        Reason::MtlsRequired
    );
    // A tag-map client: identity pairs (M5.1).
    let adhoc = s
        .adhoc(&ClientInput {
            mesh: "default".into(),
            tag_maps: vec![kv(&[("kuma.io/service", "other")])],
            pairs: kv(&[("kuma.io/service", "other")]),
        })
        .unwrap();
    assert_eq!(check(&s, &adhoc, "backend-1", 9000).1, Reason::MtpNoMatch);
    // Batch rows take the same path.
    let row = s.batch_row(
        Some("default"),
        RowSource::Dataplane("web-1"),
        Some("backend-1"),
        Some(9000),
    );
    assert_eq!((row.allowed, row.reason), (false, Ok(Reason::MtpDeny)));
    let names: Vec<&str> = s.policy_dictionary().collect();
    assert_eq!(row.policy.map(|p| names[p as usize]), Some("deny-web"));
    let row = s.batch_row(
        None,
        RowSource::Tags("kuma.io/service=other"),
        Some("backend-1"),
        Some(9000),
    );
    assert_eq!(row.reason, Ok(Reason::MtpNoMatch));
}

#[test]
fn t4_6_direct_es_uses_dataplane_matcher_a6_gating() {
    let p = tp(
        "versioned",
        &[("kuma.io/service", "web"), ("version", "*")],
        &[("kuma.io/service", "httpbin")],
    );
    let s = world(mesh(false, false), vec![p.clone()], vec![]);
    let web = Subject::Dataplane(dp(&s, "web-1"));
    let es = s.tp.external_service("default", "httpbin").unwrap();
    let c = s
        .check_external_service(&web, es, EsGating::Legacy)
        .unwrap();
    assert_eq!(
        (c.allowed(), c.reason(), c.bypass_possible),
        (false, Reason::SourceNotMatched, true)
    );
    let c = s.check_external_service(&web, es, EsGating::None).unwrap();
    assert_eq!((c.allowed(), c.reason()), (true, Reason::NotGated));
    // T4.7: on the zone egress the identity matcher applies.
    let mut m = mesh(true, false);
    m.zone_egress = true;
    let s = world(m, vec![p], vec![]);
    let c = s
        .check_external_service(&web, es, EsGating::Legacy)
        .unwrap();
    assert_eq!(c.reason(), Reason::Allowed);
    assert_eq!(
        s.reachable_external_services(&web, EsGating::Legacy)
            .unwrap(),
        vec![es]
    );
    assert!(s
        .check_external_service(&Subject::NonMesh, es, EsGating::Legacy)
        .is_err());
}

#[test]
fn t4_7_m7_5_mtp_at_the_zone_egress_replaces_tp() {
    let mut m = mesh(true, false);
    m.zone_egress = true;
    let allow_tp = tp(
        "all-to-httpbin",
        &[("kuma.io/service", "*")],
        &[("kuma.io/service", "httpbin")],
    );
    let deny = mtp(
        "httpbin-only-backend",
        service("MeshService", "httpbin"),
        vec![(service("MeshService", "backend"), Action::Allow)],
    );
    let s = world(m.clone(), vec![allow_tp.clone()], vec![deny]);
    let es = s.tp.external_service("default", "httpbin").unwrap();
    let web = Subject::Dataplane(dp(&s, "web-1"));
    let backend = Subject::Dataplane(dp(&s, "backend-1"));
    let c = s
        .check_external_service(&web, es, EsGating::Legacy)
        .unwrap();
    assert_eq!((c.allowed(), c.reason()), (false, Reason::MtpNoMatch));
    let c = s
        .check_external_service(&backend, es, EsGating::Legacy)
        .unwrap();
    assert_eq!(
        (c.allowed(), c.reason(), s.policy_name(&c)),
        (true, Reason::MtpAllow, Some("httpbin-only-backend"))
    );
    // An MTP not selecting the ES (another service) leaves TP deciding.
    let other = mtp(
        "other",
        service("MeshService", "elsewhere"),
        vec![(service("Mesh", ""), Action::Deny)],
    );
    let s = world(m, vec![allow_tp], vec![other]);
    let c = s
        .check_external_service(&web, es, EsGating::Legacy)
        .unwrap();
    assert_eq!((c.allowed(), c.reason()), (true, Reason::Allowed));
}

#[test]
fn winner_cache_equals_selection() {
    let mut ps: Vec<PolicyInput> = (0..50)
        .map(|i| {
            let mut p = tp(
                &format!("p{i:02}"),
                &[("kuma.io/service", "*")],
                &[("kuma.io/service", "*")],
            );
            // Ties below the microsecond are real ties to break (T3.5): nanos are never truncated.
            p.created = (1_700_000_000, (i % 7) as u32);
            p
        })
        .collect();
    ps.push(web_to_backend());
    let s = world(mesh(true, false), ps, vec![]);
    for name in ["web-1", "backend-1"] {
        let d = dp(&s, name);
        let port = s.tp.dataplanes[d as usize].inbounds[0].0;
        let sel = s.selection(Target::Inbound { dp: d, port });
        assert_eq!(s.inbound_winner(d, port), sel.winner());
    }
}

#[test]
fn batch_errors_are_codes() {
    let s = world(mesh(true, false), vec![web_to_backend()], vec![]);
    let e = |r: crate::traffic::batch::RowOutcome| r.reason.unwrap_err();
    assert_eq!(
        e(s.batch_row(None, RowSource::NonMesh, Some("nope"), Some(1))),
        RowError::UnknownDataplane
    );
    assert_eq!(
        e(s.batch_row(
            Some("default"),
            RowSource::Tags("x"),
            Some("web-1"),
            Some(1)
        )),
        RowError::MalformedTags
    );
    assert_eq!(
        e(s.batch_row(Some("default"), RowSource::NonMesh, Some("web-1"), None)),
        RowError::BadPort
    );
    let ok = s.batch_row(
        None,
        RowSource::Tags("kuma.io/service=web"),
        Some("backend-1"),
        Some(9000),
    );
    assert!(ok.allowed);
}

#[test]
fn resolution_errors_are_typed() {
    let s = world(mesh(true, false), vec![], vec![]);
    assert!(matches!(
        s.resolve_dataplane(None, "nope"),
        Err(TrafficError::UnknownDataplane { .. })
    ));
    assert!(matches!(
        s.resolve_dataplane(Some("other"), "web-1"),
        Err(TrafficError::UnknownDataplane { .. })
    ));
    assert_eq!(s.resolve_dataplane(None, "web-1").unwrap(), dp(&s, "web-1"));
}

#[test]
fn client_set_terms_and_admitted_follow_check() {
    use crate::traffic::reverse::Basis;
    // TP: the winner's sources, '*' imposing nothing (T2.7).
    let p = tp(
        "any-v1",
        &[("kuma.io/service", "*"), ("version", "v1")],
        &[("kuma.io/service", "web")],
    );
    let s = world(mesh(true, false), vec![p], vec![]);
    let cs = s.client_set(dp(&s, "web-1"), 8080, true);
    assert_eq!(cs.basis, Basis::TrafficPermission);
    assert_eq!(cs.terms.len(), 1);
    assert_eq!(cs.terms[0].require, vec![("version", "v1")]);
    assert_eq!(cs.admitted, vec![dp(&s, "backend-1")]); // backend-1 has version v1
    assert!(!cs.non_mesh);
    // MTP: Mesh Allow minus a later Deny of web (M6.2).
    let m = mtp(
        "gate",
        service("MeshService", "backend"),
        vec![
            (service("Mesh", ""), Action::Allow),
            (service("MeshService", "web"), Action::Deny),
        ],
    );
    let s = world(mesh(true, true), vec![], vec![m]);
    let cs = s.client_set(dp(&s, "backend-1"), 9000, true);
    assert_eq!(cs.basis, Basis::MeshTrafficPermission);
    assert!(cs.non_mesh); // PERMISSIVE (E2)
    assert_eq!(cs.terms.len(), 1);
    assert!(cs.terms[0].require.is_empty());
    assert_eq!(cs.terms[0].unless, vec![vec![("kuma.io/service", "web")]]);
    assert_eq!(cs.admitted, vec![dp(&s, "backend-1")]);
    assert_eq!(
        s.client_set(dp(&s, "edge"), 1, false).basis,
        Basis::NotEnforced
    );
    assert_eq!(
        s.client_set(dp(&s, "web-1"), 1, false).basis,
        Basis::UnknownInbound
    );
}

#[test]
fn m7_5_egress_orders_by_kind_then_name_ascending() {
    // Kuma's egress sorts selecting policies by kind, then name ascending (not M4.9's display
    // name descending): the later policy's matching item decides (M6.2).
    let mut m = mesh(true, false);
    m.zone_egress = true;
    let allow = mtp(
        "a-allow",
        service("Mesh", ""),
        vec![(service("Mesh", ""), Action::Allow)],
    );
    let deny = mtp(
        "b-deny",
        service("Mesh", ""),
        vec![(service("Mesh", ""), Action::Deny)],
    );
    let s = world(m, vec![], vec![deny, allow]);
    let es = s.tp.external_service("default", "httpbin").unwrap();
    let web = Subject::Dataplane(dp(&s, "web-1"));
    let c = s
        .check_external_service(&web, es, EsGating::Legacy)
        .unwrap();
    assert_eq!(
        (c.reason(), s.policy_name(&c)),
        (Reason::MtpDeny, Some("b-deny"))
    );
    assert_eq!(s.matched_policies(&c), ["a-allow", "b-deny"]);
}
