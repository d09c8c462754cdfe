"""RBAC inputs converted in the bindings (issue #11 item 4) and failing closed on bad input
(issue #12 items 4 and 9): every case here is a regression test of a reproduced failure."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import _core, kinds, loader
from meshauthz.errors import EvaluationError, InputError, MeshauthzError
from meshauthz.rbac import Authorizer, User

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "universal"
BOB = User("bob", ["team-backend"])


def tp(dst: str, name: str = "tp") -> dict[str, Any]:
    return {"type": "TrafficPermission", "mesh": "demo", "name": name,
            "sources": [{"match": {"kuma.io/service": "web"}}],
            "destinations": [{"match": {"kuma.io/service": dst}}]}


@pytest.fixture(scope="module")
def authz() -> Authorizer:
    return Authorizer(str(EXAMPLES / "rbac.yaml"))


def test_dict_targets_never_reach_the_loader(authz: Authorizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dict (either form) becomes a target in the bindings: the YAML loader is not on the path."""

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("loader called on the check path")

    monkeypatch.setattr(loader, "_from_universal", boom)
    monkeypatch.setattr(loader, "_from_kubernetes", boom)
    monkeypatch.setattr(loader, "resource_from_document", boom)
    assert authz.check(BOB, "CREATE", tp("backend")).allowed
    assert not authz.check(BOB, "CREATE", tp("web")).allowed
    # UPDATE with `old` takes the same path (R5.9: both sides granted).
    assert authz.check(BOB, "UPDATE", tp("backend"), old=tp("backend")).allowed
    assert not authz.check(BOB, "UPDATE", tp("backend"), old=tp("web")).allowed
    k8s = {"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission",
           "metadata": {"name": "tp", "labels": {"kuma.io/mesh": "demo"}},
           "spec": {"sources": [{"match": {"kuma.io/service": "web"}}],
                    "destinations": [{"match": {"kuma.io/service": "backend"}}]}}
    assert authz.check(BOB, "CREATE", k8s).allowed


def test_resource_objects_and_dicts_agree(authz: Authorizer) -> None:
    store = meshauthz.load_dicts([tp("backend", "a"), tp("web", "b")])
    for res in store.list("TrafficPermission"):
        as_dict = res.to_universal()
        assert authz.check(BOB, "DELETE", res).allowed == authz.check(BOB, "DELETE", as_dict).allowed
        assert authz.target(res).elements == authz.target(as_dict).elements


@pytest.mark.parametrize("groups", ["team-backend", b"team-backend"])
def test_str_groups_are_an_error_never_characters(authz: Authorizer, groups: Any) -> None:
    with pytest.raises(InputError):
        User("bob", groups)
    with pytest.raises(EvaluationError):
        authz.check(("bob", groups), "CREATE", tp("backend"))


@pytest.mark.parametrize("user", [None, 5, b"x", 1.5, ("bob",), ("bob", ["g"], "x"), object()])
def test_bad_users_raise_meshauthz_errors(authz: Authorizer, user: Any) -> None:
    with pytest.raises(EvaluationError):
        authz.check(user, "CREATE", tp("backend"))
    with pytest.raises(MeshauthzError):
        authz.what_can(user)


@pytest.mark.parametrize("groups", [[1], [None], ["ok", b"x"], {"a": 1}, 7])
def test_bad_groups_raise(authz: Authorizer, groups: Any) -> None:
    with pytest.raises(EvaluationError):
        authz.check(("bob", groups), "CREATE", tp("backend"))


@pytest.mark.parametrize("action", [None, 5, b"CREATE", "create", "READ"])
def test_bad_actions_raise(authz: Authorizer, action: Any) -> None:
    with pytest.raises(EvaluationError):
        authz.check(BOB, action, tp("backend"))


