//! M6.4 Kuma's computed rule list (`BuildRules` since v2.10.10): maximal cliques of intersecting
//! items, odometer enumeration per clique, relevant items over the whole list, stable sort.
//! Computed lazily (explain / `select_rules` / the A3 divergence flag), never for the decision itself.

use std::collections::{BTreeMap, BTreeSet};

use super::subset::{self, Subset, Tag};
use super::Action;

/// Upper bound on enumerated combinations per call (the enumeration is exponential in tags).
pub const MAX_COMBINATIONS: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub subset: Subset,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulesError {
    /// The list would have more than `limit` candidate rules (subset combinations, M6.4.4).
    TooLarge { combinations: usize, limit: usize },
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesError::TooLarge {
                combinations,
                limit,
            } => {
                if *combinations == usize::MAX {
                    write!(
                        f,
                        "rule list too large: more than {MAX_CLIQUES} item groups (cap {limit} rules)"
                    )
                } else {
                    write!(
                        f,
                        "rule list too large: {combinations} candidate rules, above the cap of {limit} \
                         (max_rules)"
                    )
                }
            }
        }
    }
}

impl std::error::Error for RulesError {}

/// Upper bound on maximal cliques enumerated per call (their number can be exponential).
pub const MAX_CLIQUES: usize = 1 << 14;

/// M6.4.3: all maximal cliques (Bron–Kerbosch with pivoting); isolated nodes are singleton cliques.
/// `None` when there are more than `limit`.
pub fn maximal_cliques(
    n: usize,
    adjacent: impl Fn(usize, usize) -> bool,
    limit: usize,
) -> Option<Vec<Vec<usize>>> {
    let adj: Vec<Vec<bool>> = (0..n)
        .map(|i| (0..n).map(|j| j != i && adjacent(i, j)).collect())
        .collect();
    struct Bk<'a> {
        adj: &'a [Vec<bool>],
        out: Vec<Vec<usize>>,
        limit: usize,
    }
    impl Bk<'_> {
        fn run(&mut self, r: &mut Vec<usize>, mut p: Vec<usize>, mut x: Vec<usize>) -> bool {
            if p.is_empty() && x.is_empty() {
                let mut c = r.clone();
                c.sort_unstable();
                self.out.push(c);
                return self.out.len() <= self.limit;
            }
            // vertices are 0..n and `adj` is n × n, so the lookup always finds the edge
            let adj = |u: usize, v: usize| {
                self.adj
                    .get(u)
                    .and_then(|row| row.get(v))
                    .copied()
                    .unwrap_or(false)
            };
            let pivot = p
                .iter()
                .chain(&x)
                .copied()
                .max_by_key(|&u| p.iter().filter(|&&v| adj(u, v)).count());
            let candidates: Vec<usize> = p
                .iter()
                .copied()
                .filter(|&v| pivot.is_none_or(|u| !adj(u, v)))
                .collect();
            for v in candidates {
                r.push(v);
                let np = p.iter().copied().filter(|&w| adj(v, w)).collect();
                let nx = x.iter().copied().filter(|&w| adj(v, w)).collect();
                let ok = self.run(r, np, nx);
                r.pop();
                if !ok {
                    return false;
                }
                p.retain(|&w| w != v);
                x.push(v);
            }
            true
        }
    }
    let mut bk = Bk {
        adj: &adj,
        out: Vec::new(),
        limit,
    };
    bk.run(&mut Vec::new(), (0..n).collect(), Vec::new())
        .then_some(bk.out)
}

/// M6.4.3 adjacency: items `i` and `j` of the list have intersecting requirements (false for a
/// position outside the list, which `maximal_cliques(items.len(), ..)` never asks for).
fn items_intersect(items: &[(&[(String, String)], Action)], i: usize, j: usize) -> bool {
    matches!((items.get(i), items.get(j)), (Some((a, _)), Some((b, _))) if subset::intersect(a, b))
}

