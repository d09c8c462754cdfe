//! T3.3–T3.8: the single most specific TrafficPermission for a target tag map.

use super::identity::map_matches;
use super::intern::Sym;
use super::policy_set::{MeshId, PolicyId, PolicySet, SelRef};
use crate::selector::Rank;

/// The outcome of selecting for one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Every matching policy with `rank(P, T)` (T3.3), most specific first; `[0]` is the winner
    /// (T3.5) and the rest are shadowed by it (T3.6).
    pub matches: Vec<(PolicyId, Rank)>,
    /// How many destination selectors were evaluated (the index at work).
    pub candidates_evaluated: usize,
}

impl Selection {
    pub fn winner(&self) -> Option<PolicyId> {
        self.matches.first().map(|m| m.0)
    }

    pub fn shadowed(&self) -> &[(PolicyId, Rank)] {
        self.matches.get(1..).unwrap_or(&[])
    }
}

impl PolicySet {
    /// The destination selectors of `mesh` that can match `tags` (T2.5 index; T3.8 match-all).
    fn candidates<'a>(
        &'a self,
        mesh: MeshId,
        tags: &'a [(Sym, Sym)],
    ) -> impl Iterator<Item = SelRef> + 'a {
        // an unknown mesh id has no candidates (no policy: E5 deny)
        let idx = self.index.get(mesh as usize);
        let per_tag = idx.into_iter().flat_map(move |idx| {
            tags.iter().flat_map(move |&(k, v)| {
                let a = idx.by_pair.get(&(k, v)).map(Vec::as_slice).unwrap_or(&[]);
                let b = idx.by_key.get(&k).map(Vec::as_slice).unwrap_or(&[]);
                a.iter().chain(b.iter()).copied()
            })
        });
        idx.into_iter()
            .flat_map(|idx| idx.match_all.iter().copied())
            .chain(per_tag)
    }

    /// T3.5 winner only: one pass over the candidates, no list and no sort (the greatest
    /// `(rank of a matching selector, tiebreak)`; T3.3's per-policy maximum gives the same winner).
    pub fn select_winner(&self, mesh: MeshId, tags: &[(Sym, Sym)]) -> Option<PolicyId> {
        let mut best: Option<(Rank, u32, PolicyId)> = None;
        for r in self.candidates(mesh, tags) {
            let Some(policy) = self.policies.get(r.policy as usize) else {
                continue;
            };
            let Some(sel) = policy.destinations.get(r.dest as usize) else {
                continue;
            };
            if !map_matches(sel, tags) {
                continue;
            }
            let key = (sel.rank(), policy.tiebreak, r.policy);
            if best.is_none_or(|b| (key.0, key.1) > (b.0, b.1)) {
                best = Some(key);
            }
        }
        best.map(|b| b.2)
    }

    /// T3.5: candidates are the TPs of `mesh` only (T3.4, A12); sources play no part.
    pub fn select(&self, mesh: MeshId, tags: &[(Sym, Sym)]) -> Selection {
        let mut matches: Vec<(PolicyId, Rank)> = Vec::new();
        let mut evaluated = 0usize;
        for r in self.candidates(mesh, tags) {
            evaluated += 1;
            // as `select_winner` (the two must agree): a reference outside the tables is skipped
            let Some(policy) = self.policies.get(r.policy as usize) else {
                continue;
            };
            let Some(sel) = policy.destinations.get(r.dest as usize) else {
                continue;
            };
            if !map_matches(sel, tags) {
                continue;
            }
            let rank = sel.rank();
            // T3.3: rank(P, T) is the greatest rank among P's matching selectors.
            match matches.iter_mut().find(|m| m.0 == r.policy) {
                Some(m) if rank > m.1 => m.1 = rank,
                Some(_) => {}
                None => matches.push((r.policy, rank)),
            }
        }
        // T3.5: greater rank; then later creationTime (A2); then smaller name (A3) == tiebreak.
        matches.sort_by(|a, b| {
            let tiebreak = |id: PolicyId| self.policies.get(id as usize).map(|p| p.tiebreak);
            b.1.cmp(&a.1)
                .then_with(|| tiebreak(b.0).cmp(&tiebreak(a.0)))
        });
        Selection {
            matches,
            candidates_evaluated: evaluated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::policy_set::{MeshInput, PolicyInput};
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tp(name: &str, created: i64, dests: &[&[(&str, &str)]]) -> PolicyInput {
        PolicyInput {
            mesh: "default".into(),
            name: name.into(),
            created: (created, 0),
            sources: vec![kv(&[("kuma.io/service", "*")])],
            destinations: dests.iter().map(|d| kv(d)).collect(),
        }
    }

    fn set(policies: Vec<PolicyInput>) -> PolicySet {
        PolicySet::compile(
            vec![MeshInput {
                name: "default".into(),
                ..Default::default()
            }],
            vec![],
            vec![],
            policies,
        )
        .unwrap()
    }

    fn winner(set: &PolicySet, tags: &[(&str, &str)]) -> Option<String> {
        let t = set.interner.lookup_map(tags.iter().copied());
        set.select(0, &t)
            .winner()
            .map(|p| set.policy_name(p).to_owned())
    }

    const WEB_V1: &[(&str, &str)] = &[("kuma.io/service", "web"), ("version", "v1")];

    #[test]
    fn t3_2_total_tag_count_dominates() {
        let s = set(vec![
            tp("exact", 0, &[&[("kuma.io/service", "web")]]),
            tp(
                "two-wild",
                0,
                &[&[("kuma.io/service", "*"), ("version", "*")]],
            ),
        ]);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("two-wild"));
    }

    #[test]
    fn a2_later_creation_wins_a3_then_smallest_name() {
        let d: &[&[(&str, &str)]] = &[&[("kuma.io/service", "web")]];
        let s = set(vec![tp("a", 1, d), tp("b", 2, d)]);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("b"));
        let s = set(vec![tp("z", 5, d), tp("c", 5, d), tp("m", 5, d)]);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("c"));
        let t = s.interner.lookup_map(WEB_V1.iter().copied());
        assert_eq!(s.select_winner(0, &t), s.select(0, &t).winner());
        let sel = s.select(0, &s.interner.lookup_map(WEB_V1.iter().copied()));
        let names: Vec<&str> = sel.matches.iter().map(|m| s.policy_name(m.0)).collect();
        assert_eq!(names, ["c", "m", "z"]);
    }

    #[test]
    fn t3_3_policy_rank_is_its_best_matching_selector() {
        let s = set(vec![
            tp(
                "multi",
                0,
                &[
                    &[("kuma.io/service", "*")],
                    &[("kuma.io/service", "web"), ("version", "v1")],
                ],
            ),
            tp("single", 9, &[&[("kuma.io/service", "web")]]),
        ]);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("multi"));
    }

    #[test]
    fn t2_5_wildcard_needs_key() {
        let s = set(vec![tp("versioned", 0, &[&[("version", "*")]])]);
        assert_eq!(winner(&s, &[("kuma.io/service", "web")]), None);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("versioned"));
    }

    #[test]
    fn t3_8_empty_selector_is_rank_zero_match_all() {
        let s = set(vec![
            tp("empty", 9, &[&[]]),
            tp("svc", 0, &[&[("kuma.io/service", "*")]]),
        ]);
        assert_eq!(winner(&s, WEB_V1).as_deref(), Some("svc"));
        assert_eq!(winner(&s, &[]).as_deref(), Some("empty"));
    }

    #[test]
    fn t3_4_other_mesh_policies_are_not_candidates() {
        let mut p = tp("elsewhere", 0, &[&[("kuma.io/service", "web")]]);
        p.mesh = "other".into();
        let s = set(vec![p]);
        assert_eq!(winner(&s, WEB_V1), None);
    }

    #[test]
    fn index_evaluates_a_handful_of_selectors_among_10000() {
        let mut policies: Vec<PolicyInput> = (0..10_000)
            .map(|i| {
                tp(
                    &format!("p{i:05}"),
                    0,
                    &[&[("kuma.io/service", &format!("svc-{i}"))]],
                )
            })
            .collect();
        policies.push(tp("catch-all", 0, &[&[("kuma.io/service", "*")]]));
        let s = set(policies);
        let t = s
            .interner
            .lookup_map([("kuma.io/service", "svc-42"), ("version", "v1")]);
        let sel = s.select(0, &t);
        assert_eq!(s.policy_name(sel.winner().unwrap()), "p00042");
        assert_eq!(s.select_winner(0, &t), sel.winner());
        assert_eq!(sel.matches.len(), 2);
        assert!(
            sel.candidates_evaluated <= 3,
            "evaluated {}",
            sel.candidates_evaluated
        );
    }
}