@pytest.mark.parametrize("resource", [
    5, "not a dict", [tp("backend")],
    {"type": "TrafficPermission", "mesh": "demo", "name": "x", "sources": [{"match": {"kuma.io/service": 1}}]},
    {"type": "TrafficPermission", "mesh": 5, "name": "x"},
    {"type": "MeshTrafficPermission", "mesh": "demo", "name": "x", "spec": {"to": "nope"}},
    {"apiVersion": "kuma.io/v1alpha1", "kind": "MeshTimeout", "metadata": "x"},
    {"apiVersion": "v9", "kind": "MeshTimeout", "metadata": {"name": "x"}},
])
def test_bad_resources_raise(authz: Authorizer, resource: Any) -> None:
    with pytest.raises(EvaluationError):
        authz.check(BOB, "CREATE", resource)


def test_deep_payloads_are_not_read(authz: Authorizer) -> None:
    """Only the fields a decision reads are visited: a deeply nested payload costs nothing."""
    deep: Any = "x"
    for _ in range(50_000):
        deep = [deep]
    res = {**tp("backend"), "conf": deep}
    assert authz.check(BOB, "CREATE", res).allowed


def test_kind_registry_agrees_with_python() -> None:
    rust = {n: (s, f, ns, w) for n, s, f, ns, w in _core.rbac_kinds()}
    py = {k.name: (k.scope, k.family, k.namespaced, k.spec_wrapped) for k in kinds.KINDS.values()}
    assert rust == py


# ---- batches --------------------------------------------------------------------------------------


def reasons(res: Any) -> list[str]:
    return list(res.reason)


def test_null_user_rows_are_errors_not_empty_names(authz: Authorizer) -> None:
    """Issue #12 item 4: a null / missing user was decided as "" (allowed through groups)."""
    rows = [(None, ["team-backend"], "CREATE", json.dumps(tp("backend"))),
            ("bob", ["team-backend"], "CREATE", json.dumps(tp("backend"))),
            {"groups": ["team-backend"], "action": "CREATE", "resource": json.dumps(tp("backend"))}]
    res = authz.check_batch(rows)
    assert reasons(res) == ["error:missing-user", "allowed", "error:missing-user"]
    assert res.allowed == [False, True, False]
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"user": pa.array([None, "bob"], pa.string()),
                      "groups": pa.array([["team-backend"]] * 2, pa.list_(pa.string())),
                      "action": ["CREATE", "CREATE"], "resource": [json.dumps(tp("backend"))] * 2})
    assert reasons(authz.check_batch(table)) == ["error:missing-user", "allowed"]


