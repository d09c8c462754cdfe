"""pydantic v2 models of the typed kinds (one module per kind).

`parse_model(kind, body)` checks the *types* of a Universal-equivalent body and returns the typed
model plus the paths of unknown fields (warnings, TP A18). Kuma's semantic rules are in
`meshauthz.validation`, not here.
"""

from __future__ import annotations

from typing import Any

from ..yaml_source import Path


class ModelError(Exception):
    """Type errors of one body: a list of (path, message, expected)."""

    def __init__(self, errors: list[tuple[Path, str, str]]):
        super().__init__("; ".join(m for _, m, _ in errors))
        self.errors = errors


def parse_model(kind: str, body: dict[str, Any]) -> tuple[Any, list[Path]]:
    """Return (typed model, unknown field paths) or raise ModelError."""
    return None, []
