"""The `meshauthz` command line (entry point `meshauthz.cli:main`)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from . import traffic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshauthz", description="Authorization engine for Kuma resources")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    traffic.add_parsers(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
