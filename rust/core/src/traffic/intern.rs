//! String interning: tag keys and values become `Sym`s so matching compares integers.

use std::collections::HashMap;

pub type Sym = u32;

/// A tag map as sorted `(key, value)` symbol pairs (keys unique; T2.1).
pub type TagMap = Vec<(Sym, Sym)>;

/// Looks up a key in a sorted tag map.
pub fn tag_get(tags: &[(Sym, Sym)], key: Sym) -> Option<Sym> {
    tags.binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .and_then(|i| tags.get(i))
        .map(|&(_, v)| v)
}

/// Serialised as its strings alone (the lookup map is rebuilt from them).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Interner {
    map: HashMap<String, Sym>,
    strs: Vec<String>,
}

impl From<Vec<String>> for Interner {
    fn from(strs: Vec<String>) -> Interner {
        let map = strs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as Sym))
            .collect();
        Interner { map, strs }
    }
}

impl From<Interner> for Vec<String> {
    fn from(i: Interner) -> Vec<String> {
        i.strs
    }
}

/// More distinct strings than symbols (2^32 - 1; [`UNKNOWN`] is reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyStrings;

impl Interner {
    pub fn intern(&mut self, s: &str) -> Result<Sym, TooManyStrings> {
        if let Some(&id) = self.map.get(s) {
            return Ok(id);
        }
        let id = Sym::try_from(self.strs.len())
            .ok()
            .filter(|&id| id != UNKNOWN)
            .ok_or(TooManyStrings)?;
        self.strs.push(s.to_owned());
        self.map.insert(s.to_owned(), id);
        Ok(id)
    }

    /// A string never interned cannot equal any selector value, so callers may drop it.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.map.get(s).copied()
    }

    /// Number of interned strings (every `Sym` is below it).
    pub fn len(&self) -> usize {
        self.strs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strs.is_empty()
    }

    /// The string of `id` (None: not a symbol of this interner).
    pub fn resolve(&self, id: Sym) -> Option<&str> {
        self.strs.get(id as usize).map(String::as_str)
    }

    /// Interns a map into a sorted [`TagMap`].
    pub fn tag_map<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(
        &mut self,
        tags: I,
    ) -> Result<TagMap, TooManyStrings> {
        let mut out: TagMap = tags
            .into_iter()
            .map(|(k, v)| Ok((self.intern(k)?, self.intern(v)?)))
            .collect::<Result<_, _>>()?;
        out.sort_unstable();
        out.dedup_by_key(|p| p.0);
        Ok(out)
    }

    /// Looks a map up without interning; unknown keys are dropped (no selector names them) and
    /// unknown values keep their key with a value no selector can equal (`'*'` still matches).
    pub fn lookup_map<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(&self, tags: I) -> TagMap {
        let mut out: TagMap = tags
            .into_iter()
            .filter_map(|(k, v)| self.get(k).map(|k| (k, self.get(v).unwrap_or(UNKNOWN))))
            .collect();
        out.sort_unstable();
        out.dedup_by_key(|p| p.0);
        out
    }
}

/// A value symbol that equals no interned string.
pub const UNKNOWN: Sym = Sym::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_map_keeps_known_keys_with_unknown_values() {
        let mut i = Interner::default();
        let svc = i.intern("kuma.io/service").unwrap();
        let m = i.lookup_map([("kuma.io/service", "never-seen"), ("other", "x")]);
        assert_eq!(m, vec![(svc, UNKNOWN)]);
        assert_eq!(tag_get(&m, svc), Some(UNKNOWN));
    }
}
