"""`TrafficEngine`: TrafficPermission decisions over a ResourceStore (spec §3–§4).

Every decision is made by the Rust core (`_core.TrafficPolicySet`), compiled once per store
version; `refresh()` compiles a new set and swaps the reference atomically, so concurrent checks
always see one consistent snapshot. Errors never become an allow (fail closed).
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping, Optional, Union

from ..api import load
from ..errors import EvaluationError, InputError, MeshauthzError, NotFoundError, Problem
from ..loader import PathLike
from ..resource import Resource
from ..store import ResourceStore
from .compile import Compiled, compile_store
from .explain import (
    Explanation,
    InboundReport,
    Inspection,
    MtpExplanation,
    RankedPolicy,
    explain_decision,
    explain_mtp,
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
    dataplane_tag_maps,
)

GATINGS = ("legacy", "none")


def _input_error(message: str) -> InputError:
    return InputError([Problem(message, file="<query>")])


def _mapped(e: Exception) -> Exception:
    """A core exception as its meshauthz counterpart."""
    if isinstance(e, LookupError):
        return NotFoundError(str(e))
    if isinstance(e, ValueError):
        return _input_error(str(e))
    return EvaluationError(str(e))


def _call(fn: Any, *args: Any) -> Any:
    """Map core exceptions onto the meshauthz hierarchy (never swallowing: fail closed)."""
    try:
        return fn(*args)
    except (LookupError, ValueError, RuntimeError) as e:
        raise _mapped(e) from None


_NEW = object.__new__
_SET = object.__setattr__


def _decision(
    allowed: bool, reason: str, policy: Optional[str], mesh: str, target: dict[str, Any],
    matched_source: Optional[int] = None, shadowed: tuple[str, ...] = (), bypass_possible: bool = False,
    action: Optional[str] = None, from_index: Optional[int] = None, shadow_deny: bool = False,
    kuma_enforcement_divergence: bool = False, matched_policies: tuple[str, ...] = (),
) -> TrafficDecision:
    """`TrafficDecision(...)` without the frozen dataclass's per-field `object.__setattr__` calls (same fields,
    same instance dict: equality, hashing, repr and `dataclasses` helpers are unaffected)."""
    d = _NEW(TrafficDecision)
    _SET(d, "__dict__", {
        "allowed": allowed, "reason": reason, "policy": policy, "mesh": mesh, "target": target,
        "matched_source": matched_source, "shadowed": shadowed, "bypass_possible": bypass_possible,
        "action": action, "from_index": from_index, "shadow_deny": shadow_deny,
        "kuma_enforcement_divergence": kuma_enforcement_divergence, "matched_policies": matched_policies,
    })
    return d


# Outcomes of §4.1 E5–E7: where the E4 hook (a selecting MeshTrafficPermission) takes precedence.
_TP_REASONS = frozenset({"no-policy", "allowed", "source-not-matched"})
# §7 E6 reason codes (M6.2).
_MTP_REASONS = frozenset({"mtp-allow", "mtp-allow-shadow-deny", "mtp-deny", "mtp-no-match"})


class TrafficEngine:
    """Decisions for legacy TrafficPermission (+ ExternalService, Mesh mTLS, Dataplane tags).

    `external_service_gating`: `"legacy"` (TP-gated, default) or `"none"` (2.6+ routing, A6).
    """

    def __init__(self, store: ResourceStore, *, external_service_gating: str = "legacy"):
        if external_service_gating not in GATINGS:
            raise _input_error(
                f"external_service_gating must be one of {GATINGS}, not {external_service_gating!r}"
            )
        self.store = store
        self.external_service_gating = external_service_gating
        self._lock = threading.Lock()
        self._compiled: Compiled = compile_store(store)
        self._mtp: Any = None  # MtpEngine, built on first need (meshes with MeshTrafficPermissions)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        from ..bundle import reduce_engine

        return reduce_engine(self, "traffic", self.store, {"external_service_gating": self.external_service_gating})

    @classmethod
    def from_paths(
        cls, *paths: Union[PathLike, Iterable[PathLike]], external_service_gating: str = "legacy"
    ) -> TrafficEngine:
        flat: list[PathLike] = []
        for p in paths:
            flat.extend([p] if isinstance(p, (str, bytes)) or hasattr(p, "__fspath__") else p)  # type: ignore[arg-type]
        return cls(load(flat), external_service_gating=external_service_gating)

    def refresh(self) -> None:
        """Recompile from the store and swap the compiled set in one assignment."""
        with self._lock:
            compiled = compile_store(self.store)
            self._compiled = compiled

    @property
    def compiled(self) -> Compiled:
        c = self._compiled
        if c.version != self.store.version:
            self.refresh()
            c = self._compiled
        return c

    # ---- name resolution -------------------------------------------------------------------

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

    def _client(self, c: Compiled, source: Source, mesh: str) -> Any:
        """The core's client tuple: None (non-mesh), (mesh, dp) or (mesh, tag maps, pairs)."""
        if source is NON_MESH:
            return None
        if isinstance(source, Resource):
            if source.type != "Dataplane":
                raise _input_error(f"a source must be a Dataplane, not {source.describe()}")
            return (source.mesh or "", source.name)
        if isinstance(source, str):
            if mesh in c.dp_meshes.get(source, []):
                return (mesh, source)  # prefer the destination's mesh
            return (self._mesh_of("Dataplane", source, c.dp_meshes, None), source)
        if isinstance(source, Identity):
            return (mesh, [], source.pairs())
        if isinstance(source, Mapping):
            if (
                set(source) <= {"services", "tags"}
                and isinstance(source.get("services", []), (list, tuple))
                and all(isinstance(v, (list, tuple)) for v in (source.get("tags") or {}).values())
            ):
                ident = Identity(
                    tuple(source.get("services", ())),
                    {k: tuple(v) for k, v in (source.get("tags") or {}).items()},
                )
                return (mesh, [], ident.pairs())
            tags = dict(source)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
                raise _input_error("a tag-map source must map strings to strings")
            return (mesh, [tags], list(tags.items()))
        raise _input_error(
            f"unsupported source {source!r}: a dataplane name, Resource, NON_MESH, tag map or Identity"
        )

    def _destination(self, destination: Destination) -> Union[Inbound, ExternalServiceTarget]:
        if isinstance(destination, (Inbound, ExternalServiceTarget)):
            return destination
        if isinstance(destination, tuple) and len(destination) == 2 and isinstance(destination[1], int):
            return Inbound(str(destination[0]), destination[1])
        if isinstance(destination, Resource) and destination.type == "ExternalService":
            return ExternalServiceTarget(destination.name)
        raise _input_error(
            f"unsupported destination {destination!r}: (dataplane, port), Inbound(...) or "
            "ExternalServiceTarget(name)"
        )

    # ---- decisions ---------------------------------------------------------------------------

    def check(
        self, *, source: Source, destination: Destination, mesh: Optional[str] = None
    ) -> TrafficDecision:
        """Decide `source` -> `destination` (§4.1 inbound, §4.2 ExternalService)."""
        c = self._compiled
        if c.version != self.store.version:
            c = self.compiled
        # Fast path: (dataplane name, port) destination and a dataplane-name source, the common query.
        if (
            type(destination) is tuple
            and len(destination) == 2
            and type(destination[0]) is str
            and type(destination[1]) is int
            and type(source) is str
        ):
            name, port = destination
            meshes = c.dp_meshes.get(name)
            if mesh is None and meshes is not None and len(meshes) == 1:
                m = meshes[0]
            else:
                m = self._mesh_of("Dataplane", name, c.dp_meshes, mesh)
            if m not in c.meshes:
                raise NotFoundError(f"no Mesh named {m!r}")
            source_meshes = c.dp_meshes.get(source)
            client: Any = (m, source) if source_meshes is not None and m in source_meshes else \
                self._client(c, source, m)
            try:
                row = c.core.check_inbound(m, name, port, client)
            except (LookupError, ValueError, RuntimeError) as e:
                raise _mapped(e) from None
            target: dict[str, Any] = {"kind": "inbound", "dataplane": name, "port": port}
            if row[1] in _TP_REASONS and m in c.mtp_meshes:
                return self._mtp_or_tp(m, Inbound(name, port), client, row, target)
            allowed, reason, policy, matched, shadowed, bypass = row
            return _decision(allowed, reason, policy, m, target, matched, tuple(shadowed), bypass)
        dest = self._destination(destination)
        if isinstance(dest, Inbound):
            m = self._mesh_of("Dataplane", dest.dataplane, c.dp_meshes, mesh)
            self._require_mesh(c, m)
            client = self._client(c, source, m)
            row = _call(c.core.check_inbound, m, dest.dataplane, dest.port, client)
            target = {"kind": "inbound", "dataplane": dest.dataplane, "port": dest.port}
            if row[1] in _TP_REASONS and m in c.mtp_meshes:
                return self._mtp_or_tp(m, dest, client, row, target)
        else:
            m = self._mesh_of("ExternalService", dest.name, c.es_meshes, mesh)
            self._require_mesh(c, m)
            client = self._client(c, source, m)
            row = _call(c.core.check_external_service, m, dest.name, client, self.external_service_gating)
            target = {"kind": "external_service", "name": dest.name}
        allowed, reason, policy, matched, shadowed, bypass = row
        return _decision(allowed, reason, policy, m, target, matched, tuple(shadowed), bypass)

    def _mtp_or_tp(self, m: str, dest: Inbound, client: Any, row: Any, target: dict[str, Any]) -> TrafficDecision:
        mtp = self._mtp_decision(m, dest, client)
        if mtp is not None:  # E4 / T4.11 / M7.1: an MTP selects the inbound and replaces TP
            return _decision(
                mtp.allowed, mtp.reason, mtp.policy, m, target, None, (), False, mtp.action,
                mtp.from_index, mtp.shadow_deny, mtp.kuma_enforcement_divergence,
                tuple(mtp.matched_policies),
            )
        allowed, reason, policy, matched, shadowed, bypass = row
        return _decision(allowed, reason, policy, m, target, matched, tuple(shadowed), bypass)

    def check_batch(self, data: Any, *, threads: int = 1) -> Any:
        """Inbound decisions for many rows at once: see `meshauthz.batch.check_traffic`."""
        from ..batch import check_traffic

        return check_traffic(self, data, threads=threads)

    def _mtp_engine(self) -> Any:
        """The MtpEngine over the store, built on first need."""
        if self._mtp is None or self._mtp.store is not self.store:
            from ..mtp import MtpEngine

            self._mtp = MtpEngine(self.store)
        return self._mtp

    def _mtp_decision(self, mesh: str, dest: Inbound, client: Any) -> Any:
        """E4 hook: the MeshTrafficPermission decision for the inbound, or None if no MTP selects it."""
        self._mtp_engine()
        if isinstance(client, tuple) and len(client) == 2:  # (mesh, dataplane name)
            return _call(lambda: self._mtp.decide(client[1], dest.dataplane, dest.port, mesh=mesh))
        _, _, pairs = client  # an explicit identity: certificate (key, value) pairs (M5.1)
        return _call(lambda: self._mtp.decide_identity(list(pairs), dest.dataplane, dest.port, client_mesh=mesh,
                                                       mesh=mesh))

    def explain(self, *, source: Source, destination: Destination, mesh: Optional[str] = None) -> Explanation:
        """The decision plus why: candidate policies with ranks, per-tag outcomes of selectors."""
        decision = self.check(source=source, destination=destination, mesh=mesh)
        c = self.compiled
        dest = self._destination(destination)
        if isinstance(dest, Inbound):
            dp = c.dataplanes[(decision.mesh, dest.dataplane)]
            target_tags = next(
                (
                    dict(i.get("tags") or {})
                    for i in (dp.body.get("networking") or {}).get("inbound") or []
                    if i.get("port") == dest.port
                ),
                None,
            )
            info = c.meshes[decision.mesh]
            if info.prometheus and info.prometheus[0] == dest.port:
                target_tags = dict(info.prometheus[1])
            matcher = "identity"
        else:
            es = c.external_services[(decision.mesh, dest.name)]
            target_tags = dict(es.body.get("tags") or {})
            matcher = "identity" if c.meshes[decision.mesh].zone_egress else "dataplane"
        client = self._client(c, source, decision.mesh)
        if decision.action is not None or decision.reason in _MTP_REASONS:
            assert isinstance(dest, Inbound)
            return Explanation(decision, target_tags, "identity", (), self._explain_mtp(c, decision, dest, client))
        return explain_decision(decision, target_tags, c.policies.get(decision.mesh, []), client, c, matcher)

    def _explain_mtp(self, c: Compiled, decision: TrafficDecision, dest: Inbound, client: Any) -> MtpExplanation:
        """E6 explanation: M4.9 order, M6.1 item list with M6.2 matches, M6.4 rule list (guarded)."""
        m = decision.mesh
        raw = self._mtp_decision(m, dest, client)
        policies = [r for n in decision.matched_policies for r in self.store.find("MeshTrafficPermission", n, m)]
        pairs: Optional[set[tuple[str, str]]]
        if isinstance(client, tuple) and len(client) == 2:  # M5.1 / A11: union of all tags of the client DP
            dp = c.dataplanes.get(client)
            same_mesh = client[0] == m  # M5.4: another mesh's client matches no item
            pairs = {kv for t in dataplane_tag_maps(dp.body) for kv in t.items()} if dp and same_mesh else None
        else:
            pairs = {tuple(kv) for kv in client[2]}  # type: ignore[misc]
        rules, note = None, None
        try:
            rules = self._mtp_engine().select_rules(dest.dataplane, dest.port, mesh=m)
        except MeshauthzError as e:  # M6.4 size cap: the decision (M6.2) does not need the list
            note = f"not computed ({e})"
        return explain_mtp(decision, policies, pairs, rules, note, bool(raw is not None and raw.tie))

    def select_policies(self, dataplane: str, mesh: Optional[str] = None) -> dict[int, Optional[str]]:
        """T3.7(a): the governing TP per inbound port (incl. the Prometheus inbound, T4.9)."""
        return {r.port: r.policy for r in self.inspect(dataplane, mesh=mesh).inbounds}

    def inspect(self, dataplane: str, mesh: Optional[str] = None) -> Inspection:
        """Per inbound: its tags, the governing TP and the shadowed ones (T3.6), and the MTPs selecting it
        (MTP M4.9 order) with Kuma's rule list (M6.4)."""
        c = self.compiled
        m = self._mesh_of("Dataplane", dataplane, c.dp_meshes, mesh)
        self._require_mesh(c, m)
        rows = _call(c.core.select_dataplane, m, dataplane)
        dp = c.dataplanes[(m, dataplane)]
        tags_by_port = {
            i.get("port"): dict(i.get("tags") or {})
            for i in (dp.body.get("networking") or {}).get("inbound") or []
        }
        info = c.meshes[m]
        reports = []
        for port, prom, ranked in rows:
            tags = dict(info.prometheus[1]) if prom and info.prometheus else tags_by_port.get(port, {})
            policies = tuple(RankedPolicy(n, (e, w)) for n, e, w in ranked)
            mtps, rules, note = (  # MTP E6: MeshTrafficPermissions replace TP on this inbound (M7.1)
                self._inspect_mtp(m, dataplane, port) if m in c.mtp_meshes and not prom else ((), None, None)
            )
            reports.append(InboundReport(port, tags, prom, policies[0].name if policies else None, policies,
                                         mtps, rules, note))
        gw = (dp.body.get("networking") or {}).get("gateway")
        return Inspection(m, dataplane, tuple(reports), gateway=isinstance(gw, Mapping))

    def _inspect_mtp(
        self, mesh: str, dataplane: str, port: int
    ) -> tuple[tuple[str, ...], Optional[tuple[tuple[tuple[str, ...], str], ...]], Optional[str]]:
        """MTPs selecting one inbound (M4.9 order) and Kuma's rule list (M6.4, guarded by its size cap)."""
        mtp = self._mtp_engine()
        names = tuple(_call(lambda: mtp.matched_policies(dataplane, port, mesh=mesh)))
        if not names:
            return (), None, None
        try:
            rules = mtp.select_rules(dataplane, port, mesh=mesh)
        except MeshauthzError as e:
            return names, None, f"not computed ({e})"
        return names, None if rules is None else tuple((tuple(r.subset), r.action) for r in rules), None

    def select_policy(self, *, external_service: str, mesh: Optional[str] = None) -> Optional[str]:
        """T4.5: the TP governing an ExternalService, or None."""
        ranked = self.rank_external_service(external_service, mesh=mesh)
        return ranked[0].name if ranked else None

    def rank_external_service(self, name: str, mesh: Optional[str] = None) -> list[RankedPolicy]:
        c = self.compiled
        m = self._mesh_of("ExternalService", name, c.es_meshes, mesh)
        self._require_mesh(c, m)
        return [RankedPolicy(n, (e, w)) for n, e, w in _call(c.core.select_external_service, m, name)]

    def reachable_external_services(self, client: Source, mesh: Optional[str] = None) -> list[str]:
        """ExternalServices `client` may use (T4.6/T4.7), sorted by name."""
        c = self.compiled
        if isinstance(client, str):
            m = self._mesh_of("Dataplane", client, c.dp_meshes, mesh)
        elif isinstance(client, Resource):
            m = client.mesh or ""
        elif mesh is not None:
            m = mesh
        else:
            raise _input_error("mesh= is required for a tag-map or identity client")
        self._require_mesh(c, m)
        return list(
            _call(
                c.core.reachable_external_services, self._client(c, client, m), self.external_service_gating
            )
        )

    def who_can_reach(self, dataplane: str, port: int, mesh: Optional[str] = None) -> Any:
        """Reverse query: which clients may reach inbound `port` (analysis.traffic.ClientSet)."""
        from ..analysis.traffic import who_can_reach

        return who_can_reach(self, dataplane, port, mesh)


__all__ = ["TrafficEngine", "SERVICE_TAG"]