def test_bad_rows_never_abort_the_batch(authz: Authorizer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    deep_doc = '{"type": "TrafficPermission", "mesh": "demo", "name": "x", "sources": ' + deep + "}"
    good = ("bob", ["team-backend"], "CREATE", json.dumps(tp("backend")))
    rows: list[Any] = [
        ("bob", ["team-backend"], "CREATE", deep), ("bob", ["team-backend"], "CREATE", deep_doc),  # RecursionError
        ("bob",), 5, None, "row", ("a", "b", "c", "d", "e", "f", "g"),  # not rows
        (5, [], "CREATE", None), ("bob", "team-backend", "CREATE", json.dumps(tp("backend"))),
        ("bob", [5], "CREATE", None), ("bob", 7, "CREATE", None),
        ("bob", [], 5, None), ("bob", [], "CREATE", 99), ("bob", [], "CREATE", -1), ("bob", [], "CREATE", 3.5),
        good,
    ]
    res = authz.check_batch(rows)
    assert len(res) == len(rows)
    assert reasons(res) == [
        "error:bad-resource", "error:bad-resource",
        "error:bad-row", "error:bad-row", "error:bad-row", "error:bad-row", "error:bad-row",
        "error:bad-user", "allowed",  # "a,b" text is the documented groups form (split on commas)
        "error:bad-groups", "error:bad-groups",
        "error:unknown-action", "error:bad-resource", "error:bad-resource", "error:bad-resource",
        "allowed",
    ]
    assert res.allowed == [r == "allowed" for r in reasons(res)]


def test_update_rows_take_old_resource(authz: Authorizer) -> None:
    """UPDATE audit logs replay: `old_resource` (a document or an index into targets=)."""
    new, old_ok, old_bad = tp("backend"), tp("backend"), tp("web")
    rows = [("bob", ["team-backend"], "UPDATE", json.dumps(new), json.dumps(old_ok)),
            ("bob", ["team-backend"], "UPDATE", json.dumps(new), json.dumps(old_bad)),
            ("bob", ["team-backend"], "UPDATE", json.dumps(new)),
            ("bob", ["team-backend"], "UPDATE", new, 0),
            {"user": "bob", "groups": ["team-backend"], "action": "UPDATE", "resource": new, "old_resource": old_bad},
            ("bob", ["team-backend"], "UPDATE", json.dumps(new), json.dumps(tp("backend", "other")))]
    want = [authz.check(BOB, "UPDATE", new, old) for old in (old_ok, old_bad)]
    res = authz.check_batch(rows, targets=[authz.target(old_ok)])
    assert res.allowed == [want[0].allowed, want[1].allowed, False, True, False, False]
    assert reasons(res) == ["allowed", "cannot-access-resource", "error:missing-old-resource", "allowed",
                            "cannot-access-resource", "error:identity-changed"]
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"user": ["bob"] * 3, "groups": [["team-backend"]] * 3, "action": ["UPDATE"] * 3,
                      "resource": [json.dumps(new)] * 3,
                      "old_resource": pa.array([json.dumps(old_ok), json.dumps(old_bad), None]).dictionary_encode()})
    assert reasons(authz.check_batch(table)) == ["allowed", "cannot-access-resource", "error:missing-old-resource"]
    handles = pa.table({"user": ["bob"] * 2, "groups": [["team-backend"]] * 2, "action": ["UPDATE"] * 2,
                        "resource": pa.array([0, 0], pa.int64()), "old_resource": pa.array([0, 1], pa.int64())})
    res = authz.check_batch(handles, targets=[authz.target(new), authz.target(old_bad)])
    assert reasons(res) == ["allowed", "cannot-access-resource"]


def test_token_rows_equal_check_token() -> None:
    r = {"type": "AccessRole", "name": "dp", "rules": [
        {"mesh": "default", "access": ["GENERATE_DATAPLANE_TOKEN"],
         "when": [{"dpToken": {"tags": [{"name": "kuma.io/service", "value": "web"}]}}]}]}
    b = {"type": "AccessRoleBinding", "name": "b", "subjects": [{"type": "User", "name": "ci"}], "roles": ["dp"]}
    authz = Authorizer([r, b])
    reqs = [{"mesh": "default", "tags": {"kuma.io/service": ["web"]}},
            {"mesh": "default", "tags": {"kuma.io/service": ["db"]}},
            {"mesh": "other", "tags": {"kuma.io/service": "web"}},
            {"tags": {}}]
    want = []
    for q in reqs:
        try:
            d = authz.check_token(User("ci"), "dataplane", q)
            want.append("allowed" if d.allowed else "cannot-access-resource")
        except MeshauthzError:
            want.append("error")
    rows = [("ci", [], "GENERATE_DATAPLANE_TOKEN", None, None, q) for q in reqs]
    got = reasons(authz.check_batch(rows))
    assert [("error" if g.startswith("error:") else g) for g in got] == want
    assert got[3] == "error:bad-token-request"
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"user": ["ci"] * 5, "action": ["GENERATE_DATAPLANE_TOKEN"] * 4 + ["GENERATE_USER_TOKEN"],
                      "token_request": [json.dumps(q) for q in reqs] + [None]})
    assert reasons(authz.check_batch(table)) == got + ["cannot-access-resource"]


