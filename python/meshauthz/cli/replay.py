"""`meshauthz replay LOG -f PATH... [--out FILE]`: evaluate a log of requests with the batch APIs.

LOG: JSONL, CSV or Parquet (by extension; `-` = JSONL on stdin; Parquet needs pyarrow). Traffic
columns: mesh?, source? / source_tags?, destination, port. RBAC columns (chosen when an `action`
column exists): user, groups, action, resource (a JSON object or its text). `--out FILE` writes every
input row plus `allowed`, `reason`, `policy` (`.jsonl`, `.csv` or `.parquet`). The summary (allowed /
denied per deciding policy and reason) goes to stdout in the `-o` format; progress bars go to stderr
only when it is a terminal.

Exit status: 0 evaluated, 2 unreadable input or every row an `error:*` row. A line that cannot be
read as a row (not a JSON object, nested too deep, a CSV record with more fields than the header)
is reported as `FILE:LINE: problem`, kept as an `error:unreadable-line` row, and the run goes on
(exit 2 at the end). The decisions file is written to a temporary file next to it and renamed on
success: an interrupted or failed run leaves nothing at the final path (#12 item 8).
JSON / YAML shape: `{log, engine, rows, allowed, denied, errors, summary: [{policy, reason, allowed,
denied}]}`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import click

from ..api import load
from ..batch import input_columns
from ..rbac import Authorizer
from ..scale import replay_distributed, summary_groups
from ..traffic import TrafficEngine
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


UNREADABLE = "error:unreadable-line"
MAX_DEPTH = 100  # JSON nesting accepted in a log line (deeper: an unreadable line, never a RecursionError)
MAX_REPORTED = 20  # `FILE:LINE: problem` lines printed before a count of the rest


class Log:
    """The rows of a log; `bad[i]` = `FILE:LINE: problem` for a line that could not be read as a row
    (its row is `{}` and becomes an `error:unreadable-line` row)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.bad: dict[int, str] = {}

    def add_bad(self, where: str, problem: str) -> None:
        self.bad[len(self.rows)] = f"{where}: {problem}"
        self.rows.append({})


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def _line_of(text: bytes, offset: int) -> int:
    return text.count(b"\n", 0, offset) + 1


def read_log(path: str, advance: Progress = lambda n: None) -> Log:
    """Rows as dicts; a file that cannot be read at all is a `CliError` naming FILE[:LINE]."""
    fmt = log_format(path)
    name = "<stdin>" if path == "-" else path
    log = Log()
    if fmt == "parquet":
        need_pyarrow("a Parquet log")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
                log.rows += batch.to_pylist()
                advance(batch.num_rows)
        except (pa.ArrowException, ValueError, OSError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CliError(f"{name}: not a readable Parquet file: {first}") from None
        return log
    data = read_bytes(path, "LOG")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CliError(f"{name}:{_line_of(data, e.start)}: not UTF-8 text (byte {e.start})") from None
    if "\x00" in text:
        raise CliError(f"{name}:{_line_of(data, data.index(0))}: binary data (a NUL byte), not a text log")
    if fmt == "csv":
        _read_csv(log, name, text, advance)
    else:
        _read_jsonl(log, name, text, advance)
    advance(len(log.rows) % CHUNK)
    return log


def _read_csv(log: Log, name: str, text: str, advance: Progress) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: Optional[list[str]] = None
    line = 0
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if header is None:
                raise CliError(f"{name}:{start}: not a CSV header: {e}") from None
            log.add_bad(f"{name}:{start}", f"not a CSV record: {e}")
            if reader.line_num < start:  # no progress: stop rather than loop
                break
            continue
        line = start
        if header is None:
            header = record
            if len(set(header)) != len(header):
                raise CliError(f"{name}:{line}: the CSV header repeats a column name")
            continue
        if not record:
            continue
        if len(record) > len(header):
            log.add_bad(f"{name}:{line}", f"{len(record)} fields, the header has {len(header)}")
            continue
        row: dict[str, Any] = {k: (v if v != "" else None) for k, v in zip(header, record)}
        for k in header[len(record):]:
            row[k] = None
        if row.get("port") is not None:
            row["port"] = int(row["port"]) if str(row["port"]).lstrip("-").isdigit() else row["port"]
        log.rows.append(row)
        if len(log.rows) % CHUNK == 0:
            advance(CHUNK)


def _read_jsonl(log: Log, name: str, text: str, advance: Progress) -> None:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            value = json.loads(line)
        except RecursionError:
            log.add_bad(where, f"JSON nested deeper than {MAX_DEPTH} levels")
            continue
        except ValueError as e:
            log.add_bad(where, f"not JSON: {e}")
            continue
        if not isinstance(value, dict):
            kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
                type(value), "a number")
            log.add_bad(where, f"expected a JSON object, found {kind}")
            continue
        if line.count("{") + line.count("[") > MAX_DEPTH and _too_deep(value):
            log.add_bad(where, f"JSON nested deeper than {MAX_DEPTH} levels")
            continue
        log.rows.append(value)
        if len(log.rows) % CHUNK == 0:
            advance(CHUNK)


