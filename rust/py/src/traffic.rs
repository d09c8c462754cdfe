//! Bindings for the traffic engine (TrafficPermission + MeshTrafficPermission): conversions
//! only. `TrafficSnapshot` is the compiled `meshauthz_core::traffic::Snapshot`; a check crosses
//! the FFI once and returns a `TrafficDecision` whose list fields are computed on access.
//! Errors are mapped in `errors.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use ahash::AHashMap;
use meshauthz_core::bundle::TrafficInputs;
use meshauthz_core::mtp;
use meshauthz_core::mtp::rules::DEFAULT_MAX_RULES;
use meshauthz_core::traffic::defaults::default_traffic_permission;
use meshauthz_core::traffic::{
    Checked, ClientInput, DataplaneInput, EsGating, ExternalServiceInput, MeshInput, PolicyInput,
    PrometheusInput, Selection, Snapshot, Subject, Target,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use crate::errors;
use crate::mtp::{py_rules, Converter, PyRules};
use crate::traffic_decision::{Inner, LazyDecision, TrafficDecision};
use crate::yaml::YamlMarks;
use meshauthz_core::yaml::dataplane_table::OwnedInbound;

type Tags = HashMap<String, String>;
type OwnedPairs = Vec<(String, String)>;
/// (require, unless, policy, index, action) of one client term.
type TermTuple = (
    OwnedPairs,
    Vec<OwnedPairs>,
    Option<String>,
    Option<usize>,
    Option<&'static str>,
);
/// (basis, non_mesh, terms, policies, admitted dataplanes, services all of whose dataplanes are
/// admitted).
type ClientSetTuple = (
    &'static str,
    bool,
    Vec<TermTuple>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);
/// (sources, destinations, codes, dataplanes per source, inbounds per destination).
type MatrixTuple<'py> = (
    Vec<String>,
    Vec<String>,
    Bound<'py, PyBytes>,
    Vec<Vec<String>>,
    Vec<Vec<(String, u32)>>,
);
/// (policy, exact, wildcard), most specific first.
type RankedList = Vec<(String, u32, u32)>;

/// A tag map's pairs in key order (a hash map's own order varies per instance: sorted, the same
/// tags intern to the same symbols, so a bundle's compiled section is reproducible).
fn pairs(t: Tags) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = t.into_iter().collect();
    v.sort_unstable();
    v
}

fn gating(py: Python<'_>, s: &str) -> PyResult<EsGating> {
    match s {
        "legacy" => Ok(EsGating::Legacy),
        "none" => Ok(EsGating::None),
        _ => Err(errors::input_error(
            py,
            format!("external_service_gating must be \"legacy\" or \"none\", not {s:?} (A6)"),
        )),
    }
}

/// A port: an int in 0..2^32 (bool refused); anything else is an `InputError`.
pub(crate) fn port(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<u32> {
    if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() {
        if let Ok(p) = v.extract::<u32>() {
            return Ok(p);
        }
        return Err(errors::input_error(
            py,
            format!("port must be between 0 and {}, not {}", u32::MAX, v.str()?),
        ));
    }
    Err(errors::input_error(
        py,
        format!("port must be an integer, not {}", v.repr()?),
    ))
}

/// A Python string as UTF-8; lone surrogates are an `InputError` (never a `UnicodeEncodeError`).
fn utf8<'a>(py: Python<'_>, s: &'a Bound<'_, PyString>) -> PyResult<std::borrow::Cow<'a, str>> {
    s.to_cow().map_err(|_| {
        errors::input_error(py, "a name must be valid UTF-8 text (no lone surrogates)")
    })
}

fn text<'a>(
    py: Python<'_>,
    v: &'a Bound<'_, PyAny>,
    what: &str,
) -> PyResult<&'a Bound<'a, PyString>> {
    v.cast::<PyString>()
        .map_err(|_| errors::input_error(py, format!("{what} must be a string")))
}

