"""`who-can`, `what-can`, `matrix`, `diff`: reverse queries, the service matrix, policy diffs.

Exit status: who-can / what-can / matrix 0; diff 0 nothing changed, 1 something changed; 2 bad input.

JSON / YAML shapes:

    who-can:  {mesh, dataplane, port, tags, basis, non_mesh, mesh_clients, terms: [{require, unless,
               policy, index, action}], policies, dataplanes, services}
    what-can: {user, groups, mode, roles, missing_roles, permissions: [{role, bindings, rule, access, types,
               names, mesh, when}], notes}
    matrix:   {mesh, sources, destinations, matrix: [[allow|deny|partial]], counts}
    diff:     {changed, meshes, pairs_compared, rbac_compared, traffic: [{mesh, source, destination, before,
               after, policies_before, policies_after}], rbac: [{user, groups, action, resource, before, after,
               grant_before, grant_after}]}
"""

from __future__ import annotations

from typing import Any, Optional

import click

from ..analysis.diff import diff_rbac, diff_traffic
from ..analysis.matrix import service_matrix
from ..api import load
from ..rbac import User
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CliError,
    emit,
    fail_on_errors,
    files_option,
    input_paths,
    output_options,
    qualify_ids,
    quiet_option,
    render_table,
    resolve_format,
    yaml_documents,
)
from .engines import authorizer, traffic_engine
from .heatmap import draw
from .rbac import mode_option, roles_option, user_options, user_text

FORMATS = ("text", "json", "yaml", "table")
MATRIX_FORMATS = ("text", "json", "yaml", "table", "csv", "png", "svg")


@click.command("who-can", short_help="Which clients may reach DATAPLANE:PORT.")
@click.argument("target", metavar="DATAPLANE:PORT")
@files_option()
@click.option("--mesh", metavar="MESH", help="Mesh of the dataplane (needed when its name exists in several meshes).")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def who_can(target: str, files: tuple[str, ...], mesh: Optional[str], output: Optional[str],
            out: Optional[str]) -> int:
    """Which clients may reach DATAPLANE:PORT (computed from the policies, not by enumeration).

    A mesh client is admitted iff it holds every tag pair of some CLIENTS HOLDING row and none of
    that row's `except` sets (T2.7, M5.1, M6.2).
    """
    fmt = resolve_format(output, out, FORMATS)
    dp, sep, port = target.rpartition(":")
    if not sep or not dp or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"{target}: expected DATAPLANE:PORT (port 1-65535)")
    cs = traffic_engine(files).who_can_reach(dp, int(port), mesh=mesh)

    def table() -> str:
        rows = [(str(t), t.policy or "-", "-" if t.index is None else t.index, t.action or "-") for t in cs.terms]
        return render_table(("CLIENTS HOLDING", "POLICY", "ITEM", "ACTION"), rows,
                            title=f"{cs.dataplane}:{cs.port} (mesh {cs.mesh}): {cs.basis}, "
                                  f"mesh clients {cs.summary()}, non-mesh "
                                  f"{'allowed' if cs.non_mesh else 'denied'}")

    emit(fmt, out, cs.to_dict(), lambda: str(cs) + "\n", table)
    return EXIT_OK


@click.command("what-can", short_help="What a user may do.")
@user_options
@roles_option(required=True)
@mode_option
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def what_can(user: str, groups: tuple[str, ...], roles: tuple[str, ...], mode: str, output: Optional[str],
             out: Optional[str]) -> int:
    """What a user may do: one row per rule of every role the user's bindings reach (R5.1-R5.2).

    TYPES/NAMES `any` = unrestricted; MESH `any` = no mesh restriction, `*` = any mesh-scoped
    resource (R5.5); WHEN = qualifiers the resource must be covered by (R5.6).
    """
    fmt = resolve_format(output, out, FORMATS)
    caps = authorizer(roles, mode=mode).what_can(User(user, groups))

    def table() -> str:
        rows = [(f"{p.role}[{p.rule}]", ",".join(p.access), ",".join(p.types) or "any", ",".join(p.names) or "any",
                 "any" if p.mesh is None else p.mesh, f"{len(p.when)} qualifier(s)" if p.when else "-")
                for p in caps.permissions]
        return render_table(("ROLE[RULE]", "ACCESS", "TYPES", "NAMES", "MESH", "WHEN"), rows)

    def text() -> str:  # the header in our words (no Kuma `name/groups` form)
        body = str(caps).split("\n", 1)
        head = (f"user {user_text(caps.user)}  mode {caps.mode}  roles: {', '.join(caps.roles) or '-'}"
                + (f"  missing roles: {', '.join(caps.missing_roles)}" if caps.missing_roles else ""))
        return qualify_ids("\n".join([head, *body[1:]]), "RBAC") + "\n"

    emit(fmt, out, caps.to_dict(), text, table)
    return EXIT_OK


