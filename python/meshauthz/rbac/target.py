"""R4 target inputs: what `Authorizer.check` accepts as a resource. The normalisation itself
(type, mesh, name, Kubernetes naming, the fields qualifiers read) happens in the bindings over the
core's rules (`meshauthz_core::rbac::document`): no loader on the check path."""

from __future__ import annotations

from typing import Any, Union

from .._core import RbacTarget
from ..resource import Resource

ResourceLike = Union[Resource, dict[str, Any], RbacTarget]


def describe(resource: Any) -> str:
    if isinstance(resource, RbacTarget):
        return str(resource.label)
    if isinstance(resource, Resource):
        return resource.describe()
    if isinstance(resource, dict):
        return str(resource.get("type") or resource.get("kind") or "<resource>")
    return "<resource>"
