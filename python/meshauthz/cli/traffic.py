"""CLI: `check traffic` and `inspect` for TrafficPermission and MeshTrafficPermission.

    meshauthz check traffic -f PATH... --from SOURCE --to DEST [--mesh M] [--explain] [--output json]
    meshauthz inspect DATAPLANE -f PATH... [--mesh M] [--output json]

SOURCE: a dataplane name | `tags:K=V,...` | `non-mesh`. DEST: `DATAPLANE:PORT` | `external-service:NAME`.
Exit status: 0 allowed, 1 denied, 2 bad input (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from ..errors import MeshauthzError
from ..traffic import NON_MESH, ExternalServiceTarget, Inbound, TrafficEngine

EXIT_ALLOWED, EXIT_DENIED, EXIT_INPUT = 0, 1, 2


class UsageError(Exception):
    """A malformed --from / --to value."""


def parse_source(text: str) -> Any:
    if text == "non-mesh":
        return NON_MESH
    if text.startswith("tags:"):
        tags: dict[str, str] = {}
        for item in filter(None, text[len("tags:") :].split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--from {text!r}: expected tags:KEY=VALUE[,KEY=VALUE...]")
            tags[key] = value
        if not tags:
            raise UsageError(f"--from {text!r}: no tags given")
        return tags
    if not text:
        raise UsageError("--from must not be empty")
    return text


def parse_destination(text: str) -> Any:
    if text.startswith("external-service:"):
        name = text[len("external-service:") :]
        if not name:
            raise UsageError(f"--to {text!r}: missing external service name")
        return ExternalServiceTarget(name)
    dp, sep, port = text.rpartition(":")
    if not sep or not dp or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--to {text!r}: expected DATAPLANE:PORT (port 1-65535) or external-service:NAME")
    return Inbound(dp, int(port))


def _engine(args: argparse.Namespace) -> TrafficEngine:
    return TrafficEngine.from_paths(args.file, external_service_gating=args.external_service_gating)


def cmd_check_traffic(args: argparse.Namespace) -> int:
    try:
        source, dest = parse_source(args.source), parse_destination(args.dest)
        engine = _engine(args)
        if args.explain:
            explanation = engine.explain(source=source, destination=dest, mesh=args.mesh)
            decision = explanation.decision
        else:
            decision = engine.check(source=source, destination=dest, mesh=args.mesh)
    except (UsageError, MeshauthzError, OSError) as e:
        print(f"meshauthz: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    if args.output == "json":
        out = explanation.to_dict() if args.explain else decision.to_dict()
        print(json.dumps(out, indent=2, default=str))
    elif args.explain:
        print(explanation)
    else:
        print(
            f"{'ALLOW' if decision.allowed else 'DENY'}: {decision.reason}"
            + (f" (policy {decision.policy})" if decision.policy else "")
        )
    return EXIT_ALLOWED if decision.allowed else EXIT_DENIED


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        inspection = _engine(args).inspect(args.dataplane, mesh=args.mesh)
    except (MeshauthzError, OSError) as e:
        print(f"meshauthz: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    print(json.dumps(inspection.to_dict(), indent=2) if args.output == "json" else inspection)
    return EXIT_ALLOWED


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="PATH",
        help="resource file or directory (repeatable; - = stdin)",
    )
    p.add_argument("--mesh", help="mesh of the destination (needed when a name exists in several meshes)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.add_argument(
        "--external-service-gating",
        choices=("legacy", "none"),
        default="legacy",
        help="A6: TP-gated ExternalService access (legacy) or 2.6+ routing (none)",
    )


def add_parsers(subparsers: Any, check_subparsers: Optional[Any] = None) -> None:
    """Register `check traffic` (under `check_subparsers`, or a new `check` group) and `inspect`."""
    if check_subparsers is None:
        check = subparsers.add_parser("check", help="decide whether traffic or an action is allowed")
        check_subparsers = check.add_subparsers(dest="check_kind", required=True, metavar="KIND")
    p = check_subparsers.add_parser("traffic", help="TrafficPermission decision SOURCE -> DEST")
    _common(p)
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SOURCE",
        help="dataplane name | tags:K=V,... | non-mesh",
    )
    p.add_argument(
        "--to", dest="dest", required=True, metavar="DEST", help="DATAPLANE:PORT | external-service:NAME"
    )
    p.add_argument("--explain", action="store_true", help="show candidate policies, ranks and tag matches")
    p.set_defaults(func=cmd_check_traffic)
    p = subparsers.add_parser(
        "inspect", help="the TrafficPermission / MeshTrafficPermissions governing each inbound of a dataplane"
    )
    _common(p)
    p.add_argument("dataplane")
    p.set_defaults(func=cmd_inspect)
