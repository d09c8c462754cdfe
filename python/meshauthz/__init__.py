"""meshauthz: an authorization engine for Kuma / Kong Mesh resources.

    import meshauthz
    store = meshauthz.load(["mesh.yaml", "policies/"])
    report = meshauthz.validate("policies/")
"""

from __future__ import annotations

from . import _core
from .api import load, load_dicts, loads, parse_resource, parse_yaml, validate
from .bundle import Bundle, BundleError, load_bundle
from .errors import (
    DuplicateResourceError,
    EvaluationError,
    InputError,
    MeshauthzError,
    NotFoundError,
    ParseError,
    Problem,
    SchemaError,
    ValidationError,
)
from .loader import LoadResult, MeshauthzWarning
from .rbac import AccessDecision, Authorizer, RbacTarget, User, authenticated, default_objects
from .resource import Resource
from .store import ResourceStore
from .traffic import (
    NON_MESH,
    Explanation,
    ExternalServiceTarget,
    Identity,
    Inbound,
    Inspection,
    Rank,
    TrafficDecision,
    TrafficEngine,
    mesh_defaults,
    rank_compare,
    rank_of,
    selector_matches,
)

__version__: str = _core.__version__

__all__ = [
    "NON_MESH",
    "AccessDecision",
    "Authorizer",
    "Bundle",
    "BundleError",
    "RbacTarget",
    "User",
    "authenticated",
    "default_objects",
    "DuplicateResourceError",
    "EvaluationError",
    "Explanation",
    "ExternalServiceTarget",
    "Identity",
    "Inbound",
    "Inspection",
    "InputError",
    "LoadResult",
    "MeshauthzError",
    "MeshauthzWarning",
    "NotFoundError",
    "ParseError",
    "Problem",
    "Rank",
    "Resource",
    "ResourceStore",
    "SchemaError",
    "TrafficDecision",
    "TrafficEngine",
    "ValidationError",
    "load",
    "load_bundle",
    "load_dicts",
    "loads",
    "mesh_defaults",
    "parse_resource",
    "parse_yaml",
    "rank_compare",
    "rank_of",
    "selector_matches",
    "validate",
]
