//! The compiled section of a bundle (format 3, issue #13 "bundles that activate").
//!
//! `meshauthz compile` stores, next to the normalised resources, the traffic engine's compiled
//! inputs in the core's own types ([`TrafficInputs`]: the TrafficPermission set's meshes,
//! dataplanes, external services and policies, the MeshTrafficPermission set's policies and
//! dataplanes), serialised with `postcard`. Activating a bundle deserialises them and builds the
//! [`Snapshot`] in Rust: no Python object per field, no Python compile step, the same
//! `PolicySet::compile` / `MtpSet::new` as after a YAML load, so a bundle decides as its YAML.
//!
//! Layout of the section (postcard): `SETS_FORMAT` (u32), the meshauthz version that wrote it,
//! the sha256 of the bundle's resource section it was compiled from, then [`TrafficInputs`].
//! Every defect is a [`SetsError`] (fail closed): another format or meshauthz version, a digest
//! that does not name the resource section beside it, bytes that do not deserialise, trailing
//! bytes. Deserialisation is bounded by the section's length: postcard reads from a slice, every
//! string and sequence length is checked against the bytes left, and serde never preallocates
//! more than a small fixed capacity from a declared length.
//!
//! Trust is decided by the caller: only a bundle whose signature verified may use these sets
//! as-is; any other bundle is re-validated and compiled from its resources.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mtp::{MtpDataplane, MtpPolicy, MtpSet};
use crate::traffic::{
    DataplaneInput, ExternalServiceInput, MeshInput, PolicyInput, PolicySet, Snapshot, TrafficError,
};

/// Layout version of the compiled section (bumped whenever [`TrafficInputs`] changes shape).
pub const SETS_FORMAT: u32 = 1;
/// The meshauthz version whose compiler wrote a section (sets are only reused by the same one).
pub const WRITER: &str = env!("CARGO_PKG_VERSION");

/// The traffic engine's compiled inputs (TrafficPermission + MeshTrafficPermission sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficInputs {
    pub meshes: Vec<MeshInput>,
    pub dataplanes: Vec<DataplaneInput>,
    pub external_services: Vec<ExternalServiceInput>,
    pub policies: Vec<PolicyInput>,
    /// MeshTrafficPermissions in document order (A2's last tie-break).
    pub mtp_policies: Vec<MtpPolicy>,
    pub mtp_dataplanes: Vec<MtpDataplane>,
}

impl TrafficInputs {
    /// The compiled TP + MTP snapshot (the same compile as for inputs converted from Python).
    pub fn snapshot(self) -> Result<Snapshot, TrafficError> {
        let tp = PolicySet::compile(
            self.meshes,
            self.dataplanes,
            self.external_services,
            self.policies,
        )?;
        Ok(Snapshot::new(
            tp,
            MtpSet::new(self.mtp_policies, self.mtp_dataplanes),
        ))
    }
}

/// Why a compiled section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetsError {
    /// Written with another section layout or another meshauthz version.
    Version { format: u32, writer: String },
    /// The section was not compiled from the resource section beside it.
    Digest,
    /// The bytes do not deserialise (truncated, corrupted, trailing bytes).
    Malformed(String),
}

impl fmt::Display for SetsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetsError::Version { format, writer } => write!(
                f,
                "compiled section written by meshauthz {writer} (section format {format}); \
                 this meshauthz {WRITER} reads section format {SETS_FORMAT} of its own version: \
                 recompile the bundle with `meshauthz compile`"
            ),
            SetsError::Digest => write!(
                f,
                "compiled section does not belong to the bundle's resources (digest mismatch)"
            ),
            SetsError::Malformed(what) => write!(f, "malformed compiled section: {what}"),
        }
    }
}

impl std::error::Error for SetsError {}

#[derive(Serialize)]
struct SectionOut<'a> {
    format: u32,
    writer: &'a str,
    resources: &'a [u8; 32],
    traffic: &'a TrafficInputs,
}

#[derive(Deserialize)]
struct Head {
    format: u32,
    writer: String,
}

#[derive(Deserialize)]
struct Body {
    resources: [u8; 32],
    traffic: TrafficInputs,
}

/// The compiled section for `traffic`, compiled from the resource section of sha256 `resources`.
pub fn encode(resources: &[u8; 32], traffic: &TrafficInputs) -> Result<Vec<u8>, SetsError> {
    postcard::to_allocvec(&SectionOut {
        format: SETS_FORMAT,
        writer: WRITER,
        resources,
        traffic,
    })
    .map_err(|e| SetsError::Malformed(e.to_string()))
}

