"""Generated meshes, role sets and request logs for the scale-out tests (issue #17).

Seeded and self-contained: a mesh of `services` services (one dataplane each, two inbound ports),
TrafficPermissions between random service pairs (some wildcard sources, some with a `team` tag), a
second mesh whose MeshTrafficPermissions take over (E4, decided row-wise), and rows that include
every kind of bad input a log carries (unknown meshes and dataplanes, null / out-of-range ports,
malformed source tags, missing columns), so `error:*` rows are part of what must be equal.
"""

from __future__ import annotations

import json
import random
import warnings
from typing import Any

import meshauthz
from meshauthz import TrafficEngine
from meshauthz.rbac import Authorizer


def mesh_docs(services: int = 40, permissions: int = 300, seed: int = 17, extra: str = "") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = [
        {"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca",
                                                     "backends": [{"name": "ca", "type": "builtin"}]}},
        {"type": "Mesh", "name": "mtp", "mtls": {"enabledBackend": "ca",
                                                 "backends": [{"name": "ca", "type": "builtin"}]}},
        {"type": "Mesh", "name": "plain"},
    ]
    if extra:  # a distinct resource gives a distinct bundle digest
        docs.append({"type": "Mesh", "name": extra})
    for mesh in ("default", "mtp", "plain"):
        for i in range(services):
            docs.append({"type": "Dataplane", "mesh": mesh, "name": f"svc-{i}-1", "networking": {
                "address": "10.0.0.1", "inbound": [
                    {"port": 8080, "tags": {"kuma.io/service": f"svc-{i}", "team": f"t{i % 5}"}},
                    {"port": 9090, "tags": {"kuma.io/service": f"svc-{i}-admin", "team": f"t{i % 5}"}}]}})
    for mesh in ("default", "mtp"):
        for n in range(permissions):
            src = "*" if rng.random() < 0.1 else f"svc-{rng.randrange(services)}"
            match: dict[str, str] = {"kuma.io/service": f"svc-{rng.randrange(services)}"}
            if rng.random() < 0.2:
                match["team"] = f"t{rng.randrange(5)}"
            docs.append({"type": "TrafficPermission", "mesh": mesh, "name": f"tp-{n}",
                         "sources": [{"match": {"kuma.io/service": src}}], "destinations": [{"match": match}]})
    for n in range(max(1, services // 10)):
        source = {"kind": "Mesh"} if n % 2 else {"kind": "MeshSubset", "tags": {"kuma.io/service": f"svc-{n + 1}"}}
        docs.append({"type": "MeshTrafficPermission", "mesh": "mtp", "name": f"mtp-{n}", "spec": {
            "targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": f"svc-{n}"}},
            "from": [{"targetRef": source, "default": {"action": "Deny" if n % 3 == 1 else "Allow"}}]}})
    return docs


def traffic_engine(**kw: Any) -> TrafficEngine:
    with warnings.catch_warnings():  # deprecated MTP targetRef kinds are part of the generated mesh
        warnings.simplefilter("ignore", meshauthz.MeshauthzWarning)
        return TrafficEngine(meshauthz.load_dicts(mesh_docs(**kw)))


def traffic_rows(n: int, services: int = 40, seed: int = 5) -> dict[str, list[Any]]:
    """Column lists: mesh, source, source_tags, destination, port, plus an `id` column."""
    rng = random.Random(seed)
    meshes = ["default"] * 12 + ["mtp", "plain", "nowhere", None]
    ports = [8080] * 6 + [9090] * 3 + [1, 0, None, 70000]
    tags = [None] * 12 + ["kuma.io/service=svc-1", "kuma.io/service=svc-2,team=t1", "broken", "", "=x"]
    cols: dict[str, list[Any]] = {k: [] for k in ("id", "mesh", "source", "source_tags", "destination", "port")}
    for i in range(n):
        src_tags = rng.choice(tags)
        if src_tags is None:
            r = rng.random()
            source = None if r < 0.03 else ("ghost-1" if r < 0.05 else f"svc-{rng.randrange(services)}-1")
        else:
            source = None
        dst = "ghost-1" if rng.random() < 0.02 else f"svc-{rng.randrange(services)}-1"
        cols["id"].append(i)
        cols["mesh"].append(rng.choice(meshes))
        cols["source"].append(source)
        cols["source_tags"].append(src_tags)
        cols["destination"].append(dst)
        cols["port"].append(rng.choice(ports))
    return cols


def role_docs(teams: int = 8, seed: int = 23) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    for t in range(teams):
        types = rng.sample(["TrafficPermission", "TrafficRoute", "MeshTrafficPermission", "HealthCheck"], 2)
        rules: list[dict[str, Any]] = [{"types": types, "mesh": f"m{t % 3}",
                                        "access": rng.sample(["CREATE", "UPDATE", "DELETE"], 2)}]
        if "TrafficPermission" in types and t % 2:
            rules[0]["when"] = [{"destinations": {"match": {"kuma.io/service": f"svc-{t}"}}}]
        docs.append({"type": "AccessRole", "name": f"role-{t}", "rules": rules})
        subjects = [{"type": "Group", "name": f"team-{t}"}]
        if t % 3 == 0:
            subjects.append({"type": "User", "name": f"user-{t}"})
        docs.append({"type": "AccessRoleBinding", "name": f"bind-{t}", "subjects": subjects, "roles": [f"role-{t}"]})
    return docs


def authorizer(**kw: Any) -> Authorizer:
    return Authorizer(meshauthz.load_dicts(role_docs(**kw)))


def rbac_rows(n: int, teams: int = 8, seed: int = 9) -> dict[str, list[Any]]:
    """Column lists: user, groups (list), action, resource (JSON text), plus an `id` column."""
    rng = random.Random(seed)
    resources = []
    for t in range(teams + 2):
        resources.append(json.dumps({"type": "TrafficPermission", "mesh": f"m{t % 3}", "name": f"tp-{t}",
                                     "sources": [{"match": {"kuma.io/service": "web"}}],
                                     "destinations": [{"match": {"kuma.io/service": f"svc-{t}"}}]}))
        resources.append(json.dumps({"type": "MeshTrafficPermission", "mesh": f"m{t % 3}", "name": f"mtp-{t}",
                                     "spec": {"targetRef": {"kind": "MeshService", "name": f"svc-{t}"}}}))
    resources += ["{not json", json.dumps({"type": "Nope", "mesh": "m0", "name": "x"}), None]
    actions = ["CREATE", "UPDATE", "DELETE", "GET", "LIST", "BOGUS", None]
    cols: dict[str, list[Any]] = {k: [] for k in ("id", "user", "groups", "action", "resource")}
    for i in range(n):
        cols["id"].append(i)
        cols["user"].append(rng.choice([f"user-{rng.randrange(teams)}", "alice", None]))
        cols["groups"].append(rng.sample([f"team-{t}" for t in range(teams)] + ["mesh-system:authenticated"],
                                         rng.randrange(3)))
        cols["action"].append(rng.choice(actions))
        cols["resource"].append(rng.choice(resources))
    return cols


def inputs_only(table: Any) -> Any:
    """The engine's input columns of a generated table (the `id` column is not an engine input: a local
    `check_batch` refuses unknown columns, #12 item 1, while the adapters project onto the inputs)."""
    return table.drop_columns(["id"]) if "id" in table.column_names else table
