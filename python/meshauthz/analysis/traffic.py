"""Reverse traffic queries (re-exported from `meshauthz.traffic.reverse`: the engine package owns
them, so engines never import `analysis`)."""

from ..traffic.reverse import (
    MESH_TRAFFIC_PERMISSION,
    MTLS_DISABLED,
    NO_POLICY,
    NOT_ENFORCED,
    TRAFFIC_PERMISSION,
    UNKNOWN_INBOUND,
    ClientSet,
    ClientTerm,
    Pair,
    Pairs,
    TrafficAnalyzer,
    identity_of,
    who_can_reach,
)

__all__ = [
    "MESH_TRAFFIC_PERMISSION",
    "MTLS_DISABLED",
    "NOT_ENFORCED",
    "NO_POLICY",
    "TRAFFIC_PERMISSION",
    "UNKNOWN_INBOUND",
    "ClientSet",
    "ClientTerm",
    "Pair",
    "Pairs",
    "TrafficAnalyzer",
    "identity_of",
    "who_can_reach",
]
