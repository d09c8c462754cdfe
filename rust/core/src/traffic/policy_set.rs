//! The compiled, immutable input of every traffic decision.
//!
//! Tag keys and values are interned; each mesh's TrafficPermission destination selectors are
//! indexed so that a target only evaluates selectors that can possibly match it:
//! a selector with an exact value is filed under one of its exact `(key, value)` pairs, an
//! all-wildcard selector under one of its keys (T2.5: `'*'` needs the key present), and an empty
//! selector (T3.8) in a match-all bucket.

use std::collections::HashMap;

use ahash::AHashMap;
use std::fmt;

use super::intern::{Interner, Sym, TagMap, TooManyStrings};
use crate::selector::WILDCARD;

pub const SERVICE_TAG: &str = "kuma.io/service";

/// A selector value: exact, or `'*'` (T2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Val {
    Exact(Sym),
    Any,
}

/// A compiled selector: `(key, value)` pairs sorted by key.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Selector {
    pub pairs: Vec<(Sym, Val)>,
}

impl Selector {
    pub fn rank(&self) -> crate::selector::Rank {
        let wildcard = self.pairs.iter().filter(|(_, v)| *v == Val::Any).count() as u32;
        crate::selector::Rank {
            exact: self.pairs.len() as u32 - wildcard,
            wildcard,
        }
    }
}

