//! MeshTrafficPermission (`meshtrafficpermission.md`, rules M*, resolutions A*).
//!
//! Pure and self-contained: the input structs below are filled by the bindings (or any other caller);
//! [`MtpSet`] is the compiled, immutable, `Send + Sync` engine. The legacy TrafficPermission decision
//! plugs it in at its hook E4 through [`MtpSet::decide_inbound`] (`None` = no MTP selects the inbound).

pub mod decide;
mod index;
pub mod order;
pub mod plan;
pub mod rules;
pub mod select;
pub mod subset;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

pub use decide::{ClientIdentity, MtpDecision, Overridden, Reason};
pub use plan::{ClientIds, InboundPlan, Verdict};
pub use rules::{Rule, RulesError};
pub use subset::{Subset, Tag};

pub type Labels = BTreeMap<String, String>;

/// `from[].default.action` (M2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Action {
    Allow,
    Deny,
    AllowWithShadowDeny,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "Allow" => Some(Action::Allow),
            "Deny" => Some(Action::Deny),
            "AllowWithShadowDeny" => Some(Action::AllowWithShadowDeny),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "Allow",
            Action::Deny => "Deny",
            Action::AllowWithShadowDeny => "AllowWithShadowDeny",
        }
    }
    pub fn allows(self) -> bool {
        self != Action::Deny
    }
}

/// A targetRef (M2.2). Empty strings / maps / lists mean "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetRef {
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    pub tags: Labels,
    pub proxy_types: Vec<String>,
    pub section_name: String,
}

