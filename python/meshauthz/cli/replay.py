"""`meshauthz replay LOG -f PATH... [--out FILE]`: evaluate a log of requests with the batch APIs.

LOG: JSONL, CSV or Parquet (by extension; `-` = JSONL on stdin; Parquet needs pyarrow). Traffic
columns: mesh?, source? / source_tags?, destination, port. RBAC columns (chosen when an `action`
column exists): user, groups, action, resource (a JSON object or its text). `--out FILE` writes every
input row plus `allowed`, `reason`, `policy` (`.jsonl`, `.csv` or `.parquet`). The summary (allowed /
denied per deciding policy and reason) goes to stdout in the `-o` format; progress bars go to stderr
only when it is a terminal.

Exit status: 0 evaluated, 2 unreadable input or every row an `error:*` row.
JSON / YAML shape: `{log, engine, rows, allowed, denied, errors, summary: [{policy, reason, allowed,
denied}]}`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import click

from ._common import (
    EXIT_INPUT,
    EXIT_OK,
    CliError,
    emit,
    fail_on_errors,
    input_paths,
    note,
    output_options,
    quiet_option,
    read_bytes,
    render_table,
    resolve_format,
    state,
)

FORMATS = ("text", "json", "yaml", "table")
LOG_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
OUT_FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}
CHUNK = 100_000

Progress = Callable[[int], None]


# ---- progress -----------------------------------------------------------------------------------


@contextmanager
def progress(description: str, total: Optional[int]) -> Iterator[Progress]:
    """A Rich progress bar on stderr when stderr is a terminal (and not --quiet); silent otherwise."""
    if state().quiet or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


# ---- reading ------------------------------------------------------------------------------------


def log_format(log: str) -> str:
    if log == "-":
        return "jsonl"
    fmt = LOG_FORMATS.get(Path(log).suffix.lower())
    if fmt is None:
        raise CliError(f"LOG {log}: expected a .jsonl, .csv or .parquet file")
    return fmt


def need_pyarrow(what: str) -> None:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise CliError(f"{what} needs pyarrow: pip install 'meshauthz[arrow]'") from None


def read_log(path: str, advance: Progress = lambda n: None) -> list[dict[str, Any]]:
    """Rows as dicts."""
    fmt = log_format(path)
    name = "stdin" if path == "-" else path
    if fmt == "parquet":
        need_pyarrow("a Parquet log")
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
            rows += batch.to_pylist()
            advance(batch.num_rows)
        return rows
    data = read_bytes(path, "LOG")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"LOG {name}: not UTF-8 text (byte {e.start})") from None
    out: list[dict[str, Any]] = []
    if fmt == "csv":
        for r in csv.DictReader(io.StringIO(text, newline="")):
            row: dict[str, Any] = {k: (v if v != "" else None) for k, v in r.items()}
            if row.get("port") is not None:
                row["port"] = int(row["port"]) if str(row["port"]).lstrip("-").isdigit() else None
            out.append(row)
            if len(out) % CHUNK == 0:
                advance(CHUNK)
        advance(len(out) % CHUNK)
        return out
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError as e:
                raise CliError(f"LOG {name}, line {n}: not JSON: {e}") from None
            if not isinstance(value, dict):
                raise CliError(f"LOG {name}, line {n}: expected a JSON object per line")
            out.append(value)
            if len(out) % CHUNK == 0:
                advance(CHUNK)
    advance(len(out) % CHUNK)
    return out


# ---- evaluating ---------------------------------------------------------------------------------


def evaluate(rows: list[dict[str, Any]], resources: list[str], engine: str = "auto", threads: int = 1,
             advance: Progress = lambda n: None) -> tuple[str, list[bool], list[str], list[Optional[str]]]:
    from ..api import load
    from ..batch import input_columns
    from ..rbac import Authorizer
    from ..traffic import TrafficEngine

    kind = engine if engine != "auto" else ("rbac" if rows and "action" in rows[0] else "traffic")
    store = load(resources)
    checker: Any = Authorizer(store) if kind == "rbac" else TrafficEngine(store)
    allowed: list[bool] = []
    reasons: list[str] = []
    policies: list[Optional[str]] = []
    # A log's other fields (timestamps, ids) stay in the output but are not engine inputs: project each
    # row onto the engine's keys (a misspelt `src` still leaves `source` missing: an error row).
    keys = input_columns(kind)
    for i in range(0, len(rows), CHUNK):
        chunk = [{k: r[k] for k in keys if k in r} for r in rows[i:i + CHUNK]]
        res = checker.check_batch(chunk, threads=threads)
        allowed += res.allowed
        reasons += res.reason
        policies += res.policy
        advance(min(CHUNK, len(rows) - i))
    return kind, allowed, reasons, policies


def summarize(allowed: list[bool], reasons: list[str], policies: list[Optional[str]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str, bool]] = Counter(zip((p or "-" for p in policies), reasons, allowed))
    keys: dict[tuple[str, str], list[int]] = {}
    for (p, r, a), n in counts.items():
        keys.setdefault((p, r), [0, 0])[0 if a else 1] += n
    ordered = sorted(keys.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))
    return [{"policy": p, "reason": r, "allowed": a, "denied": d} for (p, r), (a, d) in ordered]


def summary_text(groups: list[dict[str, Any]], allowed: int, denied: int) -> str:
    rows = [(g["policy"], g["reason"], f"{g['allowed']:,}", f"{g['denied']:,}") for g in groups]
    rows.append(("total", "", f"{allowed:,}", f"{denied:,}"))
    return render_table(("POLICY", "REASON", "ALLOWED", "DENIED"), rows)


# ---- writing ------------------------------------------------------------------------------------


def out_format(out: str) -> str:
    fmt = OUT_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise CliError(f"--out {out}: the decisions file must end in .jsonl, .csv or .parquet")
    return fmt


def write(out: str, rows: list[dict[str, Any]], allowed: list[bool], reasons: list[str],
          policies: list[Optional[str]], advance: Progress = lambda n: None) -> None:
    fmt = out_format(out)
    merged = (dict(r, allowed=a, reason=rs, policy=p) for r, a, rs, p in zip(rows, allowed, reasons, policies))
    path = Path(out)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            batch: list[dict[str, Any]] = []
            for r in merged:
                if isinstance(r.get("resource"), (dict, list)):  # nested resources stay JSON text in Parquet
                    r["resource"] = json.dumps(r["resource"], sort_keys=True)
                if isinstance(r.get("groups"), str):  # one column type: list<string>
                    r["groups"] = [g.strip() for g in r["groups"].split(",") if g.strip()]
                batch.append(r)
                if len(batch) == CHUNK:
                    writer = _parquet_batch(pa, pq, writer, path, batch)
                    advance(len(batch))
                    batch = []
            if batch or writer is None:
                writer = _parquet_batch(pa, pq, writer, path, batch)
                advance(len(batch))
        finally:
            if writer is not None:
                writer.close()
        return
    with path.open("w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            columns = list(dict.fromkeys(k for r in rows[:1000] for k in r)) + ["allowed", "reason", "policy"]
            w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            for n, r in enumerate(merged, 1):
                w.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                            for k, v in r.items()})
                if n % CHUNK == 0:
                    advance(CHUNK)
        else:
            for n, r in enumerate(merged, 1):
                f.write(json.dumps(r, sort_keys=True) + "\n")
                if n % CHUNK == 0:
                    advance(CHUNK)
    advance(len(rows) % CHUNK)


def _parquet_batch(pa: Any, pq: Any, writer: Any, path: Path, batch: list[dict[str, Any]]) -> Any:
    table = pa.Table.from_pylist(batch)
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema)
    else:
        table = table.cast(writer.schema)
    writer.write_table(table)
    return writer


# ---- command ------------------------------------------------------------------------------------


@click.command("replay", short_help="Evaluate a log of requests (JSONL, CSV, Parquet).")
@click.argument("log", metavar="LOG")
@click.option("-f", "--file", "--resources", "resources", multiple=True, required=True, metavar="PATH",
              help="Policies, dataplanes, roles: file, directory or bundle (repeatable).")
@click.option("--engine", type=click.Choice(["auto", "traffic", "rbac"]), default="auto", show_default=True,
              help="auto = rbac when the log has an `action` column.")
@click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker threads per batch.")
@output_options(FORMATS, out_help="Write every row with its decision to FILE (.jsonl, .csv or .parquet).")
@quiet_option
@fail_on_errors
def replay(log: str, resources: tuple[str, ...], engine: str, threads: int, output: Optional[str],
           out: Optional[str]) -> int:
    """Evaluate a log of requests (JSONL, CSV or Parquet; - = JSONL on stdin) with the batch engines.

    Prints allowed / denied per deciding policy and reason; --out FILE keeps every row's decision.
    """
    fmt = resolve_format(output, None, FORMATS)
    # Everything that can be refused is refused before the run.
    in_fmt = log_format(log)
    if log != "-" and not Path(log).is_file():
        raise CliError(f"LOG {log}: {'is a directory' if Path(log).is_dir() else 'no such file'}")
    if in_fmt == "parquet":
        need_pyarrow("a Parquet log")
    if out is not None:
        if out_format(out) == "parquet":
            need_pyarrow("Parquet output")
        if Path(out).is_dir():
            raise CliError(f"--out {out}: is a directory")
    paths = input_paths(resources, "-f")
    with progress("reading", None) as advance:
        rows = read_log(log, advance)
    with progress("deciding", len(rows)) as advance:
        kind, allowed, reasons, policies = evaluate(rows, paths, engine, threads, advance)
    if out is not None:
        with progress(f"writing {out}", len(rows)) as advance:
            write(out, rows, allowed, reasons, policies, advance)
    n_allowed = sum(allowed)
    errors = sum(1 for r in reasons if r.startswith("error:"))
    groups = summarize(allowed, reasons, policies)
    data = {"log": "<stdin>" if log == "-" else log, "engine": kind, "rows": len(rows), "allowed": n_allowed,
            "denied": len(rows) - n_allowed, "errors": errors, "summary": groups}
    head = f"{len(rows):,} {kind} requests from {data['log']}\n"
    emit(fmt, None, data, lambda: head + summary_text(groups, n_allowed, len(rows) - n_allowed),
         lambda: summary_text(groups, n_allowed, len(rows) - n_allowed))
    if rows and errors == len(rows):
        example = next(r for r in reasons if r.startswith("error:"))
        raise CliError(f"every row of {data['log']} is an error row (e.g. {example}): check the columns and "
                       "that -f holds the resources the log names", EXIT_INPUT)
    if errors:
        note(f"meshauthz: warning: {errors:,} of {len(rows):,} rows could not be evaluated (error:* reasons)")
    return EXIT_OK


def register(cli: click.Group) -> None:
    cli.add_command(replay)
