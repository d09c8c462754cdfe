"""Benchmark workloads a user would recognise (issue #11 "Benchmarks").

`mesh()` — a realistic service mesh:

* `services` services (default 100) × `dataplanes_per_service` (default 2) dataplanes, each with one
  inbound tagged `kuma.io/service`, `version` (v1 / v2), `team` (10 teams) and `zone` (zone-a / zone-b);
* mesh `default` (85 % of the services) governed by TrafficPermissions; mesh `payments` (the other
  15 %) migrated to MeshTrafficPermission: ~40 MTPs with `Mesh`, `MeshSubset` and `MeshService`
  top-level targets and `Allow` / `Deny` / `AllowWithShadowDeny` items (its TPs stay, ignored on
  the inbounds the MTPs select, M7.1);
* ~`tps` TrafficPermissions (default 900) mixing exact service pairs, team-wide sources
  (`team: X`), version- and zone-specific destinations, `'*'` wildcards, and equal-rank ties
  broken by `creationTime` (A2);
* `queries()`: every (client dataplane, inbound) pair of each mesh.

`mesh(tps=100_000)` scales the TP count (extra exact-pair TPs between synthetic services that do
not exist, so the index has to skip them). `equal_rank(16_000)` is the mesh plus 16,000
TrafficPermissions of equal rank (`'*'` destinations), ties broken by creationTime.
"""

from __future__ import annotations

import random
from typing import Any

MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}
TEAMS = [f"team-{i}" for i in range(10)]
PAYMENTS_SHARE = 0.15


def _time(i: int) -> str:
    return f"2024-01-{1 + (i // 86400) % 28:02d}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"


def _tp(mesh: str, name: str, src: dict[str, str], dst: dict[str, str], created: int) -> dict[str, Any]:
    return {"type": "TrafficPermission", "mesh": mesh, "name": name, "creationTime": _time(created),
            "sources": [{"match": src}], "destinations": [{"match": dst}]}


