//! M6.1 hot path: the ordered `from` item list of one inbound, compiled once, with requirements as
//! interned pair ids; M6.2 is a reverse scan stopping at the last matching item. `matched_policies`
//! and `overridden` are derived on demand from the plan (exact, but off the hot path).

use super::decide::{kuma_rules_admit, ClientIdentity, MtpDecision, Overridden, Reason};
use super::{Action, Compiled, MtpSet};

/// A client's pairs as sorted interned ids ([`MtpSet::client_ids`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientIds(pub Vec<u32>);

impl ClientIds {
    /// M5.3 on ids: every requirement is held (the mesh is checked separately, M5.4).
    fn holds(&self, req: &[u32]) -> bool {
        match req {
            [] => true,
            [a] => self.0.binary_search(a).is_ok(),
            _ => req.iter().all(|r| self.0.binary_search(r).is_ok()),
        }
    }
}

#[derive(Clone, Debug)]
struct Item {
    /// Range in `InboundPlan::reqs`.
    start: u32,
    end: u32,
    action: Action,
    /// Position in `InboundPlan::policies`.
    policy: u32,
    from_index: u32,
}

/// The policies selecting one inbound in M4.9 order and their concatenated items (M6.1).
#[derive(Debug, Default)]
pub struct InboundPlan {
    /// Positions in the set's policies, lowest priority first.
    pub(crate) policies: Vec<u32>,
    /// A2: some neighbour pair tied on every M4.9 criterion.
    pub tie: bool,
    items: Vec<Item>,
    reqs: Vec<u32>,
}

/// The compact M6.2 outcome; the deciding item is `last` (an index into the plan's items).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Reason,
    pub action: Option<Action>,
    pub last: Option<usize>,
    /// A3/A4 (see [`MtpDecision::kuma_enforcement_divergence`]).
    pub divergence: bool,
    /// The client is in the destination's mesh (M5.4); otherwise no item matches.
    pub same_mesh: bool,
}

impl InboundPlan {
    pub(crate) fn new(all: &[Compiled], ids: Vec<usize>, tie: bool) -> InboundPlan {
        let mut plan = InboundPlan {
            policies: ids.iter().map(|&i| i as u32).collect(),
            tie,
            ..InboundPlan::default()
        };
        for (pi, &i) in ids.iter().enumerate() {
            let Some(c) = all.get(i) else {
                // ids are positions in `all` by construction; were one not, its policy denies
                // everyone (an item with no requirement) rather than vanish from the plan
                let start = plan.reqs.len() as u32;
                plan.items.push(Item {
                    start,
                    end: start,
                    action: Action::Deny,
                    policy: pi as u32,
                    from_index: 0,
                });
                continue;
            };
            for (fi, (req, (_, action))) in c.req_ids.iter().zip(&c.items).enumerate() {
                let start = plan.reqs.len() as u32;
                plan.reqs.extend_from_slice(req);
                plan.items.push(Item {
                    start,
                    end: plan.reqs.len() as u32,
                    action: *action,
                    policy: pi as u32,
                    from_index: fi as u32,
                });
            }
        }
        plan
    }

    /// No policy selects the inbound.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
    pub fn len(&self) -> usize {
        self.policies.len()
    }
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    fn matches(&self, it: &Item, ids: &ClientIds) -> bool {
        match self.reqs.get(it.start as usize..it.end as usize) {
            Some(req) => ids.holds(req),
            // the range is written by `new` within `reqs`; were it not, only a deny item matches
            None => !it.action.allows(),
        }
    }

    /// M6.2 over interned ids only (the hot path of checks and batch rows): the last matching
    /// item decides. `same_mesh`: the client is in the destination's mesh (M5.4). The A3/A4
    /// divergence flag is not computed here ([`InboundPlan::divergence`]).
    pub fn verdict(&self, ids: &ClientIds, same_mesh: bool) -> Verdict {
        let last = if same_mesh {
            self.items.iter().rposition(|it| self.matches(it, ids))
        } else {
            None
        };
        let action = last.and_then(|l| self.items.get(l)).map(|it| it.action);
        let (allowed, reason) = match action {
            None => (false, Reason::MtpNoMatch),
            Some(Action::Allow) => (true, Reason::MtpAllow),
            Some(Action::AllowWithShadowDeny) => (true, Reason::MtpAllowShadowDeny),
            Some(Action::Deny) => (false, Reason::MtpDeny),
        };
        Verdict {
            allowed,
            reason,
            action,
            last,
            divergence: false,
            same_mesh,
        }
    }

    /// A3/A4 for a verdict of this plan: `Some(true)` when Kuma's rule list (M6.4) would admit a
    /// denied client; `None` when not computed (more than `max_items` items, or more than
    /// `budget` rule combinations to look at: the decision is unaffected).
    #[allow(clippy::too_many_arguments)]
    pub fn divergence(
        &self,
        set: &MtpSet,
        v: &Verdict,
        mesh: &str,
        client: &ClientIdentity,
        ids: &ClientIds,
        max_items: usize,
        budget: usize,
    ) -> Option<bool> {
        if v.allowed || !v.same_mesh {
            return Some(false);
        }
        if !self
            .items
            .iter()
            .any(|it| it.action.allows() && self.matches(it, ids))
        {
            return Some(false); // only a matching allowing item can make a rule admit the client
        }
        if self.items.len() > max_items.min(super::decide::MAX_DIVERGENCE_ITEMS) {
            return None;
        }
        kuma_rules_admit(&set.selection_of(self), mesh, client, budget)
    }

