"""`MtpEngine`: the MeshTrafficPermission API over a ResourceStore (meshtrafficpermission.md §4–§6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from .. import _core, registry
from ..errors import InputError, NotFoundError, Problem
from ..resource import Resource
from ..store import ResourceStore
from .compile import compile_inputs

if TYPE_CHECKING:  # pragma: no cover - annotations only: `traffic` sits above `mtp`
    from ..traffic.explain import Explanation

Action = Literal["Allow", "Deny", "AllowWithShadowDeny"]
PolicyOrder = Literal["kuma", "as_listed"]


@dataclass(frozen=True)
class Rule:
    """One rule of Kuma's computed list (M6.4): subset in `k=v` / `k!=v` encoding, action."""
    subset: list[str]
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"subset": list(self.subset), "action": self.action}


_FIELDS = ("allowed", "reason", "action", "policy", "from_index", "shadow_deny", "kuma_enforcement_divergence",
           "matched_policies", "overridden", "tie")


class MtpDecision:
    """M6.2 decision for one inbound (§9); `reason` is an E6 code of §7. Immutable.

    `matched_policies` (lowest priority first, M4.9) and `overridden` (earlier matching items as
    (policy, from index, action)) can be long: when the decision comes from the engine they are
    built from the compiled inbound on first access.
    """

    __slots__ = ("allowed", "reason", "action", "policy", "from_index", "shadow_deny",
                 "kuma_enforcement_divergence", "tie", "_matched", "_overridden", "_verdict")

    allowed: bool
    reason: str
    action: Optional[str]
    policy: Optional[str]
    from_index: Optional[int]
    shadow_deny: bool
    kuma_enforcement_divergence: bool  # A3/A4
    tie: bool  # A2

    def __init__(self, allowed: bool, reason: str, action: Optional[str], policy: Optional[str],
                 from_index: Optional[int], shadow_deny: bool = False, kuma_enforcement_divergence: bool = False,
                 matched_policies: Optional[list[str]] = None,
                 overridden: Optional[list[tuple[str, int, str]]] = None, tie: bool = False):
        s = object.__setattr__
        s(self, "allowed", allowed)
        s(self, "reason", reason)
        s(self, "action", action)
        s(self, "policy", policy)
        s(self, "from_index", from_index)
        s(self, "shadow_deny", shadow_deny)
        s(self, "kuma_enforcement_divergence", kuma_enforcement_divergence)
        s(self, "tie", tie)
        s(self, "_matched", list(matched_policies or []))
        s(self, "_overridden", [tuple(o) for o in overridden or []])
        s(self, "_verdict", None)

    @classmethod
    def _lazy(cls, verdict: Any) -> MtpDecision:
        """From a `_core.MtpVerdict`: scalars now, the two lists on first access."""
        d = cls.__new__(cls)
        s = object.__setattr__
        s(d, "allowed", verdict.allowed)
        s(d, "reason", verdict.reason)
        s(d, "action", verdict.action)
        s(d, "policy", verdict.policy)
        s(d, "from_index", verdict.from_index)
        s(d, "shadow_deny", verdict.shadow_deny)
        s(d, "kuma_enforcement_divergence", verdict.kuma_enforcement_divergence)
        s(d, "tie", verdict.tie)
        s(d, "_matched", None)
        s(d, "_overridden", None)
        s(d, "_verdict", verdict)
        return d

    @property
    def matched_policies(self) -> list[str]:
        if self._matched is None:
            object.__setattr__(self, "_matched", list(self._verdict.matched_policies))
        return self._matched  # type: ignore[return-value]

    @property
    def overridden(self) -> list[tuple[str, int, str]]:
        if self._overridden is None:
            object.__setattr__(self, "_overridden", [tuple(o) for o in self._verdict.overridden])
        return self._overridden  # type: ignore[return-value]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"MtpDecision is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"MtpDecision is immutable: cannot delete {name!r}")

    def _astuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._astuple() == other._astuple()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "MtpDecision(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS) + ")"

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

    def __init__(self, store: ResourceStore, *, max_rules: int = 10_000):
        if type(max_rules) is not int or max_rules < 1:
            raise _input_error(f"max_rules must be a positive integer, not {max_rules!r}")
        self.max_rules = max_rules
        self.store = store
        self._state: Optional[tuple[int, Any]] = None

    def __reduce__(self) -> tuple[Any, ...]:  # pickles as bundle bytes (meshauthz.bundle)
        return registry.reduce_engine(self, "mtp", self.store, {})

    @property
    def compiled(self) -> Any:
        """The Rust `MtpSet` for the store's current version. The version is read with the store
        contents (one consistent `StoreSnapshot`), never after compiling: a change made during a
        compilation is seen as a newer version and recompiled on the next call."""
        state = self._state
        if state is None or state[0] != self.store.version:
            snap = self.store.snapshot(("MeshTrafficPermission", "Dataplane"))
            policies, dataplanes = compile_inputs(snap)  # type: ignore[arg-type]
            try:
                compiled = _core.MtpSet(policies, dataplanes)
            except (ValueError, TypeError) as e:
                raise _input_error(str(e)) from None
            state = (snap.version, compiled)
            self._state = state  # one assignment: version and set always agree
        return state[1]

    def _snapshot(self) -> Any:
        """The current immutable compiled `MtpSet` (shared by unpickled engines)."""
        return self.compiled

    @classmethod
    def _over(cls, store: ResourceStore, compiled: Any) -> MtpEngine:
        """A fresh engine over `store` whose contents `compiled` was built from."""
        engine = cls(store)
        engine._state = (store.version, compiled)
        return engine

    def refresh(self) -> None:
        """Recompile from the store's current contents."""
        self._state = None
        _ = self.compiled

    def dataplane(self, name: str, mesh: Optional[str] = None) -> Resource:
        name, mesh = _text(name, "a dataplane name"), _opt_text(mesh, "mesh")
        found = self.store.find("Dataplane", name, mesh)
        if not found:
            raise NotFoundError(f"no Dataplane named {name!r}" + (f" in mesh {mesh!r}" if mesh else ""))
        if len(found) > 1:
            raise _input_error(f"Dataplane {name!r} exists in several meshes "
                             f"({', '.join(r.mesh or '' for r in found)}); pass mesh=")
        return found[0]

    def reload(self, source: Any) -> None:
        """Replace the source (a ResourceStore, or paths for `meshauthz.load`) and recompile; on an
        error the engine keeps its current store and set."""
        if isinstance(source, ResourceStore):
            store = source
        else:
            store = registry.loader("load")(source)
        snap = store.snapshot(("MeshTrafficPermission", "Dataplane"))
        policies, dataplanes = compile_inputs(snap)
        try:
            compiled = _core.MtpSet(policies, dataplanes)
        except (ValueError, TypeError) as e:
            raise _input_error(str(e)) from None
        self.store, self._state = store, (snap.version, compiled)

    def check(self, *, source: str, destination: tuple[str, int],
              mesh: Optional[str] = None) -> Optional[MtpDecision]:
        """M6.2 for client Dataplane `source` -> inbound `destination = (dataplane, port)`; None
        when no MeshTrafficPermission selects it (the shared verb of the three engines)."""
        if not (isinstance(destination, tuple) and len(destination) == 2):
            raise _input_error(f"a destination is (dataplane, port), not {destination!r}")
        name, port = destination
        return self.decide(source, name, _port(port), mesh=mesh)

    def check_batch(self, rows: Any) -> list[Optional[MtpDecision]]:
        """`check` for each `(source, dataplane, port)` row (a bad row raises its `MeshauthzError`).
        Columnar batches with `error:*` rows and E4 decided in the core: `TrafficEngine.check_batch`."""
        try:
            items = list(rows)
        except TypeError:
            raise _input_error(f"rows must be an iterable of (source, dataplane, port), not {type(rows).__name__}"
                               ) from None
        compiled = self.compiled  # one set for the whole batch: never a mix of two sets
        out = []
        for i, row in enumerate(items):
            if not (isinstance(row, (tuple, list)) and len(row) == 3):
                raise _input_error(f"row {i}: expected (source, dataplane, port), not {row!r:.80}")
            s, d, p = row
            out.append(self._decide(compiled, s, d, _port(p)))
        return out

    def explain(self, *, source: Any, destination: Any, mesh: Optional[str] = None) -> Explanation:
        """The MeshTrafficPermission explanation (M4.9 order, M6.1 items with M6.2 flags, M6.4
        rules), as `TrafficEngine.explain` gives it for an inbound an MTP selects."""
        # `traffic` composes TP and MTP (it sits above `mtp`), so its engine is reached through the registry.
        traffic = registry.engine_class("traffic")
        if traffic is None:  # pragma: no cover - meshauthz/__init__ imports meshauthz.traffic
            raise _input_error("MtpEngine.explain needs meshauthz.traffic: import meshauthz first")
        explanation: Explanation = traffic(self.store, max_rules=self.max_rules).explain(
            source=source, destination=destination, mesh=mesh)
        return explanation

    def matched_policies(self, dataplane: str, port: int, mesh: Optional[str] = None) -> list[str]:
        """M4: policies selecting the inbound, lowest priority first (`[]` = none)."""
        dp = self.dataplane(dataplane, mesh)
        return list(self.compiled.matched_policies(dp.mesh, dp.name, _port(port)))

    def select_rules(self, dataplane: str, port: int, policy_order: PolicyOrder = "kuma",
                     mesh: Optional[str] = None) -> Optional[list[Rule]]:
        """M6.4: Kuma's computed rule list, or None when no MTP selects the inbound."""
        if policy_order not in ("kuma", "as_listed"):
            raise _input_error(f"unsupported policy_order {policy_order!r}: want kuma or as_listed")
        dp = self.dataplane(dataplane, mesh)
        try:
            rules = self.compiled.rules(dp.mesh, dp.name, _port(port), policy_order == "as_listed", self.max_rules)
        except ValueError as e:
            raise _input_error(str(e)) from None
        return None if rules is None else [Rule(list(s), a) for s, a in rules]

    def decide(self, client_dataplane_name: str, dataplane: str, port: int,
               mesh: Optional[str] = None) -> Optional[MtpDecision]:
        """M6.2 for a client Dataplane; None when no MTP selects the inbound (the E4 hook's "fall through").

        `mesh` selects the destination's mesh; the client is looked up in the same mesh if it exists
        there, else anywhere (a client of another mesh matches no item, M5.4)."""
        return self._decide(self.compiled, client_dataplane_name, dataplane, port, mesh)

    def _decide(self, compiled: Any, client_dataplane_name: str, dataplane: str, port: int,
                mesh: Optional[str] = None) -> Optional[MtpDecision]:
        dest = self.dataplane(dataplane, mesh)
        client_dataplane_name = _text(client_dataplane_name, "a client dataplane name")
        found = self.store.find("Dataplane", client_dataplane_name, dest.mesh) or \
            [self.dataplane(client_dataplane_name)]
        client = found[0]
        raw = compiled.decide(dest.mesh, dest.name, _port(port), client.mesh, client.name)
        return None if raw is None else _decision(raw)

    def decide_identity(self, identity: Union[dict[str, list[str]], list[tuple[str, str]]], dataplane: str,
                        port: int, client_mesh: Optional[str] = None,
                        mesh: Optional[str] = None) -> Optional[MtpDecision]:
        """M6.2 for an explicit certificate identity: (key, value) SAN pairs or {key: [values]}."""
        dest = self.dataplane(dataplane, mesh)
        client_mesh = _opt_text(client_mesh, "client_mesh")
        pairs = _identity_pairs(identity)
        raw = self.compiled.decide_identity(dest.mesh, dest.name, _port(port), client_mesh or dest.mesh, pairs)
        return None if raw is None else _decision(raw)


