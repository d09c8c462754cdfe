"""Bundles (issue #6 A): round trips decide identically; corrupt / other-version bundles are refused;
engines pickle through bundles into a spawned worker process."""

from __future__ import annotations

import multiprocessing
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz import NON_MESH, Authorizer, BundleError, ExternalServiceTarget, Inbound, TrafficEngine, User
from meshauthz import bundle as mb
from meshauthz.cli import main
from test_rbac_differential import world as rbac_world
from test_traffic_differential import _dedupe, documents, tag_map
from test_traffic_differential import world as traffic_world

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


_KEY = Ed25519PrivateKey.generate()


def _round_trips(resources: list[meshauthz.Resource]) -> list[meshauthz.Bundle]:
    """The bundle of `resources` read both ways: unsigned (re-validated, compiled from its
    resources) and signed + verified (activated: lazy resources, compiled section as-is)."""
    unsigned = mb.loads(mb.dumps(resources))
    activated = mb.loads(mb.dumps(resources, sign_key=_KEY), verify_key=_KEY.public_key())
    assert not unsigned.verified and activated.verified
    return [unsigned, activated]


def _explained(engine: TrafficEngine, source: Any, dest: Any, mesh: str) -> Any:
    try:
        return engine.explain(source=source, destination=dest, mesh=mesh).to_dict()
    except meshauthz.MeshauthzError as e:
        return ("error", type(e).__name__, str(e))


def _inspected(engine: TrafficEngine, store: meshauthz.ResourceStore) -> list[Any]:
    out: list[Any] = []
    for dp in store.list("Dataplane"):
        try:
            out.append(engine.inspect(dp.name, mesh=dp.mesh).to_dict())
        except meshauthz.MeshauthzError as e:
            out.append(("error", type(e).__name__, str(e)))
    return out


def _decide(engine: TrafficEngine, source: Any, dest: Any, mesh: str) -> Any:
    try:
        return engine.check(source=source, destination=dest, mesh=mesh).to_dict()
    except meshauthz.MeshauthzError as e:
        return ("error", type(e).__name__, str(e))


def _traffic_decisions(store: meshauthz.ResourceStore, engine: TrafficEngine, adhoc: list[dict[str, str]]) -> list:
    out = []
    dps = store.list("Dataplane")
    for dst in dps:
        ports = [i["port"] for i in (dst.body.get("networking") or {}).get("inbound") or []] + [99, 5670]
        clients: list[Any] = [NON_MESH, *[d.name for d in dps if d.mesh == dst.mesh], *adhoc]
        out += [_decide(engine, c, Inbound(dst.name, p), dst.mesh or "") for p in ports for c in clients]
    for es in store.list("ExternalService"):
        clients = [NON_MESH, *[d.name for d in dps if d.mesh == es.mesh], *adhoc]
        out += [_decide(engine, c, ExternalServiceTarget(es.name), es.mesh or "") for c in clients]
    return out


@settings(max_examples=60, deadline=None)
@given(traffic_world(), st.lists(tag_map(), min_size=1, max_size=2))
def test_traffic_round_trip_identical(w: Any, adhoc: list[dict[str, str]]) -> None:
    docs = documents(_dedupe(w))
    store = meshauthz.load_dicts(docs)
    for b in _round_trips(store.list()):
        for gating in ("legacy", "none"):
            mine, theirs = TrafficEngine(store, external_service_gating=gating), b.traffic_engine(
                external_service_gating=gating)
            assert _traffic_decisions(b.store, theirs, adhoc) == _traffic_decisions(store, mine, adhoc)
        assert _inspected(theirs, b.store) == _inspected(mine, store)
        dps = store.list("Dataplane")
        for dst in dps[:2]:
            for c in [NON_MESH, *[d.name for d in dps if d.mesh == dst.mesh][:2], *adhoc]:
                ports = [i["port"] for i in (dst.body.get("networking") or {}).get("inbound") or []][:1]
                for p in ports:
                    assert (_explained(theirs, c, Inbound(dst.name, p), dst.mesh or "")
                            == _explained(mine, c, Inbound(dst.name, p), dst.mesh or ""))


# ---- MeshTrafficPermission (through TrafficEngine's E4 hook and MtpEngine) --------------------------

