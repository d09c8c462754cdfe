"""Service-to-service reachability matrix of one mesh (`meshauthz matrix`).

Cell (S, D) for client service S and destination service D:
`allow` — every dataplane of S may reach every inbound of D; `deny` — none may; `partial` otherwise.

The core decides every cell (`rust/core/src/traffic/matrix.rs`: clients grouped by certificate
identity, T2.7 / M5.1, inbounds by client-set shape, bitsets); this module only formats.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ..errors import MeshauthzError, NotFoundError
from .traffic import TrafficAnalyzer

if TYPE_CHECKING:  # pragma: no cover
    from ..traffic import TrafficEngine

DENY, PARTIAL, ALLOW = 0, 1, 2
VALUES = ("deny", "partial", "allow")


@dataclass
class ServiceMatrix:
    """`codes[i][j]` for `sources[i]` -> `destinations[j]`: 0 deny, 1 partial, 2 allow.

    Rows are every `kuma.io/service` carried by a dataplane of the mesh (inbound or gateway tags:
    a multi-service dataplane counts for each); columns are services with at least one inbound
    (gateways have none and are never enforced, T4.3)."""

    mesh: str
    sources: list[str]
    destinations: list[str]
    codes: Any  # numpy int8 array or list of bytearrays
    src_dataplanes: dict[str, list[str]] = field(default_factory=dict, repr=False)
    dst_inbounds: dict[str, list[tuple[str, int]]] = field(default_factory=dict, repr=False)
    core: Any = field(default=None, repr=False, compare=False)  # the TrafficSnapshot that decided

    def code(self, source: str, destination: str) -> int:
        try:
            i, j = self.sources.index(source), self.destinations.index(destination)
        except ValueError:
            raise NotFoundError(f"no service pair {source!r} -> {destination!r} in mesh {self.mesh!r}") from None
        return int(self.codes[i][j])

    def value(self, source: str, destination: str) -> str:
        return VALUES[self.code(source, destination)]

    def rows(self) -> list[list[int]]:
        c = self.codes
        return c.tolist() if hasattr(c, "tolist") else [list(r) for r in c]

    def allowed_pairs(self, source: str, destination: str) -> frozenset[tuple[str, str, int]]:
        """(client dataplane, destination dataplane, port) triples admitted for one cell."""
        return frozenset(
            (dp, name, port)
            for dp in self.src_dataplanes.get(source, [])
            for name, port in self.dst_inbounds.get(destination, [])
            if self.core.check_inbound((self.mesh, dp), name, port, self.mesh).allowed
        )

    def counts(self) -> dict[str, int]:
        flat = [v for r in self.rows() for v in r]
        return {name: flat.count(k) for k, name in enumerate(VALUES)}

    def to_csv(self) -> str:
        """Header `source,<destinations...>`; one row per client service; cells allow|deny|partial."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["source", *self.destinations])
        for name, row in zip(self.sources, self.rows()):
            w.writerow([name, *(VALUES[v] for v in row)])
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh, "sources": self.sources, "destinations": self.destinations,
            "matrix": [[VALUES[v] for v in r] for r in self.rows()], "counts": self.counts(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_png(self, path: str) -> None:
        """Heat map (green allow, amber partial, red deny). Needs the `plot` extra (matplotlib)."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.colors import ListedColormap
        except ImportError:
            raise MeshauthzError(
                "PNG output needs matplotlib: pip install 'meshauthz[plot]'"
            ) from None
        n, m = len(self.sources), len(self.destinations)
        size = min(2 + 0.3 * max(n, m), 20)
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(self.rows() or [[0]], cmap=ListedColormap(["#d73027", "#fdae61", "#1a9850"]), vmin=0, vmax=2,
                  interpolation="nearest", aspect="auto")
        if n <= 60 and m <= 60:
            ax.set_xticks(range(m), self.destinations, rotation=90)
            ax.set_yticks(range(n), self.sources)
        ax.set_xlabel("destination service")
        ax.set_ylabel("client service")
        ax.set_title(f"mesh {self.mesh}: green allow, amber partial, red deny")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def service_matrix(
    engine: TrafficEngine, mesh: str, analyzer: Optional[TrafficAnalyzer] = None, *, use_numpy: Optional[bool] = None
) -> ServiceMatrix:
    """The matrix of `mesh`, decided by the core (`TrafficSnapshot.service_matrix`); `use_numpy`
    only chooses the representation of `codes` (numpy int8 array when importable, else bytearrays)."""
    c = analyzer.c if analyzer is not None else engine.compiled
    engine._require_mesh(c, mesh)
    sources, destinations, raw, src_dps, dst_ibs = c.core.service_matrix(mesh)
    n = len(destinations)
    if use_numpy is None:
        try:
            import numpy  # noqa: F401  (optional: the `arrow` / `plot` extras bring it)

            use_numpy = True
        except ImportError:
            use_numpy = False
    codes: Any
    if use_numpy and sources and destinations:
        import numpy as np  # optional dependency, see above

        codes = np.frombuffer(raw, dtype=np.int8).reshape(len(sources), n).copy()
    else:
        codes = [bytearray(raw[i * n:(i + 1) * n]) for i in range(len(sources))]
    return ServiceMatrix(
        mesh, sources, destinations, codes,
        dict(zip(sources, src_dps)),
        {d: [(dp, port) for dp, port in ibs] for d, ibs in zip(destinations, dst_ibs)},
        c.core,
    )
