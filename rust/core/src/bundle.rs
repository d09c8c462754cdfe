//! The compiled section of a bundle (format 3, issue #13 "bundles that activate").
//!
//! `meshauthz compile` stores, next to the normalised resources, the traffic engine's compiled
//! sets, serialised with `postcard`: the compiled TrafficPermission [`PolicySet`] (interned tags,
//! selectors, T3.5 tie-break positions, destination index) and the MeshTrafficPermission set's
//! inputs (policies in document order, dataplanes; `MtpSet::new` only files them). Activating a
//! bundle deserialises them into the engine's [`Snapshot`]: no Python object per field and no
//! compile step (the id maps the set derives from its vectors are rebuilt, and every id checked).
//!
//! Layout of the section (postcard): `SETS_FORMAT` (u32), the meshauthz version that wrote it,
//! the sha256 of the bundle's resource section it was compiled from, the RBAC part (format 3: an
//! optional byte string, see below), the `PolicySet`, the MTP policies and dataplanes. Format 2
//! (written before, no RBAC part) is still read: its traffic sets are used, and the RBAC engine
//! compiles from the resources.
//!
//! The RBAC part (issue #13, "bundles that activate"): the AccessRoles and AccessRoleBindings as
//! the core's [`Role`] / [`Binding`] values in load order (what `policy_doc` converts the
//! documents to; R-rules depend on the order), postcard inside a length-prefixed byte string, so
//! the traffic engine skips it without parsing it and the RBAC engine reads it without parsing
//! the traffic sets. Activating deserialises them, checks what the converter guarantees (known
//! access bits, no empty qualifier, no `""` rule mesh) and runs `rbac::PolicySet::compile` (the
//! indexes are derived, never trusted from the bytes).
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
use crate::rbac::{Access, Binding, Qualifier, Role};
use crate::traffic::intern::{Sym, TagMap};
use crate::traffic::policy_set::{MeshId, SelRef, Selector, Val};
use crate::traffic::{
    DataplaneInput, ExternalServiceInput, MeshInput, PolicyInput, PolicySet, Snapshot, TrafficError,
};

/// Layout version of the compiled section (bumped whenever the serialised sets change shape).
pub const SETS_FORMAT: u32 = 3;
/// The previous layout (no RBAC part), still read.
pub const SETS_FORMAT_NO_RBAC: u32 = 2;
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
    /// The compiled TP + MTP snapshot (as from inputs converted from Python rows).
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
    rbac: Option<&'a [u8]>,
    tp: &'a PolicySet,
    mtp_policies: &'a [MtpPolicy],
    mtp_dataplanes: &'a [MtpDataplane],
}

#[derive(Deserialize)]
struct Head {
    format: u32,
    writer: String,
}

/// Format 2's body (no RBAC part).
#[derive(Deserialize)]
struct Body2 {
    resources: [u8; 32],
    tp: PolicySet,
    mtp_policies: Vec<MtpPolicy>,
    mtp_dataplanes: Vec<MtpDataplane>,
}

#[derive(Deserialize)]
struct Body<'a> {
    resources: [u8; 32],
    /// The RBAC part, skipped here (read by [`decode_rbac`]).
    #[serde(borrow)]
    _rbac: Option<&'a [u8]>,
    tp: PolicySet,
    mtp_policies: Vec<MtpPolicy>,
    mtp_dataplanes: Vec<MtpDataplane>,
}

/// The compiled traffic sets of a section.
#[derive(Debug)]
pub struct CompiledTraffic {
    pub tp: PolicySet,
    pub mtp_policies: Vec<MtpPolicy>,
    pub mtp_dataplanes: Vec<MtpDataplane>,
}

impl CompiledTraffic {
    /// The engine's snapshot (the MTP set files its policies; nothing is recompiled).
    pub fn snapshot(self) -> Snapshot {
        Snapshot::new(self.tp, MtpSet::new(self.mtp_policies, self.mtp_dataplanes))
    }
}

