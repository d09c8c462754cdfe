"""Kuma's violations and the per-kind validator dispatch (every kind module registers here).

Split from `meshauthz.validation` (#11 item 8) so the kind modules import `Violation` from a sibling
module, never from the package `__init__` (which imports them: that was an import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .paths import Path, render_path


@dataclass(frozen=True)
class Violation:
    """One Kuma violation: `field` is Kuma's rendered path, `path` the same as a tuple."""

    path: Path
    message: str

    @property
    def field(self) -> str:
        return render_path(self.path)

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)


SpecValidator = Callable[[dict[str, Any]], list[Violation]]
_SPEC: dict[str, SpecValidator] = {}
_SCHEMA: dict[str, SpecValidator] = {}
_DEPRECATIONS: dict[str, Callable[[dict[str, Any]], list[str]]] = {}


def register(kind: str, *, spec: Optional[SpecValidator] = None, schema: Optional[SpecValidator] = None,
             deprecations: Optional[Callable[[dict[str, Any]], list[str]]] = None) -> None:
    if spec:
        _SPEC[kind] = spec
    if schema:
        _SCHEMA[kind] = schema
    if deprecations:
        _DEPRECATIONS[kind] = deprecations


def validate_spec(kind: str, body: dict[str, Any]) -> list[Violation]:
    """Kuma's `Validate()` for `kind` on a Universal-equivalent body; [] for kinds without rules."""
    fn = _SPEC.get(kind)
    return fn(body) if fn else []


def validate_schema(kind: str, body: dict[str, Any]) -> list[Violation]:
    """The REST / Kubernetes OpenAPI layer that runs before `validate_spec` (MTP M3.7)."""
    fn = _SCHEMA.get(kind)
    return fn(body) if fn else []


def deprecations(kind: str, body: dict[str, Any]) -> list[str]:
    fn = _DEPRECATIONS.get(kind)
    return fn(body) if fn else []
