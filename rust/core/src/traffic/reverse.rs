//! Reverse query (who may reach an inbound): the §4.1 rows that apply whatever the client is,
//! and, for mesh clients, the admitted identities as terms derived from the deciding policy:
//!
//! * TrafficPermission (E5–E7): one term per `sources[j]` of the T3.5 winner, requiring its
//!   non-`'*'` pairs (T2.7: `'*'` imposes nothing);
//! * MeshTrafficPermission (E4, M7.1): one term per allowing item of the M6.1 list requiring its
//!   M5.2 subset, *unless* the client also holds every pair of a later `Deny` item (M6.2: the
//!   last matching item decides).
//!
//! The dataplanes admitted are decided by [`Snapshot::check_inbound`] itself, not by the terms.

use super::decide::Reason;
use super::intern::Sym;
use super::policy_set::{DpId, Val};
use super::snapshot::{Snapshot, Subject, Target};
use crate::mtp::Action;

/// Which §4.1 row answers for the inbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// E0: gateway or Prometheus inbound.
    NotEnforced,
    /// E0b.
    UnknownInbound,
    /// E1.
    MtlsDisabled,
    /// E5 (or MTP §7 E4): no policy.
    NoPolicy,
    /// E5–E7: the winning TrafficPermission.
    TrafficPermission,
    /// E4 / M6.2: the selecting MeshTrafficPermissions.
    MeshTrafficPermission,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::NotEnforced => "not-enforced",
            Basis::UnknownInbound => "unknown-inbound",
            Basis::MtlsDisabled => "mtls-disabled",
            Basis::NoPolicy => "no-policy",
            Basis::TrafficPermission => "traffic-permission",
            Basis::MeshTrafficPermission => "mesh-traffic-permission",
        }
    }
}

/// Pairs as (key, value) strings.
pub type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Mesh clients holding every pair of `require`, except those holding every pair of one of the
/// `unless` sets; `policy` / `index` / `action`: where the term comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTerm<'a> {
    pub require: Pairs<'a>,
    pub unless: Vec<Pairs<'a>>,
    pub policy: Option<&'a str>,
    pub index: Option<usize>,
    pub action: Option<Action>,
}

/// Who may reach one inbound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSet<'a> {
    pub basis: Basis,
    /// A client without a sidecar is admitted (E0, E1, E2).
    pub non_mesh: bool,
    pub terms: Vec<ClientTerm<'a>>,
    /// The governing TP, or the selecting MTPs lowest priority first.
    pub policies: Vec<&'a str>,
    /// The dataplanes of the destination's mesh `check` admits, by id.
    pub admitted: Vec<DpId>,
    /// The services (`kuma.io/service` of a dataplane's identity, T2.7) all of whose dataplanes
    /// are admitted, sorted.
    pub services: Vec<&'a str>,
}

fn subset_of(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.iter().all(|p| b.contains(p))
}

