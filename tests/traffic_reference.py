"""A deliberately naive reference of the TrafficPermission decision, written from the spec text
(shared/spec/trafficpermission.md §2–§4), not from the Rust core. Used by the differential test.

World model (plain Python):
    meshes:      {name: Mesh}
    dataplanes:  {(mesh, name): Dataplane}
    services:    {(mesh, name): {tag: value}}         ExternalServices
    policies:    [Policy]
A client is ("dp", mesh, name) | ("non-mesh",) | ("tags", mesh, {tag: value}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

SVC = "kuma.io/service"


@dataclass
class Mesh:
    mtls: bool = False
    permissive: bool = False
    zone_egress: bool = False
    passthrough: bool = True
    prometheus: Optional[tuple[int, dict[str, str]]] = None


@dataclass
class Dataplane:
    inbounds: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    gateway: Optional[dict[str, str]] = None


@dataclass
class Policy:
    mesh: str
    name: str
    created: datetime
    sources: list[dict[str, str]]
    destinations: list[dict[str, str]]


@dataclass
class World:
    meshes: dict[str, Mesh]
    dataplanes: dict[tuple[str, str], Dataplane]
    services: dict[tuple[str, str], dict[str, str]]
    policies: list[Policy]


def matches(selector: dict[str, str], tags: dict[str, str]) -> bool:
    """T2.2 / T2.5."""
    for k, v in selector.items():
        if k not in tags:
            return False
        if v != "*" and tags[k] != v:
            return False
    return True


def rank(selector: dict[str, str]) -> tuple[int, int]:
    """T3.1."""
    exact = sum(1 for v in selector.values() if v != "*")
    return exact, len(selector) - exact


def compare(a: tuple[int, int], b: tuple[int, int]) -> int:
    """T3.2."""
    ta, tb = a[0] + a[1], b[0] + b[1]
    return ta - tb if ta != tb else a[0] - b[0]


def select(world: World, mesh: str, tags: dict[str, str]) -> Optional[Policy]:
    """T3.5, Kuma's algorithm: sort by name, scan policies and their destination selectors,
    replace the best iff rank is greater, or equal with a strictly later creationTime."""
    best: Optional[Policy] = None
    best_rank: Optional[tuple[int, int]] = None
    for p in sorted((p for p in world.policies if p.mesh == mesh), key=lambda p: p.name.encode()):
        for d in p.destinations:
            if not matches(d, tags):
                continue
            r = rank(d)
            if (
                best is None
                or compare(r, best_rank) > 0
                or (  # type: ignore[arg-type]
                    compare(r, best_rank) == 0 and p.created > best.created  # type: ignore[arg-type]
                )
            ):
                best, best_rank = p, r
    return best


def client_maps(world: World, client: tuple) -> list[dict[str, str]]:
    """T2.6: each single inbound's tags and the gateway tags."""
    if client[0] == "tags":
        return [client[2]]
    dp = world.dataplanes[(client[1], client[2])]
    return [t for _, t in dp.inbounds] + ([dp.gateway] if dp.gateway is not None else [])


def client_identity(world: World, client: tuple) -> tuple[set[str], set[tuple[str, str]]]:
    """T2.7 / T4.10: services and (key, value) pairs from the union of all tags."""
    pairs = {(k, v) for m in client_maps(world, client) for k, v in m.items()}
    return {v for k, v in pairs if k == SVC}, pairs


def identity_matches(selector: dict[str, str], services: set[str], pairs: set[tuple[str, str]]) -> bool:
    """T2.7 rules 1–4."""
    if SVC in selector and selector[SVC] != "*" and selector[SVC] not in services:
        return False
    return all(v == "*" or (k, v) in pairs for k, v in selector.items() if k != SVC)


def authorize_inbound(
    world: World, client: tuple, mesh: str, dp_name: str, port: int
) -> tuple[bool, str, Optional[str]]:
    """§4.1 E0–E7 (no MeshTrafficPermission)."""
    m = world.meshes[mesh]
    dp = world.dataplanes[(mesh, dp_name)]
    if dp.gateway is not None:
        return True, "not-enforced", None  # E0, T4.3
    if m.prometheus is not None and port == m.prometheus[0]:
        return True, "not-enforced", None  # E0, T4.9
    inbound = [t for p, t in dp.inbounds if p == port]
    if not inbound:
        return False, "unknown-inbound", None  # E0b
    if not m.mtls:
        return True, "mtls-disabled", None  # E1
    if client[0] == "non-mesh":
        return (True, "permissive-non-mesh-traffic", None) if m.permissive else (False, "mtls-required", None)
    if client[1] != mesh:
        return False, "mtls-required", None  # T4.1: another mesh's certificate
    p = select(world, mesh, inbound[0])
    if p is None:
        return False, "no-policy", None  # E5
    services, pairs = client_identity(world, client)
    if any(identity_matches(s, services, pairs) for s in p.sources):
        return True, "allowed", p.name  # E6
    return False, "source-not-matched", p.name  # E7


def authorize_external_service(
    world: World, client: tuple, mesh: str, es: str, gating: str = "legacy"
) -> tuple[bool, str, Optional[str]]:
    """§4.2: T4.6 direct (dataplane matcher) or T4.7 zone egress (identity matcher); A6."""
    if gating == "none":
        return True, "not-gated", None
    m = world.meshes[mesh]
    p = select(world, mesh, world.services[(mesh, es)])
    if p is None:
        return False, "no-policy", None
    if m.zone_egress:
        services, pairs = client_identity(world, client)
        ok = any(identity_matches(s, services, pairs) for s in p.sources)
    else:
        ok = any(matches(s, t) for s in p.sources for t in client_maps(world, client))
    return (True, "allowed", p.name) if ok else (False, "source-not-matched", p.name)
