"""`meshauthz completion bash|zsh|fish`: print the shell completion script (Click's completion)."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command("completion", short_help="Print a bash / zsh / fish completion script.")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> int:
    """Print the completion script for SHELL.

    \b
    bash: eval "$(meshauthz completion bash)"          (e.g. in ~/.bashrc)
    zsh:  eval "$(meshauthz completion zsh)"           (e.g. in ~/.zshrc)
    fish: meshauthz completion fish > ~/.config/fish/completions/meshauthz.fish
    """
    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is built into Click
    root = click.get_current_context().find_root().command  # the `meshauthz` group (cli/__init__ imports us)
    click.echo(cls(root, {}, "meshauthz", "_MESHAUTHZ_COMPLETE").source())
    return 0


def register(cli: click.Group) -> None:
    cli.add_command(completion)
