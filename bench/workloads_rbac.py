"""RBAC workload generators a Kong Mesh operator would recognise (issue #11 "Benchmarks").

`rbac_world(n_roles)`: 1,000 users, `n_roles` roles × 5 rules over 30 resource types, 10 meshes and
100 names; wildcards on type 20 % (`types` empty), mesh 30 % (`mesh: '*'`), name 60 % (`names`
empty); each user bound to 1–3 roles (one binding per user); requests half derived from one of the
user's rules, half random; CREATE / UPDATE / DELETE evenly. Deterministic (seeded).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

TARGETREF = ["MeshAccessLog", "MeshCircuitBreaker", "MeshFaultInjection", "MeshHealthCheck", "MeshHTTPRoute",
             "MeshTCPRoute", "MeshLoadBalancingStrategy", "MeshMetric", "MeshPassthrough", "MeshProxyPatch",
             "MeshRateLimit", "MeshRetry", "MeshTimeout", "MeshTLS", "MeshTrace", "MeshTrafficPermission",
             "MeshGlobalRateLimit", "MeshOPA"]
CONNECTION = ["TrafficPermission", "TrafficRoute", "HealthCheck", "CircuitBreaker", "FaultInjection", "Retry",
              "Timeout", "RateLimit", "TrafficLog"]
DATAPLANE = ["TrafficTrace", "ProxyTemplate", "VirtualOutbound"]
TYPES = TARGETREF + CONNECTION + DATAPLANE  # 30 mesh-scoped types
MESHES = [f"mesh-{i}" for i in range(10)]
NAMES = [f"policy-{i}" for i in range(100)]
ACTIONS = ("CREATE", "UPDATE", "DELETE")


@dataclass
class RbacWorld:
    roles: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    users: list[tuple[str, list[str]]]  # (name, groups)
    # (user index, action, resource document); UPDATE requests use the document as stored object too
    requests: list[tuple[int, str, dict[str, Any]]]
    user_rules: list[list[dict[str, Any]]]  # per user: the rules of their roles (the pure-Python loop)

    @property
    def documents(self) -> list[dict[str, Any]]:
        return self.roles + self.bindings


def resource(type_name: str, mesh: str, name: str) -> dict[str, Any]:
    """A Universal document of `type_name` with the body its family has (R4.5 / R4.6)."""
    doc: dict[str, Any] = {"type": type_name, "mesh": mesh, "name": name}
    if type_name in TARGETREF:
        doc["spec"] = {"targetRef": {"kind": "MeshService", "name": name},
                       "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]}
    elif type_name in CONNECTION:
        doc["sources"] = [{"match": {"kuma.io/service": "web"}}]
        doc["destinations"] = [{"match": {"kuma.io/service": name}}]
    else:
        doc["selectors"] = [{"match": {"kuma.io/service": name}}]
    return doc


def rbac_world(n_roles: int = 100, n_users: int = 1000, n_requests: int = 4000, seed: int = 11) -> RbacWorld:
    rng = random.Random(seed)
    roles = []
    for i in range(n_roles):
        rules = []
        for _ in range(5):
            rule: dict[str, Any] = {"access": sorted(rng.sample(ACTIONS, rng.randint(1, 3)))}
            if rng.random() >= 0.2:
                rule["types"] = rng.sample(TYPES, rng.randint(1, 3))
            rule["mesh"] = "*" if rng.random() < 0.3 else rng.choice(MESHES)
            if rng.random() >= 0.6:
                rule["names"] = rng.sample(NAMES, rng.randint(1, 3))
            rules.append(rule)
        roles.append({"type": "AccessRole", "name": f"role-{i}", "rules": rules})
    users, bindings, user_rules = [], [], []
    for u in range(n_users):
        name = f"user-{u}"
        groups = [f"team-{u % 25}", "mesh-system:authenticated"]
        held = rng.sample(range(n_roles), rng.randint(1, 3))
        users.append((name, groups))
        bindings.append({"type": "AccessRoleBinding", "name": f"binding-{u}",
                         "subjects": [{"type": "User", "name": name}], "roles": [f"role-{r}" for r in held]})
        user_rules.append([rule for r in held for rule in roles[r]["rules"]])
    requests = []
    for k in range(n_requests):
        u = rng.randrange(n_users)
        action = ACTIONS[k % 3]
        if k % 2 == 0 and user_rules[u]:  # derived from one of the user's rules
            rule = rng.choice(user_rules[u])
            t = rng.choice(rule.get("types") or TYPES)
            m = rule["mesh"] if rule["mesh"] != "*" else rng.choice(MESHES)
            n = rng.choice(rule.get("names") or NAMES)
            action = rng.choice(rule["access"])
        else:
            t, m, n = rng.choice(TYPES), rng.choice(MESHES), rng.choice(NAMES)
        requests.append((u, action, resource(t, m, n)))
    return RbacWorld(roles, bindings, users, requests, user_rules)


def python_check(rules: list[dict[str, Any]], action: str, res: dict[str, Any]) -> bool:
    """The 10-line pure-Python loop over a user's rules (no qualifiers in this workload)."""
    for rule in rules:
        if action not in rule["access"]:
            continue
        if "types" in rule and res["type"] not in rule["types"]:
            continue
        if "names" in rule and res["name"] not in rule["names"]:
            continue
        if rule["mesh"] != "*" and rule["mesh"] != res["mesh"]:
            continue
        return True
    return False
