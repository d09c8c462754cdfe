//! Batch support: inbound decisions row by row with `TrafficEngine.check`'s name resolution, no
//! allocation per row, bad rows as error codes (never an error that aborts the batch).
//!
//! A row is decided by the same functions as a single check: [`PolicySet::inbound_verdict`]
//! (§4.1 E0–E7) with the snapshot's memoised T3.5 winner, then the E4 step (T4.11: a
//! MeshTrafficPermission selecting the inbound decides, M6.2) in the core.

use ahash::AHashMap;

use super::decide::{Peer, Reason};
use super::intern::TagMap;
use super::policy_set::{DpId, MeshId, PolicySet};
use super::snapshot::Snapshot;
use crate::mtp::ClientIds;

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
    /// A source value that is neither a name, a valid id, nor an explicit null / -1 (#12 item 1).
    BadSource,
    /// A dictionary index outside its dictionary (#12 item 2).
    BadIndex,
    /// A row field the batch does not know (a misspelt column or key, #12 item 1).
    UnknownField,
    /// A value of the wrong type in a row or column (#12 item 9).
    BadValue,
}

impl RowError {
    /// Every row error, in declaration (discriminant) order: `ALL[e as usize] == e`.
    pub const ALL: [RowError; 10] = [
        RowError::UnknownDataplane,
        RowError::UnknownMesh,
        RowError::AmbiguousDataplane,
        RowError::MalformedTags,
        RowError::BadPort,
        RowError::MissingField,
        RowError::BadSource,
        RowError::BadIndex,
        RowError::UnknownField,
        RowError::BadValue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowError::UnknownDataplane => "error:unknown-dataplane",
            RowError::UnknownMesh => "error:unknown-mesh",
            RowError::AmbiguousDataplane => "error:ambiguous-dataplane",
            RowError::MalformedTags => "error:malformed-tags",
            RowError::BadPort => "error:bad-port",
            RowError::MissingField => "error:missing-field",
            RowError::BadSource => "error:bad-source",
            RowError::BadIndex => "error:bad-index",
            RowError::UnknownField => "error:unknown-field",
            RowError::BadValue => "error:bad-value",
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

/// The outcome of one row. `policy` is an id into [`Snapshot::policy_dictionary`] (TPs, then
/// MTPs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOutcome {
    pub allowed: bool,
    pub reason: Result<Reason, RowError>,
    pub policy: Option<u32>,
}

impl RowOutcome {
    pub fn error(e: RowError) -> RowOutcome {
        RowOutcome {
            allowed: false,
            reason: Err(e),
            policy: None,
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
    // Repeated keys: sorted, so the check is O(n log n) in the number of items (a 1 MB cell of
    // `a=,b=,...` must not cost n² comparisons, issue #12 "unbounded work").
    let mut keys: Vec<&str> = tags.iter().map(|(k, _)| *k).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(RowError::MalformedTags);
    }
    Ok(tags)
}

/// A dataplane name resolved once per batch: an index into [`BatchIndex`]'s name groups.
pub type NameId = u32;

/// Dataplane names -> ids, built once per snapshot.
#[derive(Debug, Default)]
pub struct BatchIndex {
    /// dataplane name -> its group in `groups`.
    by_name: AHashMap<String, NameId>,
    /// per name: every dataplane of that name (any mesh, defined or not).
    groups: Vec<Vec<DpId>>,
}

impl BatchIndex {
    /// A dataplane name, resolved once per distinct value (None: no dataplane has that name).
    pub fn name_id(&self, name: &str) -> Option<NameId> {
        self.by_name.get(name).copied()
    }

    fn ids(&self, n: NameId) -> &[DpId] {
        self.groups.get(n as usize).map_or(&[][..], Vec::as_slice)
    }

    /// The dataplanes of a name id.
    pub fn ids_of(&self, n: NameId) -> &[DpId] {
        self.ids(n)
    }

