"""`meshauthz compile PATH... -o FILE`: validate once, write a bundle that loads without YAML.

Exit codes: 0 written, 2 invalid input (every problem printed) or unwritable output.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..bundle import compile_paths
from ..errors import InputError, MeshauthzError


def _compile(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        size = compile_paths(args.paths, args.output)
    except InputError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    except (MeshauthzError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"wrote {args.output} ({size} bytes, {time.perf_counter() - start:.2f} s)", file=sys.stderr)
    return 0


def add_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser("compile", help="validate resources and write a fast-loading bundle file")
    p.add_argument("paths", nargs="+", metavar="PATH", help="YAML files, directories or bundles (- = stdin)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="bundle file to write")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_compile)
