//! R5.8 glob and selector cover for legacy qualifiers (A5, A6).

/// R5.8 glob: `*` matches any run of characters (including the empty run); every other character
/// matches itself; anchored at both ends; case-sensitive; no `?`, no escapes.
///
/// Byte-wise is sound for UTF-8: `*` is ASCII and a literal run always starts on a lead byte.
pub fn glob(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut resume = 0usize;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            resume = vi;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some(s) = star {
            // Backtrack: let the last `*` swallow one more character.
            pi = s + 1;
            resume += 1;
            vi = resume;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A tag selector as sorted `(key, value)` pairs.
pub type Selector = Vec<(String, String)>;

/// R5.8 `covers(P, S)`: every key of the qualifier pattern `p` is present in the policy selector
/// `s` with a value the pattern globs. Keys of `s` not in `p` are free; empty `p` covers all.
pub fn covers(p: &[(String, String)], s: &[(String, String)]) -> bool {
    p.iter().all(
        |(k, pattern)| match s.binary_search_by(|(sk, _)| sk.as_str().cmp(k)) {
            Ok(i) => glob(pattern, &s[i].1),
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
