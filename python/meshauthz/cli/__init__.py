"""The `meshauthz` command line (Click + Rich). One module per command group; this one wires them.

Conventions shared by every command are in `_common` (formats, `--out`, `-f`, `-q`, stdin, exit
codes, one-line errors). Exit status everywhere: 0 allowed / valid / clean, 1 denied / problems /
changed / failed expectations, 2 bad input or usage. No traceback ever reaches the user.

Adding a command group (e.g. the server's `serve`, `token`, `webhook-manifest`): write a module
with `def register(cli: click.Group) -> None` that calls `cli.add_command(...)`, and list it in
`COMMAND_MODULES` (always present) or `OPTIONAL_MODULES` (skipped while the module does not exist).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Optional, Sequence

import click

from .. import __version__
from ..bundle import BundleError, require_signature
from ..errors import MeshauthzError
from ._common import EXIT_INPUT, EXIT_OK, CliError, error_lines, install_warning_handler

COMMAND_MODULES = (
    "meshauthz.cli.validate",
    "meshauthz.cli.traffic",
    "meshauthz.cli.rbac",
    "meshauthz.cli.analysis",
    "meshauthz.cli.compile",
    "meshauthz.cli.replay",
    "meshauthz.cli.testing",
    "meshauthz.cli.completion",
)
# Registration point for command groups that live elsewhere (the server package adds `serve`,
# `token` and `webhook-manifest` here): each module exposes `register(cli)`.
OPTIONAL_MODULES = (
    "meshauthz.cli.server",
    "meshauthz.server.cli",
)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    """Commands listed in registration order (the order of `--help` and the CLI reference)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def _version() -> str:
    return __version__


def _verify_key(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """`--verify-key PUB`: every bundle the command reads must be signed by this key (then it is
    not re-validated); an unsigned or differently signed bundle is a located `bundle` problem."""
    if value is None:
        return None
    try:
        ctx.with_resource(require_signature(value))
    except BundleError as e:
        raise click.BadParameter(str(e), ctx, param) from None
    return value


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(version=_version(), prog_name="meshauthz", message="%(prog)s %(version)s")
@click.option("--verify-key", metavar="KEY", default=None, expose_value=False, is_eager=False, callback=_verify_key,
              help="Bundles read by the command must be signed by this ed25519 public key (PEM file).")
def cli() -> None:
    """Authorization for Kuma / Kong Mesh resources: is this traffic allowed, may this user do that.

    \b
    Exit status: 0 allowed / valid / clean, 1 denied / problems found / changed,
                 2 bad input or usage.
    Output:      -o/--output text|json|yaml|table (some commands add csv, png, svg);
                 --out FILE writes it to a file whose extension agrees with the format.
    Input:       -f/--file PATH (repeatable; a file, directory or bundle; - = stdin);
                 --verify-key PUB before the command: bundles must be signed by PUB.
    Rule ids in the output (T3.5, M6.2, R5.11, ...) are explained in docs/semantics.md.
    """


def _register(root: click.Group) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(root)
    for name in OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is not None and name.startswith(e.name):
                continue  # the module (or its package) does not exist yet
            raise
        module.register(root)


_register(cli)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (the console script passes it to `sys.exit`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    restore = install_warning_handler()
    try:
        result: Any = cli.main(args=args, prog_name="meshauthz", standalone_mode=False)
        return int(result) if isinstance(result, int) else EXIT_OK
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except CliError as e:
        e.show()
        return e.exit_code
    except click.UsageError as e:  # wrong option, missing argument: usage line + one error line
        if type(e).__name__ == "NoArgsIsHelpError":  # `meshauthz`, `meshauthz check`: the help, exit 2
            click.echo(e.format_message(), err=True)
            return EXIT_INPUT
        if e.ctx is not None:
            click.echo(e.ctx.get_usage(), err=True)
            click.echo(f"Try '{e.ctx.command_path} --help' for help.", err=True)
        click.echo(f"meshauthz: error: {e.format_message()}", err=True)
        return EXIT_INPUT
    except click.ClickException as e:
        click.echo(f"meshauthz: error: {e.format_message()}", err=True)
        return EXIT_INPUT
    except click.exceptions.Abort:
        click.echo("meshauthz: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
        return EXIT_OK
    except Exception as e:  # a library error no command turned into a message: still one line
        if not isinstance(e, (MeshauthzError, OSError)):
            raise
        for line in error_lines(e):
            click.echo(f"meshauthz: error: {line}", err=True)
        return EXIT_INPUT
    finally:
        restore()


__all__ = ["cli", "main", "CliError"]
