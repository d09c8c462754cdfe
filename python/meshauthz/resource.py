"""`Resource`: one loaded Kuma / Kong Mesh object, in a form-independent shape.

Both YAML forms normalise to the same thing: a kind, a core name, a mesh, labels, a creation time and
the *Universal-equivalent body* — the Universal document without its envelope (`type`, `name`,
`mesh`, `labels`, `creationTime`, `modificationTime`). For Kubernetes documents the body is built
from `spec` (legacy kinds: `spec` itself; spec-wrapped kinds: `{"spec": spec}`), so field paths in
violations are Kuma's paths whichever form the user wrote; `path_prefix` maps them back to the
document to find line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Optional

from .kinds import Kind
from .yaml_source import Document, Mark, Path

# Go's zero time: what Kuma reports for a resource without a creation time (issue #3, TP A3).
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)

Form = Literal["universal", "kubernetes"]


@dataclass(frozen=True, eq=False)
class Resource:
    kind: Kind
    name: str  # Kuma core name (`name.namespace` for namespaced Kubernetes kinds, R4.2)
    mesh: Optional[str]  # None for global-scoped kinds
    body: dict[str, Any]  # Universal-equivalent body (see module docstring)
    labels: dict[str, str] = field(default_factory=dict)
    creation_time: datetime = GO_ZERO_TIME
    modification_time: Optional[datetime] = None  # parsed, never used for ranking (TP A2)
    form: Form = "universal"
    namespace: Optional[str] = None  # Kubernetes metadata.namespace
    display_name: str = ""  # label kuma.io/display-name, else metadata.name / name
    model: Any = None  # the typed pydantic model for kinds in kinds.TYPED_KINDS
    document: Optional[Document] = None
    path_prefix: Path = ()  # prefix from a body path to the document path

    @property
    def type(self) -> str:
        return self.kind.name

    @property
    def key(self) -> tuple[str, str, str]:
        """Store key (type, mesh, name); mesh is "" for global-scoped kinds."""
        return (self.kind.name, self.mesh or "", self.name)

    @property
    def spec(self) -> dict[str, Any]:
        """The policy body as Kuma's `spec` (the wrapped `spec` for new kinds, else the body)."""
        if self.kind.spec_wrapped:
            spec = self.body.get("spec")
            return spec if isinstance(spec, dict) else {}
        return self.body

    def mark(self, body_path: Path = ()) -> Optional[Mark]:
        if self.document is None:
            return None
        return self.document.mark(self.path_prefix + tuple(body_path))

    def describe(self) -> str:
        return f"{self.kind.name} {self.mesh}/{self.name}" if self.mesh else f"{self.kind.name} {self.name}"

    def to_universal(self) -> dict[str, Any]:
        """The resource as a Universal document (envelope first)."""
        doc: dict[str, Any] = {"type": self.kind.name, "name": self.name}
        if self.mesh is not None:
            doc["mesh"] = self.mesh
        if self.labels:
            doc["labels"] = dict(self.labels)
        if self.creation_time != GO_ZERO_TIME:
            doc["creationTime"] = self.creation_time.isoformat().replace("+00:00", "Z")
        doc.update(self.body)
        return doc
