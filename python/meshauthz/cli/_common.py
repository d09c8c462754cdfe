"""Shared options, output and error handling of every `meshauthz` command (one convention).

- `-o/--output FORMAT` is always the format (`text`, `json`, `yaml`, `table`; some commands add
  `csv`, `png`, `svg`). `--out FILE` writes the same output to a file; its extension must agree
  with the format (`.json`, `.yaml`/`.yml`, `.txt`, `.csv`, `.png`, `.svg`). Without `-o`, the
  format is taken from the extension of `--out`.
- `-f/--file`, `--roles`, `--resources` are repeatable options taking exactly one value each, so
  they never swallow positional arguments. `-` means stdin everywhere (once per command).
- `-q/--quiet` prints nothing on stdout: the exit status is the answer.
- Exit status: 0 allowed / valid / clean, 1 denied / problems found / changed, 2 bad input or usage.
- Errors are single lines `meshauthz: error: ...` on stderr; warnings `meshauthz: warning: ...`.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import click

from ..api import parse_yaml
from ..errors import MeshauthzError

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2

BASE_FORMATS = ("text", "json", "yaml", "table")
EXTENSIONS = {
    "json": (".json",),
    "yaml": (".yaml", ".yml"),
    "text": (".txt", ".text"),
    "table": (".txt", ".text"),
    "csv": (".csv",),
    "png": (".png",),
    "svg": (".svg",),
    "sarif": (".sarif", ".sarif.json"),
}
BINARY_FORMATS = ("png", "svg")


class CliError(click.ClickException):
    """A one-line error; exit status 2 (bad input) unless told otherwise."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, exit_code: int = EXIT_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"meshauthz: error: {self.format_message()}", err=True)


@dataclass
class State:
    """Per-invocation state kept on the Click context."""

    quiet: bool = False
    stdin_used_by: Optional[str] = None
    warned: set[str] = field(default_factory=set)

    def claim_stdin(self, option: str) -> None:
        if self.stdin_used_by is not None and self.stdin_used_by != option:
            raise CliError(f"stdin (-) can be read once: already used by {self.stdin_used_by}, not also by {option}")
        self.stdin_used_by = option


def state() -> State:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


# ---- input --------------------------------------------------------------------------------------


TEST_FILE_SUFFIXES = (".test.yaml", ".test.yml", "_test.yaml", "_test.yml")  # `meshauthz test` files
RESOURCE_SUFFIXES = (".yaml", ".yml", ".json")


def input_paths(values: Iterable[str], option: str) -> list[str]:
    """Paths for the loader; `-` (stdin) is checked to be used once, missing paths fail early. A
    directory holding expectation files (`*.test.yaml`, kept next to the policies) is expanded into
    its other YAML files, so those files are never read as resources."""
    out = []
    for v in values:
        if v == "-":
            state().claim_stdin(option)
        elif not os.path.exists(v):
            raise CliError(f"{option} {v}: no such file or directory")
        elif os.path.isdir(v):
            files = sorted(f for f in Path(v).rglob("*") if f.is_file() and f.suffix in RESOURCE_SUFFIXES)
            if any(f.name.endswith(TEST_FILE_SUFFIXES) for f in files):
                out += [str(f) for f in files if not f.name.endswith(TEST_FILE_SUFFIXES)]
                continue
        out.append(v)
    return out


def read_bytes(path: str, option: str) -> bytes:
    """One file's bytes (`-` = stdin), with a clean error for directories and missing files."""
    if path == "-":
        state().claim_stdin(option)
        return sys.stdin.buffer.read()
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{option} {path}: is a directory, expected a file")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{option} {path}: no such file") from None
    except OSError as e:
        raise CliError(f"{option} {path}: cannot read: {(e.strerror or str(e)).lower()}") from None


def yaml_documents(path: str, option: str) -> list[Any]:
    """Every non-empty YAML document of one file (meshauthz's own safe reader, located errors)."""
    name = "<stdin>" if path == "-" else path
    return parse_yaml(read_bytes(path, option), name)


def one_document(path: str, option: str) -> dict[str, Any]:
    docs = yaml_documents(path, option)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        name = "stdin" if path == "-" else path
        raise CliError(f"{option} {name}: expected exactly one YAML mapping, found {len(docs)} document(s)")
    return docs[0]


# ---- options ------------------------------------------------------------------------------------


def quiet_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    def set_quiet(ctx: click.Context, _p: click.Parameter, value: bool) -> bool:
        if value:
            state().quiet = True
        return value

    return click.option(
        "-q", "--quiet", is_flag=True, expose_value=False, callback=set_quiet,
        help="Print nothing on stdout; the exit status is the answer.",
    )(fn)


