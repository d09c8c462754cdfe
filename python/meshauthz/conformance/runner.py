"""Dispatch of vectors to per-kind handlers; every failure becomes an `error` line (rule 3)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

from .. import MeshauthzError, parse_yaml
from . import kinds as _kinds  # noqa: F401  (the area modules register their handlers)
from .handlers import HANDLERS, Handler, handler  # noqa: F401  (kept importable from here)

# Fields the runner must never read (conformance.md rule 2).
ANSWER_FIELDS = ("expect", "error", "reason", "note", "basis", "source")

def strip_answers(vector: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in vector.items() if k not in ANSWER_FIELDS}


def _kind_of(vector: dict[str, Any], file_doc: dict[str, Any]) -> str:
    if "roles" in file_doc or "bindings" in file_doc:  # rbac.yaml: one kind per mode
        return "rbac:" + str(vector.get("mode", "rbac"))
    query = vector.get("query")
    return str(query.get("kind")) if isinstance(query, dict) else "<missing query>"


def evaluate(vector: dict[str, Any], file_doc: dict[str, Any]) -> dict[str, Any]:
    vid = vector.get("id")
    kind = _kind_of(vector, file_doc)
    fn = HANDLERS.get(kind)
    if fn is None:
        return {"id": vid, "error": f"unsupported query kind: {kind}"}
    try:
        return {"id": vid, "result": fn(strip_answers(vector), file_doc)}
    except MeshauthzError as e:
        return {"id": vid, "error": f"{type(e).__name__}: {e}"}
    except Exception as e:  # rule 3: a vector that cannot be evaluated yields an error line
        return {"id": vid, "error": f"internal error: {type(e).__name__}: {e}"}


def run_file(path: str, out: Any = None) -> int:
    """Run one file; returns the number of vectors answered."""
    out = out or sys.stdout
    with open(path, "rb") as f:
        data = f.read()
    docs = parse_yaml(data, path)
    if len(docs) != 1 or not isinstance(docs[0], dict) or not isinstance(docs[0].get("vectors"), list):
        raise ValueError(f"{path}: not a vector file (expected one mapping with a `vectors` list)")
    file_doc = docs[0]
    file_view = {k: v for k, v in file_doc.items() if k != "vectors"}
    n = 0
    for vector in file_doc["vectors"]:
        if not isinstance(vector, dict):
            continue
        print(json.dumps(evaluate(vector, file_view), default=str, ensure_ascii=False), file=out, flush=False)
        n += 1
    out.flush()
    return n


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m meshauthz.conformance VECTORS.yaml [VECTORS.yaml ...]", file=sys.stderr)
        return 2
    status = 0
    for path in argv:
        try:
            run_file(path)
        except (OSError, ValueError, MeshauthzError) as e:
            print(f"meshauthz.conformance: cannot run {path}: {e}", file=sys.stderr)
            status = 1
    return status
