//! R5.8 glob and selector cover for legacy qualifiers (A5, A6).
//!
//! The glob runs in time linear in `pattern.len() + value.len()` (issue #12 item 10): the pattern
//! is split at its `*`s; the first piece must be a prefix, the last a suffix, and each middle
//! piece is found leftmost (greedy leftmost is exact for `*`-only globs) with a KMP search that
//! never re-reads text it has passed.

/// R5.8 glob: `*` matches any run of characters (including the empty run); every other character
/// matches itself; anchored at both ends; case-sensitive; no `?`, no escapes.
///
/// Byte-wise is sound for UTF-8: `*` is ASCII, and a match of a valid UTF-8 piece inside valid
/// UTF-8 text always starts and ends on character boundaries.
pub fn glob(pattern: &str, value: &str) -> bool {
    glob_counted(pattern.as_bytes(), value.as_bytes(), &mut 0)
}

/// [`glob`] counting its elementary steps (comparisons and table updates) into `steps`: the
/// work-bound test checks `steps <= c * (pattern + value)`.
pub fn glob_counted(p: &[u8], v: &[u8], steps: &mut u64) -> bool {
    let mut pieces = p.split(|&c| c == b'*');
    let first = pieces.next().unwrap_or_default();
    if first.len() == p.len() {
        *steps += p.len() as u64;
        return p == v; // no `*`: plain equality
    }
    // There is at least one `*`, so at least one more piece: the last one is the suffix.
    let mut middle: Vec<&[u8]> = pieces.collect();
    let last = middle.pop().unwrap_or_default();
    *steps += (first.len() + last.len()) as u64;
    if v.len() < first.len() + last.len() || !v.starts_with(first) || !v.ends_with(last) {
        return false;
    }
    let mut rest = v.get(first.len()..v.len() - last.len()).unwrap_or_default();
    for piece in middle.into_iter().filter(|x| !x.is_empty()) {
        match find(rest, piece, steps) {
            Some(end) => rest = rest.get(end..).unwrap_or_default(),
            None => return false,
        }
    }
    true
}

/// KMP: the end offset of the leftmost occurrence of `needle` (non-empty) in `hay`.
fn find(hay: &[u8], needle: &[u8], steps: &mut u64) -> Option<usize> {
    // Failure table: fail[i] = length of the longest proper border of needle[..=i].
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0usize;
    for (i, &c) in needle.iter().enumerate().skip(1) {
        while k > 0 && needle.get(k) != Some(&c) {
            *steps += 1;
            k = fail.get(k - 1).copied().unwrap_or(0);
        }
        *steps += 1;
        if needle.get(k) == Some(&c) {
            k += 1;
        }
        if let Some(slot) = fail.get_mut(i) {
            *slot = k;
        }
    }
    let mut q = 0usize;
    for (i, &c) in hay.iter().enumerate() {
        while q > 0 && needle.get(q) != Some(&c) {
            *steps += 1;
            q = fail.get(q - 1).copied().unwrap_or(0);
        }
        *steps += 1;
        if needle.get(q) == Some(&c) {
            q += 1;
        }
        if q == needle.len() {
            return Some(i + 1);
        }
    }
    None
}

/// A tag selector as sorted `(key, value)` pairs.
pub type Selector = Vec<(String, String)>;

/// R5.8 `covers(P, S)`: every key of the qualifier pattern `p` is present in the policy selector
/// `s` with a value the pattern globs. Keys of `s` not in `p` are free; empty `p` covers all.
pub fn covers(p: &[(String, String)], s: &[(String, String)]) -> bool {
    p.iter().all(
        |(k, pattern)| match s.binary_search_by(|(sk, _)| sk.as_str().cmp(k)) {
            Ok(i) => s.get(i).is_some_and(|(_, v)| glob(pattern, v)),
            Err(_) => false,
        },
    )
}

