//! The resource kinds RBAC knows (R4.2–R4.4): scope, section family, whether the Kubernetes CRD
//! is namespaced (core name `name.namespace`, A11) and whether the Universal form keeps its body
//! under `spec`. Same table as `meshauthz/kinds.py` (a test compares them).

use super::target::{Family, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub name: &'static str,
    pub scope: Scope,
    pub family: Family,
    pub namespaced: bool,
    pub spec_wrapped: bool,
}

const fn k(
    name: &'static str,
    scope: Scope,
    family: Family,
    namespaced: bool,
    spec_wrapped: bool,
) -> KindInfo {
    KindInfo {
        name,
        scope,
        family,
        namespaced,
        spec_wrapped,
    }
}

use Family::{LegacyConnection as LC, LegacyDataplane as LD, None as NO, TargetRef as TR};
use Scope::{Global as G, Mesh as M};

/// Every known kind (R4.3: a kind outside this table is an error).
pub const KINDS: &[KindInfo] = &[
    // R4.4 targetRef policies: namespaced CRDs, body under `spec`.
    k("MeshAccessLog", M, TR, true, true),
    k("MeshCircuitBreaker", M, TR, true, true),
    k("MeshFaultInjection", M, TR, true, true),
    k("MeshHealthCheck", M, TR, true, true),
    k("MeshHTTPRoute", M, TR, true, true),
    k("MeshTCPRoute", M, TR, true, true),
    k("MeshLoadBalancingStrategy", M, TR, true, true),
    k("MeshMetric", M, TR, true, true),
    k("MeshPassthrough", M, TR, true, true),
    k("MeshProxyPatch", M, TR, true, true),
    k("MeshRateLimit", M, TR, true, true),
    k("MeshRetry", M, TR, true, true),
    k("MeshTimeout", M, TR, true, true),
    k("MeshTLS", M, TR, true, true),
    k("MeshTrace", M, TR, true, true),
    k("MeshTrafficPermission", M, TR, true, true),
    k("MeshGlobalRateLimit", M, TR, true, true),
    k("MeshOPA", M, TR, true, true),
    // legacy-connection
    k("TrafficPermission", M, LC, false, false),
    k("TrafficRoute", M, LC, false, false),
    k("HealthCheck", M, LC, false, false),
    k("CircuitBreaker", M, LC, false, false),
    k("FaultInjection", M, LC, false, false),
    k("Retry", M, LC, false, false),
    k("Timeout", M, LC, false, false),
    k("RateLimit", M, LC, false, false),
    k("TrafficLog", M, LC, false, false),
    // legacy-dataplane
    k("TrafficTrace", M, LD, false, false),
    k("ProxyTemplate", M, LD, false, false),
    k("MeshGateway", M, LD, false, false),
    k("MeshGatewayRoute", M, LD, false, false),
    k("VirtualOutbound", M, LD, false, false),
    k("OPAPolicy", M, LD, false, false),
    // R4.3 global-scoped kinds
    k("Mesh", G, NO, false, false),
    k("MeshInsight", G, NO, false, false),
    k("Zone", G, NO, false, false),
    k("ZoneInsight", G, NO, false, false),
    k("ZoneIngress", G, NO, true, false),
    k("ZoneIngressInsight", G, NO, true, false),
    k("ZoneEgress", G, NO, true, false),
    k("ZoneEgressInsight", G, NO, true, false),
    k("GlobalSecret", G, NO, false, false),
    k("Config", G, NO, false, false),
    k("HostnameGenerator", G, NO, true, true),
    k("AccessRole", G, NO, false, false),
    k("AccessRoleBinding", G, NO, false, false),
    k("AccessAudit", G, NO, false, false),
    // mesh-scoped kinds of family "none"
    k("Secret", M, NO, false, false),
    k("Dataplane", M, NO, true, false),
    k("DataplaneInsight", M, NO, true, false),
    k("ExternalService", M, NO, false, false),
    k("MeshService", M, NO, true, true),
    k("MeshExternalService", M, NO, true, true),
    k("MeshMultiZoneService", M, NO, true, true),
    k("MeshIdentity", M, NO, true, true),
    k("MeshTrust", M, NO, true, true),
    k("ServiceInsight", M, NO, false, false),
    k("MeshGatewayInstance", M, NO, true, true),
];

/// R4.3: the kind of a type name (exact, case-sensitive).
pub fn lookup(name: &str) -> Option<&'static KindInfo> {
    index(name).and_then(|i| KINDS.get(i))
}

/// The position of `name` in [`KINDS`] (a `match`: length dispatch, no scan).
pub fn index(name: &str) -> Option<usize> {
    Some(match name {
        "MeshAccessLog" => 0,
        "MeshCircuitBreaker" => 1,
        "MeshFaultInjection" => 2,
        "MeshHealthCheck" => 3,
        "MeshHTTPRoute" => 4,
        "MeshTCPRoute" => 5,
        "MeshLoadBalancingStrategy" => 6,
        "MeshMetric" => 7,
        "MeshPassthrough" => 8,
        "MeshProxyPatch" => 9,
        "MeshRateLimit" => 10,
        "MeshRetry" => 11,
        "MeshTimeout" => 12,
        "MeshTLS" => 13,
        "MeshTrace" => 14,
        "MeshTrafficPermission" => 15,
        "MeshGlobalRateLimit" => 16,
        "MeshOPA" => 17,
        "TrafficPermission" => 18,
        "TrafficRoute" => 19,
        "HealthCheck" => 20,
        "CircuitBreaker" => 21,
        "FaultInjection" => 22,
        "Retry" => 23,
        "Timeout" => 24,
        "RateLimit" => 25,
        "TrafficLog" => 26,
        "TrafficTrace" => 27,
        "ProxyTemplate" => 28,
        "MeshGateway" => 29,
        "MeshGatewayRoute" => 30,
        "VirtualOutbound" => 31,
        "OPAPolicy" => 32,
        "Mesh" => 33,
        "MeshInsight" => 34,
        "Zone" => 35,
        "ZoneInsight" => 36,
        "ZoneIngress" => 37,
        "ZoneIngressInsight" => 38,
        "ZoneEgress" => 39,
        "ZoneEgressInsight" => 40,
        "GlobalSecret" => 41,
        "Config" => 42,
        "HostnameGenerator" => 43,
        "AccessRole" => 44,
        "AccessRoleBinding" => 45,
        "AccessAudit" => 46,
        "Secret" => 47,
        "Dataplane" => 48,
        "DataplaneInsight" => 49,
        "ExternalService" => 50,
        "MeshService" => 51,
        "MeshExternalService" => 52,
        "MeshMultiZoneService" => 53,
        "MeshIdentity" => 54,
        "MeshTrust" => 55,
        "ServiceInsight" => 56,
        "MeshGatewayInstance" => 57,
        _ => return None,
    })
}

/// R4.2: the Kuma kind of a Kubernetes `v1/Secret` by its `type`.
pub fn k8s_secret_kind(secret_type: &str) -> Option<&'static KindInfo> {
    match secret_type {
        "system.kuma.io/secret" => lookup("Secret"),
        "system.kuma.io/global-secret" => lookup("GlobalSecret"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_3_registry() {
        assert_eq!(lookup("Mesh").map(|k| k.scope), Some(Scope::Global));
        assert_eq!(
            lookup("MeshTrafficPermission").map(|k| k.family),
            Some(Family::TargetRef)
        );
        assert!(lookup("meshtrafficpermission").is_none());
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(index(k.name), Some(i));
        }
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len(), "duplicate kind");
    }
}
