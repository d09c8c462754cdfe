"""Traffic lint (codes T001-T011, docs/semantics.md "Traffic lint (T0xx)"): TrafficPermissions that
never decide anything, selectors that match nothing, rules that hide each other (issue #16).

Everything is read from the core's compiled snapshot, never by deciding every (client, inbound)
pair here:

* `select_dataplane` gives, per inbound, the matching TrafficPermissions most specific first
  (T3.5: the first one is the winner) with their ranks (T3.1);
* `client_set(..., with_admitted=False)` gives the winner's sources as client terms (T2.7), and
  `mtp_plan_items` an MTP-selected inbound's M6.1 item list;
* `reachable_external_services` decides, per client dataplane, which ExternalServices it gets.

Which existing dataplanes a term admits is answered by an inverted index over their certificate
identities (pair -> dataplanes; intersections of posting lists), so the cost is the size of the
compiled sets, not clients x inbounds. tests/traffic_lint_reference.py checks the findings against
brute force over all pairs (`engine.check`).

Only meshes with mTLS on are linted for inbound findings (T001-T003 destinations aside, T006-T011):
with mTLS off no policy is consulted at an inbound (E1) and T004 says so once per policy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..findings import Finding
from ..resource import Resource
from .reverse import identity_of

if TYPE_CHECKING:  # pragma: no cover
    from .engine import TrafficEngine

Pair = tuple[str, str]

# code -> (severity, one-line description); the severity is the one every finding of the code has.
RULES: dict[str, tuple[str, str]] = {
    "T001": ("warning", "dead TrafficPermission: never the selected policy of an existing inbound (T3.3-T3.5)"),
    "T002": ("warning", "selected TrafficPermission whose sources admit no existing client (T3.6)"),
    "T003": ("warning", "sources / destinations entry matching no dataplane (typo?)"),
    "T004": ("warning", "policy in a mesh with mTLS off: decides nothing at inbounds (E1)"),
    "T005": ("info", "policy in a PERMISSIVE mesh: plaintext clients bypass it (E2)"),
    "T006": ("warning", "MeshTrafficPermission from item that never decides for an existing client (M6.2)"),
    "T007": ("error", "Allow item made dead by a later Deny item (M6.2)"),
    "T008": ("warning", "inbound selected by MeshTrafficPermissions and TrafficPermissions: TPs ignored (M7.1)"),
    "T009": ("error", "ExternalService no client may reach under the mesh's gating (T4.6, T4.7, TP A6)"),
    "T010": ("info", "narrower TrafficPermission takes destinations over from an allow-all (T3.6)"),
    "T011": ("warning", "wildcard destination selector outranks one with more exact tags (T3.2)"),
}
ALLOW_ACTIONS = ("Allow", "AllowWithShadowDeny")
SHOW = 3  # names listed in one evidence string


def _names(items: Iterable[str], n: int = SHOW) -> str:
    items = sorted(items)
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def _finding(code: str, msg: str, res: Resource, path: tuple[Any, ...] = ()) -> Finding:
    mark = res.mark(path)
    return Finding(
        code, RULES[code][0], msg, res.describe(),
        res.document.file if res.document else "<objects>",
        mark[0] if mark else None,
        ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "["),
        res.document.index if res.document else None,
    )


class PairIndex:
    """Inverted index over sets of (key, value) pairs: which ids hold every pair of a selector."""

    def __init__(self, items: Mapping[Any, Iterable[Pair]]):
        self.all = frozenset(items)
        self.by_pair: dict[Pair, set[Any]] = defaultdict(set)
        self.by_key: dict[str, set[Any]] = defaultdict(set)
        for ident, pairs in items.items():
            for k, v in pairs:
                self.by_pair[(k, v)].add(ident)
                self.by_key[k].add(ident)

    def _meet(self, sets: list[set[Any]]) -> set[Any]:
        if not sets:
            return set(self.all)
        sets.sort(key=len)
        out = set(sets[0])
        for s in sets[1:]:
            if not out:
                break
            out &= s
        return out

    def holding(self, pairs: Iterable[Pair]) -> set[Any]:
        """T2.7: ids holding every pair (`'*'` values are not passed: they demand nothing)."""
        return self._meet([self.by_pair.get(p, set()) for p in pairs])

    def map_matching(self, selector: dict[str, str]) -> set[Any]:
        """T2.2 over tag maps: every key present, value equal or `'*'` (T2.5)."""
        return self._meet([self.by_key.get(k, set()) if v == "*" else self.by_pair.get((k, v), set())
                           for k, v in selector.items()])


def _required(selector: dict[str, str]) -> list[Pair]:
    return [(k, v) for k, v in selector.items() if v != "*"]


def _entries(res: Resource, key: str) -> list[dict[str, str]]:
    out = []
    for e in res.body.get(key) or []:
        m = e.get("match") if isinstance(e, dict) else None
        out.append(dict(m) if isinstance(m, dict) else {})
    return out


def _is_allow_all(res: Resource) -> bool:
    """`'*'` -> `'*'`: some source and some destination entry demand nothing (all values `'*'`)."""
    return any(all(v == "*" for v in m.values()) for m in _entries(res, "sources")) and any(
        all(v == "*" for v in m.values()) for m in _entries(res, "destinations"))


@dataclass
class _TpStats:
    matched: list[tuple[str, int]] = field(default_factory=list)  # inbounds it matches (not Prometheus)
    lost_to: dict[str, tuple[str, int]] = field(default_factory=dict)  # winner -> an inbound
    decides: list[tuple[str, int]] = field(default_factory=list)  # inbounds it decides (winner, no MTP)
    ignored: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # winner, MTP takes over
    es_winner: list[str] = field(default_factory=list)


def _rank_text(e: int, w: int) -> str:
    return f"({e},{w})"


def lint_traffic(engine: TrafficEngine) -> list[Finding]:
    """Findings T001-T011 over the engine's current snapshot (meshes in name order)."""
    c = engine.compiled
    core = c.core
    gating = engine.external_service_gating
    out: list[Finding] = []
    mtps_by_mesh: dict[str, list[Resource]] = defaultdict(list)
    for r in engine.store.list("MeshTrafficPermission"):
        mtps_by_mesh[r.mesh or ""].append(r)
    mtp_by_name = {(r.mesh, r.name): r for rs in mtps_by_mesh.values() for r in rs}
    for m in sorted(c.meshes):
        info = c.meshes[m]
        tps = c.policies.get(m, [])
        dps = sorted(n for (mm, n) in c.dataplanes if mm == m)
        identities = {n: identity_of(c.dataplanes[(m, n)].body) for n in dps}
        clients = PairIndex(identities)
        ess = sorted(n for (mm, n) in c.external_services if mm == m)

        # Destination tag maps (T3.7): inbounds, the Prometheus inbound, ExternalServices.
        maps: dict[Any, list[Pair]] = {}
        for n in dps:
            for i, ib in enumerate((c.dataplanes[(m, n)].body.get("networking") or {}).get("inbound") or []):
                if isinstance(ib, dict):
                    maps[("dp", n, i)] = [(str(k), str(v)) for k, v in (ib.get("tags") or {}).items()]
        if info.prometheus and dps:
            maps[("prometheus",)] = list(info.prometheus[1].items())
        for n in ess:
            es_tags = c.external_services[(m, n)].body.get("tags") or {}
            maps[("es", n)] = [(str(k), str(v)) for k, v in es_tags.items()]
        targets = PairIndex(maps)

        # T003: entries matching no dataplane (sources: T2.7 identities; destinations: T2.2 maps).
        for r in tps:
            for j, sel in enumerate(_entries(r, "sources")):
                if not clients.holding(_required(sel)):
                    out.append(_finding("T003", f"sources[{j}] {_sel(sel)} matches none of the {len(dps)} "
                                        f"dataplanes of mesh {m!r} (T2.7)", r, ("sources", j, "match")))
            for j, sel in enumerate(_entries(r, "destinations")):
                if not targets.map_matching(sel):
                    out.append(_finding("T003", f"destinations[{j}] {_sel(sel)} matches no inbound or "
                                        f"ExternalService of the {len(dps)} dataplanes and {len(ess)} "
                                        f"ExternalServices of mesh {m!r} (T2.2)", r, ("destinations", j, "match")))

        # ExternalService selection (T4.5): which TP gates which ES.
        stats: dict[str, _TpStats] = {r.name: _TpStats() for r in tps}
        for n in ess:
            ranked = core.select_external_service(m, n)
            if ranked:
                stats[ranked[0][0]].es_winner.append(n)

        # T004 / T005: mTLS off or PERMISSIVE.
        if not info.mtls_enabled:
            for r in tps:
                st = stats[r.name]
                if gating == "legacy" and st.es_winner:
                    continue  # it gates ExternalServices regardless of mTLS (T4.6, TP A6)
                out.append(_finding("T004", f"mesh {m!r} has mTLS off: every inbound admits everyone without "
                                    "consulting it (E1)", r))
            for r in sorted(mtps_by_mesh.get(m, []), key=lambda r: r.name):
                out.append(_finding("T004", f"mesh {m!r} has mTLS off: every inbound admits everyone without "
                                    "consulting it (E1)", r))
        elif info.permissive:
            for r in [*tps, *sorted(mtps_by_mesh.get(m, []), key=lambda r: r.name)]:
                out.append(_finding("T005", f"mesh {m!r} mTLS is PERMISSIVE: plaintext clients reach its "
                                    "inbounds without it being consulted (E2)", r))

        # T009: ExternalServices no client may reach (the core decides per client dataplane).
        if gating == "legacy" and ess:
            reached: set[str] = set()
            for n in dps:
                reached.update(core.reachable_external_services((m, n), m, gating))
                if len(reached) == len(ess):
                    break
            for n in ess:
                if n not in reached:
                    st_win = core.select_external_service(m, n)
                    why = (f"its selected TrafficPermission {st_win[0][0]!r} admits none of them" if st_win
                           else "no TrafficPermission selects it (T4.5)")
                    out.append(_finding("T009", f"none of the {len(dps)} dataplanes of mesh {m!r} may reach it: "
                                        f"{why}", c.external_services[(m, n)]))

        if not info.mtls_enabled:
            continue

        # Inbound selection (T3.5) and the MTP takeover (E4 / M7.1).
        has_mtp = m in c.mtp_meshes
        allow_all = {r.name for r in tps if _is_allow_all(r)}
        takeover: dict[str, dict[str, tuple[str, int]]] = defaultdict(dict)  # winner -> allow-all -> inbound
        outranks: dict[str, dict[str, tuple[tuple[str, int], tuple[int, int], tuple[int, int]]]] = defaultdict(dict)
        items: dict[tuple[str, int], dict[str, Any]] = {}
        for n in dps:
            for port, prom, ranked in core.select_dataplane(m, n):
                if prom:
                    continue  # E0: the Prometheus inbound is not enforced
                mtp_names = core.mtp_policies(m, n, port) if has_mtp else []
                if mtp_names:
                    _mtp_items(core, clients, m, n, port, items)
                if not ranked:
                    continue
                win, we, ww = ranked[0]
                for name, _e, _w in ranked:
                    stats[name].matched.append((n, port))
                    if name != win:
                        stats[name].lost_to.setdefault(win, (n, port))
                if mtp_names:
                    stats[win].ignored[(n, port)] = mtp_names
                    continue
                stats[win].decides.append((n, port))
                for name, e, w in ranked[1:]:
                    if name in allow_all and win not in allow_all:
                        takeover[win].setdefault(name, (n, port))
                    if e > we and (e + w) < (we + ww):
                        outranks[win].setdefault(name, ((n, port), (we, ww), (e, w)))

        for r in tps:
            st = stats[r.name]
            if not st.decides and not (gating == "legacy" and st.es_winner):
                if not st.matched:
                    why = (f"its destinations match none of the inbounds of the {len(dps)} dataplanes of mesh "
                           f"{m!r} (T3.3)")
                elif st.ignored and not st.lost_to:
                    (n, p), names = next(iter(sorted(st.ignored.items())))
                    why = (f"it is selected only where MeshTrafficPermissions take over, e.g. {n}:{p} "
                           f"by {_names(names)} (M7.1)")
                else:
                    win, (n, p) = sorted(st.lost_to.items())[0]
                    others = _names([w for w in st.lost_to if w != win])
                    why = (f"it matches {len(st.matched)} inbound(s) and loses on every one, e.g. to {win!r} at "
                           f"{n}:{p}{' (also to ' + others + ')' if others else ''} (T3.5)")
                out.append(_finding("T001", f"never the selected policy: {why}", r))
            if st.decides:
                n, p = st.decides[0]
                _basis, _nm, terms, _pol, _adm, _svc = core.client_set(m, n, p, False)
                admitted = _admitted(clients, terms)
                if not admitted:
                    out.append(_finding("T002", f"selected for {len(st.decides)} inbound(s), e.g. {n}:{p}, but its "
                                        f"sources admit none of the {len(dps)} dataplanes of mesh {m!r}: a deny-all "
                                        "(T3.6)", r, ("sources",)))
                for aa, (an, ap) in sorted(takeover.get(r.name, {}).items()):
                    denied = clients.all - admitted
                    if denied:
                        out.append(_finding("T010", f"takes {an}:{ap} over from allow-all {aa!r}: "
                                            f"{len(denied)} dataplane(s) that {aa!r} admits are denied there, e.g. "
                                            f"{_names(denied)} (T3.6)", r, ("destinations",)))
                for lo, ((on, op), wr, lr) in sorted(outranks.get(r.name, {}).items()):
                    out.append(_finding("T011", f"wins {on}:{op} with rank {_rank_text(*wr)} over {lo!r} whose "
                                        f"selector has more exact tags {_rank_text(*lr)}: the tag count ranks "
                                        "first (T3.2)", r, ("destinations",)))
            if st.ignored:
                (n, p), names = sorted(st.ignored.items())[0]
                out.append(_finding("T008", f"selected at {len(st.ignored)} inbound(s) that MeshTrafficPermissions "
                                    f"also select, e.g. {n}:{p} by {_names(names)}: it is ignored there (M7.1)", r))

        # T006 / T007: MTP from items.
        for (pol, idx), s in sorted(items.items()):
            if s["decides"]:
                continue
            res = mtp_by_name.get((m, pol))
            if res is None:  # pragma: no cover - every plan item comes from a stored policy
                continue
            path = ("spec", "from", idx)
            if not s["matched"]:
                out.append(_finding("T006", f"from[{idx}] matches none of the {len(dps)} dataplanes of mesh {m!r} "
                                    f"at the {s['inbounds']} inbound(s) it applies to", res, path))
            elif s["action"] in ALLOW_ACTIONS and s["all_denied"]:
                out.append(_finding("T007", f"from[{idx}] {s['action']} never decides: every client it matches is "
                                    f"denied by a later Deny item, e.g. {_names(s['deniers'], 2)} (M6.2)", res, path))
            else:
                out.append(_finding("T006", f"from[{idx}] never decides: later items override it for every client "
                                    f"it matches, e.g. {_names(s['overriders'], 2)} (M6.2)", res, path))
    out.sort(key=lambda f: (f.file, f.document if f.document is not None else -1, f.line or 0, f.code))
    return out


