//! Legacy TrafficPermission semantics (`shared/spec/trafficpermission.md`).
//!
//! * [`policy_set`]: the compiled, immutable input (meshes, dataplanes, external services,
//!   policies with a destination-tag index); `Send + Sync`.
//! * [`identity`]: the T2.6 dataplane matcher and the T2.7 identity matcher.
//! * [`select`]: T3.3–T3.8 selection of the single most specific policy per target.
//! * [`decide`]: the §4.1 inbound decision (E0–E7) and §4.2 ExternalService access.
//! * [`snapshot`]: the compiled TP + MTP snapshot of an engine: §4.1 with the E4 step (T4.11),
//!   §4.2 with the zone-egress MTP step (T4.7 / M7.5), lists computed on access.
//! * [`reverse`]: who may reach an inbound (client sets from the deciding policy).
//! * [`matrix`]: the service-to-service reachability matrix (from client sets, bitsets).
//! * [`batch`]: row-wise batch decisions (name resolution, error codes), E4 included.
//! * [`defaults`]: T4.12–T4.14 default `allow-all-<mesh>` policy.

pub mod batch;
pub mod decide;
pub mod defaults;
pub mod identity;
pub mod intern;
pub mod matrix;
pub mod policy_set;
pub mod reverse;
pub mod select;
pub mod snapshot;

pub use decide::{EsGating, Peer, Reason, Verdict};
pub use policy_set::{
    ClientInput, DataplaneInput, ExternalServiceInput, MeshInput, PolicyInput, PolicySet,
    PrometheusInput, TrafficError,
};
pub use select::Selection;
pub use snapshot::{Checked, Outcome, PlanRef, Snapshot, Subject, Target};
