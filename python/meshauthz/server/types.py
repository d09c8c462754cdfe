"""The resource types `meshauthz serve` exposes, with their Kuma API paths and scopes (S2.1, S2.2).

Scopes follow rbac.md R4.3 (global-scoped kinds) and match the core's registry; paths are Kuma's
`zz_generated.resources.go` plural names at v2.10.11 (Access* per SA4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ResourceType:
    name: str
    path: str
    global_scoped: bool
    spec_wrapped: bool  # targetRef-era: the body lives under `spec` (S2.10)
    typed: bool  # full schema + Kuma validation through meshauthz (issue #15 "typed kinds")
    family: str = "none"  # rbac.md R4.4 section family (which `when` qualifiers can apply)
    read_only: bool = False

    @property
    def mesh_scoped(self) -> bool:
        return not self.global_scoped

    @property
    def secret(self) -> bool:
        return self.name in ("Secret", "GlobalSecret")


_TYPED = {"Mesh", "Dataplane", "ExternalService", "TrafficPermission", "MeshTrafficPermission", "AccessRole",
          "AccessRoleBinding", "Secret", "GlobalSecret"}

# (name, path, global, spec_wrapped)
_TABLE: list[tuple[str, str, bool, bool]] = [
    ("Mesh", "meshes", True, False),
    ("Zone", "zones", True, False),
    ("GlobalSecret", "global-secrets", True, False),
    ("HostnameGenerator", "hostnamegenerators", True, True),
    ("AccessRole", "access-roles", True, False),
    ("AccessRoleBinding", "access-role-bindings", True, False),
    ("AccessAudit", "access-audits", True, False),
    ("Dataplane", "dataplanes", False, False),
    ("ExternalService", "external-services", False, False),
    ("Secret", "secrets", False, False),
    ("TrafficPermission", "traffic-permissions", False, False),
    ("TrafficRoute", "traffic-routes", False, False),
    ("HealthCheck", "health-checks", False, False),
    ("CircuitBreaker", "circuit-breakers", False, False),
    ("FaultInjection", "fault-injections", False, False),
    ("TrafficLog", "traffic-logs", False, False),
    ("TrafficTrace", "traffic-traces", False, False),
    ("RateLimit", "rate-limits", False, False),
    ("Retry", "retries", False, False),
    ("Timeout", "timeouts", False, False),
    ("VirtualOutbound", "virtual-outbounds", False, False),
    ("ProxyTemplate", "proxytemplates", False, False),
    ("MeshGateway", "meshgateways", False, False),
    ("MeshGatewayRoute", "meshgatewayroutes", False, False),
    ("OPAPolicy", "opa-policies", False, False),
    ("MeshService", "meshservices", False, True),
    ("MeshExternalService", "meshexternalservices", False, True),
    ("MeshMultiZoneService", "meshmultizoneservices", False, True),
    ("MeshGatewayInstance", "meshgatewayinstances", False, True),
]
# Plural display names Kuma derives its paths from (lower-case, no spaces).
_PLURALS = {"MeshLoadBalancingStrategy": "meshloadbalancingstrategies", "MeshProxyPatch": "meshproxypatches",
            "MeshRetry": "meshretries", "MeshTLS": "meshtlses", "MeshPassthrough": "meshpassthroughs"}
for _n in ("MeshAccessLog", "MeshCircuitBreaker", "MeshFaultInjection", "MeshHealthCheck", "MeshHTTPRoute",
           "MeshTCPRoute", "MeshLoadBalancingStrategy", "MeshMetric", "MeshPassthrough", "MeshProxyPatch",
           "MeshRateLimit", "MeshRetry", "MeshTimeout", "MeshTLS", "MeshTrace", "MeshTrafficPermission",
           "MeshGlobalRateLimit", "MeshOPA"):
    _TABLE.append((_n, _PLURALS.get(_n, _n.lower() + "s"), False, True))

# R4.4 section families (the rest: "none").
_LEGACY_CONNECTION = {"TrafficPermission", "TrafficRoute", "HealthCheck", "CircuitBreaker", "FaultInjection",
                      "Retry", "Timeout", "RateLimit", "TrafficLog"}
_LEGACY_DATAPLANE = {"TrafficTrace", "ProxyTemplate", "MeshGateway", "MeshGatewayRoute", "VirtualOutbound",
                     "OPAPolicy"}
_TARGETREF = {"MeshAccessLog", "MeshCircuitBreaker", "MeshFaultInjection", "MeshHealthCheck", "MeshHTTPRoute",
              "MeshTCPRoute", "MeshLoadBalancingStrategy", "MeshMetric", "MeshPassthrough", "MeshProxyPatch",
              "MeshRateLimit", "MeshRetry", "MeshTimeout", "MeshTLS", "MeshTrace", "MeshTrafficPermission",
              "MeshGlobalRateLimit", "MeshOPA"}


def _family(name: str) -> str:
    if name in _TARGETREF:
        return "targetRef"
    if name in _LEGACY_CONNECTION:
        return "legacy-connection"
    if name in _LEGACY_DATAPLANE:
        return "legacy-dataplane"
    return "none"


TYPES: dict[str, ResourceType] = {}
BY_PATH: dict[str, ResourceType] = {}
for _name, _path, _global, _wrapped in _TABLE:
    _t = ResourceType(_name, _path, _global, _wrapped, _name in _TYPED, _family(_name))
    TYPES[_name] = _t
    BY_PATH[_path] = _t

GLOBAL_PATHS = {t.path: t for t in TYPES.values() if t.global_scoped}
MESH_PATHS = {t.path: t for t in TYPES.values() if t.mesh_scoped}


def by_name(name: str) -> Optional[ResourceType]:
    return TYPES.get(name)
