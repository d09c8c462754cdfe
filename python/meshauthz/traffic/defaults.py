"""T4.12–T4.14 (A7, A7a): what Kuma would create for a Mesh. Never added to a store implicitly."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from .. import _core
from ..resource import Resource
from .model import SERVICE_TAG, WILDCARD


def mesh_defaults(
    mesh: Union[str, Mapping[str, Any], Resource],
    create_mesh_routing_resources: bool = True,
    already_generated: bool = False,
) -> dict[str, Any]:
    """`{"trafficpermission": DOC | None, "meshtrafficpermissions": []}` (Kuma never creates an MTP).

    `create_mesh_routing_resources` defaults to True (legacy semantics, A7; Kuma's own default is
    false since 2.6); `already_generated` = the Kubernetes annotation
    `k8s.kuma.io/mesh-defaults-generated` is present (T4.14)."""
    if isinstance(mesh, Resource):
        name, body = mesh.name, mesh.body
    elif isinstance(mesh, Mapping):
        if "metadata" in mesh:  # Kubernetes form
            name, body = str((mesh.get("metadata") or {}).get("name") or ""), dict(mesh.get("spec") or {})
        else:
            name, body = str(mesh.get("name") or ""), dict(mesh)
    else:
        name, body = str(mesh), {}
    skip = body.get("skipCreatingInitialPolicies") or []
    tp_name: Optional[str] = _core.default_traffic_permission_name(
        name, [str(s) for s in skip], bool(create_mesh_routing_resources), bool(already_generated)
    )
    doc = None
    if tp_name is not None:
        doc = {
            "type": "TrafficPermission",
            "name": tp_name,
            "mesh": name,
            "sources": [{"match": {SERVICE_TAG: WILDCARD}}],
            "destinations": [{"match": {SERVICE_TAG: WILDCARD}}],
        }
    return {"trafficpermission": doc, "meshtrafficpermissions": []}
