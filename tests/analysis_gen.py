"""Generated meshes for the analysis tests and bench: N services, one dataplane each (plus a few
multi-instance services), TPs by team, some MTPs and a PERMISSIVE/STRICT mesh."""

from __future__ import annotations

from typing import Any


def generated_mesh(n_services: int, mesh: str = "big", with_mtp: bool = True) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [{
        "type": "Mesh", "name": mesh,
        "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]},
    }]
    teams = [f"team-{t}" for t in range(10)]
    for i in range(n_services):
        svc, team = f"svc-{i:04d}", teams[i % len(teams)]
        for r in range(2 if i % 50 == 0 else 1):  # a few services with two instances
            tags = {"kuma.io/service": svc, "team": team, "version": f"v{(i + r) % 3}"}
            docs.append({"type": "Dataplane", "name": f"{svc}-{r}", "mesh": mesh, "labels": {"app": svc},
                         "networking": {
                "address": f"10.{i // 250}.{i % 250}.{r + 1}", "inbound": [{"port": 8080, "tags": tags}]}})
    for t, team in enumerate(teams):  # team T may be called by team T and T+1
        docs.append({"type": "TrafficPermission", "name": f"to-{team}", "mesh": mesh,
                     "sources": [{"match": {"kuma.io/service": "*", "team": team}},
                                 {"match": {"team": teams[(t + 1) % len(teams)], "version": "v1"}}],
                     "destinations": [{"match": {"kuma.io/service": "*", "team": team}}]})
    if with_mtp:
        for i in range(0, n_services, 7):  # every 7th service: MTP, later Deny of one team
            docs.append({"type": "MeshTrafficPermission", "name": f"mtp-{i:04d}", "mesh": mesh, "spec": {
                "targetRef": {"kind": "Dataplane", "labels": {"app": f"svc-{i:04d}"}},
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}},
                         {"targetRef": {"kind": "MeshSubset", "tags": {"team": teams[i % 10]}},
                          "default": {"action": "Deny"}},
                         {"targetRef": {"kind": "MeshSubset",
                                        "tags": {"kuma.io/service": f"svc-{(i + 1) % n_services:04d}"}},
                          "default": {"action": "AllowWithShadowDeny"}}]}})
    return docs