/// The traffic inputs of a compiled section, checked against the sha256 of its resource section.
pub fn decode(bytes: &[u8], resources: &[u8; 32]) -> Result<TrafficInputs, SetsError> {
    let bad = |e: postcard::Error| SetsError::Malformed(e.to_string());
    // The version first: a section of another layout is never parsed as this one.
    let (head, rest): (Head, &[u8]) = postcard::take_from_bytes(bytes).map_err(bad)?;
    if head.format != SETS_FORMAT || head.writer != WRITER {
        return Err(SetsError::Version {
            format: head.format,
            writer: head.writer,
        });
    }
    let (body, rest): (Body, &[u8]) = postcard::take_from_bytes(rest).map_err(bad)?;
    if !rest.is_empty() {
        return Err(SetsError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    if &body.resources != resources {
        return Err(SetsError::Digest);
    }
    Ok(body.traffic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mtp::{Action, FromItem, MtpInbound, TargetRef};

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    fn sample() -> TrafficInputs {
        TrafficInputs {
            meshes: vec![MeshInput {
                name: "default".into(),
                mtls_enabled: true,
                ..MeshInput::default()
            }],
            dataplanes: vec![DataplaneInput {
                mesh: "default".into(),
                name: "web-1".into(),
                inbounds: vec![(8080, pairs(&[("kuma.io/service", "web")]))],
                gateway: None,
            }],
            external_services: vec![],
            policies: vec![PolicyInput {
                mesh: "default".into(),
                name: "tp".into(),
                created: (-62_135_596_800, 0),
                sources: vec![pairs(&[("kuma.io/service", "*")])],
                destinations: vec![pairs(&[("kuma.io/service", "web")])],
            }],
            mtp_policies: vec![MtpPolicy {
                name: "mtp".into(),
                mesh: "default".into(),
                labels: Default::default(),
                target_ref: TargetRef::mesh(),
                from: vec![FromItem {
                    target_ref: TargetRef::mesh(),
                    action: Action::Deny,
                }],
            }],
            mtp_dataplanes: vec![MtpDataplane {
                name: "web-1".into(),
                mesh: "default".into(),
                labels: Default::default(),
                inbounds: vec![MtpInbound {
                    port: 8080,
                    name: String::new(),
                    tags: [("kuma.io/service".to_string(), "web".to_string())].into(),
                    ignored: false,
                }],
                gateway: None,
            }],
        }
    }

    #[test]
    fn round_trip() {
        let digest = [7u8; 32];
        let bytes = encode(&digest, &sample()).ok();
        let back = bytes.as_deref().map(|b| decode(b, &digest));
        assert_eq!(back, Some(Ok(sample())));
    }

    #[test]
    fn wrong_digest_is_refused() {
        let bytes = encode(&[1u8; 32], &sample()).unwrap_or_default();
        assert_eq!(decode(&bytes, &[2u8; 32]), Err(SetsError::Digest));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let digest = [3u8; 32];
        let bytes = encode(&digest, &sample()).unwrap_or_default();
        assert!(bytes.len() > 40);
        for n in 0..bytes.len() {
            let cut = bytes.get(..n).unwrap_or_default();
            assert!(decode(cut, &digest).is_err(), "truncated to {n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &digest),
            Err(SetsError::Malformed(_))
        ));
    }

    #[test]
    fn other_versions_are_refused_before_parsing() {
        #[derive(Serialize)]
        struct Other<'a> {
            format: u32,
            writer: &'a str,
            junk: u8,
        }
        let digest = [0u8; 32];
        for (format, writer) in [(SETS_FORMAT + 1, WRITER), (SETS_FORMAT, "0.0.0-other")] {
            let bytes = postcard::to_allocvec(&Other {
                format,
                writer,
                junk: 9,
            })
            .unwrap_or_default();
            assert_eq!(
                decode(&bytes, &digest),
                Err(SetsError::Version {
                    format,
                    writer: writer.into()
                })
            );
        }
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate_it() {
        // format, writer, digest, then a meshes count of 2^62: refused as truncated input, at once.
        let mut bytes =
            postcard::to_allocvec(&(SETS_FORMAT, WRITER, [5u8; 32])).unwrap_or_default();
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
        assert!(matches!(
            decode(&bytes, &[5u8; 32]),
            Err(SetsError::Malformed(_))
        ));
    }

    #[test]
    fn inputs_compile_to_a_snapshot() {
        let snap = sample().snapshot();
        assert!(snap.is_ok_and(|s| s.tp.policies.len() == 1 && s.mtp.len() == 1));
    }
}
