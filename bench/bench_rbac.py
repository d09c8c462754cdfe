"""RBAC check cost (pytest-benchmark; run with a --release build):

    .venv/bin/python -m pytest bench/bench_rbac.py --benchmark-only -p no:randomly

Policy sets of 100 roles × 5 rules and 2,000 roles × 5 rules, 1,000 users; each benchmark round
checks one (user, resource) pair, cycling. Compared against the PyO3 no-op with the same
arguments and against the pure-Python reference (tests/rbac_reference.py).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import rbac_reference as ref  # noqa: E402
from meshauthz.rbac import Authorizer, User  # noqa: E402
from meshauthz.rbac.target import as_target  # noqa: E402

TYPES = ["MeshTrafficPermission", "MeshHTTPRoute", "MeshTimeout", "MeshTrace"]


def world(
    n_roles: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[User], list[dict[str, Any]]]:
    roles = [
        {
            "type": "AccessRole",
            "name": f"r{i}",
            "rules": [
                {
                    "types": [TYPES[(i + k) % 4]],
                    "mesh": "default",
                    "access": ["CREATE", "UPDATE"],
                    "when": [{"targetRef": {"kind": "MeshService", "name": f"svc-{(i + k) % 50}"}}],
                }
                for k in range(5)
            ],
        }
        for i in range(n_roles)
    ]
    bindings = [
        {
            "type": "AccessRoleBinding",
            "name": f"b{i}",
            "roles": [f"r{i % n_roles}", f"r{(i * 7) % n_roles}"],
            "subjects": [{"type": "User", "name": f"user-{i}"}, {"type": "Group", "name": f"team-{i % 20}"}],
        }
        for i in range(1000)
    ]
    users = [User(f"user-{i}", [f"team-{i % 20}", "mesh-system:authenticated"]) for i in range(1000)]
    resources = [
        {
            "type": TYPES[i % 4],
            "mesh": "default",
            "name": f"p{i}",
            "spec": {"targetRef": {"kind": "MeshService", "name": f"svc-{i % 50}"}},
        }
        for i in range(64)
    ]
    return roles, bindings, users, resources


@pytest.fixture(scope="module", params=[100, 2000], ids=["100roles", "2000roles"])
def setup(request: pytest.FixtureRequest) -> dict[str, Any]:
    roles, bindings, users, resources = world(request.param)
    authz = Authorizer(roles + bindings)
    return {
        "authz": authz,
        "users": users,
        "resources": resources,
        "handles": [authz.target(r) for r in resources],
        "roles": [{"name": r["name"], "rules": r["rules"]} for r in roles],
        "bindings": bindings,
    }


def _pairs(s: dict[str, Any], key: str) -> Any:
    return itertools.cycle(list(zip(s["users"], itertools.cycle(s[key]))))


def test_check_handle(benchmark: Any, setup: dict[str, Any]) -> None:
    it, authz = _pairs(setup, "handles"), setup["authz"]
    benchmark(lambda: (lambda u, t: authz.check(u, "CREATE", t))(*next(it)))


def test_check_dict(benchmark: Any, setup: dict[str, Any]) -> None:
    it, authz = _pairs(setup, "resources"), setup["authz"]
    benchmark(lambda: (lambda u, r: authz.check(u, "CREATE", r))(*next(it)))


def test_core_check_handle(benchmark: Any, setup: dict[str, Any]) -> None:
    """The raw FFI call (`RbacPolicySet.check`), same arguments as the no-op."""
    it, ps = _pairs(setup, "handles"), setup["authz"].policy_set
    benchmark(lambda: (lambda u, t: ps.check(u.name, list(u.groups), "CREATE", t))(*next(it)))


def test_noop_handle(benchmark: Any, setup: dict[str, Any]) -> None:
    it, ps = _pairs(setup, "handles"), setup["authz"].policy_set
    benchmark(lambda: (lambda u, t: ps._noop(u.name, list(u.groups), "CREATE", t))(*next(it)))


def test_noop_dict(benchmark: Any, setup: dict[str, Any]) -> None:
    it, ps = _pairs(setup, "resources"), setup["authz"].policy_set
    benchmark(lambda: (lambda u, r: ps._noop(u.name, list(u.groups), "CREATE", as_target(r)))(*next(it)))


def test_reference(benchmark: Any, setup: dict[str, Any]) -> None:
    it = _pairs(setup, "resources")
    roles, bindings = setup["roles"], setup["bindings"]
    benchmark(
        lambda: (lambda u, r: ref.decide(roles, bindings, u.name, list(u.groups), "CREATE", r))(*next(it))
    )