/// A hash map serialised in key order: the same set always gives the same bytes (bundles are
/// reproducible and content-addressed, `meshauthz.scale`).
pub(crate) fn sorted_map<K, V, S>(
    map: &std::collections::HashMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    K: Serialize + Ord,
    V: Serialize,
    S: serde::Serializer,
{
    let sorted: std::collections::BTreeMap<&K, &V> = map.iter().collect();
    sorted.serialize(serializer)
}

/// The compiled section for `traffic` (compiled here), tied to the resource section of sha256
/// `resources`. A set that does not compile is that compile error.
pub fn encode(resources: &[u8; 32], traffic: TrafficInputs) -> Result<Vec<u8>, TrafficError> {
    let tp = PolicySet::compile(
        traffic.meshes,
        traffic.dataplanes,
        traffic.external_services,
        traffic.policies,
    )?;
    postcard::to_allocvec(&SectionOut {
        format: SETS_FORMAT,
        writer: WRITER,
        resources,
        rbac: None,
        tp: &tp,
        mtp_policies: &traffic.mtp_policies,
        mtp_dataplanes: &traffic.mtp_dataplanes,
    })
    .map_err(|e| TrafficError::Invalid(format!("cannot serialise the compiled sets: {e}")))
}

/// The compiled sets of a section, checked against the sha256 of its resource section.
pub fn decode(bytes: &[u8], resources: &[u8; 32]) -> Result<CompiledTraffic, SetsError> {
    let (head, rest) = head(bytes)?;
    let (body, rest): (Body2, &[u8]) = if head.format == SETS_FORMAT_NO_RBAC {
        postcard::take_from_bytes(rest).map_err(malformed)?
    } else {
        let (b, rest): (Body, &[u8]) = postcard::take_from_bytes(rest).map_err(malformed)?;
        let b = Body2 {
            resources: b.resources,
            tp: b.tp,
            mtp_policies: b.mtp_policies,
            mtp_dataplanes: b.mtp_dataplanes,
        };
        (b, rest)
    };
    no_trailing(rest)?;
    if &body.resources != resources {
        return Err(SetsError::Digest);
    }
    let mut tp = body.tp;
    reindex(&mut tp).map_err(SetsError::Malformed)?;
    Ok(CompiledTraffic {
        tp,
        mtp_policies: body.mtp_policies,
        mtp_dataplanes: body.mtp_dataplanes,
    })
}

fn malformed(e: postcard::Error) -> SetsError {
    SetsError::Malformed(e.to_string())
}

fn no_trailing(rest: &[u8]) -> Result<(), SetsError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(SetsError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )))
    }
}

/// The version first: a section of another layout is never parsed as this one (format 2, the
/// layout before the RBAC part, is read too).
fn head(bytes: &[u8]) -> Result<(Head, &[u8]), SetsError> {
    let (head, rest): (Head, &[u8]) = postcard::take_from_bytes(bytes).map_err(malformed)?;
    if (head.format != SETS_FORMAT && head.format != SETS_FORMAT_NO_RBAC) || head.writer != WRITER {
        return Err(SetsError::Version {
            format: head.format,
            writer: head.writer,
        });
    }
    Ok((head, rest))
}

/// The RBAC engine's inputs: AccessRoles and AccessRoleBindings as the core converts them from
/// their documents, in load order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RbacInputs {
    pub roles: Vec<Role>,
    pub bindings: Vec<Binding>,
}

