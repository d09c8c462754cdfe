//! Batch support: inbound decisions row by row with `TrafficEngine.check`'s name resolution, no
//! allocation per row, bad rows as error codes (never an error that aborts the batch).
//!
//! Selection (T3.5) depends only on the target inbound, so a [`BatchCache`] memoises the winner
//! per `(dataplane, port)`; the E0–E7 rows are [`PolicySet::inbound_verdict`], the same function
//! `authorize_inbound` uses (spec §4.1).

use ahash::AHashMap;

use super::decide::{Peer, Reason};
use super::intern::{Sym, TagMap};
use super::policy_set::{DpId, MeshId, PolicyId, PolicySet};

/// Why a row could not be decided (`TrafficEngine.check` would raise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowError {
    /// No dataplane of that name (in that mesh): `NotFoundError`.
    UnknownDataplane,
    /// The mesh is not defined by a Mesh document: `NotFoundError`.
    UnknownMesh,
    /// The name exists in several meshes and no mesh was given: `InputError`.
    AmbiguousDataplane,
    /// `source_tags` is not `k=v[,k=v]...`: `InputError`.
    MalformedTags,
    /// Port null, negative or > u32: `InputError`.
    BadPort,
    /// Destination null: `InputError`.
    MissingField,
}

impl RowError {
    /// Every row error, in declaration (discriminant) order: `ALL[e as usize] == e`.
    pub const ALL: [RowError; 6] = [
        RowError::UnknownDataplane,
        RowError::UnknownMesh,
        RowError::AmbiguousDataplane,
        RowError::MalformedTags,
        RowError::BadPort,
        RowError::MissingField,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowError::UnknownDataplane => "error:unknown-dataplane",
            RowError::UnknownMesh => "error:unknown-mesh",
            RowError::AmbiguousDataplane => "error:ambiguous-dataplane",
            RowError::MalformedTags => "error:malformed-tags",
            RowError::BadPort => "error:bad-port",
            RowError::MissingField => "error:missing-field",
        }
    }
}

/// A row's client: no sidecar, a stored dataplane, or a `k=v,k=v` tag map (A5 tag-map client).
#[derive(Debug, Clone, Copy)]
pub enum RowSource<'a> {
    NonMesh,
    Dataplane(&'a str),
    DataplaneId(DpId),
    Tags(&'a str),
}

/// The outcome of one row. `e4` = TrafficPermission decided in a mesh with
/// MeshTrafficPermissions: the caller must consult the MTP engine (E4) for this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOutcome {
    pub allowed: bool,
    pub reason: Result<Reason, RowError>,
    pub policy: Option<PolicyId>,
    pub e4: bool,
}

impl RowOutcome {
    fn error(e: RowError) -> RowOutcome {
        RowOutcome {
            allowed: false,
            reason: Err(e),
            policy: None,
            e4: false,
        }
    }
}

/// Parses `k=v,k=v` (whitespace around items trimmed; empty string = empty map; a repeated key
/// is malformed).
pub fn parse_tags(s: &str) -> Result<Vec<(&str, &str)>, RowError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let tags: Vec<(&str, &str)> = s
        .split(',')
        .map(|item| {
            let (k, v) = item.split_once('=').ok_or(RowError::MalformedTags)?;
            let k = k.trim();
            if k.is_empty() {
                return Err(RowError::MalformedTags);
            }
            Ok((k, v.trim()))
        })
        .collect::<Result<_, _>>()?;
    for (i, (k, _)) in tags.iter().enumerate() {
        if tags[..i].iter().any(|(j, _)| j == k) {
            return Err(RowError::MalformedTags);
        }
    }
    Ok(tags)
}

/// A dataplane name resolved once per batch: an index into [`BatchIndex`]'s name groups.
pub type NameId = u32;

/// Name indexes for batch resolution, built once per compiled set.
#[derive(Debug, Default)]
pub struct BatchIndex {
    /// dataplane name -> its group in `groups`.
    by_name: AHashMap<String, NameId>,
    /// per name: every dataplane of that name (any mesh, defined or not).
    groups: Vec<Vec<DpId>>,
    /// meshes whose inbound TP outcomes must go through the E4 hook.
    mtp_meshes: Vec<bool>,
}

