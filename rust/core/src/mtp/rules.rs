//! M6.4 Kuma's computed rule list (`BuildRules` since v2.10.10): maximal cliques of intersecting
//! items, odometer enumeration per clique, relevant items over the whole list, stable sort.
//! Computed lazily (explain / `select_rules` / the A3 divergence flag), never for the decision itself.

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
    TooLarge { combinations: usize },
}

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesError::TooLarge { combinations } => {
                write!(
                    f,
                    "rule list too large: {combinations} combinations (limit {MAX_COMBINATIONS})"
                )
            }
        }
    }
}

impl std::error::Error for RulesError {}

/// M6.4.3: all maximal cliques (Bron–Kerbosch with pivoting); isolated nodes are singleton cliques.
pub fn maximal_cliques(n: usize, adjacent: impl Fn(usize, usize) -> bool) -> Vec<Vec<usize>> {
    let nbrs: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).filter(|&j| j != i && adjacent(i, j)).collect())
        .collect();
    let mut out = Vec::new();
    fn bk(
        r: &mut Vec<usize>,
        p: Vec<usize>,
        mut x: Vec<usize>,
        nbrs: &[Vec<usize>],
        out: &mut Vec<Vec<usize>>,
    ) {
        if p.is_empty() && x.is_empty() {
            let mut c = r.clone();
            c.sort_unstable();
            out.push(c);
            return;
        }
        let pivot = p
            .iter()
            .chain(&x)
            .copied()
            .max_by_key(|&u| p.iter().filter(|v| nbrs[u].contains(v)).count());
        let candidates: Vec<usize> = p
            .iter()
            .copied()
            .filter(|v| pivot.is_none_or(|u| !nbrs[u].contains(v)))
            .collect();
        let mut p = p;
        for v in candidates {
            r.push(v);
            let np = p.iter().copied().filter(|w| nbrs[v].contains(w)).collect();
            let nx = x.iter().copied().filter(|w| nbrs[v].contains(w)).collect();
            bk(r, np, nx, nbrs, out);
            r.pop();
            p.retain(|&w| w != v);
            x.push(v);
        }
    }
    bk(
        &mut Vec::new(),
        (0..n).collect(),
        Vec::new(),
        &nbrs,
        &mut out,
    );
    out
}

/// M6.4.3 group order: `id1:id2:…` strings, descending.
fn group_key(c: &[usize]) -> String {
    c.iter().map(usize::to_string).collect::<Vec<_>>().join(":")
}

/// M6.4 over the M6.1 item list (positive subsets as sorted (key, value) lists, actions).
pub fn build(items: &[(&[(String, String)], Action)]) -> Result<Vec<Rule>, RulesError> {
    let mut groups = maximal_cliques(items.len(), |i, j| {
        subset::intersect(items[i].0, items[j].0)
    });
    groups.sort_by_cached_key(|g| std::cmp::Reverse(group_key(g)));
    let mut group_tags = Vec::with_capacity(groups.len());
    let mut total = 0usize;
    for g in &groups {
        let mut tags: Vec<Tag> = g
            .iter()
            .flat_map(|&i| items[i].0.iter().map(|(k, v)| Tag::pos(k, v)))
            .collect();
        tags.sort();
        tags.dedup();
        total = total.saturating_add(subset::iter_len(&tags));
        group_tags.push(tags);
    }
    if total > MAX_COMBINATIONS {
        return Err(RulesError::TooLarge {
            combinations: total,
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
        let c = maximal_cliques(3, |i, j| i == 0 || j == 0);
        assert_eq!(c.len(), 2);
        assert!(c.contains(&vec![0, 1]) && c.contains(&vec![0, 2]));
        assert_eq!(maximal_cliques(2, |_, _| false), vec![vec![0], vec![1]]);
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