/// M6.4.3 group order: `id1:id2:…` strings, descending.
fn group_key(c: &[usize]) -> String {
    c.iter().map(usize::to_string).collect::<Vec<_>>().join(":")
}

/// M6.4 over the M6.1 item list (positive subsets as sorted (key, value) lists, actions).
pub fn build(items: &[(&[(String, String)], Action)]) -> Result<Vec<Rule>, RulesError> {
    build_capped(items, MAX_COMBINATIONS)
}

/// Default cap on the M6.4 rule list (candidate rules) of `select_rules` / explanations (#12).
pub const DEFAULT_MAX_RULES: usize = 10_000;

/// [`build`] with a cap on the candidate rules (checked before enumerating, so a document that
/// would produce millions of rules fails fast with [`RulesError::TooLarge`]).
pub fn build_capped(
    items: &[(&[(String, String)], Action)],
    cap: usize,
) -> Result<Vec<Rule>, RulesError> {
    let cap = cap.min(MAX_COMBINATIONS);
    let too_many_groups = RulesError::TooLarge {
        combinations: usize::MAX,
        limit: cap,
    };
    let mut groups = maximal_cliques(
        items.len(),
        |i, j| items_intersect(items, i, j),
        MAX_CLIQUES,
    )
    .ok_or(too_many_groups.clone())?;
    groups.sort_by_cached_key(|g| std::cmp::Reverse(group_key(g)));
    let mut group_tags = Vec::with_capacity(groups.len());
    let mut total = 0usize;
    for g in &groups {
        let mut tags: Vec<Tag> = Vec::new();
        for &i in g {
            // clique ids are positions in `items` (maximal_cliques(items.len(), ..)): always found;
            // were one not, refuse the list rather than build it from fewer requirements
            let (req, _) = items.get(i).ok_or(too_many_groups.clone())?;
            tags.extend(req.iter().map(|(k, v)| Tag::pos(k, v)));
        }
        tags.sort();
        tags.dedup();
        total = total.saturating_add(subset::iter_len(&tags));
        group_tags.push(tags);
    }
    if total > cap {
        return Err(RulesError::TooLarge {
            combinations: total,
            limit: cap,
        });
    }
    let mut rules = Vec::new();
    for tags in &group_tags {
        for ss in subset::iter(tags) {
            // M6.4.5: relevant = items of the whole list all of whose pairs are positive in `ss`.
            let relevant = items.iter().rev().find(|(req, _)| {
                req.iter()
                    .all(|(k, v)| ss.iter().any(|t| !t.not && &t.key == k && &t.value == v))
            });
            if let Some((_, action)) = relevant {
                rules.push(Rule {
                    subset: ss,
                    action: *action,
                });
            }
        }
    }
    // M6.4.6: stable sort by number of positive requirements, descending.
    rules.sort_by_key(|r| std::cmp::Reverse(r.subset.iter().filter(|t| !t.not).count()));
    Ok(rules)
}

/// A3/A4: does some non-Deny rule of the M6.4 list contain `identity` (Envoy semantics)? Computed per
/// maximal clique without enumerating the whole list: a rule of group `G` containing the client has, per
/// key of `G`, one positive value the client holds, or (if it holds none) all values negated; its
/// action is that of the last item whose requirements are all among those positives.
/// `None` when the clique or combination bounds are exceeded.
pub fn admits(
    items: &[(&[(String, String)], Action)],
    identity: &BTreeSet<(String, String)>,
) -> Option<bool> {
    admits_within(items, identity, MAX_COMBINATIONS)
}

