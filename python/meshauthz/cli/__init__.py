"""The `meshauthz` command line. One module per command group; this one only wires them.

Exit codes everywhere: 0 success / allowed, 1 invalid input found or denied, 2 bad usage or input
that could not be read. No traceback ever reaches the user: every MeshauthzError is printed as its
located problems on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ..errors import InputError, MeshauthzError
from . import validate as _validate

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors; keep its text
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="meshauthz", description="Authorization for Kuma / Kong Mesh resources.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"meshauthz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in _command_modules():
        module.add_parsers(sub)
    return parser


def _command_modules() -> list:
    modules = [_validate]
    for name in ("traffic", "rbac", "analysis", "compile", "replay"):  # one module per command group
        try:
            modules.append(__import__(f"{__name__}.{name}", fromlist=["add_parsers"]))
        except ImportError:
            pass
    try:  # `serve`, `token`, `webhook-manifest` (issue #15; meshauthz.server.cli)
        modules.append(__import__("meshauthz.server.cli", fromlist=["add_parsers"]))
    except ImportError:
        pass
    return modules


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return EXIT_USAGE
    except MeshauthzError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


