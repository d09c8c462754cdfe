"""Service-to-service reachability matrix of one mesh (`meshauthz matrix`).

Cell (S, D) for client service S and destination service D:
`allow` — every dataplane of S may reach every inbound of D; `deny` — none may; `partial` otherwise.

Efficiency: a decision depends on the client only through its certificate identity (T2.7 / M5.1),
and on the inbound only through its `ClientSet` (analysis.traffic). Dataplanes are grouped by
identity and inbounds by ClientSet shape; each (identity, shape) pair is decided once with bitset
posting lists (one Python int per (key, value) pair), and service cells are counted with one matrix
product (numpy when importable, a pure-Python bitset fallback otherwise).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ..errors import MeshauthzError, NotFoundError
from ..traffic.model import SERVICE_TAG
from .traffic import ClientSet, Pair, TrafficAnalyzer

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
    inbound_sets: dict[tuple[str, int], ClientSet] = field(default_factory=dict, repr=False)
    identities: dict[str, frozenset[Pair]] = field(default_factory=dict, repr=False)

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
        out = set()
        for dp in self.src_dataplanes.get(source, []):
            ident = self.identities[dp]
            for ib in self.dst_inbounds.get(destination, []):
                if self.inbound_sets[ib].allows(ident):
                    out.add((dp, *ib))
        return frozenset(out)

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


def _bits(mask: int, n: int) -> Any:
    import numpy as np

    raw = np.frombuffer(mask.to_bytes((n + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n].astype(bool)


def service_matrix(
    engine: TrafficEngine, mesh: str, analyzer: Optional[TrafficAnalyzer] = None, *, use_numpy: Optional[bool] = None
) -> ServiceMatrix:
    a = analyzer or TrafficAnalyzer(engine)
    c = a.c
    engine._require_mesh(c, mesh)
    identities = a.identities(mesh)
    # Client side: dataplanes grouped by identity, identities grouped by service.
    ident_ids: dict[frozenset[Pair], int] = {}
    src_dps: dict[str, list[str]] = {}
    src_ids: dict[str, set[int]] = {}
    for dp in sorted(identities):
        ident = identities[dp]
        k = ident_ids.setdefault(ident, len(ident_ids))
        for key, v in ident:
            if key == SERVICE_TAG:
                src_dps.setdefault(v, []).append(dp)
                src_ids.setdefault(v, set()).add(k)
    # Destination side: every inbound of a non-gateway dataplane, grouped by ClientSet shape.
    shape_ids: dict[Any, int] = {}
    shapes: list[ClientSet] = []
    dst_ibs: dict[str, list[tuple[str, int]]] = {}
    dst_ids: dict[str, set[int]] = {}
    sets: dict[tuple[str, int], ClientSet] = {}
    for (m, dp), res in sorted(c.dataplanes.items()):
        if m != mesh:
            continue
        net = res.body.get("networking") or {}
        inbounds = [i for i in net.get("inbound") or [] if isinstance(i, dict)]
        if not inbounds or isinstance(net.get("gateway"), dict):
            continue
        rows = c.core.select_dataplane(mesh, dp)  # one core call per dataplane (T3.5 winners)
        for ib in inbounds:
            port, svc = ib.get("port"), (ib.get("tags") or {}).get(SERVICE_TAG)
            if svc is None or not isinstance(port, int):
                continue
            cs = a.who_can_reach(dp, port, mesh, tp_rows=rows, with_clients=False)
            sets[(dp, port)] = cs
            sid = shape_ids.get(cs.shape())
            if sid is None:
                sid = shape_ids[cs.shape()] = len(shapes)
                shapes.append(cs)
            dst_ibs.setdefault(svc, []).append((dp, port))
            dst_ids.setdefault(svc, set()).add(sid)
    # Decide every (identity, shape) pair with posting-list bitsets.
    n_id = len(ident_ids)
    full = (1 << n_id) - 1
    posting: dict[Pair, int] = {}
    for ident, k in ident_ids.items():
        for p in ident:
            posting[p] = posting.get(p, 0) | (1 << k)

    def conj(pairs: tuple[Pair, ...]) -> int:
        m = full
        for p in pairs:
            m &= posting.get(p, 0)
            if not m:
                break
        return m

    allowed: list[int] = []
    for cs in shapes:
        mask = 0
        for t in cs.terms:
            tm = conj(t.require)
            for u in t.unless:
                if tm:
                    tm &= ~conj(u)
            mask |= tm
        allowed.append(mask & full)
    sources, destinations = sorted(src_ids), sorted(dst_ids)
    if use_numpy is None:
        try:
            import numpy  # noqa: F401

            use_numpy = True
        except ImportError:
            use_numpy = False
    if use_numpy and sources and destinations:
        import numpy as np

        A = np.zeros((n_id, len(shapes)), dtype=np.float64)
        for d, mask in enumerate(allowed):
            A[:, d] = _bits(mask, n_id)
        S = np.zeros((len(sources), n_id))
        for i, s in enumerate(sources):
            S[i, list(src_ids[s])] = 1.0
        T = np.zeros((len(shapes), len(destinations)))
        for j, d in enumerate(destinations):
            T[list(dst_ids[d]), j] = 1.0
        counts = (S @ A) @ T
        totals = np.outer(S.sum(axis=1), T.sum(axis=0))
        codes = np.where(counts == 0, DENY, np.where(counts == totals, ALLOW, PARTIAL)).astype(np.int8)
    else:
        src_masks = [sum(1 << k for k in src_ids[s]) for s in sources]
        codes = [bytearray(len(destinations)) for _ in sources]
        for j, d in enumerate(destinations):
            every, some = full, 0
            for sid in dst_ids[d]:
                every &= allowed[sid]
                some |= allowed[sid]
            for i, sm in enumerate(src_masks):
                codes[i][j] = DENY if not sm & some else (ALLOW if not sm & ~every else PARTIAL)
    return ServiceMatrix(mesh, sources, destinations, codes, src_dps, dst_ibs, sets, identities)
