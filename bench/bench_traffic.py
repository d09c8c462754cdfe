"""TrafficEngine.check cost vs the bare FFI crossing (`_noop`) vs the pure-Python reference.

maturin develop --release -q && pytest bench/bench_traffic.py --benchmark-only
"""

from __future__ import annotations

from typing import Any

import pytest

import meshauthz
import traffic_reference as ref
from meshauthz import TrafficEngine
from meshauthz.traffic.compile import compile_store


def _world(n: int) -> tuple[list[dict[str, Any]], ref.World]:
    from datetime import datetime, timezone

    zero = datetime(1, 1, 1, tzinfo=timezone.utc)
    docs: list[dict[str, Any]] = [
        {
            "type": "Mesh",
            "name": "default",
            "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]},
        },
        {
            "type": "Dataplane",
            "mesh": "default",
            "name": "web-1",
            "networking": {
                "address": "10.0.0.1",
                "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}],
            },
        },
        {
            "type": "Dataplane",
            "mesh": "default",
            "name": "backend-1",
            "networking": {
                "address": "10.0.0.2",
                "inbound": [{"port": 9000, "tags": {"kuma.io/service": "svc-7", "version": "v1"}}],
            },
        },
    ]
    world = ref.World(
        meshes={"default": ref.Mesh(mtls=True)},
        dataplanes={
            ("default", "web-1"): ref.Dataplane(
                inbounds=[(8080, {"kuma.io/service": "web", "version": "v1"})]
            ),
            ("default", "backend-1"): ref.Dataplane(
                inbounds=[(9000, {"kuma.io/service": "svc-7", "version": "v1"})]
            ),
        },
        services={},
        policies=[],
    )
    for i in range(n):
        dest = (
            {"kuma.io/service": f"svc-{i % (n // 2 or 1)}"}
            if i % 10
            else {"kuma.io/service": f"svc-{i}", "version": "*"}
        )
        src = {"kuma.io/service": "web" if i % 3 == 0 else f"client-{i}"}
        docs.append(
            {
                "type": "TrafficPermission",
                "mesh": "default",
                "name": f"tp-{i:05d}",
                "sources": [{"match": src}],
                "destinations": [{"match": dest}],
            }
        )
        world.policies.append(ref.Policy("default", f"tp-{i:05d}", zero, [src], [dest]))
    return docs, world


_CACHE: dict[int, tuple[meshauthz.ResourceStore, ref.World]] = {}


def _setup(n: int) -> tuple[meshauthz.ResourceStore, ref.World]:
    if n not in _CACHE:
        docs, world = _world(n)
        _CACHE[n] = (meshauthz.load_dicts(docs), world)
    return _CACHE[n]


@pytest.mark.parametrize("n", [100, 10_000])
def test_engine_check(benchmark: Any, n: int) -> None:
    engine = TrafficEngine(_setup(n)[0])
    d = benchmark(engine.check, source="web-1", destination=("backend-1", 9000))
    assert d.policy is not None


@pytest.mark.parametrize("n", [100, 10_000])
def test_core_check_inbound(benchmark: Any, n: int) -> None:
    core = TrafficEngine(_setup(n)[0]).compiled.core
    benchmark(core.check, "web-1", ("backend-1", 9000), "default")


@pytest.mark.parametrize("n", [100, 10_000])
def test_core_noop(benchmark: Any, n: int) -> None:
    core = TrafficEngine(_setup(n)[0]).compiled.core
    benchmark(core._noop, "web-1", ("backend-1", 9000), "default")


@pytest.mark.parametrize("n", [100, 10_000])
def test_reference(benchmark: Any, n: int) -> None:
    world = _setup(n)[1]
    want = TrafficEngine(_setup(n)[0]).check(source="web-1", destination=("backend-1", 9000))
    got = benchmark(ref.authorize_inbound, world, ("dp", "default", "web-1"), "default", "backend-1", 9000)
    assert got == (want.allowed, want.reason, want.policy)


def test_compile_10000(benchmark: Any) -> None:
    store = _setup(10_000)[0]
    c = benchmark.pedantic(compile_store, args=(store,), rounds=5, iterations=1)
    assert len(c.core) == 10_000
