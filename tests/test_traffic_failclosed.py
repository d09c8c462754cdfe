"""Issue #11 (one decision path) and #12 (fail closed) regressions for the traffic engines.

Each test names the item it guards; every expectation below failed on the code before the fix
(the compile/store race left a revoked MTP deciding; malformed batch rows decided as "no sidecar";
invalid dictionary indices were clamped; invalid UTF-8 panicked; wrong error types escaped; each
`threads=` value leaked a pool; unpickled engines were one shared object; zone-egress MTPs raised).
"""

from __future__ import annotations

import os
import pickle
import warnings
from typing import Any

import pytest

import meshauthz
from meshauthz import NON_MESH, ResourceStore, TrafficEngine
from meshauthz.errors import EvaluationError, InputError, MeshauthzError, NotFoundError
from meshauthz.mtp import MtpEngine
from meshauthz.traffic import ExternalServiceTarget, Inbound

MTLS = {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}
PERMISSIVE = {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE"}]}


def dp(name: str, service: str, port: int = 8080, mesh: str = "default", **tags: str) -> dict[str, Any]:
    return {"type": "Dataplane", "mesh": mesh, "name": name,
            "networking": {"address": "10.0.0.1", "inbound": [{"port": port, "tags": {"kuma.io/service": service,
                                                                                       **tags}}]}}


def tp(name: str, src: str, dst: str, mesh: str = "default") -> dict[str, Any]:
    return {"type": "TrafficPermission", "mesh": mesh, "name": name,
            "sources": [{"match": {"kuma.io/service": src}}], "destinations": [{"match": {"kuma.io/service": dst}}]}


def mtp(name: str, target: dict[str, Any], items: list[tuple[dict[str, Any], str]],
        mesh: str = "default") -> dict[str, Any]:
    return {"type": "MeshTrafficPermission", "mesh": mesh, "name": name,
            "spec": {"targetRef": target, "from": [{"targetRef": t, "default": {"action": a}} for t, a in items]}}


def load(docs: list[dict[str, Any]]) -> ResourceStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meshauthz.load_dicts(docs)


# ---- #11 item 2: the compile/store race -----------------------------------------------------------

class RacingStore(ResourceStore):
    """A store changed by "another thread" right after an engine took its compile snapshot."""

    def __init__(self, docs_store: ResourceStore, change: Any):
        super().__init__(docs_store.list())
        self._change = change

    def snapshot(self, types: Any) -> Any:
        snap = super().snapshot(types)
        change, self._change = self._change, None
        if change is not None:
            change(self)  # the store moves on while the engine compiles `snap`
        return snap


def _revoke(store: ResourceStore) -> None:
    store.remove("MeshTrafficPermission", "allow-web", "default")
    store.add(meshauthz.load_dicts([mtp("deny-web", {"kind": "MeshService", "name": "backend"},
                                        [({"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}}, "Deny")])]
                                   ).get("MeshTrafficPermission", "deny-web", "default"))


RACE_DOCS = [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web"), dp("backend-1", "backend"),
             mtp("allow-web", {"kind": "MeshService", "name": "backend"},
                 [({"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}}, "Allow")])]


def test_race_store_change_during_compile_is_seen_traffic_engine() -> None:
    store = RacingStore(load(RACE_DOCS), _revoke)
    engine = TrafficEngine(store)  # compiles the old set; the revocation lands meanwhile
    d = engine.check(source="web-1", destination=("backend-1", 8080))
    assert (d.allowed, d.reason, d.policy) == (False, "mtp-deny", "deny-web")
    engine.refresh()
    assert engine.check(source="web-1", destination=Inbound("backend-1", 8080)).reason == "mtp-deny"


def test_race_store_change_during_compile_is_seen_mtp_engine() -> None:
    store = RacingStore(load(RACE_DOCS), _revoke)
    engine = MtpEngine(store)
    _ = engine.compiled  # compiled from the snapshot taken before the revocation
    d = engine.decide("web-1", "backend-1", 8080)
    assert d is not None and (d.allowed, d.reason) == (False, "mtp-deny")


# ---- #11 item 1: E4 and the zone egress in the core -----------------------------------------------

def test_t4_7_m7_5_mtp_at_the_zone_egress_decides() -> None:
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS, "routing": {"zoneEgress": True}},
            dp("web-1", "web"), dp("backend-1", "backend"),
            {"type": "ExternalService", "mesh": "default", "name": "httpbin",
             "tags": {"kuma.io/service": "httpbin", "kuma.io/protocol": "http"},
             "networking": {"address": "httpbin.org:80"}},
            tp("all-to-httpbin", "*", "httpbin"),
            mtp("httpbin-backend-only", {"kind": "MeshService", "name": "httpbin"},
                [({"kind": "MeshSubset", "tags": {"kuma.io/service": "backend"}}, "Allow")])]
    engine = TrafficEngine(load(docs))
    web = engine.check(source="web-1", destination=ExternalServiceTarget("httpbin"))
    assert (web.allowed, web.reason, web.policy) == (False, "mtp-no-match", None)
    backend = engine.check(source="backend-1", destination=ExternalServiceTarget("httpbin"))
    assert (backend.allowed, backend.reason, backend.policy) == (True, "mtp-allow", "httpbin-backend-only")
    assert backend.matched_policies == ("httpbin-backend-only",)
    assert engine.reachable_external_services("backend-1") == ["httpbin"]
    assert engine.reachable_external_services("web-1") == []


# ---- #12 item 1: malformed batch input never decides as "no sidecar" -------------------------------

PERMISSIVE_DOCS = [{"type": "Mesh", "name": "default", "mtls": PERMISSIVE}, dp("evil-1", "evil"),
                   dp("backend-1", "backend"), tp("web-only", "web", "backend")]


@pytest.fixture(scope="module")
def permissive() -> TrafficEngine:
    return TrafficEngine(load(PERMISSIVE_DOCS))


def test_item1_reference_single_checks(permissive: TrafficEngine) -> None:
    assert permissive.check(source="evil-1", destination=("backend-1", 8080)).allowed is False
    assert permissive.check(source=NON_MESH, destination=("backend-1", 8080)).reason == "permissive-non-mesh-traffic"


def test_item1_misspelt_column_and_key_are_error_rows(permissive: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    res = permissive.check_batch(pa.table({"src": ["evil-1"], "destination": ["backend-1"], "port": [8080]}))
    assert (res.allowed, res.reason) == ([False], ["error:unknown-field"])
    res = permissive.check_batch(pa.table({"destination": ["backend-1"], "port": [8080]}))
    assert (res.allowed, res.reason) == ([False], ["error:missing-field"])
    res = permissive.check_batch([{"Source": "evil-1", "destination": "backend-1", "port": 8080},
                                  {"destination": "backend-1", "port": 8080},
                                  {"source": None, "destination": "backend-1", "port": 8080}])
    assert res.reason == ["error:unknown-field", "error:missing-field", "permissive-non-mesh-traffic"]
    assert res.allowed == [False, False, True]
    res = permissive.check_batch([(5, "backend-1", 8080), (b"evil-1", "backend-1", 8080), ("evil-1",)])
    assert res.allowed == [False, False, False] and all(r.startswith("error:") for r in res.reason)


def test_item1_numpy_ids_only_minus_one_is_no_sidecar(permissive: TrafficEngine) -> None:
    np = pytest.importorskip("numpy")
    ids = meshauthz.batch.dataplane_ids(permissive)
    evil, backend = ids[("default", "evil-1")], ids[("default", "backend-1")]
    src = np.array([-1, np.nan, -5, evil + 0.9, float(evil)])
    res = permissive.check_batch({"source": src, "destination": np.array([backend] * 5),
                                  "port": np.array([8080] * 5)})
    assert res.allowed == [True, False, False, False, False]
    assert res.reason[:4] == ["permissive-non-mesh-traffic", "error:bad-source", "error:bad-source",
                              "error:bad-source"]
    assert res.reason[4] == "source-not-matched"  # an exact float id is that dataplane
    big = np.array([2**63 + 5], dtype=np.uint64)
    res = permissive.check_batch({"source": big, "destination": np.array([backend]), "port": np.array([8080])})
    assert (res.allowed, res.reason) == ([False], ["error:bad-source"])
    with pytest.raises(InputError):
        permissive.check_batch({"source": np.array(["x"]), "destination": np.array([backend]),
                                "port": np.array([8080])})


# ---- #12 item 2: dictionary indices are checked ---------------------------------------------------

def test_item2_out_of_range_dictionary_index_is_an_error_row(permissive: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    source = pa.DictionaryArray.from_arrays(pa.array([1, 99], pa.int32()), pa.array(["evil-1", "x"]), safe=False)
    table = pa.table({"source": source, "destination": ["backend-1", "backend-1"], "port": [8080, 8080]})
    res = permissive.check_batch(table)
    assert res.reason == ["error:unknown-dataplane", "error:bad-index"] and res.allowed == [False, False]


# ---- #12 item 3: no panic on invalid UTF-8 ----------------------------------------------------------

def test_item3_invalid_utf8_is_an_error_row_not_a_panic(permissive: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    bad = pa.array([b"kuma.io/service=\xff", b"kuma.io/service=web"], pa.binary()).view(pa.string())
    table = pa.table({"source_tags": bad, "destination": ["backend-1"] * 2, "port": [8080, 8080]})
    res = permissive.check_batch(table)
    assert res.reason == ["error:bad-value", "allowed"]
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0], pa.int8()), bad)
    res = permissive.check_batch(pa.table({"source_tags": dictionary, "destination": ["backend-1"],
                                           "port": [8080]}))
    assert res.reason == ["error:bad-value"]


# ---- #12 item 5: MTP rule-list cap -----------------------------------------------------------------

def _wide_mtp_docs(n_items: int) -> list[dict[str, Any]]:
    items = [({"kind": "MeshSubset", "tags": {f"k{i}": "v"}}, "Allow") for i in range(n_items)]
    return [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web", k0="v"), dp("backend-1", "backend"),
            mtp("wide", {"kind": "MeshService", "name": "backend"}, items)]


def test_item5_rule_list_cap_note_and_error_decision_unaffected() -> None:
    store = load(_wide_mtp_docs(21))
    engine = TrafficEngine(store)
    d = engine.check(source="web-1", destination=("backend-1", 8080))
    assert (d.allowed, d.reason, d.policy, d.from_index) == (True, "mtp-allow", "wide", 0)
    report = engine.inspect("backend-1").inbounds[0]
    assert report.mtp_rules is None and "cap of 10000" in (report.mtp_rules_note or "")
    assert len(str(engine.inspect("backend-1")).splitlines()) < 10
    with pytest.raises(EvaluationError, match="cap of 10000"):
        MtpEngine(store).select_rules("backend-1", 8080)
    e = engine.explain(source="web-1", destination=("backend-1", 8080))
    assert e.mtp is not None and e.mtp.rules is None and "cap" in (e.mtp.rules_note or "")


def test_item5_divergence_is_none_when_not_computed() -> None:
    items = [({"kind": "Mesh"}, "Allow")] + [
        ({"kind": "MeshSubset", "tags": {"kuma.io/service": f"s{i}"}}, "Deny") for i in range(299)
    ] + [({"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}}, "Deny")]
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web"), dp("backend-1", "backend"),
            mtp("many", {"kind": "MeshService", "name": "backend"}, items)]
    d = TrafficEngine(load(docs)).check(source="web-1", destination=("backend-1", 8080))
    assert (d.allowed, d.reason) == (False, "mtp-deny")
    assert d.kuma_enforcement_divergence is None  # > 256 items: not computed, never a guess


# ---- #12 item 6: one pool ------------------------------------------------------------------------------

def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_item6_one_pool_sized_to_the_machine(permissive: TrafficEngine) -> None:
    rows = [("evil-1", "backend-1", 8080)] * 20_000
    permissive.check_batch(rows, threads=2)
    before = _os_threads()
    for t in (3, 8, 16, 64, 128, 501):
        permissive.check_batch(rows, threads=t)
    assert _os_threads() - before <= 0  # the one pool already exists; no pool per `threads` value
    assert _os_threads() <= before + (os.cpu_count() or 1)


# ---- #12 item 7: unpickled engines are independent ------------------------------------------------

def test_item7_unpickled_engines_are_fresh_objects() -> None:
    engine = TrafficEngine(load(RACE_DOCS))
    data = pickle.dumps(engine)
    a, b = pickle.loads(data), pickle.loads(data)
    assert a is not b and a.store is not b.store
    a.reload(load(RACE_DOCS[:3]))  # no MTP any more: TP decides (no policy)
    assert a.check(source="web-1", destination=("backend-1", 8080)).reason == "no-policy"
    assert b.check(source="web-1", destination=("backend-1", 8080)).reason == "mtp-allow"
    assert pickle.loads(data).check(source="web-1", destination=("backend-1", 8080)).reason == "mtp-allow"


# ---- #12 item 9: only MeshauthzError subclasses escape ------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda e: e.check(source="evil-1", destination=("backend-1", -1)),
    lambda e: e.check(source="evil-1", destination=("backend-1", 2**64)),
    lambda e: e.check(source="evil-1", destination=("backend-1", "8080")),
    lambda e: e.check(source="evil-1", destination=Inbound("backend-1", "8080")),  # type: ignore[arg-type]
    lambda e: e.check(source={"services": [1]}, destination=("backend-1", 8080)),
    lambda e: e.check(source={"services": "web"}, destination=("backend-1", 8080)),
    lambda e: e.check(source={"tags": {"k": [1]}}, destination=("backend-1", 8080)),
    lambda e: e.check(source=5, destination=("backend-1", 8080)),
    lambda e: e.check(source="evil-1", destination=(5, 8080)),
    lambda e: e.check(source="evil-1", destination=("backend-1", 8080, 1)),
    lambda e: e.check(source="evil-1", destination=object()),
    lambda e: e.check(source="evil-1", destination=("backend-1", 8080), mesh=5),
    lambda e: e.compiled.core.check("evil-1", ("backend-1", 8080), 5),
    lambda e: e.compiled.core.check_inbound("evil-1", "backend-1", -1),
    lambda e: e.check_batch([("evil-1", "backend-1", 8080)], threads=0),
    lambda e: e.check_batch([("evil-1", "backend-1", 8080)], threads="2"),
    lambda e: e.check_batch(42),
    lambda e: e.who_can_reach("backend-1", "8080"),  # type: ignore[arg-type]
])
def test_item9_errors_are_meshauthz_errors(permissive: TrafficEngine, call: Any) -> None:
    with pytest.raises(MeshauthzError):
        call(permissive)


def test_item9_huge_threads_is_clamped_not_an_overflow(permissive: TrafficEngine) -> None:
    res = permissive.check_batch([("evil-1", "backend-1", 8080)], threads=2**64)
    assert res.reason == ["source-not-matched"]


def test_item9_batch_column_type_errors(permissive: TrafficEngine) -> None:
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(InputError):
        permissive.check_batch(pa.table({"source": ["evil-1"], "destination": ["backend-1"], "port": ["8080"]}))
    with pytest.raises(InputError):
        permissive.check_batch(pa.table({"source": [1], "destination": ["backend-1"], "port": [8080]}))
    res = permissive.check_batch([("evil-1", "backend-1", -1), ("evil-1", "backend-1", True),
                                  ("evil-1", "backend-1", 2**64)])
    assert res.reason == ["error:bad-port"] * 3


@pytest.mark.parametrize("port", [-1, 2**64, "8080", True, 1.5])
def test_item9_mtp_engine_ports_are_input_errors(port: Any) -> None:
    engine = MtpEngine(load(RACE_DOCS))
    for call in (lambda: engine.decide("web-1", "backend-1", port),
                 lambda: engine.matched_policies("backend-1", port),
                 lambda: engine.select_rules("backend-1", port),
                 lambda: engine.check(source="web-1", destination=("backend-1", port))):
        with pytest.raises(InputError):
            call()


def test_unknown_names_are_not_found(permissive: TrafficEngine) -> None:
    with pytest.raises(NotFoundError):
        permissive.check(source="evil-1", destination=("nope", 1))
    with pytest.raises(NotFoundError):
        permissive.check(source="nope", destination=("backend-1", 8080))
    with pytest.raises(NotFoundError):
        permissive.check(source="evil-1", destination=("backend-1", 8080), mesh="nope")


# ---- #11 item 3: lists computed on access, equal-rank ties --------------------------------------

def test_equal_rank_ties_shadowed_on_access() -> None:
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web"), dp("backend-1", "backend")]
    for i in range(300):
        p = tp(f"p{i:03d}", "*", "*")
        p["creationTime"] = f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        docs.append(p)
    d = TrafficEngine(load(docs)).check(source="web-1", destination=("backend-1", 8080))
    assert d.policy == "p299"  # A2: the latest creationTime wins a rank tie
    assert len(d.shadowed) == 299 and d.shadowed[0] == "p298" and d.shadowed[-1] == "p000"


def test_item5_divergence_budget_is_the_rule_cap() -> None:
    """A deny whose A3/A4 check would enumerate 2**14 rule combinations: not computed (None) under
    the default cap of 10,000, computed with a larger cap; the decision is the same either way."""
    items = [({"kind": "MeshSubset", "tags": {f"k{i}": v}}, "Allow") for i in range(14) for v in ("a", "b")]
    items.append(({"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}}, "Deny"))
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS}, dp("web-1", "web"), dp("backend-1", "backend"),
            mtp("multi", {"kind": "MeshService", "name": "backend"}, items)]
    store = load(docs)
    client = {"services": ["web"], "tags": {f"k{i}": ["a", "b"] for i in range(14)}}
    capped = TrafficEngine(store).check(source=client, destination=("backend-1", 8080))
    assert (capped.allowed, capped.reason) == (False, "mtp-deny")
    assert capped.kuma_enforcement_divergence is None
    wide = TrafficEngine(store, max_rules=1 << 20).check(source=client, destination=("backend-1", 8080))
    assert (wide.allowed, wide.reason) == (False, "mtp-deny")
    assert isinstance(wide.kuma_enforcement_divergence, bool)


# ---- #11 item 7: shared verbs -------------------------------------------------------------------------

def test_traffic_and_mtp_engines_share_the_verbs() -> None:
    store = load(RACE_DOCS)
    traffic, mtp_engine = TrafficEngine(store), MtpEngine(store)
    assert traffic.check(source="web-1", destination=("backend-1", 8080)).reason == "mtp-allow"
    d = mtp_engine.check(source="web-1", destination=("backend-1", 8080))
    assert d is not None and d.reason == "mtp-allow"
    assert [x.reason for x in mtp_engine.check_batch([("web-1", "backend-1", 8080)])] == ["mtp-allow"]
    assert traffic.check_batch([("web-1", "backend-1", 8080)]).reason == ["mtp-allow"]
    e = mtp_engine.explain(source="web-1", destination=("backend-1", 8080))
    assert e.mtp is not None and e.mtp.policies == ("allow-web",)
    assert traffic.explain(source="web-1", destination=("backend-1", 8080)).mtp == e.mtp
    for engine in (traffic, mtp_engine):
        engine.reload(load(RACE_DOCS[:3]))  # the MTP is gone
        engine.refresh()
    assert traffic.check(source="web-1", destination=("backend-1", 8080)).reason == "no-policy"
    assert mtp_engine.check(source="web-1", destination=("backend-1", 8080)) is None


def test_decisions_pickle_as_their_values() -> None:
    engine = TrafficEngine(load(RACE_DOCS))
    for d in (engine.check(source="web-1", destination=("backend-1", 8080)),
              engine.check(source="backend-1", destination=("web-1", 8080))):
        clone = pickle.loads(pickle.dumps(d))
        assert clone == d and clone.to_dict() == d.to_dict()
