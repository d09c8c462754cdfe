"""AccessRole / AccessRoleBinding (rbac.md §2). Unknown qualifier keys and access values are
rejected by `meshauthz.validation.access_role` (A17); payloads are never inspected."""

from __future__ import annotations

from typing import List, Optional

from .base import Field, KumaModel, Str, StrList, StrMap, TargetRef


class RefHolder(KumaModel):
    targetRef: Optional[TargetRef] = None


class MatchHolder(KumaModel):
    match: StrMap = None


class DpTokenTag(KumaModel):
    name: Str = None
    value: Str = None


class DpToken(KumaModel):
    tags: Optional[List[DpTokenTag]] = None


class Qualifier(KumaModel):
    targetRef: Optional[TargetRef] = None
    to: Optional[RefHolder] = None
    from_: Optional[RefHolder] = Field(default=None, alias="from")
    sources: Optional[MatchHolder] = None
    destinations: Optional[MatchHolder] = None
    selectors: Optional[MatchHolder] = None
    dpToken: Optional[DpToken] = None


class Rule(KumaModel):
    types: StrList = None
    names: StrList = None
    mesh: Str = None
    access: StrList = None
    when: Optional[List[Qualifier]] = None


class AccessRole(KumaModel):
    rules: Optional[List[Rule]] = None


class Subject(KumaModel):
    type: Str = None
    name: Str = None


class AccessRoleBinding(KumaModel):
    subjects: Optional[List[Subject]] = None
    roles: StrList = None
