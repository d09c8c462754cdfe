"""Kuma's validation, with Kuma's field paths, messages and order.

`validate_spec(kind, body)` is Kuma's `Validate()` on a resource body (the Universal document
without its envelope; conformance `checks: spec`); `validate_meta` is the API create check of name
and mesh (`checks: meta`, TP §5.3); `deprecations` lists Kuma's deprecation warnings (MTP M3.8).
One module per kind holds its rules.
"""

from __future__ import annotations

from typing import Any

from ..kinds import Kind
from . import kinds_registry as _kinds_registry  # noqa: F401  (registers the per-kind validators)
from .dispatch import Report, Violation, deprecations, validate_schema, validate_spec
from .dispatch import SpecValidator as SpecValidator  # kept importable from here
from .dispatch import register as register  # kept importable from here
from .meta import validate_meta
from .paths import MapKey, Path, go_quote, render_path

__all__ = ["Violation", "Report", "validate_spec", "validate_meta", "validate_schema", "deprecations",
           "validate_resource", "render_path", "go_quote", "MapKey", "Path"]


def validate_resource(resource: Any) -> Report:
    """Everything Kuma checks when a resource is applied: schema first, then the spec rules."""
    kind, body = resource.kind.name, resource.body
    violations = validate_schema(kind, body)
    if not violations:
        violations = validate_spec(kind, body)
    warnings = [Violation(("spec", "targetRef"), w) for w in deprecations(kind, body)]
    return Report(violations, warnings)


_ = Kind