# ---- evaluating ---------------------------------------------------------------------------------


def evaluate(rows: list[dict[str, Any]], resources: list[str], engine: str = "auto", threads: int = 1,
             advance: Progress = lambda n: None, unreadable: Optional[dict[int, str]] = None,
             ) -> tuple[str, list[bool], list[str], list[Optional[str]]]:
    unreadable = unreadable or {}
    first = next((r for i, r in enumerate(rows) if i not in unreadable), {})
    kind = engine if engine != "auto" else ("rbac" if "action" in first else "traffic")
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
    for i in unreadable:  # decided as nothing: refused, whatever the engine made of `{}`
        allowed[i], reasons[i], policies[i] = False, UNREADABLE, None
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


def _json_default(v: Any) -> Any:
    """Values JSON has no form for (Parquet binary, timestamps, ...): text, never a TypeError."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "backslashreplace")
    return str(v)


def _dumps(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=_json_default)


def write(out: str, rows: list[dict[str, Any]], allowed: list[bool], reasons: list[str],
          policies: list[Optional[str]], advance: Progress = lambda n: None, target: Optional[str] = None) -> None:
    """Writes the decisions to `target` (default `out`) in the format `out`'s extension names."""
    fmt = out_format(out)
    merged = (dict(r, allowed=a, reason=rs, policy=p) for r, a, rs, p in zip(rows, allowed, reasons, policies))
    path = Path(target or out)
    if fmt == "parquet":
        _write_parquet(path, rows, merged, advance)
        return
    with path.open("w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            columns = list(dict.fromkeys(k for r in rows[:1000] for k in r)) + ["allowed", "reason", "policy"]
            w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            for n, r in enumerate(merged, 1):
                w.writerow({k: _dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
                if n % CHUNK == 0:
                    advance(CHUNK)
        else:
            for n, r in enumerate(merged, 1):
                f.write(_dumps(r) + "\n")
                if n % CHUNK == 0:
                    advance(CHUNK)
    advance(len(rows) % CHUNK)


def _column_kinds(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Per input column: the one Python type its values share ("str", "int", ...), or "json" when
    they disagree (`destination` 5 in one row, "a" in another): such a column is written as text."""
    kinds: dict[str, str] = {}
    for r in rows:
        for k, v in r.items():
            if v is None:
                kinds.setdefault(k, "null")
                continue
            t = "strlist" if isinstance(v, list) and all(isinstance(x, str) for x in v) else type(v).__name__
            if k == "groups" and t == "str":
                t = "strlist"  # "a,b" is split: one column type, list<string>
            if t in ("dict", "list", "tuple") or (t == "int" and not -2**63 <= v < 2**63):
                t = "json"
            have = kinds.get(k, "null")
            kinds[k] = t if have in ("null", t) else "json"
    return kinds


def _write_parquet(path: Path, rows: list[dict[str, Any]], merged: Iterator[dict[str, Any]],
                   advance: Progress) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "bytes": pa.binary(), "strlist": pa.list_(pa.string()), "null": pa.string(), "json": pa.string()}
    kinds = _column_kinds(rows)
    kinds.pop("allowed", None), kinds.pop("reason", None), kinds.pop("policy", None)
    if kinds.get("groups") == "null":
        kinds["groups"] = "strlist"
    fields = [pa.field(str(k), types.get(t, pa.string())) for k, t in kinds.items()]
    schema = pa.schema(fields + [pa.field("allowed", pa.bool_()), pa.field("reason", pa.string()),
                                 pa.field("policy", pa.string())])

    def cell(k: str, v: Any) -> Any:
        t = kinds.get(k)
        if v is None or t is None:
            return v
        if k == "groups" and t == "strlist" and isinstance(v, str):
            return [g.strip() for g in v.split(",") if g.strip()]
        if t == "json" or t not in types:
            return v if isinstance(v, str) else _dumps(v)
        return v

    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for r in merged:
            batch.append({k: cell(k, v) for k, v in r.items()})
            if len(batch) == CHUNK:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                advance(len(batch))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            advance(len(batch))


class AtomicOutput:
    """A temporary file next to `out`, created up front (an unwritable `--out` is refused before the
    run) and renamed over `out` only on success; removed on any error or interruption."""

    def __init__(self, out: str) -> None:
        self.out = out
        final = Path(out)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        except OSError as e:
            raise CliError(f"--out {out}: cannot write: {(e.strerror or str(e)).lower()}") from None
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)

    def commit(self) -> None:
        try:
            os.replace(self.tmp, self.out)
        except OSError as e:
            self.discard()
            raise CliError(f"--out {self.out}: cannot write: {(e.strerror or str(e)).lower()}") from None

    def discard(self) -> None:
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


# ---- command ------------------------------------------------------------------------------------


@click.command("replay", short_help="Evaluate a log of requests (JSONL, CSV, Parquet).")
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option("-f", "--file", "--resources", "resources", multiple=True, required=True, metavar="PATH",
              help="Policies, dataplanes, roles: file, directory or bundle (repeatable).")
@click.option("--engine", type=click.Choice(["auto", "traffic", "rbac"]), default="auto", show_default=True,
              help="auto = rbac when the log has an `action` column.")
@click.option("--threads", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Worker threads per batch.")
@click.option("--dask", "dask", metavar="SCHEDULER",
              help="Run on Dask: local[:N] (a LocalCluster of N workers) or a scheduler address. LOG... may "
                   "then be several files, globs or directories, and --out is a directory of Parquet files.")
@output_options(FORMATS, out_help="Write every row with its decision to FILE (.jsonl, .csv or .parquet).")
@quiet_option
@fail_on_errors
def replay(logs: tuple[str, ...], resources: tuple[str, ...], engine: str, threads: int, dask: Optional[str],
           output: Optional[str], out: Optional[str]) -> int:
    """Evaluate a log of requests (JSONL, CSV or Parquet; - = JSONL on stdin) with the batch engines.

    Prints allowed / denied per deciding policy and reason; --out FILE keeps every row's decision.
    """
    fmt = resolve_format(output, None, FORMATS)
    if dask is not None:
        return _replay_dask(list(logs), resources, engine, dask, fmt, out)
    if len(logs) != 1:
        raise click.UsageError("give one LOG (several logs, globs and directories need --dask)")
    log = logs[0]
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
    sink = AtomicOutput(out) if out is not None else None
    try:
        with progress("reading", None) as advance:
            log_rows = read_log(log, advance)
        rows = log_rows.rows
        with progress("deciding", len(rows)) as advance:
            kind, allowed, reasons, policies = evaluate(rows, paths, engine, threads, advance, log_rows.bad)
        if sink is not None:
            with progress(f"writing {sink.out}", len(rows)) as advance:
                try:
                    write(sink.out, rows, allowed, reasons, policies, advance, target=sink.tmp)
                except OSError as e:
                    raise CliError(f"--out {sink.out}: cannot write: {(e.strerror or str(e)).lower()}") from None
            sink.commit()
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    n_allowed = sum(allowed)
    errors = sum(1 for r in reasons if r.startswith("error:"))
    groups = summarize(allowed, reasons, policies)
    data = {"log": "<stdin>" if log == "-" else log, "engine": kind, "rows": len(rows), "allowed": n_allowed,
            "denied": len(rows) - n_allowed, "errors": errors, "summary": groups}
    head = f"{len(rows):,} {kind} requests from {data['log']}\n"
    emit(fmt, None, data, lambda: head + summary_text(groups, n_allowed, len(rows) - n_allowed),
         lambda: summary_text(groups, n_allowed, len(rows) - n_allowed))
    if log_rows.bad:
        problems = list(log_rows.bad.values())
        for line in problems[:MAX_REPORTED]:
            click.echo(f"meshauthz: error: {line}", err=True)
        more = f" ({len(problems) - MAX_REPORTED:,} more not shown)" if len(problems) > MAX_REPORTED else ""
        raise CliError(f"{len(problems):,} unreadable line(s) in {data['log']}{more}, kept as {UNREADABLE} rows")
    if rows and errors == len(rows):
        example = next(r for r in reasons if r.startswith("error:"))
        raise CliError(f"every row of {data['log']} is an error row (e.g. {example}): check the columns and "
                       "that -f holds the resources the log names", EXIT_INPUT)
    if errors:
        note(f"meshauthz: warning: {errors:,} of {len(rows):,} rows could not be evaluated (error:* reasons)")
    return EXIT_OK


def _replay_dask(logs: list[str], resources: tuple[str, ...], engine: str, scheduler: str, fmt: str,
                 out: Optional[str]) -> int:
    """`replay --dask`: the same summary and exit codes, decided on a Dask cluster (meshauthz.scale)."""
    if "-" in logs:
        raise CliError("--dask reads files, not stdin")
    paths = input_paths(resources, "-f")
    s = replay_distributed(logs, paths, scheduler=scheduler, out=out, engine=engine, echo=False,
                           progress=None if sys.stderr.isatty() else False)
    groups = summary_groups(s.counts)
    n_allowed = sum(g["allowed"] for g in groups)
    n_denied = sum(g["denied"] for g in groups)
    errors = sum(n for (_, reason, _), n in s.counts.items() if reason.startswith("error:"))
    label = ", ".join(logs)
    data = {"log": label, "engine": s.kind, "rows": s.rows, "allowed": n_allowed, "denied": n_denied,
            "errors": errors, "summary": groups}
    head = f"{s.rows:,} {s.kind} requests from {label}\n"
    emit(fmt, None, data, lambda: head + summary_text(groups, n_allowed, n_denied),
         lambda: summary_text(groups, n_allowed, n_denied))
    if s.rows and errors == s.rows:
        raise CliError(f"every row of {label} is an error row: check the columns and that -f holds the "
                       "resources the log names", EXIT_INPUT)
    if errors:
        note(f"meshauthz: warning: {errors:,} of {s.rows:,} rows could not be evaluated (error:* reasons)")
    return EXIT_OK


def register(cli: click.Group) -> None:
    cli.add_command(replay)
