"""Differential test: the Rust engine (through meshauthz.rbac) and tests/rbac_reference.py agree
on decision and denial text over random roles, bindings, resources, UPDATE pairs and token
requests (≥ 10,000 cases per run; every qualifier kind decides ≥ 100 cases)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rbac_reference as ref
from meshauthz.rbac import Authorizer, User

TYPES = [
    "MeshTrafficPermission",
    "MeshHTTPRoute",
    "TrafficPermission",
    "TrafficTrace",
    "Mesh",
    "Secret",
    "GlobalSecret",
    "AccessRole",
]
ACCESS = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "GENERATE_DATAPLANE_TOKEN",
    "GENERATE_USER_TOKEN",
    "GENERATE_ZONE_TOKEN",
]
NAMES = ["a", "b"]
MESHES = ["default", "other"]
USERS = ["u1", "u2", 'q"x', "é\u00a0\n"]
GROUPS = ["g1", "g2", "g3"]
VALUES = ["web", "backend", "*", "we*", "", "*end"]
CASES_PER_WORLD = 48

small = st.sampled_from
sel_map = st.dictionaries(small(["svc", "v"]), small(VALUES), max_size=2)
target_ref = st.builds(
    lambda kind, name, tags: {
        "kind": kind,
        **({"name": name} if name else {}),
        **({"tags": tags} if tags else {}),
    },
    small(["Mesh", "MeshService", "MeshSubset"]),
    small([None, "web", "backend", "*"]),
    st.dictionaries(small(["svc", "v"]), small(["web", "1"]), max_size=2),
)


@st.composite
def qualifier(draw: st.DrawFn) -> dict[str, Any]:
    fam = draw(
        small(["targetRef", "targetRef", "connection", "connection", "dataplane", "dataplane", "dpToken", "dpToken"])
    )
    if fam == "targetRef":
        q: dict[str, Any] = {}
        for key in draw(st.sets(small(["targetRef", "to", "from"]), min_size=1)):
            tr = draw(target_ref)
            q[key] = tr if key == "targetRef" else {"targetRef": tr}
        return q
    if fam == "connection":
        keys = draw(st.sets(small(["sources", "destinations"]), min_size=1))
        return {k: {"match": draw(sel_map)} for k in keys}
    if fam == "dataplane":
        return {"selectors": {"match": draw(sel_map)}}
    tags = draw(
        st.lists(
            st.builds(lambda n, v: {"name": n, "value": v}, small(["svc", "v"]), small(["web", "1"])),
            min_size=1,
            max_size=3,
        )
    )
    return {"dpToken": {"tags": tags}}


rule = st.builds(
    lambda types, names, mesh, access, when: {
        k: v
        for k, v in (("types", types), ("names", names), ("mesh", mesh), ("access", access), ("when", when))
        if v is not None
    },
    st.one_of(st.none(), st.lists(small(TYPES), max_size=2, unique=True)),
    st.one_of(st.none(), st.lists(small(NAMES), max_size=1)),
    small([None, "", "default", "*", "other"]),
    st.lists(small(ACCESS), min_size=1, max_size=3, unique=True),
    st.one_of(st.none(), st.just([]), st.lists(qualifier(), min_size=1, max_size=4)),
)


@st.composite
def resource(draw: st.DrawFn, type_: str, name: str, mesh: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": type_, "name": name}
    if type_ not in ref.GLOBAL:
        doc["mesh"] = mesh
    fam = ref.family(type_)
    if fam == "targetRef":
        spec: dict[str, Any] = {}
        if draw(st.booleans()):
            spec["targetRef"] = draw(target_ref)
        for key in ("to", "from"):
            items = draw(st.lists(target_ref, max_size=2))
            if items:
                spec[key] = [{"targetRef": t, "default": {"x": 1}} for t in items]
        if draw(st.integers(0, 5)) == 0:
            spec["rules"] = [{"default": {}}]
        doc["spec"] = spec
    elif fam == "connection":
        for key in ("sources", "destinations"):
            doc[key] = [{"match": m} for m in draw(st.lists(sel_map, max_size=2))]
    elif fam == "dataplane":
        doc["selectors"] = [{"match": m} for m in draw(st.lists(sel_map, max_size=2))]
    return doc


@st.composite
def case(draw: st.DrawFn) -> dict[str, Any]:
    user = (draw(small(USERS)), draw(st.lists(small(GROUPS), max_size=2)))
    action = draw(
        small(
            [
                "CREATE",
                "UPDATE",
                "DELETE",
                "GET",
                "LIST",
                "GENERATE_DATAPLANE_TOKEN",
                "GENERATE_DATAPLANE_TOKEN",  # weighted: dpToken qualifiers only decide token checks
                "GENERATE_USER_TOKEN",
                "GENERATE_ZONE_TOKEN",
            ]
        )
    )
    c: dict[str, Any] = {
        "user": user,
        "action": action,
        "channel": draw(small(["api", "kubernetes-webhook"])),
    }
    if action.startswith("GENERATE_"):
        c["token"] = {
            "mesh": draw(small(MESHES)),
            "tags": draw(
                st.dictionaries(
                    small(["svc", "v"]), st.lists(small(["web", "1", "db"]), max_size=2), max_size=2
                )
            ),
        }
        return c
    t, n, m = draw(small(TYPES)), draw(small(NAMES)), draw(small(MESHES))
    c["resource"] = draw(resource(t, n, m))
    if action == "UPDATE":
        c["old"] = draw(resource(t, n, m))
    return c


@st.composite
def world(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    roles = [
        {"type": "AccessRole", "name": f"r{i}", "rules": draw(st.lists(rule, min_size=2, max_size=4))}
        for i in range(draw(st.integers(1, 3)))
    ]
    subject = st.one_of(
        st.builds(lambda n: {"type": "User", "name": n}, small(USERS)),
        st.builds(lambda n: {"type": "Group", "name": n}, small(GROUPS)),
    )
    bindings = [
        {
            "type": "AccessRoleBinding",
            "name": f"b{i}",
            "subjects": draw(st.lists(subject, min_size=1, max_size=2)),
            "roles": draw(st.lists(small(["r0", "r1", "r2", "missing"]), min_size=1, max_size=2)),
        }
        for i in range(draw(st.integers(1, 2)))
    ]
    return roles, bindings, [draw(case()) for _ in range(CASES_PER_WORLD)]


def _kinds_decided(rules: list[dict[str, Any]], c: dict[str, Any]) -> set[str]:
    """Qualifier kinds of the user's rules that carry the action: they took part in the decision."""
    action = "UPDATE" if c["action"] in ("GET", "LIST") else c["action"]
    return {k for r in rules if action in r.get("access", []) for q in r.get("when") or [] for k in q}


