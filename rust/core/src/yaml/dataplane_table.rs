//! A compact, per-document table of Dataplane inbounds read from YAML (issue #13, "resources that
//! cost little"): the traffic and MTP compiles' inputs of clean Dataplanes
//! ([`super::clean_dataplane`]) whose Python body is not built, as interned string ids in one flat
//! array instead of dictionaries.

use super::clean_dataplane::Inbound;
use super::interned::Words;

/// Inbounds by document slot (the order documents were pushed). An entry: the inbound count, then
/// per inbound its port, tag count and (key, value) ids.
#[derive(Debug, Default)]
pub struct DataplaneTable {
    words: Words,
}

/// One inbound read back: (port, tags in the order written).
pub type OwnedInbound = (u32, Vec<(String, String)>);

impl DataplaneTable {
    /// Record the next slot's inbounds (None: a document without them). False when the table is
    /// full: the slot then has none.
    pub fn push(&mut self, inbounds: Option<&[Inbound<'_>]>) -> bool {
        self.words.push(inbounds, |w, inbounds| {
            let mut ok = w.count(inbounds.len());
            for (port, tags) in inbounds {
                w.word(*port);
                ok &= w.count(tags.len());
                for (k, v) in tags {
                    ok &= w.intern(k) && w.intern(v);
                }
            }
            ok
        })
    }

    /// Done pushing: drop the interning index and spare capacity.
    pub fn seal(&mut self) {
        self.words.seal();
    }

    /// The inbounds of `slot`; None when it has none.
    pub fn get(&self, slot: usize) -> Option<Vec<OwnedInbound>> {
        let mut r = self.words.entry(slot)?;
        let n = r.word()?;
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let port = r.word()?;
            let count = r.word()?;
            let mut tags = Vec::with_capacity(count as usize);
            for _ in 0..count {
                tags.push((r.string()?.to_owned(), r.string()?.to_owned()));
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
            (t.get(1), t.get(2), t.get(3), t.words.len()),
            (None, None, None, 3)
        );
    }
}