    /// Every distinct name with its id.
    pub fn names(&self) -> impl Iterator<Item = (&str, NameId)> {
        self.by_name.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// Every dataplane named `name`.
    pub fn group(&self, name: &str) -> &[DpId] {
        self.name_id(name).map_or(&[][..], |n| self.ids(n))
    }
}

/// A `k=v,k=v` tag-map client (A5), parsed once per distinct text: its T2.7 identity pairs and
/// its interned MeshTrafficPermission ids (M5.1).
#[derive(Debug, Clone, Default)]
pub struct TagClient {
    pub pairs: TagMap,
    pub mtp_ids: ClientIds,
}

/// A row's client with its names resolved ([`Snapshot::batch_row_ids`]).
#[derive(Debug, Clone, Copy)]
pub enum SourceIds<'a> {
    NonMesh,
    /// A dataplane name (None: unknown name).
    Dataplane(Option<NameId>),
    DataplaneId(DpId),
    /// A tag-map client ([`Snapshot::batch_tags`]), or why it is malformed.
    Tags(Result<&'a TagClient, RowError>),
    /// A source value that cannot be decided (`error:*`).
    Bad(RowError),
}

impl PolicySet {
    /// Name groups of every dataplane.
    pub fn batch_index(&self) -> BatchIndex {
        let mut by_name: AHashMap<String, NameId> = AHashMap::new();
        let mut groups: Vec<Vec<DpId>> = Vec::new();
        for (id, d) in self.dataplanes.iter().enumerate() {
            let g = *by_name.entry(d.name.clone()).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() as NameId - 1
            });
            if let Some(group) = groups.get_mut(g as usize) {
                group.push(id as DpId);
            }
        }
        BatchIndex { by_name, groups }
    }

    /// A mesh name, resolved once per distinct value (None: no resource names that mesh).
    pub fn batch_mesh(&self, name: &str) -> Option<MeshId> {
        self.mesh_ids.get(name).copied()
    }

    fn defined(&self, mesh: MeshId) -> Result<MeshId, RowError> {
        if self.meshes.get(mesh as usize).is_some_and(|m| m.defined) {
            Ok(mesh)
        } else {
            Err(RowError::UnknownMesh)
        }
    }

    fn dp_mesh(&self, dp: DpId) -> Option<MeshId> {
        self.dataplanes.get(dp as usize).map(|d| d.mesh)
    }
}

impl Snapshot {
    /// A dataplane name, resolved once per distinct value.
    pub fn name_id(&self, name: &str) -> Option<NameId> {
        self.names.name_id(name)
    }

    /// A mesh name, resolved once per distinct value.
    pub fn batch_mesh(&self, name: &str) -> Option<MeshId> {
        self.tp.batch_mesh(name)
    }

    /// A `k=v,k=v` tag-map client (A5), parsed once per distinct text: unknown keys and values
    /// dropped from the T2.7 pairs (no selector can name them).
    pub fn batch_tags(&self, text: &str) -> Result<TagClient, RowError> {
        let tags = parse_tags(text)?;
        let mut pairs = self.tp.interner.lookup_map(tags.iter().copied());
        pairs.retain(|&(_, v)| v != super::intern::UNKNOWN);
        let mtp_ids = self.mtp.client_ids_of(tags.iter().copied());
        Ok(TagClient { pairs, mtp_ids })
    }

    /// `_mesh_of("Dataplane", name, mesh)` + `_require_mesh`: the destination dataplane.
    /// `mesh`: None = not given; Some(None) = a mesh name no resource uses.
    pub fn batch_destination_ids(
        &self,
        mesh: Option<Option<MeshId>>,
        name: Option<NameId>,
    ) -> Result<DpId, RowError> {
        let ids = name
            .map(|n| self.names.ids(n))
            .ok_or(RowError::UnknownDataplane)?;
        let id = match mesh {
            Some(m) => *ids
                .iter()
                .find(|&&d| self.tp.dp_mesh(d) == m)
                .ok_or(RowError::UnknownDataplane)?,
            None => match ids {
                [one] => *one,
                [] => return Err(RowError::UnknownDataplane),
                _ => return Err(RowError::AmbiguousDataplane),
            },
        };
        self.tp
            .defined(self.tp.dp_mesh(id).ok_or(RowError::UnknownDataplane)?)?;
        Ok(id)
    }

    /// `_client` for a dataplane name: the one in the destination's mesh, else the only one.
    fn batch_source_dp(&self, mesh: MeshId, name: Option<NameId>) -> Result<DpId, RowError> {
        let ids = name
            .map(|n| self.names.ids(n))
            .ok_or(RowError::UnknownDataplane)?;
        let id = match ids.iter().find(|&&d| self.tp.dp_mesh(d) == Some(mesh)) {
            Some(&d) => d,
            None => match ids {
                [one] => *one,
                [] => return Err(RowError::UnknownDataplane),
                _ => return Err(RowError::AmbiguousDataplane),
            },
        };
        self.tp
            .defined(self.tp.dp_mesh(id).ok_or(RowError::UnknownDataplane)?)?;
        Ok(id)
    }

