"""#12 "Keep it so" (traffic): on random input every public call returns a decision or raises a
`MeshauthzError` subclass, and a batch row is refused exactly when `check` refuses the same request
(same decision otherwise), malformed values included."""

from __future__ import annotations

import warnings
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import NON_MESH, TrafficEngine
from meshauthz.errors import MeshauthzError

MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin", "mode": "PERMISSIVE"}]}


def _engine() -> TrafficEngine:
    def dp(mesh: str, name: str, svc: str) -> dict[str, Any]:
        return {"type": "Dataplane", "mesh": mesh, "name": name,
                "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc}}]}}

    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS}, {"type": "Mesh", "name": "other", "mtls": MTLS},
            dp("default", "web-1", "web"), dp("default", "api-1", "api"), dp("other", "api-1", "api"),
            {"type": "TrafficPermission", "mesh": "default", "name": "web-api",
             "sources": [{"match": {"kuma.io/service": "web"}}],
             "destinations": [{"match": {"kuma.io/service": "api"}}]},
            {"type": "MeshTrafficPermission", "mesh": "other", "name": "deny-all",
             "spec": {"targetRef": {"kind": "Mesh"},
                      "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}}]}}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TrafficEngine(meshauthz.load_dicts(docs))


ENGINE = _engine()
junk = st.one_of(
    st.none(), st.just("\udc80x"), st.integers(-2**70, 2**70), st.floats(allow_nan=True), st.binary(max_size=4),
    st.booleans(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
names = st.sampled_from(["web-1", "api-1", "ghost", "", "\ud800"])  # a lone surrogate is not UTF-8
# (A dict is a valid `check` source, a tag map, but not a batch `source` value: left out here.)
sources = st.one_of(names, junk.filter(lambda v: not isinstance(v, dict)))
dests = st.one_of(names, junk)
ports = st.one_of(st.just(8080), st.just(1), junk)
meshes = st.one_of(st.sampled_from([None, "default", "other", "ghost"]), junk)


def _check(source: Any, dest: Any, port: Any, mesh: Any) -> Any:
    try:
        d = ENGINE.check(source=NON_MESH if source is None else source, destination=(dest, port), mesh=mesh)
    except MeshauthzError:
        return "refused"
    return (d.allowed, d.reason, d.policy)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(sources, dests, ports, meshes), min_size=1, max_size=8))
def test_check_and_batch_agree_on_random_input(rows: list[tuple[Any, Any, Any, Any]]) -> None:
    want = [_check(*r) for r in rows]
    res = ENGINE.check_batch([{"mesh": m, "source": s, "destination": d, "port": p} for s, d, p, m in rows])
    got = ["refused" if r.startswith("error:") else (a, r, p) for a, r, p in zip(res.allowed, res.reason, res.policy)]
    assert got == want


@settings(max_examples=200, deadline=None)
@given(junk, junk, st.one_of(junk, st.integers()))
def test_other_entry_points_raise_only_meshauthz_errors(a: Any, b: Any, threads: Any) -> None:
    for call in (
        lambda: ENGINE.check(source=a, destination=b),
        lambda: ENGINE.check_batch(a),
        lambda: ENGINE.check_batch([("web-1", "api-1", 8080)], threads=threads),
        lambda: ENGINE.who_can_reach("api-1", a, mesh="default"),
        lambda: ENGINE.explain(source=a, destination=("api-1", 8080), mesh="default"),
        lambda: ENGINE.reachable_external_services(a, mesh="default"),
    ):
        try:
            call()
        except MeshauthzError:
            pass
