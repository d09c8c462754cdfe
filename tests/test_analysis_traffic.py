"""who_can_reach and the service matrix agree with brute-force `TrafficEngine.check` enumeration."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis_gen import generated_mesh
from meshauthz.analysis import identity_of, service_matrix
from meshauthz.analysis.matrix import VALUES
from meshauthz.api import load_dicts
from meshauthz.traffic import NON_MESH, Identity, Inbound, TrafficEngine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SVC = "kuma.io/service"
SERVICES = ["a", "b", "c"]
TEAMS = ["x", "y"]
# Every client identity over the small vocabulary (services x teams, each possibly absent/multiple).
ALL_IDENTITIES = [
    Identity(tuple(s), {"team": tuple(t)} if t else {})
    for s in itertools.chain.from_iterable(itertools.combinations(SERVICES, k) for k in range(3))
    for t in itertools.chain.from_iterable(itertools.combinations(TEAMS, k) for k in range(3))
]


def _engine(docs: list[dict]) -> TrafficEngine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TrafficEngine(load_dicts(docs))


tag_maps = st.fixed_dictionaries({SVC: st.sampled_from(SERVICES)}, optional={"team": st.sampled_from(TEAMS)})
selector = st.fixed_dictionaries({}, optional={SVC: st.sampled_from([*SERVICES, "*"]),
                                               "team": st.sampled_from([*TEAMS, "*"])}).filter(bool)
mtp_item = st.tuples(
    st.sampled_from(["Mesh", "MeshSubset", "MeshService", "MeshServiceSubset"]), st.sampled_from(SERVICES),
    st.dictionaries(st.sampled_from([SVC, "team"]), st.sampled_from([*SERVICES, *TEAMS]), max_size=2),
    st.sampled_from(["Allow", "Deny", "AllowWithShadowDeny"]))


def _from(kind: str, name: str, tags: dict, action: str) -> dict:
    ref: dict = {"kind": kind}
    if kind in ("MeshService", "MeshServiceSubset"):
        ref["name"] = name
    if kind in ("MeshSubset", "MeshServiceSubset"):
        ref["tags"] = tags
    return {"targetRef": ref, "default": {"action": action}}


@st.composite
def meshes(draw: st.DrawFn) -> list[dict]:
    mode = draw(st.sampled_from(["off", "STRICT", "PERMISSIVE"]))
    mesh: dict = {"type": "Mesh", "name": "m"}
    if mode != "off":
        mesh["mtls"] = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin", "mode": mode}]}
    docs = [mesh]
    for i, inbounds in enumerate(draw(st.lists(st.lists(tag_maps, min_size=1, max_size=2), min_size=1, max_size=4))):
        docs.append({"type": "Dataplane", "name": f"dp{i}", "mesh": "m", "networking": {
            "address": f"10.0.0.{i + 1}", "inbound": [{"port": 8000 + j, "tags": t} for j, t in enumerate(inbounds)]}})
    for i in range(draw(st.integers(0, 3))):
        docs.append({"type": "TrafficPermission", "name": f"tp{i}", "mesh": "m",
                     "creationTime": f"2024-01-0{draw(st.integers(1, 3))}T00:00:00Z",
                     "sources": [{"match": s} for s in draw(st.lists(selector, min_size=1, max_size=2))],
                     "destinations": [{"match": s} for s in draw(st.lists(selector, min_size=1, max_size=2))]})
    for i in range(draw(st.integers(0, 2))):
        top = draw(st.sampled_from([{"kind": "Mesh"}, {"kind": "MeshService", "name": draw(st.sampled_from(SERVICES))},
                                    {"kind": "MeshSubset", "tags": {"team": draw(st.sampled_from(TEAMS))}}]))
        docs.append({"type": "MeshTrafficPermission", "name": f"mtp{i}", "mesh": "m", "spec": {
            "targetRef": top, "from": [_from(*it) for it in draw(st.lists(mtp_item, min_size=1, max_size=4))]}})
    return docs


@settings(max_examples=60)
@given(meshes())
def test_who_can_reach_agrees_with_enumeration(docs: list[dict]) -> None:
    engine = _engine(docs)
    dps = [d for d in docs if d["type"] == "Dataplane"]
    for dp in dps:
        for ib in dp["networking"]["inbound"]:
            cs = engine.who_can_reach(dp["name"], ib["port"])
            dest = Inbound(dp["name"], ib["port"])
            assert cs.non_mesh == engine.check(source=NON_MESH, destination=dest).allowed
            for ident in ALL_IDENTITIES:
                expected = engine.check(source=ident, destination=dest).allowed
                assert cs.allows(ident.pairs()) == expected, (cs, ident)
            for client in dps:  # dataplane clients: by name, and the resolved lists
                expected = engine.check(source=client["name"], destination=dest).allowed
                assert (client["name"] in cs.dataplanes) == expected


@settings(max_examples=40)
@given(meshes())
def test_matrix_agrees_with_enumeration(docs: list[dict]) -> None:
    engine = _engine(docs)
    for use_numpy in (True, False):
        if use_numpy:
            pytest.importorskip("numpy")
        m = service_matrix(engine, "m", use_numpy=use_numpy)
        for s in m.sources:
            for d in m.destinations:
                outcomes = {engine.check(source=dp, destination=Inbound(*ib)).allowed
                            for dp in m.src_dataplanes[s] for ib in m.dst_inbounds[d]}
                want = "allow" if outcomes == {True} else "deny" if outcomes == {False} else "partial"
                assert m.value(s, d) == want


def test_examples_who_can_reach() -> None:
    engine = TrafficEngine.from_paths(EXAMPLES / "universal")
    cs = engine.who_can_reach("backend-1", 8080)
    assert cs.basis == "traffic-permission" and cs.policies == ("web-to-backend",)
    assert cs.services == ("edge", "web") and not cs.non_mesh
    cs = engine.who_can_reach("payments-1", 9090)
    assert [dict(t.require) for t in cs.terms] == [{"team": "core"}]  # '*' imposes nothing (T2.7)
    assert engine.who_can_reach("web-1", 8080).basis == "no-policy"
    assert engine.who_can_reach("edge-gateway", 1).basis == "not-enforced"
    assert engine.who_can_reach("web-1", 1).basis == "unknown-inbound"
    assert cs.to_dict()["mesh_clients"] == "some"


def test_mtp_terms_describe_allow_minus_later_deny() -> None:
    docs = generated_mesh(14)
    engine = _engine(docs)
    cs = engine.who_can_reach("svc-0007-0", 8080)
    assert cs.basis == "mesh-traffic-permission" and cs.policies == ("mtp-0007",)
    first = cs.terms[0]
    assert first.require == () and first.unless == ((("team", "team-7"),),)
    assert cs.allows({("team", "team-1")}) and not cs.allows({("team", "team-7")})
    assert cs.allows({(SVC, "svc-0008"), ("team", "team-7")})  # the later AllowWithShadowDeny item


def test_matrix_examples_and_generated() -> None:
    m = service_matrix(TrafficEngine.from_paths(EXAMPLES / "universal"), "demo")
    assert m.destinations == ["backend", "batch", "payments", "web"]
    assert m.value("web", "backend") == "allow" and m.value("batch", "backend") == "deny"
    assert m.to_csv().splitlines()[0] == "source,backend,batch,payments,web"
    assert set(v for r in m.to_dict()["matrix"] for v in r) <= set(VALUES)
    engine = _engine(generated_mesh(60))
    big = service_matrix(engine, "big")
    assert len(big.sources) == 60 and big.counts()["partial"] > 0
    # svc-0000 has two instances with different versions: partial against team-9's v1-only source.
    ident = identity_of(engine.compiled.dataplanes[("big", "svc-0001-0")].body)
    assert (SVC, "svc-0001") in ident


def test_matrix_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    m = service_matrix(TrafficEngine.from_paths(EXAMPLES / "universal"), "demo")
    out = tmp_path / "m.png"
    m.to_png(str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