impl BatchIndex {
    /// A dataplane name, resolved once per distinct value (None: no dataplane has that name).
    pub fn name_id(&self, name: &str) -> Option<NameId> {
        self.by_name.get(name).copied()
    }
}

/// A row's client with its names resolved ([`PolicySet::batch_row_ids`]).
#[derive(Debug, Clone, Copy)]
pub enum SourceIds<'a> {
    NonMesh,
    /// A dataplane name (None: unknown name).
    Dataplane(Option<NameId>),
    DataplaneId(DpId),
    /// A tag-map client's identity pairs ([`PolicySet::batch_tags`]), or why it is malformed.
    Tags(Result<&'a [(Sym, Sym)], RowError>),
}

/// Per-thread memo of T3.5 winners per `(dataplane, port)` (selection ignores the client).
#[derive(Debug, Default)]
pub struct BatchCache {
    winners: AHashMap<(DpId, u32), Option<PolicyId>>,
}

impl PolicySet {
    /// `mtp_meshes`: names of meshes with MeshTrafficPermissions (E4 in the caller).
    pub fn batch_index<'a, I: IntoIterator<Item = &'a str>>(&self, mtp_meshes: I) -> BatchIndex {
        let mut by_name: AHashMap<String, NameId> = AHashMap::new();
        let mut groups: Vec<Vec<DpId>> = Vec::new();
        for (id, d) in self.dataplanes.iter().enumerate() {
            let g = *by_name.entry(d.name.clone()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() as NameId - 1
            });
            groups[g as usize].push(id as DpId);
        }
        let mut mtp = vec![false; self.meshes.len()];
        for m in mtp_meshes {
            if let Some(&id) = self.mesh_ids.get(m) {
                mtp[id as usize] = true;
            }
        }
        BatchIndex {
            by_name,
            groups,
            mtp_meshes: mtp,
        }
    }

    /// A mesh name, resolved once per distinct value (None: no resource names that mesh).
    pub fn batch_mesh(&self, name: &str) -> Option<MeshId> {
        self.mesh_ids.get(name).copied()
    }

    /// A `k=v,k=v` tag-map client (A5), parsed once per distinct text: its identity pairs
    /// (T2.7), unknown keys and values dropped (no selector can name them).
    pub fn batch_tags(&self, text: &str) -> Result<TagMap, RowError> {
        let tags = parse_tags(text)?;
        let mut pairs = self.interner.lookup_map(tags.iter().copied());
        pairs.retain(|&(_, v)| v != super::intern::UNKNOWN);
        Ok(pairs)
    }

    fn defined(&self, mesh: MeshId) -> Result<MeshId, RowError> {
        if self.meshes[mesh as usize].defined {
            Ok(mesh)
        } else {
            Err(RowError::UnknownMesh)
        }
    }

    /// `_mesh_of("Dataplane", name, mesh)` + `_require_mesh`: the destination dataplane.
    /// `mesh`: None = not given; Some(None) = a mesh name no resource uses.
    pub fn batch_destination_ids(
        &self,
        idx: &BatchIndex,
        mesh: Option<Option<MeshId>>,
        name: Option<NameId>,
    ) -> Result<DpId, RowError> {
        let ids = name
            .map(|n| idx.groups[n as usize].as_slice())
            .ok_or(RowError::UnknownDataplane)?;
        let id = match mesh {
            Some(m) => *ids
                .iter()
                .find(|&&d| Some(self.dataplanes[d as usize].mesh) == m)
                .ok_or(RowError::UnknownDataplane)?,
            None if ids.len() > 1 => return Err(RowError::AmbiguousDataplane),
            None => ids[0],
        };
        self.defined(self.dataplanes[id as usize].mesh)?;
        Ok(id)
    }

    /// [`PolicySet::batch_destination_ids`] by names.
    pub fn batch_destination(
        &self,
        idx: &BatchIndex,
        mesh: Option<&str>,
        name: &str,
    ) -> Result<DpId, RowError> {
        self.batch_destination_ids(idx, mesh.map(|m| self.batch_mesh(m)), idx.name_id(name))
    }

    /// `_client` for a dataplane name: the one in the destination's mesh, else the only one.
    fn batch_source_dp(
        &self,
        idx: &BatchIndex,
        mesh: MeshId,
        name: Option<NameId>,
    ) -> Result<DpId, RowError> {
        let ids = name
            .map(|n| idx.groups[n as usize].as_slice())
            .ok_or(RowError::UnknownDataplane)?;
        let id = match ids
            .iter()
            .find(|&&d| self.dataplanes[d as usize].mesh == mesh)
        {
            Some(&d) => d,
            None if ids.len() > 1 => return Err(RowError::AmbiguousDataplane),
            None => ids[0],
        };
        self.defined(self.dataplanes[id as usize].mesh)?;
        Ok(id)
    }

    /// One row by names: the TrafficPermission outcome `TrafficEngine.check` gives before its
    /// E4 hook. Batches resolve each distinct name once and call [`PolicySet::batch_row_ids`].
    pub fn batch_row(
        &self,
        idx: &BatchIndex,
        cache: &mut BatchCache,
        mesh: Option<&str>,
        source: RowSource<'_>,
        destination: Option<&str>,
        port: Option<i64>,
    ) -> RowOutcome {
        let tags;
        let source = match source {
            RowSource::NonMesh => SourceIds::NonMesh,
            RowSource::Dataplane(n) => SourceIds::Dataplane(idx.name_id(n)),
            RowSource::DataplaneId(d) => SourceIds::DataplaneId(d),
            RowSource::Tags(t) => {
                tags = self.batch_tags(t);
                SourceIds::Tags(tags.as_deref().map_err(|e| *e))
            }
        };
        self.batch_row_ids(
            idx,
            cache,
            mesh.map(|m| self.batch_mesh(m)),
            source,
            destination.map(|d| idx.name_id(d)),
            port,
        )
    }

    /// One row with its names resolved: `mesh` None = not given, Some(None) = unknown name;
    /// `destination` None = missing, Some(None) = unknown name. No allocation.
    pub fn batch_row_ids(
        &self,
        idx: &BatchIndex,
        cache: &mut BatchCache,
        mesh: Option<Option<MeshId>>,
        source: SourceIds<'_>,
        destination: Option<Option<NameId>>,
        port: Option<i64>,
    ) -> RowOutcome {
        let Some(dest) = destination else {
            return RowOutcome::error(RowError::MissingField);
        };
        let dp = match self.batch_destination_ids(idx, mesh, dest) {
            Ok(d) => d,
            Err(e) => return RowOutcome::error(e),
        };
        let dmesh = self.dataplanes[dp as usize].mesh;
        // The client, resolved as `_client` + the core's `resolve` do (source errors win over E0).
        let peer = match source {
            SourceIds::NonMesh => Peer::NonMesh,
            SourceIds::Dataplane(name) => match self.batch_source_dp(idx, dmesh, name) {
                Ok(s) => {
                    let d = &self.dataplanes[s as usize];
                    Peer::Mesh(d.mesh, &d.identity)
                }
                Err(e) => return RowOutcome::error(e),
            },
            SourceIds::DataplaneId(s) => match self.dataplanes.get(s as usize) {
                Some(d) => match self.defined(d.mesh) {
                    Ok(m) => Peer::Mesh(m, &d.identity),
                    Err(e) => return RowOutcome::error(e),
                },
                None => return RowOutcome::error(RowError::UnknownDataplane),
            },
            // An ad-hoc client lives in the destination's mesh (defined: checked above).
            SourceIds::Tags(Ok(pairs)) => Peer::Mesh(dmesh, pairs),
            SourceIds::Tags(Err(e)) => return RowOutcome::error(e),
        };
        let Some(port) = port.and_then(|p| u32::try_from(p).ok()) else {
            return RowOutcome::error(RowError::BadPort);
        };
        // §4.1 E0–E7: the one decision function, with the memoised T3.5 winner.
        let v = self.inbound_verdict(peer, dp, port, |mesh, tags| {
            *cache
                .winners
                .entry((dp, port))
                .or_insert_with(|| self.select(mesh, tags).winner())
        });
        RowOutcome {
            allowed: v.allowed,
            reason: Ok(v.reason),
            policy: v.policy,
            // E4 / T4.11: the caller consults the MTP engine for this row.
            e4: idx.mtp_meshes[dmesh as usize] && v.at_e4(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn row_error_all_is_in_discriminant_order() {
        for (i, e) in RowError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?}");
        }
    }

    use super::super::policy_set::{DataplaneInput, MeshInput, PolicyInput};
    use super::super::NoMtpHook;
    use super::*;
    use crate::traffic::policy_set::Client;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set() -> PolicySet {
        let mesh = |name: &str| MeshInput {
            name: name.into(),
            mtls_enabled: true,
            passthrough: true,
            ..Default::default()
        };
        let dp = |mesh: &str, name: &str, svc: &str| DataplaneInput {
            mesh: mesh.into(),
            name: name.into(),
            inbounds: vec![(8080, kv(&[("kuma.io/service", svc)]))],
            gateway: None,
        };
        PolicySet::compile(
            vec![mesh("a"), mesh("b")],
            vec![
                dp("a", "web", "web"),
                dp("a", "api", "api"),
                dp("b", "api", "api"),
            ],
            vec![],
            vec![PolicyInput {
                mesh: "a".into(),
                name: "web-to-api".into(),
                created: (0, 0),
                sources: vec![kv(&[("kuma.io/service", "web")])],
                destinations: vec![kv(&[("kuma.io/service", "api")])],
            }],
        )
        .unwrap()
    }

    #[test]
    fn rows_match_authorize_inbound_and_errors_are_codes() {
        let s = set();
        let idx = s.batch_index([]);
        let mut cache = BatchCache::default();
        let row = |mesh, src, dst, port| {
            s.batch_row(&idx, &mut BatchCache::default(), mesh, src, dst, port)
        };
        let out = s.batch_row(
            &idx,
            &mut cache,
            Some("a"),
            RowSource::Dataplane("web"),
            Some("api"),
            Some(8080),
        );
        let api = s.dataplane("a", "api").unwrap();
        let web = s.dataplane("a", "web").unwrap();
        let single = s
            .authorize_inbound(Client::Dataplane(web), api, 8080, &NoMtpHook)
            .unwrap();
        assert_eq!(out.allowed, single.allowed);
        assert_eq!(out.reason, Ok(single.reason));
        assert_eq!(
            out.policy.map(|p| s.policy_name(p).to_owned()),
            single.policy
        );
        let e = |r: RowOutcome| r.reason.unwrap_err();
        assert_eq!(
            e(row(None, RowSource::NonMesh, Some("api"), Some(8080))),
            RowError::AmbiguousDataplane
        );
        assert_eq!(
            e(row(None, RowSource::NonMesh, Some("nope"), Some(1))),
            RowError::UnknownDataplane
        );
        assert_eq!(
            e(row(Some("a"), RowSource::Tags("x"), Some("api"), Some(1))),
            RowError::MalformedTags
        );
        assert_eq!(
            e(row(Some("a"), RowSource::NonMesh, Some("api"), None)),
            RowError::BadPort
        );
        let tags = row(
            Some("a"),
            RowSource::Tags("kuma.io/service=web"),
            Some("api"),
            Some(8080),
        );
        assert!(tags.allowed);
    }

    #[test]
    fn parse_tags_forms() {
        assert_eq!(parse_tags("").unwrap(), vec![]);
        assert_eq!(
            parse_tags("a=b, c = d").unwrap(),
            vec![("a", "b"), ("c", "d")]
        );
        assert_eq!(parse_tags("a=").unwrap(), vec![("a", "")]);
        assert!(parse_tags("=b").is_err());
        assert!(parse_tags("a=b,,").is_err());
        assert!(parse_tags("a=b,a=c").is_err());
    }
}
