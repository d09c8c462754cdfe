"""Value types of the TrafficPermission engine (spec §6) and the public selector helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Optional, Union

from .. import _core

WILDCARD = "*"
SERVICE_TAG = "kuma.io/service"


class _NonMesh:
    """A client without a sidecar: a plaintext connection (E2/E3)."""

    _instance: Optional[_NonMesh] = None

    def __new__(cls) -> _NonMesh:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NON_MESH"


NON_MESH = _NonMesh()


@dataclass(frozen=True)
class Inbound:
    """Destination: inbound `port` (networking.inbound[].port) of `dataplane` (T3.7a)."""

    dataplane: str
    port: int


@dataclass(frozen=True)
class ExternalServiceTarget:
    """Destination: an ExternalService by resource name (T3.7b, A11)."""

    name: str


@dataclass(frozen=True)
class Identity:
    """An explicit client identity (A5): services and tag values, as a client certificate carries
    them (T2.7). Usable for inbound and zone-egress checks only, not for direct ES access (T2.6)."""

    services: tuple[str, ...] = ()
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def pairs(self) -> list[tuple[str, str]]:
        out = [(SERVICE_TAG, s) for s in self.services]
        out += [(k, v) for k, vs in self.tags.items() for v in vs]
        return out


Source = Union[str, Any, _NonMesh, Mapping[str, Any], Identity]
Destination = Union[Inbound, ExternalServiceTarget, tuple]


class Rank(NamedTuple):
    """T3.1 rank: number of exact values, number of `'*'` values."""

    exact: int
    wildcard: int


# One decision (spec §6; the MTP fields of meshtrafficpermission.md §9 when a MeshTrafficPermission
# decided). Built by the core; `shadowed`, `matched_policies`, `overridden` and
# `kuma_enforcement_divergence` (None = not computed) are computed on access.
TrafficDecision = _core.TrafficDecision


def selector_matches(selector: Mapping[str, str], tags: Mapping[str, str]) -> bool:
    """T2.2 map matcher: every selector key present in `tags`, value equal or `'*'` (T2.5)."""
    return _core.selector_matches(dict(selector), dict(tags))


def rank_of(selector: Mapping[str, str]) -> Rank:
    """T3.1 rank of a selector."""
    return Rank(*_core.selector_rank(dict(selector)))


def rank_compare(a: tuple[int, int], b: tuple[int, int]) -> int:
    """T3.2 Kuma's CompareTo value: total tag count first, then exact count; > 0 = `a` more specific."""
    return _core.rank_compare((int(a[0]), int(a[1])), (int(b[0]), int(b[1])))


def rank_combine(a: tuple[int, int], b: tuple[int, int]) -> Rank:
    """Kuma's CombinedWith (informative: unused by TrafficPermission)."""
    return Rank(*_core.rank_combine((int(a[0]), int(a[1])), (int(b[0]), int(b[1]))))


def dataplane_tag_maps(body: Mapping[str, Any]) -> list[dict[str, str]]:
    """The single tag maps of a Dataplane body: each inbound, then the gateway (T2.6)."""
    net = body.get("networking") or {}
    maps = [dict(i.get("tags") or {}) for i in net.get("inbound") or [] if isinstance(i, dict)]
    gw = net.get("gateway")
    if isinstance(gw, dict):
        maps.append(dict(gw.get("tags") or {}))
    return maps


def dataplane_identity(dataplane_body: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """T2.7 / T4.10: a Dataplane's certificate identity, the union of its inbound and gateway tags."""
    return frozenset(kv for m in dataplane_tag_maps(dataplane_body) for kv in m.items())


def dataplane_matches(selector: Mapping[str, str], dataplane_body: Mapping[str, Any]) -> bool:
    """T2.6: the selector matches some single inbound's tags or the gateway tags (decided by the core)."""
    return bool(_core.dataplane_matches(dict(selector), dataplane_tag_maps(dataplane_body)))


def identity_matches(selector: Mapping[str, str], pairs: Any) -> bool:
    """T2.7: every non-`'*'` (key, value) of the selector is held by the client (union of its tags);
    decided by the core."""
    return bool(_core.identity_matches(dict(selector), [(str(k), str(v)) for k, v in pairs]))
