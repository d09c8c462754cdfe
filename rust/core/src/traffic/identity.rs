//! Source matchers: T2.2 map matcher over compiled tag maps, T2.6 dataplane matcher and T2.7
//! identity matcher.

use super::intern::{tag_get, Interner, Sym, TagMap, TooManyStrings};
use super::policy_set::{Selector, Val};
use crate::selector::WILDCARD;

/// T2.2 over compiled maps: every selector key present, value `'*'` or equal (T2.5).
pub fn map_matches(sel: &Selector, tags: &[(Sym, Sym)]) -> bool {
    sel.pairs.iter().all(|&(k, v)| match (tag_get(tags, k), v) {
        (None, _) => false,
        (Some(_), Val::Any) => true,
        (Some(actual), Val::Exact(want)) => actual == want,
    })
}

/// T2.6 dataplane matcher: the selector matches some *single* tag map (an inbound or the
/// gateway); tags of different inbounds are not merged.
pub fn dataplane_matches<'a, I: IntoIterator<Item = &'a [(Sym, Sym)]>>(
    sel: &Selector,
    maps: I,
) -> bool {
    maps.into_iter().any(|m| map_matches(sel, m))
}

/// T2.7 identity matcher over the client's sorted `(key, value)` pairs (union of all its tags):
/// every non-`'*'` pair must be held (services are `(kuma.io/service, s)` pairs, rule 1); `'*'`
/// imposes no constraint (rule 3), so an all-`'*'` selector matches any client of the mesh
/// (rule 4). Mesh membership is checked by the caller.
pub fn identity_matches(sel: &Selector, pairs: &[(Sym, Sym)]) -> bool {
    sel.pairs.iter().all(|&(k, v)| match v {
        Val::Any => true,
        Val::Exact(want) => pairs.binary_search(&(k, want)).is_ok(),
    })
}

fn compile_selector(
    i: &mut Interner,
    selector: &[(String, String)],
) -> Result<Selector, TooManyStrings> {
    let mut pairs: Vec<(Sym, Val)> = selector
        .iter()
        .map(|(k, v)| {
            let val = if v == WILDCARD {
                Val::Any
            } else {
                Val::Exact(i.intern(v)?)
            };
            Ok((i.intern(k)?, val))
        })
        .collect::<Result<_, _>>()?;
    pairs.sort_unstable_by_key(|p| p.0);
    pairs.dedup_by_key(|p| p.0);
    Ok(Selector { pairs })
}

/// [`identity_matches`] over plain strings (the public helper `identity_matches` and the
/// conformance kind `selector_match` / `identity`).
/// False (no match) in the unreachable case of more than 2^32 distinct strings.
pub fn identity_matches_strs(selector: &[(String, String)], pairs: &[(String, String)]) -> bool {
    let mut i = Interner::default();
    let Ok(sel) = compile_selector(&mut i, selector) else {
        return false;
    };
    let Ok(mut held) = pairs
        .iter()
        .map(|(k, v)| Ok((i.intern(k)?, i.intern(v)?)))
        .collect::<Result<Vec<(Sym, Sym)>, TooManyStrings>>()
    else {
        return false;
    };
    held.sort_unstable();
    identity_matches(&sel, &held)
}

/// [`dataplane_matches`] over plain strings: some single tag map matches (T2.6). False (no match)
/// in the unreachable case of more than 2^32 distinct strings.
pub fn dataplane_matches_strs(
    selector: &[(String, String)],
    maps: &[Vec<(String, String)>],
) -> bool {
    let mut i = Interner::default();
    let Ok(sel) = compile_selector(&mut i, selector) else {
        return false;
    };
    let Ok(maps) = maps
        .iter()
        .map(|m| i.tag_map(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .collect::<Result<Vec<TagMap>, TooManyStrings>>()
    else {
        return false;
    };
    dataplane_matches(&sel, maps.iter().map(Vec::as_slice))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: Sym = 0;
    const VERSION: Sym = 1;
    const ROLE: Sym = 2;
    const WEB: Sym = 10;
    const ADMIN: Sym = 11;
    const WEB_ADMIN: Sym = 12;

    fn sel(pairs: &[(Sym, Option<Sym>)]) -> Selector {
        let mut p: Vec<(Sym, Val)> = pairs
            .iter()
            .map(|&(k, v)| (k, v.map_or(Val::Any, Val::Exact)))
            .collect();
        p.sort_unstable_by_key(|x| x.0);
        Selector { pairs: p }
    }

    #[test]
    fn t2_8_wildcard_on_missing_key() {
        // {svc: web, version: '*'} vs inbound {svc: web}: identity match, map/dataplane no match.
        let s = sel(&[(SVC, Some(WEB)), (VERSION, None)]);
        let inbound = vec![(SVC, WEB)];
        assert!(identity_matches(&s, &inbound));
        assert!(!dataplane_matches(&s, [inbound.as_slice()]));
    }

    #[test]
    fn t2_8_tags_from_different_inbounds() {
        // inbounds {svc: web}, {svc: web-admin, role: admin}; selector {svc: web, role: admin}.
        let s = sel(&[(SVC, Some(WEB)), (ROLE, Some(ADMIN))]);
        let a = vec![(SVC, WEB)];
        let b = vec![(SVC, WEB_ADMIN), (ROLE, ADMIN)];
        let mut union: Vec<(Sym, Sym)> = a.iter().chain(b.iter()).copied().collect();
        union.sort_unstable();
        assert!(identity_matches(&s, &union));
        assert!(!dataplane_matches(&s, [a.as_slice(), b.as_slice()]));
    }

    #[test]
    fn t2_7_all_wildcards_match_any_mesh_client() {
        assert!(identity_matches(&sel(&[(ROLE, None)]), &[]));
        assert!(identity_matches(&sel(&[]), &[]));
    }

    #[test]
    fn t2_2_empty_selector_matches_everything() {
        assert!(map_matches(&sel(&[]), &[]));
    }
}
