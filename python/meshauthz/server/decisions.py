"""meshauthz's decision endpoints (S7.1, S7.2) and the policy → dataplanes inspect (§7 P0).

Both decision endpoints take one request object or `{"checks": [request, ...]}` and then answer
`{"results": [...]}` in input order, decided against one snapshot. A bad row is an `error` row
(`allowed: false`), never an abort of the batch.
"""

from __future__ import annotations

from typing import Any, Optional

import meshauthz
from meshauthz import User

from .errors import ApiError
from .service import EngineError, Service, Snapshot
from .types import ResourceType

MAX_CHECKS = 100_000


class RowError(Exception):
    """One bad decision request (400 — or `status` — for a single request, an `error` row in a batch)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_ROW_KEYS = frozenset(("user", "action", "resource", "oldResource", "tokenRequest"))


def _user_of(spec: Any) -> User:
    if not isinstance(spec, dict):
        raise RowError("user must be an object {name, groups}")
    name, groups = spec.get("name"), spec.get("groups", [])
    if not isinstance(name, str) or not name:
        raise RowError("user.name must be a non-empty string")
    if groups is None:
        groups = []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise RowError("user.groups must be a list of strings")
    return User(name, groups)


def _access_row(service: Service, snap: Snapshot, caller: User, row: Any, may_impersonate: bool,
                users: Optional[dict[Any, User]] = None) -> dict[str, Any]:
    if type(row) is not dict:
        raise RowError("a check must be an object")
    if not row.keys() <= _ROW_KEYS:
        raise RowError(f"unknown field(s): {', '.join(sorted(set(row) - _ROW_KEYS))}")  # SA12
    user = caller
    spec = row.get("user")
    if spec is not None:
        key = None
        if users is not None and type(spec) is dict and type(spec.get("name")) is str:
            groups = spec.get("groups")
            if groups is None or (type(groups) is list and all(type(g) is str for g in groups)):
                key = (spec["name"], tuple(groups or ()))
        cached = None if key is None else users.get(key)  # type: ignore[union-attr]
        if cached is None:
            cached = _user_of(spec)
            if users is not None and key is not None:
                users[key] = cached
        user = cached
        if user != caller and not may_impersonate:
            raise RowError("only members of server.adminGroups may check for another user", 403)
    action = row.get("action")
    if not isinstance(action, str):
        raise RowError("action must be a string")
    resource, old, token = row.get("resource"), row.get("oldResource"), row.get("tokenRequest")
    for name, value in (("resource", resource), ("oldResource", old), ("tokenRequest", token)):
        if value is not None and not isinstance(value, dict):
            raise RowError(f"{name} must be an object")
    if action.startswith("GENERATE_"):
        token = token if token is not None else {}
    elif resource is None:
        raise RowError(f"{action} needs a resource")
    if action == "UPDATE" and old is None:
        raise RowError("UPDATE needs oldResource (rbac.md A10)")
    authz = snap.authorizer
    if authz is None:
        raise ApiError(500, "Internal Server Error", "the RBAC policies could not be compiled")
    try:
        if action.startswith("GENERATE_"):
            d = authz.check(user, action, token_request=token)
        else:
            d = authz.check(user, action, resource, old)
    except meshauthz.MeshauthzError as e:
        raise RowError(str(e)) from None
    grant = None if d.grant is None else {"role": d.grant.role, "binding": d.grant.binding, "rule": d.grant.rule,
                                          "access": d.grant.access}
    return {"allowed": d.allowed, "httpStatus": 200 if d.allowed else 403,
            "message": None if d.allowed else d.reason, "grant": grant,
            "uncovered": [] if d.allowed else list(d.uncovered)}


def access(service: Service, caller: User, body: Any) -> dict[str, Any]:
    snap = service.snapshot
    may = any(g in service.config.admin_groups for g in caller.groups)
    if isinstance(body, dict) and "checks" in body and set(body) == {"checks"}:
        checks = body["checks"]
        if not isinstance(checks, list):
            raise ApiError(400, "Invalid request", "checks must be a list")
        if len(checks) > MAX_CHECKS:
            raise ApiError(400, "Invalid request", f"at most {MAX_CHECKS} checks per request")
        results = []
        append = results.append
        users: dict[Any, User] = {}
        for row in checks:
            try:
                append(_access_row(service, snap, caller, row, may, users))
            except RowError as e:
                append({"allowed": False, "httpStatus": e.status, "error": str(e)})
        return {"results": results}
    try:
        return _access_row(service, snap, caller, body, may)
    except RowError as e:
        if e.status == 403:
            raise ApiError(403, "Access Denied", str(e)) from None
        raise ApiError(400, "Invalid request", str(e)) from None


def _destination(spec: Any) -> Any:
    if isinstance(spec, str):
        if spec.startswith("external-service:"):
            return meshauthz.ExternalServiceTarget(spec[len("external-service:"):])
        name, sep, port = spec.rpartition(":")
        if not sep or not port.isdigit():
            raise RowError("destination must be DATAPLANE:PORT, external-service:NAME or an object")
        return meshauthz.Inbound(name, int(port))
    if isinstance(spec, dict):
        if "externalService" in spec:
            if not isinstance(spec["externalService"], str):
                raise RowError("destination.externalService must be a string")
            return meshauthz.ExternalServiceTarget(spec["externalService"])
        dp, port = spec.get("dataplane"), spec.get("port")
        if not isinstance(dp, str) or not isinstance(port, int) or isinstance(port, bool):
            raise RowError("destination needs dataplane (string) and port (integer)")
        return meshauthz.Inbound(dp, port)
    raise RowError("destination must be a string or an object")


def _source(spec: Any) -> Any:
    if isinstance(spec, str):
        return meshauthz.NON_MESH if spec == "non-mesh" else spec
    if isinstance(spec, dict) and isinstance(spec.get("tags"), dict):
        tags = spec["tags"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise RowError("source.tags must map strings to strings")
        return dict(tags)
    raise RowError("source must be a dataplane name, \"non-mesh\" or {\"tags\": {...}}")


def _traffic_row(engine: Any, row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise RowError("a check must be an object")
    unknown = set(row) - {"source", "destination", "mesh"}
    if unknown:
        raise RowError(f"unknown field(s): {', '.join(sorted(unknown))}")
    mesh = row.get("mesh")
    if mesh is not None and not isinstance(mesh, str):
        raise RowError("mesh must be a string")
    try:
        d = engine.check(source=_source(row.get("source")), destination=_destination(row.get("destination")),
                         mesh=mesh)
    except meshauthz.MeshauthzError as e:
        raise RowError(str(e)) from None
    return {"allowed": d.allowed, "reason": d.reason, "policy": d.policy, "mesh": d.mesh, "action": d.action}


def traffic(service: Service, body: Any) -> dict[str, Any]:
    snap = service.snapshot
    try:
        engine = snap.traffic()
    except EngineError as e:
        raise ApiError(500, "Internal Server Error", str(e)) from None
    if isinstance(body, dict) and "checks" in body and set(body) == {"checks"}:
        checks = body["checks"]
        if not isinstance(checks, list) or len(checks) > MAX_CHECKS:
            raise ApiError(400, "Invalid request", f"checks must be a list of at most {MAX_CHECKS} requests")
        results = []
        for row in checks:
            try:
                results.append(_traffic_row(engine, row))
            except RowError as e:
                results.append({"allowed": False, "reason": "error", "error": str(e)})
        return {"results": results}
    try:
        return _traffic_row(engine, body)
    except RowError as e:
        raise ApiError(400, "Invalid request", str(e)) from None


def policy_dataplanes(service: Service, rtype: ResourceType, mesh: str, name: str) -> dict[str, Any]:
    """`GET /meshes/{mesh}/{policyPath}/{name}/_resources/dataplanes` for TrafficPermission and
    MeshTrafficPermission: the Dataplanes with an inbound the policy governs or selects."""
    snap = service.snapshot
    if ("Mesh", "", mesh) not in snap.docs:
        raise ApiError(404, "Failed to retrieve Mesh", "Not found")
    if (rtype.name, mesh, name) not in snap.docs:
        raise ApiError(404, "Could not retrieve a resource", "Not found")
    items: list[dict[str, Any]] = []
    if rtype.name in ("TrafficPermission", "MeshTrafficPermission"):
        try:
            engine = snap.traffic()
        except EngineError as e:
            raise ApiError(500, "Internal Server Error", str(e)) from None
        for key, doc in sorted(snap.docs.items(), key=lambda kv: kv[0][2]):
            if key[0] != "Dataplane" or key[1] != mesh:
                continue
            selected = _selects(engine, rtype.name, name, key[2], mesh)
            if selected:
                items.append({"type": "Dataplane", "mesh": mesh, "name": key[2],
                              "labels": doc.get("labels", {})})
    return {"total": len(items), "items": items, "next": None}


def _selects(engine: Any, type_name: str, policy: str, dataplane: str, mesh: str) -> bool:
    try:
        report = engine.inspect(dataplane, mesh=mesh)
    except meshauthz.MeshauthzError:
        return False
    for inbound in report.inbounds:
        if type_name == "TrafficPermission" and inbound.policy == policy:
            return True
        if type_name == "MeshTrafficPermission" and policy in (getattr(inbound, "mtps", ()) or ()):
            return True
    return False




def dataplane_policies(service: Service, mesh: str, name: str) -> dict[str, Any]:
    """§7 P1 `GET /meshes/{mesh}/dataplanes/{name}/policies`, limited to what meshauthz decides: the
    TrafficPermission governing each inbound (T3) and the MeshTrafficPermissions selecting the Dataplane
    (M4.9 order), as Kuma's `matchedPolicies` entries with the stored documents."""
    snap = service.snapshot
    if ("Mesh", "", mesh) not in snap.docs:
        raise ApiError(404, "Failed to retrieve Mesh", "Not found")
    dp = snap.docs.get(("Dataplane", mesh, name))
    if dp is None:
        raise ApiError(404, "Could not retrieve a resource", "Not found")
    try:
        report = snap.traffic().inspect(name, mesh=mesh)
    except EngineError as e:
        raise ApiError(500, "Internal Server Error", str(e)) from None
    except meshauthz.MeshauthzError as e:
        raise ApiError(400, "Could not inspect the dataplane", str(e)) from None
    net = dp.get("networking") or {}
    address = net.get("address", "")
    inbounds = {i.get("port"): i for i in net.get("inbound") or [] if isinstance(i, dict)}
    items: list[dict[str, Any]] = []
    mtps: list[str] = []
    for inbound in report.inbounds:
        for p in getattr(inbound, "mtps", ()) or ():
            if p not in mtps:
                mtps.append(p)
    if mtps:
        docs = [snap.docs[k] for k in (("MeshTrafficPermission", mesh, p) for p in mtps) if k in snap.docs]
        items.append({"type": "dataplane", "matchedPolicies": {"MeshTrafficPermission": docs}})
    for inbound in report.inbounds:
        if inbound.prometheus or inbound.policy is None:
            continue
        tp = snap.docs.get(("TrafficPermission", mesh, inbound.policy))
        if tp is None:
            continue
        spec = inbounds.get(inbound.port) or {}
        items.append({"type": "inbound", "name": f"{address}:{inbound.port}:{spec.get('servicePort', inbound.port)}",
                      "service": inbound.tags.get("kuma.io/service", ""),
                      "matchedPolicies": {"TrafficPermission": [tp]}})
    return {"kind": "SidecarDataplane", "total": len(items), "items": items}
