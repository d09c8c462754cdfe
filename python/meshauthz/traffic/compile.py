"""Store -> plain data for `_core.TrafficSnapshot` (one compile per store version).

The store is read through one consistent `StoreSnapshot` whose version is taken with the
contents (never after compiling): if the store changes during compilation, the engine sees a
newer version on its next check and recompiles (issue #11 item 2).
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional

from .. import _core
from ..errors import EvaluationError
from ..mtp.compile import dataplane_tuple, doc_order, policy_tuple
from ..resource import Resource, body_deferred
from ..store import ResourceStore, StoreSnapshot
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


def mesh_info(res: Resource, has_mtp: bool = False) -> MeshInfo:
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

    core: Any  # _core.TrafficSnapshot
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


def _tp_sides(res: Resource) -> tuple[Any, Any]:
    """A TrafficPermission's (sources, destinations) compile inputs: the match maps of its body, or
    for a body not read yet (resource.DeferredResource) its document handle, whose selectors the
    YAML reader kept natively (the core reads them there: no body is built). A body once read is
    the truth (a mutated one included)."""
    doc = body_deferred(res)
    if doc is not None:
        return doc, doc
    return _selectors(res, "sources"), _selectors(res, "destinations")


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


KINDS = ("Mesh", "Dataplane", "ExternalService", "TrafficPermission", "MeshTrafficPermission")


def compile_store(store: ResourceStore, *, max_rules: int = 10_000) -> Compiled:
    """Compile one consistent snapshot of `store` (its version read with the contents)."""
    snap = store.snapshot(KINDS)
    with _gc_paused():
        return _compile_store(snap, max_rules)


def _compile_store(store: StoreSnapshot, max_rules: int) -> Compiled:
    c = _indexes(store)
    try:
        c.core = _core.TrafficSnapshot(*_rows(store, c.meshes), max_rules)
    except (ValueError, TypeError, OverflowError) as e:
        raise EvaluationError(f"cannot compile the traffic policy set: {e}") from None
    return c


def _indexes(store: StoreSnapshot) -> Compiled:
    """The name indexes Python resolves with (no core yet): only Mesh bodies are read."""
    mtp_meshes = {r.mesh for r in store.list("MeshTrafficPermission")}
    meshes = {r.name: mesh_info(r, r.name in mtp_meshes) for r in store.list("Mesh")}
    c = Compiled(core=None, version=store.version, meshes=meshes, mtp_meshes=frozenset(m for m in mtp_meshes if m))
    for r in store.list("Dataplane"):
        mesh = r.mesh or ""
        c.dp_meshes.setdefault(r.name, []).append(mesh)
        c.dataplanes[(mesh, r.name)] = r
    for r in store.list("ExternalService"):
        mesh = r.mesh or ""
        c.es_meshes.setdefault(r.name, []).append(mesh)
        c.external_services[(mesh, r.name)] = r
    for r in store.list("TrafficPermission"):
        c.policies.setdefault(r.mesh or "", []).append(r)
    return c


_Rows = tuple[list[Any], list[Any], list[Any], list[Any], list[Any], list[Any]]


def _rows(store: StoreSnapshot, meshes: dict[str, MeshInfo]) -> _Rows:
    """The `_core.TrafficSnapshot` inputs: meshes, dataplanes, external services, policies, MTPs,
    MTP dataplanes."""
    dps: list[tuple[Any, ...]] = []
    for r in store.list("Dataplane"):
        doc = body_deferred(r)
        if doc is not None:  # inbounds kept natively by the YAML reader (the clean shape: no gateway)
            dps.append((r.mesh or "", r.name, doc, None))
            continue
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
        dps.append((r.mesh or "", r.name, inbounds, gateway))
    ess = [(r.mesh or "", r.name, _tags(r.body.get("tags"), lambda r=r: f"{r.describe()}: tags"))
           for r in store.list("ExternalService")]
    tps = [(r.mesh or "", r.name, r.creation_seconds_nanos, *_tp_sides(r)) for r in store.list("TrafficPermission")]
    mesh_rows = [
        (m.name, m.mtls_enabled, m.permissive, m.zone_egress, m.passthrough, m.prometheus)
        for m in meshes.values()
    ]
    # MeshTrafficPermission inputs (E4 / M7.5 decided in the core over the same snapshot).
    mtps = sorted(store.list("MeshTrafficPermission"), key=doc_order)
    mtp_policies = [policy_tuple(r) for r in mtps]
    mtp_dps = [dataplane_tuple(r) for r in store.list("Dataplane")]
    return mesh_rows, dps, ess, tps, mtp_policies, mtp_dps


# ---- bundles (issue #13): the compiled section of `meshauthz compile`, and activating it ----------


def compile_sets(store: ResourceStore, resources_digest: bytes) -> bytes:
    """The traffic engine's compiled section for a bundle of `store`'s resources."""
    snap = store.snapshot(KINDS)
    with _gc_paused():
        c = _indexes(snap)
        try:
            return _core.bundle_traffic_sets(*_rows(snap, c.meshes), resources_digest)  # type: ignore[no-any-return]
        except (ValueError, TypeError, OverflowError) as e:
            raise EvaluationError(f"cannot compile the traffic policy set: {e}") from None


_INDEXES = ("meshes", "dp_meshes", "es_meshes", "dataplanes", "external_services", "policies", "mtp_meshes")


class _Index:
    """A name index of a `_LazyCompiled`, built (with the others) on first access from the store
    contents captured when the snapshot was activated (a non-data descriptor: once built, the
    instance holds it)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        if self.name not in d:
            with d["_lock"]:
                if self.name not in d:
                    version, items = d["_items"]()
                    with _gc_paused():
                        built = _indexes(StoreSnapshot.of_items(version, items, KINDS))
                    for n in _INDEXES:
                        d[n] = getattr(built, n)
                    d.pop("_items", None)
        return d[self.name]


class _LazyCompiled(Compiled):
    """A `Compiled` from a bundle's compiled section: the core is ready, the Python name indexes
    (explanations, `inspect`, name resolution in Python) are built on first use; checks never
    need them."""


for _n in _INDEXES:
    setattr(_LazyCompiled, _n, _Index(_n))


def compiled_from_sets(store: ResourceStore, sets: bytes, resources_digest: bytes, *,
                       max_rules: int = 10_000) -> Compiled:
    """A snapshot of `store` from a verified bundle's compiled section (no Python compile step:
    the core deserialises it; BundleError when the section is unusable). The store's contents are
    captured with its version; the name indexes are built from them on first use."""
    version = store.version  # read first: a change after it is seen as a newer version (recompile)
    contents = store.items_thunk()  # the store's contents now, built when first needed
    core = _core.bundle_traffic_snapshot(sets, resources_digest, max_rules)
    c = object.__new__(_LazyCompiled)
    c.__dict__.update(core=core, version=version, _items=contents, _lock=threading.Lock())
    return c
