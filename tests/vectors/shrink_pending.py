"""Remove from pending.txt every vector that now passes (the list only shrinks; nothing is added).

    python tests/vectors/shrink_pending.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from test_conformance_vectors import _passes  # noqa: E402


def main() -> None:
    pending_file = HERE / "pending.txt"
    lines = pending_file.read_text().splitlines()
    passing: set[str] = set()
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        run = subprocess.run([sys.executable, "-m", "meshauthz.conformance", str(path)], capture_output=True,
                             text=True, check=True)
        rows = {r["id"]: r for r in map(json.loads, run.stdout.splitlines())}
        for v in doc["vectors"]:
            if not v.get("informative") and _passes(v, rows[v["id"]], "roles" in doc):
                passing.add(f"{path.name}:{v['id']}")
    kept = [ln for ln in lines if ln.startswith("#") or not ln.strip() or ln.split()[0] not in passing]
    pending_file.write_text("\n".join(kept) + "\n")
    print(f"removed {len(lines) - len(kept)} passing vectors; {sum(1 for k in kept if not k.startswith('#'))} pending")


if __name__ == "__main__":
    main()
