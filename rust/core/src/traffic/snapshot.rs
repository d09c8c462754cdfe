//! One immutable compiled snapshot of a store: the TrafficPermission set, the
//! MeshTrafficPermission set and the index between them. Every traffic decision of an engine
//! (single checks, ExternalService checks, batch rows, explanations) goes through here, so the
//! §4.1 order E0–E7 with the E4 step (T4.11: an MTP selecting the target replaces TP, M7.1) is
//! composed in one place, and so is the zone egress (T4.7 / M7.5).
//!
//! The per-target caches (T3.5 winners, MTP plans) are filled lazily and are thread-safe
//! (`OnceLock`): after the first check of a target, a check costs the same whatever the number
//! of matching policies.

use std::sync::OnceLock;

use super::decide::{EsGating, Reason, Verdict};
use super::intern::Sym;
use super::policy_set::{
    AdhocClient, Client, ClientInput, DpId, EsId, MeshId, PolicyId, PolicySet, TrafficError,
};
use super::select::Selection;
use crate::mtp::{self, Action, ClientIdentity, ClientIds, InboundPlan, Labels, MtpSet};

/// The client of a check, resolved against one snapshot.
#[derive(Debug, Clone)]
pub enum Subject {
    /// No sidecar (E2/E3).
    NonMesh,
    /// A stored dataplane.
    Dataplane(DpId),
    /// A tag map or explicit identity (A5), with its M5.1 identity for MeshTrafficPermission.
    Adhoc(Box<AdhocSubject>),
}

#[derive(Debug, Clone)]
pub struct AdhocSubject {
    pub tp: AdhocClient,
    pub mtp: ClientIdentity,
    pub mtp_ids: ClientIds,
}

impl Subject {
    pub fn client(&self) -> Client<'_> {
        match self {
            Subject::NonMesh => Client::NonMesh,
            Subject::Dataplane(d) => Client::Dataplane(*d),
            Subject::Adhoc(a) => Client::Adhoc(&a.tp),
        }
    }
}

/// What was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Inbound { dp: DpId, port: u32 },
    ExternalService(EsId),
}

/// Where a MeshTrafficPermission decision came from (its M6.1 plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRef {
    /// Inbound `port` of the dataplane at position `mdp` of the MTP set.
    Inbound { mdp: usize, port: u32 },
    /// The ExternalService at the zone egress (M7.5).
    Egress(EsId),
}

/// The compact outcome of a check: which engine decided and its verdict. Lists (shadowed TPs,
/// matched MTPs, overridden items) are derived on demand from the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Tp(Verdict),
    Mtp(PlanRef, mtp::Verdict),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub target: Target,
    pub outcome: Outcome,
    /// T4.8: passthrough is on (ExternalService checks only).
    pub bypass_possible: bool,
}

impl Checked {
    pub fn allowed(&self) -> bool {
        match self.outcome {
            Outcome::Tp(v) => v.allowed,
            Outcome::Mtp(_, v) => v.allowed,
        }
    }
    pub fn reason(&self) -> Reason {
        match self.outcome {
            Outcome::Tp(v) => v.reason,
            Outcome::Mtp(_, v) => v.reason,
        }
    }
    pub fn matched_source(&self) -> Option<u32> {
        match self.outcome {
            Outcome::Tp(v) => v.matched_source,
            Outcome::Mtp(..) => None,
        }
    }
    pub fn action(&self) -> Option<Action> {
        match self.outcome {
            Outcome::Tp(_) => None,
            Outcome::Mtp(_, v) => v.action,
        }
    }
}

/// One item of the M6.1 list for a client (explanations): policy, `from` index, action,
/// whether it matches the client (M5.3), whether it decides (M6.2, the last match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemReport<'a> {
    pub policy: &'a str,
    /// M5.2 requirements of the item (sorted (key, value) pairs; empty = every client).
    pub subset: &'a [(String, String)],
    pub from_index: usize,
    pub action: Action,
    pub matched: bool,
    pub deciding: bool,
}

