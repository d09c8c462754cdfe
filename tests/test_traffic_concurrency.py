"""#11 item 2 / #12 "Concurrency": threads checking and batching while another thread mutates the
store and refreshes / reloads. Every decision must come from one policy set (never a mix), and after
the last refresh every decision comes from the last set."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import pytest

import meshauthz
from meshauthz import TrafficEngine

MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}


def _dp(name: str, svc: str) -> dict[str, Any]:
    return {"type": "Dataplane", "mesh": "default", "name": name,
            "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc}}]}}


def _mtp(action: str) -> Any:
    doc = {"type": "MeshTrafficPermission", "mesh": "default", "name": "gate",
           "spec": {"targetRef": {"kind": "MeshService", "name": "backend"},
                    "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}},
                              "default": {"action": action}}]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meshauthz.load_dicts([doc]).get("MeshTrafficPermission", "gate", "default")


def _store() -> meshauthz.ResourceStore:
    docs = [{"type": "Mesh", "name": "default", "mtls": MTLS}, _dp("web-1", "web"), _dp("backend-1", "backend")]
    store = meshauthz.load_dicts(docs)
    store.add(_mtp("Allow"))
    return store


# The two policy sets and what they decide for web-1 -> backend-1:8080.
SETS = {"Allow": (True, "mtp-allow"), "Deny": (False, "mtp-deny")}


def test_checks_and_batches_see_one_set_while_the_store_changes() -> None:
    pa = pytest.importorskip("pyarrow")
    store = _store()
    engine = TrafficEngine(store)
    table = pa.table({"source": ["web-1"] * 5000, "destination": ["backend-1"] * 5000, "port": [8080] * 5000})
    stop = threading.Event()
    bad: list[Any] = []

    def checker() -> None:
        while not stop.is_set():
            d = engine.check(source="web-1", destination=("backend-1", 8080))
            if (d.allowed, d.reason) not in SETS.values() or d.policy != "gate":
                bad.append(("check", d))

    def batcher() -> None:
        while not stop.is_set():
            res = engine.check_batch(table, threads=2)
            rows = set(zip(res.allowed, res.reason))
            if len(rows) != 1 or rows.pop() not in SETS.values():
                bad.append(("batch", set(zip(res.allowed, res.reason))))

    threads = [threading.Thread(target=checker) for _ in range(6)] + [threading.Thread(target=batcher)
                                                                      for _ in range(2)]
    for t in threads:
        t.start()
    actions = ["Deny", "Allow"] * 15 + ["Deny"]
    for i, action in enumerate(actions):
        store.replace(_mtp(action))
        if i % 3 == 0:
            engine.refresh()
        elif i % 3 == 1:
            engine.reload(store)
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    # After the last change every decision comes from the last set.
    d = engine.check(source="web-1", destination=("backend-1", 8080))
    assert (d.allowed, d.reason) == SETS["Deny"]
    res = engine.check_batch(table)
    assert set(zip(res.allowed, res.reason)) == {SETS["Deny"]}
