"""Reverse traffic queries: which clients may reach an inbound (`who_can_reach`).

Part of the engine package (engines never import `analysis`; `meshauthz.analysis.traffic` re-exports
this module for formatting and the matrix).

The answer is derived from the compiled policy set, never by enumerating requests:

* the governing TrafficPermission (T3.5 winner) — every `sources[j]` becomes one term whose
  requirements are the selector's non-`'*'` pairs (T2.7 identity matcher);
* or, when a MeshTrafficPermission selects the inbound (E4 / M7.1), the M6.1 item list — every
  `Allow`/`AllowWithShadowDeny` item `i` becomes a term requiring its subset (M5.2) *unless* the
  client also holds every pair of some later `Deny` item (M6.2: the last matching item decides, so a
  client is allowed iff some allow item matches and no later deny item does);
* plus the mTLS cases of §4.1 (E0 not enforced, E1 mTLS off, E2 PERMISSIVE admits plaintext).

A `ClientSet` is therefore: `non_mesh` (plaintext callers admitted?) and a union of `ClientTerm`s
over certificate identities (the union of a client's inbound and gateway tags, T2.7 / M5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from ..errors import InputError, Problem
from .model import SERVICE_TAG, WILDCARD

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


def tp_terms(policy: Any) -> tuple[ClientTerm, ...]:
    """T2.7: a source selector requires its non-`'*'` pairs; `'*'` values impose nothing."""
    terms = []
    for j, entry in enumerate(policy.body.get("sources") or []):
        match = (entry.get("match") if isinstance(entry, Mapping) else None) or {}
        req = tuple(sorted((str(k), str(v)) for k, v in match.items() if v != WILDCARD))
        terms.append(ClientTerm(req, (), policy.name, j))
    return tuple(terms)


def mtp_terms(items: list[tuple[str, int, Pairs, str]]) -> tuple[ClientTerm, ...]:
    """M6.2 over the M6.1 item list (policy, from index, subset, action): allowed iff some allow
    item matches and no *later* Deny item matches. Terms emptied by a later deny whose requirements
    are a subset of theirs are dropped; so are duplicate exceptions."""
    terms = []
    for i, (pol, idx, req, action) in enumerate(items):
        if action not in ("Allow", "AllowWithShadowDeny"):
            continue
        later = []
        dead = False
        for _, _, d_req, d_action in items[i + 1:]:
            if d_action != "Deny":
                continue
            if set(d_req) <= set(req):
                dead = True  # every client of this item also matches the later deny
                break
            if d_req not in later:
                later.append(d_req)
        if not dead:
            # Keep only minimal exceptions (a superset of another exception adds nothing).
            minimal = tuple(u for u in later if not any(set(o) < set(u) for o in later))
            terms.append(ClientTerm(req, minimal, pol, idx, action))
    return tuple(terms)


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
        self, dataplane: str, port: int, mesh: Optional[str] = None, *, tp_rows: Optional[list[Any]] = None,
        with_clients: bool = True,
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
        everyone = (ClientTerm((), ()),)

        def done(basis: str, non_mesh: bool, terms: tuple[ClientTerm, ...], policies: tuple[str, ...] = (),
                 t: Optional[Mapping[str, str]] = None) -> ClientSet:
            cs = ClientSet(m, dataplane, port, t if t is not None else tags, basis, non_mesh, terms, policies)
            return self._with_clients(cs) if with_clients else cs

        # E0: gateways and the Prometheus inbound are not enforced (T4.3, T4.9, A10).
        if isinstance(net.get("gateway"), Mapping):
            return done(NOT_ENFORCED, True, everyone)
        if info.prometheus and info.prometheus[0] == port:
            return done(NOT_ENFORCED, True, everyone, t=info.prometheus[1])
        if inbound is None:
            return done(UNKNOWN_INBOUND, False, ())  # E0b
        if not info.mtls_enabled:
            return done(MTLS_DISABLED, True, everyone)  # E1
        non_mesh = info.permissive  # E2 (PERMISSIVE) vs E3 (STRICT)
        # E4 / M7.1: a selecting MTP replaces TP for this inbound.
        if m in c.mtp_meshes:
            names = list(c.core.mtp_policies(m, dataplane, port))  # M4, lowest priority first
            if names:
                items = [(p, j, tuple(sub), a) for p, j, sub, a in c.core.mtp_plan_items(m, dataplane, port)]
                return done(MESH_TRAFFIC_PERMISSION, non_mesh, mtp_terms(items), tuple(names))
        # E5-E7: the single winning TP (T3.5/T3.6); its sources, nothing else.
        rows = tp_rows if tp_rows is not None else c.core.select_dataplane(m, dataplane)
        ranked = next((r[2] for r in rows if r[0] == port and not r[1]), [])
        if not ranked:
            return done(NO_POLICY, non_mesh, ())
        winner = ranked[0][0]
        return done(TRAFFIC_PERMISSION, non_mesh, tp_terms(self._tps[(m, winner)]), (winner,))

    def _with_clients(self, cs: ClientSet) -> ClientSet:
        """Resolve the description against the mesh's existing dataplanes and services."""
        idents = self.identities(cs.mesh)
        allowed = {n for n, ident in idents.items() if cs.allows(ident)}
        by_service: dict[str, list[str]] = {}
        for n, ident in idents.items():
            for k, v in ident:
                if k == SERVICE_TAG:
                    by_service.setdefault(v, []).append(n)
        services = tuple(sorted(s for s, dps in by_service.items() if all(d in allowed for d in dps)))
        return ClientSet(cs.mesh, cs.dataplane, cs.port, cs.tags, cs.basis, cs.non_mesh, cs.terms, cs.policies,
                         tuple(sorted(allowed)), services)


def who_can_reach(engine: TrafficEngine, dataplane: str, port: int, mesh: Optional[str] = None) -> ClientSet:
    """Which clients may reach inbound `port` of `dataplane` (see module docstring)."""
    if not isinstance(port, int):
        raise InputError([Problem(f"port must be an integer, not {port!r}", file="<query>")])
    return TrafficAnalyzer(engine).who_can_reach(dataplane, port, mesh)
