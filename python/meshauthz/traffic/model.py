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


@dataclass(frozen=True)
class TrafficDecision:
    """One decision (spec §6). `reason` is an E-code of §4.1 or an ES code of §6."""

    allowed: bool
    reason: str
    policy: Optional[str]
    mesh: str
    target: dict[str, Any]
    matched_source: Optional[int] = None
    shadowed: tuple[str, ...] = ()
    bypass_possible: bool = False
    # Set when a MeshTrafficPermission decided (E4, meshtrafficpermission.md §9):
    action: Optional[str] = None  # Allow | Deny | AllowWithShadowDeny
    from_index: Optional[int] = None  # the `from` item that decided (M6.2)
    shadow_deny: bool = False
    kuma_enforcement_divergence: bool = False  # MTP A3/A4
    matched_policies: tuple[str, ...] = ()  # MTPs selecting the inbound, lowest priority first (M4.9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "policy": self.policy,
            "mesh": self.mesh,
            "target": dict(self.target),
            "matched_source": self.matched_source,
            "shadowed": list(self.shadowed),
            "bypass_possible": self.bypass_possible,
            "action": self.action,
            "from_index": self.from_index,
            "shadow_deny": self.shadow_deny,
            "kuma_enforcement_divergence": self.kuma_enforcement_divergence,
            "matched_policies": list(self.matched_policies),
        }


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


def dataplane_matches(selector: Mapping[str, str], dataplane_body: Mapping[str, Any]) -> bool:
    """T2.6: the selector matches some single inbound's tags or the gateway tags."""
    return any(selector_matches(selector, m) for m in dataplane_tag_maps(dataplane_body))


def identity_matches(selector: Mapping[str, str], pairs: set[tuple[str, str]]) -> bool:
    """T2.7: every non-`'*'` (key, value) of the selector is held by the client (union of its tags)."""
    return all(v == WILDCARD or (k, v) in pairs for k, v in selector.items())
