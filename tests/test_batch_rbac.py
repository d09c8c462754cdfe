"""RBAC batch API (issue #6): every row equals Authorizer.check, for every input form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshauthz.errors import MeshauthzError
from meshauthz.rbac import Authorizer, User

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "universal"
RESOURCES = [
    json.dumps({"type": "TrafficPermission", "mesh": "demo", "name": "tp",
                "sources": [{"match": {"kuma.io/service": "web"}}],
                "destinations": [{"match": {"kuma.io/service": svc}}]})
    for svc in ("backend", "web")
] + [
    json.dumps({"type": "MeshTrafficPermission", "mesh": "demo", "name": "m",
                "spec": {"targetRef": {"kind": "MeshService", "name": "backend"}}}),
    json.dumps({"type": "Secret", "mesh": "demo", "name": "s", "data": "eA=="}),
    "{not json",
]
row_st = st.tuples(
    st.sampled_from(["alice", "bob"]),
    st.lists(st.sampled_from(["team-backend", "mesh-system:admin", "mesh-system:authenticated"]), max_size=2),
    st.sampled_from(["CREATE", "UPDATE", "DELETE", "GET", "LIST", "BOGUS"]),
    st.sampled_from(RESOURCES),
)


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(str(EXAMPLES / "rbac.yaml"))


def single(authz: Authorizer, row: tuple[Any, ...]) -> tuple[Any, ...]:
    user, groups, action, resource = row
    try:
        d = authz.check(User(user, groups), action, json.loads(resource))
    except (MeshauthzError, ValueError):
        return (False, "error", None)
    return (d.allowed, d.allowed, d.role)


def batched(res: Any) -> list[tuple[Any, ...]]:
    return [(a, "error" if r.startswith("error:") else r == "allowed", p)
            for a, r, p in zip(res.allowed, res.reason, res.policy)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_st, max_size=40))
def test_lists_equal_single_checks(authz: Authorizer, rows: list[tuple[Any, ...]]) -> None:
    want = [single(authz, r) for r in rows]
    assert batched(authz.check_batch(rows)) == want
    dicts = [{"user": u, "groups": ",".join(g), "action": a, "resource": r} for u, g, a, r in rows]
    assert batched(authz.check_batch(dicts, threads=2)) == want


@pytest.mark.parametrize("form", ["string", "large_string", "string_view", "dictionary", "handles"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_st, max_size=40))
def test_arrow_forms_equal_single_checks(authz: Authorizer, form: str, rows: list[tuple[Any, ...]]) -> None:
    pa = pytest.importorskip("pyarrow")

    def col(values: list[Any]) -> Any:
        if form in ("dictionary", "handles"):
            return pa.array(values, pa.string()).dictionary_encode()
        return pa.array(values, getattr(pa, form)())

    cols: dict[str, Any] = {
        "user": col([r[0] for r in rows]),
        "groups": pa.array([r[1] for r in rows], pa.list_(pa.string())),
        "action": col([r[2] for r in rows]),
    }
    targets: list[Any] = []
    if form == "handles":
        good = RESOURCES[:-1]
        targets = [authz.target(json.loads(r)) for r in good]
        rows = [r for r in rows if r[3] in good]
        cols = {"user": col([r[0] for r in rows]), "groups": pa.array([r[1] for r in rows], pa.list_(pa.string())),
                "action": col([r[2] for r in rows]), "resource": pa.array([good.index(r[3]) for r in rows], pa.int32())}
    else:
        cols["resource"] = col([r[3] for r in rows])
    res = authz.check_batch(pa.table(cols), targets=targets)
    assert batched(res) == [single(authz, r) for r in rows]


def test_bad_rows_are_codes(authz: Authorizer) -> None:
    res = authz.check_batch([("bob", ["team-backend"], "CREATE", RESOURCES[0]), ("bob", [], "NOPE", RESOURCES[0]),
                             ("bob", [], "CREATE", "{not json"), ("bob", [], "GENERATE_USER_TOKEN", None),
                             ("bob", [], "DELETE", RESOURCES[1])])
    # Token actions are batched too (issue #11 item 4): no token request = `{}`, as in `check`.
    assert res.reason == ["allowed", "error:unknown-action", "error:bad-resource", "cannot-access-resource",
                          "cannot-access-resource"]
    assert res.policy[0] == "backend-owner"


@pytest.mark.parametrize("groups_form", ["list", "text"])
def test_repeated_dictionary_rows_respect_groups(authz: Authorizer, groups_form: str) -> None:
    """Issue #11 (batch memo): rows with the same dictionary-encoded user, action and resource
    but different groups (list or "a,b" text, in either order, null) are each decided like
    `check`; the answer of one row is never reused for a row whose groups differ."""
    pa = pytest.importorskip("pyarrow")
    variants: list[Any] = [["team-backend"], [], None, ["mesh-system:authenticated", "team-backend"],
                           ["team-backend", "mesh-system:authenticated"], ["mesh-system:authenticated"]]
    rows = [("bob", variants[(i * 7) % len(variants)], action, RESOURCES[i % 2])
            for i in range(300) for action in ("CREATE", "DELETE")]
    groups: Any
    if groups_form == "list":
        groups = pa.array([r[1] for r in rows], pa.list_(pa.string()))
    else:
        groups = pa.array([None if r[1] is None else ",".join(r[1]) for r in rows], pa.string())
    table = pa.table({
        "user": pa.array([r[0] for r in rows]).dictionary_encode(),
        "groups": groups,
        "action": pa.array([r[2] for r in rows]).dictionary_encode(),
        "resource": pa.array([r[3] for r in rows]).dictionary_encode(),
    })
    want = [single(authz, (u, g or [], a, r)) for u, g, a, r in rows]
    assert {w[0] for w in want} == {True, False}  # both outcomes occur for the same user key
    assert batched(authz.check_batch(table)) == want
