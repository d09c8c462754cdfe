//! Tag selectors: the T2.2 map matcher, T3.1 rank and the R5.8 `covers` of legacy qualifiers,
//! each against a direct reading of its rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshauthz_core::rbac::glob::{covers, glob, selector};
use meshauthz_core::selector::{map_matches, Rank, WILDCARD};

fn pairs(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('|').unwrap_or((text, ""));
    let sel = pairs(a);
    let tags = pairs(b);
    let lookup = |k: &str| tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| v.as_str());

    // T2.2: every selector pair present, with `*` (whole value) or an equal value; T2.5 a missing
    // key never matches.
    let got = map_matches(sel.iter().map(|(k, v)| (k.as_str(), v.as_str())), lookup);
    let want = sel.iter().all(|(k, v)| match lookup(k) {
        Some(actual) => v == WILDCARD || v == actual,
        None => false,
    });
    assert_eq!(got, want);

    // T3.1: exact and wildcard values counted.
    let rank = Rank::of(sel.iter().map(|(_, v)| v.as_str()));
    let wild = sel.iter().filter(|(_, v)| v == WILDCARD).count() as u32;
    assert_eq!((rank.exact, rank.wildcard), (sel.len() as u32 - wild, wild));
    assert_eq!(rank.compare_value(&rank), 0);

    // R5.8 covers: every pattern key present in the selector with a value the pattern globs.
    let p = selector(sel.clone());
    let s = selector(tags.clone());
    let want = p
        .iter()
        .all(|(k, pat)| s.iter().find(|(sk, _)| sk == k).is_some_and(|(_, v)| glob(pat, v)));
    assert_eq!(covers(&p, &s), want);
});
