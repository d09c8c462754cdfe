"""Loading a 10,000-TrafficPermission bundle vs the YAML it was compiled from (issue #6 A).

    .venv/bin/python -m pytest bench/bench_bundle.py --benchmark-only
"""

from __future__ import annotations

from typing import Any

import pytest

import meshauthz
from generate import traffic_permissions_yaml
from meshauthz import bundle

_TEXT = "type: Mesh\nname: default\n---\n" + traffic_permissions_yaml(10_000)


@pytest.fixture(scope="module")
def data() -> bytes:
    return bundle.dumps(meshauthz.loads(_TEXT))


def test_bundle_load_10000(benchmark: Any, data: bytes) -> None:
    b = benchmark(bundle.loads, data)
    assert len(b.store) == 10_001


def test_bundle_load_and_compile_10000(benchmark: Any, data: bytes) -> None:
    engine = benchmark(lambda: bundle.loads(data).traffic_engine())
    assert len(engine.compiled.core) == 10_000


def test_yaml_load_10000(benchmark: Any) -> None:
    store = benchmark.pedantic(meshauthz.loads, args=(_TEXT,), rounds=2, iterations=1)
    assert len(store) == 10_001
