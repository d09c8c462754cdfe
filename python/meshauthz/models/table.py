"""Kind name -> pydantic model class (`meshauthz.models.MODELS`). A sibling module, so `fastcheck` reads
the table without importing the package `__init__` (#11 item 8)."""

from __future__ import annotations

from pydantic import BaseModel

from .access_role import AccessRole, AccessRoleBinding
from .dataplane import Dataplane
from .external_service import ExternalService
from .mesh import Mesh
from .mesh_traffic_permission import MeshTrafficPermission
from .traffic_permission import TrafficPermission

MODELS: dict[str, type[BaseModel]] = {
    "Mesh": Mesh, "Dataplane": Dataplane, "ExternalService": ExternalService,
    "TrafficPermission": TrafficPermission, "MeshTrafficPermission": MeshTrafficPermission,
    "AccessRole": AccessRole, "AccessRoleBinding": AccessRoleBinding,
}
