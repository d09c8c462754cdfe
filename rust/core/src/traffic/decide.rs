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

    /// TrafficPermission decided (E5–E7): the E4 step (T4.11) replaces this verdict with a
    /// MeshTrafficPermission decision when one selects the target ([`super::Snapshot`]).
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

/// The mesh of a client dataplane id that names no dataplane (ids come from this set, so never):
/// no mesh has it, so such a client fails every mesh check (E3 deny, §4.2 refusal), never a
/// non-mesh client's permissive allow (E2).
const NO_MESH: MeshId = MeshId::MAX;

impl PolicySet {
    fn client_mesh(&self, client: Client<'_>) -> Option<MeshId> {
        match client {
            Client::NonMesh => None,
            Client::Dataplane(d) => {
                Some(self.dataplanes.get(d as usize).map_or(NO_MESH, |d| d.mesh))
            }
            Client::Adhoc(a) => Some(a.mesh),
        }
    }

    /// T2.7 / T4.10: the client's certificate identity (none for an unknown dataplane id, whose
    /// mesh is [`NO_MESH`]).
    fn client_pairs<'a>(&'a self, client: Client<'a>) -> &'a [(Sym, Sym)] {
        match client {
            Client::NonMesh => &[],
            Client::Dataplane(d) => self
                .dataplanes
                .get(d as usize)
                .map_or(&[], |d| d.identity.as_slice()),
            Client::Adhoc(a) => &a.pairs,
        }
    }

    /// T2.6: the single tag maps of a client (inbounds, then gateway).
    fn client_maps<'a>(&'a self, client: Client<'a>) -> Vec<&'a [(Sym, Sym)]> {
        match client {
            Client::NonMesh => Vec::new(),
            Client::Dataplane(d) => match self.dataplanes.get(d as usize) {
                Some(dp) => dp
                    .inbounds
                    .iter()
                    .map(|(_, t)| t.as_slice())
                    .chain(dp.gateway.as_deref())
                    .collect(),
                None => Vec::new(), // unknown id: no map, refused as a mesh client of NO_MESH
            },
            Client::Adhoc(a) => a.tag_maps.iter().map(TagMap::as_slice).collect(),
        }
    }

    /// The Prometheus additional inbound port of `mesh` (T4.9).
    pub fn prometheus_port(&self, mesh: MeshId) -> Option<u32> {
        self.meshes
            .get(mesh as usize)?
            .prometheus
            .as_ref()
            .map(|p| p.0)
    }

    /// T3.7(a): selection for every inbound of `dp`, plus the Prometheus inbound (T4.9, A10;
    /// selection only). Returns `(port, is_prometheus, selection)`; empty for an unknown `dp`.
    pub fn select_dataplane(&self, dp: DpId) -> Vec<(u32, bool, Selection)> {
        let Some(d) = self.dataplanes.get(dp as usize) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, bool, Selection)> = d
            .inbounds
            .iter()
            .map(|(port, tags)| (*port, false, self.select(d.mesh, tags)))
            .collect();
        let prometheus = self
            .meshes
            .get(d.mesh as usize)
            .and_then(|m| m.prometheus.as_ref());
        if let Some((port, tags)) = prometheus {
            out.push((*port, true, self.select(d.mesh, tags)));
        }
        out
    }

    /// T4.5: selection for an ExternalService over its full tag map (empty for an unknown `es`).
    pub fn select_external_service(&self, es: EsId) -> Selection {
        match self.external_services.get(es as usize) {
            Some(e) => self.select(e.mesh, &e.tags),
            None => Selection::default(),
        }
    }

    /// Names of the shadowed TPs of a selection (T3.6), most specific first.
    pub fn shadowed_names<'a>(&'a self, sel: &'a Selection) -> impl Iterator<Item = &'a str> + 'a {
        sel.shadowed().iter().map(|(p, _)| self.policy_name(*p))
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
        // ids come from this set; an unknown one has no listener to allow (E0b, deny)
        let Some((d, Ok(mesh))) = self
            .dataplanes
            .get(dp as usize)
            .map(|d| (d, self.mesh_ref(d.mesh)))
        else {
            return Verdict::plain(false, Reason::UnknownInbound);
        };
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

    /// E5–E7 (and T4.6/T4.7): the winner, then the first matching source.
    pub(crate) fn sources_verdict<F>(&self, winner: Option<PolicyId>, source_matches: F) -> Verdict
    where
        F: Fn(&super::policy_set::Selector) -> bool,
    {
        let Some(policy) = winner.and_then(|w| self.policies.get(w as usize)) else {
            return Verdict::plain(false, Reason::NoPolicy); // E5
        };
        let matched = policy.sources.iter().position(source_matches);
        Verdict {
            allowed: matched.is_some(),
            // E6 / E7
            reason: if matched.is_some() {
                Reason::Allowed
            } else {
                Reason::SourceNotMatched
            },
            policy: winner,
            matched_source: matched.map(|i| i as u32),
        }
    }

    /// §4.2 preconditions: the ExternalService's mesh is defined and the client is a mesh client
    /// of that mesh.
    pub fn es_client_ok(&self, client: Client<'_>, es: EsId) -> Result<(), TrafficError> {
        let e = self
            .external_services
            .get(es as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown ExternalService id".into()))?;
        let mesh = self.mesh_ref(e.mesh)?;
        if !mesh.defined {
            return Err(TrafficError::UnknownMesh(mesh.name.clone()));
        }
        match self.client_mesh(client) {
            None => Err(TrafficError::Invalid(
                "ExternalService access needs a mesh client".into(),
            )),
            Some(m) if m != e.mesh => Err(TrafficError::Invalid(format!(
                "the client is not in mesh {:?} of ExternalService {:?}",
                mesh.name, e.name
            ))),
            Some(_) => Ok(()),
        }
    }

    /// §4.2 TrafficPermission part: zone egress (T4.7, identity matcher) or direct (T4.6,
    /// dataplane matcher), with the T4.5 `winner`. Call [`PolicySet::es_client_ok`] first.
    pub fn es_tp_verdict(
        &self,
        client: Client<'_>,
        es: EsId,
        winner: Option<PolicyId>,
    ) -> Result<Verdict, TrafficError> {
        let e = self
            .external_services
            .get(es as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown ExternalService id".into()))?;
        if self.mesh_ref(e.mesh)?.zone_egress {
            let pairs = self.client_pairs(client);
            return Ok(self.sources_verdict(winner, |sel| identity_matches(sel, pairs)));
        }
        let maps = self.client_maps(client);
        if maps.is_empty() {
            return Err(TrafficError::Invalid(
                "direct ExternalService access needs a dataplane or tag map client, not an identity (A5)".into(),
            ));
        }
        Ok(self.sources_verdict(winner, |sel| dataplane_matches(sel, maps.iter().copied())))
    }

    pub(crate) fn mesh_ref(&self, mesh: MeshId) -> Result<&super::policy_set::Mesh, TrafficError> {
        self.meshes
            .get(mesh as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown mesh id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_all_is_in_discriminant_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }
}
