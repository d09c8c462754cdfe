"""Shared pydantic base and field types for the typed kinds.

Types follow Kuma's decoders (protojson / the MTP OpenAPI types): strings must be strings, bools
bools, ports non-negative uint32 (a digit string is accepted, as protojson does). Values are not
otherwise constrained — empty strings and nulls are left to `meshauthz.validation`.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, List, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

Str = Optional[StrictStr]
Bool = Optional[StrictBool]
UInt32 = Optional[Annotated[int, Field(ge=0, le=0xFFFFFFFF, strict=False)]]
StrMap = Optional[Dict[StrictStr, Optional[StrictStr]]]
StrList = Optional[List[StrictStr]]
Payload = Optional[Dict[str, Any]]  # free-form (`conf`, `default`): never inspected

# field names whose children are user map keys (rendered as ["key"] in paths)
MAP_FIELDS = frozenset({"match", "tags", "labels"})

__all__ = ["KumaModel", "Str", "Bool", "UInt32", "StrMap", "StrList", "Payload", "MAP_FIELDS", "Field"]


class KumaModel(BaseModel):
    """Unknown fields are kept (collected as warnings, TP A18 / MTP A9), never rejected."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)


class TargetRef(KumaModel):
    """A Kuma targetRef (MTP M2.2; RBAC qualifiers, rbac.md §2.1): every field optional here, the
    per-kind rules are validation's."""

    kind: Str = None
    name: Str = None
    namespace: Str = None
    labels: StrMap = None
    tags: StrMap = None
    mesh: Str = None
    proxyTypes: StrList = None
    sectionName: Str = None
