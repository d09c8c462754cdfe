//! A compact, per-document table of TrafficPermission selectors read from YAML (issue #13,
//! "resources that cost little"): the traffic compile's inputs of documents whose Python body is
//! not built, kept as interned string ids in one flat array (about 50 bytes for a TrafficPermission
//! of one source and one destination of two tags each) instead of dictionaries.

use super::clean::Selector;
use super::interned::Words;

/// Selectors by document slot (the order documents were pushed). An entry: sources count, then per
/// source its tag count and (key, value) ids; then the same for destinations.
#[derive(Debug, Default)]
pub struct SelectorTable {
    words: Words,
}

/// One side (sources or destinations): selectors as (key, value) pairs.
pub type Side<'t> = Vec<Vec<(&'t str, &'t str)>>;

impl SelectorTable {
    /// Record the next slot's selectors (None: a document without them). False when the table is
    /// full (over 2^32 entries): the slot then has none.
    pub fn push(&mut self, selectors: Option<(&[Selector<'_>], &[Selector<'_>])>) -> bool {
        self.words.push(selectors, |w, (sources, destinations)| {
            let mut ok = true;
            for side in [sources, destinations] {
                ok &= w.count(side.len());
                for selector in side {
                    ok &= w.count(selector.len());
                    for (k, v) in selector {
                        ok &= w.intern(k) && w.intern(v);
                    }
                }
            }
            ok
        })
    }

    /// Done pushing: drop the interning index and spare capacity.
    pub fn seal(&mut self) {
        self.words.seal();
    }

    /// The (sources, destinations) of `slot`, tags in the order written; None when it has none.
    pub fn get(&self, slot: usize) -> Option<(Side<'_>, Side<'_>)> {
        let mut r = self.words.entry(slot)?;
        let mut sides = Vec::with_capacity(2);
        for _ in 0..2 {
            let n = r.word()?;
            let mut side = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let tags = r.word()?;
                let mut selector = Vec::with_capacity(tags as usize);
                for _ in 0..tags {
                    selector.push((r.string()?, r.string()?));
                }
                side.push(selector);
            }
            sides.push(side);
        }
        let destinations = sides.pop()?;
        let sources = sides.pop()?;
        Some((sources, destinations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_slots_in_order() {
        let mut t = SelectorTable::default();
        let a: Vec<Selector> = vec![vec![("kuma.io/service", "web"), ("version", "*")]];
        let b: Vec<Selector> = vec![vec![("kuma.io/service", "db")], vec![("team", "x")]];
        assert!(t.push(Some((&a, &b))));
        assert!(t.push(None));
        assert!(t.push(Some((&b, &a))));
        t.seal();
        assert_eq!(t.words.len(), 3);
        assert_eq!(t.get(0), Some((a.clone(), b.clone())));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some((b, a)));
        assert_eq!(t.get(3), None);
        // "kuma.io/service", "web", "version", "*", "db", "team", "x": each string once
        assert_eq!(t.words.strings(), 7);
    }
}
