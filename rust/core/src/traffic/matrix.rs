//! Service-to-service reachability matrix of one mesh (`meshauthz matrix`).
//!
//! Cell (S, D) for client service S and destination service D: [`ALLOW`] when every dataplane
//! of S may reach every inbound of D, [`DENY`] when none may, [`PARTIAL`] otherwise. Rows are the
//! `kuma.io/service` values carried by dataplanes of the mesh (inbound or gateway tags); columns
//! are services with at least one inbound of a non-gateway dataplane (gateways are never
//! enforced, T4.3).
//!
//! Cost: a dataplane client is decided only through its certificate identity (T2.7 / M5.1) and
//! an inbound only through its client set ([`super::reverse`]). Clients are grouped by identity,
//! inbounds by client-set shape, and each (identity, shape) pair is decided once with bitsets
//! over identities, so the matrix of 1,000 × 1,000 services needs one client set per inbound,
//! not one check per (client, inbound).

use ahash::AHashMap;

use super::intern::Sym;
use super::policy_set::{DpId, MeshId};
use super::reverse::ClientTerm;
use super::snapshot::Snapshot;

pub const DENY: u8 = 0;
pub const PARTIAL: u8 = 1;
pub const ALLOW: u8 = 2;

/// The matrix of one mesh; `codes` is row-major (`sources.len() × destinations.len()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceMatrix {
    pub sources: Vec<String>,
    pub destinations: Vec<String>,
    pub codes: Vec<u8>,
    /// Per source: its dataplanes, by name.
    pub src_dataplanes: Vec<Vec<DpId>>,
    /// Per destination: its (dataplane, port) inbounds, dataplanes by name, inbounds in order.
    pub dst_inbounds: Vec<Vec<(DpId, u32)>>,
}

/// A set of identity ids.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn full(n: usize) -> Bits {
        let mut b = Bits(vec![u64::MAX; n.div_ceil(64)]);
        if let Some(last) = b.0.last_mut() {
            if !n.is_multiple_of(64) {
                *last = (1u64 << (n % 64)) - 1;
            }
        }
        b
    }
    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    fn and(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn or(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    fn and_not(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= !b);
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
    /// `self ∩ o` is empty.
    fn disjoint(&self, o: &Bits) -> bool {
        self.0.iter().zip(&o.0).all(|(a, b)| a & b == 0)
    }
    /// `self ⊆ o`.
    fn subset(&self, o: &Bits) -> bool {
        self.0.iter().zip(&o.0).all(|(a, b)| a & !b == 0)
    }
}

/// Inbounds (dataplane, port) and their shape ids.
type Inbounds = (Vec<(DpId, u32)>, Vec<usize>);
/// A destination: name, inbounds, identities admitted by every / by some inbound.
type Dest = (String, Vec<(DpId, u32)>, Bits, Bits);

type Shape<'a> = Vec<(Vec<(&'a str, &'a str)>, Vec<Vec<(&'a str, &'a str)>>)>;

/// Sorted, deduplicated (require, unless) pairs: equal shapes admit exactly the same clients.
fn shape<'a>(terms: &[ClientTerm<'a>]) -> Shape<'a> {
    let mut s: Shape<'a> = terms
        .iter()
        .map(|t| {
            let mut req = t.require.clone();
            req.sort_unstable();
            let mut unless: Vec<_> = t
                .unless
                .iter()
                .map(|u| {
                    let mut u = u.clone();
                    u.sort_unstable();
                    u
                })
                .collect();
            unless.sort_unstable();
            (req, unless)
        })
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

