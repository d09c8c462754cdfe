"""Obviously-correct pure-Python reference of meshtrafficpermission.md M4 (selection, order), M5 (client
identity) and M6.2 (decision), written from the spec. Inputs are the tuples of `meshauthz.mtp.compile`:

    policy    = (name, mesh, labels, targetRef, [(targetRef, action)])
    targetRef = (kind, name, namespace, labels, tags, proxyTypes, sectionName)
    dataplane = (name, mesh, labels, [(port, name, tags, ignored)], (builtin, tags) | None)
"""

from __future__ import annotations

from functools import cmp_to_key
from typing import Any, Optional

SERVICE = "kuma.io/service"
NS = "k8s.kuma.io/namespace"


def map_matches(selector: dict[str, str], tags: dict[str, str]) -> bool:
    """TP:T2.2."""
    return all(k in tags and (v == "*" or tags[k] == v) for k, v in selector.items())


def role(p: Any) -> str:
    return p[2].get("kuma.io/policy-role", "system")  # M2.5 / M2.6


def display(labels: dict[str, str], name: str) -> str:
    return labels.get("kuma.io/display-name", name)


def selects(p: Any, dp: Any, inbound: Any) -> bool:
    name, mesh, labels, tr, _ = p
    kind, ref_name, ref_ns, ref_labels, ref_tags, proxy_types, section = tr
    dp_name, dp_mesh, dp_labels, _, gateway = dp
    port, in_name, in_tags, ignored = inbound
    if ignored or mesh != dp_mesh or labels.get("kuma.io/effect") == "shadow":  # §4, M4.1, M2.7
        return False
    if role(p) in ("workload-owner", "consumer"):  # M4.7
        if NS not in labels or dp_labels.get(NS) != labels[NS]:
            return False
    if role(p) != "producer" and dp_labels.get("kuma.io/origin") == "zone" \
            and labels.get("kuma.io/origin") == "zone" and "kuma.io/zone" in labels \
            and "kuma.io/zone" in dp_labels and dp_labels["kuma.io/zone"] != labels["kuma.io/zone"]:
        return False  # M4.8
    ptype = "Gateway" if gateway is not None else "Sidecar"
    if kind == "Mesh":  # M4.2
        return not proxy_types or ptype in proxy_types
    if kind == "MeshSubset":  # M4.3
        return (not proxy_types or ptype in proxy_types) and map_matches(ref_tags, in_tags)
    if kind == "MeshService":  # M4.4 / A10
        return bool(ref_name) and map_matches({SERVICE: ref_name}, in_tags)
    if kind == "MeshServiceSubset":
        return bool(ref_name) and map_matches({SERVICE: ref_name, **ref_tags}, in_tags)
    if kind == "Dataplane":  # M4.5
        if gateway is not None and gateway[0]:
            return False
        if ref_name or ref_ns:
            ns = ref_ns or labels.get(NS)
            ok = ((not ref_name or display(dp_labels, dp_name) == ref_name) and mesh == dp_mesh
                  and ns == dp_labels.get(NS) and labels.get("kuma.io/zone") == dp_labels.get("kuma.io/zone"))
        else:
            ok = all(dp_labels.get(k) == v for k, v in ref_labels.items())
        return ok and (not section or in_name == section)
    return False  # M4.6


KIND_RANK = {"Mesh": 1, "Dataplane": 2, "MeshSubset": 3, "MeshGateway": 4, "MeshService": 5,
             "MeshExternalService": 6, "MeshMultiZoneService": 7, "MeshServiceSubset": 8, "MeshHTTPRoute": 9}
ORIGIN = {"global": 0, "zone": 2}
ROLE = {"system": 0, "producer": 1, "consumer": 2, "workload-owner": 3}


def priority_cmp(a: Any, b: Any) -> int:
    """M4.9, criteria 1-6 (0 = tie)."""
    def key(p: Any) -> tuple[int, ...]:
        tr = p[3]
        dp = tr[0] == "Dataplane"
        return (KIND_RANK.get(tr[0], 0), int(dp and bool(tr[1])), int(dp and bool(tr[6])),
                ORIGIN.get(p[2].get("kuma.io/origin", ""), 1), ROLE.get(role(p), 0))
    ka, kb = key(a), key(b)
    if ka != kb:
        return -1 if ka < kb else 1
    da, db = display(a[2], a[0]), display(b[2], b[0])
    return 0 if da == db else (1 if da < db else -1)  # descending display name


def ordered(policies: list[Any]) -> list[Any]:
    """M4.9, A2 ties by name then document order (list position)."""
    indexed = list(enumerate(policies))

    def cmp(x: Any, y: Any) -> int:
        c = priority_cmp(x[1], y[1])
        if c:
            return c
        if x[1][0] != y[1][0]:
            return -1 if x[1][0] < y[1][0] else 1
        return x[0] - y[0]
    return [p for _, p in sorted(indexed, key=cmp_to_key(cmp))]


def identity(dp: Any) -> set[tuple[str, str]]:
    """M5.1 / A11: union of every inbound's tags (ignored too) and gateway tags."""
    out = {(k, v) for inbound in dp[3] for k, v in inbound[2].items()}
    if dp[4] is not None:
        out |= set(dp[4][1].items())
    return out


def requirements(tr: Any) -> Optional[list[tuple[str, str]]]:
    """M5.2; None = matches nobody."""
    kind, name, _, _, tags, _, _ = tr
    if kind == "Mesh":
        return []
    if kind == "MeshSubset":
        return list(tags.items())
    if kind == "MeshService":
        return [(SERVICE, name)]
    if kind == "MeshServiceSubset":
        return [(SERVICE, name), *tags.items()]
    return None


def decide(policies: list[Any], dest: Any, port: int, client_mesh: str,
           client_tags: set[tuple[str, str]]) -> Optional[dict[str, Any]]:
    inbound = next((i for i in dest[3] if i[0] == port and not i[3]), None)
    if inbound is None:
        return None
    selected = ordered([p for p in policies if selects(p, dest, inbound)])
    if not selected:
        return None
    last = None
    for p in selected:  # M6.1 list order; M6.2 the last match wins
        for idx, (tr, action) in enumerate(p[4]):
            req = requirements(tr)
            if req is not None and client_mesh == dest[1] and all(r in client_tags for r in req):
                last = (p[0], idx, action)
    if last is None:
        return {"allowed": False, "reason": "mtp-no-match", "action": None, "policy": None,
                "from_index": None, "matched_policies": [p[0] for p in selected]}
    reasons = {"Allow": "mtp-allow", "AllowWithShadowDeny": "mtp-allow-shadow-deny", "Deny": "mtp-deny"}
    reason = reasons[last[2]]
    return {"allowed": last[2] != "Deny", "reason": reason, "action": last[2], "policy": last[0],
            "from_index": last[1], "matched_policies": [p[0] for p in selected]}
