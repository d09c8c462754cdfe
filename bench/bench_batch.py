"""Batch throughput (decisions/s, reported in `extra_info`, never asserted): Arrow vs list of
tuples vs a Python loop of check(), one core. Targets: Arrow >= 15 M/s, list of tuples >= 5 M/s.

maturin develop --release -q && pytest bench/bench_batch.py --benchmark-only
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

import meshauthz
from bench_traffic import _world
from meshauthz import TrafficEngine
from meshauthz.rbac import Authorizer

ROWS = 1_000_000
DPS = 1_000


def _engine() -> TrafficEngine:
    docs, _ = _world(10_000)
    for i in range(DPS):
        docs.append({"type": "Dataplane", "mesh": "default", "name": f"dp-{i}", "networking": {
            "address": "10.1.0.1", "inbound": [{"port": 9000, "tags": {"kuma.io/service": f"svc-{i}"}}]}})
    return TrafficEngine(meshauthz.load_dicts(docs))


@pytest.fixture(scope="module")
def traffic() -> tuple[TrafficEngine, list[tuple[str, str, int]]]:
    rng = random.Random(6)
    names = [f"dp-{i}" for i in range(DPS)] + ["web-1"]
    rows = [(rng.choice(names), f"dp-{rng.randrange(DPS)}", 9000) for _ in range(ROWS)]
    return _engine(), rows


def _rate(benchmark: Any, n: int) -> None:
    benchmark.extra_info["decisions_per_s"] = round(n / benchmark.stats.stats.min)


def test_traffic_arrow(benchmark: Any, traffic: Any) -> None:
    pa = pytest.importorskip("pyarrow")
    engine, rows = traffic
    table = pa.table({"source": pa.array([r[0] for r in rows]).dictionary_encode(),
                      "destination": pa.array([r[1] for r in rows]).dictionary_encode(),
                      "port": pa.array([r[2] for r in rows], pa.int32())})
    res = benchmark.pedantic(engine.check_batch, args=(table,), rounds=5, iterations=1)
    assert len(res) == ROWS
    _rate(benchmark, ROWS)


def test_traffic_arrow_plain_strings(benchmark: Any, traffic: Any) -> None:
    pa = pytest.importorskip("pyarrow")
    engine, rows = traffic
    table = pa.table({"source": [r[0] for r in rows], "destination": [r[1] for r in rows],
                      "port": pa.array([r[2] for r in rows], pa.int32())})
    benchmark.pedantic(engine.check_batch, args=(table,), rounds=5, iterations=1)
    _rate(benchmark, ROWS)


def test_traffic_list_of_tuples(benchmark: Any, traffic: Any) -> None:
    engine, rows = traffic
    benchmark.pedantic(engine.check_batch, args=(rows,), rounds=3, iterations=1)
    _rate(benchmark, ROWS)


def test_traffic_python_loop(benchmark: Any, traffic: Any) -> None:
    engine, rows = traffic
    sample = rows[:20_000]

    def loop() -> None:
        for s, d, p in sample:
            engine.check(source=s, destination=(d, p))

    benchmark.pedantic(loop, rounds=3, iterations=1)
    _rate(benchmark, len(sample))


@pytest.fixture(scope="module")
def rbac() -> tuple[Authorizer, list[tuple[str, list[str], str, str]]]:
    roles = [{"type": "AccessRole", "name": f"r{i}", "rules": [
        {"types": ["TrafficPermission"], "mesh": "demo", "access": ["CREATE", "DELETE"],
         "when": [{"destinations": {"match": {"kuma.io/service": f"svc-{i}"}}}]}]} for i in range(200)]
    bindings = [{"type": "AccessRoleBinding", "name": f"b{i}", "subjects": [{"type": "Group", "name": f"g{i}"}],
                 "roles": [f"r{i}"]} for i in range(200)]
    resources = [json.dumps({"type": "TrafficPermission", "mesh": "demo", "name": f"tp{i}",
                             "sources": [{"match": {"kuma.io/service": "web"}}],
                             "destinations": [{"match": {"kuma.io/service": f"svc-{i}"}}]}) for i in range(200)]
    rng = random.Random(7)
    rows = [(f"u{rng.randrange(50)}", [f"g{rng.randrange(200)}"], rng.choice(["CREATE", "DELETE"]),
             rng.choice(resources)) for _ in range(ROWS // 4)]
    return Authorizer(roles + bindings), rows


def test_rbac_arrow(benchmark: Any, rbac: Any) -> None:
    pa = pytest.importorskip("pyarrow")
    authz, rows = rbac
    table = pa.table({"user": pa.array([r[0] for r in rows]).dictionary_encode(),
                      "groups": pa.array([r[1] for r in rows], pa.list_(pa.string())),
                      "action": pa.array([r[2] for r in rows]).dictionary_encode(),
                      "resource": pa.array([r[3] for r in rows]).dictionary_encode()})
    benchmark.pedantic(authz.check_batch, args=(table,), rounds=3, iterations=1)
    _rate(benchmark, len(rows))


def test_rbac_list_of_tuples(benchmark: Any, rbac: Any) -> None:
    authz, rows = rbac
    benchmark.pedantic(authz.check_batch, args=(rows,), rounds=3, iterations=1)
    _rate(benchmark, len(rows))


def test_rbac_python_loop(benchmark: Any, rbac: Any) -> None:
    from meshauthz.rbac import User

    authz, rows = rbac
    sample = rows[:5_000]
    targets = {r: authz.target(json.loads(r)) for r in {x[3] for x in sample}}

    def loop() -> None:
        for u, g, a, r in sample:
            authz.check(User(u, g), a, targets[r])

    benchmark.pedantic(loop, rounds=3, iterations=1)
    _rate(benchmark, len(sample))
