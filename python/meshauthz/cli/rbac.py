"""`meshauthz can-i` and `meshauthz lint` (rbac.md §5, §8, §9).

Exit codes: can-i 0 allowed, 1 denied (exact denial text printed), 2 bad input; lint 0 clean,
1 findings at or above --fail-on, 2 bad input. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from ..errors import InputError, MeshauthzError
from ..rbac import TOKEN_KINDS, Authorizer, User
from ..rbac.lint import SEVERITIES, at_least, lint
from ..yaml_source import read_documents

EXIT_ALLOWED, EXIT_DENIED, EXIT_BAD_INPUT = 0, 1, 2


def _one_document(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        docs = [d.value for d in read_documents(f.read(), path) if d.value is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValueError(f"{path}: expected exactly one YAML mapping, found {len(docs)} document(s)")
    return docs[0]


def _can_i(args: argparse.Namespace) -> int:
    authz = Authorizer(args.roles or [], mode=args.mode, secret_reads=args.secret_reads)
    user = User(args.user, args.group or [])
    if args.action in TOKEN_KINDS.values():
        request = _one_document(args.file) if args.file else {}
        d = authz.check_token(user, args.action, request)
    else:
        if not args.file:
            raise ValueError(f"{args.action} needs -f RESOURCE")
        d = authz.check(
            user, args.action, _one_document(args.file), _one_document(args.old) if args.old else None
        )
    if args.explain:
        print(json.dumps(d.explain(), indent=2) if args.output == "json" else str(d))
    if d.allowed:
        if not args.explain:
            print("yes")
        return EXIT_ALLOWED
    print(d.message(args.channel))
    return EXIT_DENIED


def _lint(args: argparse.Namespace) -> int:
    findings = lint(args.paths)
    for f in findings:
        print(f)
    return 1 if at_least(findings, args.fail_on) else 0


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except InputError as e:
            for p in e.problems:
                print(f"error: {p}", file=sys.stderr)
        except (MeshauthzError, OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    return run


def add_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser("can-i", help="would this user be allowed? (exit 0 yes, 1 no, 2 bad input)")
    p.add_argument("action", help="CREATE, UPDATE, DELETE, GET, LIST, VIEW_* or GENERATE_*")
    p.add_argument("--user", required=True)
    p.add_argument("--group", action="append", help="repeatable; order is kept (R8.1)")
    p.add_argument(
        "-f", "--file", help="the resource (UPDATE: the new object; GENERATE_*: the token request)"
    )
    p.add_argument("--old", help="UPDATE: the stored object (A10)")
    p.add_argument("--roles", nargs="+", help="AccessRole/AccessRoleBinding files or directories")
    p.add_argument("--channel", choices=("api", "kubernetes-webhook"), default="api")
    p.add_argument("--mode", choices=("rbac", "static"), default="rbac")
    p.add_argument("--secret-reads", choices=("rbac", "open", "static-admin"), default="rbac")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=_guard(_can_i))
    q = subparsers.add_parser("lint", help="security lint of AccessRoles/Bindings (rbac.md §9)")
    q.add_argument("paths", nargs="+")
    q.add_argument("--fail-on", choices=SEVERITIES, default="high")
    q.set_defaults(func=_guard(_lint))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="meshauthz")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse usage errors → 2
        return int(e.code or 0)
    return int(args.func(args))
