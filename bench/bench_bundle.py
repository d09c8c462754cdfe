"""A 10,000-TrafficPermission bundle vs the YAML it was compiled from (issues #6 A and #13).

    .venv/bin/python -m pytest bench/bench_bundle.py --benchmark-only -p no:randomly

Signed and verified bundles load without re-validation; unsigned ones (or signed ones read without
a key) are re-validated by the loader's checks. `bench/bench_load.py` prints the ratios in one run.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import meshauthz
from generate import traffic_permissions_yaml
from meshauthz import bundle

_TEXT = "type: Mesh\nname: default\n---\n" + traffic_permissions_yaml(10_000)
_KEY = Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return bundle.dumps(meshauthz.loads(_TEXT))


@pytest.fixture(scope="module")
def signed() -> bytes:
    return bundle.dumps(meshauthz.loads(_TEXT), sign_key=_KEY)


def test_bundle_load_signed_verified_10000(benchmark: Any, signed: bytes) -> None:
    b = benchmark(lambda: bundle.loads(signed, verify_key=_KEY.public_key()))
    assert b.verified and len(b.store) == 10_001


def test_bundle_load_revalidated_10000(benchmark: Any, unsigned: bytes) -> None:
    b = benchmark(bundle.loads, unsigned)
    assert not b.verified and len(b.store) == 10_001


def test_bundle_signed_to_engine_10000(benchmark: Any, signed: bytes) -> None:
    engine = benchmark(lambda: bundle.loads(signed, verify_key=_KEY.public_key()).traffic_engine())
    assert len(engine.compiled.core) == 10_000


def test_yaml_to_engine_10000(benchmark: Any) -> None:
    engine = benchmark.pedantic(lambda: meshauthz.TrafficEngine(meshauthz.loads(_TEXT)), rounds=3, iterations=1)
    assert len(engine.compiled.core) == 10_000