def files_option(required: bool = True, help: str = "Resource file, directory or bundle (repeatable; - = stdin).",
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-f", "--file", "files", multiple=True, required=required, metavar="PATH", help=help)


def format_option(formats: Sequence[str] = BASE_FORMATS, default: str = "text",
                  ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-o/--output FORMAT`; a value that looks like a file name gets a hint to use --out."""

    def check_format(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        v = value.lower()
        if v not in formats:
            hint = ""
            if "." in value or "/" in value:
                hint = f"; -o/--output is the format, write a file with --out {value}"
            raise click.BadParameter(f"{value!r} is not one of {', '.join(formats)}{hint}", ctx, param)
        return v

    return click.option(
        "-o", "--output", "output", metavar="|".join(formats), default=None, callback=check_format,
        help=f"Output format: {', '.join(formats)} (default {default}).",
    )


def output_options(formats: Sequence[str] = BASE_FORMATS, default: str = "text",
                   out_help: str = "Write the output to FILE (its extension must agree with the format).",
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-o/--output FORMAT` and `--out FILE` (see the module docstring)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option("--out", "out", metavar="FILE", default=None, help=out_help)(fn)
        return format_option(formats, default)(fn)

    return deco


def resolve_format(output: Optional[str], out: Optional[str], formats: Sequence[str], default: str = "text") -> str:
    """The format from `-o` and `--out`; refuses an extension that disagrees with the format."""
    if out is None:
        if output in BINARY_FORMATS:
            raise CliError(f"-o {output} writes a binary image: give --out FILE.{output}")
        return output or default
    ext = Path(out).suffix.lower()
    if output is None:
        for fmt in formats:
            if ext in EXTENSIONS.get(fmt, ()):
                return fmt
        known = sorted({e for f in formats for e in EXTENSIONS.get(f, ())})
        raise CliError(f"--out {out}: cannot tell the format from {ext or 'no extension'!r}; "
                       f"give -o FORMAT or use one of {', '.join(known)}")
    if ext not in EXTENSIONS.get(output, ()):
        raise CliError(f"--out {out} does not agree with -o {output}: expected a "
                       f"{' or '.join(EXTENSIONS.get(output, ()))} file")
    return output


# ---- output -------------------------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """JSON-compatible plain data (tuples -> lists, non-string keys -> strings, datetimes -> ISO)."""
    return json.loads(json.dumps(value, default=str))


def dump_json(data: Any) -> str:
    return json.dumps(to_plain(data), indent=2, ensure_ascii=False) + "\n"


def dump_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(to_plain(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def render_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: Optional[str] = None) -> str:
    """A kubectl-style table (Rich), plain text when not writing to a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold", padding=(0, 2, 0, 0),
                  collapse_padding=True)
    for c in columns:
        table.add_column(Text(c), overflow="fold")
    for r in rows:
        table.add_row(*[Text(_cell(v)) for v in r])  # Text: no Rich markup in user data
    buf = io.StringIO()
    tty = sys.stdout.isatty()
    console = Console(file=buf, width=max(_terminal_width(), 80) if tty else 400, force_terminal=tty,
                      no_color=not tty or None, highlight=False, emoji=False)
    console.print(table)
    head = f"{title}\n" if title else ""
    return head + "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def kv_table(data: dict[str, Any]) -> str:
    """A two-column table of one object's scalar fields (lists joined, nested objects as JSON)."""
    rows = []
    for k, v in data.items():
        if isinstance(v, (list, tuple)):
            v = ", ".join(json.dumps(to_plain(x)) if isinstance(x, (dict, list)) else str(x) for x in v) or "-"
        elif isinstance(v, dict):
            v = json.dumps(to_plain(v), sort_keys=True)
        rows.append((k, v))
    return render_table(("FIELD", "VALUE"), rows)


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 80


def emit(fmt: str, out: Optional[str], data: Any, text: Callable[[], str],
         table: Optional[Callable[[], str]] = None, binary: Optional[Callable[[str], None]] = None) -> None:
    """Render `data` in `fmt` and print it (unless --quiet) or write it to `out`."""
    if fmt in BINARY_FORMATS:
        assert binary is not None and out is not None
        binary(out)
        return
    if fmt == "json":
        body = dump_json(data)
    elif fmt == "yaml":
        body = dump_yaml(data)
    elif fmt == "table":
        body = table() if table is not None else kv_table(data)
    else:
        body = text()
    if body and not body.endswith("\n"):
        body += "\n"
    if out is not None:
        try:
            Path(out).write_text(body, encoding="utf-8")
        except OSError as e:
            raise CliError(f"--out {out}: cannot write: {(e.strerror or str(e)).lower()}") from None
        return
    if not state().quiet:
        click.echo(_colour(body) if fmt == "text" and _colour_wanted() else body, nl=False)


_VERDICT = re.compile(r"^(ALLOW|DENY|yes|no)\b", re.M)


def _colour_wanted() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _colour(body: str) -> str:
    """Verdict words in bold colour on a terminal (blue allow / orange deny: colour-blind safe)."""
    def paint(m: re.Match[str]) -> str:
        ok = m.group(1) in ("ALLOW", "yes")
        return click.style(m.group(1), fg=(0, 114, 178) if ok else (213, 94, 0), bold=True)

    return _VERDICT.sub(paint, body)


def echo(text: str) -> None:
    """A stdout line that --quiet suppresses."""
    if not state().quiet:
        click.echo(text)


def note(text: str) -> None:
    """A stderr line (progress summary, hints) that --quiet suppresses."""
    if not state().quiet:
        click.echo(text, err=True)


# ---- warnings and errors ------------------------------------------------------------------------


def show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                 line: Optional[str] = None) -> None:
    """`warnings.showwarning` for the CLI: one `meshauthz: warning: ...` line, no source path, once each."""
    text = str(message)
    try:
        st = state()
    except RuntimeError:
        st = None
    if st is not None:
        if st.quiet or text in st.warned:
            return
        st.warned.add(text)
    click.echo(f"meshauthz: warning: {text}", err=True)


def install_warning_handler() -> Callable[[], None]:
    saved = warnings.showwarning
    warnings.showwarning = show_warning  # type: ignore[assignment]
    catcher = warnings.catch_warnings()
    catcher.__enter__()
    warnings.simplefilter("always")

    def restore() -> None:
        catcher.__exit__(None, None, None)
        warnings.showwarning = saved  # type: ignore[assignment]

    return restore


def error_lines(exc: BaseException) -> list[str]:
    """The user-facing lines of an error (located problems one per line, OS errors without `[Errno]`)."""
    problems = getattr(exc, "problems", None)
    if problems:
        return [str(p) for p in problems]
    if isinstance(exc, OSError):
        what = (exc.strerror or str(exc)).lower()
        return [f"{exc.filename}: {what}" if exc.filename else what]
    text = str(exc)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]  # KeyError's str() quotes its message
    return [polish(text)]


_RENAMES = (
    ("old_resource", "--old (the stored object)"),
    ("needs old_resource", "needs --old FILE"),
)


def polish(text: str) -> str:
    """Python parameter names in library messages become the CLI's option names."""
    for a, b in _RENAMES[::-1]:
        text = text.replace(a, b)
    return text


# Whose ambiguity ids (A<n>) a command's messages carry when they do not say (docs/semantics.md).
ID_FAMILIES = {"can-i": "RBAC", "lint": "RBAC", "what-can": "RBAC", "traffic": "TP", "inspect": "TP",
               "who-can": "TP", "matrix": "TP"}


def fail_on_errors(fn: Callable[..., int]) -> Callable[..., int]:
    """Run a command body; library errors become located one-line errors with exit status 2."""
    import functools

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> int:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except (MeshauthzError, OSError, ValueError, LookupError) as e:
            family = ID_FAMILIES.get(click.get_current_context().command.name)
            lines = [qualify_ids(line, family) if family else line for line in error_lines(e)]
            for line in lines[:-1]:
                click.echo(f"meshauthz: error: {line}", err=True)
            raise CliError(lines[-1] if lines else type(e).__name__) from None

    return run


def finish(code: int) -> None:
    """End the command with an exit status (0 falls through normally)."""
    if code:
        raise click.exceptions.Exit(code)


# ---- rule ids -----------------------------------------------------------------------------------

_PAREN = re.compile(r"\(([^()]*)\)")
_BARE_A = re.compile(r"(^|[\s,/])(?<!TP )(?<!MTP )(?<!RBAC )A(\d+[a-z]?)\b")


def qualify_ids(text: str, family: str) -> str:
    """Ambiguity ids (`A<n>`) are numbered per specification: inside parentheses, an unqualified
    `A12` becomes `RBAC A12` / `TP A12` / `MTP A12` (docs/semantics.md has one table per family)."""

    def group(m: re.Match[str]) -> str:
        inner = m.group(1)
        if "A" not in inner:
            return m.group(0)
        return "(" + _BARE_A.sub(lambda a: f"{a.group(1)}{family} A{a.group(2)}", inner) + ")"

    return _PAREN.sub(group, text)
