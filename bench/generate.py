"""Generators of large, realistic inputs for benchmarks."""

from __future__ import annotations


def traffic_permissions_yaml(n: int, mesh: str = "default", services: int = 1000) -> str:
    """`n` TrafficPermissions as one multi-document Universal YAML text."""
    docs = []
    for i in range(n):
        src, dst = i % services, (i * 7 + 3) % services
        docs.append(
            f"type: TrafficPermission\nname: tp-{i}\nmesh: {mesh}\n"
            f"creationTime: '2024-01-01T00:00:{i % 60:02d}Z'\n"
            f"sources:\n  - match:\n      kuma.io/service: svc-{src}\n      version: '*'\n"
            f"destinations:\n  - match:\n      kuma.io/service: svc-{dst}\n      team: team-{i % 13}\n"
        )
    return "---\n".join(docs)
