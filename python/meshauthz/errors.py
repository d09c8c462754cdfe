"""The exception hierarchy: every error the library raises is a `MeshauthzError`.

A `Problem` is one located complaint about user input (file, document, line, column, field path,
what was expected). Loading collects every problem of every document before raising, so a user
sees all of them at once (issue #3: "listing every problem, not just the first").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Problem:
    """One located complaint about an input document."""

    message: str
    file: str = "<input>"
    document: Optional[int] = None  # 0-based index of the YAML document in its file
    line: Optional[int] = None  # 1-based
    column: Optional[int] = None  # 1-based
    path: str = ""  # Kuma field path, e.g. `sources[0].match["kuma.io/service"]`
    expected: str = ""  # what was expected there, when the message does not already say it
    code: str = "invalid"  # stable machine-readable code: yaml, duplicate-key, unknown-kind, type, ...
    resource: str = ""  # "Type mesh/name" when known

    def location(self) -> str:
        parts = [self.file]
        if self.document is not None:
            parts.append(f"document {self.document}")
        if self.line is not None:
            parts.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        return ", ".join(parts)

    def __str__(self) -> str:
        text = f"{self.location()}: "
        if self.resource:
            text += f"{self.resource}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "document": self.document,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "expected": self.expected,
            "code": self.code,
            "resource": self.resource,
        }


class MeshauthzError(Exception):
    """Base class of every error raised by meshauthz."""


class InputError(MeshauthzError):
    """User input could not be used. `problems` lists every located complaint."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid input"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""))


class ParseError(InputError):
    """A file is not YAML meshauthz can read (syntax, duplicate key, limits, binary data)."""


class SchemaError(InputError):
    """A document is YAML but not a resource: unknown kind, wrong field type, missing envelope."""


class ValidationError(InputError):
    """A resource fails Kuma's validation (field paths and messages as Kuma reports them)."""


class DuplicateResourceError(InputError):
    """Two documents define the same (type, mesh, name)."""


class NotFoundError(MeshauthzError, LookupError):
    """A named dataplane, mesh, external service, role or resource does not exist."""


class EvaluationError(MeshauthzError):
    """A decision could not be made (the engine fails closed: no allow is ever returned)."""


class BundleError(MeshauthzError):
    """A bundle file cannot be used: not a bundle, another format version, truncated, corrupted,
    inflating past the bound, a compiled section that does not belong to it, or a signature that
    does not verify (also `meshauthz.bundle.BundleError`)."""
