"""MeshTrafficPermission (MTP §2): `spec.targetRef`, `spec.from[{targetRef, default{action}}]`.

`kind` and `action` stay plain strings: enum failures are the schema layer's (M3.7)."""

from __future__ import annotations

from typing import List, Optional

from .base import Field, KumaModel, Str, TargetRef


class Conf(KumaModel):
    action: Str = None


class From(KumaModel):
    targetRef: Optional[TargetRef] = None
    default: Optional[Conf] = None


class Spec(KumaModel):
    targetRef: Optional[TargetRef] = None
    from_: Optional[List[From]] = Field(default=None, alias="from")


class MeshTrafficPermission(KumaModel):
    spec: Optional[Spec] = None
