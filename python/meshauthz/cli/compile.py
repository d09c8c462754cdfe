"""`meshauthz compile PATH... --out FILE`: validate once, write a bundle that loads without YAML.

Exit status: 0 written, 2 invalid input (every problem printed) or unwritable output.
JSON / YAML shape (the report, on stdout): `{output, bytes, resources, seconds, signed}`.
`--sign KEY` signs the bundle with an ed25519 private key (PEM file); readers given the public key
(`meshauthz --verify-key PUB ...`, `load_bundle(path, verify_key=...)`) then trust it without
re-validating its content.
"""

from __future__ import annotations

import time
from typing import Optional

import click

from ..bundle import BundleError, compile_paths, load_bundle, signing_key
from ._common import (
    EXIT_OK,
    CliError,
    emit,
    fail_on_errors,
    files_option,
    format_option,
    input_paths,
    quiet_option,
    resolve_format,
)

FORMATS = ("text", "json", "yaml", "table")


@click.command("compile", short_help="Validate once, write a fast-loading bundle.")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@files_option(required=False, help="YAML file, directory or bundle (repeatable; - = stdin); same as PATH.")
@click.option("--out", "bundle", required=True, metavar="FILE", help="The bundle file to write.")
@click.option("--sign", "sign_key", metavar="KEY", default=None,
              help="Sign the bundle with this ed25519 private key (PEM file).")
@format_option(FORMATS)
@quiet_option
@fail_on_errors
def compile_cmd(paths: tuple[str, ...], files: tuple[str, ...], bundle: str, sign_key: Optional[str],
                output: Optional[str]) -> int:
    """Validate resources once and write a fast-loading bundle (no YAML parsing when loaded).

    -f / --roles / --before / --after accept a bundle wherever they accept YAML.
    """
    fmt = resolve_format(output, None, FORMATS)
    sources = input_paths([*paths, *files], "PATH")
    if not sources:
        raise click.UsageError("give at least one PATH (a file, directory or - for stdin)")
    key = None
    if sign_key is not None:
        try:
            key = signing_key(sign_key)
        except BundleError as e:
            raise CliError(f"--sign {sign_key}: {e}") from None
    start = time.perf_counter()
    try:
        size = compile_paths(sources, bundle, sign_key=key)
    except IsADirectoryError:
        raise CliError(f"--out {bundle}: is a directory") from None
    seconds = round(time.perf_counter() - start, 3)
    count = len(load_bundle(bundle, verify_key=key).store)  # a signed bundle reads back verified
    data = {"output": bundle, "bytes": size, "resources": count, "seconds": seconds, "signed": key is not None}
    signed = ", signed" if key is not None else ""
    emit(fmt, None, data, lambda: f"wrote {bundle}: {count} resources, {size} bytes{signed}\n")
    return EXIT_OK


def register(cli: click.Group) -> None:
    cli.add_command(compile_cmd)