/// [`admits`] enumerating at most `budget` combinations (`None` beyond: not computed).
pub fn admits_within(
    items: &[(&[(String, String)], Action)],
    identity: &BTreeSet<(String, String)>,
    budget: usize,
) -> Option<bool> {
    let groups = maximal_cliques(
        items.len(),
        |i, j| items_intersect(items, i, j),
        MAX_CLIQUES,
    )?;
    let mut budget = budget.min(MAX_COMBINATIONS);
    for g in groups {
        let mut dims: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for &i in &g {
            // clique ids are positions in `items`; were one not, the answer is "not computed"
            let (req, _) = items.get(i)?;
            for (k, v) in *req {
                let held = identity.contains(&(k.clone(), v.clone()));
                let vals = dims.entry(k.as_str()).or_default();
                if held && !vals.contains(&v.as_str()) {
                    vals.push(v.as_str());
                }
            }
        }
        // Keys where the client holds none of the group's values are negated: no positive there.
        let choices: Vec<(&str, Vec<&str>)> =
            dims.into_iter().filter(|(_, vs)| !vs.is_empty()).collect();
        let mut digits = vec![0usize; choices.len()];
        loop {
            budget = budget.checked_sub(1)?;
            let positive = |k: &str, v: &str| {
                choices
                    .iter()
                    .zip(&digits)
                    .any(|((ck, vs), &d)| *ck == k && vs.get(d).is_some_and(|x| *x == v))
            };
            let last = items
                .iter()
                .rev()
                .find(|(req, _)| req.iter().all(|(k, v)| positive(k, v)));
            if last.is_some_and(|(_, a)| a.allows()) {
                return Some(true);
            }
            let mut overflow = true;
            for (digit, (_, vals)) in digits.iter_mut().zip(&choices) {
                *digit += 1;
                if *digit < vals.len() {
                    overflow = false;
                    break;
                }
                *digit = 0;
            }
            if overflow {
                break;
            }
        }
    }
    Some(false)
}

/// Kuma's `Compute`: the action of the first rule containing the (single-valued) client.
pub fn compute(
    rules: &[Rule],
    element: &std::collections::BTreeMap<String, String>,
) -> Option<Action> {
    rules
        .iter()
        .find(|r| subset::contains(&r.subset, element))
        .map(|r| r.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(v: &str) -> Vec<(String, String)> {
        vec![("kuma.io/service".to_string(), v.to_string())]
    }
    fn render(rules: &[Rule]) -> Vec<(String, &'static str)> {
        rules
            .iter()
            .map(|r| {
                (
                    r.subset
                        .iter()
                        .map(Tag::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    r.action.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn m6_4_3_cliques() {
        // 0 intersects all; 1 and 2 conflict.
        let c = maximal_cliques(3, |i, j| i == 0 || j == 0, MAX_CLIQUES).unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.contains(&vec![0, 1]) && c.contains(&vec![0, 2]));
        assert_eq!(
            maximal_cliques(2, |_, _| false, MAX_CLIQUES),
            Some(vec![vec![0], vec![1]])
        );
        assert_eq!(maximal_cliques(2, |_, _| false, 1), None);
    }

    #[test]
    fn m6_4_golden_rules_001() {
        let (mesh, b, o) = (vec![], svc("backend"), svc("orders"));
        let items: Vec<(&[(String, String)], Action)> = vec![
            (&mesh, Action::Deny),
            (&b, Action::Allow),
            (&o, Action::AllowWithShadowDeny),
        ];
        assert_eq!(
            render(&build(&items).unwrap()),
            [
                ("kuma.io/service=orders".to_string(), "AllowWithShadowDeny"),
                ("kuma.io/service=backend".to_string(), "Allow"),
                ("kuma.io/service!=orders".to_string(), "Deny"),
                ("kuma.io/service!=backend".to_string(), "Deny"),
            ]
        );
    }

    #[test]
    fn m6_4_3_group_order_is_string_descending() {
        let mut g = vec![vec![9], vec![10], vec![0, 1], vec![0, 2]];
        g.sort_by_cached_key(|g| std::cmp::Reverse(group_key(g)));
        assert_eq!(g, vec![vec![9], vec![10], vec![0, 2], vec![0, 1]]);
    }
}
