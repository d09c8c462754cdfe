"""Property (#11 "done when"): on meshes with MeshTrafficPermissions, every batch row equals the
single check. The batch goes Arrow -> `_core.traffic_batch_arrow` (dictionary and plain string
columns), a path that shares no Python code with `TrafficEngine.check`; malformed rows must be
refused as `check` refuses them (#12 "batch equals single check ... including malformed rows")."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import NON_MESH, TrafficEngine
from meshauthz.errors import MeshauthzError

pa = pytest.importorskip("pyarrow")

SERVICES = ["web", "api", "db"]
VERSIONS = ["v1", "v2"]
TEAMS = ["a", "b"]


@st.composite
def meshes(draw: Any) -> list[dict[str, Any]]:
    mode = draw(st.sampled_from(["STRICT", "PERMISSIVE", None]))
    mesh: dict[str, Any] = {"type": "Mesh", "name": "default"}
    if mode is not None:
        mesh["mtls"] = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin", "mode": mode}]}
    docs = [mesh]
    for i in range(draw(st.integers(2, 5))):
        svc = draw(st.sampled_from(SERVICES))
        docs.append({"type": "Dataplane", "mesh": "default", "name": f"dp{i}", "networking": {
            "address": f"10.0.0.{i + 1}",
            "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc, "version": draw(st.sampled_from(VERSIONS)),
                                                "team": draw(st.sampled_from(TEAMS))}}]}})
    sel = st.dictionaries(st.sampled_from(["kuma.io/service", "version", "team"]),
                          st.sampled_from([*SERVICES, *VERSIONS, *TEAMS, "*"]), min_size=0, max_size=2)
    for i in range(draw(st.integers(0, 4))):
        src = draw(sel)
        dst = draw(sel)
        src.setdefault("kuma.io/service", draw(st.sampled_from([*SERVICES, "*"])))
        dst.setdefault("kuma.io/service", draw(st.sampled_from([*SERVICES, "*"])))
        docs.append({"type": "TrafficPermission", "mesh": "default", "name": f"tp{i}",
                     "creationTime": f"2024-01-01T00:00:0{draw(st.integers(0, 2))}Z",
                     "sources": [{"match": src}], "destinations": [{"match": dst}]})
    targets = st.one_of(
        st.just({"kind": "Mesh"}),
        st.builds(lambda s: {"kind": "MeshService", "name": s}, st.sampled_from(SERVICES)),
        st.builds(lambda t: {"kind": "MeshSubset", "tags": {"team": t}}, st.sampled_from(TEAMS)),
    )
    froms = st.one_of(
        st.just({"kind": "Mesh"}),
        st.builds(lambda k, v: {"kind": "MeshSubset", "tags": {k: v}},
                  st.sampled_from(["kuma.io/service", "team", "version"]),
                  st.sampled_from([*SERVICES, *TEAMS, *VERSIONS])),
    )
    for i in range(draw(st.integers(1, 3))):
        items = draw(st.lists(st.tuples(froms, st.sampled_from(["Allow", "Deny", "AllowWithShadowDeny"])),
                              min_size=1, max_size=4))
        docs.append({"type": "MeshTrafficPermission", "mesh": "default", "name": f"mtp{i}",
                     "spec": {"targetRef": draw(targets),
                              "from": [{"targetRef": t, "default": {"action": a}} for t, a in items]}})
    return docs


def _single(engine: TrafficEngine, source: Any, tags: Any, dest: Any, port: Any) -> tuple[Any, ...]:
    try:
        if source is None and tags is None:
            src: Any = NON_MESH
        elif source is not None:
            src = source
        else:
            src = dict(kv.split("=", 1) for kv in tags.split(","))
        d = engine.check(source=src, destination=(dest, port))
    except MeshauthzError:
        return ("error",)
    return (d.allowed, d.reason, d.policy)


def _row(allowed: bool, reason: str, policy: Any) -> tuple[Any, ...]:
    return ("error",) if reason.startswith("error:") else (allowed, reason, policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshes(), st.booleans())
def test_arrow_batch_equals_single_check_on_mtp_meshes(docs: list[dict[str, Any]], dictionary: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = TrafficEngine(meshauthz.load_dicts(docs))
    names = [d["name"] for d in docs if d["type"] == "Dataplane"]
    sources: list[Any] = [*names, None, "ghost"]
    tag_sources = ["kuma.io/service=web,team=a", "kuma.io/service=db", "team=b,version=v2"]
    rows = [(s, None, d, p) for s in sources for d in [*names, "ghost"] for p in (8080, 1)]
    rows += [(None, t, d, 8080) for t in tag_sources for d in names]
    cols = {
        "source": pa.array([r[0] for r in rows], pa.string()),
        "source_tags": pa.array([r[1] for r in rows], pa.string()),
        "destination": pa.array([r[2] for r in rows], pa.string()),
        "port": pa.array([r[3] for r in rows], pa.int64()),
    }
    if dictionary:
        cols = {k: (v.dictionary_encode() if k != "port" else v) for k, v in cols.items()}
    res = engine.check_batch(pa.table(cols))
    got = [_row(a, r, p) for a, r, p in zip(res.allowed, res.reason, res.policy)]
    want = [_single(engine, *r) for r in rows]
    assert got == want
