"""RBAC check cost (pytest-benchmark; run with a --release build):

    .venv/bin/python -m pytest bench/bench_rbac.py --benchmark-only -p no:randomly

The issue #11 RBAC workload (`workloads_rbac.rbac_world`: 1,000 users, 100 / 2,000 roles × 5 rules
over 30 types, 10 meshes, 100 names); each round checks one request, cycling. Compared against the
PyO3 no-op with the same arguments (no dict conversion) and the 10-line pure-Python loop over the
user's rules. `bench/run_rbac.py` prints the ratios from one run.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from meshauthz.rbac import Authorizer, User  # noqa: E402
from workloads_rbac import python_check, rbac_world  # noqa: E402


@pytest.fixture(scope="module", params=[100, 2000], ids=["100roles", "2000roles"])
def setup(request: pytest.FixtureRequest) -> dict[str, Any]:
    w = rbac_world(request.param)
    authz = Authorizer(w.documents)
    users = [User(n, g) for n, g in w.users]
    reqs = [(users[u], a, r, r if a == "UPDATE" else None) for u, a, r in w.requests]
    handles = {id(r): authz.target(r) for _, _, r, _ in reqs}
    return {
        "authz": authz,
        "dict": reqs,
        "handle": [(u, a, handles[id(r)], handles[id(o)] if o is not None else None) for u, a, r, o in reqs],
        "loop": [(w.user_rules[u], a, r) for u, a, r in w.requests],
    }


def _bench(benchmark: Any, reqs: list[Any], f: Any) -> None:
    it = itertools.cycle(reqs)
    benchmark(lambda: f(*next(it)))


def test_check_dict(benchmark: Any, setup: dict[str, Any]) -> None:
    _bench(benchmark, setup["dict"], setup["authz"].check)


def test_check_handle(benchmark: Any, setup: dict[str, Any]) -> None:
    _bench(benchmark, setup["handle"], setup["authz"].check)


def test_allowed_handle(benchmark: Any, setup: dict[str, Any]) -> None:
    _bench(benchmark, setup["handle"], setup["authz"].allowed)


def test_noop_dict(benchmark: Any, setup: dict[str, Any]) -> None:
    """The FFI floor: same arguments as `check`, no conversion, no decision."""
    _bench(benchmark, setup["dict"], setup["authz"].policy_set._noop)


def test_python_loop(benchmark: Any, setup: dict[str, Any]) -> None:
    _bench(benchmark, setup["loop"], python_check)