def test_batch_column_and_argument_errors_are_meshauthz_errors(authz: Authorizer) -> None:
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(EvaluationError):
        authz.check_batch(pa.table({"user": pa.array([1, 2], pa.int64()), "action": ["CREATE", "CREATE"]}))
    with pytest.raises(EvaluationError):
        authz.check_batch(pa.table({"user": ["a"], "resource": pa.array([1.5], pa.float64())}))
    with pytest.raises(EvaluationError):
        authz.check_batch(5)
    with pytest.raises(EvaluationError):
        authz.check_batch([], threads="2")
    big = authz.check_batch([("bob", ["team-backend"], "CREATE", json.dumps(tp("backend")))], threads=2**64)
    assert big.allowed == [True]


def test_invalid_utf8_in_string_columns_is_an_error_not_a_panic(authz: Authorizer) -> None:
    pa = pytest.importorskip("pyarrow")
    raw = pa.array([b"\xff\xfe", b"ok"], pa.binary())
    bad = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())
    for col in ("user", "resource", "action"):
        cols = {"user": ["bob", "bob"], "action": ["CREATE", "CREATE"], "resource": [None, None]}
        cols[col] = bad
        with pytest.raises(EvaluationError):
            authz.check_batch(pa.table(cols))
    # Issue #12 item 2: a dictionary index past the dictionary is refused, never clamped.
    keys = pa.array([0, 99], pa.int32())
    clamped = pa.DictionaryArray.from_arrays(keys, pa.array(["bob", "alice"]), safe=False)
    with pytest.raises(EvaluationError):
        authz.check_batch(pa.table({"user": clamped, "action": ["CREATE", "CREATE"]}))


# ---- layering -------------------------------------------------------------------------------------


def test_analysis_holds_no_copy_of_r5_1_r5_5() -> None:
    # analysis formats the engines' answers (the import layering: tests/test_import_contract.py).
    text = (ROOT / "python" / "meshauthz" / "analysis" / "rbac.py").read_text()
    assert "subjects" not in text and "mesh_scoped" not in text


# ---- engine verbs ---------------------------------------------------------------------------------


def test_allowed_explain_refresh_reload() -> None:
    docs = meshauthz.load(str(EXAMPLES / "rbac.yaml"))
    authz = Authorizer(docs)
    for res in (tp("backend"), tp("web")):
        assert authz.allowed(BOB, "CREATE", res) == authz.check(BOB, "CREATE", res).allowed
    d = authz.explain(BOB, "CREATE", tp("web"))
    assert not d.allowed and not d._uncovered_pending
    assert d.uncovered == ("sources[0] {kuma.io/service: web} -> destinations[0] {kuma.io/service: web}",)
    # refresh(): recompile from the store's current content.
    docs.remove("AccessRoleBinding", "backend-owners")
    assert authz.check(BOB, "CREATE", tp("backend")).allowed  # compiled set unchanged until refresh
    authz.refresh()
    assert not authz.check(BOB, "CREATE", tp("backend")).allowed
    authz.reload(str(EXAMPLES / "rbac.yaml"))
    assert authz.check(BOB, "CREATE", tp("backend")).allowed


# ---- properties -----------------------------------------------------------------------------------

scalar = st.one_of(st.none(), st.integers(), st.binary(max_size=4), st.text(max_size=6), st.booleans())
junk = st.recursive(scalar, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c,
                                                                                          max_size=3)), max_leaves=8)
resource_st = st.one_of(junk, st.sampled_from([tp("backend"), tp("web")]),
                        st.builds(lambda k, v: {**tp("backend"), k: v},
                                  st.sampled_from(["type", "mesh", "name", "sources", "destinations"]), junk))