// ---- plain inputs (what the bindings extract from Python) ------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrometheusInput {
    pub port: u32,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeshInput {
    pub name: String,
    /// `mtls.enabledBackend` non-empty (E1).
    pub mtls_enabled: bool,
    /// enabled backend has `mode: PERMISSIVE` (E2); otherwise STRICT.
    pub permissive: bool,
    /// `routing.zoneEgress` (T4.7).
    pub zone_egress: bool,
    /// `networking.outbound.passthrough` (unset = true, T4.8).
    pub passthrough: bool,
    /// The Prometheus additional inbound (T4.9), when an enabled prometheus backend exists.
    pub prometheus: Option<PrometheusInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataplaneInput {
    pub mesh: String,
    pub name: String,
    pub inbounds: Vec<(u32, Vec<(String, String)>)>,
    pub gateway: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExternalServiceInput {
    pub mesh: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyInput {
    pub mesh: String,
    pub name: String,
    /// creationTime as (seconds since the Unix epoch, nanoseconds): Go's zero time and year 9999
    /// included, never truncated (A2, T3.5 ties).
    pub created: (i64, u32),
    pub sources: Vec<Vec<(String, String)>>,
    pub destinations: Vec<Vec<(String, String)>>,
}

/// An ad-hoc client (not a stored dataplane): a tag map or an explicit identity (A5).
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub mesh: String,
    /// Tag maps usable by the T2.6 dataplane matcher (empty for an explicit identity).
    pub tag_maps: Vec<Vec<(String, String)>>,
    /// Identity pairs for the T2.7 matcher (services are `(kuma.io/service, s)` pairs).
    pub pairs: Vec<(String, String)>,
}

// ---- compiled ----------------------------------------------------------------------------------

pub type MeshId = u32;
pub type DpId = u32;
pub type EsId = u32;
pub type PolicyId = u32;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Mesh {
    pub name: String,
    /// false when only referenced by a resource, not defined by a Mesh document.
    pub defined: bool,
    pub mtls_enabled: bool,
    pub permissive: bool,
    pub zone_egress: bool,
    pub passthrough: bool,
    pub prometheus: Option<(u32, TagMap)>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Dataplane {
    pub mesh: MeshId,
    pub name: String,
    pub inbounds: Vec<(u32, TagMap)>,
    pub gateway: Option<TagMap>,
    /// T2.7 / T4.10: union of all inbound and gateway `(key, value)` pairs, sorted, deduplicated.
    pub identity: Vec<(Sym, Sym)>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExternalService {
    pub mesh: MeshId,
    pub name: String,
    pub tags: TagMap,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub mesh: MeshId,
    pub name: String,
    pub created: (i64, u32),
    pub sources: Vec<Selector>,
    pub destinations: Vec<Selector>,
    /// Position in the mesh's tie-break order (T3.5/A2/A3): a greater value wins among equal
    /// ranks (later creationTime, then smaller name).
    pub tiebreak: u32,
}

/// One destination selector of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SelRef {
    pub policy: PolicyId,
    pub dest: u32,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MeshIndex {
    #[serde(serialize_with = "crate::bundle::sorted_map")]
    pub by_pair: HashMap<(Sym, Sym), Vec<SelRef>>,
    #[serde(serialize_with = "crate::bundle::sorted_map")]
    pub by_key: HashMap<Sym, Vec<SelRef>>,
    pub match_all: Vec<SelRef>,
    pub policy_count: usize,
}

/// Errors of compilation or of a query. Never turned into an allow (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficError {
    UnknownMesh(String),
    UnknownDataplane {
        mesh: String,
        name: String,
    },
    UnknownExternalService {
        mesh: String,
        name: String,
    },
    Duplicate(String),
    /// A name given without a mesh exists in several meshes.
    Ambiguous {
        kind: &'static str,
        name: String,
        meshes: Vec<String>,
    },
    /// Input the engine cannot evaluate (e.g. a non-mesh client for an ExternalService).
    Invalid(String),
    /// Kuma's rule list (M6.4) is above its cap: the decision (M6.2) is unaffected.
    Rules(crate::mtp::RulesError),
}

impl fmt::Display for TrafficError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrafficError::UnknownMesh(m) => write!(f, "no Mesh named {m:?}"),
            TrafficError::UnknownDataplane { mesh, name } => {
                write!(f, "no Dataplane named {name:?} in mesh {mesh:?}")
            }
            TrafficError::UnknownExternalService { mesh, name } => {
                write!(f, "no ExternalService named {name:?} in mesh {mesh:?}")
            }
            TrafficError::Duplicate(what) => write!(f, "duplicate {what}"),
            TrafficError::Ambiguous { kind, name, meshes } => {
                write!(f, "{kind} {name:?} exists in meshes {meshes:?}; pass mesh=")
            }
            TrafficError::Invalid(msg) => f.write_str(msg),
            TrafficError::Rules(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TrafficError {}

impl From<TooManyStrings> for TrafficError {
    fn from(_: TooManyStrings) -> Self {
        TrafficError::Invalid("more than 2^32 - 1 distinct tag keys and values".into())
    }
}

/// Everything a traffic decision reads. Immutable after [`PolicySet::compile`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PolicySet {
    pub interner: Interner,
    pub meshes: Vec<Mesh>,
    /// (The three id maps are derived from the vectors: not serialised, see `bundle.rs`.)
    #[serde(skip)]
    pub mesh_ids: AHashMap<String, MeshId>,
    pub dataplanes: Vec<Dataplane>,
    #[serde(skip)]
    pub dp_ids: AHashMap<(MeshId, String), DpId>,
    pub external_services: Vec<ExternalService>,
    #[serde(skip)]
    pub es_ids: AHashMap<(MeshId, String), EsId>,
    /// per mesh: its ExternalServices sorted by name.
    pub es_by_mesh: Vec<Vec<EsId>>,
    pub policies: Vec<Policy>,
    pub index: Vec<MeshIndex>,
    /// `kuma.io/service` symbol.
    pub service: Sym,
}

fn strs(v: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    v.iter().map(|(k, s)| (k.as_str(), s.as_str()))
}

impl PolicySet {
    pub fn compile(
        meshes: Vec<MeshInput>,
        dataplanes: Vec<DataplaneInput>,
        external_services: Vec<ExternalServiceInput>,
        policies: Vec<PolicyInput>,
    ) -> Result<PolicySet, TrafficError> {
        let mut set = PolicySet::default();
        set.service = set.interner.intern(SERVICE_TAG)?;
        for m in meshes {
            if set.mesh_ids.contains_key(&m.name) {
                return Err(TrafficError::Duplicate(format!("Mesh {:?}", m.name)));
            }
            let prometheus = match &m.prometheus {
                Some(p) => Some((p.port, set.interner.tag_map(strs(&p.tags))?)),
                None => None,
            };
            let id = set.meshes.len() as MeshId;
            set.mesh_ids.insert(m.name.clone(), id);
            set.meshes.push(Mesh {
                name: m.name,
                defined: true,
                mtls_enabled: m.mtls_enabled,
                permissive: m.permissive,
                zone_egress: m.zone_egress,
                passthrough: m.passthrough,
                prometheus,
            });
        }
        for d in dataplanes {
            let mesh = set.mesh_id_or_placeholder(&d.mesh);
            let inbounds: Vec<(u32, TagMap)> = d
                .inbounds
                .iter()
                .map(|(port, tags)| Ok((*port, set.interner.tag_map(strs(tags))?)))
                .collect::<Result<_, TooManyStrings>>()?;
            let gateway = match &d.gateway {
                Some(g) => Some(set.interner.tag_map(strs(g))?),
                None => None,
            };
            let mut identity: Vec<(Sym, Sym)> = inbounds
                .iter()
                .flat_map(|(_, t)| t.iter().copied())
                .chain(gateway.iter().flatten().copied())
                .collect();
            identity.sort_unstable();
            identity.dedup();
            let key = (mesh, d.name.clone());
            if set.dp_ids.contains_key(&key) {
                return Err(TrafficError::Duplicate(format!(
                    "Dataplane {:?} in mesh {:?}",
                    d.name, d.mesh
                )));
            }
            set.dp_ids.insert(key, set.dataplanes.len() as DpId);
            set.dataplanes.push(Dataplane {
                mesh,
                name: d.name,
                inbounds,
                gateway,
                identity,
            });
        }
        for e in external_services {
            let mesh = set.mesh_id_or_placeholder(&e.mesh);
            let tags = set.interner.tag_map(strs(&e.tags))?;
            let key = (mesh, e.name.clone());
            if set.es_ids.contains_key(&key) {
                return Err(TrafficError::Duplicate(format!(
                    "ExternalService {:?} in mesh {:?}",
                    e.name, e.mesh
                )));
            }
            set.es_ids.insert(key, set.external_services.len() as EsId);
            set.external_services.push(ExternalService {
                mesh,
                name: e.name,
                tags,
            });
        }
        for p in policies {
            let mesh = set.mesh_id_or_placeholder(&p.mesh);
            let sources = p
                .sources
                .iter()
                .map(|s| set.selector(s))
                .collect::<Result<_, _>>()?;
            let destinations = p
                .destinations
                .iter()
                .map(|s| set.selector(s))
                .collect::<Result<_, _>>()?;
            set.policies.push(Policy {
                mesh,
                name: p.name,
                created: p.created,
                sources,
                destinations,
                tiebreak: 0,
            });
        }
        set.build_indexes()?;
        Ok(set)
    }

    fn mesh_id_or_placeholder(&mut self, name: &str) -> MeshId {
        if let Some(&id) = self.mesh_ids.get(name) {
            return id;
        }
        let id = self.meshes.len() as MeshId;
        self.mesh_ids.insert(name.to_owned(), id);
        self.meshes.push(Mesh {
            name: name.to_owned(),
            defined: false,
            mtls_enabled: true, // never consulted: queries on an undefined mesh fail (fail closed)
            permissive: false,
            zone_egress: false,
            passthrough: true,
            prometheus: None,
        });
        id
    }

    fn selector(&mut self, pairs: &[(String, String)]) -> Result<Selector, TooManyStrings> {
        let mut out: Vec<(Sym, Val)> = pairs
            .iter()
            .map(|(k, v)| {
                let key = self.interner.intern(k)?;
                let val = if v == WILDCARD {
                    Val::Any
                } else {
                    Val::Exact(self.interner.intern(v)?)
                };
                Ok((key, val))
            })
            .collect::<Result<_, _>>()?;
        out.sort_unstable_by_key(|p| p.0);
        out.dedup_by_key(|p| p.0);
        Ok(Selector { pairs: out })
    }

    fn build_indexes(&mut self) -> Result<(), TrafficError> {
        let unknown_id = || TrafficError::Invalid("an id outside its table while indexing".into());
        self.index = vec![MeshIndex::default(); self.meshes.len()];
        self.es_by_mesh = vec![Vec::new(); self.meshes.len()];
        // T3.5: order by (creationTime asc, name desc); a later position wins a rank tie.
        let mut order: Vec<(usize, &Policy)> = self.policies.iter().enumerate().collect();
        order.sort_by(|(_, pa), (_, pb)| {
            (pa.mesh, pa.created)
                .cmp(&(pb.mesh, pb.created))
                .then_with(|| pb.name.cmp(&pa.name))
        });
        for (&(_, a), &(_, b)) in order.iter().zip(order.iter().skip(1)) {
            if a.mesh == b.mesh && a.name == b.name {
                let mesh = &self.mesh_ref(a.mesh)?.name;
                return Err(TrafficError::Duplicate(format!(
                    "TrafficPermission {:?} in mesh {mesh:?}",
                    a.name
                )));
            }
        }
        let order: Vec<usize> = order.into_iter().map(|(pid, _)| pid).collect();
        for (pos, pid) in order.into_iter().enumerate() {
            // pid enumerates self.policies: always found
            let p = self.policies.get_mut(pid).ok_or_else(unknown_id)?;
            p.tiebreak = pos as u32;
        }
        for (pid, p) in self.policies.iter().enumerate() {
            // every policy's mesh id is one of self.meshes (interned with it): always found
            let idx = self.index.get_mut(p.mesh as usize).ok_or_else(unknown_id)?;
            idx.policy_count += 1;
            for (d, sel) in p.destinations.iter().enumerate() {
                let r = SelRef {
                    policy: pid as PolicyId,
                    dest: d as u32,
                };
                // File under the exact pair with the currently smallest bucket (keeps buckets even).
                let best_pair = sel
                    .pairs
                    .iter()
                    .filter_map(|&(k, v)| match v {
                        Val::Exact(v) => Some((k, v)),
                        Val::Any => None,
                    })
                    .min_by_key(|kv| idx.by_pair.get(kv).map_or(0, Vec::len));
                match (best_pair, sel.pairs.first()) {
                    (Some(kv), _) => idx.by_pair.entry(kv).or_default().push(r),
                    (None, Some(&(k, _))) => idx.by_key.entry(k).or_default().push(r),
                    (None, None) => idx.match_all.push(r), // T3.8 / A8
                }
            }
        }
        for (id, e) in self.external_services.iter().enumerate() {
            let list = self
                .es_by_mesh
                .get_mut(e.mesh as usize)
                .ok_or_else(unknown_id)?;
            list.push(id as EsId);
        }
        let es_name = |id: EsId| self.external_services.get(id as usize).map(|e| &e.name);
        for list in &mut self.es_by_mesh {
            list.sort_by_key(|&id| es_name(id));
        }
        Ok(())
    }

    // ---- lookups --------------------------------------------------------------------------------

    /// A mesh defined by a Mesh document.
    pub fn mesh(&self, name: &str) -> Result<MeshId, TrafficError> {
        match self.mesh_ids.get(name) {
            Some(&id) if self.meshes.get(id as usize).is_some_and(|m| m.defined) => Ok(id),
            _ => Err(TrafficError::UnknownMesh(name.to_owned())),
        }
    }

    pub fn dataplane(&self, mesh: &str, name: &str) -> Result<DpId, TrafficError> {
        let unknown = || TrafficError::UnknownDataplane {
            mesh: mesh.to_owned(),
            name: name.to_owned(),
        };
        let m = *self.mesh_ids.get(mesh).ok_or_else(unknown)?;
        let id = *self.dp_ids.get(&(m, name.to_owned())).ok_or_else(unknown)?;
        self.mesh(mesh)?;
        Ok(id)
    }

    pub fn external_service(&self, mesh: &str, name: &str) -> Result<EsId, TrafficError> {
        let unknown = || TrafficError::UnknownExternalService {
            mesh: mesh.to_owned(),
            name: name.to_owned(),
        };
        let m = *self.mesh_ids.get(mesh).ok_or_else(unknown)?;
        let id = *self.es_ids.get(&(m, name.to_owned())).ok_or_else(unknown)?;
        self.mesh(mesh)?;
        Ok(id)
    }

    /// Compiles an ad-hoc client against this set's interner (no new symbols).
    pub fn adhoc_client(&self, c: &ClientInput) -> Result<AdhocClient, TrafficError> {
        let mesh = self.mesh(&c.mesh)?;
        let tag_maps = c
            .tag_maps
            .iter()
            .map(|t| self.interner.lookup_map(strs(t)))
            .collect();
        let mut pairs: Vec<(Sym, Sym)> = c
            .pairs
            .iter()
            .filter_map(|(k, v)| Some((self.interner.get(k)?, self.interner.get(v)?)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        Ok(AdhocClient {
            mesh,
            tag_maps,
            pairs,
        })
    }

    pub fn policy_name(&self, id: PolicyId) -> &str {
        self.policies
            .get(id as usize)
            .map_or("", |p| p.name.as_str())
    }
}

/// A compiled ad-hoc client.
#[derive(Debug, Clone)]
pub struct AdhocClient {
    pub mesh: MeshId,
    pub tag_maps: Vec<TagMap>,
    pub pairs: Vec<(Sym, Sym)>,
}

/// The client of a check (§4.1 C).
#[derive(Debug, Clone, Copy)]
pub enum Client<'a> {
    /// No sidecar: plaintext connection (E2/E3).
    NonMesh,
    Dataplane(DpId),
    Adhoc(&'a AdhocClient),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicySet>();
    }

    #[test]
    fn index_buckets() {
        let p = |name: &str, dest: &[(&str, &str)]| PolicyInput {
            mesh: "default".into(),
            name: name.into(),
            destinations: vec![kv(dest)],
            sources: vec![kv(&[("kuma.io/service", "*")])],
            ..Default::default()
        };
        let set = PolicySet::compile(
            vec![MeshInput {
                name: "default".into(),
                ..Default::default()
            }],
            vec![],
            vec![],
            vec![
                p("a", &[("kuma.io/service", "web")]),
                p("b", &[("kuma.io/service", "*")]),
                p("c", &[]),
            ],
        )
        .unwrap();
        let idx = &set.index[0];
        assert_eq!(idx.by_pair.len(), 1);
        assert_eq!(idx.by_key.len(), 1);
        assert_eq!(idx.match_all.len(), 1);
    }

    #[test]
    fn duplicate_policy_is_an_error() {
        let p = PolicyInput {
            mesh: "m".into(),
            name: "x".into(),
            ..Default::default()
        };
        let err = PolicySet::compile(vec![], vec![], vec![], vec![p.clone(), p]).unwrap_err();
        assert!(matches!(err, TrafficError::Duplicate(_)));
    }

    #[test]
    fn unknown_lookups_name_the_thing() {
        let set = PolicySet::compile(vec![], vec![], vec![], vec![]).unwrap();
        assert_eq!(
            set.mesh("nope").unwrap_err().to_string(),
            "no Mesh named \"nope\""
        );
        assert!(set
            .dataplane("m", "dp")
            .unwrap_err()
            .to_string()
            .contains("\"dp\""));
    }
}
