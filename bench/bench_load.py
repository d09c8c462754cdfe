"""Loading a generated 10,000-policy YAML file, split into its stages (issue #3):
YAML parse (events -> values with positions), model + Kuma validation, store insert.
The whole `meshauthz.load` is measured too; the stage ratios are what to compare."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import meshauthz
from generate import traffic_permissions_yaml
from meshauthz.loader import LoadResult, resource_from_document
from meshauthz.store import ResourceStore
from meshauthz.yaml_source import read_documents

N = 10_000


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "tps.yaml"
    path.write_text(traffic_permissions_yaml(N))
    return path


@pytest.fixture(scope="module")
def documents(policy_file: Path) -> list:
    return list(read_documents(policy_file.read_bytes(), str(policy_file)))


@pytest.fixture(scope="module")
def resources(documents: list) -> list:
    out = LoadResult()
    return [resource_from_document(d, out) for d in documents]


def test_baseline_pyyaml_c_safe_load_all(benchmark, policy_file: Path) -> None:
    """Baseline: PyYAML's C loader alone (no positions, no duplicate-key checks)."""
    data = policy_file.read_bytes()
    docs = benchmark(lambda: list(yaml.load_all(data, Loader=yaml.CSafeLoader)))
    assert len(docs) == N


def test_stage_yaml_parse(benchmark, policy_file: Path) -> None:
    data = policy_file.read_bytes()
    docs = benchmark(lambda: list(read_documents(data, str(policy_file))))
    assert len(docs) == N


def test_stage_models_and_validation(benchmark, documents: list) -> None:
    def run() -> list:
        out = LoadResult()
        return [resource_from_document(d, out) for d in documents]

    res = benchmark(run)
    assert all(r is not None for r in res)


def test_stage_store_insert(benchmark, resources: list) -> None:
    store = benchmark(lambda: ResourceStore(resources))
    assert len(store) == N


def test_whole_load(benchmark, policy_file: Path) -> None:
    store = benchmark.pedantic(meshauthz.load, args=(policy_file,), rounds=3, iterations=1)
    assert len(store) == N