impl Snapshot {
    /// The service matrix of `mesh` (see the module docs).
    pub fn service_matrix(&self, mesh: MeshId) -> ServiceMatrix {
        let tp = &self.tp;
        let mut dps: Vec<(DpId, &str)> = tp
            .dataplanes
            .iter()
            .enumerate()
            .filter(|(_, d)| d.mesh == mesh)
            .map(|(i, d)| (i as DpId, d.name.as_str()))
            .collect();
        dps.sort_unstable_by(|a, b| a.1.cmp(b.1));

        // Client side: identities (T2.7) numbered, services -> dataplanes and identity ids.
        let mut ident_ids: AHashMap<&[(Sym, Sym)], usize> = AHashMap::new();
        let mut src: AHashMap<Sym, (Vec<DpId>, Vec<usize>)> = AHashMap::new();
        for &(id, _) in &dps {
            let Some(d) = tp.dataplanes.get(id as usize) else {
                continue;
            };
            let next = ident_ids.len();
            let k = *ident_ids.entry(d.identity.as_slice()).or_insert(next);
            for &(key, v) in &d.identity {
                if key == tp.service {
                    let e = src.entry(v).or_default();
                    e.0.push(id);
                    e.1.push(k);
                }
            }
        }
        let n_id = ident_ids.len();
        let mut posting: AHashMap<(Sym, Sym), Bits> = AHashMap::new();
        for (ident, &k) in &ident_ids {
            for &p in ident.iter() {
                posting.entry(p).or_insert_with(|| Bits::empty(n_id)).set(k);
            }
        }
        // Identities holding every pair (a pair never interned is held by none).
        let conj = |pairs: &[(&str, &str)]| -> Bits {
            let mut m = Bits::full(n_id);
            for (k, v) in pairs {
                let held = tp
                    .interner
                    .get(k)
                    .zip(tp.interner.get(v))
                    .and_then(|p| posting.get(&p));
                match held {
                    Some(b) => m.and(b),
                    None => return Bits::empty(n_id),
                }
                if m.is_empty() {
                    break;
                }
            }
            m
        };

        // Destination side: inbounds of non-gateway dataplanes, grouped by client-set shape.
        let mut shape_ids: AHashMap<Shape<'_>, usize> = AHashMap::new();
        let mut allowed: Vec<Bits> = Vec::new();
        let mut dst: AHashMap<Sym, Inbounds> = AHashMap::new();
        for &(id, _) in &dps {
            let Some(d) = tp.dataplanes.get(id as usize) else {
                continue;
            };
            if d.gateway.is_some() {
                continue;
            }
            for (port, tags) in &d.inbounds {
                let Some(&(_, svc)) = tags.iter().find(|(k, _)| *k == tp.service) else {
                    continue;
                };
                let cs = self.client_set(id, *port, false);
                let key = shape(&cs.terms);
                let sid = match shape_ids.get(&key) {
                    Some(&sid) => sid,
                    None => {
                        // M6.2 / T2.7 over the terms: some term's requirements held and none
                        // of its exceptions.
                        let mut mask = Bits::empty(n_id);
                        for (req, unless) in &key {
                            let mut tm = conj(req);
                            for u in unless {
                                if tm.is_empty() {
                                    break;
                                }
                                tm.and_not(&conj(u));
                            }
                            mask.or(&tm);
                        }
                        allowed.push(mask);
                        shape_ids.insert(key, allowed.len() - 1);
                        allowed.len() - 1
                    }
                };
                let e = dst.entry(svc).or_default();
                e.0.push((id, *port));
                e.1.push(sid);
            }
        }

        // Every service symbol was interned from a dataplane's tags: it always resolves.
        let name = |s: Sym| tp.interner.resolve(s).map(str::to_owned);
        let mut sources: Vec<(String, Vec<DpId>, Bits)> = src
            .into_iter()
            .filter_map(|(s, (dps, ids))| {
                let mut m = Bits::empty(n_id);
                ids.iter().for_each(|&k| m.set(k));
                Some((name(s)?, dps, m))
            })
            .collect();
        sources.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut destinations: Vec<Dest> = dst
            .into_iter()
            .filter_map(|(s, (ibs, sids))| {
                // every: identities admitted by every inbound; some: by at least one.
                let (mut every, mut some) = (Bits::full(n_id), Bits::empty(n_id));
                for a in sids.iter().filter_map(|&sid| allowed.get(sid)) {
                    every.and(a);
                    some.or(a);
                }
                Some((name(s)?, ibs, every, some))
            })
            .collect();
        destinations.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        let mut codes = Vec::with_capacity(sources.len() * destinations.len());
        for (_, _, sm) in &sources {
            for (_, _, every, some) in &destinations {
                codes.push(if sm.disjoint(some) {
                    DENY
                } else if sm.subset(every) {
                    ALLOW
                } else {
                    PARTIAL
                });
            }
        }
        let (sources, src_dataplanes) = sources.into_iter().map(|(n, d, _)| (n, d)).unzip();
        let (destinations, dst_inbounds) =
            destinations.into_iter().map(|(n, i, _, _)| (n, i)).unzip();
        ServiceMatrix {
            sources,
            destinations,
            codes,
            src_dataplanes,
            dst_inbounds,
        }
    }
}
