"""Reverse traffic queries: which clients may reach an inbound (`who_can_reach`).

Part of the engine package (engines never import `analysis`; `meshauthz.analysis.traffic` re-exports
this module for formatting and the matrix).

The core computes the answer (`_core.TrafficSnapshot.client_set`, rust/core/src/traffic/reverse.rs)
from the compiled snapshot; this module only formats it:

* the governing TrafficPermission (T3.5 winner) — every `sources[j]` becomes one term whose
  requirements are the selector's non-`'*'` pairs (T2.7 identity matcher);
* or, when a MeshTrafficPermission selects the inbound (E4 / M7.1), the M6.1 item list — every
  `Allow`/`AllowWithShadowDeny` item `i` becomes a term requiring its subset (M5.2) *unless* the
  client also holds every pair of some later `Deny` item (M6.2: the last matching item decides, so a
  client is allowed iff some allow item matches and no later deny item does);
* plus the mTLS cases of §4.1 (E0 not enforced, E1 mTLS off, E2 PERMISSIVE admits plaintext).

A `ClientSet` is therefore: `non_mesh` (plaintext callers admitted?) and a union of `ClientTerm`s
over certificate identities (the union of a client's inbound and gateway tags, T2.7 / M5.1). The
admitted dataplanes are decided by the core's `check` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from ..errors import InputError, Problem

if TYPE_CHECKING:  # pragma: no cover
    from .engine import TrafficEngine

Pair = tuple[str, str]
Pairs = tuple[Pair, ...]

# ClientSet.basis values: which §4.1 row produced the answer.
NOT_ENFORCED = "not-enforced"  # E0: gateway or Prometheus inbound
UNKNOWN_INBOUND = "unknown-inbound"  # E0b
MTLS_DISABLED = "mtls-disabled"  # E1
NO_POLICY = "no-policy"  # E5 / MTP E4
TRAFFIC_PERMISSION = "traffic-permission"  # E5-E7: the winning TP's sources
MESH_TRAFFIC_PERMISSION = "mesh-traffic-permission"  # E4 -> M6.2 over the item list


def _fmt(pairs: Pairs) -> str:
    return ",".join(f"{k}={v}" for k, v in pairs) if pairs else "*"


@dataclass(frozen=True)
class ClientTerm:
    """Mesh clients holding every pair of `require`, except those holding every pair of one of the
    `unless` sets. `policy`/`index`: the TP source index or the MTP `from` index it comes from."""

    require: Pairs
    unless: tuple[Pairs, ...] = ()
    policy: Optional[str] = None
    index: Optional[int] = None
    action: Optional[str] = None  # MTP: Allow | AllowWithShadowDeny; TP: None

    def matches(self, identity: frozenset[Pair]) -> bool:
        return all(p in identity for p in self.require) and not any(
            all(p in identity for p in u) for u in self.unless
        )

    def shape(self) -> tuple[Pairs, tuple[Pairs, ...]]:
        return (self.require, self.unless)

    def __str__(self) -> str:
        s = _fmt(self.require)
        if self.unless:
            s += " except " + " | ".join(_fmt(u) for u in self.unless)
        return s

    def to_dict(self) -> dict[str, Any]:
        return {
            "require": dict(self.require) if len({k for k, _ in self.require}) == len(self.require)
            else [list(p) for p in self.require],
            "unless": [[list(p) for p in u] for u in self.unless],
            "policy": self.policy,
            "index": self.index,
            "action": self.action,
        }


@dataclass(frozen=True)
class ClientSet:
    """Who may reach one inbound. A mesh client of the same mesh is admitted iff some term matches
    its certificate identity; a plaintext (non-mesh) client iff `non_mesh`."""

    mesh: str
    dataplane: str
    port: int
    tags: Mapping[str, str]
    basis: str
    non_mesh: bool
    terms: tuple[ClientTerm, ...]
    policies: tuple[str, ...] = ()  # the governing TP, or the selecting MTPs lowest priority first
    dataplanes: tuple[str, ...] = ()  # existing dataplanes of the mesh admitted
    services: tuple[str, ...] = ()  # services all of whose dataplanes are admitted

    @property
    def everyone(self) -> bool:
        return any(not t.require and not t.unless for t in self.terms)

    def allows(self, identity: Iterable[Pair]) -> bool:
        """Decision for a mesh client with these certificate (key, value) pairs."""
        ident = frozenset(identity)
        return any(t.matches(ident) for t in self.terms)

    def shape(self) -> tuple[bool, tuple[Any, ...]]:
        """A canonical key: two inbounds with equal shapes admit exactly the same clients."""
        if self.everyone:
            return (self.non_mesh, (((), ()),))
        return (self.non_mesh, tuple(sorted({t.shape() for t in self.terms})))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh, "dataplane": self.dataplane, "port": self.port, "tags": dict(self.tags),
            "basis": self.basis, "non_mesh": self.non_mesh, "mesh_clients": self.summary(),
            "terms": [t.to_dict() for t in self.terms], "policies": list(self.policies),
            "dataplanes": list(self.dataplanes), "services": list(self.services),
        }

    def summary(self) -> str:
        return "all" if self.everyone else ("none" if not self.terms else "some")

    def __str__(self) -> str:
        lines = [
            f"{self.dataplane}:{self.port} (mesh {self.mesh}) — {self.basis}"
            + (f" [{', '.join(self.policies)}]" if self.policies else ""),
            f"  non-mesh (plaintext) clients: {'allowed' if self.non_mesh else 'denied'}",
            f"  mesh clients: {self.summary()}",
        ]
        if self.terms and not self.everyone:
            w = max(len("CLIENTS HOLDING"), *(len(str(t)) for t in self.terms))
            lines.append(f"  {'CLIENTS HOLDING':<{w}}  FROM")
            for t in self.terms:
                src = f"{t.policy}" + (f" [{t.index}]" if t.index is not None else "")
                src += f" {t.action}" if t.action else ""
                lines.append(f"  {str(t):<{w}}  {src}")
        lines.append(f"  services: {', '.join(self.services) or '-'}")
        lines.append(f"  dataplanes: {', '.join(self.dataplanes) or '-'}")
        return "\n".join(lines)


def identity_of(body: Mapping[str, Any]) -> frozenset[Pair]:
    """T2.7 / M5.1: the union of all inbound tags (ignored ones too, A11) and gateway tags."""
    net = body.get("networking") or {}
    pairs: set[Pair] = set()
    for ib in net.get("inbound") or []:
        if isinstance(ib, Mapping):
            pairs.update((str(k), str(v)) for k, v in (ib.get("tags") or {}).items())
    gw = net.get("gateway")
    if isinstance(gw, Mapping):
        pairs.update((str(k), str(v)) for k, v in (gw.get("tags") or {}).items())
    return frozenset(pairs)


class TrafficAnalyzer:
    """Reverse queries over one `TrafficEngine` snapshot; the MTP item lists (M6.1, with their M5.2
    subsets) come from the core's compiled plans."""

    def __init__(self, engine: TrafficEngine):
        self.engine = engine
        self.c = engine.compiled
        self._tps: dict[tuple[str, str], Any] = {
            (m, r.name): r for m, rs in self.c.policies.items() for r in rs
        }
        self._identities: dict[str, dict[str, frozenset[Pair]]] = {}

    def identities(self, mesh: str) -> dict[str, frozenset[Pair]]:
        """Dataplane name -> certificate identity, for the dataplanes of `mesh`."""
        got = self._identities.get(mesh)
        if got is None:
            got = {name: identity_of(r.body) for (m, name), r in self.c.dataplanes.items() if m == mesh}
            self._identities[mesh] = got
        return got

    def who_can_reach(
        self, dataplane: str, port: int, mesh: Optional[str] = None, *, with_clients: bool = True,
    ) -> ClientSet:
        c = self.c
        m = self.engine._mesh_of("Dataplane", dataplane, c.dp_meshes, mesh)
        self.engine._require_mesh(c, m)
        info = c.meshes[m]
        body = c.dataplanes[(m, dataplane)].body
        net = body.get("networking") or {}
        inbound = next(
            (i for i in net.get("inbound") or [] if isinstance(i, Mapping) and i.get("port") == port), None
        )
        tags = dict(inbound.get("tags") or {}) if inbound is not None else {}
        # The core answers (§4.1 rows, the deciding TP's sources or the M6.1 items, M6.2), and
        # decides every dataplane of the mesh against the inbound with `check` itself.
        basis, non_mesh, raw, policies, admitted, services = c.core.client_set(m, dataplane, port, with_clients)
        terms = tuple(
            ClientTerm(tuple(map(tuple, req)), tuple(tuple(map(tuple, u)) for u in unless), pol, idx, action)
            for req, unless, pol, idx, action in raw
        )
        if basis == NOT_ENFORCED and info.prometheus and info.prometheus[0] == port:
            tags = dict(info.prometheus[1])
        return ClientSet(m, dataplane, port, tags, basis, non_mesh, terms, tuple(policies), tuple(admitted),
                         tuple(services))


def who_can_reach(engine: TrafficEngine, dataplane: str, port: int, mesh: Optional[str] = None) -> ClientSet:
    """Which clients may reach inbound `port` of `dataplane` (see module docstring)."""
    if type(port) is not int or not 0 <= port < 2**32:
        raise InputError([Problem(f"port must be an integer between 0 and 2**32 - 1, not {port!r}", file="<query>")])
    return TrafficAnalyzer(engine).who_can_reach(dataplane, port, mesh)