/// The compiled snapshot shared by a `TrafficSnapshot` and its decisions.
pub(crate) struct Shared {
    pub(crate) snap: Snapshot,
    pub(crate) max_rules: usize,
}

/// The snapshot's names by their Python (cached) hash: a check finds a name id without hashing
/// the caller's string again; candidates compare by identity, then by UTF-8 text (read in place
/// under abi3-py310: no Python rich comparison).
#[derive(Default)]
struct PyNames {
    by_hash: AHashMap<isize, Vec<NameEntry>>,
}

/// A name as a Python string (identity fast path), its text, its id.
type NameEntry = (Py<PyString>, Box<str>, u32);

impl PyNames {
    fn build<'a>(py: Python<'_>, names: impl Iterator<Item = (&'a str, u32)>) -> PyResult<PyNames> {
        let mut out = PyNames::default();
        for (n, id) in names {
            let s = PyString::new(py, n);
            out.by_hash
                .entry(s.hash()?)
                .or_default()
                .push((s.unbind(), n.into(), id));
        }
        Ok(out)
    }

    /// The id of a Python string, if it is one of the names (None: unknown, or not valid UTF-8 —
    /// then no name can equal it).
    fn get(&self, s: &Bound<'_, PyString>) -> Option<u32> {
        let h = s.hash().ok()?;
        let bucket = self.by_hash.get(&h)?;
        let py = s.py();
        if let Some((_, _, id)) = bucket.iter().find(|(o, _, _)| o.bind(py).is(s)) {
            return Some(*id);
        }
        let text = s.to_str().ok()?;
        bucket
            .iter()
            .find(|(_, t, _)| &**t == text)
            .map(|(_, _, id)| *id)
    }
}

/// Compiled, immutable TrafficPermission + MeshTrafficPermission state of one store version.
#[pyclass(frozen, module = "meshauthz._core")]
pub struct TrafficSnapshot {
    pub(crate) shared: Arc<Shared>,
    dp_names: PyNames,
    mesh_names: PyNames,
}

#[derive(Clone, Copy)]
pub(crate) enum TargetKey {
    Inbound(u32, u32),
    Es(u32),
}

impl TrafficSnapshot {
    pub(crate) fn snap(&self) -> &Snapshot {
        &self.shared.snap
    }

