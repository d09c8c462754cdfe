"""The §7 inbound decision (meshtrafficpermission.md E0–E6) for inbounds no legacy TP decides.

`authorize_inbound_mtp` returns None exactly in case E5 (no MTP selects the inbound, but some legacy
TrafficPermission applies to some inbound of the destination): the TrafficPermission engine decides then.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import _core
from ..store import ResourceStore
from .engine import MtpEngine


def _result(allowed: bool, reason: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"allowed": allowed, "reason": reason, "action": None, "policy": None,
                           "from_index": None, "shadow_deny": False, "kuma_enforcement_divergence": False}
    out.update(extra)
    return out


def _mtls(store: ResourceStore, mesh: str) -> tuple[bool, str]:
    """(mTLS enabled, mode) from the Mesh's enabled backend (M7.2; mode defaults to STRICT)."""
    found = store.find("Mesh", mesh)
    mtls = (found[0].body.get("mtls") or {}) if found else {}
    enabled = mtls.get("enabledBackend") or ""
    if not enabled:
        return False, ""
    mode = next((b.get("mode") or "STRICT" for b in mtls.get("backends") or []
                 if isinstance(b, dict) and b.get("name") == enabled), "STRICT")
    return True, str(mode)


def legacy_tp_applies(store: ResourceStore, mesh: str, inbound_tags: list[dict[str, str]]) -> bool:
    """T3.3: some TrafficPermission of the mesh has a destination selector matching some inbound (E4/E5)."""
    for tp in store.list("TrafficPermission", mesh):
        for dest in tp.spec.get("destinations") or []:
            sel = (dest or {}).get("match") or {}
            if any(_core.selector_matches(sel, tags) for tags in inbound_tags):
                return True
    return False


def authorize_inbound_mtp(store: ResourceStore, client: dict[str, Any], destination: dict[str, Any],
                          engine: Optional[MtpEngine] = None) -> Optional[dict[str, Any]]:
    """§7 for `client` ({dataplane: NAME} | {non_mesh: true}) → `destination` ({dataplane, port[, mesh]})."""
    engine = engine or MtpEngine(store)
    dest = engine.dataplane(str(destination["dataplane"]), destination.get("mesh"))
    port = int(destination["port"])
    mesh = dest.mesh or "default"
    net = dest.body.get("networking") or {}
    if isinstance(net.get("gateway"), dict):
        return _result(True, "not-enforced")  # E0 / A1
    inbounds = [i for i in net.get("inbound") or [] if isinstance(i, dict)]
    active = [i for i in inbounds if i.get("state") != "Ignored"]
    if not any(int(i.get("port") or 0) == port for i in active):
        return _result(False, "unknown-inbound")  # E0b / A1
    enabled, mode = _mtls(store, mesh)
    if not enabled:
        return _result(True, "mtls-disabled")  # E1
    if client.get("non_mesh"):
        if mode == "PERMISSIVE":
            return _result(True, "permissive-non-mesh-traffic")  # E2
        return _result(False, "mtls-required")  # E3
    src = engine.store.find("Dataplane", str(client["dataplane"]), mesh) or \
        [engine.dataplane(str(client["dataplane"]), client.get("mesh"))]
    if (src[0].mesh or "default") != mesh:
        return _result(False, "mtls-required")  # E3 / M5.4: another mesh fails TLS
    decision = engine.decide(src[0].name, dest.name, port, mesh=mesh)
    if decision is not None:  # E6
        return {**decision.to_dict(), "matched_policies": decision.matched_policies}
    tags = [dict(i.get("tags") or {}) for i in active]
    if legacy_tp_applies(store, mesh, tags):
        return None  # E5: the TrafficPermission engine decides
    return _result(False, "no-policy")  # E4
