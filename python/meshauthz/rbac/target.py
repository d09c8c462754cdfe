"""R4 target normalisation on the Python side: a loaded Resource, a plain dict (either YAML form)
or a pre-normalised `RbacTarget` handle become what the Rust core needs."""

from __future__ import annotations

from typing import Any, Optional, Union

from .._core import RbacTarget
from ..errors import SchemaError
from ..loader import LoadResult, resource_from_document
from ..resource import Resource
from ..yaml_source import Document

TargetTuple = tuple[str, str, str, Optional[str], str, dict[str, Any]]
ResourceLike = Union[Resource, dict[str, Any], RbacTarget]


def resource_of(doc: dict[str, Any]) -> Resource:
    """Normalise a dict (Universal or Kubernetes) without Kuma validation: RBAC never inspects
    payloads (rbac.yaml header), so loose `default`/`conf` content must not reject a check."""
    out = LoadResult()
    res = resource_from_document(Document(doc, "<resource>", 0), out, check=False)
    if res is None or out.problems:
        raise SchemaError(out.problems)
    return res


def as_target(resource: ResourceLike) -> Union[RbacTarget, TargetTuple]:
    """What `RbacPolicySet.check` accepts: the handle itself or a 6-tuple (built in Rust)."""
    if isinstance(resource, RbacTarget):
        return resource
    res = resource if isinstance(resource, Resource) else resource_of(resource)
    # R4.1: `spec` for targetRef-era kinds, the top-level body for legacy ones (Resource.spec).
    return (res.kind.name, res.kind.scope, res.kind.family, res.mesh, res.name, res.spec)


def make_target(resource: ResourceLike) -> RbacTarget:
    t = as_target(resource)
    return t if isinstance(t, RbacTarget) else RbacTarget(*t)


def describe(resource: ResourceLike) -> str:
    if isinstance(resource, RbacTarget):
        return f"{resource.type_name} {resource.mesh}/{resource.name}" if resource.mesh else \
            f"{resource.type_name} {resource.name}"
    if isinstance(resource, Resource):
        return resource.describe()
    return str(resource.get("type") or resource.get("kind") or "<resource>")
