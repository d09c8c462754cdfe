"""Structured explanations of traffic decisions and per-dataplane inspection, with text rendering.

The decision itself always comes from the Rust core; this module only re-derives, for display,
which selectors and tags matched (T2.2/T2.6/T2.7) and the ranks (T3.1) behind the selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..resource import Resource
from .model import (
    TrafficDecision,
    dataplane_tag_maps,
    identity_matches,
    rank_compare,
    rank_of,
    selector_matches,
)


@dataclass(frozen=True)
class TagCheck:
    key: str
    wanted: str
    actual: Optional[str]  # the target's value (map matcher) or "held"/None (identity matcher)
    ok: bool


@dataclass(frozen=True)
class SelectorCheck:
    index: int
    selector: dict[str, str]
    rank: tuple[int, int]
    matched: bool
    tags: tuple[TagCheck, ...]


@dataclass(frozen=True)
class PolicyExplanation:
    name: str
    creation_time: str
    rank: tuple[int, int]  # rank(P, T), T3.3
    destinations: tuple[SelectorCheck, ...]
    sources: tuple[SelectorCheck, ...] = ()  # evaluated for the winner only


@dataclass(frozen=True)
class Explanation:
    decision: TrafficDecision
    target_tags: Optional[dict[str, str]]
    matcher: str  # source matcher: identity (T2.7) or dataplane (T2.6)
    candidates: tuple[PolicyExplanation, ...]  # matching policies, winner first (T3.5)
    mtp: Optional[MtpExplanation] = None  # set when a MeshTrafficPermission decided (§7 E6, M7.1)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = {
            "decision": self.decision.to_dict(),
            "target_tags": self.target_tags,
            "matcher": self.matcher,
            "candidates": [asdict(p) for p in self.candidates],
        }
        if self.mtp is not None:
            out["mtp"] = self.mtp.to_dict()
        return out

    def __str__(self) -> str:
        d = self.decision
        t = d.target
        where = f"{t['dataplane']}:{t['port']}" if t["kind"] == "inbound" else f"external-service {t['name']}"
        lines = [
            f"{'ALLOW' if d.allowed else 'DENY'} {where} (mesh {d.mesh}): {d.reason}"
            + (f", policy {d.policy}" if d.policy else "")
        ]
        if self.target_tags is not None:
            lines.append(f"  target tags: {_fmt(self.target_tags)}")
        if self.mtp is not None:  # M7.1: TrafficPermissions are ignored for this inbound
            if d.from_index is not None:
                lines[0] += f" from[{d.from_index}] ({d.action})"
            if d.kuma_enforcement_divergence:
                lines.append("  note: Kuma's Envoy rules would admit this client (A3/A4); reported as DENY")
            return "\n".join(lines + self.mtp.lines())
        if not self.candidates:
            lines.append("  no TrafficPermission matches the target")
        for i, p in enumerate(self.candidates):
            role = "winner" if i == 0 else "shadowed"
            lines.append(
                f"  [{role}] {p.name} rank(exact={p.rank[0]}, wildcard={p.rank[1]}) created {p.creation_time}"
            )
            for s in p.destinations:
                lines.append(
                    f"    destinations[{s.index}] {_fmt(s.selector)}: "
                    f"{'match' if s.matched else 'no match'}{_tags(s)}"
                )
            for s in p.sources:
                lines.append(
                    f"    sources[{s.index}] {_fmt(s.selector)} ({self.matcher} matcher): "
                    f"{'match' if s.matched else 'no match'}{_tags(s)}"
                )
        if d.bypass_possible:
            lines.append("  note: passthrough is on; the external host may be reachable around the ES (T4.8)")
        return "\n".join(lines)


@dataclass(frozen=True)
class RankedPolicy:
    name: str
    rank: tuple[int, int]


@dataclass(frozen=True)
class InboundReport:
    port: int
    tags: dict[str, str]
    prometheus: bool  # T4.9: selected, never enforced (A10)
    policy: Optional[str]
    matching: tuple[RankedPolicy, ...] = ()  # most specific first; [1:] are shadowed (T3.6)
    # MeshTrafficPermissions selecting the inbound, lowest priority first (MTP M4.9); non-empty = they
    # decide and the TrafficPermissions above are ignored (MTP §7 E6, M7.1).
    mtps: tuple[str, ...] = ()
    mtp_rules: Optional[tuple[tuple[tuple[str, ...], str], ...]] = None  # Kuma's rule list (M6.4)
    mtp_rules_note: Optional[str] = None  # why mtp_rules is missing (size cap)

    @property
    def shadowed(self) -> tuple[RankedPolicy, ...]:
        return self.matching[1:]


@dataclass(frozen=True)
class Inspection:
    mesh: str
    dataplane: str
    inbounds: tuple[InboundReport, ...]
    gateway: bool = False
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh,
            "dataplane": self.dataplane,
            "gateway": self.gateway,
            "inbounds": [
                {
                    "port": r.port,
                    "tags": r.tags,
                    "prometheus": r.prometheus,
                    "policy": r.policy,
                    "shadowed": [p.name for p in r.shadowed],
                    "mtp_policies": list(r.mtps),
                    "mtp_rules": None
                    if r.mtp_rules is None
                    else [{"subset": list(sub), "action": a} for sub, a in r.mtp_rules],
                    "mtp_rules_note": r.mtp_rules_note,
                }
                for r in self.inbounds
            ],
        }

    def __str__(self) -> str:
        lines = [f"Dataplane {self.mesh}/{self.dataplane}"]
        if self.gateway:
            lines.append("  gateway: traffic into it is not enforced (T4.3)")
        for r in self.inbounds:
            extra = " [prometheus, not enforced]" if r.prometheus else ""
            if r.mtps:  # MTP E6 / M7.1
                lines.append(f"  inbound {r.port} {_fmt(r.tags)}{extra}: MeshTrafficPermission")
                lines.append("    MeshTrafficPermissions (lowest priority first, M4.9): " + ", ".join(r.mtps))
                if r.mtp_rules is not None:
                    lines.append("    Kuma rule list (M6.4):")
                    lines += [f"      {{{', '.join(sub)}}} -> {a}" for sub, a in r.mtp_rules] or ["      (none)"]
                elif r.mtp_rules_note:
                    lines.append(f"    Kuma rule list: {r.mtp_rules_note}")
                if r.policy:
                    lines.append(f"    ignored TrafficPermission: {r.policy} (M7.1)")
                continue
            lines.append(f"  inbound {r.port} {_fmt(r.tags)}{extra}: " + (r.policy or "no policy (deny)"))
            for p in r.shadowed:
                lines.append(f"    shadowed: {p.name} rank(exact={p.rank[0]}, wildcard={p.rank[1]})")
        return "\n".join(lines)


def _fmt(tags: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(tags.items())) + "}"


def _tags(s: SelectorCheck) -> str:
    bad = [c for c in s.tags if not c.ok]
    if not bad:
        return ""
    return (
        " (failed: "
        + ", ".join(f"{c.key}={c.wanted} vs {c.actual if c.actual is not None else 'missing'}" for c in bad)
        + ")"
    )


def _map_check(i: int, sel: dict[str, str], tags: Mapping[str, str]) -> SelectorCheck:
    # T2.2 per tag, decided by the core's matcher (display only: the decision is the core's).
    checks = tuple(TagCheck(k, v, tags.get(k), selector_matches({k: v}, tags)) for k, v in sorted(sel.items()))
    return SelectorCheck(i, sel, tuple(rank_of(sel)), all(c.ok for c in checks), checks)


def _identity_check(i: int, sel: dict[str, str], pairs: set[tuple[str, str]]) -> SelectorCheck:
    # T2.7: the client holds a set of (key, value) pairs; show the values it holds for the key.
    def held(k: str) -> Optional[str]:
        values = sorted(val for key, val in pairs if key == k)
        return ",".join(values) if values else None

    # T2.7 per tag, decided by the core's matcher.
    checks = tuple(TagCheck(k, v, held(k), identity_matches({k: v}, pairs)) for k, v in sorted(sel.items()))
    return SelectorCheck(i, sel, tuple(rank_of(sel)), all(c.ok for c in checks), checks)


def _selectors(r: Resource, key: str) -> list[dict[str, str]]:
    return [dict((e or {}).get("match") or {}) for e in r.body.get(key) or []]


def explain_decision(
    decision: TrafficDecision,
    target_tags: Optional[dict[str, str]],
    policies: list[Resource],
    client: Any,
    compiled: Any,
    matcher: str,
) -> Explanation:
    order = ([decision.policy] if decision.policy else []) + list(decision.shadowed)
    by_name = {r.name: r for r in policies}
    if target_tags is None or decision.reason in ("not-gated",):
        order = []
    maps: list[dict[str, str]] = []
    pairs: set[tuple[str, str]] = set()
    if isinstance(client, str):  # a dataplane name: the core resolved it in the decision's mesh
        client = (decision.mesh, client)
    if isinstance(client, tuple) and len(client) == 2:
        dp = compiled.dataplanes.get(client)
        maps = dataplane_tag_maps(dp.body) if dp is not None else []
        pairs = {kv for m in maps for kv in m.items()}
    elif isinstance(client, tuple):
        maps, pairs = list(client[1]), set(map(tuple, client[2]))
    out = []
    for n, name in enumerate(order):
        r = by_name.get(name)
        if r is None:
            continue
        dests = tuple(
            _map_check(i, s, target_tags or {}) for i, s in enumerate(_selectors(r, "destinations"))
        )
        ranks = [s.rank for s in dests if s.matched]
        best = ranks[0] if ranks else (0, 0)
        for rk in ranks[1:]:
            if rank_compare(rk, best) > 0:
                best = rk
        srcs: tuple[SelectorCheck, ...] = ()
        if n == 0 and decision.reason in ("allowed", "source-not-matched"):
            if matcher == "identity":
                srcs = tuple(_identity_check(i, s, pairs) for i, s in enumerate(_selectors(r, "sources")))
            else:  # T2.6: best single map per selector
                srcs = tuple(
                    max((_map_check(i, s, m) for m in maps or [{}]), key=lambda c: sum(t.ok for t in c.tags))
                    for i, s in enumerate(_selectors(r, "sources"))
                )
        out.append(PolicyExplanation(name, r.creation_time.isoformat(), tuple(best), dests, srcs))
    return Explanation(decision, target_tags, matcher, tuple(out))


# ---- MeshTrafficPermission (meshtrafficpermission.md M4.9, M6.1, M6.2, M6.4) --------------------

@dataclass(frozen=True)
class MtpItem:
    """One `from` item of the M6.1 list, in list order."""

    position: int  # index in the concatenated M6.1 list
    policy: str
    from_index: int  # index inside the policy's `from`
    target_ref: dict[str, Any]
    action: str
    subset: tuple[tuple[str, str], ...]  # M5.2 requirements; () = everyone
    matched: bool  # M5.3 against the client's identity I(C)
    deciding: bool = False  # M6.2: the last matching item
    overridden: bool = False  # an earlier matching item, overridden by a later one (§9)
    literal_wildcard: bool = False  # A5: a `*` in `from` matches no real client


@dataclass(frozen=True)
class MtpExplanation:
    """Why a MeshTrafficPermission decided an inbound (E6 of §7)."""

    policies: tuple[str, ...]  # MTPs selecting the inbound, lowest priority first (M4.9)
    items: tuple[MtpItem, ...]  # M6.1 list with M6.2 match flags
    rules: Optional[tuple[tuple[tuple[str, ...], str], ...]]  # M6.4 (subset, action); None = see note
    rules_note: Optional[str] = None
    tie: bool = False  # A2

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": list(self.policies),
            "items": [
                {
                    "position": i.position,
                    "policy": i.policy,
                    "from_index": i.from_index,
                    "target_ref": i.target_ref,
                    "action": i.action,
                    "subset": [list(kv) for kv in i.subset],
                    "matched": i.matched,
                    "deciding": i.deciding,
                    "overridden": i.overridden,
                    "literal_wildcard": i.literal_wildcard,
                }
                for i in self.items
            ],
            "rules": None if self.rules is None else [{"subset": list(s), "action": a} for s, a in self.rules],
            "rules_note": self.rules_note,
            "tie": self.tie,
        }

    def lines(self) -> list[str]:
        out = ["  MeshTrafficPermissions selecting the inbound (lowest priority first, M4.9):"]
        out += [f"    {n + 1}. {name}" for n, name in enumerate(self.policies)]
        if self.tie:
            out.append("    note: equal priority after M4.9; ordered by name, then document order (A2)")
        out.append("  from items in evaluation order (the last matching item decides, M6.2):")
        for i in self.items:
            mark = "decides" if i.deciding else "overridden" if i.overridden else "match" if i.matched else "no match"
            sub = "{" + ", ".join(f"{k}: {v}" for k, v in i.subset) + "}"
            ref = i.target_ref.get("kind", "Mesh")
            out.append(f"    [{i.position}] {i.policy} from[{i.from_index}] {ref} {sub} -> {i.action}: {mark}")
            if i.literal_wildcard:
                out.append("        note: '*' is literal in from items; it matches no real client (A5)")
        if self.rules is not None:
            out.append("  Kuma rule list (M6.4, first containing rule applies):")
            out += [f"    {{{', '.join(s)}}} -> {a}" for s, a in self.rules] or ["    (none)"]
        elif self.rules_note:
            out.append(f"  Kuma rule list: {self.rules_note}")
        return out
