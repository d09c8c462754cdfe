"""The service-matrix heat map (PNG or SVG, by the file's extension): a colour-blind-safe palette
(Okabe-Ito blue / yellow / vermillion, which differ in lightness too), a letter in every cell when
the grid is small enough to read, a legend and a title that fits. Needs matplotlib (`meshauthz[plot]`).
"""

from __future__ import annotations

from typing import Any

from ._common import CliError

# Okabe & Ito (2008), distinguishable with every common colour-vision deficiency and in greyscale.
PALETTE = {"deny": "#D55E00", "partial": "#F0E442", "allow": "#0072B2"}
ORDER = ("deny", "partial", "allow")  # matrix codes 0, 1, 2
LETTERS = {"deny": "D", "partial": "P", "allow": "A"}
MEANING = {"allow": "allow: every dataplane pair", "partial": "partial: some pairs", "deny": "deny: no pair"}
TEXT_COLOUR = {"deny": "white", "partial": "black", "allow": "white"}


def draw(m: Any, path: str) -> None:
    """Write the heat map of a `ServiceMatrix` to `path` (.png or .svg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
    except ImportError:
        raise CliError("a heat map needs matplotlib: pip install 'meshauthz[plot]'") from None
    rows = m.rows() or [[0]]
    n, k = len(m.sources), len(m.destinations)
    cell = 0.45
    width = min(max(6.0, 2.5 + cell * k), 40.0)
    height = min(max(4.5, 2.5 + cell * n), 40.0)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(rows, cmap=ListedColormap([PALETTE[v] for v in ORDER]), vmin=0, vmax=2, interpolation="nearest",
              aspect="auto")
    labels = n <= 60 and k <= 60
    if labels:
        ax.set_xticks(range(k))
        ax.set_xticklabels(m.destinations, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(n))
        ax.set_yticklabels(m.sources)
        if n * k <= 900:
            for i, row in enumerate(rows):
                for j, v in enumerate(row):
                    name = ORDER[int(v)]
                    ax.text(j, i, LETTERS[name], ha="center", va="center", fontsize=8, color=TEXT_COLOUR[name])
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel("destination service")
    ax.set_ylabel("client service")
    counts = m.counts()
    ax.set_title(f"Service reachability in mesh {m.mesh}\n"
                 f"{n} client x {k} destination services: {counts.get('allow', 0)} allow, "
                 f"{counts.get('partial', 0)} partial, {counts.get('deny', 0)} deny", fontsize=11, loc="left")
    handles = [Patch(facecolor=PALETTE[v], edgecolor="black", label=f"{LETTERS[v]}  {MEANING[v]}")
               for v in reversed(ORDER)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Date": None} if path.lower().endswith(".svg")
                else None)
    plt.close(fig)
