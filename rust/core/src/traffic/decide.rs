//! §4.1 inbound decision (E0–E7) and §4.2 ExternalService access (T4.5–T4.8, A6, A11).

use super::identity::{dataplane_matches, identity_matches};
use super::intern::{Sym, TagMap};
use super::policy_set::{Client, DpId, EsId, MeshId, PolicyId, PolicySet, TrafficError};
use super::select::Selection;

/// Reason codes of spec §4.1 / §6 (and the MTP codes of meshtrafficpermission.md §7 E6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    NotEnforced,
    UnknownInbound,
    MtlsDisabled,
    PermissiveNonMeshTraffic,
    MtlsRequired,
    NoPolicy,
    Allowed,
    SourceNotMatched,
    NotGated,
    MtpAllow,
    MtpAllowShadowDeny,
    MtpDeny,
    MtpNoMatch,
}

impl Reason {
    /// Every reason, in declaration (discriminant) order: `ALL[r as usize] == r`.
    pub const ALL: [Reason; 13] = [
        Reason::NotEnforced,
        Reason::UnknownInbound,
        Reason::MtlsDisabled,
        Reason::PermissiveNonMeshTraffic,
        Reason::MtlsRequired,
        Reason::NoPolicy,
        Reason::Allowed,
        Reason::SourceNotMatched,
        Reason::NotGated,
        Reason::MtpAllow,
        Reason::MtpAllowShadowDeny,
        Reason::MtpDeny,
        Reason::MtpNoMatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotEnforced => "not-enforced",
            Reason::UnknownInbound => "unknown-inbound",
            Reason::MtlsDisabled => "mtls-disabled",
            Reason::PermissiveNonMeshTraffic => "permissive-non-mesh-traffic",
            Reason::MtlsRequired => "mtls-required",
            Reason::NoPolicy => "no-policy",
            Reason::Allowed => "allowed",
            Reason::SourceNotMatched => "source-not-matched",
            Reason::NotGated => "not-gated",
            Reason::MtpAllow => "mtp-allow",
            Reason::MtpAllowShadowDeny => "mtp-allow-shadow-deny",
            Reason::MtpDeny => "mtp-deny",
            Reason::MtpNoMatch => "mtp-no-match",
        }
    }
}

/// A6: ExternalService gating model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EsGating {
    /// TP-gated, independent of mTLS (1.2.0–2.5.x, and 2.6+ legacy routing).
    #[default]
    Legacy,
    /// 2.6+ MeshHTTPRoute/MeshTCPRoute path: no TP check (`not-gated`).
    None,
}

/// One decision (spec §6). `policy` is a TP name, or an MTP name when the E4 hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    pub policy: Option<String>,
    pub matched_source: Option<u32>,
    /// Other matching TPs, most specific first (T3.6).
    pub shadowed: Vec<String>,
    /// T4.8: passthrough is on, so the external host may be reachable around the ES.
    pub bypass_possible: bool,
}

impl Decision {
    fn plain(allowed: bool, reason: Reason) -> Decision {
        Decision {
            allowed,
            reason,
            policy: None,
            matched_source: None,
            shadowed: Vec::new(),
            bypass_possible: false,
        }
    }
}

/// The compact outcome of the §4.1 inbound decision ([`PolicySet::inbound_verdict`]): `policy`
/// is the deciding TP (E6/E7), `matched_source` its first matching source (E6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Reason,
    pub policy: Option<PolicyId>,
    pub matched_source: Option<u32>,
}

impl Verdict {
    fn plain(allowed: bool, reason: Reason) -> Verdict {
        Verdict {
            allowed,
            reason,
            policy: None,
            matched_source: None,
        }
    }

    /// TrafficPermission decided (E5–E7): the E4 hook (T4.11) may replace this verdict with a
    /// MeshTrafficPermission decision (`_TP_REASONS` in `traffic/engine.py`).
    pub fn at_e4(&self) -> bool {
        matches!(
            self.reason,
            Reason::NoPolicy | Reason::Allowed | Reason::SourceNotMatched
        )
    }
}

/// The client as the §4.1 decision sees it: no sidecar (E2/E3), or its mesh and sorted T2.7
/// identity pairs (T4.10).
#[derive(Debug, Clone, Copy)]
pub enum Peer<'a> {
    NonMesh,
    Mesh(MeshId, &'a [(Sym, Sym)]),
}

/// The E4 hook (T4.11 / A16): MeshTrafficPermission precedence. The MTP engine implements it;
/// `Ok(None)` = no MTP selects the target, so TrafficPermission decides.
pub trait MtpHook: Send + Sync {
    fn inbound(
        &self,
        set: &PolicySet,
        client: Client<'_>,
        dp: DpId,
        port: u32,
        tags: &[(Sym, Sym)],
    ) -> Result<Option<Decision>, TrafficError>;

