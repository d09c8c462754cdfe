"""CLI: reverse queries, the service matrix and policy diffs (issue #6 "Analysis").

    meshauthz who-can DATAPLANE:PORT -f PATH... [--mesh M] [--output text|json]
    meshauthz what-can --user NAME [--group G]... --roles PATH... [--output text|json]
    meshauthz matrix MESH -f PATH... [--output csv|json|png] [-o FILE]
    meshauthz diff --before PATH --after PATH [--users FILE --resources FILE] [--output text|json]

Exit status: who-can / what-can / matrix 0 on success; diff 0 nothing changed, 1 something changed;
2 bad input everywhere (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from ..errors import MeshauthzError
from ..yaml_source import read_documents

EXIT_OK, EXIT_CHANGED, EXIT_INPUT = 0, 1, 2


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except (MeshauthzError, OSError, ValueError) as e:
            problems = getattr(e, "problems", None)
            for p in problems or [e]:
                print(f"meshauthz: error: {p}", file=sys.stderr)
            return EXIT_INPUT

    return run


def _documents(path: str) -> list[Any]:
    with open(path, "rb") as f:
        return [d.value for d in read_documents(f.read(), path) if d.value is not None]


def _who_can(args: argparse.Namespace) -> int:
    from ..traffic import TrafficEngine

    dp, sep, port = args.target.rpartition(":")
    if not sep or not dp or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{args.target!r}: expected DATAPLANE:PORT (port 1-65535)")
    cs = TrafficEngine.from_paths(args.file).who_can_reach(dp, int(port), mesh=args.mesh)
    print(json.dumps(cs.to_dict(), indent=2) if args.output == "json" else cs)
    return EXIT_OK


def _what_can(args: argparse.Namespace) -> int:
    from ..rbac import Authorizer, User

    caps = Authorizer(args.roles or [], mode=args.mode).what_can(User(args.user, args.group or []))
    print(json.dumps(caps.to_dict(), indent=2) if args.output == "json" else caps)
    return EXIT_OK


def _matrix(args: argparse.Namespace) -> int:
    from ..analysis.matrix import service_matrix
    from ..traffic import TrafficEngine

    m = service_matrix(TrafficEngine.from_paths(args.file), args.mesh)
    if args.output == "png":
        if not args.out:
            raise ValueError("--output png needs -o FILE")
        m.to_png(args.out)
        return EXIT_OK
    text = m.to_csv() if args.output == "csv" else m.to_json() + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _users(path: str) -> list[Any]:
    from ..rbac import User

    docs = _documents(path)
    items: list[Any] = []
    for d in docs:
        items.extend(d.get("users", []) if isinstance(d, dict) else d if isinstance(d, list) else [d])
    out = []
    for u in items:
        if isinstance(u, str):
            out.append(User(u))
        elif isinstance(u, dict) and isinstance(u.get("name"), str) and isinstance(u.get("groups", []), list):
            out.append(User(u["name"], [str(g) for g in u.get("groups") or []]))
        else:
            raise ValueError(f"{path}: a user must be a name or {{name: NAME, groups: [G...]}}, not {u!r}")
    return out


def _diff(args: argparse.Namespace) -> int:
    from ..analysis.diff import diff_rbac, diff_traffic
    from ..api import load

    if bool(args.users) != bool(args.resources):
        raise ValueError("--users and --resources go together")
    before, after = load(args.before), load(args.after)
    report = diff_traffic(before, after)
    if args.users:
        resources = [d for d in _documents(args.resources) if isinstance(d, dict)]
        report = diff_rbac(before, after, _users(args.users), resources, report)
    print(json.dumps(report.to_dict(), indent=2) if args.output == "json" else report)
    return EXIT_CHANGED if report.changed else EXIT_OK


def _files(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--file", action="append", required=True, metavar="PATH",
                   help="resource file or directory (repeatable; - = stdin)")


def add_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser("who-can", help="which clients may reach DATAPLANE:PORT (reverse traffic query)")
    p.add_argument("target", metavar="DATAPLANE:PORT")
    _files(p)
    p.add_argument("--mesh", help="mesh of the dataplane (needed when its name exists in several meshes)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_guard(_who_can))

    p = subparsers.add_parser("what-can", help="what a user may do (reverse RBAC query)")
    p.add_argument("--user", required=True)
    p.add_argument("--group", action="append", help="repeatable")
    p.add_argument("--roles", nargs="+", required=True, help="AccessRole/AccessRoleBinding files or directories")
    p.add_argument("--mode", choices=("rbac", "static"), default="rbac")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_guard(_what_can))

    p = subparsers.add_parser("matrix", help="allow/deny/partial for every pair of services of a mesh")
    p.add_argument("mesh", metavar="MESH")
    _files(p)
    p.add_argument("--output", choices=("csv", "json", "png"), default="csv")
    p.add_argument("-o", dest="out", metavar="FILE", help="write here instead of stdout (required for png)")
    p.set_defaults(func=_guard(_matrix))

    p = subparsers.add_parser("diff", help="decisions that change between two policy versions (exit 1 if any)")
    p.add_argument("--before", required=True, metavar="PATH")
    p.add_argument("--after", required=True, metavar="PATH")
    p.add_argument("--users", metavar="FILE", help="YAML list of users ({name, groups}) for the RBAC diff")
    p.add_argument("--resources", metavar="FILE", help="resources (YAML documents) for the RBAC diff")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_guard(_diff))