impl RbacInputs {
    /// What `policy_doc` guarantees of a converted role, checked on deserialised values (fail
    /// closed: a value the converter cannot produce is a malformed section).
    fn check(&self) -> Result<(), SetsError> {
        let known: u16 = Access::ALL.iter().fold(0, |acc, a| acc | a.bit());
        for role in &self.roles {
            for rule in &role.rules {
                let qualifiers_ok = rule.when.iter().all(|q| match q {
                    Qualifier::TargetRef {
                        target_ref,
                        to,
                        from,
                    } => target_ref.is_some() || to.is_some() || from.is_some(),
                    Qualifier::Connection {
                        sources,
                        destinations,
                    } => sources.is_some() || destinations.is_some(),
                    Qualifier::Dataplane { .. } => true,
                    Qualifier::DpToken { tags } => tags.iter().enumerate().all(|(i, (n, _))| {
                        !n.is_empty() && tags.iter().skip(i + 1).all(|(m, _)| m != n)
                    }),
                });
                if rule.access & !known != 0 || rule.mesh.as_deref() == Some("") || !qualifiers_ok {
                    return Err(SetsError::Malformed(format!(
                        "inconsistent RBAC part (a rule of role {:?})",
                        role.name
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `section` (a compiled section of this layout, for the resource section of sha256 `resources`)
/// with the RBAC part `rbac` (replacing any). The caller writes only inputs that compile
/// (`rbac::PolicySet::compile`); activation compiles them again and refuses any that do not.
pub fn with_rbac(
    section: &[u8],
    resources: &[u8; 32],
    rbac: &RbacInputs,
) -> Result<Vec<u8>, SetsError> {
    let traffic = decode(section, resources)?;
    let part = postcard::to_allocvec(rbac).map_err(|e| SetsError::Malformed(e.to_string()))?;
    postcard::to_allocvec(&SectionOut {
        format: SETS_FORMAT,
        writer: WRITER,
        resources,
        rbac: Some(&part),
        tp: &traffic.tp,
        mtp_policies: &traffic.mtp_policies,
        mtp_dataplanes: &traffic.mtp_dataplanes,
    })
    .map_err(|e| SetsError::Malformed(e.to_string()))
}

/// The RBAC part of a compiled section, checked against the sha256 of its resource section:
/// `None` when the section has none (format 2, or written without it). The traffic sets after it
/// are not read (the traffic engine checks them when it activates).
pub fn decode_rbac(bytes: &[u8], resources: &[u8; 32]) -> Result<Option<RbacInputs>, SetsError> {
    let (head, rest) = head(bytes)?;
    if head.format == SETS_FORMAT_NO_RBAC {
        let (digest, _): ([u8; 32], &[u8]) = postcard::take_from_bytes(rest).map_err(malformed)?;
        return if &digest == resources {
            Ok(None)
        } else {
            Err(SetsError::Digest)
        };
    }
    #[derive(Deserialize)]
    struct Prefix<'a> {
        resources: [u8; 32],
        #[serde(borrow)]
        rbac: Option<&'a [u8]>,
    }
    let (prefix, _): (Prefix<'_>, &[u8]) = postcard::take_from_bytes(rest).map_err(malformed)?;
    if &prefix.resources != resources {
        return Err(SetsError::Digest);
    }
    let Some(part) = prefix.rbac else {
        return Ok(None);
    };
    let (inputs, rest): (RbacInputs, &[u8]) = postcard::take_from_bytes(part).map_err(malformed)?;
    no_trailing(rest)?;
    inputs.check()?;
    Ok(Some(inputs))
}

/// Rebuilds the id maps of a deserialised set and checks that every id it holds is in range
/// (a decision never indexes past a vector: fail closed at load instead).
fn reindex(tp: &mut PolicySet) -> Result<(), String> {
    let meshes = tp.meshes.len();
    let syms = tp.interner.len();
    let mesh_ok = |m: MeshId| (m as usize) < meshes;
    let sym_ok = |s: Sym| (s as usize) < syms;
    let tags_ok = |t: &TagMap| t.iter().all(|&(k, v)| sym_ok(k) && sym_ok(v));
    let sel_ok = |s: &Selector| {
        s.pairs.iter().all(|&(k, v)| {
            sym_ok(k)
                && match v {
                    Val::Exact(v) => sym_ok(v),
                    Val::Any => true,
                }
        })
    };
    let bad = |what: &str| Err(format!("inconsistent compiled set ({what})"));
    if syms >= crate::traffic::intern::UNKNOWN as usize {
        return bad("interner size");
    }
    if tp.index.len() != meshes || tp.es_by_mesh.len() != meshes || !sym_ok(tp.service) {
        return bad("per-mesh tables");
    }
    if !tp
        .meshes
        .iter()
        .all(|m| m.prometheus.as_ref().is_none_or(|(_, t)| tags_ok(t)))
    {
        return bad("mesh tags");
    }
    if !tp.dataplanes.iter().all(|d| {
        mesh_ok(d.mesh)
            && d.inbounds.iter().all(|(_, t)| tags_ok(t))
            && d.gateway.as_ref().is_none_or(tags_ok)
            && tags_ok(&d.identity)
    }) {
        return bad("dataplanes");
    }
    if !tp
        .external_services
        .iter()
        .all(|e| mesh_ok(e.mesh) && tags_ok(&e.tags))
    {
        return bad("external services");
    }
    if !tp.policies.iter().all(|p| {
        mesh_ok(p.mesh) && p.sources.iter().all(sel_ok) && p.destinations.iter().all(sel_ok)
    }) {
        return bad("policies");
    }
    let policies = &tp.policies;
    let ref_ok = |r: &SelRef| {
        policies
            .get(r.policy as usize)
            .is_some_and(|p| (r.dest as usize) < p.destinations.len())
    };
    if !tp.index.iter().all(|i| {
        i.match_all.iter().all(ref_ok)
            && i.by_key.values().flatten().all(ref_ok)
            && i.by_pair.values().flatten().all(ref_ok)
    }) {
        return bad("destination index");
    }
    let es = tp.external_services.len();
    if !tp.es_by_mesh.iter().flatten().all(|&e| (e as usize) < es) {
        return bad("external services by mesh");
    }
    tp.mesh_ids.clear();
    for (i, m) in tp.meshes.iter().enumerate() {
        if tp.mesh_ids.insert(m.name.clone(), i as MeshId).is_some() {
            return bad("duplicate mesh");
        }
    }
    tp.dp_ids.clear();
    for (i, d) in tp.dataplanes.iter().enumerate() {
        if tp
            .dp_ids
            .insert((d.mesh, d.name.clone()), i as u32)
            .is_some()
        {
            return bad("duplicate dataplane");
        }
    }
    tp.es_ids.clear();
    for (i, e) in tp.external_services.iter().enumerate() {
        if tp
            .es_ids
            .insert((e.mesh, e.name.clone()), i as u32)
            .is_some()
        {
            return bad("duplicate external service");
        }
    }
    Ok(())
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

    fn compiled() -> Result<PolicySet, String> {
        let s = sample();
        PolicySet::compile(s.meshes, s.dataplanes, s.external_services, s.policies)
            .map_err(|e| e.to_string())
    }

    fn encoded(digest: &[u8; 32]) -> Vec<u8> {
        encode(digest, sample()).unwrap_or_default()
    }

    #[test]
    fn round_trip_gives_the_compiled_set() -> Result<(), String> {
        let digest = [7u8; 32];
        let back = decode(&encoded(&digest), &digest).map_err(|e| e.to_string())?;
        let fresh = compiled()?;
        // Vectors compare by Debug (the hash maps are rebuilt, their order is not meaningful).
        assert_eq!(
            format!("{:?}", back.tp.policies),
            format!("{:?}", fresh.policies)
        );
        assert_eq!(
            format!("{:?}", back.tp.meshes),
            format!("{:?}", fresh.meshes)
        );
        assert_eq!(
            format!("{:?}", back.tp.dataplanes),
            format!("{:?}", fresh.dataplanes)
        );
        assert_eq!(
            format!("{:?}", back.tp.index.len()),
            format!("{:?}", fresh.index.len())
        );
        assert_eq!(
            back.tp.dataplane("default", "web-1"),
            fresh.dataplane("default", "web-1")
        );
        assert_eq!(back.mtp_policies, sample().mtp_policies);
        assert_eq!(back.mtp_dataplanes, sample().mtp_dataplanes);
        let snap = back.snapshot();
        assert!(snap.tp.policies.len() == 1 && snap.mtp.len() == 1);
        Ok(())
    }

    #[test]
    fn encoding_is_deterministic() {
        // hash maps iterate in a per-instance order: the bytes must not depend on it
        let many = || {
            let mut s = sample();
            for i in 0..40 {
                let svc = format!("svc-{i}");
                s.policies.push(PolicyInput {
                    mesh: "default".into(),
                    name: format!("tp-{i}"),
                    created: (i, 0),
                    sources: vec![pairs(&[("kuma.io/service", "*")])],
                    destinations: vec![pairs(&[("kuma.io/service", &svc), ("zone", "z")])],
                });
            }
            encode(&[8u8; 32], s).unwrap_or_default()
        };
        let first = many();
        assert!(first.len() > 500 && (0..8).all(|_| many() == first));
    }

    fn rbac_sample() -> RbacInputs {
        use crate::rbac::{Rule, Subjects};
        RbacInputs {
            roles: vec![Role {
                name: "admin".into(),
                rules: vec![Rule::new(
                    vec!["TrafficPermission".into()],
                    vec![],
                    Some("default".into()),
                    &[Access::Create, Access::Delete],
                    vec![Qualifier::dp_token(vec![("zone".into(), "a".into())])],
                )],
            }],
            bindings: vec![Binding {
                name: "b".into(),
                subjects: Subjects::new(&["alice"], &["ops"]),
                roles: vec!["admin".into(), "missing".into()],
            }],
        }
    }

    #[test]
    fn the_rbac_part_round_trips_and_leaves_the_traffic_sets_alone() -> Result<(), String> {
        let digest = [9u8; 32];
        let plain = encoded(&digest);
        assert_eq!(decode_rbac(&plain, &digest), Ok(None));
        let with = with_rbac(&plain, &digest, &rbac_sample()).map_err(|e| e.to_string())?;
        assert_eq!(decode_rbac(&with, &digest), Ok(Some(rbac_sample())));
        assert!(matches!(
            decode_rbac(&with, &[1u8; 32]),
            Err(SetsError::Digest)
        ));
        let back = decode(&with, &digest).map_err(|e| e.to_string())?;
        assert_eq!(back.mtp_policies, sample().mtp_policies);
        // replacing the part, not stacking it
        let again = with_rbac(&with, &digest, &rbac_sample()).map_err(|e| e.to_string())?;
        assert_eq!(again, with);
        Ok(())
    }

    #[test]
    fn format_2_sections_are_still_read_without_an_rbac_part() -> Result<(), String> {
        #[derive(Serialize)]
        struct Old<'a> {
            format: u32,
            writer: &'a str,
            resources: &'a [u8; 32],
            tp: &'a PolicySet,
            mtp_policies: &'a [MtpPolicy],
            mtp_dataplanes: &'a [MtpDataplane],
        }
        let digest = [10u8; 32];
        let tp = compiled()?;
        let bytes = postcard::to_allocvec(&Old {
            format: SETS_FORMAT_NO_RBAC,
            writer: WRITER,
            resources: &digest,
            tp: &tp,
            mtp_policies: &sample().mtp_policies,
            mtp_dataplanes: &[],
        })
        .map_err(|e| e.to_string())?;
        let back = decode(&bytes, &digest).map_err(|e| e.to_string())?;
        assert_eq!(back.tp.policies.len(), 1);
        assert_eq!(back.mtp_policies, sample().mtp_policies);
        assert_eq!(decode_rbac(&bytes, &digest), Ok(None));
        assert_eq!(decode_rbac(&bytes, &[0u8; 32]), Err(SetsError::Digest));
        Ok(())
    }

    #[test]
    fn a_corrupted_rbac_part_is_refused_or_consistent() -> Result<(), String> {
        let digest = [11u8; 32];
        let with =
            with_rbac(&encoded(&digest), &digest, &rbac_sample()).map_err(|e| e.to_string())?;
        for n in 0..with.len() {
            let cut = with.get(..n).unwrap_or_default();
            // a cut inside the head or the RBAC part fails; a cut after it is the traffic's to find
            if n < 60 {
                assert!(decode_rbac(cut, &digest).is_err(), "truncated to {n} bytes");
            }
            assert!(decode(cut, &digest).is_err(), "truncated to {n} bytes");
        }
        for i in 0..with.len() {
            let mut b = with.clone();
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x55;
            }
            if let Ok(Some(r)) = decode_rbac(&b, &digest) {
                // whatever decodes passed the checks: it compiles or is refused, never panics
                let _ = crate::rbac::PolicySet::compile(r.roles, r.bindings);
            }
        }
        Ok(())
    }

    #[test]
    fn values_the_converter_cannot_produce_are_refused() -> Result<(), String> {
        let digest = [12u8; 32];
        let plain = encoded(&digest);
        let bad_bits = {
            let mut r = rbac_sample();
            if let Some(rule) = r.roles.first_mut().and_then(|x| x.rules.first_mut()) {
                rule.access |= 1 << 15;
            }
            r
        };
        let empty_qualifier = {
            let mut r = rbac_sample();
            if let Some(rule) = r.roles.first_mut().and_then(|x| x.rules.first_mut()) {
                rule.when = vec![Qualifier::Connection {
                    sources: None,
                    destinations: None,
                }];
            }
            r
        };
        for r in [bad_bits, empty_qualifier] {
            let bytes = with_rbac(&plain, &digest, &r).map_err(|e| e.to_string())?;
            assert!(
                matches!(decode_rbac(&bytes, &digest), Err(SetsError::Malformed(m)) if m.contains("admin"))
            );
        }
        let mut dup = rbac_sample();
        dup.roles.push(dup.roles.first().cloned().unwrap_or(Role {
            name: "admin".into(),
            rules: vec![],
        }));
        let bytes = with_rbac(&plain, &digest, &dup).map_err(|e| e.to_string())?;
        // decodes, but does not compile (A14): the bindings refuse it at activation
        let back = decode_rbac(&bytes, &digest).map_err(|e| e.to_string())?;
        assert!(back.is_some_and(|r| crate::rbac::PolicySet::compile(r.roles, r.bindings).is_err()));
        Ok(())
    }

    #[test]
    fn wrong_digest_is_refused() {
        let bytes = encoded(&[1u8; 32]);
        assert!(matches!(decode(&bytes, &[2u8; 32]), Err(SetsError::Digest)));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let digest = [3u8; 32];
        let bytes = encoded(&digest);
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
    fn every_flipped_byte_is_refused_or_consistent() {
        // A corrupted section either fails to decode or passes the id checks (never a panic).
        let digest = [4u8; 32];
        let bytes = encoded(&digest);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x55;
            }
            if let Ok(c) = decode(&b, &digest) {
                let _ = c.snapshot();
            }
        }
    }

    #[test]
    fn an_out_of_range_id_is_refused() -> Result<(), String> {
        let mut tp = compiled()?;
        if let Some(p) = tp.policies.first_mut() {
            p.mesh = 99;
        }
        let digest = [6u8; 32];
        let bytes = postcard::to_allocvec(&SectionOut {
            format: SETS_FORMAT,
            writer: WRITER,
            resources: &digest,
            rbac: None,
            tp: &tp,
            mtp_policies: &[],
            mtp_dataplanes: &[],
        })
        .unwrap_or_default();
        assert!(
            matches!(decode(&bytes, &digest), Err(SetsError::Malformed(m)) if m.contains("policies"))
        );
        Ok(())
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
        for (format, writer) in [
            (SETS_FORMAT + 1, WRITER),
            (SETS_FORMAT, "0.0.0-other"),
            (1, WRITER),
        ] {
            let bytes = postcard::to_allocvec(&Other {
                format,
                writer,
                junk: 9,
            })
            .unwrap_or_default();
            assert_eq!(
                decode(&bytes, &digest).err(),
                Some(SetsError::Version {
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
}