def _sel(sel: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sel.items()) + "}"


def _admitted(clients: PairIndex, terms: list[Any]) -> set[Any]:
    """Existing dataplanes some client-set term admits (T2.7 / M6.2)."""
    out: set[Any] = set()
    for req, unless, *_ in terms:
        got = clients.holding(tuple(p) for p in req)
        for u in unless:
            if not got:
                break
            got -= clients.holding(tuple(p) for p in u)
        out |= got
    return out


def _mtp_items(core: Any, clients: PairIndex, m: str, n: str, port: int,
               items: dict[tuple[str, int], dict[str, Any]]) -> None:
    """M6.2 over one inbound's item list, backwards: the last matching item decides."""
    plan = core.mtp_plan_items(m, n, port)
    later: set[Any] = set()  # clients some later item matches
    denied: set[Any] = set()  # clients whose deciding item is a Deny
    later_items: list[tuple[str, int, set[Any], str]] = []
    for pol, idx, subset, action in reversed(plan):
        mine = clients.holding(tuple(p) for p in subset)
        s = items.setdefault((pol, idx), {"decides": False, "matched": False, "action": action,
                                          "all_denied": True, "deniers": set(), "overriders": set(),
                                          "inbounds": 0})
        s["inbounds"] += 1
        if mine - later:
            s["decides"] = True
        if mine:
            s["matched"] = True
            if not mine <= denied:
                s["all_denied"] = False
            if not s["decides"] and len(s["overriders"]) < SHOW:  # evidence: a few items that override it
                for lp, li, ls, la in reversed(later_items):
                    if mine & ls:
                        if la == "Deny":
                            s["deniers"].add(f"{lp} from[{li}]")
                        s["overriders"].add(f"{lp} from[{li}]")
                        if len(s["overriders"]) >= SHOW:
                            break
        new = mine - later
        if action == "Deny":
            denied |= new
        later |= mine
        later_items.append((pol, idx, mine, action))
