//! Bindings for the TrafficPermission engine: `TrafficPolicySet`, compiled once from plain Python
//! data; every query crosses the FFI once and returns plain tuples. Core errors become Python
//! exceptions (LookupError: unknown name; ValueError: bad input; RuntimeError: cannot evaluate).

use std::collections::HashMap;

use meshauthz_core::traffic::defaults::default_traffic_permission;
use meshauthz_core::traffic::intern::Sym;
use meshauthz_core::traffic::policy_set::{AdhocClient, Client};
use meshauthz_core::traffic::policy_set::{DpId, EsId};
use meshauthz_core::traffic::{
    ClientInput, DataplaneInput, Decision, EsGating, ExternalServiceInput, MeshInput, MtpHook,
    NoMtpHook, PolicyInput, PolicySet, PrometheusInput, Selection, TrafficError,
};
use pyo3::exceptions::{PyLookupError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

type Tags = HashMap<String, String>;

/// The hook of these bindings: the inbound E4 hook (MTP §7 E6) is composed in Python
/// (`TrafficEngine.check` asks `MtpEngine` when this returns a TP pass-through reason), so it never
/// fails here; zone egress MTP precedence (T4.7) is not modelled and still fails closed (`NoMtpHook`).
struct PyMtpHook;

impl MtpHook for PyMtpHook {
    fn inbound(
        &self,
        _: &PolicySet,
        _: Client<'_>,
        _: DpId,
        _: u32,
        _: &[(Sym, Sym)],
    ) -> Result<Option<Decision>, TrafficError> {
        Ok(None)
    }

    fn egress(
        &self,
        set: &PolicySet,
        client: Client<'_>,
        es: EsId,
    ) -> Result<Option<Decision>, TrafficError> {
        NoMtpHook.egress(set, client, es)
    }
}
/// (allowed, reason, policy, matched_source, shadowed, bypass_possible)
type DecisionTuple = (
    bool,
    &'static str,
    Option<String>,
    Option<u32>,
    Vec<String>,
    bool,
);
/// (policy, exact, wildcard), most specific first.
type RankedList = Vec<(String, u32, u32)>;

fn pairs(t: Tags) -> Vec<(String, String)> {
    t.into_iter().collect()
}

fn err(e: TrafficError) -> PyErr {
    match e {
        TrafficError::UnknownMesh(_)
        | TrafficError::UnknownDataplane { .. }
        | TrafficError::UnknownExternalService { .. } => PyLookupError::new_err(e.to_string()),
        TrafficError::Duplicate(_) | TrafficError::Invalid(_) => {
            PyValueError::new_err(e.to_string())
        }
        TrafficError::MtpUnsupported(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

/// A client as Python passes it: `None` = non-mesh, `(mesh, dataplane)`, or
/// `(mesh, [tag maps for T2.6], [(key, value) identity pairs for T2.7])`.
#[derive(FromPyObject)]
enum PyClient {
    Dataplane(String, String),
    Adhoc(String, Vec<Tags>, Vec<(String, String)>),
}

enum Resolved {
    NonMesh,
    Dataplane(u32),
    Adhoc(AdhocClient),
}

impl Resolved {
    fn client(&self) -> Client<'_> {
        match self {
            Resolved::NonMesh => Client::NonMesh,
            Resolved::Dataplane(d) => Client::Dataplane(*d),
            Resolved::Adhoc(a) => Client::Adhoc(a),
        }
    }
}

fn gating(s: &str) -> PyResult<EsGating> {
    match s {
        "legacy" => Ok(EsGating::Legacy),
        "none" => Ok(EsGating::None),
        _ => Err(PyValueError::new_err(format!(
            "external_service_gating must be \"legacy\" or \"none\", not {s:?} (A6)"
        ))),
    }
}

fn tuple(d: Decision) -> DecisionTuple {
    (
        d.allowed,
        d.reason.as_str(),
        d.policy,
        d.matched_source,
        d.shadowed,
        d.bypass_possible,
    )
}

/// The compiled, immutable TrafficPermission input (meshes, dataplanes, external services,
/// policies). Thread-safe; rebuild a new one to change anything.
#[pyclass(frozen, module = "meshauthz._core")]
pub struct TrafficPolicySet {
    pub(crate) set: PolicySet,
}

impl TrafficPolicySet {
    fn resolve(&self, client: Option<PyClient>) -> PyResult<Resolved> {
        Ok(match client {
            None => Resolved::NonMesh,
            Some(PyClient::Dataplane(mesh, name)) => {
                Resolved::Dataplane(self.set.dataplane(&mesh, &name).map_err(err)?)
            }
            Some(PyClient::Adhoc(mesh, maps, ps)) => {
                let input = ClientInput {
                    mesh,
                    tag_maps: maps.into_iter().map(pairs).collect(),
                    pairs: ps,
                };
                Resolved::Adhoc(self.set.adhoc_client(&input).map_err(err)?)
            }
        })
    }

    fn ranked(&self, sel: &Selection) -> RankedList {
        sel.matches
            .iter()
            .map(|(p, r)| (self.set.policy_name(*p).to_owned(), r.exact, r.wildcard))
            .collect()
    }
}

/// A policy's creationTime: (seconds since the Unix epoch, nanoseconds), or legacy integer
/// microseconds since the epoch.
#[derive(FromPyObject)]
enum Created {
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

#[pymethods]
impl TrafficPolicySet {
    /// meshes: [(name, mtls_enabled, permissive, zone_egress, passthrough, (port, tags) | None, has_mtp)]
    /// dataplanes: [(mesh, name, [(port, tags)], gateway_tags | None)]
    /// external_services: [(mesh, name, tags)]
    /// policies: [(mesh, name, (creation seconds, nanoseconds), [source match], [destination match])]
    #[new]
    #[allow(clippy::type_complexity)]
    fn new(
        py: Python<'_>,
        meshes: Vec<(String, bool, bool, bool, bool, Option<(u32, Tags)>, bool)>,
        dataplanes: Vec<(String, String, Vec<(u32, Tags)>, Option<Tags>)>,
        external_services: Vec<(String, String, Tags)>,
        policies: Vec<(String, String, Created, Vec<Tags>, Vec<Tags>)>,
    ) -> PyResult<Self> {
        let meshes = meshes
            .into_iter()
            .map(
                |(name, mtls_enabled, permissive, zone_egress, passthrough, prom, has_mtp)| {
                    MeshInput {
                        name,
                        mtls_enabled,
                        permissive,
                        zone_egress,
                        passthrough,
                        prometheus: prom.map(|(port, tags)| PrometheusInput {
                            port,
                            tags: pairs(tags),
                        }),
                        has_mtp,
                    }
                },
            )
            .collect();
        let dataplanes = dataplanes
            .into_iter()
            .map(|(mesh, name, inbounds, gateway)| DataplaneInput {
                mesh,
                name,
                inbounds: inbounds.into_iter().map(|(p, t)| (p, pairs(t))).collect(),
                gateway: gateway.map(pairs),
            })
            .collect();
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
            .map(|(mesh, name, created, sources, destinations)| PolicyInput {
                mesh,
                name,
                created: created.seconds_nanos(),
                sources: sources.into_iter().map(pairs).collect(),
                destinations: destinations.into_iter().map(pairs).collect(),
            })
            .collect();
        let set = py
            .detach(|| PolicySet::compile(meshes, dataplanes, external_services, policies))
            .map_err(err)?;
        Ok(TrafficPolicySet { set })
    }

    /// Number of compiled TrafficPermissions.
    fn __len__(&self) -> usize {
        self.set.policies.len()
    }

    /// §4.1 decision for `client` -> inbound `port` of dataplane `mesh/dataplane`.
    #[pyo3(signature = (mesh, dataplane, port, client))]
    fn check_inbound(
        &self,
        mesh: &str,
        dataplane: &str,
        port: u32,
        client: Option<PyClient>,
    ) -> PyResult<DecisionTuple> {
        let dp = self.set.dataplane(mesh, dataplane).map_err(err)?;
        let c = self.resolve(client)?;
        self.set
            .authorize_inbound(c.client(), dp, port, &PyMtpHook)
            .map(tuple)
            .map_err(err)
    }

    /// A no-op taking the same arguments as `check_inbound` (benchmark baseline: FFI cost).
    #[pyo3(signature = (mesh, dataplane, port, client))]
    fn _noop(&self, mesh: &str, dataplane: &str, port: u32, client: Option<PyClient>) {
        let _ = (mesh, dataplane, port, client);
    }

    /// §4.2 decision for `client` -> ExternalService `mesh/name`.
    #[pyo3(signature = (mesh, name, client, gating = "legacy"))]
    fn check_external_service(
        &self,
        mesh: &str,
        name: &str,
        client: Option<PyClient>,
        gating: &str,
    ) -> PyResult<DecisionTuple> {
        let g = self::gating(gating)?;
        let es = self.set.external_service(mesh, name).map_err(err)?;
        let c = self.resolve(client)?;
        self.set
            .authorize_external_service(c.client(), es, g, &PyMtpHook)
            .map(tuple)
            .map_err(err)
    }

    /// Names of the ExternalServices `client` may use, sorted.
    #[pyo3(signature = (client, gating = "legacy"))]
    fn reachable_external_services(
        &self,
        client: Option<PyClient>,
        gating: &str,
    ) -> PyResult<Vec<String>> {
        let g = self::gating(gating)?;
        let c = self.resolve(client)?;
        let ids = self
            .set
            .reachable_external_services(c.client(), g, &PyMtpHook)
            .map_err(err)?;
        Ok(ids
            .into_iter()
            .map(|id| self.set.external_services[id as usize].name.clone())
            .collect())
    }

    /// T3.7(a): [(port, is_prometheus, [(policy, exact, wildcard)] most specific first)].
    fn select_dataplane(
        &self,
        mesh: &str,
        dataplane: &str,
    ) -> PyResult<Vec<(u32, bool, RankedList)>> {
        let dp = self.set.dataplane(mesh, dataplane).map_err(err)?;
        Ok(self
            .set
            .select_dataplane(dp)
            .iter()
            .map(|(port, prom, sel)| (*port, *prom, self.ranked(sel)))
            .collect())
    }

    /// T4.5: [(policy, exact, wildcard)] matching the ExternalService, most specific first.
    fn select_external_service(&self, mesh: &str, name: &str) -> PyResult<RankedList> {
        let es = self.set.external_service(mesh, name).map_err(err)?;
        Ok(self.ranked(&self.set.select_external_service(es)))
    }

    /// T3.5 over an arbitrary tag map: ([(policy, exact, wildcard)], selectors evaluated).
    fn select_tags(&self, mesh: &str, tags: Tags) -> PyResult<(RankedList, usize)> {
        let m = self.set.mesh(mesh).map_err(err)?;
        let t = self
            .set
            .interner
            .lookup_map(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sel = self.set.select(m, &t);
        Ok((self.ranked(&sel), sel.candidates_evaluated))
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
    m.add_class::<TrafficPolicySet>()?;
    m.add_function(wrap_pyfunction!(default_traffic_permission_name, m)?)?;
    Ok(())
}
