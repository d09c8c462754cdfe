"""Handlers for the TrafficPermission query kinds (vectors/trafficpermission.yaml header).

Each vector's `resources` load into a fresh store through the public API (`meshauthz.load_dicts`),
then the public engine answers (conformance.md rules 2 and 7).
"""

from __future__ import annotations

from typing import Any

from .. import InputError, Problem, load_dicts
from ..traffic import (
    NON_MESH,
    ExternalServiceTarget,
    Inbound,
    TrafficEngine,
    dataplane_identity,
    dataplane_matches,
    identity_matches,
    mesh_defaults,
    rank_combine,
    rank_compare,
    rank_of,
    selector_matches,
)
from .handlers import handler


def _engine(vector: dict[str, Any]) -> TrafficEngine:
    options = vector["query"].get("options") or {}
    unknown = set(options) - {"external_service_gating"}
    if unknown:
        raise ValueError(f"unsupported option(s): {sorted(unknown)}")
    return TrafficEngine(
        load_dicts(vector.get("resources") or []),
        external_service_gating=options.get("external_service_gating", "legacy"),
    )


def _source(client: dict[str, Any]) -> Any:
    if client.get("non_mesh"):
        return NON_MESH
    if "dataplane" in client:
        return str(client["dataplane"])
    raise InputError([Problem(f"unsupported client {client!r}", file="<vector>")])


def _rank(r: dict[str, Any]) -> tuple[int, int]:
    return int(r["exact"]), int(r["wildcard"])


@handler("selector_match")
def _selector_match(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    sel = q.get("selector") or {}
    matcher = q.get("matcher", "map")
    if matcher == "map":
        return {"matches": selector_matches(sel, q.get("tags") or {})}
    dp = q["dataplane"]
    store = load_dicts([dp])  # the public loader normalises either form
    res = store.list("Dataplane")[0]
    if matcher == "dataplane":
        return {"matches": dataplane_matches(sel, res.body)}
    if matcher == "identity":
        if q.get("mesh") is not None and q["mesh"] != res.mesh:
            return {"matches": False}  # T2.7: a certificate of another mesh never matches
        return {"matches": identity_matches(sel, dataplane_identity(res.body))}
    raise ValueError(f"unsupported matcher: {matcher}")


@handler("rank_of")
def _rank_of(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    r = rank_of(vector["query"].get("selector") or {})
    return {"exact": r.exact, "wildcard": r.wildcard}


@handler("rank_compare")
def _rank_compare(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    v = rank_compare(_rank(vector["query"]["a"]), _rank(vector["query"]["b"]))
    return {"sign": (v > 0) - (v < 0), "value": v}


@handler("rank_combine")
def _rank_combine(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    r = rank_combine(_rank(vector["query"]["a"]), _rank(vector["query"]["b"]))
    return {"exact": r.exact, "wildcard": r.wildcard}


@handler("select_policies")
def _select_policies(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    by_port = _engine(vector).select_policies(str(vector["query"]["target"]["dataplane"]))
    return {"by_port": {str(p): n for p, n in by_port.items() if n is not None}}


@handler("select_policy")
def _select_policy(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    name = str(vector["query"]["target"]["external_service"])
    return {"policy": _engine(vector).select_policy(external_service=name)}


def _decision(d: Any) -> dict[str, Any]:
    return {
        "allowed": d.allowed,
        "reason": d.reason,
        "policy": d.policy,
        "matched_source": d.matched_source,
        "shadowed": list(d.shadowed),
        # MTP fields (meshtrafficpermission.md §9); divergence and shadow_deny only matter when true
        "action": d.action,
        "from_index": d.from_index,
        "shadow_deny": d.shadow_deny,
        "kuma_enforcement_divergence": d.kuma_enforcement_divergence,
        "matched_policies": list(d.matched_policies),
    }


@handler("authorize_inbound")
def _authorize_inbound(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    dest = q["destination"]
    d = _engine(vector).check(
        source=_source(q["client"]), destination=Inbound(str(dest["dataplane"]), int(dest["port"]))
    )
    return _decision(d)


@handler("authorize_external_service")
def _authorize_external_service(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    d = _engine(vector).check(
        source=_source(q["client"]), destination=ExternalServiceTarget(str(q["external_service"]))
    )
    return {**_decision(d), "bypass_possible": d.bypass_possible}


@handler("reachable_external_services")
def _reachable(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    return {
        "reachable": sorted(_engine(vector).reachable_external_services(_source(vector["query"]["client"])))
    }


@handler("mesh_defaults")
def _mesh_defaults(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    options = q.get("options") or {}
    unknown = set(options) - {"create_mesh_routing_resources", "already_generated"}
    if unknown:
        raise ValueError(f"unsupported option(s): {sorted(unknown)}")
    mesh = load_dicts([q["mesh"]]).list("Mesh")[0]
    return mesh_defaults(
        mesh, options.get("create_mesh_routing_resources", True), options.get("already_generated", False)
    )
