//! The storage the per-document input tables share (TrafficPermission selectors: [`super::table`],
//! MeshTrafficPermission inputs: [`super::mtp_table`], Dataplane inbounds:
//! [`super::dataplane_table`]): interned strings and one flat array of `u32` words, an entry per
//! document slot, instead of a dictionary per field (issue #13, "resources that cost little").

use ahash::AHashMap;

/// Entries by document slot (the order documents were pushed).
#[derive(Debug, Default)]
pub struct Words {
    strings: Vec<Box<str>>,
    ids: AHashMap<Box<str>, u32>,
    /// Per slot: the start of its entry in `data`, or `NONE`.
    offsets: Vec<u32>,
    data: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Words {
    /// Record the next slot: no entry for `None`, else the words `write` pushes, kept when it
    /// returns true (every word could be stored); otherwise they are dropped and the slot has
    /// none. False when a value was given but the slot has no entry.
    pub fn push<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Words, T) -> bool) -> bool {
        let Some(value) = value else {
            self.offsets.push(NONE);
            return true;
        };
        let start = self.data.len();
        let ok = write(self, value);
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

    pub fn word(&mut self, w: u32) {
        self.data.push(w);
    }

    /// A count as one word (false past `u32`).
    pub fn count(&mut self, n: usize) -> bool {
        match u32::try_from(n) {
            Ok(n) => {
                self.data.push(n);
                true
            }
            Err(_) => false,
        }
    }

    /// A string as the id of its one stored copy (false when the ids are exhausted).
    pub fn intern(&mut self, s: &str) -> bool {
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

    /// Number of distinct strings stored.
    pub fn strings(&self) -> usize {
        self.strings.len()
    }

    /// A reader at the entry of `slot`; None when it has none.
    pub fn entry(&self, slot: usize) -> Option<Reader<'_>> {
        let start = *self.offsets.get(slot)?;
        (start != NONE).then_some(Reader {
            words: self,
            at: start as usize,
        })
    }
}

/// Reads one entry's words in the order they were pushed (None past the data: a table never
/// written that way).
pub struct Reader<'t> {
    words: &'t Words,
    at: usize,
}

impl<'t> Reader<'t> {
    pub fn word(&mut self) -> Option<u32> {
        let v = self.words.data.get(self.at).copied();
        self.at += 1;
        v
    }

    /// The string an interned id names.
    pub fn string(&mut self) -> Option<&'t str> {
        let id = self.word()?;
        self.words.strings.get(id as usize).map(|s| &**s)
    }
}