def mesh(services: int = 100, dataplanes_per_service: int = 2, tps: int = 900, mtps: int = 40,
         seed: int = 7) -> list[dict[str, Any]]:
    """The documents of the mesh workload (see the module docstring)."""
    rng = random.Random(seed)
    n_pay = max(1, round(services * PAYMENTS_SHARE))
    svc_mesh = {f"svc-{i:03d}": ("payments" if i < n_pay else "default") for i in range(services)}
    team = {s: TEAMS[i % len(TEAMS)] for i, s in enumerate(svc_mesh)}
    docs: list[dict[str, Any]] = [
        {"type": "Mesh", "name": "default", "mtls": MTLS},
        {"type": "Mesh", "name": "payments", "mtls": MTLS},
    ]
    for s, m in svc_mesh.items():
        for j in range(dataplanes_per_service):
            tags = {"kuma.io/service": s, "version": f"v{1 + j % 2}", "team": team[s],
                    "zone": "zone-a" if j % 2 == 0 else "zone-b"}
            docs.append({"type": "Dataplane", "mesh": m, "name": f"{s}-{j}", "networking": {
                "address": f"10.{len(docs) // 250}.{len(docs) % 250}.1",
                "inbound": [{"port": 8080, "tags": tags}]}})
    names = list(svc_mesh)
    made = 0

    def add(src: dict[str, str], dst_svc: str, extra: dict[str, str], created: int) -> None:
        nonlocal made
        m = svc_mesh[dst_svc]
        docs.append(_tp(m, f"tp-{made:06d}", src, {"kuma.io/service": dst_svc, **extra}, created))
        made += 1

    kinds = ["pair"] * 50 + ["team"] * 17 + ["version"] * 11 + ["zone"] * 11 + ["wild"] * 6 + ["tie"] * 5
    while made < min(tps, 900 * max(1, services // 100)) and made < tps:
        dst = rng.choice(names)
        kind = rng.choice(kinds)
        created = rng.randrange(0, 50_000)
        same = [n for n in names if svc_mesh[n] == svc_mesh[dst]]
        if kind == "pair":
            add({"kuma.io/service": rng.choice(same)}, dst, {}, created)
        elif kind == "team":
            add({"kuma.io/service": "*", "team": rng.choice(TEAMS)}, dst, {}, created)
        elif kind == "version":
            add({"kuma.io/service": rng.choice(same)}, dst, {"version": rng.choice(["v1", "v2"])}, created)
        elif kind == "zone":
            add({"kuma.io/service": "*", "zone": rng.choice(["zone-a", "zone-b"])}, dst,
                {"zone": rng.choice(["zone-a", "zone-b"])}, created)
        elif kind == "wild":
            m = svc_mesh[dst]
            docs.append(_tp(m, f"tp-{made:06d}", {"kuma.io/service": rng.choice(same)},
                            {"kuma.io/service": "*"}, created))
            made += 1
        else:  # equal rank to an exact pair on the same destination, tie broken by creationTime
            add({"kuma.io/service": rng.choice(same)}, dst, {}, 1000)
    # Scale: exact pairs between services that have no dataplane (the index must skip them).
    i = 0
    while made < tps:
        m = "default" if i % 7 else "payments"
        docs.append(_tp(m, f"tp-{made:06d}", {"kuma.io/service": f"ghost-{i}"},
                        {"kuma.io/service": f"ghost-{i + 1}"}, i))
        made += 1
        i += 1
    # MeshTrafficPermissions: mesh `payments` (~15 % of the services).
    pay = [s for s, m in svc_mesh.items() if m == "payments"]

    def item(rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(["svc", "svc", "team", "mesh", "version"])
        ref: dict[str, Any]
        if kind == "svc":
            ref = {"kind": "MeshSubset", "tags": {"kuma.io/service": rng.choice(pay)}}
        elif kind == "team":
            ref = {"kind": "MeshSubset", "tags": {"team": rng.choice(TEAMS)}}
        elif kind == "version":
            ref = {"kind": "MeshSubset", "tags": {"kuma.io/service": rng.choice(pay), "version": "v2"}}
        else:
            ref = {"kind": "Mesh"}
        action = rng.choice(["Allow", "Allow", "Deny", "AllowWithShadowDeny"])
        return {"targetRef": ref, "default": {"action": action}}

    for k in range(mtps):
        if k == 0:
            target: dict[str, Any] = {"kind": "Mesh"}
        elif k % 3 == 0:
            target = {"kind": "MeshSubset", "tags": {"kuma.io/service": rng.choice(pay), "version": "v1"}}
        else:
            target = {"kind": "MeshService", "name": rng.choice(pay)}
        docs.append({"type": "MeshTrafficPermission", "mesh": "payments", "name": f"mtp-{k:03d}",
                     "spec": {"targetRef": target, "from": [item(rng) for _ in range(rng.randint(1, 4))]}})
    return docs


def equal_rank(n: int = 16_000, **kw: Any) -> list[dict[str, Any]]:
    """The mesh plus `n` TrafficPermissions of equal rank (`'*'` destinations, ties by creationTime)."""
    docs = mesh(**kw)
    for i in range(n):
        m = "payments" if i % 10 == 0 else "default"
        docs.append(_tp(m, f"star-{i:06d}", {"kuma.io/service": "*"}, {"kuma.io/service": "*"}, i))
    return docs


def queries(docs: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    """Every (client, destination, port, mesh) pair within each mesh."""
    by_mesh: dict[str, list[tuple[str, int]]] = {}
    for d in docs:
        if d["type"] == "Dataplane":
            for ib in d["networking"]["inbound"]:
                by_mesh.setdefault(d["mesh"], []).append((d["name"], ib["port"]))
    out = []
    for m, inbounds in by_mesh.items():
        for client, _ in inbounds:
            for dest, port in inbounds:
                out.append((client, dest, port, m))
    return out


def load(docs: list[dict[str, Any]]) -> Any:
    import warnings

    import meshauthz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated-kind warnings of MTP targets
        return meshauthz.load_dicts(docs)