/// Normalise a selector: sort by key (keys are unique in a YAML mapping).
pub fn selector<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Selector {
    let mut v: Selector = pairs.into_iter().collect();
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(p: &[(&str, &str)]) -> Selector {
        selector(p.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn glob_r5_8() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("web-*", "web-"));
        assert!(glob("web-*", "web-1"));
        assert!(!glob("web-*", "web"));
        assert!(glob("*-orders", "eu-orders"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(glob("a*b*c", "abc"));
        assert!(!glob("a*b*c", "acb"));
        assert!(!glob("Web", "web")); // case-sensitive
        assert!(!glob("w?b", "web")); // no `?`
        assert!(glob("w?b", "w?b"));
        assert!(glob("**", "x"));
        assert!(glob("é*", "éa"));
        assert!(!glob("ab*ba", "aba")); // prefix and suffix must not overlap
        assert!(glob("ab*ba", "abba"));
        assert!(glob("*aab*", "xaaab")); // KMP restarts inside a partial match
        assert!(glob("*abab*c", "ababcababac"));
        assert!(!glob("*abab*c", "abacabac"));
        assert!(glob("", ""));
        assert!(!glob("", "x"));
    }

    /// Issue #12 item 10: `'*' + 'a' * 30000 + 'b'` against 300 kB of `a` (no match) does work
    /// linear in the input sizes; the old backtracking glob did ~9·10⁹ comparisons here.
    #[test]
    fn glob_is_linear_on_adversarial_input() {
        let pattern = format!("*{}b", "a".repeat(30_000));
        let value = "a".repeat(300_000);
        let mut steps = 0u64;
        assert!(!glob_counted(
            pattern.as_bytes(),
            value.as_bytes(),
            &mut steps
        ));
        let bound = 4 * (pattern.len() + value.len()) as u64;
        assert!(steps <= bound, "{steps} steps > {bound}");
        // Middle pieces: the same bound with the piece in the middle and a match at the end.
        let pattern = format!("*{}b*", "a".repeat(30_000));
        let value = format!("{}b", "a".repeat(300_000));
        let mut steps = 0u64;
        assert!(glob_counted(
            pattern.as_bytes(),
            value.as_bytes(),
            &mut steps
        ));
        assert!(steps <= 4 * (pattern.len() + value.len()) as u64, "{steps}");
    }

    #[test]
    fn glob_agrees_with_a_naive_matcher() {
        // Exhaustive over a small alphabet: every pattern of length <= 5 and value <= 6.
        fn naive(p: &[u8], v: &[u8]) -> bool {
            match p.split_first() {
                None => v.is_empty(),
                Some((b'*', rest)) => (0..=v.len()).any(|i| naive(rest, &v[i..])),
                Some((c, rest)) => v.first() == Some(c) && naive(rest, &v[1..]),
            }
        }
        fn all(alpha: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![vec![]];
            let mut frontier = vec![vec![]];
            for _ in 0..max {
                let mut next = Vec::new();
                for s in &frontier {
                    for &c in alpha {
                        let mut t: Vec<u8> = s.clone();
                        t.push(c);
                        next.push(t);
                    }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            out
        }
        let patterns = all(b"ab*", 5);
        let values = all(b"ab", 6);
        for p in &patterns {
            for v in &values {
                assert_eq!(
                    glob_counted(p, v, &mut 0),
                    naive(p, v),
                    "{:?} {:?}",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(v)
                );
            }
        }
    }

    #[test]
    fn covers_a5() {
        // Policy value `*` is covered only by an all-`*` pattern.
        assert!(!covers(&sel(&[("svc", "web")]), &sel(&[("svc", "*")])));
        assert!(covers(&sel(&[("svc", "*")]), &sel(&[("svc", "*")])));
        // A selector missing a constrained key is broader: not covered.
        assert!(!covers(&sel(&[("svc", "web")]), &sel(&[])));
        // Extra policy keys narrow.
        assert!(covers(
            &sel(&[("svc", "web")]),
            &sel(&[("svc", "web"), ("v", "1")])
        ));
        // Empty pattern covers everything.
        assert!(covers(&sel(&[]), &sel(&[])));
    }
}