def test_rust_and_reference_agree() -> None:
    stats: Counter[str] = Counter()

    @settings(max_examples=230, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(world())
    def run(w: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        roles, bindings, cases = w
        authz = Authorizer(roles + bindings)
        plain_roles = [{"name": r["name"], "rules": r["rules"]} for r in roles]
        for c in cases:
            name, groups = c["user"]
            user = User(name, groups)
            if "token" in c:
                d = authz.check_token(user, c["action"], c["token"])
            else:
                d = authz.check(user, c["action"], c["resource"], c.get("old"))
            expected = ref.decide(
                plain_roles,
                bindings,
                name,
                groups,
                c["action"],
                c.get("resource"),
                c.get("old"),
                c.get("token"),
                c["channel"],
            )
            assert (d.allowed, d.message(c["channel"])) == expected, (c, d.explain())
            stats["cases"] += 1
            stats["allow" if d.allowed else "deny"] += 1
            for k in _kinds_decided(ref.user_rules(plain_roles, bindings, name, groups), c):
                stats[k] += 1

    run()
    assert stats["cases"] >= 10_000, stats
    assert stats["allow"] >= 500 and stats["deny"] >= 500, stats
    for kind in ("targetRef", "to", "from", "sources", "destinations", "selectors", "dpToken"):
        assert stats[kind] >= 100, (kind, stats)