    /// Zone egress (T4.7): an MTP selecting the ExternalService takes precedence.
    fn egress(
        &self,
        set: &PolicySet,
        client: Client<'_>,
        es: EsId,
    ) -> Result<Option<Decision>, TrafficError>;
}

/// Placeholder until the MTP engine lands: "no MTP selects". Fails closed (error, never an
/// allow) when the mesh actually has MeshTrafficPermissions it cannot evaluate.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMtpHook;

impl NoMtpHook {
    fn check(set: &PolicySet, mesh: MeshId) -> Result<Option<Decision>, TrafficError> {
        let m = &set.meshes[mesh as usize];
        if m.has_mtp {
            return Err(TrafficError::MtpUnsupported(m.name.clone()));
        }
        Ok(None)
    }
}

impl MtpHook for NoMtpHook {
    fn inbound(
        &self,
        set: &PolicySet,
        _: Client<'_>,
        dp: DpId,
        _: u32,
        _: &[(Sym, Sym)],
    ) -> Result<Option<Decision>, TrafficError> {
        NoMtpHook::check(set, set.dataplanes[dp as usize].mesh)
    }

    fn egress(
        &self,
        set: &PolicySet,
        _: Client<'_>,
        es: EsId,
    ) -> Result<Option<Decision>, TrafficError> {
        NoMtpHook::check(set, set.external_services[es as usize].mesh)
    }
}

impl PolicySet {
    fn client_mesh(&self, client: Client<'_>) -> Option<MeshId> {
        match client {
            Client::NonMesh => None,
            Client::Dataplane(d) => Some(self.dataplanes[d as usize].mesh),
            Client::Adhoc(a) => Some(a.mesh),
        }
    }

    /// T2.7 / T4.10: the client's certificate identity.
    fn client_pairs<'a>(&'a self, client: Client<'a>) -> &'a [(Sym, Sym)] {
        match client {
            Client::NonMesh => &[],
            Client::Dataplane(d) => &self.dataplanes[d as usize].identity,
            Client::Adhoc(a) => &a.pairs,
        }
    }

    /// T2.6: the single tag maps of a client (inbounds, then gateway).
    fn client_maps<'a>(&'a self, client: Client<'a>) -> Vec<&'a [(Sym, Sym)]> {
        match client {
            Client::NonMesh => Vec::new(),
            Client::Dataplane(d) => {
                let dp = &self.dataplanes[d as usize];
                dp.inbounds
                    .iter()
                    .map(|(_, t)| t.as_slice())
                    .chain(dp.gateway.as_deref())
                    .collect()
            }
            Client::Adhoc(a) => a.tag_maps.iter().map(TagMap::as_slice).collect(),
        }
    }

    /// The Prometheus additional inbound port of `mesh` (T4.9).
    pub fn prometheus_port(&self, mesh: MeshId) -> Option<u32> {
        self.meshes[mesh as usize].prometheus.as_ref().map(|p| p.0)
    }

    /// T3.7(a): selection for every inbound of `dp`, plus the Prometheus inbound (T4.9, A10;
    /// selection only). Returns `(port, is_prometheus, selection)`.
    pub fn select_dataplane(&self, dp: DpId) -> Vec<(u32, bool, Selection)> {
        let d = &self.dataplanes[dp as usize];
        let mut out: Vec<(u32, bool, Selection)> = d
            .inbounds
            .iter()
            .map(|(port, tags)| (*port, false, self.select(d.mesh, tags)))
            .collect();
        if let Some((port, tags)) = &self.meshes[d.mesh as usize].prometheus {
            out.push((*port, true, self.select(d.mesh, tags)));
        }
        out
    }

    /// T4.5: selection for an ExternalService over its full tag map.
    pub fn select_external_service(&self, es: EsId) -> Selection {
        let e = &self.external_services[es as usize];
        self.select(e.mesh, &e.tags)
    }

    fn names(&self, sel: &Selection) -> Vec<String> {
        sel.shadowed()
            .iter()
            .map(|(p, _)| self.policy_name(*p).to_owned())
            .collect()
    }

    /// The client as the §4.1 decision sees it (mesh + T2.7 identity pairs).
    pub fn peer<'a>(&'a self, client: Client<'a>) -> Peer<'a> {
        match self.client_mesh(client) {
            None => Peer::NonMesh,
            Some(m) => Peer::Mesh(m, self.client_pairs(client)),
        }
    }

