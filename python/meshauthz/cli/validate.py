"""`meshauthz validate PATH...`: load and validate, listing every problem (exit 1 if any)."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import validate


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate Kuma / Kong Mesh resource files",
                       description="Load files, directories or - (stdin) in Universal or Kubernetes form and "
                                   "report every problem with its file, document, line and field.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = validate(args.paths)
    if args.output == "json":
        print(json.dumps({
            "valid": result.ok,
            "documents": result.documents,
            "resources": [{"type": r.type, "mesh": r.mesh, "name": r.name} for r in result.resources],
            "problems": [p.to_dict() for p in result.problems],
            "warnings": [w.to_dict() for w in result.warnings],
        }, indent=2))
    else:
        for w in result.warnings:
            print(f"warning: {w}", file=sys.stderr)
        for p in result.problems:
            print(f"error: {p}")
        n = len(result.problems)
        status = "ok" if result.ok else f"{n} problem{'s' if n != 1 else ''}"
        print(f"{result.documents} document{'s' if result.documents != 1 else ''}, "
              f"{len(result.resources)} valid resource{'s' if len(result.resources) != 1 else ''}: {status}")
    return 0 if result.ok else 1
