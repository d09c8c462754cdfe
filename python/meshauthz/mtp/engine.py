"""`MtpEngine`: the MeshTrafficPermission API over a ResourceStore (meshtrafficpermission.md §4–§6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

from .. import _core
from ..errors import InputError, NotFoundError, Problem
from ..resource import Resource
from ..store import ResourceStore
from .compile import compile_inputs

Action = Literal["Allow", "Deny", "AllowWithShadowDeny"]
PolicyOrder = Literal["kuma", "as_listed"]


@dataclass(frozen=True)
class Rule:
    """One rule of Kuma's computed list (M6.4): subset in `k=v` / `k!=v` encoding, action."""
    subset: list[str]
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"subset": list(self.subset), "action": self.action}


@dataclass(frozen=True)
class MtpDecision:
    """M6.2 decision for one inbound (§9); `reason` is an E6 code of §7."""
    allowed: bool
    reason: str
    action: Optional[str]
    policy: Optional[str]
    from_index: Optional[int]
    shadow_deny: bool = False
    kuma_enforcement_divergence: bool = False  # A3/A4
    matched_policies: list[str] = field(default_factory=list)  # lowest priority first (M4.9)
    overridden: list[tuple[str, int, str]] = field(default_factory=list)  # earlier matching items
    tie: bool = False  # A2

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": self.reason, "action": self.action, "policy": self.policy,
                "from_index": self.from_index, "shadow_deny": self.shadow_deny,
                "kuma_enforcement_divergence": self.kuma_enforcement_divergence,
                "matched_policies": list(self.matched_policies),
                "overridden": [list(o) for o in self.overridden], "tie": self.tie}


def _input_error(message: str) -> InputError:
    """InputError takes a list of Problems; a bare string would be split into one problem per character."""
    return InputError([Problem(message, file="<query>")])


class MtpEngine:
    """MTP selection, ordering, decisions and Kuma's rule list for the Dataplanes of a store.

    Compiles lazily and recompiles when the store changes (`ResourceStore.version`). Dataplanes are
    named by their Kuma core name (Universal `name`, Kubernetes `name.namespace`).
    """

    def __init__(self, store: ResourceStore):
        self.store = store
        self._version = -1
        self._set: Any = None

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        from ..bundle import reduce_engine

        return reduce_engine(self, "mtp", self.store, {})

    @property
    def compiled(self) -> Any:
        """The Rust `MtpSet` for the store's current version."""
        if self._set is None or self._version != self.store.version:
            policies, dataplanes = compile_inputs(self.store)
            try:
                self._set = _core.MtpSet(policies, dataplanes)
            except ValueError as e:
                raise _input_error(str(e)) from None
            self._version = self.store.version
        return self._set

    def dataplane(self, name: str, mesh: Optional[str] = None) -> Resource:
        found = self.store.find("Dataplane", name, mesh)
        if not found:
            raise NotFoundError(f"no Dataplane named {name!r}" + (f" in mesh {mesh!r}" if mesh else ""))
        if len(found) > 1:
            raise _input_error(f"Dataplane {name!r} exists in several meshes "
                             f"({', '.join(r.mesh or '' for r in found)}); pass mesh=")
        return found[0]

    def matched_policies(self, dataplane: str, port: int, mesh: Optional[str] = None) -> list[str]:
        """M4: policies selecting the inbound, lowest priority first (`[]` = none)."""
        dp = self.dataplane(dataplane, mesh)
        return list(self.compiled.matched_policies(dp.mesh, dp.name, port))

    def select_rules(self, dataplane: str, port: int, policy_order: PolicyOrder = "kuma",
                     mesh: Optional[str] = None) -> Optional[list[Rule]]:
        """M6.4: Kuma's computed rule list, or None when no MTP selects the inbound."""
        if policy_order not in ("kuma", "as_listed"):
            raise _input_error(f"unsupported policy_order {policy_order!r}: want kuma or as_listed")
        dp = self.dataplane(dataplane, mesh)
        try:
            rules = self.compiled.rules(dp.mesh, dp.name, port, policy_order == "as_listed")
        except ValueError as e:
            raise _input_error(str(e)) from None
        return None if rules is None else [Rule(list(s), a) for s, a in rules]

    def decide(self, client_dataplane_name: str, dataplane: str, port: int,
               mesh: Optional[str] = None) -> Optional[MtpDecision]:
        """M6.2 for a client Dataplane; None when no MTP selects the inbound (the E4 hook's "fall through").

        `mesh` selects the destination's mesh; the client is looked up in the same mesh if it exists
        there, else anywhere (a client of another mesh matches no item, M5.4)."""
        dest = self.dataplane(dataplane, mesh)
        found = self.store.find("Dataplane", client_dataplane_name, dest.mesh) or \
            [self.dataplane(client_dataplane_name)]
        client = found[0]
        raw = self.compiled.decide(dest.mesh, dest.name, port, client.mesh, client.name)
        return None if raw is None else _decision(raw)

    def decide_identity(self, identity: Union[dict[str, list[str]], list[tuple[str, str]]], dataplane: str,
                        port: int, client_mesh: Optional[str] = None,
                        mesh: Optional[str] = None) -> Optional[MtpDecision]:
        """M6.2 for an explicit certificate identity: (key, value) SAN pairs or {key: [values]}."""
        dest = self.dataplane(dataplane, mesh)
        pairs = ([(k, v) for k, vs in identity.items() for v in vs] if isinstance(identity, dict)
                 else list(identity))
        raw = self.compiled.decide_identity(dest.mesh, dest.name, port, client_mesh or dest.mesh, pairs)
        return None if raw is None else _decision(raw)


def _decision(raw: dict[str, Any]) -> MtpDecision:
    return MtpDecision(**{**raw, "overridden": [tuple(o) for o in raw["overridden"]]})
