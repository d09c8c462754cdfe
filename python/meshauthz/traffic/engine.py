"""`TrafficEngine`: TrafficPermission + MeshTrafficPermission decisions over a ResourceStore
(trafficpermission.md §3–§4, meshtrafficpermission.md §7).

Every decision is made by the Rust core (`_core.TrafficSnapshot`): §4.1 E0–E7 with the E4 step
(a MeshTrafficPermission selecting the inbound decides, M7.1) and §4.2 with the zone-egress MTP
step (T4.7 / M7.5), in one FFI crossing per check. The engine holds one immutable compiled
snapshot built from a consistent store view; `refresh()` compiles a new one and swaps it in one
assignment, so concurrent checks always see one policy set. A check never reads the store (it
only compares the store's version number). Errors never become an allow (fail closed).
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Iterable, Mapping, Optional, TypeVar

from .. import _core, registry
from ..batch import check_traffic
from ..errors import InputError, MeshauthzError, NotFoundError, Problem
from ..resource import Resource
from ..store import ResourceStore
from .bundle_rows import rows_sets
from .compile import Compiled, compile_sets, compile_store, compiled_from_sets
from .explain import (
    Explanation,
    InboundReport,
    Inspection,
    MtpExplanation,
    MtpItem,
    RankedPolicy,
    explain_decision,
)
from .model import (
    NON_MESH,
    SERVICE_TAG,
    Destination,
    ExternalServiceTarget,
    Identity,
    Inbound,
    Source,
    TrafficDecision,
)
from .reverse import ClientSet, who_can_reach

GATINGS = ("legacy", "none")
DEFAULT_MAX_RULES = 10_000


def _input_error(message: str) -> InputError:
    return InputError([Problem(message, file="<query>")])


_F = TypeVar("_F", bound=Callable[..., Any])


def _text_only(fn: _F) -> _F:
    """Names reach the core as UTF-8: a lone surrogate is an `InputError`, never a `UnicodeError`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnicodeError:
            raise _input_error("names must be valid UTF-8 text (no lone surrogates)") from None

    return wrapper  # type: ignore[return-value]


def _name_args(**names: Any) -> None:
    """Name arguments of the queries: str (a mesh may be None); anything else is an InputError."""
    for what, v in names.items():
        if not (isinstance(v, str) or (what == "mesh" and v is None)):
            raise _input_error(f"{what} must be a string, not {type(v).__name__}")


def _str_pairs(pairs: Iterable[Any], what: str) -> list[tuple[str, str]]:
    out = []
    for p in pairs:
        if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str)):
            raise _input_error(f"{what} must hold string (key, value) pairs, not {p!r}")
        out.append(p)
    return out