impl TargetRef {
    pub fn mesh() -> TargetRef {
        TargetRef {
            kind: "Mesh".into(),
            ..TargetRef::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FromItem {
    pub target_ref: TargetRef,
    pub action: Action,
}

/// One MeshTrafficPermission: Kuma core name, mesh, resource labels (incl. the derived
/// `k8s.kuma.io/namespace`, `kuma.io/policy-role`, `kuma.io/display-name` of M2.5), spec.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MtpPolicy {
    pub name: String,
    pub mesh: String,
    pub labels: Labels,
    /// Top-level targetRef; an omitted one is `{kind: Mesh}` (M2.4).
    pub target_ref: TargetRef,
    pub from: Vec<FromItem>,
}

impl MtpPolicy {
    /// M4.9.6: label `kuma.io/display-name`, else the resource name.
    pub fn display_name(&self) -> &str {
        self.labels
            .get("kuma.io/display-name")
            .map_or(self.name.as_str(), String::as_str)
    }
    /// M2.5 / M2.6: explicit role label, else `system`.
    pub fn role(&self) -> &str {
        self.labels
            .get("kuma.io/policy-role")
            .map_or("system", String::as_str)
    }
    /// M2.7.
    pub fn is_shadow(&self) -> bool {
        self.labels
            .get("kuma.io/effect")
            .is_some_and(|v| v == "shadow")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MtpInbound {
    pub port: u32,
    pub name: String,
    pub tags: Labels,
    /// `state: Ignored`: never selected (§4), but its tags count for identity (A11).
    pub ignored: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MtpGateway {
    pub builtin: bool,
    pub tags: Labels,
}

/// A Dataplane: core name, mesh, resource labels (not inbound tags), inbounds, gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MtpDataplane {
    pub name: String,
    pub mesh: String,
    pub labels: Labels,
    pub inbounds: Vec<MtpInbound>,
    pub gateway: Option<MtpGateway>,
}

impl MtpDataplane {
    pub fn display_name(&self) -> &str {
        self.labels
            .get("kuma.io/display-name")
            .map_or(self.name.as_str(), String::as_str)
    }
    /// The non-ignored inbound on `port` (§4: inbounds are identified by port).
    pub fn inbound(&self, port: u32) -> Option<&MtpInbound> {
        self.inbounds.iter().find(|i| i.port == port && !i.ignored)
    }
    /// M5.1 / A11: union of all inbound tags (ignored ones included) and gateway tags.
    pub fn identity(&self) -> ClientIdentity {
        let mut tags = BTreeSet::new();
        for i in &self.inbounds {
            tags.extend(i.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if let Some(g) = &self.gateway {
            tags.extend(g.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        ClientIdentity {
            mesh: self.mesh.clone(),
            tags,
        }
    }
}

/// How the selected policies are ordered before their items are concatenated (M6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyOrder {
    /// M4.9 + A2.
    Kuma,
    /// Input order (reproduces Kuma's BuildFromRules unit tests).
    AsListed,
}

/// A policy compiled once: its `from` items as positive subsets (M5.2) and its priority key (M4.9).
#[derive(Debug)]
pub(crate) struct Compiled {
    pub policy: MtpPolicy,
    pub items: Vec<(Vec<(String, String)>, Action)>,
    /// `items` requirements as interned pair ids (sorted), see [`MtpSet::client_ids`].
    pub req_ids: Vec<Box<[u32]>>,
    pub key: order::PriorityKey,
    pub doc_order: usize,
}

/// The compiled engine: MTPs and Dataplanes of every mesh. Immutable (plus lazily filled, thread-safe
/// per-inbound caches), `Send + Sync`.
#[derive(Debug, Default)]
pub struct MtpSet {
    pub(crate) policies: Vec<Compiled>,
    by_mesh: HashMap<String, index::MeshIndex>,
    dataplanes: Vec<MtpDataplane>,
    /// mesh -> name -> position in `dataplanes`.
    dp_index: HashMap<String, HashMap<String, usize>>,
    /// Interned (key, value) pairs of every `from` item requirement (M5.2): key -> value -> id.
    pair_ids: HashMap<String, HashMap<String, u32>>,
    /// Per Dataplane, per inbound (same positions): the M6.1 plan, filled on first use (M6.1 hot path).
    plans: Vec<Vec<OnceLock<InboundPlan>>>,
    /// Per Dataplane: its client identity (M5.1) and interned ids, filled on first use.
    identities: Vec<OnceLock<(ClientIdentity, ClientIds)>>,
}

/// The policies selecting one inbound, in applied order (lowest priority first).
#[derive(Debug)]
pub struct Selection<'a> {
    pub policies: Vec<&'a MtpPolicy>,
    /// A2: some neighbour pair tied on every M4.9 criterion.
    pub tie: bool,
    pub(crate) compiled: Vec<&'a Compiled>,
}

impl<'a> Selection<'a> {
    pub fn names(&self) -> Vec<String> {
        self.policies.iter().map(|p| p.name.clone()).collect()
    }
    /// M6.1: the concatenated item list as (positive subset, action, policy index in selection, from index).
    pub(crate) fn items(
        &self,
    ) -> impl Iterator<Item = (&'a [(String, String)], Action, usize, usize)> + '_ {
        self.compiled.iter().enumerate().flat_map(|(pi, c)| {
            c.items
                .iter()
                .enumerate()
                .map(move |(fi, (s, a))| (s.as_slice(), *a, pi, fi))
        })
    }
}

impl MtpSet {
    /// Compile policies (in document order: A2's last tie-break) and dataplanes.
    pub fn new(policies: Vec<MtpPolicy>, dataplanes: Vec<MtpDataplane>) -> MtpSet {
        let mut set = MtpSet::default();
        let mut next_id = 0u32;
        for (doc_order, policy) in policies.into_iter().enumerate() {
            let items: Vec<_> = policy
                .from
                .iter()
                .map(|f| (subset::from_item_subset(&f.target_ref), f.action))
                .collect();
            let req_ids = items
                .iter()
                .map(|(req, _)| {
                    let mut ids: Vec<u32> = req
                        .iter()
                        .map(|(k, v)| {
                            let values = match set.pair_ids.get_mut(k.as_str()) {
                                Some(m) => m,
                                None => set.pair_ids.entry(k.clone()).or_default(),
                            };
                            match values.get(v.as_str()) {
                                Some(&id) => id,
                                None => {
                                    values.insert(v.clone(), next_id);
                                    next_id += 1;
                                    next_id - 1
                                }
                            }
                        })
                        .collect();
                    ids.sort_unstable();
                    ids.into_boxed_slice()
                })
                .collect();
            let key = order::PriorityKey::of(&policy);
            let i = set.policies.len();
            match set.by_mesh.get_mut(policy.mesh.as_str()) {
                Some(ix) => ix.add(&policy, i),
                None => set
                    .by_mesh
                    .entry(policy.mesh.clone())
                    .or_default()
                    .add(&policy, i),
            }
            set.policies.push(Compiled {
                policy,
                items,
                req_ids,
                key,
                doc_order,
            });
        }
        for dp in dataplanes {
            set.dp_index
                .entry(dp.mesh.clone())
                .or_default()
                .insert(dp.name.clone(), set.dataplanes.len());
            set.plans
                .push(dp.inbounds.iter().map(|_| OnceLock::new()).collect());
            set.identities.push(OnceLock::new());
            set.dataplanes.push(dp);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    pub fn dataplane(&self, mesh: &str, name: &str) -> Option<&MtpDataplane> {
        self.dataplanes.get(self.dataplane_index(mesh, name)?)
    }
    /// Position of a Dataplane in [`MtpSet::dataplanes`].
    pub fn dataplane_index(&self, mesh: &str, name: &str) -> Option<usize> {
        self.dp_index.get(mesh)?.get(name).copied()
    }
    pub fn dataplanes(&self) -> &[MtpDataplane] {
        &self.dataplanes
    }

    /// Position of `dp` in `self.dataplanes` when it is one of them (by address).
    fn own_index(&self, dp: &MtpDataplane) -> Option<usize> {
        let start = self.dataplanes.as_ptr() as usize;
        let addr = dp as *const MtpDataplane as usize;
        let size = std::mem::size_of::<MtpDataplane>();
        let off = addr.checked_sub(start)?;
        (off % size == 0 && off / size < self.dataplanes.len()).then_some(off / size)
    }

    /// M4.1–M4.9 over the index: selecting policies (as positions in `self.policies`), ordered.
    fn select_ids(&self, dest: &MtpDataplane, port: u32, order: PolicyOrder) -> (Vec<usize>, bool) {
        let mut ids: Vec<usize> = match (dest.inbound(port), self.by_mesh.get(&dest.mesh)) {
            (Some(inbound), Some(ix)) => {
                let mut c = ix.candidates(dest, inbound);
                // a candidate outside `policies` (never: the index is built from them) is kept,
                // and the plan makes it a deny (`InboundPlan::new`)
                c.retain(|&i| {
                    self.policies
                        .get(i)
                        .is_none_or(|p| select::selects(&p.policy, dest, inbound))
                });
                c
            }
            _ => Vec::new(),
        };
        let tie = match order {
            PolicyOrder::Kuma => order::sort_ids(&self.policies, &mut ids),
            PolicyOrder::AsListed => {
                ids.sort_unstable_by_key(|&i| self.policies.get(i).map(|p| p.doc_order));
                false
            }
        };
        (ids, tie)
    }

    /// M4.1–M4.9: the policies selecting inbound `port` of `dest`, lowest priority first.
    /// Empty when none does or the port is not a non-ignored inbound.
    pub fn select(&self, dest: &MtpDataplane, port: u32, order: PolicyOrder) -> Selection<'_> {
        let (ids, tie) = self.select_ids(dest, port, order);
        let compiled: Vec<&Compiled> = ids.iter().filter_map(|&i| self.policies.get(i)).collect();
        Selection {
            policies: compiled.iter().map(|c| &c.policy).collect(),
            tie,
            compiled,
        }
    }

    /// The selection of a plan (for M6.4 and the divergence check).
    pub(crate) fn selection_of(&self, plan: &InboundPlan) -> Selection<'_> {
        let compiled: Vec<&Compiled> = plan
            .policies
            .iter()
            .filter_map(|&i| self.policies.get(i as usize))
            .collect();
        Selection {
            policies: compiled.iter().map(|c| &c.policy).collect(),
            tie: plan.tie,
            compiled,
        }
    }

    fn build_plan(&self, dest: &MtpDataplane, port: u32) -> InboundPlan {
        let (ids, tie) = self.select_ids(dest, port, PolicyOrder::Kuma);
        InboundPlan::new(&self.policies, ids, tie)
    }

    /// The M6.1 plan (Kuma order) of inbound `port` of the Dataplane at `dp` (see
    /// [`MtpSet::dataplane_index`]), computed once. `None` when `port` is not a non-ignored inbound.
    pub fn plan(&self, dp: usize, port: u32) -> Option<&InboundPlan> {
        let d = self.dataplanes.get(dp)?;
        let pos = d
            .inbounds
            .iter()
            .position(|i| i.port == port && !i.ignored)?;
        let cell = self.plans.get(dp)?.get(pos)?;
        Some(cell.get_or_init(|| self.build_plan(d, port)))
    }

    /// M5.1 identity of the Dataplane at `dp` with its interned ids, computed once (None: no
    /// Dataplane at `dp`).
    pub fn dataplane_identity(&self, dp: usize) -> Option<&(ClientIdentity, ClientIds)> {
        let (cell, d) = (self.identities.get(dp)?, self.dataplanes.get(dp)?);
        Some(cell.get_or_init(|| {
            let ident = d.identity();
            let ids = self.client_ids(&ident);
            (ident, ids)
        }))
    }

    /// The interned ids of the client's pairs that occur in some `from` item (others cannot matter).
    pub fn client_ids(&self, client: &ClientIdentity) -> ClientIds {
        let mut ids: Vec<u32> = client
            .tags
            .iter()
            .filter_map(|(k, v)| self.pair_ids.get(k.as_str())?.get(v.as_str()).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ClientIds(ids)
    }

    /// [`MtpSet::client_ids`] over borrowed (key, value) pairs.
    pub fn client_ids_of<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(
        &self,
        pairs: I,
    ) -> ClientIds {
        let mut ids: Vec<u32> = pairs
            .into_iter()
            .filter_map(|(k, v)| self.pair_ids.get(k)?.get(v).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ClientIds(ids)
    }

    /// Some MeshTrafficPermission exists in `mesh` (shadow ones included).
    pub fn has_mesh(&self, mesh: &str) -> bool {
        self.policies.iter().any(|c| c.policy.mesh == mesh)
    }

    /// M7.5 / T4.7: the plan of an ExternalService (tags `tags`) of `mesh` at the zone egress:
    /// the policies selecting it ([`select::selects_egress`]) ordered as Kuma's egress does
    /// (kind, then name ascending: [`order::sort_egress`]), their items concatenated (M6.1).
    /// Empty when none selects it.
    pub fn egress_plan(&self, mesh: &str, tags: &Labels) -> InboundPlan {
        let mut ids: Vec<usize> = self
            .policies
            .iter()
            .enumerate()
            .filter(|(_, c)| select::selects_egress(&c.policy, mesh, tags))
            .map(|(i, _)| i)
            .collect();
        order::sort_egress(&self.policies, &mut ids);
        InboundPlan::new(&self.policies, ids, false)
    }

    /// M6.4 for a plan, capped at `max_rules` candidate rules (`Ok(None)`: empty plan).
    pub fn plan_rules(
        &self,
        plan: &InboundPlan,
        max_rules: usize,
    ) -> Result<Option<Vec<Rule>>, RulesError> {
        if plan.is_empty() {
            return Ok(None);
        }
        let sel = self.selection_of(plan);
        let items: Vec<_> = sel.items().map(|(s, a, _, _)| (s, a)).collect();
        rules::build_capped(&items, max_rules).map(Some)
    }

    /// M5.2: the requirements of `from[from_index]` of the policy at position `policy`.
    pub fn item_subset(&self, policy: usize, from_index: usize) -> &[(String, String)] {
        self.policies
            .get(policy)
            .and_then(|c| c.items.get(from_index))
            .map_or(&[][..], |(req, _)| req.as_slice())
    }

    /// The compiled policy at position `i` ([`InboundPlan::item_policy_index`]).
    pub fn policy(&self, i: usize) -> Option<&MtpPolicy> {
        self.policies.get(i).map(|c| &c.policy)
    }

    /// Names of the policies selecting the inbound, lowest priority first (`[]` = none).
    pub fn matched_policies(&self, dest: &MtpDataplane, port: u32) -> Vec<String> {
        self.select(dest, port, PolicyOrder::Kuma).names()
    }

    /// The E4 hook: `None` when no MTP selects the inbound (legacy TP / no-policy decide then),
    /// else the M6.2 decision for `client`.
    pub fn decide_inbound(
        &self,
        dest: &MtpDataplane,
        port: u32,
        client: &ClientIdentity,
    ) -> Option<MtpDecision> {
        let owned;
        let plan = match self.own_index(dest) {
            Some(i) => self.plan(i, port)?,
            None => {
                owned = self.build_plan(dest, port);
                &owned
            }
        };
        if plan.is_empty() {
            return None;
        }
        let ids = self.client_ids(client);
        let v = plan.decide(self, &dest.mesh, client, &ids);
        Some(plan.full_decision(self, &v, &dest.mesh, client, &ids))
    }

    /// M6.4: Kuma's rule list for the inbound; `Ok(None)` when no MTP selects it. At most
    /// `max_rules` candidate rules ([`rules::DEFAULT_MAX_RULES`] by default), else an error.
    pub fn rules(
        &self,
        dest: &MtpDataplane,
        port: u32,
        order: PolicyOrder,
        max_rules: usize,
    ) -> Result<Option<Vec<Rule>>, RulesError> {
        let sel = self.select(dest, port, order);
        if sel.policies.is_empty() {
            return Ok(None);
        }
        let items: Vec<_> = sel.items().map(|(s, a, _, _)| (s, a)).collect();
        rules::build_capped(&items, max_rules).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn mtp_set_is_send_sync() {
        assert_send_sync::<MtpSet>();
    }
}
