"""CLI: `replay` — evaluate a log of requests with the batch APIs.

    meshauthz replay LOG --resources PATH... [-o OUT] [--engine auto|traffic|rbac] [--threads N]

LOG: JSONL, CSV or Parquet (Parquet needs pyarrow). Traffic columns: mesh?, source? / source_tags?,
destination, port. RBAC columns (chosen when an `action` column exists): user, groups, action,
resource (a JSON object or its text). OUT: `.parquet` (pyarrow) or `.jsonl`: every input row plus
`allowed`, `reason`, `policy`. A summary table (allowed / denied per deciding policy and reason)
goes to stdout, progress to stderr. Exit status: 0 evaluated, 2 unreadable input.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

from ..errors import InputError, Problem

EXIT_OK, EXIT_INPUT = 0, 2
CHUNK = 200_000


def _fail(msg: str) -> InputError:
    return InputError([Problem(msg, file="<replay>")])


def read_log(path: Path) -> list[dict[str, Any]]:
    """Rows as dicts (Parquet through pyarrow)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise _fail("Parquet logs need pyarrow: pip install 'meshauthz[arrow]'") from None
        return pq.read_table(path).to_pylist()
    with path.open(encoding="utf-8", newline="") as f:
        if suffix == ".csv":
            rows: list[dict[str, Any]] = []
            for r in csv.DictReader(f):
                row: dict[str, Any] = {k: (v if v != "" else None) for k, v in r.items()}
                if row.get("port") is not None:
                    row["port"] = int(row["port"]) if str(row["port"]).lstrip("-").isdigit() else None
                rows.append(row)
            return rows
        out = []
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError as e:
                    raise _fail(f"{path}:{n}: not JSON: {e}") from None
        return out


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r{done:>12,}/{total:,} rows  {rate:,.0f}/s", end="", file=sys.stderr, flush=True)


def evaluate(rows: list[dict[str, Any]], resources: list[str], engine: str = "auto",
             threads: int = 1) -> tuple[str, list[bool], list[str], list[Optional[str]]]:
    from ..api import load
    from ..rbac import Authorizer
    from ..traffic import TrafficEngine

    kind = engine if engine != "auto" else ("rbac" if rows and "action" in rows[0] else "traffic")
    store = load(resources)
    checker: Any = Authorizer(store) if kind == "rbac" else TrafficEngine(store)
    allowed: list[bool] = []
    reasons: list[str] = []
    policies: list[Optional[str]] = []
    started = time.perf_counter()
    show = len(rows) > CHUNK
    for i in range(0, len(rows), CHUNK):
        res = checker.check_batch(rows[i : i + CHUNK], threads=threads)
        allowed += res.allowed
        reasons += res.reason
        policies += res.policy
        if show:
            _progress(len(allowed), len(rows), started)
    if show:
        print(file=sys.stderr)
    return kind, allowed, reasons, policies


def summary(allowed: list[bool], reasons: list[str], policies: list[Optional[str]]) -> str:
    by: Counter[tuple[str, str]] = Counter()
    verdict: dict[tuple[str, str], list[int]] = {}
    for a, r, p in zip(allowed, reasons, policies):
        key = (p or "-", r)
        by[key] += 1
        verdict.setdefault(key, [0, 0])[0 if a else 1] += 1
    width = max([len("policy")] + [len(k[0]) for k in by])
    rwidth = max([len("reason")] + [len(k[1]) for k in by])
    lines = [f"{'policy':<{width}}  {'reason':<{rwidth}}  {'allowed':>9}  {'denied':>9}"]
    for key, _ in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])):
        a, d = verdict[key]
        lines.append(f"{key[0]:<{width}}  {key[1]:<{rwidth}}  {a:>9,}  {d:>9,}")
    total_a = sum(allowed)
    lines.append(f"{'total':<{width}}  {'':<{rwidth}}  {total_a:>9,}  {len(allowed) - total_a:>9,}")
    return "\n".join(lines)


def write(out: Path, rows: list[dict[str, Any]], allowed: list[bool], reasons: list[str],
          policies: list[Optional[str]]) -> None:
    merged = [dict(r, allowed=a, reason=rs, policy=p) for r, a, rs, p in zip(rows, allowed, reasons, policies)]
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise _fail("Parquet output needs pyarrow: pip install 'meshauthz[arrow]'") from None
        for r in merged:  # nested resources stay JSON text in Parquet
            if isinstance(r.get("resource"), (dict, list)):
                r["resource"] = json.dumps(r["resource"], sort_keys=True)
            if isinstance(r.get("groups"), str):  # one column type: list<string>
                r["groups"] = [g.strip() for g in r["groups"].split(",") if g.strip()]
        pq.write_table(pa.Table.from_pylist(merged), out)
        return
    with out.open("w", encoding="utf-8") as f:
        for r in merged:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def _run(args: argparse.Namespace) -> int:
    log = Path(args.log)
    if not log.is_file():
        raise _fail(f"{log}: no such file")
    rows = read_log(log)
    kind, allowed, reasons, policies = evaluate(rows, args.resources, args.engine, args.threads)
    print(f"{len(rows):,} {kind} requests from {log}")
    print(summary(allowed, reasons, policies))
    if args.output:
        write(Path(args.output), rows, allowed, reasons, policies)
    return EXIT_OK


def add_parsers(subparsers: Any) -> None:
    p = subparsers.add_parser("replay", help="evaluate a log of requests (JSONL, CSV, Parquet)")
    p.add_argument("log", metavar="LOG")
    p.add_argument("--resources", "-f", nargs="+", required=True, metavar="PATH",
                   help="resource files or directories (policies, dataplanes, roles)")
    p.add_argument("-o", "--output", metavar="OUT", help="decisions per row: .parquet or .jsonl")
    p.add_argument("--engine", choices=("auto", "traffic", "rbac"), default="auto")
    p.add_argument("--threads", type=int, default=1, help="worker threads per batch")
    p.set_defaults(func=_run)
