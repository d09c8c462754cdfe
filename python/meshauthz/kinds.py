"""The registry of resource kinds meshauthz knows (rbac.md R4.2–R4.4).

For each kind: its scope (global or mesh), its RBAC section family (which `when` qualifiers can
apply), whether its Kubernetes CRD is namespaced (core name `name.namespace`, R4.2 / A11), and whether
its Universal form keeps the body under `spec` (new targetRef-era resources) or at the top level.
A kind outside this registry is an error (R4.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

Scope = Literal["global", "mesh"]
Family = Literal["targetRef", "legacy-connection", "legacy-dataplane", "none"]


@dataclass(frozen=True)
class Kind:
    name: str
    scope: Scope
    family: Family
    namespaced: bool  # Kubernetes CRD scope Namespaced
    spec_wrapped: bool  # Universal form keeps its body under `spec`

    @property
    def mesh_scoped(self) -> bool:
        return self.scope == "mesh"


_TARGETREF_POLICIES = (
    "MeshAccessLog", "MeshCircuitBreaker", "MeshFaultInjection", "MeshHealthCheck", "MeshHTTPRoute",
    "MeshTCPRoute", "MeshLoadBalancingStrategy", "MeshMetric", "MeshPassthrough", "MeshProxyPatch",
    "MeshRateLimit", "MeshRetry", "MeshTimeout", "MeshTLS", "MeshTrace", "MeshTrafficPermission",
    "MeshGlobalRateLimit", "MeshOPA",
)
_LEGACY_CONNECTION = (
    "TrafficPermission", "TrafficRoute", "HealthCheck", "CircuitBreaker", "FaultInjection", "Retry",
    "Timeout", "RateLimit", "TrafficLog",
)
_LEGACY_DATAPLANE = ("TrafficTrace", "ProxyTemplate", "MeshGateway", "MeshGatewayRoute", "VirtualOutbound",
                     "OPAPolicy")
# R4.3: global-scoped kinds. ZoneIngress/ZoneEgress and HostnameGenerator are namespaced CRDs (R4.2).
_GLOBAL = {
    "Mesh": False, "MeshInsight": False, "Zone": False, "ZoneInsight": False,
    "ZoneIngress": True, "ZoneIngressInsight": True, "ZoneEgress": True, "ZoneEgressInsight": True,
    "GlobalSecret": False, "Config": False, "HostnameGenerator": True,
    "AccessRole": False, "AccessRoleBinding": False, "AccessAudit": False,
}
# Mesh-scoped kinds of family "none" (R4.4): no qualifier can ever match them.
_MESH_OTHER = {
    "Secret": (False, False), "Dataplane": (True, False), "DataplaneInsight": (True, False),
    "ExternalService": (False, False), "MeshService": (True, True), "MeshExternalService": (True, True),
    "MeshMultiZoneService": (True, True), "MeshIdentity": (True, True), "MeshTrust": (True, True),
    "ServiceInsight": (False, False), "MeshGatewayInstance": (True, True),
}

KINDS: dict[str, Kind] = {}
for _n in _TARGETREF_POLICIES:
    KINDS[_n] = Kind(_n, "mesh", "targetRef", namespaced=True, spec_wrapped=True)
for _n in _LEGACY_CONNECTION:
    KINDS[_n] = Kind(_n, "mesh", "legacy-connection", namespaced=False, spec_wrapped=False)
for _n in _LEGACY_DATAPLANE:
    KINDS[_n] = Kind(_n, "mesh", "legacy-dataplane", namespaced=False, spec_wrapped=False)
for _n, _ns in _GLOBAL.items():
    KINDS[_n] = Kind(_n, "global", "none", namespaced=_ns, spec_wrapped=_n == "HostnameGenerator")
for _n, (_ns, _wrapped) in _MESH_OTHER.items():
    KINDS[_n] = Kind(_n, "mesh", "none", namespaced=_ns, spec_wrapped=_wrapped)

# Kinds with a typed model and Kuma validation in meshauthz (issue #3); the rest are generic.
TYPED_KINDS = ("Mesh", "Dataplane", "ExternalService", "TrafficPermission", "MeshTrafficPermission",
               "AccessRole", "AccessRoleBinding")

# Kubernetes `v1/Secret` types that are Kuma secrets (R4.2).
K8S_SECRET_TYPES = {"system.kuma.io/secret": "Secret", "system.kuma.io/global-secret": "GlobalSecret"}


def lookup(name: str) -> Optional[Kind]:
    return KINDS.get(name)
