"""`meshauthz can-i` (AccessRole / AccessRoleBinding, rbac.md §5, §8); `meshauthz lint` lives in
cli/lint.py (RBAC and traffic findings).

Exit status: can-i 0 allowed, 1 denied (Kuma's exact denial text printed), 2 bad input.

JSON / YAML shapes (`--explain` adds fields, nothing else changes):

    can-i: {allowed, user: {name, groups}, action, target, channel, message,
            [mode, grant, old_grant, denied_side, uncovered, reason, examined, notes]}
"""

from __future__ import annotations

from typing import Any, Optional

import click

from ..rbac import ACTIONS, TOKEN_KINDS, User
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CliError,
    emit,
    fail_on_errors,
    kv_table,
    one_document,
    output_options,
    qualify_ids,
    quiet_option,
    resolve_format,
)
from .engines import authorizer
from .lint import lint_cmd

FORMATS = ("text", "json", "yaml", "table")


def user_text(user: User) -> str:
    """`alice (groups: a, b)` — the CLI's own wording (Kuma's `alice/a,b` stays in its exact texts)."""
    return f"{user.name} ({'groups: ' + ', '.join(user.groups) if user.groups else 'no groups'})"


def describe(doc: Optional[dict[str, Any]], fallback: str) -> str:
    """`TrafficPermission demo/x` for a Universal or Kubernetes document."""
    if not isinstance(doc, dict):
        return fallback
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    kind = doc.get("type") or doc.get("kind") or fallback
    name = doc.get("name") or meta.get("name")
    mesh = doc.get("mesh") or (meta.get("labels") or {}).get("kuma.io/mesh")
    if meta.get("namespace") and name:
        name = f"{name}.{meta['namespace']}"
    return f"{kind} {mesh + '/' if mesh else ''}{name}" if name else str(kind)


def roles_option(required: bool = False) -> Any:
    return click.option("--roles", "roles", multiple=True, required=required, metavar="PATH",
                        help="AccessRole / AccessRoleBinding file, directory or bundle (repeatable; - = stdin).")


def user_options(fn: Any) -> Any:
    fn = click.option("--group", "groups", multiple=True, metavar="GROUP",
                      help="A group of the user (repeatable; the order is kept, it shows in denials: R8.1).")(fn)
    return click.option("--user", required=True, metavar="NAME", help="The user name.")(fn)


def mode_option(fn: Any) -> Any:
    return click.option("--mode", type=click.Choice(["rbac", "static"]), default="rbac", show_default=True,
                        help="Kuma's access mode: RBAC roles, or the static admin-only strategy (R7).")(fn)


def explain_text(d: Any, what: Optional[str] = None) -> str:
    lines = [f"{'ALLOW' if d.allowed else 'DENY'} {what or f'{d.action} {d.target}'} for user {user_text(d.user)}:"]
    if d.grant:
        lines.append(f"  granted by {d.grant}")
    if d.old_grant:
        lines.append(f"  stored object granted by {d.old_grant}")
    if not d.allowed:
        if d.denied_side:
            lines.append(f"  UPDATE not granted on the {d.denied_side} object (R5.9)")
        lines += [f"  not covered: {u}" for u in d.uncovered]
        if not d.grant and not d.uncovered and not d.denied_side:
            lines.append("  no rule of the user's roles grants this action on this resource (R5.1-R5.6)")
    lines += [f"  note: {n}" for n in d.notes]
    return qualify_ids("\n".join(lines), "RBAC") + "\n"


@click.command("can-i", short_help="May this user do ACTION on this resource?")
@click.argument("action", type=click.Choice(ACTIONS, case_sensitive=False), metavar="ACTION")
@user_options
@click.option("-f", "--file", "file", metavar="FILE",
              help="The resource (UPDATE: the new object; GENERATE_*: the token request); - = stdin.")
@click.option("--old", metavar="FILE", help="UPDATE: the stored object (RBAC A10).")
@roles_option()
@click.option("--channel", type=click.Choice(["api", "kubernetes-webhook"]), default="api", show_default=True,
              help="Which denial text to print: the REST API's or the admission webhook's (R8.3, R8.4).")
@mode_option
@click.option("--secret-reads", type=click.Choice(["rbac", "open", "static-admin"]), default="rbac",
              show_default=True, help="Who may read Secrets (R5.11).")
@click.option("--explain", is_flag=True, help="Show the granting role, rule and binding, or what is not covered.")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def can_i(action: str, user: str, groups: tuple[str, ...], file: Optional[str], old: Optional[str],
          roles: tuple[str, ...], channel: str, mode: str, secret_reads: str, explain: bool,
          output: Optional[str], out: Optional[str]) -> int:
    """Would USER be allowed to do ACTION on the resource? Exit 0 yes, 1 no, 2 bad input.

    ACTION is CREATE, UPDATE, DELETE, GET, LIST, VIEW_* or GENERATE_*_TOKEN. A denial prints
    Kuma's exact text for --channel.

    \b
    meshauthz can-i CREATE -f samples/tp.yaml --user bob --roles examples/universal/rbac.yaml
    """
    fmt = resolve_format(output, out, FORMATS)
    action = action.upper()
    authz = authorizer(roles, mode=mode, secret_reads=secret_reads)
    who = User(user, groups)
    if action in TOKEN_KINDS.values():
        request = one_document(file, "-f") if file else {}
        d = authz.check_token(who, action, request)
        what = target = action
    else:
        if not file:
            raise CliError(f"{action} needs -f FILE (the resource)")
        if action == "UPDATE" and not old:
            raise CliError("UPDATE needs --old FILE (the stored object) as well as -f FILE (the new one)")
        resource = one_document(file, "-f")
        d = authz.check(who, action, resource, one_document(old, "--old") if old else None)
        target = describe(resource, d.target)
        what = f"{action} {target}"
    message = d.message(channel)
    data: dict[str, Any] = {"allowed": d.allowed, "user": {"name": who.name, "groups": list(who.groups)},
                            "action": action, "target": target, "channel": channel, "message": message}
    if explain:
        ex = d.explain()
        data.update({k: ex[k] for k in ("mode", "grant", "old_grant", "denied_side", "uncovered", "reason",
                                        "examined", "notes")})

    def text() -> str:
        if d.allowed:
            head = "yes\n"
        else:  # our wording, then Kuma's exact response (it writes the user as NAME/GROUPS, R8.1)
            head = f"no: user {user_text(who)} may not {what}\n  Kuma's response ({channel}): {message}\n"
        return head + (explain_text(d, what) if explain else "")

    emit(fmt, out, data, text, lambda: kv_table(data))
    return EXIT_OK if d.allowed else EXIT_FINDINGS


def register(cli: click.Group) -> None:
    cli.add_command(can_i)
    cli.add_command(lint_cmd)  # RBAC and traffic findings; registered here to keep the command order
