"""#12 "Concurrency", for the meshes and engines tests/test_traffic_concurrency.py does not cover:
legacy TrafficPermission meshes, `MtpEngine` and RBAC `Authorizer`. Eight threads check and batch
while the main thread mutates the store, refreshes, reloads and tries bad sets (refused, the
previous set kept). Each request pair is built so that the two policy sets decide it oppositely:
a check or a batch row pattern that is not exactly one set's answer is a mix. After the last change
every decision comes from the last set. Loops are bounded by the mutation count; no sleeps."""

from __future__ import annotations

import threading
import warnings
from typing import Any, Callable

import pytest

import meshauthz
from meshauthz import MeshauthzError, TrafficEngine
from meshauthz.mtp import MtpEngine
from meshauthz.rbac import Authorizer, User

MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}
ROUNDS = 61  # mutations; odd, so the last set is "B"
# A batch alternates two requests that set A decides (allow, deny) and set B (deny, allow).
BATCHES = {(True, False), (False, True)}


def _quiet_store(docs: list[dict[str, Any]]) -> meshauthz.ResourceStore:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meshauthz.load_dicts(docs)


def _one(doc: dict[str, Any]) -> Any:
    store = _quiet_store([doc])
    return store.get(doc["type"], doc["name"], doc.get("mesh"))


def _hammer(check: Callable[[], tuple[Any, ...]], batch: Callable[[], tuple[Any, ...]], singles: set[Any],
            mutate: Callable[[int], None]) -> list[Any]:
    """6 checking + 2 batching threads while `mutate(i)` runs for i in range(ROUNDS): every check
    must be one of `singles` (one set's whole decision), every batch one of BATCHES (one set's
    answer for every row: never a mix)."""
    stop = threading.Event()
    bad: list[Any] = []
    started = threading.Barrier(9)

    def loop(fn: Callable[[], tuple[Any, ...]], what: str) -> None:
        started.wait()
        while not stop.is_set():
            try:
                got = fn()
            except Exception as e:  # noqa: BLE001 - any exception here is a finding
                bad.append((what, repr(e)))
                return
            if got not in (singles if what == "check" else BATCHES):
                bad.append((what, got))

    threads = [threading.Thread(target=loop, args=(check, "check")) for _ in range(6)]
    threads += [threading.Thread(target=loop, args=(batch, "batch")) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    try:
        for i in range(ROUNDS):
            mutate(i)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return bad


# ---- legacy TrafficPermission mesh ---------------------------------------------------------------

def _dp(name: str, svc: str, mesh: str = "default") -> dict[str, Any]:
    return {"type": "Dataplane", "mesh": mesh, "name": name,
            "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc}}]}}


def _tp(dst: str) -> dict[str, Any]:
    return {"type": "TrafficPermission", "mesh": "default", "name": "gate",
            "sources": [{"match": {"kuma.io/service": "web"}}],
            "destinations": [{"match": {"kuma.io/service": dst}}]}


def test_traffic_permission_mesh_checks_see_one_set() -> None:
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS},
            _dp("web-1", "web"), _dp("backend-1", "backend"), _dp("other-1", "other")]
    store = _quiet_store(docs + [_tp("backend")])
    engine = TrafficEngine(store)
    # Set A: TP gate web -> backend; set B: web -> other. (T1: a TP allows its pairs; T5 default deny.)
    a, b = _one(_tp("backend")), _one(_tp("other"))
    rows = [("web-1", "backend-1", 8080), ("web-1", "other-1", 8080)] * 3000

    def check(e: TrafficEngine = engine) -> tuple[Any, ...]:
        d = e.check(source="web-1", destination=("backend-1", 8080))
        return (d.allowed, d.reason, d.policy)

    singles = {check(TrafficEngine(_quiet_store(docs + [_tp(dst)]))) for dst in ("backend", "other")}
    assert sorted(s[0] for s in singles) == [False, True]

    def batch() -> tuple[Any, ...]:
        res = engine.check_batch(rows, threads=2)
        pairs = set(zip(res.allowed[0::2], res.allowed[1::2]))
        return pairs.pop() if len(pairs) == 1 else tuple(pairs)

    def mutate(i: int) -> None:
        store.replace(a if i % 2 else b)
        if i % 3 == 0:
            engine.refresh()
        elif i % 3 == 1:
            engine.reload(store)
        else:  # a bad set: refused, the engine keeps its store and snapshot
            with pytest.raises(MeshauthzError):
                engine.reload(["/nonexistent/meshauthz-policies.yaml"])
            engine.refresh()

    assert _hammer(check, batch, singles, mutate) == []
    assert check()[0] is False and batch() == (False, True)