    /// Position in the set's policies of the policy of item `item` (batch dictionaries).
    pub fn item_policy_index(&self, item: usize) -> Option<usize> {
        let it = self.items.get(item)?;
        self.policies.get(it.policy as usize).map(|&p| p as usize)
    }

    /// The M6.1 items in list order: (policy name, from index, action, matches the client).
    pub fn items_for<'s>(
        &'s self,
        set: &'s MtpSet,
        ids: &ClientIds,
        same_mesh: bool,
    ) -> Vec<(&'s str, usize, Action, bool)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                (
                    // always found (positions written by `new`); an unnamed item otherwise
                    self.item_policy(set, i).unwrap_or_default(),
                    it.from_index as usize,
                    it.action,
                    same_mesh && self.matches(it, ids),
                )
            })
            .collect()
    }

    /// M6.2 over a non-empty plan: the last matching item decides.
    pub fn decide(
        &self,
        set: &MtpSet,
        mesh: &str,
        client: &ClientIdentity,
        ids: &ClientIds,
    ) -> Verdict {
        let same_mesh = client.mesh == mesh;
        let last = if same_mesh {
            self.items.iter().rposition(|it| self.matches(it, ids))
        } else {
            None
        };
        let action = last.and_then(|l| self.items.get(l)).map(|it| it.action);
        let (allowed, reason) = match action {
            None => (false, Reason::MtpNoMatch),
            Some(Action::Allow) => (true, Reason::MtpAllow),
            Some(Action::AllowWithShadowDeny) => (true, Reason::MtpAllowShadowDeny),
            Some(Action::Deny) => (false, Reason::MtpDeny),
        };
        let divergence = !allowed && same_mesh && self.kuma_rules_admit(set, mesh, client, ids);
        Verdict {
            allowed,
            reason,
            action,
            last,
            divergence,
            same_mesh,
        }
    }

    /// A3/A4 (see `decide::kuma_rules_admit`); only reached for DENY / no-match.
    fn kuma_rules_admit(
        &self,
        set: &MtpSet,
        mesh: &str,
        client: &ClientIdentity,
        ids: &ClientIds,
    ) -> bool {
        if self.items.len() > super::decide::MAX_DIVERGENCE_ITEMS
            || !self
                .items
                .iter()
                .any(|it| it.action.allows() && self.matches(it, ids))
        {
            return false;
        }
        kuma_rules_admit(
            &set.selection_of(self),
            mesh,
            client,
            super::rules::MAX_COMBINATIONS,
        )
        .unwrap_or(false)
    }

    /// Name of the policy of item `item` (None: no such item).
    pub fn item_policy<'s>(&self, set: &'s MtpSet, item: usize) -> Option<&'s str> {
        let p = set.policy(self.item_policy_index(item)?)?;
        Some(&p.name)
    }
    /// Index in its policy's `from` list of item `item` (None: no such item).
    pub fn item_from_index(&self, item: usize) -> Option<usize> {
        self.items.get(item).map(|it| it.from_index as usize)
    }

    /// Names of the selecting policies, lowest priority first (M4.9).
    pub fn policy_names<'s>(&'s self, set: &'s MtpSet) -> impl Iterator<Item = &'s str> + 's {
        self.policies
            .iter()
            .filter_map(move |&i| set.policy(i as usize).map(|p| p.name.as_str()))
    }

    /// Matching items before the deciding one (§9 `overridden`), in list order.
    pub fn overridden<'s>(
        &'s self,
        set: &'s MtpSet,
        v: &Verdict,
        ids: &'s ClientIds,
    ) -> impl Iterator<Item = (&'s str, usize, Action)> + 's {
        let upto = if v.same_mesh { v.last.unwrap_or(0) } else { 0 };
        self.items
            .iter()
            .take(upto)
            .enumerate()
            .filter(move |(_, it)| self.matches(it, ids))
            .filter_map(move |(i, it)| {
                Some((self.item_policy(set, i)?, it.from_index as usize, it.action))
            })
    }

    /// The full §9 decision (allocates the lists).
    pub fn full_decision(
        &self,
        set: &MtpSet,
        v: &Verdict,
        _mesh: &str,
        _client: &ClientIdentity,
        ids: &ClientIds,
    ) -> MtpDecision {
        MtpDecision {
            allowed: v.allowed,
            reason: v.reason,
            action: v.action,
            policy: v
                .last
                .and_then(|l| self.item_policy(set, l))
                .map(str::to_string),
            from_index: v.last.and_then(|l| self.item_from_index(l)),
            shadow_deny: v.reason == Reason::MtpAllowShadowDeny,
            kuma_enforcement_divergence: v.divergence,
            matched_policies: self.policy_names(set).map(str::to_string).collect(),
            overridden: self
                .overridden(set, v, ids)
                .map(|(policy, from_index, action)| Overridden {
                    policy: policy.to_string(),
                    from_index,
                    action,
                })
                .collect(),
            tie: self.tie,
        }
    }
}
