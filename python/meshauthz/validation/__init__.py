"""Kuma's validation, with Kuma's field paths, messages and order.

`validate_spec(kind, body)` is Kuma's `Validate()` on a resource body (the Universal document
without its envelope; conformance `checks: spec`); `validate_meta` is the API create check of name
and mesh (`checks: meta`, TP §5.3); `deprecations` lists Kuma's deprecation warnings (MTP M3.8).
One module per kind holds its rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..kinds import Kind
from .paths import MapKey, Path, go_quote, render_path

__all__ = ["Violation", "Report", "validate_spec", "validate_meta", "validate_schema", "deprecations",
           "validate_resource", "render_path", "go_quote", "MapKey", "Path"]


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


def validate_resource(resource: Any) -> Report:
    """Everything Kuma checks when a resource is applied: schema first, then the spec rules."""
    kind, body = resource.kind.name, resource.body
    violations = validate_schema(kind, body)
    if not violations:
        violations = validate_spec(kind, body)
    warnings = [Violation(("spec", "targetRef"), w) for w in deprecations(kind, body)]
    return Report(violations, warnings)


from . import kinds_registry as _kinds_registry  # noqa: E402,F401  (registers the per-kind validators)
from .meta import validate_meta  # noqa: E402  (registers nothing; meta is kind-independent)

_ = Kind