/// One M6.1 item without a client: (policy, from index, M5.2 subset, action).
pub type PlanItem<'a> = (&'a str, usize, &'a [(String, String)], Action);

/// The compiled snapshot (immutable; `Send + Sync`).
#[derive(Debug)]
pub struct Snapshot {
    pub tp: PolicySet,
    pub mtp: MtpSet,
    /// Per TP dataplane: its position in the MTP set.
    mtp_dp: Vec<Option<usize>>,
    /// Per TP mesh: some MeshTrafficPermission exists there (E4 consulted).
    has_mtp: Vec<bool>,
    /// Per TP dataplane, per inbound (same positions): the T3.5 winner.
    winners: Vec<Box<[OnceLock<Option<PolicyId>>]>>,
    /// Per ExternalService: the T4.5 winner.
    es_winners: Vec<OnceLock<Option<PolicyId>>>,
    /// Per ExternalService: its tags, and its zone-egress MTP plan (M7.5).
    es_labels: Vec<Labels>,
    egress: Vec<OnceLock<InboundPlan>>,
    /// Dataplane names -> ids for name resolution (checks and batches).
    pub(crate) names: super::batch::BatchIndex,
}

impl Snapshot {
    pub fn new(tp: PolicySet, mtp: MtpSet) -> Snapshot {
        let mtp_dp = tp
            .dataplanes
            .iter()
            .map(|d| {
                let mesh = tp
                    .meshes
                    .get(d.mesh as usize)
                    .map_or("", |m| m.name.as_str());
                mtp.dataplane_index(mesh, &d.name)
            })
            .collect();
        let has_mtp = tp.meshes.iter().map(|m| mtp.has_mesh(&m.name)).collect();
        let winners = tp
            .dataplanes
            .iter()
            .map(|d| d.inbounds.iter().map(|_| OnceLock::new()).collect())
            .collect();
        let es_labels = tp
            .external_services
            .iter()
            .map(|e| {
                e.tags
                    .iter()
                    // symbols of this set's interner: always resolved
                    .filter_map(|&(k, v)| {
                        Some((
                            tp.interner.resolve(k)?.to_owned(),
                            tp.interner.resolve(v)?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .collect();
        let n_es = tp.external_services.len();
        let names = tp.batch_index();
        Snapshot {
            mtp_dp,
            has_mtp,
            winners,
            es_winners: (0..n_es).map(|_| OnceLock::new()).collect(),
            es_labels,
            egress: (0..n_es).map(|_| OnceLock::new()).collect(),
            names,
            tp,
            mtp,
        }
    }

    /// Some MeshTrafficPermission exists in `mesh`.
    pub fn mesh_has_mtp(&self, mesh: MeshId) -> bool {
        self.has_mtp.get(mesh as usize).copied().unwrap_or(false)
    }

    fn mesh_name(&self, mesh: MeshId) -> &str {
        self.tp
            .meshes
            .get(mesh as usize)
            .map_or("", |m| m.name.as_str())
    }

    // ---- clients -------------------------------------------------------------------------------

    /// An ad-hoc client (tag map or identity, A5) in mesh `input.mesh`.
    pub fn adhoc(&self, input: &ClientInput) -> Result<Subject, TrafficError> {
        let tp = self.tp.adhoc_client(input)?;
        let mtp = ClientIdentity {
            mesh: input.mesh.clone(),
            tags: input.pairs.iter().cloned().collect(),
        };
        let mtp_ids = self.mtp.client_ids(&mtp);
        Ok(Subject::Adhoc(Box::new(AdhocSubject { tp, mtp, mtp_ids })))
    }

    /// M5.1 identity and interned ids of a mesh client (None for a non-mesh client).
    fn mtp_client<'a>(
        &'a self,
        subject: &'a Subject,
    ) -> Result<Option<(&'a ClientIdentity, &'a ClientIds)>, TrafficError> {
        match subject {
            Subject::NonMesh => Ok(None),
            Subject::Dataplane(d) => {
                let i = self.mtp_index(*d)?;
                let (ident, ids) = self.mtp.dataplane_identity(i).ok_or_else(|| {
                    TrafficError::Invalid(
                        "the dataplane is missing from the MeshTrafficPermission set".into(),
                    )
                })?;
                Ok(Some((ident, ids)))
            }
            Subject::Adhoc(a) => Ok(Some((&a.mtp, &a.mtp_ids))),
        }
    }

    fn mtp_index(&self, dp: DpId) -> Result<usize, TrafficError> {
        self.mtp_dp
            .get(dp as usize)
            .copied()
            .flatten()
            .ok_or_else(|| {
                TrafficError::Invalid(
                    "the dataplane is missing from the MeshTrafficPermission index".into(),
                )
            })
    }

    // ---- winners (T3.5, memoised per target) ---------------------------------------------------

    /// The T3.5 winner of inbound `port` of `dp` (None when no TP matches or no such inbound).
    pub fn inbound_winner(&self, dp: DpId, port: u32) -> Option<PolicyId> {
        let d = self.tp.dataplanes.get(dp as usize)?;
        let pos = d.inbounds.iter().position(|(p, _)| *p == port)?;
        let (_, tags) = d.inbounds.get(pos)?;
        let slot = self.winners.get(dp as usize)?.get(pos)?;
        *slot.get_or_init(|| self.tp.select_winner(d.mesh, tags))
    }

    /// The T4.5 winner of an ExternalService.
    pub fn es_winner(&self, es: EsId) -> Option<PolicyId> {
        let e = self.tp.external_services.get(es as usize)?;
        let slot = self.es_winners.get(es as usize)?;
        *slot.get_or_init(|| self.tp.select_winner(e.mesh, &e.tags))
    }

    // ---- MTP plans ----------------------------------------------------------------------------

    /// The non-empty M6.1 plan of an inbound (None: no MTP selects it).
    fn inbound_plan(&self, dp: DpId, port: u32) -> Option<(usize, &InboundPlan)> {
        let mdp = self.mtp_dp.get(dp as usize).copied().flatten()?;
        let plan = self.mtp.plan(mdp, port)?;
        (!plan.is_empty()).then_some((mdp, plan))
    }

    /// The M6.1 plan of an ExternalService at the zone egress (M7.5), possibly empty.
    fn egress_plan(&self, es: EsId) -> Option<&InboundPlan> {
        let e = self.tp.external_services.get(es as usize)?;
        let labels = self.es_labels.get(es as usize)?;
        let slot = self.egress.get(es as usize)?;
        Some(slot.get_or_init(|| self.mtp.egress_plan(self.mesh_name(e.mesh), labels)))
    }

    /// The plan an MTP outcome refers to.
    pub fn plan(&self, r: PlanRef) -> Option<&InboundPlan> {
        match r {
            PlanRef::Inbound { mdp, port } => self.mtp.plan(mdp, port),
            PlanRef::Egress(es) => self.egress_plan(es),
        }
    }

    /// The plan selecting a target, if an MTP selects it (inspection / who-can).
    pub fn target_plan(&self, target: Target) -> Option<(PlanRef, &InboundPlan)> {
        match target {
            Target::Inbound { dp, port } => {
                let d = self.tp.dataplanes.get(dp as usize)?;
                if !self.mesh_has_mtp(d.mesh) {
                    return None;
                }
                let (mdp, plan) = self.inbound_plan(dp, port)?;
                Some((PlanRef::Inbound { mdp, port }, plan))
            }
            Target::ExternalService(es) => {
                let e = self.tp.external_services.get(es as usize)?;
                let mesh = self.tp.meshes.get(e.mesh as usize)?;
                if !mesh.zone_egress || !self.mesh_has_mtp(e.mesh) {
                    return None;
                }
                let plan = self.egress_plan(es)?;
                (!plan.is_empty()).then_some((PlanRef::Egress(es), plan))
            }
        }
    }

    // ---- decisions ------------------------------------------------------------------------------

    /// §4.1 E0–E7 for `subject` -> inbound `port` of `dp`, with the E4 step (T4.11, M7.1).
    pub fn check_inbound(
        &self,
        subject: &Subject,
        dp: DpId,
        port: u32,
    ) -> Result<Checked, TrafficError> {
        let d = self
            .tp
            .dataplanes
            .get(dp as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown dataplane id".into()))?;
        let mesh = self.tp.mesh_ref(d.mesh)?;
        if !mesh.defined {
            return Err(TrafficError::UnknownMesh(mesh.name.clone()));
        }
        let v = self
            .tp
            .inbound_verdict(self.tp.peer(subject.client()), dp, port, |_, _| {
                self.inbound_winner(dp, port)
            });
        let target = Target::Inbound { dp, port };
        let outcome = match self.e4_inbound(&v, d.mesh, dp, port, subject)? {
            Some(o) => o,
            None => Outcome::Tp(v),
        };
        Ok(Checked {
            target,
            outcome,
            bypass_possible: false,
        })
    }

    /// E4: when TP decided (E5–E7) in a mesh with MTPs and an MTP selects the inbound, M6.2.
    fn e4_inbound(
        &self,
        v: &Verdict,
        mesh: MeshId,
        dp: DpId,
        port: u32,
        subject: &Subject,
    ) -> Result<Option<Outcome>, TrafficError> {
        if !v.at_e4() || !self.mesh_has_mtp(mesh) {
            return Ok(None);
        }
        let Some((mdp, plan)) = self.inbound_plan(dp, port) else {
            return Ok(None);
        };
        let Some((ident, ids)) = self.mtp_client(subject)? else {
            return Ok(None); // unreachable: a non-mesh client never reaches E4
        };
        let same_mesh = ident.mesh == self.mesh_name(mesh);
        Ok(Some(Outcome::Mtp(
            PlanRef::Inbound { mdp, port },
            plan.verdict(ids, same_mesh),
        )))
    }

    /// §4.2: may `subject` use ExternalService `es`? The path follows the Mesh: zone egress
    /// (T4.7: an MTP selecting the ES decides, M7.5; else TP with the identity matcher) or
    /// direct (T4.6, dataplane matcher). Independent of mTLS (A6).
    pub fn check_external_service(
        &self,
        subject: &Subject,
        es: EsId,
        gating: EsGating,
    ) -> Result<Checked, TrafficError> {
        let client = subject.client();
        self.tp.es_client_ok(client, es)?;
        let e = self
            .tp
            .external_services
            .get(es as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown ExternalService id".into()))?;
        let mesh = self.tp.mesh_ref(e.mesh)?;
        let outcome = if gating == EsGating::None {
            Outcome::Tp(Verdict {
                allowed: true,
                reason: Reason::NotGated, // A6: 2.6+ routing
                policy: None,
                matched_source: None,
            })
        } else {
            let mtp = if mesh.zone_egress {
                self.e4_egress(e.mesh, es, subject)?
            } else {
                None
            };
            match mtp {
                Some(o) => o,
                None => Outcome::Tp(self.tp.es_tp_verdict(client, es, self.es_winner(es))?),
            }
        };
        Ok(Checked {
            target: Target::ExternalService(es),
            outcome,
            bypass_possible: mesh.passthrough, // T4.8
        })
    }

    fn e4_egress(
        &self,
        mesh: MeshId,
        es: EsId,
        subject: &Subject,
    ) -> Result<Option<Outcome>, TrafficError> {
        if !self.mesh_has_mtp(mesh) {
            return Ok(None);
        }
        let Some(plan) = self.egress_plan(es).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let Some((ident, ids)) = self.mtp_client(subject)? else {
            return Ok(None);
        };
        let same_mesh = ident.mesh == self.mesh_name(mesh);
        Ok(Some(Outcome::Mtp(
            PlanRef::Egress(es),
            plan.verdict(ids, same_mesh),
        )))
    }

    /// ExternalServices of the client's mesh it may use, sorted by name.
    pub fn reachable_external_services(
        &self,
        subject: &Subject,
        gating: EsGating,
    ) -> Result<Vec<EsId>, TrafficError> {
        let mesh = match subject.client() {
            Client::NonMesh => None,
            Client::Dataplane(d) => self.tp.dataplanes.get(d as usize).map(|d| d.mesh),
            Client::Adhoc(a) => Some(a.mesh),
        }
        .ok_or_else(|| TrafficError::Invalid("a mesh client is required".into()))?;
        let mut out = Vec::new();
        for &es in self.tp.es_by_mesh.get(mesh as usize).into_iter().flatten() {
            if self.check_external_service(subject, es, gating)?.allowed() {
                out.push(es);
            }
        }
        Ok(out)
    }

    // ---- lists, computed on access --------------------------------------------------------------

    /// The deciding policy's name (a TP, or an MTP when E4 decided).
    pub fn policy_name(&self, c: &Checked) -> Option<&str> {
        match c.outcome {
            Outcome::Tp(v) => v.policy.map(|p| self.tp.policy_name(p)),
            Outcome::Mtp(r, v) => {
                let plan = self.plan(r)?;
                v.last.and_then(|l| plan.item_policy(&self.mtp, l))
            }
        }
    }

    /// The deciding `from` item's index (M6.2).
    pub fn from_index(&self, c: &Checked) -> Option<usize> {
        match c.outcome {
            Outcome::Tp(_) => None,
            Outcome::Mtp(r, v) => self.plan(r)?.item_from_index(v.last?),
        }
    }

    /// The T3.5 selection of the checked target (every matching TP, ranked).
    pub fn selection(&self, target: Target) -> Selection {
        match target {
            Target::Inbound { dp, port } => {
                let Some(d) = self.tp.dataplanes.get(dp as usize) else {
                    return Selection::default();
                };
                match d.inbounds.iter().find(|(p, _)| *p == port) {
                    Some((_, tags)) => self.tp.select(d.mesh, tags),
                    None => Selection::default(),
                }
            }
            Target::ExternalService(es) => match self.tp.external_services.get(es as usize) {
                Some(_) => self.tp.select_external_service(es),
                None => Selection::default(),
            },
        }
    }

    /// T3.6: the TPs shadowed by the winner, most specific first (empty unless TP selected one).
    pub fn shadowed(&self, c: &Checked) -> Vec<&str> {
        let Outcome::Tp(v) = c.outcome else {
            return Vec::new();
        };
        if v.policy.is_none() {
            return Vec::new();
        }
        let sel = self.selection(c.target);
        sel.shadowed()
            .iter()
            .map(|(p, _)| self.tp.policy_name(*p))
            .collect()
    }

    /// The MTPs selecting the target, lowest priority first (M4.9); empty unless MTP decided.
    pub fn matched_policies(&self, c: &Checked) -> Vec<&str> {
        match c.outcome {
            Outcome::Tp(_) => Vec::new(),
            Outcome::Mtp(r, _) => self
                .plan(r)
                .map(|p| p.policy_names(&self.mtp).collect())
                .unwrap_or_default(),
        }
    }

    /// A2: the MTP priority order had a full tie.
    pub fn tie(&self, c: &Checked) -> bool {
        match c.outcome {
            Outcome::Tp(_) => false,
            Outcome::Mtp(r, _) => self.plan(r).is_some_and(|p| p.tie),
        }
    }

    /// The M6.1 items with match / decide flags for `subject` (empty unless MTP decided).
    pub fn items(
        &self,
        c: &Checked,
        subject: &Subject,
    ) -> Result<Vec<ItemReport<'_>>, TrafficError> {
        let Outcome::Mtp(r, v) = c.outcome else {
            return Ok(Vec::new());
        };
        let Some(plan) = self.plan(r) else {
            return Ok(Vec::new());
        };
        let Some((_, ids)) = self.mtp_client(subject)? else {
            return Ok(Vec::new());
        };
        Ok(plan
            .items_for(&self.mtp, ids, v.same_mesh)
            .into_iter()
            .enumerate()
            .map(|(i, (policy, from_index, action, matched))| ItemReport {
                policy,
                subset: plan
                    .item_policy_index(i)
                    .map_or(&[][..], |p| self.mtp.item_subset(p, from_index)),
                from_index,
                action,
                matched,
                deciding: v.last == Some(i),
            })
            .collect())
    }

    /// The M6.1 items of a plan (no client): (policy, from index, M5.2 subset, action).
    pub fn plan_items<'s>(&'s self, plan: &'s InboundPlan) -> Vec<PlanItem<'s>> {
        plan.items_for(&self.mtp, &ClientIds::default(), false)
            .into_iter()
            .enumerate()
            .map(|(i, (policy, from_index, action, _))| {
                let subset = plan
                    .item_policy_index(i)
                    .map_or(&[][..], |p| self.mtp.item_subset(p, from_index));
                (policy, from_index, subset, action)
            })
            .collect()
    }

    /// §9 `overridden`: matching items before the deciding one, in list order.
    pub fn overridden(
        &self,
        c: &Checked,
        subject: &Subject,
    ) -> Result<Vec<(&str, usize, Action)>, TrafficError> {
        let Outcome::Mtp(_, v) = c.outcome else {
            return Ok(Vec::new());
        };
        let upto = v.last.unwrap_or(0);
        Ok(self
            .items(c, subject)?
            .into_iter()
            .take(upto)
            .filter(|i| i.matched)
            .map(|i| (i.policy, i.from_index, i.action))
            .collect())
    }

    /// A3/A4 for an MTP decision: `Some(false)` for TP decisions; `None` when not computed
    /// (the item list is above `max_items`, or more than `budget` rule combinations would have
    /// to be examined; the decision is unaffected).
    pub fn divergence(
        &self,
        c: &Checked,
        subject: &Subject,
        max_items: usize,
        budget: usize,
    ) -> Result<Option<bool>, TrafficError> {
        let Outcome::Mtp(r, v) = c.outcome else {
            return Ok(Some(false));
        };
        let Some(plan) = self.plan(r) else {
            return Ok(Some(false));
        };
        let Some((ident, ids)) = self.mtp_client(subject)? else {
            return Ok(Some(false));
        };
        let mesh = match c.target {
            Target::Inbound { dp, .. } => self.tp.dataplanes.get(dp as usize).map(|d| d.mesh),
            Target::ExternalService(es) => {
                self.tp.external_services.get(es as usize).map(|e| e.mesh)
            }
        };
        let mesh = mesh.map_or("", |m| self.mesh_name(m));
        Ok(plan.divergence(&self.mtp, &v, mesh, ident, ids, max_items, budget))
    }

    /// M6.4: Kuma's rule list for a target (`Ok(None)`: no MTP selects it), capped.
    pub fn rules(
        &self,
        target: Target,
        max_rules: usize,
    ) -> Result<Option<Vec<mtp::Rule>>, TrafficError> {
        match self.target_plan(target) {
            None => Ok(None),
            Some((_, plan)) => self
                .mtp
                .plan_rules(plan, max_rules)
                .map_err(TrafficError::Rules),
        }
    }

    // ---- batch dictionaries ---------------------------------------------------------------------

    /// Every policy name a batch row can carry, in dictionary order: the TPs, then the MTPs.
    pub fn policy_dictionary(&self) -> impl Iterator<Item = &str> {
        self.tp
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .chain((0..self.mtp.len()).filter_map(|i| self.mtp.policy(i).map(|p| p.name.as_str())))
    }

    /// The dictionary id of the policy deciding an MTP verdict.
    pub(crate) fn mtp_policy_id(&self, plan: &InboundPlan, v: &mtp::Verdict) -> Option<u32> {
        let i = plan.item_policy_index(v.last?)?;
        u32::try_from(self.tp.policies.len() + i).ok()
    }

    /// E4 for a batch row: the MTP outcome of inbound `port` of `dp` for a client with MTP ids
    /// `ids` in the destination's mesh, when an MTP selects it.
    pub(crate) fn e4_row(
        &self,
        dp: DpId,
        port: u32,
        ids: &ClientIds,
    ) -> Option<(mtp::Verdict, Option<u32>)> {
        let (_, plan) = self.inbound_plan(dp, port)?;
        let v = plan.verdict(ids, true);
        Some((v, self.mtp_policy_id(plan, &v)))
    }

    /// The MTP ids of a stored dataplane (M5.1), for batch rows.
    pub(crate) fn dp_mtp_ids(&self, dp: DpId) -> Option<&ClientIds> {
        let i = self.mtp_dp.get(dp as usize).copied().flatten()?;
        Some(&self.mtp.dataplane_identity(i)?.1)
    }

    /// The pairs of a dataplane's T2.7 identity (for who-can and tests).
    pub fn identity_pairs(&self, dp: DpId) -> &[(Sym, Sym)] {
        self.tp
            .dataplanes
            .get(dp as usize)
            .map_or(&[][..], |d| d.identity.as_slice())
    }

    // ---- name resolution (TrafficEngine.check) -------------------------------------------------

    fn meshes_of_group(&self, ids: &[DpId]) -> Vec<String> {
        let mut v: Vec<String> = ids
            .iter()
            .filter_map(|&d| self.tp.dataplanes.get(d as usize))
            .map(|d| self.mesh_name(d.mesh).to_owned())
            .collect();
        v.sort();
        v
    }

    fn group(&self, name: &str) -> &[DpId] {
        self.names.group(name)
    }

    /// The dataplane of `ids` in mesh `mesh` (names are unique within a mesh: at most one).
    fn in_mesh(&self, ids: &[DpId], mesh: MeshId) -> Option<DpId> {
        ids.iter().copied().find(|&d| {
            self.tp
                .dataplanes
                .get(d as usize)
                .is_some_and(|x| x.mesh == mesh)
        })
    }

    /// The only dataplane of `ids` (those named `name`): `UnknownDataplane` when there is none,
    /// `Ambiguous` when there are several (the destination and source resolvers' shared tail).
    fn only_dataplane(&self, ids: &[DpId], name: &str) -> Result<DpId, TrafficError> {
        match ids {
            [] => Err(TrafficError::UnknownDataplane {
                mesh: String::new(),
                name: name.to_owned(),
            }),
            [one] => Ok(*one),
            _ => Err(TrafficError::Ambiguous {
                kind: "Dataplane",
                name: name.to_owned(),
                meshes: self.meshes_of_group(ids),
            }),
        }
    }

    /// The destination dataplane `name` (in `mesh` when given; else the only one of that name),
    /// whose mesh must be defined.
    pub fn resolve_dataplane(&self, mesh: Option<&str>, name: &str) -> Result<DpId, TrafficError> {
        let ids = self.group(name);
        let id = match mesh {
            Some(m) => self
                .tp
                .mesh_ids
                .get(m)
                .and_then(|&mid| self.in_mesh(ids, mid))
                .ok_or_else(|| TrafficError::UnknownDataplane {
                    mesh: m.to_owned(),
                    name: name.to_owned(),
                })?,
            None => self.only_dataplane(ids, name)?,
        };
        self.require_defined_dp(id)?;
        Ok(id)
    }

    /// [`Snapshot::resolve_dataplane`] by ids, for the unambiguous success case only (`None`:
    /// resolve by name to get the error).
    pub fn resolve_dataplane_ids(
        &self,
        mesh: Option<MeshId>,
        name: super::batch::NameId,
    ) -> Option<DpId> {
        let ids = self.names.ids_of(name);
        let id = match mesh {
            Some(m) => self.in_mesh(ids, m)?,
            None => match ids {
                [one] => *one,
                _ => return None,
            },
        };
        self.require_defined_dp(id).ok().map(|()| id)
    }

    /// [`Snapshot::resolve_source`] by ids, for the success case only.
    pub fn resolve_source_ids(
        &self,
        dest_mesh: MeshId,
        name: super::batch::NameId,
    ) -> Option<DpId> {
        let ids = self.names.ids_of(name);
        let id = match self.in_mesh(ids, dest_mesh) {
            Some(d) => d,
            None => match ids {
                [one] => *one,
                _ => return None,
            },
        };
        self.require_defined_dp(id).ok().map(|()| id)
    }

    /// Every distinct dataplane name with its id (bindings build lookup tables from it).
    pub fn dataplane_names(&self) -> impl Iterator<Item = (&str, super::batch::NameId)> {
        self.names.names()
    }

    /// A source dataplane by name: the one in the destination's mesh, else the only one.
    pub fn resolve_source(&self, dest_mesh: MeshId, name: &str) -> Result<DpId, TrafficError> {
        let ids = self.group(name);
        let id = match self.in_mesh(ids, dest_mesh) {
            Some(d) => d,
            None => self.only_dataplane(ids, name)?,
        };
        self.require_defined_dp(id)?;
        Ok(id)
    }

    fn require_defined_dp(&self, id: DpId) -> Result<(), TrafficError> {
        let d = self
            .tp
            .dataplanes
            .get(id as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown dataplane id".into()))?;
        let m = self.tp.mesh_ref(d.mesh)?;
        if m.defined {
            Ok(())
        } else {
            Err(TrafficError::UnknownMesh(m.name.clone()))
        }
    }

    /// The mesh name of destination dataplane `name`, resolved as [`Snapshot::resolve_dataplane`].
    pub fn dataplane_mesh(&self, mesh: Option<&str>, name: &str) -> Result<&str, TrafficError> {
        let d = self.resolve_dataplane(mesh, name)?;
        let d = self
            .tp
            .dataplanes
            .get(d as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown dataplane id".into()))?;
        Ok(self.mesh_name(d.mesh))
    }

    /// The mesh name of ExternalService `name`, resolved as
    /// [`Snapshot::resolve_external_service`].
    pub fn external_service_mesh(
        &self,
        mesh: Option<&str>,
        name: &str,
    ) -> Result<&str, TrafficError> {
        let e = self.resolve_external_service(mesh, name)?;
        let e = self
            .tp
            .external_services
            .get(e as usize)
            .ok_or_else(|| TrafficError::Invalid("unknown ExternalService id".into()))?;
        Ok(self.mesh_name(e.mesh))
    }

    /// An ExternalService by name (in `mesh` when given; else the only one of that name).
    pub fn resolve_external_service(
        &self,
        mesh: Option<&str>,
        name: &str,
    ) -> Result<EsId, TrafficError> {
        if let Some(m) = mesh {
            return self.tp.external_service(m, name);
        }
        let ids: Vec<EsId> = self
            .tp
            .external_services
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name == name)
            .map(|(i, _)| i as EsId)
            .collect();
        match ids.as_slice() {
            [] => Err(TrafficError::UnknownExternalService {
                mesh: String::new(),
                name: name.to_owned(),
            }),
            [one] => {
                let e = self
                    .tp
                    .external_services
                    .get(*one as usize)
                    .ok_or_else(|| TrafficError::Invalid("unknown ExternalService id".into()))?;
                self.tp.external_service(self.mesh_name(e.mesh), name)
            }
            many => {
                let mut meshes: Vec<String> = many
                    .iter()
                    .filter_map(|&i| self.tp.external_services.get(i as usize))
                    .map(|e| self.mesh_name(e.mesh).to_owned())
                    .collect();
                meshes.sort();
                Err(TrafficError::Ambiguous {
                    kind: "ExternalService",
                    name: name.to_owned(),
                    meshes,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