    /// §4.1 E0–E3 and E5–E7, first applicable row wins: the ONE inbound decision, shared by
    /// [`PolicySet::authorize_inbound`] and the batch (`batch_row`). Allocation-free.
    ///
    /// `winner` gives the T3.5 winner for the inbound's `(mesh, tags)` (the batch memoises it per
    /// `(dataplane, port)`; selection ignores the client). The E4 hook (T4.11) is the caller's:
    /// when [`Verdict::at_e4`], a MeshTrafficPermission selecting the inbound replaces this
    /// verdict (E4 precedes E5, but E5–E7 are pure, so evaluating them first changes nothing).
    /// The destination's mesh must be defined (callers check; `TrafficError::UnknownMesh`).
    pub fn inbound_verdict<W>(&self, peer: Peer<'_>, dp: DpId, port: u32, winner: W) -> Verdict
    where
        W: FnOnce(MeshId, &[(Sym, Sym)]) -> Option<PolicyId>,
    {
        let d = &self.dataplanes[dp as usize];
        let mesh = &self.meshes[d.mesh as usize];
        // E0 / T4.3 / A15: gateways are never checked; E0 / T4.9 / A10: Prometheus inbound.
        if d.gateway.is_some() || self.prometheus_port(d.mesh) == Some(port) {
            return Verdict::plain(true, Reason::NotEnforced);
        }
        // E0b: no listener on that port.
        let Some((_, tags)) = d.inbounds.iter().find(|(p, _)| *p == port) else {
            return Verdict::plain(false, Reason::UnknownInbound);
        };
        // E1.
        if !mesh.mtls_enabled {
            return Verdict::plain(true, Reason::MtlsDisabled);
        }
        // E2 / E3 / T4.1: a non-mesh client, or one from another mesh (fails TLS validation).
        let pairs = match peer {
            Peer::NonMesh if mesh.permissive => {
                return Verdict::plain(true, Reason::PermissiveNonMeshTraffic)
            }
            Peer::NonMesh => return Verdict::plain(false, Reason::MtlsRequired),
            Peer::Mesh(m, _) if m != d.mesh => return Verdict::plain(false, Reason::MtlsRequired),
            Peer::Mesh(_, pairs) => pairs,
        };
        // E4 is the caller's (see above). MTP §7 E4 ("no TP on any inbound of D" -> no-policy) is
        // implied by E5: if no TP matches any inbound, none matches this one.
        self.sources_verdict(winner(d.mesh, tags), |sel| identity_matches(sel, pairs))
    }

    /// §4.1: the inbound decision, first applicable row wins ([`PolicySet::inbound_verdict`]
    /// plus the E4 hook), with the shadowed TPs (T3.6) of the target.
    pub fn authorize_inbound(
        &self,
        client: Client<'_>,
        dp: DpId,
        port: u32,
        hook: &dyn MtpHook,
    ) -> Result<Decision, TrafficError> {
        let d = &self.dataplanes[dp as usize];
        let mesh = &self.meshes[d.mesh as usize];
        if !mesh.defined {
            return Err(TrafficError::UnknownMesh(mesh.name.clone()));
        }
        let mut selection = None;
        let verdict = self.inbound_verdict(self.peer(client), dp, port, |m, tags| {
            selection.insert(self.select(m, tags)).winner()
        });
        if verdict.at_e4() {
            // E4 / T4.11: a MeshTrafficPermission selecting the inbound replaces TP.
            let tags = d
                .inbounds
                .iter()
                .find(|(p, _)| *p == port)
                .map_or(&[][..], |(_, t)| t.as_slice());
            if let Some(decision) = hook.inbound(self, client, dp, port, tags)? {
                return Ok(decision);
            }
        }
        Ok(self.decision(verdict, selection.as_ref()))
    }

    /// The rich [`Decision`] of a [`Verdict`] (names resolved; shadowed TPs from `selection`).
    pub fn decision(&self, v: Verdict, selection: Option<&Selection>) -> Decision {
        Decision {
            allowed: v.allowed,
            reason: v.reason,
            policy: v.policy.map(|p| self.policy_name(p).to_owned()),
            matched_source: v.matched_source,
            shadowed: selection.map(|s| self.names(s)).unwrap_or_default(),
            bypass_possible: false,
        }
    }

    /// E5–E7 (and T4.6/T4.7): the winner, then the first matching source.
    fn sources_verdict<F>(&self, winner: Option<PolicyId>, source_matches: F) -> Verdict
    where
        F: Fn(&super::policy_set::Selector) -> bool,
    {
        let Some(winner) = winner else {
            return Verdict::plain(false, Reason::NoPolicy); // E5
        };
        let matched = self.policies[winner as usize]
            .sources
            .iter()
            .position(source_matches);
        Verdict {
            allowed: matched.is_some(),
            // E6 / E7
            reason: if matched.is_some() {
                Reason::Allowed
            } else {
                Reason::SourceNotMatched
            },
            policy: Some(winner),
            matched_source: matched.map(|i| i as u32),
        }
    }

    /// E5–E7 over a selection, as a [`Decision`] (§4.2 paths).
    fn decide_with_sources<F>(&self, sel: Selection, source_matches: F) -> Decision
    where
        F: Fn(&super::policy_set::Selector) -> bool,
    {
        let v = self.sources_verdict(sel.winner(), source_matches);
        self.decision(v, Some(&sel))
    }

    /// §4.2: may `client` use ExternalService `es`? The path follows the Mesh: zone egress (T4.7,
    /// identity matcher) or direct (T4.6, dataplane matcher). Independent of mTLS (A6).
    pub fn authorize_external_service(
        &self,
        client: Client<'_>,
        es: EsId,
        gating: EsGating,
        hook: &dyn MtpHook,
    ) -> Result<Decision, TrafficError> {
        let e = &self.external_services[es as usize];
        let mesh = &self.meshes[e.mesh as usize];
        if !mesh.defined {
            return Err(TrafficError::UnknownMesh(mesh.name.clone()));
        }
        match self.client_mesh(client) {
            None => {
                return Err(TrafficError::Invalid(
                    "ExternalService access needs a mesh client".into(),
                ))
            }
            Some(m) if m != e.mesh => {
                return Err(TrafficError::Invalid(format!(
                    "the client is not in mesh {:?} of ExternalService {:?}",
                    mesh.name, e.name
                )))
            }
            Some(_) => {}
        }
        let mut decision = if gating == EsGating::None {
            Decision::plain(true, Reason::NotGated) // A6: 2.6+ routing
        } else if mesh.zone_egress {
            match hook.egress(self, client, es)? {
                Some(d) => d,
                None => self.decide_with_sources(self.select(e.mesh, &e.tags), |sel| {
                    identity_matches(sel, self.client_pairs(client))
                }),
            }
        } else {
            let maps = self.client_maps(client);
            if maps.is_empty() {
                return Err(TrafficError::Invalid(
                    "direct ExternalService access needs a dataplane or tag map client, not an identity (A5)".into(),
                ));
            }
            self.decide_with_sources(self.select(e.mesh, &e.tags), |sel| {
                dataplane_matches(sel, maps.iter().copied())
            })
        };
        decision.bypass_possible = mesh.passthrough; // T4.8
        Ok(decision)
    }

    /// ExternalServices of the client's mesh it may use, sorted by name.
    pub fn reachable_external_services(
        &self,
        client: Client<'_>,
        gating: EsGating,
        hook: &dyn MtpHook,
    ) -> Result<Vec<EsId>, TrafficError> {
        let mesh = self
            .client_mesh(client)
            .ok_or_else(|| TrafficError::Invalid("a mesh client is required".into()))?;
        let mut out = Vec::new();
        for &es in &self.es_by_mesh[mesh as usize] {
            if self
                .authorize_external_service(client, es, gating, hook)?
                .allowed
            {
                out.push(es);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reason_all_is_in_discriminant_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    use super::super::policy_set::*;
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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

    fn dp(name: &str, inbounds: &[(u32, &[(&str, &str)])]) -> DataplaneInput {
        DataplaneInput {
            mesh: "default".into(),
            name: name.into(),
            inbounds: inbounds.iter().map(|(p, t)| (*p, kv(t))).collect(),
            gateway: None,
        }
    }

    fn tp(name: &str, src: &[(&str, &str)], dst: &[(&str, &str)]) -> PolicyInput {
        PolicyInput {
            mesh: "default".into(),
            name: name.into(),
            created: (0, 0),
            sources: vec![kv(src)],
            destinations: vec![kv(dst)],
        }
    }

    fn world(m: MeshInput, policies: Vec<PolicyInput>) -> PolicySet {
        let mut gw = dp("edge", &[]);
        gw.gateway = Some(kv(&[("kuma.io/service", "edge")]));
        PolicySet::compile(
            vec![m],
            vec![
                dp("web-1", &[(8080, &[("kuma.io/service", "web")])]),
                dp(
                    "backend-1",
                    &[(9000, &[("kuma.io/service", "backend"), ("version", "v1")])],
                ),
                gw,
            ],
            vec![ExternalServiceInput {
                mesh: "default".into(),
                name: "httpbin".into(),
                tags: kv(&[("kuma.io/service", "httpbin")]),
            }],
            policies,
        )
        .unwrap()
    }

    fn check(
        set: &PolicySet,
        client: Client<'_>,
        dst: &str,
        port: u32,
    ) -> (bool, Reason, Option<String>) {
        let d = set
            .authorize_inbound(
                client,
                set.dataplane("default", dst).unwrap(),
                port,
                &NoMtpHook,
            )
            .unwrap();
        (d.allowed, d.reason, d.policy)
    }

    #[test]
    fn e0_to_e7_in_order() {
        let allow = tp(
            "web-to-backend",
            &[("kuma.io/service", "web")],
            &[("kuma.io/service", "backend")],
        );
        let s = world(mesh(true, false), vec![allow]);
        let web = Client::Dataplane(s.dataplane("default", "web-1").unwrap());
        let backend = Client::Dataplane(s.dataplane("default", "backend-1").unwrap());
        assert_eq!(check(&s, web, "edge", 80).1, Reason::NotEnforced); // E0 gateway
        assert_eq!(check(&s, web, "backend-1", 5670).1, Reason::NotEnforced); // E0 Prometheus
        assert_eq!(check(&s, web, "backend-1", 1).1, Reason::UnknownInbound); // E0b
        assert_eq!(
            check(&s, Client::NonMesh, "backend-1", 9000).1,
            Reason::MtlsRequired
        ); // E3
        assert_eq!(check(&s, web, "web-1", 8080).1, Reason::NoPolicy); // E5
        assert_eq!(
            check(&s, web, "backend-1", 9000),
            (true, Reason::Allowed, Some("web-to-backend".into()))
        );
        assert_eq!(
            check(&s, backend, "backend-1", 9000).1,
            Reason::SourceNotMatched
        ); // E7
        let s = world(mesh(false, false), vec![]);
        assert_eq!(
            check(&s, Client::NonMesh, "backend-1", 9000).1,
            Reason::MtlsDisabled
        ); // E1
        let s = world(mesh(true, true), vec![]);
        assert_eq!(
            check(&s, Client::NonMesh, "backend-1", 9000).1,
            Reason::PermissiveNonMeshTraffic
        ); // E2
    }

    #[test]
    fn e4_hook_fails_closed_when_mtps_exist() {
        let mut m = mesh(true, false);
        m.has_mtp = true;
        let s = world(m, vec![]);
        let web = Client::Dataplane(s.dataplane("default", "web-1").unwrap());
        let err = s.authorize_inbound(
            web,
            s.dataplane("default", "backend-1").unwrap(),
            9000,
            &NoMtpHook,
        );
        assert!(matches!(err, Err(TrafficError::MtpUnsupported(_))));
    }

    #[test]
    fn t4_6_direct_es_uses_dataplane_matcher_a6_gating() {
        let p = tp(
            "versioned",
            &[("kuma.io/service", "web"), ("version", "*")],
            &[("kuma.io/service", "httpbin")],
        );
        let s = world(mesh(false, false), vec![p]);
        let web = Client::Dataplane(s.dataplane("default", "web-1").unwrap());
        let es = s.external_service("default", "httpbin").unwrap();
        let d = s
            .authorize_external_service(web, es, EsGating::Legacy, &NoMtpHook)
            .unwrap();
        assert_eq!(
            (d.allowed, d.reason, d.bypass_possible),
            (false, Reason::SourceNotMatched, true)
        );
        let d = s
            .authorize_external_service(web, es, EsGating::None, &NoMtpHook)
            .unwrap();
        assert_eq!((d.allowed, d.reason), (true, Reason::NotGated));
        // T4.7: on the zone egress the identity matcher applies.
        let mut m = mesh(true, false);
        m.zone_egress = true;
        let p = tp(
            "versioned",
            &[("kuma.io/service", "web"), ("version", "*")],
            &[("kuma.io/service", "httpbin")],
        );
        let s = world(m, vec![p]);
        let d = s
            .authorize_external_service(web, es, EsGating::Legacy, &NoMtpHook)
            .unwrap();
        assert_eq!(d.reason, Reason::Allowed);
        assert_eq!(
            s.reachable_external_services(web, EsGating::Legacy, &NoMtpHook)
                .unwrap(),
            vec![es]
        );
    }

    #[test]
    fn es_needs_a_mesh_client() {
        let s = world(mesh(true, false), vec![]);
        let es = s.external_service("default", "httpbin").unwrap();
        assert!(s
            .authorize_external_service(Client::NonMesh, es, EsGating::Legacy, &NoMtpHook)
            .is_err());
    }
}
