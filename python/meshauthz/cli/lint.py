"""`meshauthz lint PATH...`: RBAC findings (L001-L013, AccessRoles / AccessRoleBindings) and traffic
findings (T001-T011, TrafficPermission / MeshTrafficPermission / ExternalService), docs/semantics.md.

Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 bad input.

JSON / YAML shape:

    {findings: [{code, severity, message, resource, file, document, line, path, family}],
     counts: {SEVERITY: n}, fail_on, failed}

`counts` lists the severities of the families linted (RBAC: info, warn, high, critical; traffic:
info, warning, error). `-o sarif` writes one SARIF 2.1.0 log instead (code-scanning UIs).
"""

from __future__ import annotations

from typing import Optional

import click

from .. import __version__
from ..api import load
from ..findings import ALL_SEVERITIES, FAMILY_SEVERITIES, RANK, Finding, at_least, select, to_sarif
from ..rbac.lint import RULES as RBAC_RULES
from ..rbac.lint import lint as lint_rbac
from ..traffic import TrafficEngine
from ..traffic.lint import RULES as TRAFFIC_RULES
from ..traffic.lint import lint_traffic
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit,
    fail_on_errors,
    files_option,
    input_paths,
    output_options,
    qualify_ids,
    quiet_option,
    render_table,
    resolve_format,
)

FORMATS = ("text", "json", "yaml", "table", "sarif")
RBAC_KINDS = ("AccessRole", "AccessRoleBinding")
TRAFFIC_KINDS = ("Mesh", "Dataplane", "ExternalService", "TrafficPermission", "MeshTrafficPermission")


def _codes(values: tuple[str, ...]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


@click.command("lint", short_help="Lint RBAC roles and traffic policies (L001-L013, T001-T011).")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@files_option(required=False, help="Resource file or directory (repeatable); same as PATH.")
@click.option("--fail-on", type=click.Choice(ALL_SEVERITIES), default="high", show_default=True,
              help="Exit 1 when a finding has this severity or a higher one "
                   "(info < warn = warning < high = error < critical).")
@click.option("--select", "selected", multiple=True, metavar="CODES",
              help="Report only these codes or code prefixes (comma-separated, repeatable: T00,L001).")
@click.option("--ignore", "ignored", multiple=True, metavar="CODES",
              help="Do not report these codes or code prefixes (comma-separated, repeatable).")
@click.option("--external-service-gating", type=click.Choice(["legacy", "none"]), default="legacy",
              show_default=True,
              help="ExternalService access: TP-gated (legacy) or Kuma 2.6+ routing (none), TP A6.")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def lint_cmd(paths: tuple[str, ...], files: tuple[str, ...], fail_on: str, selected: tuple[str, ...],
             ignored: tuple[str, ...], external_service_gating: str, output: Optional[str],
             out: Optional[str]) -> int:
    """Lint AccessRoles / AccessRoleBindings (L001-L013) and TrafficPermissions,
    MeshTrafficPermissions and ExternalServices (T001-T011); codes in docs/semantics.md.

    Exit 0 nothing at or above --fail-on, 1 findings at or above it, 2 bad input.

    \b
    meshauthz lint examples/ --fail-on warning -o sarif --out lint.sarif
    """
    fmt = resolve_format(output, out, FORMATS)
    sources = input_paths([*paths, *files], "PATH")
    if not sources:
        raise click.UsageError("give at least one PATH (a file, directory or - for stdin)")
    store = load(sources)
    has_traffic = any(store.list(k) for k in TRAFFIC_KINDS)
    has_rbac = any(store.list(k) for k in RBAC_KINDS) or not has_traffic
    findings: list[Finding] = []
    if has_rbac:
        findings += lint_rbac(store)
    if has_traffic:
        findings += lint_traffic(TrafficEngine(store, external_service_gating=external_service_gating))
    findings = select(findings, _codes(selected), _codes(ignored))
    failing = at_least(findings, fail_on)
    if fmt == "sarif":
        rules = {**(RBAC_RULES if has_rbac else {}), **(TRAFFIC_RULES if has_traffic else {})}
        emit("json", out, to_sarif(findings, rules, __version__), str)
        return EXIT_FINDINGS if failing else EXIT_OK
    sevs = [*(FAMILY_SEVERITIES["rbac"] if has_rbac else ()), *(FAMILY_SEVERITIES["traffic"] if has_traffic else ())]
    sevs = sorted(dict.fromkeys(sevs), key=lambda s: RANK[s])
    counts = {s: sum(1 for f in findings if f.severity == s) for s in sevs}
    data = {"findings": [f.to_dict() for f in findings], "counts": counts, "fail_on": fail_on,
            "failed": bool(failing)}
    if findings:
        detail = ", ".join(f"{n} {s}" for s, n in reversed(counts.items()) if n)
        summary = (f"{len(findings)} finding{'s' if len(findings) != 1 else ''} ({detail}); "
                   f"{len(failing)} at or above {fail_on}")
    else:
        summary = "0 findings: ok"

    def family(f: Finding) -> str:
        return "RBAC" if f.family == "rbac" else "TP"

    def table() -> str:
        rows = [(f.code, f.severity, f"{f.file}:{f.line}" if f.line else f.file, f.resource, f.path or "-",
                 qualify_ids(f.message, family(f))) for f in findings]
        return (render_table(("CODE", "SEVERITY", "LOCATION", "RESOURCE", "FIELD", "MESSAGE"), rows) if rows
                else "") + summary + "\n"

    def text() -> str:
        return "".join(qualify_ids(f"{f}", family(f)) + "\n" for f in findings) + summary + "\n"

    emit(fmt, out, data, text, table)
    return EXIT_FINDINGS if failing else EXIT_OK