    fn err(py: Python<'_>) -> impl Fn(meshauthz_core::traffic::TrafficError) -> PyErr + '_ {
        move |e| errors::traffic(py, e)
    }

    /// A client as Python passes it: None (non-mesh), a dataplane name (resolved preferring
    /// `dest_mesh`), `(mesh, dataplane)`, or `(mesh, [tag maps], [(key, value) pairs])`.
    fn subject(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        dest_mesh: u32,
    ) -> PyResult<Subject> {
        let s = self.snap();
        if client.is_none() {
            return Ok(Subject::NonMesh);
        }
        if let Ok(name) = client.cast::<PyString>() {
            let name = utf8(py, name)?;
            return s
                .resolve_source(dest_mesh, &name)
                .map(Subject::Dataplane)
                .map_err(Self::err(py));
        }
        let bad = || {
            errors::input_error(
                py,
                "a client is None, a dataplane name, (mesh, dataplane) or (mesh, tag maps, pairs)",
            )
        };
        let t = client.cast::<PyTuple>().map_err(|_| bad())?;
        match t.len() {
            2 => {
                let (mesh, name): (String, String) = t.extract().map_err(|_| bad())?;
                s.tp.dataplane(&mesh, &name)
                    .map(Subject::Dataplane)
                    .map_err(Self::err(py))
            }
            3 => {
                let (mesh, maps, ps): (String, Vec<Tags>, Vec<(String, String)>) =
                    t.extract().map_err(|_| {
                        errors::input_error(
                            py,
                            "a tag-map or identity source must map strings to strings",
                        )
                    })?;
                s.adhoc(&ClientInput {
                    mesh,
                    tag_maps: maps.into_iter().map(pairs).collect(),
                    pairs: ps,
                })
                .map_err(Self::err(py))
            }
            _ => Err(bad()),
        }
    }

    fn decision(
        &self,
        checked: Checked,
        subject: Subject,
        mesh: u32,
        target: TargetKey,
    ) -> TrafficDecision {
        TrafficDecision {
            inner: Inner::Lazy(LazyDecision {
                shared: self.shared.clone(),
                checked,
                subject,
                mesh,
                target,
            }),
        }
    }

    fn ranked(&self, sel: &Selection) -> RankedList {
        sel.matches
            .iter()
            .map(|(p, r)| {
                (
                    self.snap().tp.policy_name(*p).to_owned(),
                    r.exact,
                    r.wildcard,
                )
            })
            .collect()
    }

    fn inbound_target(&self, py: Python<'_>, mesh: &str, dp: &str, port: u32) -> PyResult<Target> {
        let d = self
            .snap()
            .resolve_dataplane(Some(mesh), dp)
            .map_err(Self::err(py))?;
        Ok(Target::Inbound { dp: d, port })
    }
}

/// A policy's creationTime: (seconds since the Unix epoch, nanoseconds), or legacy integer
/// microseconds since the epoch.
#[derive(FromPyObject)]
pub(crate) enum Created {
    SecondsNanos((i64, u32)),
    Micros(i64),
}

impl Created {
    fn seconds_nanos(self) -> (i64, u32) {
        match self {
            Created::SecondsNanos((s, n)) => (
                s.saturating_add(i64::from(n / 1_000_000_000)),
                n % 1_000_000_000,
            ),
            Created::Micros(us) => (
                us.div_euclid(1_000_000),
                (us.rem_euclid(1_000_000) * 1000) as u32,
            ),
        }
    }
}

/// A mesh row: (name, mtls_enabled, permissive, zone_egress, passthrough, (port, tags) | None).
pub(crate) type MeshRow = (String, bool, bool, bool, bool, Option<(u32, Tags)>);
/// A dataplane row: (mesh, name, [(port, tags)], gateway tags | None).
pub(crate) type DataplaneRow = (String, String, InboundsArg, Option<Tags>);

/// A dataplane row's inbounds: (port, tags) pairs, or the `YamlMarks` of a Dataplane document read
/// with its body deferred, whose inbounds the YAML reader kept natively (issue #13).
#[derive(FromPyObject)]
pub(crate) enum InboundsArg {
    Doc(Py<YamlMarks>),
    Rows(Vec<(u32, Tags)>),
}

impl InboundsArg {
    fn rows(self, py: Python<'_>) -> PyResult<Vec<OwnedInbound>> {
        match self {
            InboundsArg::Rows(r) => Ok(r.into_iter().map(|(p, t)| (p, pairs(t))).collect()),
            InboundsArg::Doc(d) => d
                .get()
                .dataplane_inbounds()
                .map(|inbounds| {
                    inbounds
                        .into_iter()
                        .map(|(port, mut tags)| {
                            tags.sort_unstable();
                            (port, tags)
                        })
                        .collect()
                })
                .ok_or_else(|| {
                    // fail closed: never a guessed (empty) list of inbounds
                    errors::evaluation(
                        py,
                        "a Dataplane document's inbounds were not kept by the YAML reader",
                    )
                }),
        }
    }
}
/// A TrafficPermission row: (mesh, name, creationTime, sources, destinations).
pub(crate) type PolicyRow = (String, String, Created, SideArg, SideArg);

/// One side of a TrafficPermission row: its match maps, or the `YamlMarks` of a document read
/// with its body deferred, whose selectors the YAML reader kept natively (issue #13: the compile
/// builds no Python body).
#[derive(FromPyObject)]
pub(crate) enum SideArg {
    Doc(Py<YamlMarks>),
    Tags(Vec<Tags>),
}

impl SideArg {
    fn pairs(self, py: Python<'_>, destinations: bool) -> PyResult<Vec<Vec<(String, String)>>> {
        match self {
            SideArg::Tags(t) => Ok(t.into_iter().map(pairs).collect()),
            SideArg::Doc(d) => d.get().selectors(destinations).ok_or_else(|| {
                // fail closed: never a guessed (empty) side
                errors::evaluation(
                    py,
                    "a TrafficPermission document's selectors were not kept by the YAML reader",
                )
            }),
        }
    }
}

/// The rows Python extracts from a store, as the core's compile inputs.
pub(crate) fn inputs(
    meshes: Vec<MeshRow>,
    dataplanes: Vec<DataplaneRow>,
    external_services: Vec<(String, String, Tags)>,
    policies: Vec<PolicyRow>,
    mtp_policies: &Bound<'_, PyAny>,
    mtp_dataplanes: &Bound<'_, PyAny>,
) -> PyResult<TrafficInputs> {
    let py = mtp_policies.py();
    let mut c = Converter::default();
    let mtp_policies = c.list(mtp_policies, Converter::policy)?;
    let mtp_dataplanes = c.list(mtp_dataplanes, Converter::dataplane)?;
    drop(c);
    let meshes = meshes
        .into_iter()
        .map(
            |(name, mtls_enabled, permissive, zone_egress, passthrough, prom)| MeshInput {
                name,
                mtls_enabled,
                permissive,
                zone_egress,
                passthrough,
                prometheus: prom.map(|(port, tags)| PrometheusInput {
                    port,
                    tags: pairs(tags),
                }),
            },
        )
        .collect();
    let dataplanes = dataplanes
        .into_iter()
        .map(|(mesh, name, inbounds, gateway)| {
            Ok(DataplaneInput {
                mesh,
                name,
                inbounds: inbounds.rows(py)?,
                gateway: gateway.map(pairs),
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let external_services = external_services
        .into_iter()
        .map(|(mesh, name, tags)| ExternalServiceInput {
            mesh,
            name,
            tags: pairs(tags),
        })
        .collect();
    let policies = policies
        .into_iter()
        .map(|(mesh, name, created, sources, destinations)| {
            Ok(PolicyInput {
                mesh,
                name,
                created: created.seconds_nanos(),
                sources: sources.pairs(py, false)?,
                destinations: destinations.pairs(py, true)?,
            })
        })
        .collect::<PyResult<_>>()?;
    Ok(TrafficInputs {
        meshes,
        dataplanes,
        external_services,
        policies,
        mtp_policies,
        mtp_dataplanes,
    })
}

impl TrafficSnapshot {
    /// Compile `inputs` (GIL released) into a snapshot.
    pub(crate) fn compiled(
        py: Python<'_>,
        inputs: TrafficInputs,
        max_rules: usize,
    ) -> PyResult<TrafficSnapshot> {
        let snap = errors::detached(py, || Ok(inputs.snapshot()))?.map_err(Self::err(py))?;
        Self::from_snapshot(py, snap, max_rules)
    }

    /// A snapshot compiled elsewhere (a bundle's compiled section).
    pub(crate) fn from_snapshot(
        py: Python<'_>,
        snap: Snapshot,
        max_rules: usize,
    ) -> PyResult<TrafficSnapshot> {
        let dp_names = PyNames::build(py, snap.dataplane_names())?;
        let mesh_names = PyNames::build(
            py,
            snap.tp
                .meshes
                .iter()
                .enumerate()
                .map(|(i, m)| (m.name.as_str(), i as u32)),
        )?;
        Ok(TrafficSnapshot {
            shared: Arc::new(Shared { snap, max_rules }),
            dp_names,
            mesh_names,
        })
    }
}

#[pymethods]
impl TrafficSnapshot {
    /// meshes: [(name, mtls_enabled, permissive, zone_egress, passthrough, (port, tags) | None)]
    /// dataplanes: [(mesh, name, [(port, tags)] | YamlMarks of a deferred Dataplane document,
    /// gateway_tags | None)]
    /// external_services: [(mesh, name, tags)]
    /// policies: [(mesh, name, (creation seconds, nanoseconds), [source match], [destination match])]
    /// mtp_policies / mtp_dataplanes: the `MtpSet` inputs (see `mtp.rs` `Converter`).
    #[new]
    #[pyo3(signature = (meshes, dataplanes, external_services, policies, mtp_policies, mtp_dataplanes, max_rules = DEFAULT_MAX_RULES))]
    #[allow(clippy::type_complexity, clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        meshes: Vec<MeshRow>,
        dataplanes: Vec<DataplaneRow>,
        external_services: Vec<(String, String, Tags)>,
        policies: Vec<PolicyRow>,
        mtp_policies: &Bound<'_, PyAny>,
        mtp_dataplanes: &Bound<'_, PyAny>,
        max_rules: usize,
    ) -> PyResult<Self> {
        let inputs = inputs(
            meshes,
            dataplanes,
            external_services,
            policies,
            mtp_policies,
            mtp_dataplanes,
        )?;
        Self::compiled(py, inputs, max_rules)
    }

    /// Number of compiled TrafficPermissions.
    fn __len__(&self) -> usize {
        self.snap().tp.policies.len()
    }

    /// Number of compiled MeshTrafficPermissions.
    #[getter]
    fn mtp_count(&self) -> usize {
        self.snap().mtp.len()
    }

    /// The M6.4 rule-list cap of this snapshot.
    #[getter]
    fn max_rules(&self) -> usize {
        self.shared.max_rules
    }

    /// §4.1 (with E4) for `source` -> `destination = (dataplane, port)`; `mesh` names the
    /// destination's mesh (needed when the name exists in several meshes).
    #[pyo3(signature = (source, destination, mesh = None))]
    fn check(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        destination: &Bound<'_, PyAny>,
        mesh: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TrafficDecision> {
        let mesh = match mesh {
            None => None,
            Some(m) if m.is_none() => None,
            Some(m) => Some(
                m.cast::<PyString>()
                    .map_err(|_| errors::input_error(py, "mesh must be a string"))?,
            ),
        };
        self.check_obj(py, source, destination, mesh)
    }

    /// As `check`, with the destination given as name and port.
    #[pyo3(signature = (source, dataplane, port, mesh = None))]
    fn check_inbound(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        dataplane: &str,
        port: &Bound<'_, PyAny>,
        mesh: Option<&str>,
    ) -> PyResult<TrafficDecision> {
        let port = self::port(py, port)?;
        self.check_inbound_named(py, source, dataplane, port, mesh)
    }

    /// A no-op taking the same arguments as `check` (benchmark baseline: FFI cost).
    #[pyo3(signature = (source, destination, mesh = None))]
    fn _noop(&self, source: &Bound<'_, PyAny>, destination: &Bound<'_, PyAny>, mesh: Option<&str>) {
        let _ = (source, destination, mesh);
    }

    /// §4.2 decision for `source` -> ExternalService `name` (zone egress MTP step included).
    #[pyo3(signature = (source, name, mesh = None, gating = "legacy"))]
    fn check_external_service(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        name: &str,
        mesh: Option<&str>,
        gating: &str,
    ) -> PyResult<TrafficDecision> {
        let g = self::gating(py, gating)?;
        let s = self.snap();
        let es = s
            .resolve_external_service(mesh, name)
            .map_err(Self::err(py))?;
        let emesh =
            s.tp.external_services
                .get(es as usize)
                .map_or(0, |e| e.mesh);
        let subject = self.subject(py, source, emesh)?;
        let checked = errors::contained(py, || {
            s.check_external_service(&subject, es, g)
                .map_err(Self::err(py))
        })?;
        Ok(self.decision(checked, subject, emesh, TargetKey::Es(es)))
    }

    /// Names of the ExternalServices `client` may use, sorted (`mesh`: the client's mesh).
    #[pyo3(signature = (client, mesh, gating = "legacy"))]
    fn reachable_external_services(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        mesh: &str,
        gating: &str,
    ) -> PyResult<Vec<String>> {
        let g = self::gating(py, gating)?;
        let s = self.snap();
        let m = s.tp.mesh(mesh).map_err(Self::err(py))?;
        let subject = self.subject(py, client, m)?;
        let ids = s
            .reachable_external_services(&subject, g)
            .map_err(Self::err(py))?;
        Ok(ids
            .into_iter()
            .filter_map(|id| s.tp.external_services.get(id as usize))
            .map(|e| e.name.clone())
            .collect())
    }

    /// The mesh of dataplane `name` (`mesh` given: checked), as `check` resolves destinations.
    #[pyo3(signature = (name, mesh = None))]
    fn dataplane_mesh(&self, py: Python<'_>, name: &str, mesh: Option<&str>) -> PyResult<String> {
        let m = self.snap().dataplane_mesh(mesh, name);
        m.map(str::to_owned).map_err(Self::err(py))
    }

    /// The mesh of ExternalService `name` (`mesh` given: checked).
    #[pyo3(signature = (name, mesh = None))]
    fn external_service_mesh(
        &self,
        py: Python<'_>,
        name: &str,
        mesh: Option<&str>,
    ) -> PyResult<String> {
        let m = self.snap().external_service_mesh(mesh, name);
        m.map(str::to_owned).map_err(Self::err(py))
    }

    /// T3.7(a): [(port, is_prometheus, [(policy, exact, wildcard)] most specific first)].
    fn select_dataplane(
        &self,
        py: Python<'_>,
        mesh: &str,
        dataplane: &str,
    ) -> PyResult<Vec<(u32, bool, RankedList)>> {
        let dp = self
            .snap()
            .tp
            .dataplane(mesh, dataplane)
            .map_err(Self::err(py))?;
        Ok(self
            .snap()
            .tp
            .select_dataplane(dp)
            .iter()
            .map(|(port, prom, sel)| (*port, *prom, self.ranked(sel)))
            .collect())
    }

    /// T4.5: [(policy, exact, wildcard)] matching the ExternalService, most specific first.
    fn select_external_service(
        &self,
        py: Python<'_>,
        mesh: &str,
        name: &str,
    ) -> PyResult<RankedList> {
        let es = self
            .snap()
            .tp
            .external_service(mesh, name)
            .map_err(Self::err(py))?;
        Ok(self.ranked(&self.snap().tp.select_external_service(es)))
    }

    /// T3.5 over an arbitrary tag map: ([(policy, exact, wildcard)], selectors evaluated).
    fn select_tags(&self, py: Python<'_>, mesh: &str, tags: Tags) -> PyResult<(RankedList, usize)> {
        let s = self.snap();
        let m = s.tp.mesh(mesh).map_err(Self::err(py))?;
        let t =
            s.tp.interner
                .lookup_map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sel = s.tp.select(m, &t);
        Ok((self.ranked(&sel), sel.candidates_evaluated))
    }

    /// M4: MeshTrafficPermissions selecting inbound `port` of `mesh/dataplane` (E4), lowest
    /// priority first; `[]` when none does (TP decides).
    fn mtp_policies(
        &self,
        py: Python<'_>,
        mesh: &str,
        dataplane: &str,
        port: u32,
    ) -> PyResult<Vec<String>> {
        let target = self.inbound_target(py, mesh, dataplane, port)?;
        let s = self.snap();
        Ok(s.target_plan(target)
            .map(|(_, p)| p.policy_names(&s.mtp).map(str::to_owned).collect())
            .unwrap_or_default())
    }

    /// Who may reach inbound `port` of `mesh/dataplane`: (basis, non_mesh, [(require, unless,
    /// policy, index, action)], policies, admitted dataplane names sorted, services all of whose
    /// dataplanes are admitted).
    #[pyo3(signature = (mesh, dataplane, port, with_admitted = true))]
    fn client_set(
        &self,
        py: Python<'_>,
        mesh: &str,
        dataplane: &str,
        port: u32,
        with_admitted: bool,
    ) -> PyResult<ClientSetTuple> {
        let s = self.snap();
        let dp = s.tp.dataplane(mesh, dataplane).map_err(Self::err(py))?;
        let cs = s.client_set(dp, port, with_admitted);
        let own = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let terms = cs
            .terms
            .iter()
            .map(|t| {
                (
                    own(&t.require),
                    t.unless.iter().map(|u| own(u)).collect(),
                    t.policy.map(str::to_owned),
                    t.index,
                    t.action.map(mtp::Action::as_str),
                )
            })
            .collect();
        let mut admitted: Vec<String> = cs
            .admitted
            .iter()
            .filter_map(|&d| s.tp.dataplanes.get(d as usize))
            .map(|d| d.name.clone())
            .collect();
        admitted.sort();
        Ok((
            cs.basis.as_str(),
            cs.non_mesh,
            terms,
            cs.policies.iter().map(|p| (*p).to_owned()).collect(),
            admitted,
            cs.services.iter().map(|p| (*p).to_owned()).collect(),
        ))
    }

    /// The service matrix of `mesh` (core `traffic::matrix`): (sources, destinations, codes
    /// row-major as bytes 0 deny / 1 partial / 2 allow, dataplanes per source, (dataplane, port)
    /// inbounds per destination).
    fn service_matrix<'py>(&self, py: Python<'py>, mesh: &str) -> PyResult<MatrixTuple<'py>> {
        let s = self.snap();
        let m = s.tp.mesh(mesh).map_err(Self::err(py))?;
        let mx = errors::detached(py, || Ok(s.service_matrix(m)))?;
        let dp_name = |d: &u32| {
            s.tp.dataplanes
                .get(*d as usize)
                .map_or_else(String::new, |x| x.name.clone())
        };
        Ok((
            mx.sources,
            mx.destinations,
            PyBytes::new(py, &mx.codes),
            mx.src_dataplanes
                .iter()
                .map(|v| v.iter().map(dp_name).collect())
                .collect(),
            mx.dst_inbounds
                .iter()
                .map(|v| v.iter().map(|(d, p)| (dp_name(d), *p)).collect())
                .collect(),
        ))
    }

    /// The M6.1 item list of an inbound selected by MTPs: [(policy, from index, M5.2 subset
    /// pairs, action)] (`[]` when no MTP selects it).
    #[allow(clippy::type_complexity)]
    fn mtp_plan_items(
        &self,
        py: Python<'_>,
        mesh: &str,
        dataplane: &str,
        port: u32,
    ) -> PyResult<Vec<(String, usize, Vec<(String, String)>, &'static str)>> {
        let target = self.inbound_target(py, mesh, dataplane, port)?;
        let s = self.snap();
        Ok(s.target_plan(target)
            .map(|(_, plan)| {
                s.plan_items(plan)
                    .into_iter()
                    .map(|(p, f, sub, a)| (p.to_owned(), f, sub.to_vec(), a.as_str()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// M6.4: Kuma's rule list of an inbound ([(subset strings, action)]), None when no MTP
    /// selects it; above the rule cap an `EvaluationError` naming the cap.
    fn mtp_rules(
        &self,
        py: Python<'_>,
        mesh: &str,
        dataplane: &str,
        port: u32,
    ) -> PyResult<Option<PyRules>> {
        let target = self.inbound_target(py, mesh, dataplane, port)?;
        let rules = self
            .snap()
            .rules(target, self.shared.max_rules)
            .map_err(Self::err(py))?;
        Ok(rules.as_deref().map(py_rules))
    }

    /// M6.4 for the ExternalService at the zone egress (M7.5), as `mtp_rules`.
    fn mtp_egress_rules(
        &self,
        py: Python<'_>,
        mesh: &str,
        name: &str,
    ) -> PyResult<Option<PyRules>> {
        let s = self.snap();
        let es = s.tp.external_service(mesh, name).map_err(Self::err(py))?;
        let rules = s
            .rules(Target::ExternalService(es), self.shared.max_rules)
            .map_err(Self::err(py))?;
        Ok(rules.as_deref().map(py_rules))
    }
}

impl TrafficSnapshot {
    /// `check` with the mesh as a Python string (the engine's checker passes it through).
    pub(crate) fn check_obj(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        destination: &Bound<'_, PyAny>,
        mesh: Option<&Bound<'_, PyString>>,
    ) -> PyResult<TrafficDecision> {
        let t = destination
            .cast::<PyTuple>()
            .map_err(|_| errors::input_error(py, "a destination is (dataplane, port)"))?;
        if t.len() != 2 {
            return Err(errors::input_error(
                py,
                "a destination is (dataplane, port)",
            ));
        }
        let name_obj = t.get_borrowed_item(0)?.to_owned();
        let name_str = text(py, &name_obj, "the destination dataplane")?;
        let port = port(py, &t.get_borrowed_item(1)?.to_owned())?;
        let mesh_id = match mesh {
            None => Some(None),
            Some(m) => self.mesh_names.get(m).map(Some),
        };
        if let Some(mesh_id) = mesh_id {
            if let Some(d) = self.check_by_ids(py, source, name_str, port, mesh_id)? {
                return Ok(d);
            }
        }
        let name = utf8(py, name_str)?;
        let mesh = mesh.map(|m| utf8(py, m)).transpose()?;
        self.check_inbound_named(py, source, &name, port, mesh.as_deref())
    }

    /// The common case without decoding strings: names found by their Python hash. `None`: any
    /// name unknown or ambiguous, or a source of another form (the by-name path decides / raises).
    fn check_by_ids(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        name: &Bound<'_, PyString>,
        port: u32,
        mesh_id: Option<u32>,
    ) -> PyResult<Option<TrafficDecision>> {
        let s = self.snap();
        let Some(dp) = self
            .dp_names
            .get(name)
            .and_then(|n| s.resolve_dataplane_ids(mesh_id, n))
        else {
            return Ok(None);
        };
        let dmesh = s.tp.dataplanes.get(dp as usize).map_or(0, |d| d.mesh);
        let subject = if source.is_none() {
            Subject::NonMesh
        } else if let Ok(src) = source.cast::<PyString>() {
            match self
                .dp_names
                .get(src)
                .and_then(|n| s.resolve_source_ids(dmesh, n))
            {
                Some(c) => Subject::Dataplane(c),
                None => return Ok(None),
            }
        } else {
            return Ok(None);
        };
        let checked = errors::contained(py, || {
            s.check_inbound(&subject, dp, port).map_err(Self::err(py))
        })?;
        Ok(Some(self.decision(
            checked,
            subject,
            dmesh,
            TargetKey::Inbound(dp, port),
        )))
    }

    fn check_inbound_named(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        name: &str,
        port: u32,
        mesh: Option<&str>,
    ) -> PyResult<TrafficDecision> {
        let s = self.snap();
        let dp = s.resolve_dataplane(mesh, name).map_err(Self::err(py))?;
        let dmesh = s.tp.dataplanes.get(dp as usize).map_or(0, |d| d.mesh);
        let subject = self.subject(py, source, dmesh)?;
        let checked = s.check_inbound(&subject, dp, port).map_err(Self::err(py))?;
        Ok(self.decision(checked, subject, dmesh, TargetKey::Inbound(dp, port)))
    }
}

/// T4.12–T4.14: the name of the default policy Kuma would create, or None.
#[pyfunction]
fn default_traffic_permission_name(
    mesh: &str,
    skip_creating_initial_policies: Vec<String>,
    create_mesh_routing_resources: bool,
    already_generated: bool,
) -> Option<String> {
    default_traffic_permission(
        mesh,
        skip_creating_initial_policies.iter().map(String::as_str),
        create_mesh_routing_resources,
        already_generated,
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TrafficSnapshot>()?;
    m.add_class::<TrafficDecision>()?;
    m.add_class::<crate::traffic_checker::TrafficChecker>()?;
    m.add_function(wrap_pyfunction!(default_traffic_permission_name, m)?)?;
    Ok(())
}
