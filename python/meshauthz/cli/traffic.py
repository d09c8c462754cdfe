"""`meshauthz check traffic` and `meshauthz inspect` (TrafficPermission and MeshTrafficPermission).

SOURCE: a dataplane name | `tags:K=V,...` | `non-mesh`. DEST: `DATAPLANE:PORT` | `external-service:NAME`.
Exit status: 0 allowed, 1 denied, 2 bad input.

JSON / YAML shapes (`--explain` adds the `explanation` field, nothing else changes):

    check traffic: {allowed, reason, policy, mesh, target, matched_source, shadowed, bypass_possible,
                    action, from_index, shadow_deny, kuma_enforcement_divergence, matched_policies,
                    notes, [explanation: {target_tags, matcher, candidates, mtp}]}
    inspect:       {mesh, dataplane, gateway, inbounds: [{port, tags, prometheus, decided_by, policy,
                    ignored_traffic_permission, shadowed, mtp_policies, mtp_rules, mtp_rules_note}]}
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import click

from ..traffic import NON_MESH, ExternalServiceTarget, Inbound, TrafficEngine
from ._common import (
    EXIT_FINDINGS,
    EXIT_OK,
    CliError,
    emit,
    fail_on_errors,
    files_option,
    kv_table,
    output_options,
    qualify_ids,
    quiet_option,
    render_table,
    resolve_format,
)
from .engines import traffic_engine

FORMATS = ("text", "json", "yaml", "table")
ZERO_TIME_PREFIX = "0001-01-01"  # Go's zero time: the document had no creationTime (TP A2)

# §4.1 rows that decide before any TrafficPermission is looked at.
NOT_CONSULTED = {
    "not-enforced": "traffic into a gateway or the Prometheus inbound is not checked (E0, T4.3, T4.9)",
    "unknown-inbound": "the port is not an inbound of the dataplane (E0b)",
    "mtls-disabled": "mTLS is off in the mesh: everything is allowed (E1)",
    "permissive-non-mesh-traffic": "a client without a mesh certificate, mTLS mode PERMISSIVE (E2)",
    "mtls-required": "a client without a certificate of this mesh, mTLS mode STRICT (E3)",
}


def parse_source(text: str) -> Any:
    if text == "non-mesh":
        return NON_MESH
    if text.startswith("tags:"):
        tags: dict[str, str] = {}
        for item in filter(None, text[len("tags:"):].split(",")):
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CliError(f"--from {text}: expected tags:KEY=VALUE[,KEY=VALUE...]")
            tags[key] = value
        if not tags:
            raise CliError(f"--from {text}: no tags given")
        return tags
    if not text:
        raise CliError("--from must not be empty")
    return text


def parse_destination(text: str) -> Any:
    if text.startswith("external-service:"):
        name = text[len("external-service:"):]
        if not name:
            raise CliError(f"--to {text}: missing external service name")
        return ExternalServiceTarget(name)
    dp, sep, port = text.rpartition(":")
    if not sep or not dp or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--to {text}: expected DATAPLANE:PORT (port 1-65535) or external-service:NAME")
    return Inbound(dp, int(port))


def engine_options(fn: Any) -> Any:
    fn = click.option("--external-service-gating", type=click.Choice(["legacy", "none"]), default="legacy",
                      show_default=True,
                      help="ExternalService access: TP-gated (legacy) or Kuma 2.6+ routing (none), TP A6.")(fn)
    fn = click.option("--mesh", metavar="MESH",
                      help="Mesh of the destination (needed when its name exists in several meshes).")(fn)
    return files_option()(fn)


def build_engine(files: tuple[str, ...], gating: str = "legacy") -> TrafficEngine:
    return traffic_engine(files, "-f", gating)


# ---- check traffic ------------------------------------------------------------------------------


def _fmt(tags: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(tags.items())) + "}"


def _created(value: Optional[str]) -> str:
    return "no creationTime" if not value or value.startswith(ZERO_TIME_PREFIX) else f"created {value}"


def _where(target: Mapping[str, Any]) -> str:
    if target.get("kind") == "inbound":
        return f"{target['dataplane']}:{target['port']}"
    return f"external-service {target['name']}"


def headline(d: Any) -> str:
    line = (f"{'ALLOW' if d.allowed else 'DENY'} {_where(d.target)} (mesh {d.mesh}): {d.reason}"
            + (f", policy {d.policy}" if d.policy else ""))
    if d.from_index is not None:
        line += f" from[{d.from_index}] ({d.action})"
    return line


def source_notes(engine: TrafficEngine, source: Any, decision: Any) -> list[str]:
    """Hints the decision alone does not give (a client of another mesh, T4.1 / A12)."""
    notes: list[str] = []
    if isinstance(source, str):
        meshes = sorted({r.mesh for r in engine.store.find("Dataplane", source) if r.mesh})
        if meshes and decision.mesh not in meshes:
            notes.append(
                f"{source} is in mesh {', '.join(meshes)}, the destination in mesh {decision.mesh}: a client of "
                "another mesh has no certificate this mesh accepts, so it is denied like a client without a "
                "sidecar (T4.1, TP A12); use --mesh or a source of the same mesh")
    return notes


def explain_text(x: Any, notes: list[str]) -> str:
    """The text of `--explain` (the engine's structured explanation, worded for the CLI)."""
    d = x.decision
    lines = [headline(d)]
    if x.target_tags is not None:
        lines.append(f"  target tags: {_fmt(x.target_tags)}")
    if x.mtp is not None:  # M7.1: a MeshTrafficPermission decides; TrafficPermissions are ignored
        if d.kuma_enforcement_divergence:
            lines.append("  note: Kuma's Envoy rules would admit this client (MTP A3/A4); reported as DENY")
        lines += [qualify_ids(line, "MTP") for line in x.mtp.lines()]
    elif d.reason in NOT_CONSULTED:
        lines.append(f"  TrafficPermissions not consulted: {NOT_CONSULTED[d.reason]}")
    elif not x.candidates:
        lines.append("  no TrafficPermission of the mesh matches the target (E5)")
    else:
        for i, p in enumerate(x.candidates):
            role = "winner" if i == 0 else "shadowed"
            lines.append(f"  [{role}] {p.name} rank(exact={p.rank[0]}, wildcard={p.rank[1]}) "
                         f"{_created(p.creation_time)}")
            for s in p.destinations:
                lines.append(f"    destinations[{s.index}] {_fmt(s.selector)}: "
                             f"{'match' if s.matched else 'no match'}{_failed(s)}")
            for s in p.sources:
                lines.append(f"    sources[{s.index}] {_fmt(s.selector)} ({x.matcher} matcher): "
                             f"{'match' if s.matched else 'no match'}{_failed(s)}")
    if d.bypass_possible:
        lines.append("  note: passthrough is on; the external host may be reachable around the ES (T4.8)")
    lines += [f"  note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _failed(s: Any) -> str:
    bad = [c for c in s.tags if not c.ok]
    if not bad:
        return ""
    return " (failed: " + ", ".join(
        f"{c.key}={c.wanted} vs {c.actual if c.actual is not None else 'missing'}" for c in bad) + ")"


def explanation_dict(x: Any) -> dict[str, Any]:
    data = x.to_dict()
    data.pop("decision", None)
    data.setdefault("mtp", None)
    for c in data.get("candidates") or []:
        if str(c.get("creation_time") or "").startswith(ZERO_TIME_PREFIX):
            c["creation_time"] = None
    return data


@click.command("traffic", short_help="Is traffic SOURCE -> DEST allowed?")
@engine_options
@click.option("--from", "source", required=True, metavar="SOURCE",
              help="Dataplane name | tags:KEY=VALUE,... | non-mesh (a client without a sidecar).")
@click.option("--to", "dest", required=True, metavar="DEST", help="DATAPLANE:PORT | external-service:NAME.")
@click.option("--explain", is_flag=True, help="Show the candidate policies, ranks and per-tag matches.")
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def check_traffic(files: tuple[str, ...], mesh: Optional[str], external_service_gating: str, source: str,
                  dest: str, explain: bool, output: Optional[str], out: Optional[str]) -> int:
    """Is traffic from SOURCE to DEST allowed? Exit 0 allowed, 1 denied, 2 bad input.

    \b
    meshauthz check traffic -f examples/ --from web-1 --to backend-1:8080
    meshauthz check traffic -f examples/ --from non-mesh --to payments-1:9090 --explain
    """
    fmt = resolve_format(output, out, FORMATS)
    src, dst = parse_source(source), parse_destination(dest)
    engine = build_engine(files, external_service_gating)
    x = engine.explain(source=src, destination=dst, mesh=mesh) if explain else None
    d = x.decision if x is not None else engine.check(source=src, destination=dst, mesh=mesh)
    notes = source_notes(engine, src, d)
    data = {**d.to_dict(), "notes": notes}
    if x is not None:
        data["explanation"] = explanation_dict(x)

    def text() -> str:
        if x is not None:
            return explain_text(x, notes)
        return headline(d) + "\n" + "".join(f"  note: {n}\n" for n in notes)

    emit(fmt, out, data, text, lambda: kv_table({k: v for k, v in data.items() if k != "explanation"}))
    return EXIT_OK if d.allowed else EXIT_FINDINGS


# ---- inspect ------------------------------------------------------------------------------------


def inspection_dict(ins: Any) -> dict[str, Any]:
    """`Inspection.to_dict` with who decides each inbound made explicit: when MeshTrafficPermissions
    select an inbound they decide it (M7.1) and the TrafficPermission that would match is ignored,
    so `policy` is null there and the TP is `ignored_traffic_permission`."""
    data = ins.to_dict()
    for raw, r in zip(data["inbounds"], ins.inbounds):
        tp = raw.get("policy")
        if r.prometheus:
            decided = "not-enforced"
        elif r.mtps:
            decided = "MeshTrafficPermission"
        elif tp:
            decided = "TrafficPermission"
        else:
            decided = "no-policy"
        mtp = decided == "MeshTrafficPermission"
        ordered = {"port": raw["port"], "tags": raw["tags"], "prometheus": raw["prometheus"], "decided_by": decided,
                   "policy": None if mtp else tp, "ignored_traffic_permission": tp if mtp else None,
                   "shadowed": [] if mtp else raw.get("shadowed", [])}
        ordered.update({k: v for k, v in raw.items() if k not in ordered})
        raw.clear()
        raw.update(ordered)
    return data


@click.command("inspect", short_help="The policies governing each inbound of a dataplane.")
@click.argument("dataplane")
@engine_options
@output_options(FORMATS)
@quiet_option
@fail_on_errors
def inspect_cmd(dataplane: str, files: tuple[str, ...], mesh: Optional[str], external_service_gating: str,
                output: Optional[str], out: Optional[str]) -> int:
    """Which policy governs each inbound of DATAPLANE, and which ones it shadows.

    For each inbound: the TrafficPermission and the shadowed ones, or the MeshTrafficPermissions in
    priority order with Kuma's rule list (then TrafficPermissions are ignored there).
    """
    fmt = resolve_format(output, out, FORMATS)
    ins = build_engine(files, external_service_gating).inspect(dataplane, mesh=mesh)
    data = inspection_dict(ins)

    def table() -> str:
        rows = [(i["port"], _fmt(i["tags"]), i["decided_by"],
                 ", ".join(i["mtp_policies"]) if i["mtp_policies"] else (i["policy"] or "-"),
                 ", ".join(i["shadowed"]) or (i["ignored_traffic_permission"] and
                                              f"ignored: {i['ignored_traffic_permission']}") or "-")
                for i in data["inbounds"]]
        return render_table(("PORT", "TAGS", "DECIDED BY", "POLICIES", "SHADOWED / IGNORED"), rows,
                            title=f"Dataplane {data['mesh']}/{data['dataplane']}")

    emit(fmt, out, data, lambda: qualify_ids(str(ins), "MTP") + "\n", table)
    return EXIT_OK


@click.group("check", short_help="Decide one request (check traffic).")
def check_group() -> None:
    """Decide one request (exit 0 allowed, 1 denied, 2 bad input)."""


check_group.add_command(check_traffic)


def register(cli: click.Group) -> None:
    cli.add_command(check_group)
    cli.add_command(inspect_cmd)
