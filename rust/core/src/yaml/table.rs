//! A compact, per-document table of TrafficPermission selectors read from YAML (issue #13,
//! "resources that cost little"): the traffic compile's inputs of documents whose Python body is
//! not built, kept as interned string ids in one flat array (about 50 bytes for a TrafficPermission
//! of one source and one destination of two tags each) instead of dictionaries.

use ahash::AHashMap;

use super::clean::Selector;

/// Selectors by document slot (the order documents were pushed).
#[derive(Debug, Default)]
pub struct SelectorTable {
    strings: Vec<Box<str>>,
    ids: AHashMap<Box<str>, u32>,
    /// Per slot: the start of its entry in `data`, or `NONE`.
    offsets: Vec<u32>,
    /// Per entry: sources count, then per source its tag count and (key, value) ids; then the same
    /// for destinations.
    data: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// One side (sources or destinations): selectors as (key, value) pairs.
pub type Side<'t> = Vec<Vec<(&'t str, &'t str)>>;

impl SelectorTable {
    /// Record the next slot's selectors (None: a document without them). False when the table is
    /// full (over 2^32 entries): the slot then has none.
    pub fn push(&mut self, selectors: Option<(&[Selector<'_>], &[Selector<'_>])>) -> bool {
        let Some((sources, destinations)) = selectors else {
            self.offsets.push(NONE);
            return true;
        };
        let start = self.data.len();
        let mut ok = true;
        for side in [sources, destinations] {
            ok &= self.count(side.len());
            for selector in side {
                ok &= self.count(selector.len());
                for (k, v) in selector {
                    ok &= self.intern(k) && self.intern(v);
                }
            }
        }
        match u32::try_from(start).ok().filter(|s| ok && *s != NONE) {
            Some(s) => {
                self.offsets.push(s);
                true
            }
            None => {
                self.data.truncate(start);
                self.offsets.push(NONE);
                false
            }
        }
    }

    fn count(&mut self, n: usize) -> bool {
        match u32::try_from(n) {
            Ok(n) => {
                self.data.push(n);
                true
            }
            Err(_) => false,
        }
    }

    fn intern(&mut self, s: &str) -> bool {
        let id = match self.ids.get(s) {
            Some(id) => *id,
            None => {
                let Ok(id) = u32::try_from(self.strings.len()) else {
                    return false;
                };
                self.strings.push(s.into());
                self.ids.insert(s.into(), id);
                id
            }
        };
        self.data.push(id);
        true
    }

    /// Done pushing: drop the interning index and spare capacity.
    pub fn seal(&mut self) {
        self.ids = AHashMap::new();
        self.strings.shrink_to_fit();
        self.offsets.shrink_to_fit();
        self.data.shrink_to_fit();
    }

    /// Number of slots pushed.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The (sources, destinations) of `slot`, tags in the order written; None when it has none.
    pub fn get(&self, slot: usize) -> Option<(Side<'_>, Side<'_>)> {
        let start = *self.offsets.get(slot)?;
        if start == NONE {
            return None;
        }
        let mut at = start as usize;
        let mut next = || -> Option<u32> {
            let v = self.data.get(at).copied();
            at += 1;
            v
        };
        let mut sides = Vec::with_capacity(2);
        for _ in 0..2 {
            let n = next()?;
            let mut side = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let tags = next()?;
                let mut selector = Vec::with_capacity(tags as usize);
                for _ in 0..tags {
                    let k = self.strings.get(next()? as usize)?;
                    let v = self.strings.get(next()? as usize)?;
                    selector.push((&**k, &**v));
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
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(0), Some((a.clone(), b.clone())));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some((b, a)));
        assert_eq!(t.get(3), None);
        // "kuma.io/service", "web", "version", "*", "db", "team", "x": each string once
        assert_eq!(t.strings.len(), 7);
    }
}
