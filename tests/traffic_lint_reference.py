"""Brute-force reference for the traffic lint (issue #16): decide every (client dataplane, inbound)
and (client dataplane, ExternalService) pair with `engine.check`, then read the findings off the
decisions. Obviously correct and quadratic; tests/test_traffic_lint.py compares it with
meshauthz.traffic.lint on generated meshes.

Returned as sets of (code, mesh, resource name[, item]) for the codes that depend on decisions:
T001, T002, T006, T007, T009; and T003 by matching every entry against every dataplane.
"""

from __future__ import annotations

from typing import Any

from meshauthz import ExternalServiceTarget, TrafficEngine

DECIDING = ("allowed", "source-not-matched")


def _identity(body: dict[str, Any]) -> set[tuple[str, str]]:
    net = body.get("networking") or {}
    pairs = {(k, v) for ib in net.get("inbound") or [] for k, v in (ib.get("tags") or {}).items()}
    pairs |= set(((net.get("gateway") or {}).get("tags") or {}).items())
    return pairs


def reference(engine: TrafficEngine) -> set[tuple[Any, ...]]:
    c = engine.compiled
    out: set[tuple[Any, ...]] = set()
    for m, info in c.meshes.items():
        dps = {n: r.body for (mm, n), r in c.dataplanes.items() if mm == m}
        ess = {n: r.body for (mm, n), r in c.external_services.items() if mm == m}
        tps = [r.name for r in c.policies.get(m, [])]
        decided: set[str] = set()
        admitted: set[str] = set()
        items: dict[tuple[str, int], dict[str, Any]] = {}
        for dest, body in dps.items():
            for ib in (body.get("networking") or {}).get("inbound") or []:
                for client in dps:
                    d = engine.check(source=client, destination=(dest, ib["port"]), mesh=m)
                    if d.reason in DECIDING:
                        decided.add(d.policy)
                        if d.allowed:
                            admitted.add(d.policy)
                    mi = d.mtp_items() if d.reason.startswith("mtp-") else []
                    deciding = next((it for it in mi if it[5]), None)
                    for pol, idx, action, _subset, matched, dec in mi:
                        s = items.setdefault((pol, idx), {"action": action, "decides": False, "matched": False,
                                                          "all_denied": True})
                        s["decides"] |= dec
                        if matched:
                            s["matched"] = True
                            if deciding is None or deciding[2] != "Deny":
                                s["all_denied"] = False
        es_decided: set[str] = set()
        for es in ess:
            reached = False
            for client in dps:
                d = engine.check(source=client, destination=ExternalServiceTarget(es), mesh=m)
                if d.policy:
                    es_decided.add(d.policy)
                reached |= d.allowed
            if not reached and engine.external_service_gating == "legacy":
                out.add(("T009", m, es))
        if info.mtls_enabled:
            for tp in tps:
                if tp not in decided and tp not in es_decided:
                    out.add(("T001", m, tp))
                if tp in decided and tp not in admitted:
                    out.add(("T002", m, tp))
            for (pol, idx), s in items.items():
                if s["decides"]:
                    continue
                if s["matched"] and s["action"] != "Deny" and s["all_denied"]:
                    out.add(("T007", m, pol, idx))
                else:
                    out.add(("T006", m, pol, idx))
        # T003: every entry against every dataplane (sources T2.7; destinations T2.2 over tag maps).
        idents = [_identity(b) for b in dps.values()]
        maps = [ib.get("tags") or {} for b in dps.values() for ib in (b.get("networking") or {}).get("inbound") or []]
        maps += [b.get("tags") or {} for b in ess.values()]
        if info.prometheus and dps:
            maps.append(info.prometheus[1])
        for r in c.policies.get(m, []):
            for j, e in enumerate(r.body.get("sources") or []):
                sel = e["match"]
                if not any(all(v == "*" or (k, v) in ident for k, v in sel.items()) for ident in idents):
                    out.add(("T003", m, r.name, f"sources[{j}]"))
            for j, e in enumerate(r.body.get("destinations") or []):
                sel = e["match"]
                if not any(all(k in t and (v == "*" or t[k] == v) for k, v in sel.items()) for t in maps):
                    out.add(("T003", m, r.name, f"destinations[{j}]"))
    return out