@click.command("matrix", short_help="allow / deny / partial for every pair of services.")
@click.argument("mesh", metavar="MESH")
@files_option()
@output_options(MATRIX_FORMATS, out_help="Write to FILE; .png / .svg draw a heat map (needs meshauthz[plot]).")
@quiet_option
@fail_on_errors
def matrix(mesh: str, files: tuple[str, ...], output: Optional[str], out: Optional[str]) -> int:
    """allow / deny / partial for every pair of services of MESH (rows: clients, columns: destinations).

    allow = every dataplane of the row service may reach every inbound of the column service,
    deny = none may, partial otherwise. A heat map needs --out FILE.png or FILE.svg.
    """
    fmt = resolve_format(output, out, MATRIX_FORMATS)
    m = service_matrix(traffic_engine(files), mesh)
    data = m.to_dict()

    def grid() -> str:
        return render_table(("SOURCE \\ DESTINATION", *m.destinations),
                            [(s, *row) for s, row in zip(m.sources, data["matrix"])])

    if fmt == "csv":
        emit("text", out, data, m.to_csv)
    else:
        emit(fmt, out, data, grid, grid, binary=lambda path: draw(m, path))
    return EXIT_OK


def _users(path: str) -> list[Any]:
    items: list[Any] = []
    for d in yaml_documents(path, "--users"):
        items.extend(d.get("users", []) if isinstance(d, dict) else d if isinstance(d, list) else [d])
    out = []
    for u in items:
        if isinstance(u, str):
            out.append(User(u))
        elif isinstance(u, dict) and isinstance(u.get("name"), str) and isinstance(u.get("groups") or [], list):
            out.append(User(u["name"], [str(g) for g in u.get("groups") or []]))
        else:
            raise CliError(f"--users {path}: a user must be a name or {{name: NAME, groups: [G...]}}, not {u!r}")
    return out


def diff_text(report: Any, meshes: int) -> str:
    lines = []
    if report.traffic:
        lines.append(render_table(
            ("MESH", "SOURCE", "DESTINATION", "BEFORE", "AFTER", "POLICIES BEFORE", "POLICIES AFTER"),
            [(c.mesh, c.source, c.destination, c.before, c.after, ", ".join(c.policies_before) or "-",
              ", ".join(c.policies_after) or "-") for c in report.traffic]))
    if report.rbac:
        if lines:
            lines.append("\n")
        lines.append(render_table(
            ("USER", "ACTION", "RESOURCE", "BEFORE", "AFTER", "GRANT BEFORE", "GRANT AFTER"),
            [(c.user, c.action, c.resource, c.before, c.after, c.grant_before or "-", c.grant_after or "-")
             for c in report.rbac]))
    lines.append(f"{len(report.traffic)} of {report.pairs_compared} service pairs "
                 f"(in {meshes} mesh{'es' if meshes != 1 else ''}) and {len(report.rbac)} of "
                 f"{report.rbac_compared} RBAC decisions changed\n")
    return "".join(lines)


@click.command("diff", short_help="Decisions that change between two policy versions.")
@click.option("--before", "before", multiple=True, required=True, metavar="PATH",
              help="The current policies: file, directory or bundle (repeatable).")
@click.option("--after", "after", multiple=True, required=True, metavar="PATH",
              help="The proposed policies: file, directory or bundle (repeatable).")
@click.option("--users", metavar="FILE", help="YAML list of users (NAME or {name, groups}) for the RBAC diff.")
@click.option("--resources", "resources", multiple=True, metavar="FILE",
              help="Resource documents the users act on, for the RBAC diff (repeatable).")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def diff(before: tuple[str, ...], after: tuple[str, ...], users: Optional[str], resources: tuple[str, ...],
         output: Optional[str], out: Optional[str]) -> int:
    """Decisions that change between two versions of the policies. Exit 0 none, 1 some, 2 bad input.

    Every service pair of every mesh whose cell changes (or stays partial with other admitted
    dataplane pairs), with the deciding policies; with --users and --resources also every changed
    CREATE / UPDATE / DELETE decision.
    """
    fmt = resolve_format(output, out, FORMATS)
    if bool(users) != bool(resources):
        raise CliError("--users and --resources go together")
    b, a = load(input_paths(before, "--before")), load(input_paths(after, "--after"))
    report = diff_traffic(b, a)
    if users:
        docs = [d for path in resources for d in yaml_documents(path, "--resources") if isinstance(d, dict)]
        report = diff_rbac(b, a, _users(users), docs, report)
    meshes = len(set(b.meshes()) | set(a.meshes()))
    data = report.to_dict()
    data = {"changed": data.pop("changed"), "meshes": meshes, **data}
    emit(fmt, out, data, lambda: diff_text(report, meshes), lambda: diff_text(report, meshes))
    return EXIT_FINDINGS if report.changed else EXIT_OK


def register(cli: click.Group) -> None:
    for cmd in (who_can, what_can, matrix, diff):
        cli.add_command(cmd)