class TrafficEngine:
    """Decisions for legacy TrafficPermission and MeshTrafficPermission (+ ExternalService, Mesh
    mTLS, Dataplane tags).

    `external_service_gating`: `"legacy"` (TP-gated, default) or `"none"` (2.6+ routing, A6).
    `max_rules`: cap on Kuma's computed MTP rule list (M6.4) in `inspect` / `explain` /
    `select_rules` (decisions never need it).
    """

    def __init__(self, store: ResourceStore, *, external_service_gating: str = "legacy",
                 max_rules: int = DEFAULT_MAX_RULES):
        if external_service_gating not in GATINGS:
            raise _input_error(
                f"external_service_gating must be one of {GATINGS}, not {external_service_gating!r}"
            )
        if type(max_rules) is not int or max_rules < 1:
            raise _input_error(f"max_rules must be a positive integer, not {max_rules!r}")
        self.store = store
        self.external_service_gating = external_service_gating
        self.max_rules = max_rules
        self._lock = threading.Lock()
        self._compiled: Compiled = compile_store(store, max_rules=max_rules)
        self._install_checker()

    def _install_checker(self) -> None:
        """`self.check` is a Rust callable over the current snapshot (one FFI crossing per check)."""
        c = self._compiled
        checker = getattr(self, "_checker", None)
        if checker is None:
            self._checker = _core.TrafficChecker(self, NON_MESH, self.store, c.version, c.core)
            self.check = self._checker.check  # type: ignore[method-assign]
        else:
            checker._set(self.store, c.version, c.core)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        return registry.reduce_engine(self, "traffic", self.store,
                                      {"external_service_gating": self.external_service_gating})

    def _snapshot(self) -> Compiled:
        """The current immutable compiled snapshot (for sharing across unpickled engines)."""
        return self.compiled

    @classmethod
    def _over(cls, store: ResourceStore, compiled: Compiled, *, external_service_gating: str = "legacy",
              max_rules: int = DEFAULT_MAX_RULES) -> TrafficEngine:
        """A fresh engine over `store` whose contents `compiled` was built from (no recompile)."""
        import dataclasses

        engine = cls.__new__(cls)
        engine.store = store
        engine.external_service_gating = external_service_gating
        engine.max_rules = max_rules
        engine._lock = threading.Lock()
        engine._compiled = (compiled if compiled.version == store.version
                            else dataclasses.replace(compiled, version=store.version))
        engine._install_checker()
        return engine

    @classmethod
    def _from_sets(cls, store: ResourceStore, sets: bytes, resources_digest: bytes, *,
                   external_service_gating: str = "legacy", max_rules: int = DEFAULT_MAX_RULES) -> TrafficEngine:
        """An engine over a verified bundle's compiled section (meshauthz.bundle): deserialised by
        the core, no compile step; `store` holds the bundle's resources, unchanged."""
        compiled = compiled_from_sets(store, sets, resources_digest, max_rules=max_rules)
        return cls._over(store, compiled, external_service_gating=external_service_gating, max_rules=max_rules)

    @staticmethod
    def _bundle_sets(store: ResourceStore, resources_digest: bytes) -> bytes:
        """The compiled section `meshauthz compile` writes for `store`'s resources."""
        return compile_sets(store, resources_digest)

    @staticmethod
    def _rows_sets(native: Any, kinds: list[Any], row: Any, unvouched: Any, resources_digest: bytes) -> bytes:
        """The compiled sets of a bundle read natively without a verified signature (derived from
        its resources: `traffic.bundle_rows`)."""
        return rows_sets(native, kinds, row, unvouched, resources_digest)

    @classmethod
    def from_paths(
        cls, *paths: Any, external_service_gating: str = "legacy"
    ) -> TrafficEngine:
        flat: list[Any] = []
        for p in paths:
            flat.extend([p] if isinstance(p, (str, bytes)) or hasattr(p, "__fspath__") else p)
        return cls(registry.loader("load")(flat), external_service_gating=external_service_gating)

    # ---- snapshot ------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Recompile from the store's current contents and swap the snapshot in one assignment."""
        with self._lock:
            self._compiled = compile_store(self.store, max_rules=self.max_rules)
            self._install_checker()

    def reload(self, source: Any) -> None:
        """Replace the source (a ResourceStore, or paths for `meshauthz.load`) and recompile;
        on an error the engine keeps its current store and snapshot."""
        if isinstance(source, ResourceStore):
            store = source
        else:
            store = registry.loader("load")(source)
        compiled = compile_store(store, max_rules=self.max_rules)
        with self._lock:
            self.store, self._compiled = store, compiled
            self._install_checker()

    @property
    def compiled(self) -> Compiled:
        """The current snapshot (recompiled first when the store changed)."""
        c = self._compiled
        if c.version != self.store.version:
            self.refresh()
            c = self._compiled
        return c

    # ---- name resolution (explanations and reverse queries) -----------------------------------

    def _mesh_of(self, kind: str, name: str, index: dict[str, list[str]], mesh: Optional[str]) -> str:
        meshes = index.get(name, [])
        if mesh is not None:
            if mesh not in meshes:
                raise NotFoundError(f"no {kind} named {name!r} in mesh {mesh!r}")
            return mesh
        if not meshes:
            raise NotFoundError(f"no {kind} named {name!r}")
        if len(meshes) > 1:
            raise _input_error(f"{kind} {name!r} exists in meshes {sorted(meshes)}; pass mesh=")
        return meshes[0]

    def _require_mesh(self, c: Compiled, mesh: str) -> None:
        if mesh not in c.meshes:
            raise NotFoundError(f"no Mesh named {mesh!r}")

    def _client(self, source: Source, mesh: str) -> Any:
        """The core's client: None (non-mesh), a dataplane name, (mesh, dataplane) or
        (mesh, tag maps, identity pairs). Malformed sources are `InputError`s."""
        if source is NON_MESH:
            return None
        if isinstance(source, str):
            return source
        if isinstance(source, Resource):
            if source.type != "Dataplane":
                raise _input_error(f"a source must be a Dataplane, not {source.describe()}")
            return (source.mesh or "", source.name)
        if isinstance(source, Identity):
            return (mesh, [], _str_pairs(source.pairs(), "an Identity"))
        if isinstance(source, Mapping):
            if set(source) <= {"services", "tags"} and source:
                services = source.get("services") or []
                tags = source.get("tags") or {}
                if not isinstance(services, (list, tuple)) or not isinstance(tags, Mapping) or not all(
                    isinstance(v, (list, tuple)) for v in tags.values()
                ):
                    raise _input_error("an identity source is {'services': [names], 'tags': {key: [values]}}")
                ident = Identity(tuple(services), {k: tuple(v) for k, v in tags.items()})
                return (mesh, [], _str_pairs(ident.pairs(), "an identity source"))
            tags = dict(source)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
                raise _input_error("a tag-map source must map strings to strings")
            return (mesh, [tags], list(tags.items()))
        raise _input_error(
            f"unsupported source {source!r}: a dataplane name, Resource, NON_MESH, tag map or Identity"
        )

    # ---- decisions -----------------------------------------------------------------------------

    def check(
        self, *, source: Source, destination: Destination, mesh: Optional[str] = None
    ) -> TrafficDecision:
        """Decide `source` -> `destination` (§4.1 inbound with E4, §4.2 ExternalService).

        (Each engine replaces this method by its `_core.TrafficChecker`, which decides the common
        form in one call into Rust and defers to `_check_any` otherwise.)"""
        return self._check_any(source, destination, mesh)

    def _check_any(self, source: Source, destination: Destination, mesh: Optional[str]) -> TrafficDecision:
        if mesh is not None and not isinstance(mesh, str):
            raise _input_error(f"mesh must be a string, not {mesh!r}")
        c = self.compiled
        try:
            if type(destination) is tuple and (type(source) is str or source is NON_MESH):
                return c.core.check(None if source is NON_MESH else source, destination, mesh)  # type: ignore[no-any-return]
            return self._check(c, source, destination, mesh)
        except UnicodeError:  # a lone surrogate in a name: not text the core can read
            raise _input_error("names must be valid UTF-8 text (no lone surrogates)") from None

    def _check(self, c: Compiled, source: Source, destination: Destination, mesh: Optional[str]) -> TrafficDecision:
        core = c.core
        if isinstance(destination, (Inbound, tuple)):
            if isinstance(destination, tuple):
                if len(destination) != 2:
                    raise _input_error(f"a destination is (dataplane, port), not {destination!r}")
                name, port = destination
            else:
                name, port = destination.dataplane, destination.port
            if not isinstance(name, str):
                raise _input_error(f"the destination dataplane must be a string, not {name!r}")
            m = core.dataplane_mesh(name, mesh)
            return core.check_inbound(self._client(source, m), name, port, m)  # type: ignore[no-any-return]
        if isinstance(destination, Resource) and destination.type == "ExternalService":
            destination = ExternalServiceTarget(destination.name)
        if isinstance(destination, ExternalServiceTarget):
            m = core.external_service_mesh(destination.name, mesh)
            return core.check_external_service(  # type: ignore[no-any-return]
                self._client(source, m), destination.name, m, self.external_service_gating
            )
        raise _input_error(
            f"unsupported destination {destination!r}: (dataplane, port), Inbound(...) or "
            "ExternalServiceTarget(name)"
        )

    def check_batch(self, data: Any, *, threads: int = 1) -> _core.BatchResult:
        """Inbound decisions for many rows at once: see `meshauthz.batch.check_traffic`."""
        return check_traffic(self, data, threads=threads)

    @_text_only
    def explain(self, *, source: Source, destination: Destination, mesh: Optional[str] = None) -> Explanation:
        """The decision plus why: candidate TPs with ranks and per-tag outcomes, or the MTP item
        list with match flags (M6.1/M6.2) and Kuma's rule list (M6.4, capped)."""
        c = self.compiled
        decision = self._check(c, source, destination, mesh)
        target = decision.target
        if target["kind"] == "inbound":
            dp = c.dataplanes[(decision.mesh, target["dataplane"])]
            port = target["port"]
            target_tags = next(
                (
                    dict(i.get("tags") or {})
                    for i in (dp.body.get("networking") or {}).get("inbound") or []
                    if isinstance(i, Mapping) and i.get("port") == port
                ),
                None,
            )
            info = c.meshes[decision.mesh]
            if info.prometheus and info.prometheus[0] == port:
                target_tags = dict(info.prometheus[1])
            matcher = "identity"
        else:
            es = c.external_services[(decision.mesh, target["name"])]
            target_tags = dict(es.body.get("tags") or {})
            matcher = "identity" if c.meshes[decision.mesh].zone_egress else "dataplane"
        if decision.action is not None or decision.reason.startswith("mtp-"):
            return Explanation(decision, target_tags, "identity", (), self._explain_mtp(c, decision))
        client = self._client(source, decision.mesh)
        return explain_decision(decision, target_tags, c.policies.get(decision.mesh, []), client, c, matcher)

    def _explain_mtp(self, c: Compiled, decision: Any) -> MtpExplanation:
        """E6 / M7.5 explanation from the core: M4.9 order, M6.1 items with M6.2 flags, M6.4 rules."""
        mesh = decision.mesh
        refs: dict[tuple[str, int], dict[str, Any]] = {}
        for name in decision.matched_policies:
            for r in self.store.find("MeshTrafficPermission", name, mesh):
                for idx, f in enumerate(r.spec.get("from") or []):
                    if isinstance(f, Mapping):
                        refs[(name, idx)] = dict(f.get("targetRef") or {"kind": "Mesh"})
        items = []
        last = max((i for i, it in enumerate(decision.mtp_items()) if it[5]), default=None)
        for pos, (policy, idx, action, subset, matched, deciding) in enumerate(decision.mtp_items()):
            ref = refs.get((policy, idx), {"kind": "Mesh"})
            literal = ref.get("kind") == "MeshServiceSubset" and "*" in (ref.get("tags") or {}).values()
            items.append(MtpItem(pos, policy, idx, ref, action, tuple(subset), matched, deciding,
                                 matched and last is not None and pos < last, literal))
        rules, note = None, None
        try:
            raw = decision.mtp_rules()
            rules = None if raw is None else tuple((tuple(s), a) for s, a in raw)
        except MeshauthzError as e:  # M6.4 cap: the decision (M6.2) does not need the list
            note = f"not computed ({e})"
        return MtpExplanation(tuple(decision.matched_policies), tuple(items), rules, note, bool(decision.tie))

    @_text_only
    def select_policies(self, dataplane: str, mesh: Optional[str] = None) -> dict[int, Optional[str]]:
        """T3.7(a): the governing TP per inbound port (incl. the Prometheus inbound, T4.9)."""
        return {r.port: r.policy for r in self.inspect(dataplane, mesh=mesh).inbounds}

    @_text_only
    def inspect(self, dataplane: str, mesh: Optional[str] = None) -> Inspection:
        """Per inbound: its tags, the governing TP and the shadowed ones (T3.6), and the MTPs selecting it
        (MTP M4.9 order) with Kuma's rule list (M6.4, capped: a one-line note above the cap)."""
        _name_args(dataplane=dataplane, mesh=mesh)
        c = self.compiled
        m = self._mesh_of("Dataplane", dataplane, c.dp_meshes, mesh)
        self._require_mesh(c, m)
        rows = c.core.select_dataplane(m, dataplane)
        dp = c.dataplanes[(m, dataplane)]
        tags_by_port = {
            i.get("port"): dict(i.get("tags") or {})
            for i in (dp.body.get("networking") or {}).get("inbound") or []
            if isinstance(i, Mapping)
        }
        info = c.meshes[m]
        reports = []
        for port, prom, ranked in rows:
            tags = dict(info.prometheus[1]) if prom and info.prometheus else tags_by_port.get(port, {})
            policies = tuple(RankedPolicy(n, (e, w)) for n, e, w in ranked)
            mtps, rules, note = (  # MTP E6: MeshTrafficPermissions replace TP on this inbound (M7.1)
                self._inspect_mtp(c, m, dataplane, port) if not prom else ((), None, None)
            )
            reports.append(InboundReport(port, tags, prom, policies[0].name if policies else None, policies,
                                         mtps, rules, note))
        gw = (dp.body.get("networking") or {}).get("gateway")
        return Inspection(m, dataplane, tuple(reports), gateway=isinstance(gw, Mapping))

    def _inspect_mtp(
        self, c: Compiled, mesh: str, dataplane: str, port: int
    ) -> tuple[tuple[str, ...], Optional[tuple[tuple[tuple[str, ...], str], ...]], Optional[str]]:
        names = tuple(c.core.mtp_policies(mesh, dataplane, port))
        if not names:
            return (), None, None
        try:
            rules = c.core.mtp_rules(mesh, dataplane, port)
        except MeshauthzError as e:
            return names, None, f"not computed ({e})"
        return names, None if rules is None else tuple((tuple(s), a) for s, a in rules), None

    @_text_only
    def select_policy(self, *, external_service: str, mesh: Optional[str] = None) -> Optional[str]:
        """T4.5: the TP governing an ExternalService, or None."""
        ranked = self.rank_external_service(external_service, mesh=mesh)
        return ranked[0].name if ranked else None

    @_text_only
    def rank_external_service(self, name: str, mesh: Optional[str] = None) -> list[RankedPolicy]:
        _name_args(name=name, mesh=mesh)
        c = self.compiled
        m = c.core.external_service_mesh(name, mesh)
        return [RankedPolicy(n, (e, w)) for n, e, w in c.core.select_external_service(m, name)]

    @_text_only
    def reachable_external_services(self, client: Source, mesh: Optional[str] = None) -> list[str]:
        """ExternalServices `client` may use (T4.6/T4.7, M7.5), sorted by name."""
        _name_args(mesh=mesh)
        c = self.compiled
        if isinstance(client, str):
            m = c.core.dataplane_mesh(client, mesh)
        elif isinstance(client, Resource):
            m = client.mesh or ""
        elif mesh is not None:
            m = mesh
        else:
            raise _input_error("mesh= is required for a tag-map or identity client")
        return list(c.core.reachable_external_services(self._client(client, m), m, self.external_service_gating))

    @_text_only
    def who_can_reach(self, dataplane: str, port: int, mesh: Optional[str] = None) -> ClientSet:
        """Reverse query: which clients may reach inbound `port` (`traffic.reverse.ClientSet`)."""
        _name_args(dataplane=dataplane, mesh=mesh)
        return who_can_reach(self, dataplane, port, mesh)


__all__ = ["TrafficEngine", "SERVICE_TAG", "DEFAULT_MAX_RULES"]

registry.register_engine("traffic", TrafficEngine)  # bundles and pickles build it (meshauthz.bundle)