def _text(v: Any, what: str) -> str:
    """A name argument: a str that is valid text (a lone surrogate cannot reach the core)."""
    if not isinstance(v, str):
        raise _input_error(f"{what} must be a string, not {type(v).__name__}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise _input_error(f"{what} is not valid UTF-8 text: {v!r:.80}") from None
    return v


def _opt_text(v: Any, what: str) -> Optional[str]:
    return None if v is None else _text(v, what)


def _identity_pairs(identity: Any) -> list[tuple[str, str]]:
    """(key, value) SAN pairs from {key: [values]} or [(key, value), ...]; anything else is an InputError."""
    if isinstance(identity, dict):
        items = []
        for k, vs in identity.items():
            if not isinstance(vs, (list, tuple)):
                raise _input_error(f"identity {k!r:.40}: expected a list of values, not {type(vs).__name__}")
            items += [(k, v) for v in vs]
    elif isinstance(identity, (list, tuple)):
        items = list(identity)
    else:
        raise _input_error(f"an identity is {{key: [values]}} or [(key, value), ...], not {type(identity).__name__}")
    pairs = []
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise _input_error(f"an identity pair is (key, value), not {item!r:.80}")
        pairs.append((_text(item[0], "an identity key"), _text(item[1], "an identity value")))
    return pairs


def _port(port: Any) -> int:
    if type(port) is not int or not 0 <= port < 2**32:
        raise _input_error(f"port must be an integer between 0 and 2**32 - 1, not {port!r}")
    return port


def _decision(raw: Any) -> MtpDecision:
    return MtpDecision._lazy(raw)


registry.register_engine("mtp", MtpEngine)  # bundles and pickles build it (meshauthz.bundle)