# ---- MtpEngine -------------------------------------------------------------------------------------

def _mtp(action_web: str, action_other: str) -> dict[str, Any]:
    return {"type": "MeshTrafficPermission", "mesh": "default", "name": "gate",
            "spec": {"targetRef": {"kind": "MeshService", "name": "backend"},
                     "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}},
                               "default": {"action": action_web}},
                              {"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "other"}},
                               "default": {"action": action_other}}]}}


def test_mtp_engine_checks_see_one_set() -> None:
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS},
            _dp("web-1", "web"), _dp("backend-1", "backend"), _dp("other-1", "other")]
    store = _quiet_store(docs + [_mtp("Allow", "Deny")])
    engine = MtpEngine(store)
    a, b = _one(_mtp("Allow", "Deny")), _one(_mtp("Deny", "Allow"))

    def check(e: MtpEngine = engine) -> tuple[Any, ...]:
        d = e.check(source="web-1", destination=("backend-1", 8080))
        return (None,) if d is None else (d.allowed, d.reason, d.action, d.policy)

    singles = {check(MtpEngine(_quiet_store(docs + [_mtp(x, y)]))) for x, y in (("Allow", "Deny"), ("Deny", "Allow"))}
    assert sorted(s[0] for s in singles) == [False, True]

    def batch() -> tuple[Any, ...]:
        res = engine.check_batch([("web-1", "backend-1", 8080), ("other-1", "backend-1", 8080)] * 50)
        pairs = {(x.allowed, y.allowed) for x, y in zip(res[0::2], res[1::2]) if x and y}
        return pairs.pop() if len(pairs) == 1 else tuple(pairs)

    def mutate(i: int) -> None:
        store.replace(a if i % 2 else b)
        if i % 3 == 0:
            engine.refresh()
        elif i % 3 == 1:
            engine.reload(store)
        else:
            with pytest.raises(MeshauthzError):
                engine.reload(["/nonexistent/meshauthz-policies.yaml"])
            engine.refresh()

    assert _hammer(check, batch, singles, mutate) == []
    assert check()[0] is False and batch() == (False, True)


# ---- RBAC Authorizer -------------------------------------------------------------------------------

def _role(access: list[str]) -> dict[str, Any]:
    return {"type": "AccessRole", "name": "ops", "rules": [{"types": ["TrafficPermission"], "access": access}]}


BINDING = {"type": "AccessRoleBinding", "name": "ops-binding", "subjects": [{"type": "User", "name": "ann"}],
           "roles": ["ops"]}
DOC = {"type": "TrafficPermission", "mesh": "default", "name": "tp",
       "sources": [{"match": {"kuma.io/service": "web"}}], "destinations": [{"match": {"kuma.io/service": "x"}}]}


def test_rbac_checks_see_one_set() -> None:
    store = _quiet_store([_role(["CREATE"]), BINDING])
    authz = Authorizer(store)
    a, b = _one(_role(["CREATE"])), _one(_role(["DELETE"]))
    ann = User("ann", [])
    rows = [("ann", [], "CREATE", DOC, None), ("ann", [], "DELETE", DOC, None)] * 3000

    def check(e: Authorizer = authz) -> tuple[Any, ...]:
        d = e.check(ann, "CREATE", DOC)
        return (d.allowed, d.reason, str(d))

    singles = {check(Authorizer(_quiet_store([_role(acc), BINDING]))) for acc in (["CREATE"], ["DELETE"])}
    assert sorted(s[0] for s in singles) == [False, True]

    def batch() -> tuple[Any, ...]:
        res = authz.check_batch(rows, threads=2)
        pairs = set(zip(res.allowed[0::2], res.allowed[1::2]))
        return pairs.pop() if len(pairs) == 1 else tuple(pairs)

    bad_role = {"type": "AccessRole", "name": "ops", "rules": [{"types": ["TrafficPermission"],
                                                                 "access": ["NOT-AN-ACTION"]}]}

    def mutate(i: int) -> None:
        store.replace(a if i % 2 else b)
        if i % 3 == 0:
            authz.refresh()
        elif i % 3 == 1:
            authz.reload(store)
        else:  # bad sets: refused, the previous set kept
            with pytest.raises(MeshauthzError):
                authz.reload(["/nonexistent/meshauthz-roles.yaml"])
            with pytest.raises(MeshauthzError):
                authz.reload([bad_role, BINDING])
            authz.reload(store)

    assert _hammer(check, batch, singles, mutate) == []
    assert check()[0] is False and batch() == (False, True)
