//! Tag selectors: the map matcher (T2.2) and selector rank (T3.1, T3.2).

use std::cmp::Ordering;

/// The value that matches any value of a present key (T2.3: only as the whole value).
pub const WILDCARD: &str = "*";

/// T2.2 map matcher: every (k, v) of the selector must be present in `tags`, with `v == "*"`
/// or an equal value. A missing key never matches, not even with `*` (T2.5).
pub fn map_matches<'a, S, T>(selector: S, tags: T) -> bool
where
    S: IntoIterator<Item = (&'a str, &'a str)>,
    T: Fn(&str) -> Option<&'a str>,
{
    selector.into_iter().all(|(k, v)| match tags(k) {
        Some(actual) => v == WILDCARD || v == actual,
        None => false,
    })
}

/// T3.1 rank of a selector: (exact values, wildcard values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rank {
    pub exact: u32,
    pub wildcard: u32,
}

impl Rank {
    pub fn of<'a, I: IntoIterator<Item = &'a str>>(values: I) -> Rank {
        let mut rank = Rank::default();
        for v in values {
            if v == WILDCARD {
                rank.wildcard += 1;
            } else {
                rank.exact += 1;
            }
        }
        rank
    }

    /// T3.2 Kuma's `CompareTo`: total tag count dominates, then exact count. Positive means
    /// `self` is more specific; only the sign is meaningful.
    pub fn compare_value(&self, other: &Rank) -> i64 {
        let ta = i64::from(self.exact) + i64::from(self.wildcard);
        let tb = i64::from(other.exact) + i64::from(other.wildcard);
        if ta != tb {
            ta - tb
        } else {
            i64::from(self.exact) - i64::from(other.exact)
        }
    }

    /// Informative (not used by TrafficPermission): Kuma's `CombinedWith`, a field-wise sum.
    pub fn combined_with(&self, other: &Rank) -> Rank {
        Rank { exact: self.exact + other.exact, wildcard: self.wildcard + other.wildcard }
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.compare_value(other).cmp(&0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tags(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn wildcard_needs_the_key_present() {
        let t = tags(&[("kuma.io/service", "web")]);
        assert!(map_matches([("kuma.io/service", "*")], |k| t.get(k).copied()));
        assert!(!map_matches([("version", "*")], |k| t.get(k).copied()));
    }

    #[test]
    fn star_is_special_only_as_the_whole_value() {
        let t = tags(&[("kuma.io/service", "web-1")]);
        assert!(!map_matches([("kuma.io/service", "web-*")], |k| t.get(k).copied()));
    }

    #[test]
    fn empty_selector_matches_everything() {
        let t = tags(&[]);
        assert!(map_matches(std::iter::empty(), |k| t.get(k).copied()));
    }

    #[test]
    fn total_tag_count_beats_exactness() {
        // T3.2: {svc: *, version: *} (0,2) beats {svc: web} (1,0).
        let two_wild = Rank { exact: 0, wildcard: 2 };
        let one_exact = Rank { exact: 1, wildcard: 0 };
        assert!(two_wild.compare_value(&one_exact) > 0);
        assert_eq!(two_wild.cmp(&one_exact), Ordering::Greater);
        assert_eq!(Rank { exact: 1, wildcard: 1 }.compare_value(&Rank { exact: 0, wildcard: 2 }), 1);
    }

    #[test]
    fn rank_counts_wildcards() {
        assert_eq!(Rank::of(["a", "*", "b"]), Rank { exact: 2, wildcard: 1 });
    }
}