SVCS = ("a", "b", "c")
_refs = st.one_of(
    st.just({"kind": "Mesh"}),
    st.builds(lambda s: {"kind": "MeshService", "name": s}, st.sampled_from(SVCS)),
    st.builds(lambda v: {"kind": "MeshSubset", "tags": {"version": v}}, st.sampled_from(("v1", "v2"))),
)


@st.composite
def mtp_world(draw: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [{"type": "Mesh", "name": "m",
                                   "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}}]
    for i in range(3):
        tags = {"kuma.io/service": draw(st.sampled_from(SVCS)), "version": draw(st.sampled_from(("v1", "v2")))}
        docs.append({"type": "Dataplane", "mesh": "m", "name": f"dp{i}",
                     "networking": {"address": f"10.0.0.{i + 1}", "inbound": [{"port": 80, "tags": tags}]}})
    for i in range(draw(st.integers(1, 4))):
        frm = [{"targetRef": draw(_refs), "default": {"action": draw(st.sampled_from(
            ("Allow", "Deny", "AllowWithShadowDeny")))}} for _ in range(draw(st.integers(1, 3)))]
        docs.append({"type": "MeshTrafficPermission", "mesh": "m", "name": f"mtp-{i}",
                     "creationTime": f"2024-01-0{1 + i % 2}T00:00:00Z",
                     "spec": {"targetRef": draw(_refs), "from": frm}})
    if draw(st.booleans()):
        docs.append({"type": "TrafficPermission", "mesh": "m", "name": "tp",
                     "sources": [{"match": {"kuma.io/service": "*"}}],
                     "destinations": [{"match": {"kuma.io/service": draw(st.sampled_from(SVCS))}}]})
    return docs


@pytest.mark.filterwarnings("ignore::meshauthz.MeshauthzWarning")  # deprecated MTP kinds are still decided
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mtp_world())
def test_mtp_round_trip_identical(docs: list[dict[str, Any]]) -> None:
    store = meshauthz.load_dicts(docs)
    for b in _round_trips(store.list()):
        engine, want = b.traffic_engine(), TrafficEngine(store)
        assert _traffic_decisions(b.store, engine, []) == _traffic_decisions(store, want, [])
        assert _inspected(engine, b.store) == _inspected(want, store)
        for i in range(3):
            for j in range(3):
                assert (_explained(engine, f"dp{j}", Inbound(f"dp{i}", 80), "m")
                        == _explained(want, f"dp{j}", Inbound(f"dp{i}", 80), "m"))
        mine, theirs = meshauthz.mtp.MtpEngine(store), b.mtp_engine()
        for order in ("kuma", "as_listed"):
            for i in range(3):
                assert theirs.select_rules(f"dp{i}", 80, order) == mine.select_rules(f"dp{i}", 80, order)
                for j in range(3):
                    assert theirs.decide(f"dp{j}", f"dp{i}", 80) == mine.decide(f"dp{j}", f"dp{i}", 80)


# ---- RBAC --------------------------------------------------------------------------------------


def _rbac_decision(authz: Authorizer, c: dict[str, Any]) -> Any:
    user = User(*c["user"])
    try:
        if "token" in c:
            d = authz.check(user, c["action"], token_request=c["token"])
        else:
            d = authz.check(user, c["action"], c["resource"], c.get("old"))
        return (d.allowed, d.reason, d.grant, d.old_grant, d.uncovered, d.message(c["channel"]))
    except meshauthz.MeshauthzError as e:
        return ("error", str(e))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rbac_world())
def test_rbac_round_trip_identical(w: Any) -> None:
    roles, bindings, cases = w
    result = meshauthz.loader.load_objects(roles + bindings)
    assert not result.problems
    want = Authorizer(result)
    for b in _round_trips(result.resources):
        got = b.authorizer()
        assert [_rbac_decision(got, c) for c in cases] == [_rbac_decision(want, c) for c in cases]


# ---- examples + CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["universal", "kubernetes"])
def test_examples_compile_and_decide(tmp_path: Path, form: str) -> None:
    out = tmp_path / "ex.bundle"
    assert main(["compile", str(EXAMPLES / form), "--out", str(out), "-q"]) == 0
    store = meshauthz.load(EXAMPLES / form)
    b = meshauthz.load_bundle(out)
    assert [r.key for r in b.store] == [r.key for r in store]
    assert _traffic_decisions(b.store, b.traffic_engine(), []) == _traffic_decisions(store, TrafficEngine(store), [])
    # -f accepts a bundle wherever it accepts YAML
    dp = store.list("Dataplane")[0]
    port = dp.body["networking"]["inbound"][0]["port"]
    args = ["check", "traffic", "--from", "non-mesh", "--to", f"{dp.name}:{port}", "--mesh", dp.mesh or ""]
    assert main([*args, "-f", str(out)]) == main([*args, "-f", str(EXAMPLES / form)])


def test_compile_refuses_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: TrafficPermission\nname: x\nmesh: default\nsources: 3\n")
    assert main(["compile", str(bad), "--out", str(tmp_path / "x.bundle")]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert not (tmp_path / "x.bundle").exists()


# ---- rejection ---------------------------------------------------------------------------------------


def _example_bytes() -> bytes:
    return mb.dumps(meshauthz.load(EXAMPLES / "universal"))


@pytest.mark.parametrize("where", [0, 5, len(mb.MAGIC), len(mb.MAGIC) + 3, mb.HEADER_SIZE, mb.HEADER_SIZE + 40, -1])
def test_flipped_byte_rejected(where: int) -> None:
    data = bytearray(_example_bytes())
    data[where] ^= 0x01
    with pytest.raises(BundleError, match="not a meshauthz bundle|format version|checksum mismatch"):
        mb.loads(bytes(data))


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_any_flipped_bit_rejected(data: st.DataObject) -> None:
    raw = bytearray(_BYTES)
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(BundleError):
        mb.loads_resources(bytes(raw))


_BYTES = _example_bytes()


def test_other_version_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(_BYTES)
    struct.pack_into(">H", data, len(mb.MAGIC), mb.FORMAT_VERSION + 1)
    path = tmp_path / "new.bundle"
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=f"format version {mb.FORMAT_VERSION + 1} is not supported"):
        meshauthz.load_bundle(path)
    assert main(["check", "traffic", "-f", str(path), "--from", "non-mesh", "--to", "x:1"]) == 2
    assert "format version" in capsys.readouterr().err


def test_truncated_and_foreign_files_rejected(tmp_path: Path) -> None:
    for data in (_BYTES[:10], _BYTES[: mb.HEADER_SIZE - 1], _BYTES[:-5], b"type: Mesh\n"):
        with pytest.raises(BundleError):
            mb.loads(data)
    assert issubclass(BundleError, meshauthz.MeshauthzError)


# ---- pickling -----------------------------------------------------------------------------------------


PORT = 8080  # backend-1's inbound in examples/universal


def _worker(args: tuple[Any, Any, Any]) -> tuple[Any, Any, bool]:
    traffic, authz, again = args
    d = traffic.check(source="web-1", destination=("backend-1", PORT), mesh="demo")
    a = authz.check(User("alice", ["devs"]), "CREATE",
                    {"type": "TrafficPermission", "mesh": "demo", "name": "x", "sources": [], "destinations": []})
    return (d.to_dict(), a.allowed, again is traffic)  # same digest → the cached engine


def test_pickle_round_trip_in_spawned_worker() -> None:
    store = meshauthz.load(EXAMPLES / "universal")
    traffic, authz = TrafficEngine(store), Authorizer(store)
    a, b = pickle.loads(pickle.dumps(traffic)), pickle.loads(pickle.dumps(traffic))
    assert a is not b and a.compiled.core is b.compiled.core  # fresh engines over one cached snapshot (#12)
    want = _worker((traffic, authz, traffic))
    want = (want[0], want[1], True)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.map(_worker, [(traffic, authz, traffic)]) == [want]


def test_pickle_mtp_engine() -> None:
    docs = [{"type": "Mesh", "name": "m"}] + [
        {"type": "Dataplane", "mesh": "m", "name": f"dp{i}",
         "networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": f"s{i}"}}]}}
        for i in range(2)] + [
        {"type": "MeshTrafficPermission", "mesh": "m", "name": "deny-s0",
         "spec": {"targetRef": {"kind": "Mesh"}, "from": [
             {"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}},
             {"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "s0"}}, "default": {"action": "Deny"}}]}}]
    store = meshauthz.load_dicts(docs)
    engine = meshauthz.mtp.MtpEngine(store)
    clone = pickle.loads(pickle.dumps(engine))
    assert clone.decide("dp0", "dp1", 80) == engine.decide("dp0", "dp1", 80)
    assert clone.decide("dp0", "dp1", 80).allowed is False and clone.decide("dp1", "dp0", 80).allowed
