"""Legacy TrafficPermission engine (shared/spec/trafficpermission.md)."""

from .defaults import mesh_defaults
from .engine import TrafficEngine
from .explain import (
    Explanation,
    InboundReport,
    Inspection,
    PolicyExplanation,
    RankedPolicy,
    SelectorCheck,
    TagCheck,
)
from .model import (
    NON_MESH,
    ExternalServiceTarget,
    Identity,
    Inbound,
    Rank,
    TrafficDecision,
    dataplane_identity,
    dataplane_matches,
    identity_matches,
    rank_combine,
    rank_compare,
    rank_of,
    selector_matches,
)

__all__ = [
    "NON_MESH",
    "Explanation",
    "ExternalServiceTarget",
    "Identity",
    "Inbound",
    "InboundReport",
    "Inspection",
    "PolicyExplanation",
    "Rank",
    "RankedPolicy",
    "SelectorCheck",
    "TagCheck",
    "TrafficDecision",
    "TrafficEngine",
    "dataplane_identity",
    "dataplane_matches",
    "identity_matches",
    "mesh_defaults",
    "rank_combine",
    "rank_compare",
    "rank_of",
    "selector_matches",
]