user_st = st.one_of(junk, st.just(BOB), st.tuples(st.sampled_from(["bob", None, 5]), junk))
action_st = st.one_of(junk, st.sampled_from(["CREATE", "UPDATE", "DELETE", "GET", "GENERATE_USER_TOKEN"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=user_st, action=action_st, resource=resource_st, old=st.one_of(st.none(), resource_st))
def test_any_input_decides_or_raises_a_meshauthz_error(authz: Authorizer, user: Any, action: Any, resource: Any,
                                                       old: Any) -> None:
    try:
        d = authz.check(user, action, resource, old)
    except MeshauthzError:
        single = "error"
    else:
        assert isinstance(d.allowed, bool)
        single = d.allowed
    # The batch row of the same request: the same decision, or an error row (same refusal).
    text = repr(resource)[:200]
    try:
        res = authz.check_batch([(user if not isinstance(user, User) else user.name,
                                  list(user.groups) if isinstance(user, User) else [], action, resource, old)])
    except MeshauthzError:  # pragma: no cover - a bad row never aborts
        raise AssertionError("batch raised") from None
    row = res.reason[0]
    if single == "error":
        assert row.startswith("error:") or not res.allowed[0], (row, text)
    elif isinstance(user, User):
        assert res.allowed[0] == single, (row, text)


def test_refresh_after_a_one_shot_source_keeps_the_set() -> None:
    docs = [{"type": "AccessRole", "name": "r", "rules": [{"access": ["CREATE"]}]},
            {"type": "AccessRoleBinding", "name": "b", "subjects": [{"type": "User", "name": "u"}], "roles": ["r"]}]
    authz = Authorizer(iter(docs))
    authz.refresh()  # the generator is exhausted: the resolved resources are recompiled
    assert authz.check(User("u"), "CREATE", tp("x")).allowed


# ---- #12 item 6: RBAC batches run on the one shared pool ------------------------------------------

@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_rbac_batches_use_the_one_pool_whatever_threads_says(authz: Authorizer) -> None:
    """Traffic and RBAC batches share rust/py/src/pool.rs's pool: once a traffic batch has started
    it, RBAC batches with any `threads=` add no OS thread (the old RBAC path ran on rayon's global
    pool, a second pool; a pool per `threads` value would add more)."""
    rows = [("bob", ["team-backend"], "CREATE", json.dumps(tp("backend")))] * 20_000
    engine = meshauthz.TrafficEngine(meshauthz.load(str(EXAMPLES)))
    engine.check_batch([("web-1", "backend-1", 8080)] * 20_000, threads=2)  # starts the shared pool
    before = len(os.listdir("/proc/self/task"))
    for t in (2, 3, 5, 8, 13, 64, 128, 501, 2**40):
        res = authz.check_batch(rows, threads=t)
        assert res.allowed == [True] * len(rows)
    assert len(os.listdir("/proc/self/task")) <= before


def test_lone_surrogates_are_evaluation_errors() -> None:
    """#12 item 9 through the native `Authorizer.check` / `.allowed` (issue #11: bound to the
    compiled set, no Python wrapper): a lone surrogate in a name, a group, an action or a document
    is an `EvaluationError`, never a `UnicodeError`; valid text still decides."""
    authz = Authorizer(str(EXAMPLES / "rbac.yaml"))
    bad = "\ud800"
    calls: list[tuple[Any, ...]] = [
        (User(bad, ["team-backend"]), "CREATE", tp("backend")),
        (User("bob", [bad]), "CREATE", tp("backend")),
        (BOB, "CREATE" + bad, tp("backend")),
        (BOB, "CREATE", tp(bad)),
        (BOB, "CREATE", {**tp("backend"), "name": bad}),
        (BOB, "UPDATE", tp("backend"), {**tp("backend"), "mesh": bad}),
    ]
    for args in calls:
        for fn in (authz.check, authz.allowed, authz.explain):
            # Even where the decision would not read the text (a name when a group grants, R5.1
            # lookups by object): strict conversion, the same error on every path.
            with pytest.raises(EvaluationError):
                fn(*args)
    # A batch row is an `error:*` row instead (never an abort, never allowed).
    res = authz.check_batch([("bob", ["team-backend"], "CREATE" + bad, json.dumps(tp("backend"))),
                             (bad, ["team-backend"], "CREATE", json.dumps(tp("backend")))])
    assert res.allowed == [False, False] and all(r.startswith("error:") for r in res.reason)
    assert authz.check(BOB, "CREATE", tp("backend")).allowed
    assert authz.allowed(BOB, "CREATE", tp("backend"), token_request=None)
