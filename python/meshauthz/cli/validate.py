"""`meshauthz validate PATH...`: load and validate, listing every problem (exit 1 if any).

JSON / YAML shape: `{valid, documents, resources: [{type, mesh, name}], problems: [PROBLEM],
warnings: [PROBLEM]}` where PROBLEM is `{file, document, line, column, path, message, expected,
code, resource}`.
"""

from __future__ import annotations

from typing import Any

import click

from ..api import validate as _validate
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit,
    fail_on_errors,
    files_option,
    input_paths,
    note,
    output_options,
    quiet_option,
    render_table,
    resolve_format,
    state,
)

FORMATS = ("text", "json", "yaml", "table")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(documents: int, resources: int, problems: int) -> str:
    status = "ok" if not problems else _plural(problems, "problem")
    return f"{_plural(documents, 'document')}, {_plural(resources, 'valid resource')}: {status}"


@click.command("validate", short_help="Validate resource files; list every located problem.")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@files_option(required=False, help="Resource file or directory (repeatable; - = stdin); same as PATH.")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def validate_cmd(paths: tuple[str, ...], files: tuple[str, ...], output: Any, out: Any) -> int:
    """Validate Kuma / Kong Mesh resource files (Universal or Kubernetes YAML).

    Every problem is listed with its file, document, line, column and Kuma field path; unknown
    fields are warnings. Exit 0 valid, 1 problems found, 2 bad usage.
    """
    fmt = resolve_format(output, out, FORMATS)
    all_paths = input_paths([*paths, *files], "PATH")
    if not all_paths:
        raise click.UsageError("give at least one PATH (a file, directory or - for stdin)")
    result = _validate(all_paths)
    data = {
        "valid": result.ok,
        "documents": result.documents,
        "resources": [{"type": r.type, "mesh": r.mesh, "name": r.name} for r in result.resources],
        "problems": [p.to_dict() for p in result.problems],
        "warnings": [w.to_dict() for w in result.warnings],
    }
    line = summary_line(result.documents, len(result.resources), len(result.problems))
    if fmt in ("text", "table"):
        for w in result.warnings:
            note(f"meshauthz: warning: {w}")

    def text() -> str:
        return "".join(f"error: {p}\n" for p in result.problems) + line + "\n"

    def table() -> str:
        rows = [(p.location(), p.resource or "-", p.path or "-", p.message) for p in result.problems]
        body = render_table(("LOCATION", "RESOURCE", "FIELD", "PROBLEM"), rows) if rows else ""
        return body + line + "\n"

    emit(fmt, out, data, text, table)
    if out is not None and not state().quiet:
        note(line)
    return EXIT_OK if result.ok else EXIT_FINDINGS


def register(cli: click.Group) -> None:
    cli.add_command(validate_cmd)
