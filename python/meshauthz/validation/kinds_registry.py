"""Registers each kind's validators with the dispatcher (one module per kind)."""

from __future__ import annotations

from . import access_role, dataplane, external_service, mesh, mesh_traffic_permission, traffic_permission
from .dispatch import register

register("TrafficPermission", spec=traffic_permission.validate)
register("ExternalService", spec=external_service.validate)
register("Dataplane", spec=dataplane.validate)
register("Mesh", spec=mesh.validate)
register("MeshTrafficPermission", spec=mesh_traffic_permission.validate,
         schema=mesh_traffic_permission.validate_schema, deprecations=mesh_traffic_permission.deprecations)
register("AccessRole", spec=access_role.validate_role)
register("AccessRoleBinding", spec=access_role.validate_binding)
