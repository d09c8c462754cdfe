"""Store -> plain data for `_core.TrafficPolicySet` (one compile per store version)."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

from .. import _core
from ..errors import EvaluationError
from ..resource import Resource
from ..store import ResourceStore
from .model import SERVICE_TAG

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
PROMETHEUS_DEFAULT_PORT = 5670
PROMETHEUS_DEFAULT_SERVICE = "dataplane-metrics"


def micros(t: datetime) -> int:
    """creationTime as microseconds since the epoch (A2: creationTime ranks, not modificationTime)."""
    return (t - _EPOCH) // _US


def _tags(value: Any, where: Any) -> dict[str, str]:
    """A tag map as plain dict; `where()` names it in the error (built only on failure).
    Plain `dict` checks: the loader produces dicts, and typing.Mapping's isinstance costs ~5 µs."""
    if value is None:
        return {}
    if type(value) is not dict or not all(type(k) is str and type(v) is str for k, v in value.items()):
        raise EvaluationError(f"{where()}: tags must be a map of strings to strings")
    return value


def _truthy(value: Any, default: bool) -> bool:
    if isinstance(value, dict):  # google.protobuf.BoolValue form {value: ...}
        value = value.get("value", default)
    return default if value is None else bool(value)


@dataclass(frozen=True)
class MeshInfo:
    name: str
    mtls_enabled: bool
    permissive: bool
    zone_egress: bool
    passthrough: bool
    prometheus: Optional[tuple[int, dict[str, str]]]
    has_mtp: bool


def mesh_info(res: Resource, has_mtp: bool) -> MeshInfo:
    body = res.body
    mtls = body.get("mtls") or {}
    enabled = mtls.get("enabledBackend") or ""
    backend = next(
        (b for b in mtls.get("backends") or [] if isinstance(b, dict) and b.get("name") == enabled), {}
    )
    # E2/E3: mode of the enabled backend, default STRICT (an unknown backend fails closed as STRICT).
    permissive = bool(enabled) and backend.get("mode") == "PERMISSIVE"
    routing = body.get("routing") or {}
    outbound = (body.get("networking") or {}).get("outbound") or {}
    metrics = body.get("metrics") or {}
    prometheus = None
    mb = metrics.get("enabledBackend") or ""
    if mb:  # T4.9: an enabled prometheus backend adds an inbound (default port 5670, dataplane-metrics)
        b = next(
            (b for b in metrics.get("backends") or [] if isinstance(b, dict) and b.get("name") == mb), None
        )
        if b is not None and b.get("type", "prometheus") == "prometheus":
            conf = b.get("conf") or {}
            tags = {SERVICE_TAG: PROMETHEUS_DEFAULT_SERVICE}
            tags.update(_tags(conf.get("tags"), lambda: f"Mesh {res.name}: metrics.backends.conf.tags"))
            prometheus = (int(conf.get("port") or PROMETHEUS_DEFAULT_PORT), tags)
    return MeshInfo(
        res.name,
        bool(enabled),
        permissive,
        _truthy(routing.get("zoneEgress"), False),
        _truthy(outbound.get("passthrough"), True),
        prometheus,
        has_mtp,
    )


@dataclass
class Compiled:
    """One immutable compiled snapshot plus the name indexes Python resolves with."""

    core: Any  # _core.TrafficPolicySet
    version: int
    meshes: dict[str, MeshInfo]
    dp_meshes: dict[str, list[str]] = field(default_factory=dict)
    es_meshes: dict[str, list[str]] = field(default_factory=dict)
    dataplanes: dict[tuple[str, str], Resource] = field(default_factory=dict)
    external_services: dict[tuple[str, str], Resource] = field(default_factory=dict)
    policies: dict[str, list[Resource]] = field(default_factory=dict)  # by mesh
    mtp_meshes: frozenset[str] = frozenset()  # meshes with MeshTrafficPermissions (E4)


def _selectors(res: Resource, key: str) -> list[dict[str, str]]:
    out = []
    for i, entry in enumerate(res.body.get(key) or []):
        match = entry.get("match") if isinstance(entry, dict) else None
        out.append(_tags(match, lambda i=i: f"{res.describe()}: {key}[{i}].match"))
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Compiling builds ~100k short-lived tuples; each cyclic-GC pass over a large store heap costs
    more than the compile itself, and none of these objects form cycles."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compile_store(store: ResourceStore) -> Compiled:
    with _gc_paused():
        return _compile_store(store)


def _compile_store(store: ResourceStore) -> Compiled:
    version = store.version
    mtp_meshes = {r.mesh for r in store.list("MeshTrafficPermission")}
    meshes = {r.name: mesh_info(r, r.name in mtp_meshes) for r in store.list("Mesh")}
    c = Compiled(core=None, version=version, meshes=meshes, mtp_meshes=frozenset(m for m in mtp_meshes if m))
    dps = []
    for r in store.list("Dataplane"):
        mesh = r.mesh or ""
        net = r.body.get("networking") or {}
        inbounds = []
        for i, ib in enumerate(net.get("inbound") or []):
            if not isinstance(ib, dict) or not isinstance(ib.get("port"), int):
                raise EvaluationError(f"{r.describe()}: networking.inbound[{i}].port must be an integer")
            inbounds.append(
                (ib["port"], _tags(ib.get("tags"), lambda r=r, i=i: f"{r.describe()}: networking.inbound[{i}].tags"))
            )
        gw = net.get("gateway")
        gateway = (
            _tags(gw.get("tags"), lambda r=r: f"{r.describe()}: networking.gateway.tags")
            if isinstance(gw, dict)
            else None
        )
        dps.append((mesh, r.name, inbounds, gateway))
        c.dp_meshes.setdefault(r.name, []).append(mesh)
        c.dataplanes[(mesh, r.name)] = r
    ess = []
    for r in store.list("ExternalService"):
        mesh = r.mesh or ""
        ess.append((mesh, r.name, _tags(r.body.get("tags"), lambda r=r: f"{r.describe()}: tags")))
        c.es_meshes.setdefault(r.name, []).append(mesh)
        c.external_services[(mesh, r.name)] = r
    tps = []
    for r in store.list("TrafficPermission"):
        mesh = r.mesh or ""
        tps.append(
            (mesh, r.name, r.creation_seconds_nanos, _selectors(r, "sources"), _selectors(r, "destinations"))
        )
        c.policies.setdefault(mesh, []).append(r)
    mesh_rows = [
        # has_mtp stays on only for zone egress (T4.7 MTP precedence there is not modelled: the core
        # fails closed). Inbound E4 is decided in Python by the MTP engine (TrafficEngine.check).
        (m.name, m.mtls_enabled, m.permissive, m.zone_egress, m.passthrough, m.prometheus,
         m.has_mtp and m.zone_egress)
        for m in meshes.values()
    ]
    try:
        c.core = _core.TrafficPolicySet(mesh_rows, dps, ess, tps)
    except ValueError as e:
        raise EvaluationError(f"cannot compile TrafficPermission policy set: {e}") from None
    return c