fn strs(p: &[(String, String)]) -> Pairs<'_> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl Snapshot {
    /// The client set of inbound `port` of `dp` (see the module docs); `with_admitted`: also
    /// decide every dataplane of the mesh against it.
    pub fn client_set(&self, dp: DpId, port: u32, with_admitted: bool) -> ClientSet<'_> {
        let everyone = || {
            vec![ClientTerm {
                require: Vec::new(),
                unless: Vec::new(),
                policy: None,
                index: None,
                action: None,
            }]
        };
        let mut cs = ClientSet {
            basis: Basis::NoPolicy,
            non_mesh: false,
            terms: Vec::new(),
            policies: Vec::new(),
            admitted: Vec::new(),
            services: Vec::new(),
        };
        if with_admitted {
            cs.admitted = self.admitted(dp, port);
            cs.services = self.services_within(dp, &cs.admitted);
        }
        let Some(d) = self.tp.dataplanes.get(dp as usize) else {
            cs.basis = Basis::UnknownInbound;
            return cs;
        };
        let Some(mesh) = self.tp.meshes.get(d.mesh as usize) else {
            cs.basis = Basis::UnknownInbound;
            return cs;
        };
        // The §4.1 rows that do not depend on the client, as `check` applies them.
        match self
            .check_inbound(&Subject::NonMesh, dp, port)
            .map(|c| c.reason())
        {
            Ok(Reason::NotEnforced) => {
                cs.basis = Basis::NotEnforced;
                cs.non_mesh = true;
                cs.terms = everyone();
                return cs;
            }
            Ok(Reason::UnknownInbound) | Err(_) => {
                cs.basis = Basis::UnknownInbound;
                return cs;
            }
            Ok(Reason::MtlsDisabled) => {
                cs.basis = Basis::MtlsDisabled;
                cs.non_mesh = true;
                cs.terms = everyone();
                return cs;
            }
            Ok(r) => cs.non_mesh = r == Reason::PermissiveNonMeshTraffic, // E2 vs E3
        }
        debug_assert!(mesh.defined || cs.basis == Basis::UnknownInbound);
        if let Some((_, plan)) = self.target_plan(Target::Inbound { dp, port }) {
            cs.basis = Basis::MeshTrafficPermission;
            cs.policies = plan.policy_names(&self.mtp).collect();
            let items: Vec<_> = self
                .plan_items(plan)
                .into_iter()
                .filter(|(_, _, sub, _)| !sub.iter().any(|(k, _)| k.starts_with('!')))
                .collect();
            for (i, &(policy, index, req, action)) in items.iter().enumerate() {
                if !action.allows() {
                    continue;
                }
                let mut later: Vec<&[(String, String)]> = Vec::new();
                let mut dead = false;
                for &(_, _, d_req, d_action) in items.iter().skip(i + 1) {
                    if d_action != Action::Deny {
                        continue;
                    }
                    if subset_of(d_req, req) {
                        dead = true; // every client of this item also matches the later deny
                        break;
                    }
                    if !later.contains(&d_req) {
                        later.push(d_req);
                    }
                }
                if dead {
                    continue;
                }
                // Only minimal exceptions (a superset of another exception adds nothing).
                let minimal = later
                    .iter()
                    .filter(|u| !later.iter().any(|o| o.len() < u.len() && subset_of(o, u)))
                    .map(|u| strs(u))
                    .collect();
                cs.terms.push(ClientTerm {
                    require: strs(req),
                    unless: minimal,
                    policy: Some(policy),
                    index: Some(index),
                    action: Some(action),
                });
            }
            return cs;
        }
        let Some(winner) = self.inbound_winner(dp, port) else {
            return cs; // E5
        };
        let Some(p) = self.tp.policies.get(winner as usize) else {
            return cs;
        };
        cs.basis = Basis::TrafficPermission;
        cs.policies = vec![p.name.as_str()];
        for (j, sel) in p.sources.iter().enumerate() {
            let mut require: Pairs<'_> = sel
                .pairs
                .iter()
                .filter_map(|&(k, v)| match v {
                    // symbols of this set's interner: always resolved
                    Val::Exact(v) => {
                        Some((self.tp.interner.resolve(k)?, self.tp.interner.resolve(v)?))
                    }
                    Val::Any => None, // T2.7: '*' imposes nothing
                })
                .collect();
            require.sort_unstable();
            cs.terms.push(ClientTerm {
                require,
                unless: Vec::new(),
                policy: Some(p.name.as_str()),
                index: Some(j),
                action: None,
            });
        }
        cs
    }

    /// The services of `dp`'s mesh all of whose dataplanes are in `admitted`, sorted.
    fn services_within(&self, dp: DpId, admitted: &[DpId]) -> Vec<&str> {
        let Some(mesh) = self.tp.dataplanes.get(dp as usize).map(|d| d.mesh) else {
            return Vec::new();
        };
        let mut all: ahash::AHashMap<Sym, bool> = ahash::AHashMap::new();
        for (i, d) in self.tp.dataplanes.iter().enumerate() {
            if d.mesh != mesh {
                continue;
            }
            let ok = admitted.binary_search(&(i as DpId)).is_ok(); // ids ascending
            for &(k, v) in &d.identity {
                if k == self.tp.service {
                    *all.entry(v).or_insert(true) &= ok;
                }
            }
        }
        let mut out: Vec<&str> = all
            .into_iter()
            .filter(|&(_, ok)| ok)
            .filter_map(|(s, _)| self.tp.interner.resolve(s))
            .collect();
        out.sort_unstable();
        out
    }

    /// The dataplanes of `dp`'s mesh whose check against inbound `port` of `dp` allows.
    pub fn admitted(&self, dp: DpId, port: u32) -> Vec<DpId> {
        let Some(d) = self.tp.dataplanes.get(dp as usize) else {
            return Vec::new();
        };
        (0..self.tp.dataplanes.len() as DpId)
            .filter(|&c| {
                self.tp
                    .dataplanes
                    .get(c as usize)
                    .is_some_and(|x| x.mesh == d.mesh)
                    && self
                        .check_inbound(&Subject::Dataplane(c), dp, port)
                        .is_ok_and(|r| r.allowed())
            })
            .collect()
    }
}
