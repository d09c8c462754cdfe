"""Every public vector runs through `python -m meshauthz.conformance` (conformance.md).

`tests/vectors/pending.txt` lists, by id, vectors not yet answerable, each with the issue that will
answer them. The test fails when an unlisted vector fails *or* a listed one passes, so the list only
shrinks. Informative vectors are not scored (rule 4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from conftest import SHARED_VECTORS, VECTORS

FILES = sorted(p.name for p in VECTORS.glob("*.yaml"))


def _pending() -> dict[str, str]:
    """`FILE:ID` -> issue (ids repeat across files, so the file is part of the key)."""
    out: dict[str, str] = {}
    for line in (VECTORS / "pending.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, issue = line.split()
            out[key] = issue
    return out


def _norm(x: Any) -> Any:
    x = json.loads(json.dumps(x, default=str))
    if isinstance(x, dict) and isinstance(x.get("reachable"), list):
        x["reachable"] = sorted(x["reachable"])
    return x


def _passes(vector: dict[str, Any], row: dict[str, Any], rbac: bool) -> bool:
    if "result" not in row:
        return False
    result = row["result"]
    if rbac:
        if not isinstance(result, dict) or result.get("decision") != vector["expect"]:
            return False
        return "error" not in vector or result.get("error") == vector["error"]
    result, expect = _norm(result), _norm(vector["expect"])
    if not isinstance(expect, dict) or not isinstance(result, dict):
        return result == expect
    return all(k in result and result[k] == v for k, v in expect.items())


@pytest.fixture(scope="module", params=FILES)
def outcome(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    path = VECTORS / request.param
    doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    run = subprocess.run([sys.executable, "-m", "meshauthz.conformance", str(path)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = {row["id"]: row for row in map(json.loads, run.stdout.splitlines())}
    rbac = "roles" in doc
    vectors = [v for v in doc["vectors"] if not v.get("informative")]
    assert len(run.stdout.splitlines()) == len(doc["vectors"]), "every vector gets exactly one line (rule 3)"
    return request.param, {f"{request.param}:{v['id']}": _passes(v, rows[v["id"]], rbac) for v in vectors}


def test_unlisted_vectors_pass_and_pending_ones_fail(outcome: tuple[str, dict[str, bool]]) -> None:
    name, passed = outcome
    pending = _pending()
    failing = sorted(vid for vid, ok in passed.items() if not ok and vid not in pending)
    fixed = sorted(vid for vid, ok in passed.items() if ok and vid in pending)
    assert not failing, f"{name}: vectors fail that are not pending: {failing}"
    assert not fixed, f"{name}: pending vectors now pass; remove them from pending.txt: {fixed}"


def test_pending_ids_exist() -> None:
    ids = set()
    for name in FILES:
        doc = yaml.load((VECTORS / name).read_bytes(), Loader=yaml.CSafeLoader)
        ids |= {f"{name}:{v['id']}" for v in doc["vectors"]}
    assert not set(_pending()) - ids


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason="../shared/vectors is not beside this clone")
@pytest.mark.parametrize("name", sorted(p.name for p in SHARED_VECTORS.glob("*.yaml")) if SHARED_VECTORS.is_dir()
                         else [])
def test_vector_copies_are_current(name: str) -> None:
    assert (VECTORS / name).read_bytes() == (SHARED_VECTORS / name).read_bytes(), \
        f"tests/vectors/{name} is stale: copy ../shared/vectors/{name} again"


def test_runner_never_reads_answers() -> None:
    """conformance.md rule 2: results come from files with the answers removed."""
    from meshauthz.conformance.runner import ANSWER_FIELDS, strip_answers

    v = {"id": "X", "query": {}, **{k: "secret" for k in ANSWER_FIELDS}}
    assert strip_answers(v) == {"id": "X", "query": {}}
