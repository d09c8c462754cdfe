"""Translate a ResourceStore's MeshTrafficPermissions and Dataplanes into the Rust `MtpSet` inputs."""

from __future__ import annotations

from typing import Any, Optional, Union

from ..resource import Resource, body_deferred
from ..store import ResourceStore, StoreSnapshot

PyTargetRef = tuple[str, str, str, dict[str, str], dict[str, str], list[str], str]


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def target_ref(ref: Any) -> PyTargetRef:
    """A targetRef dict as the tuple the bindings take; an omitted ref is `{kind: Mesh}` (M2.4)."""
    if not isinstance(ref, dict):
        ref = {"kind": "Mesh"}
    proxy = ref.get("proxyTypes")
    return (str(ref.get("kind") or "Mesh"), str(ref.get("name") or ""), str(ref.get("namespace") or ""),
            _str_map(ref.get("labels")), _str_map(ref.get("tags")),
            [str(p) for p in proxy] if isinstance(proxy, list) else [], str(ref.get("sectionName") or ""))


def doc_order(r: Resource) -> tuple[str, int]:
    """Document order (A2's last tie-break, `as_listed`)."""
    return (r.document.file, r.document.index) if r.document is not None else ("\uffff", 0)


def policy_tuple(r: Resource) -> tuple[Any, ...]:
    """The `MtpSet` / traffic compile input of one MeshTrafficPermission. A body not read yet
    (resource.DeferredResource) is passed as its document handle, whose targetRefs and actions the
    YAML reader kept natively (the bindings read them there: no body is built); a body once read is
    the truth (a mutated one included)."""
    doc = body_deferred(r)
    if doc is not None:
        return (r.name, r.mesh or "default", r.labels, doc, doc)
    spec = r.spec
    items = [(target_ref(f.get("targetRef")), str((f.get("default") or {}).get("action") or ""))
             for f in spec.get("from") or [] if isinstance(f, dict)]
    return (r.name, r.mesh or "default", dict(r.labels), target_ref(spec.get("targetRef")), items)


def dataplane_tuple(r: Resource) -> tuple[Any, ...]:
    """The `MtpSet` / traffic compile input of one Dataplane; a body not read yet is passed as its
    document handle (its inbounds kept natively by the YAML reader; the clean shape has no gateway)."""
    doc = body_deferred(r)
    if doc is not None:
        return (r.name, r.mesh or "default", r.labels, doc, None)
    net = r.body.get("networking") or {}
    inbounds = [(int(i.get("port") or 0), str(i.get("name") or ""), _str_map(i.get("tags")),
                 i.get("state") == "Ignored") for i in net.get("inbound") or [] if isinstance(i, dict)]
    gw: Optional[tuple[bool, dict[str, str]]] = None
    if isinstance(net.get("gateway"), dict):
        g = net["gateway"]
        gw = (g.get("type") == "BUILTIN", _str_map(g.get("tags")))
    return (r.name, r.mesh or "default", dict(r.labels), inbounds, gw)


def compile_inputs(store: Union[ResourceStore, StoreSnapshot]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    mtps = sorted(store.list("MeshTrafficPermission"), key=doc_order)
    return [policy_tuple(r) for r in mtps], [dataplane_tuple(r) for r in store.list("Dataplane")]
