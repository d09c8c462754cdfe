"""Service matrix of a generated 1,000-service mesh (issue #6; target 0.5 s on a warm engine)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from analysis_gen import generated_mesh  # noqa: E402
from meshauthz.analysis import service_matrix  # noqa: E402
from meshauthz.api import load_dicts  # noqa: E402
from meshauthz.traffic import TrafficEngine  # noqa: E402


@pytest.fixture(scope="module")
def engine() -> TrafficEngine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = TrafficEngine(load_dicts(generated_mesh(1000)))
    service_matrix(e, "big")  # warm: compiled TP/MTP sets, numpy import
    return e


def test_matrix_1000_services(benchmark, engine: TrafficEngine) -> None:
    m = benchmark(service_matrix, engine, "big")
    assert len(m.sources) == len(m.destinations) == 1000