    /// One row by names (tests and small callers; batches resolve each distinct name once and
    /// call [`Snapshot::batch_row_ids`]).
    pub fn batch_row(
        &self,
        mesh: Option<&str>,
        source: RowSource<'_>,
        destination: Option<&str>,
        port: Option<i64>,
    ) -> RowOutcome {
        let tags;
        let source = match source {
            RowSource::NonMesh => SourceIds::NonMesh,
            RowSource::Dataplane(n) => SourceIds::Dataplane(self.name_id(n)),
            RowSource::DataplaneId(d) => SourceIds::DataplaneId(d),
            RowSource::Tags(t) => {
                tags = self.batch_tags(t);
                SourceIds::Tags(tags.as_ref().map_err(|e| *e))
            }
        };
        self.batch_row_ids(
            mesh.map(|m| self.batch_mesh(m)),
            source,
            destination.map(|d| self.name_id(d)),
            port,
        )
    }

    /// One row with its names resolved: `mesh` None = not given, Some(None) = unknown name;
    /// `destination` None = missing, Some(None) = unknown name. No allocation.
    pub fn batch_row_ids(
        &self,
        mesh: Option<Option<MeshId>>,
        source: SourceIds<'_>,
        destination: Option<Option<NameId>>,
        port: Option<i64>,
    ) -> RowOutcome {
        let Some(dest) = destination else {
            return RowOutcome::error(RowError::MissingField);
        };
        let dp = match self.batch_destination_ids(mesh, dest) {
            Ok(d) => d,
            Err(e) => return RowOutcome::error(e),
        };
        let Some(dmesh) = self.tp.dp_mesh(dp) else {
            return RowOutcome::error(RowError::UnknownDataplane);
        };
        // The client, resolved as `check` does (source errors win over E0).
        enum Mtp<'a> {
            None,
            Dp(DpId),
            Ids(&'a ClientIds),
        }
        let (peer, mtp) = match source {
            SourceIds::NonMesh => (Peer::NonMesh, Mtp::None),
            SourceIds::Bad(e) => return RowOutcome::error(e),
            SourceIds::Dataplane(name) => match self.batch_source_dp(dmesh, name) {
                Ok(s) => match self.tp.dataplanes.get(s as usize) {
                    Some(d) => (Peer::Mesh(d.mesh, &d.identity), Mtp::Dp(s)),
                    None => return RowOutcome::error(RowError::UnknownDataplane),
                },
                Err(e) => return RowOutcome::error(e),
            },
            SourceIds::DataplaneId(s) => match self.tp.dataplanes.get(s as usize) {
                Some(d) => match self.tp.defined(d.mesh) {
                    Ok(m) => (Peer::Mesh(m, &d.identity), Mtp::Dp(s)),
                    Err(e) => return RowOutcome::error(e),
                },
                None => return RowOutcome::error(RowError::UnknownDataplane),
            },
            // An ad-hoc client lives in the destination's mesh (defined: checked above).
            SourceIds::Tags(Ok(t)) => (Peer::Mesh(dmesh, &t.pairs), Mtp::Ids(&t.mtp_ids)),
            SourceIds::Tags(Err(e)) => return RowOutcome::error(e),
        };
        let Some(port) = port.and_then(|p| u32::try_from(p).ok()) else {
            return RowOutcome::error(RowError::BadPort);
        };
        // §4.1 E0–E7: the one decision function, with the memoised T3.5 winner.
        let v = self
            .tp
            .inbound_verdict(peer, dp, port, |_, _| self.inbound_winner(dp, port));
        // E4 / T4.11: a MeshTrafficPermission selecting the inbound replaces TP (M7.1). A client
        // reaching E4 is in the destination's mesh (E3 otherwise).
        if v.at_e4() && self.mesh_has_mtp(dmesh) {
            let ids = match mtp {
                Mtp::None => None,
                Mtp::Dp(s) => self.dp_mtp_ids(s),
                Mtp::Ids(ids) => Some(ids),
            };
            match ids {
                Some(ids) => {
                    if let Some((m, policy)) = self.e4_row(dp, port, ids) {
                        return RowOutcome {
                            allowed: m.allowed,
                            reason: Ok(m.reason),
                            policy,
                        };
                    }
                }
                // Fail closed: a mesh client without an MTP identity cannot be decided.
                None => return RowOutcome::error(RowError::UnknownDataplane),
            }
        }
        RowOutcome {
            allowed: v.allowed,
            reason: Ok(v.reason),
            policy: v.policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_error_all_is_in_discriminant_order() {
        for (i, e) in RowError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?}");
        }
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
        assert!(parse_tags("a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,b=10").is_err());
    }

    /// A huge `source_tags` cell (100k items) is checked for repeated keys without n² work (the
    /// old pairwise scan did ~5·10⁹ comparisons here); the repeat at the very end is still found.
    #[test]
    fn parse_tags_many_items() {
        let mut cell: Vec<String> = (0..100_000).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tags(&cell.join(",")).map(|t| t.len()), Ok(100_000));
        cell.push("k0=w".into());
        assert_eq!(parse_tags(&cell.join(",")), Err(RowError::MalformedTags));
    }
}
