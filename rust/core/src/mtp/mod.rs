//! MeshTrafficPermission (`meshtrafficpermission.md`, rules M*, resolutions A*).
//!
//! Pure and self-contained: the input structs below are filled by the bindings (or any other caller);
//! [`MtpSet`] is the compiled, immutable, `Send + Sync` engine. The legacy TrafficPermission decision
//! plugs it in at its hook E4 through [`MtpSet::decide_inbound`] (`None` = no MTP selects the inbound).

pub mod decide;
pub mod order;
pub mod rules;
pub mod select;
pub mod subset;

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub use decide::{ClientIdentity, MtpDecision, Overridden, Reason};
pub use rules::{Rule, RulesError};
pub use subset::{Subset, Tag};

pub type Labels = BTreeMap<String, String>;

/// `from[].default.action` (M2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromItem {
    pub target_ref: TargetRef,
    pub action: Action,
}

/// One MeshTrafficPermission: Kuma core name, mesh, resource labels (incl. the derived
/// `k8s.kuma.io/namespace`, `kuma.io/policy-role`, `kuma.io/display-name` of M2.5), spec.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MtpInbound {
    pub port: u32,
    pub name: String,
    pub tags: Labels,
    /// `state: Ignored`: never selected (§4), but its tags count for identity (A11).
    pub ignored: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MtpGateway {
    pub builtin: bool,
    pub tags: Labels,
}

/// A Dataplane: core name, mesh, resource labels (not inbound tags), inbounds, gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    pub key: order::PriorityKey,
    pub doc_order: usize,
}

/// The compiled engine: MTPs and Dataplanes of every mesh. Immutable, `Send + Sync`.
#[derive(Debug, Default)]
pub struct MtpSet {
    pub(crate) policies: Vec<Compiled>,
    by_mesh: HashMap<String, Vec<usize>>,
    dataplanes: Vec<MtpDataplane>,
    dp_index: HashMap<(String, String), usize>,
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
        for (doc_order, policy) in policies.into_iter().enumerate() {
            let items = policy
                .from
                .iter()
                .map(|f| (subset::from_item_subset(&f.target_ref), f.action))
                .collect();
            let key = order::PriorityKey::of(&policy);
            set.by_mesh
                .entry(policy.mesh.clone())
                .or_default()
                .push(set.policies.len());
            set.policies.push(Compiled {
                policy,
                items,
                key,
                doc_order,
            });
        }
        for dp in dataplanes {
            set.dp_index
                .insert((dp.mesh.clone(), dp.name.clone()), set.dataplanes.len());
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
        self.dp_index
            .get(&(mesh.to_string(), name.to_string()))
            .map(|&i| &self.dataplanes[i])
    }
    pub fn dataplanes(&self) -> &[MtpDataplane] {
        &self.dataplanes
    }

    /// M4.1–M4.9: the policies selecting inbound `port` of `dest`, lowest priority first.
    /// Empty when none does or the port is not a non-ignored inbound.
    pub fn select(&self, dest: &MtpDataplane, port: u32, order: PolicyOrder) -> Selection<'_> {
        let mut compiled: Vec<&Compiled> = match (dest.inbound(port), self.by_mesh.get(&dest.mesh))
        {
            (Some(inbound), Some(ids)) => ids
                .iter()
                .map(|&i| &self.policies[i])
                .filter(|c| select::selects(&c.policy, dest, inbound))
                .collect(),
            _ => Vec::new(),
        };
        let tie = match order {
            PolicyOrder::Kuma => order::sort(&mut compiled),
            PolicyOrder::AsListed => {
                compiled.sort_by_key(|c| c.doc_order);
                false
            }
        };
        Selection {
            policies: compiled.iter().map(|c| &c.policy).collect(),
            tie,
            compiled,
        }
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
        let sel = self.select(dest, port, PolicyOrder::Kuma);
        if sel.policies.is_empty() {
            return None;
        }
        Some(decide::decide(&sel, &dest.mesh, client))
    }

    /// M6.4: Kuma's rule list for the inbound; `Ok(None)` when no MTP selects it.
    pub fn rules(
        &self,
        dest: &MtpDataplane,
        port: u32,
        order: PolicyOrder,
    ) -> Result<Option<Vec<Rule>>, RulesError> {
        let sel = self.select(dest, port, order);
        if sel.policies.is_empty() {
            return Ok(None);
        }
        let items: Vec<_> = sel.items().map(|(s, a, _, _)| (s, a)).collect();
        rules::build(&items).map(Some)
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
