//! A compact, per-document table of Dataplane inbounds read from YAML (issue #13, "resources that
//! cost little"): the traffic and MTP compiles' inputs of clean Dataplanes
//! ([`super::clean_dataplane`]) whose Python body is not built, as interned string ids in one flat
//! array instead of dictionaries.

use ahash::AHashMap;

use super::clean_dataplane::Inbound;

/// Inbounds by document slot (the order documents were pushed).
#[derive(Debug, Default)]
pub struct DataplaneTable {
    strings: Vec<Box<str>>,
    ids: AHashMap<Box<str>, u32>,
    /// Per slot: the start of its entry in `data`, or `NONE`.
    offsets: Vec<u32>,
    /// Per entry: the inbound count, then per inbound its port, tag count and (key, value) ids.
    data: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// One inbound read back: (port, tags in the order written).
pub type OwnedInbound = (u32, Vec<(String, String)>);

impl DataplaneTable {
    /// Record the next slot's inbounds (None: a document without them). False when the table is
    /// full: the slot then has none.
    pub fn push(&mut self, inbounds: Option<&[Inbound<'_>]>) -> bool {
        let Some(inbounds) = inbounds else {
            self.offsets.push(NONE);
            return true;
        };
        let start = self.data.len();
        let mut ok = self.count(inbounds.len());
        for (port, tags) in inbounds {
            self.data.push(*port);
            ok &= self.count(tags.len());
            for (k, v) in tags {
                ok &= self.intern(k) && self.intern(v);
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

    /// The inbounds of `slot`; None when it has none.
    pub fn get(&self, slot: usize) -> Option<Vec<OwnedInbound>> {
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
        let n = next()?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let port = next()?;
            let count = next()?;
            let mut tags = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let k = self.strings.get(next()? as usize)?;
                let v = self.strings.get(next()? as usize)?;
                tags.push((k.to_string(), v.to_string()));
            }
            out.push((port, tags));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{clean_dataplane, load};

    #[test]
    fn round_trips_clean_dataplanes_by_slot() {
        let docs = load(concat!(
            "type: Dataplane\nname: a\nmesh: default\nnetworking:\n  address: 10.0.0.1\n",
            "  inbound:\n    - port: 8080\n      servicePort: 80\n",
            "      tags: {kuma.io/service: web, kuma.io/protocol: http}\n",
            "    - {port: 9090, tags: {kuma.io/service: admin}}\n",
            "---\ntype: TrafficPermission\nname: t\nmesh: default\n",
            "sources: [{match: {a: b}}]\ndestinations: [{match: {a: b}}]\n",
            // a gateway is not the clean shape: no inputs
            "---\ntype: Dataplane\nname: g\nnetworking:\n  address: 10.0.0.2\n",
            "  gateway: {tags: {kuma.io/service: gw}}\n",
        ))
        .unwrap();
        let mut t = DataplaneTable::default();
        for d in &docs {
            let v = d.value.as_ref().unwrap();
            assert!(t.push(clean_dataplane::inbounds(v).as_deref()));
        }
        t.seal();
        let s = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            t.get(0),
            Some(vec![
                (
                    8080,
                    vec![s("kuma.io/service", "web"), s("kuma.io/protocol", "http")]
                ),
                (9090, vec![s("kuma.io/service", "admin")]),
            ])
        );
        assert_eq!(
            (t.get(1), t.get(2), t.get(3), t.len()),
            (None, None, None, 3)
        );
    }
}
