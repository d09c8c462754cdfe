"""Decision diff between two policy versions (`meshauthz diff`).

Traffic: for every mesh of either version, the service matrix (analysis.matrix) is compared cell by
cell; a cell counts as changed when its value changes, or when it is `partial` on both sides but the
set of admitted (client dataplane, destination dataplane, port) triples differs. A service present
on one side only compares against `absent`. For every change the deciding policies (TP winner or
MTP, with their reason) of the cell's dataplane-level decisions are reported before and after.

RBAC (optional): every user x resource x action (CREATE, UPDATE with the same object as stored and
new, DELETE) of the given files, decided by both versions' AccessRoles/Bindings; a change is a
changed allowed/denied outcome, reported with the granting role/binding on each side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..rbac import Authorizer
from ..rbac.target import describe
from ..store import ResourceStore
from ..traffic import Inbound, TrafficEngine
from .matrix import VALUES, ServiceMatrix, service_matrix

ABSENT = "absent"
RBAC_ACTIONS = ("CREATE", "UPDATE", "DELETE")


@dataclass(frozen=True)
class TrafficChange:
    mesh: str
    source: str
    destination: str
    before: str
    after: str
    policies_before: tuple[str, ...]
    policies_after: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "traffic", "mesh": self.mesh, "source": self.source, "destination": self.destination,
                "before": self.before, "after": self.after, "policies_before": list(self.policies_before),
                "policies_after": list(self.policies_after)}


@dataclass(frozen=True)
class RbacChange:
    user: str
    groups: tuple[str, ...]
    action: str
    resource: str
    before: str
    after: str
    grant_before: Optional[str]
    grant_after: Optional[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "rbac", "user": self.user, "groups": list(self.groups), "action": self.action,
                "resource": self.resource, "before": self.before, "after": self.after,
                "grant_before": self.grant_before, "grant_after": self.grant_after}


@dataclass
class DiffReport:
    traffic: list[TrafficChange] = field(default_factory=list)
    rbac: list[RbacChange] = field(default_factory=list)
    pairs_compared: int = 0
    rbac_compared: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.traffic or self.rbac)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "pairs_compared": self.pairs_compared, "rbac_compared": self.rbac_compared,
                "traffic": [c.to_dict() for c in self.traffic], "rbac": [c.to_dict() for c in self.rbac]}

    def __str__(self) -> str:
        lines = []
        if self.traffic:
            rows = [("MESH", "SOURCE", "DESTINATION", "BEFORE", "AFTER", "POLICIES BEFORE", "POLICIES AFTER")]
            rows += [(c.mesh, c.source, c.destination, c.before, c.after, ",".join(c.policies_before) or "-",
                      ",".join(c.policies_after) or "-") for c in self.traffic]
            lines += _table(rows)
        if self.rbac:
            rows = [("USER", "ACTION", "RESOURCE", "BEFORE", "AFTER", "GRANT BEFORE", "GRANT AFTER")]
            rows += [(c.user, c.action, c.resource, c.before, c.after, c.grant_before or "-", c.grant_after or "-")
                     for c in self.rbac]
            lines += ([""] if lines else []) + _table(rows)
        lines.append(f"{len(self.traffic)} traffic and {len(self.rbac)} RBAC decision(s) changed "
                     f"({self.pairs_compared} service pairs, {self.rbac_compared} RBAC checks compared)")
        return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _deciders(engine: TrafficEngine, m: Optional[ServiceMatrix], src: str, dst: str) -> tuple[str, ...]:
    """`policy (reason)` of every dataplane-level decision of the cell, deduplicated, sorted."""
    if m is None:
        return ()
    out = set()
    for dp in m.src_dataplanes.get(src, []):
        for ib_dp, port in m.dst_inbounds.get(dst, []):
            d = engine.check(source=dp, destination=Inbound(ib_dp, port), mesh=m.mesh)
            out.add(f"{d.policy or '-'} ({d.reason})")
    return tuple(sorted(out))


def _cell(m: Optional[ServiceMatrix], src: str, dst: str) -> str:
    if m is None or src not in m.src_dataplanes or dst not in m.dst_inbounds:
        return ABSENT
    return m.value(src, dst)


def diff_traffic(before: ResourceStore, after: ResourceStore, report: Optional[DiffReport] = None) -> DiffReport:
    report = report or DiffReport()
    eb, ea = TrafficEngine(before), TrafficEngine(after)
    meshes = sorted(set(eb.compiled.meshes) | set(ea.compiled.meshes))
    for mesh in meshes:
        mb = service_matrix(eb, mesh) if mesh in eb.compiled.meshes else None
        ma = service_matrix(ea, mesh) if mesh in ea.compiled.meshes else None
        srcs = sorted({*(mb.sources if mb else []), *(ma.sources if ma else [])})
        dsts = sorted({*(mb.destinations if mb else []), *(ma.destinations if ma else [])})
        for s in srcs:
            for d in dsts:
                report.pairs_compared += 1
                b, a = _cell(mb, s, d), _cell(ma, s, d)
                if b == a and (b != VALUES[1] or mb.allowed_pairs(s, d) == ma.allowed_pairs(s, d)):  # type: ignore[union-attr]
                    continue
                report.traffic.append(TrafficChange(mesh, s, d, b, a, _deciders(eb, mb, s, d),
                                                    _deciders(ea, ma, s, d)))
    return report


def diff_rbac(before: ResourceStore, after: ResourceStore, users: list[Any], resources: list[dict[str, Any]],
              report: Optional[DiffReport] = None) -> DiffReport:
    report = report or DiffReport()
    ab, aa = Authorizer(before), Authorizer(after)
    for user in users:
        for res in resources:
            for action in RBAC_ACTIONS:
                old = res if action == "UPDATE" else None
                db, da = ab.check(user, action, res, old), aa.check(user, action, res, old)
                report.rbac_compared += 1
                if db.allowed != da.allowed:
                    report.rbac.append(RbacChange(
                        user.name, tuple(user.groups), action, describe_resource(res, describe),
                        "allow" if db.allowed else "deny", "allow" if da.allowed else "deny",
                        str(db.grant) if db.grant else None, str(da.grant) if da.grant else None))
    return report


def describe_resource(res: dict[str, Any], fallback: Any) -> str:
    meta = res.get("metadata") or {}
    name = res.get("name") or meta.get("name") or "?"
    mesh = res.get("mesh") or (meta.get("labels") or {}).get("kuma.io/mesh")
    return f"{res.get('type') or res.get('kind') or fallback(res)} {mesh + '/' if mesh else ''}{name}"
