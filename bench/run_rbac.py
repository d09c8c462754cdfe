"""RBAC ratios from one run (issue #11 targets; reported, never asserted). Release build first:

    .venv/bin/maturin develop --release -q && .venv/bin/python bench/run_rbac.py [--rows 1000000]

Measures, on `workloads_rbac.rbac_world` (100 and 2,000 roles): `Authorizer.check` with a dict,
with an `RbacTarget` handle, the PyO3 no-op taking the same arguments (it does not convert the
dict), UPDATE with `old`, the 10-line pure-Python loop over the user's rules, and Arrow batch
rows/s. Prints a markdown table (best of 7 rounds per measurement, one process; CPU time of the
calling thread, except the threads=2 batch row, which is wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from meshauthz.rbac import Authorizer, User  # noqa: E402
from workloads_rbac import python_check, rbac_world  # noqa: E402


def per_call(fn: Callable[[], int], rounds: int = 7, clock: Callable[[], float] = time.thread_time) -> float:
    """Best-of-`rounds` seconds per call; `fn` runs a loop and returns its call count. CPU time of
    this thread by default (a shared, loaded machine deschedules us; wall time would count that)."""
    best = float("inf")
    for _ in range(rounds):
        t = clock()
        n = fn()
        best = min(best, (clock() - t) / n)
    return best


def measure(n_roles: int, rows: int) -> dict[str, Any]:
    w = rbac_world(n_roles)
    authz = Authorizer(w.documents)
    ps = authz.policy_set
    users = [User(n, g) for n, g in w.users]
    reqs = [(users[u], a, r, r if a == "UPDATE" else None) for u, a, r in w.requests]
    handles = {id(r): authz.target(r) for _, _, r, _ in reqs}
    hreqs = [(u, a, handles[id(r)], handles[id(o)] if o is not None else None) for u, a, r, o in reqs]
    updates = [q for q in reqs if q[1] == "UPDATE"]
    hupdates = [q for q in hreqs if q[1] == "UPDATE"]
    loop_reqs = [(w.user_rules[u], a, r) for u, a, r in w.requests]
    # Sanity: the engine agrees with the pure-Python loop on every request.
    agree = sum(authz.check(u, a, r, o).allowed == python_check(rules, a, r)
                for (u, a, r, o), (rules, _, _) in zip(reqs, loop_reqs))
    check = authz.check

    def run(qs: list[Any], f: Callable[..., Any]) -> Callable[[], int]:
        def go() -> int:
            for u, a, r, o in qs:
                f(u, a, r, o)
            return len(qs)
        return go

    def loop() -> int:
        for rules, a, r in loop_reqs:
            python_check(rules, a, r)
        return len(loop_reqs)

    out: dict[str, Any] = {"roles": n_roles, "rules": n_roles * 5, "requests": len(reqs), "agree": agree,
                           "allowed": sum(python_check(*q) for q in loop_reqs)}
    out["noop"] = per_call(run(reqs, ps._noop))
    out["dict"] = per_call(run(reqs, check))
    out["handle"] = per_call(run(hreqs, check))
    out["core_dict"] = per_call(run(reqs, ps.check))
    out["core_handle"] = per_call(run(hreqs, ps.check))
    out["allowed_dict"] = per_call(run(reqs, ps.allowed))
    out["allowed_handle"] = per_call(run(hreqs, ps.allowed))
    out["noop_update"] = per_call(run(updates, ps._noop))
    out["update_dict"] = per_call(run(updates, check))
    out["update_handle"] = per_call(run(hupdates, check))
    out["loop"] = per_call(loop)
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        return out
    reps = max(1, rows // len(w.requests))
    texts = {id(r): json.dumps(r) for _, _, r in w.requests}
    base = {
        "user": [w.users[u][0] for u, _, _ in w.requests],
        "groups": [w.users[u][1] for u, _, _ in w.requests],
        "action": [a for _, a, _ in w.requests],
        "resource": [texts[id(r)] for _, _, r in w.requests],
        "old_resource": [texts[id(r)] if a == "UPDATE" else None for _, a, r in w.requests],
    }
    cols = {
        "user": pa.array(base["user"] * reps).dictionary_encode(),
        "groups": pa.array(base["groups"] * reps, pa.list_(pa.string())),
        "action": pa.array(base["action"] * reps).dictionary_encode(),
        "resource": pa.array(base["resource"] * reps).dictionary_encode(),
        "old_resource": pa.array(base["old_resource"] * reps).dictionary_encode(),
    }
    table = pa.table(cols)
    res = authz.check_batch(table)
    out["batch_agree"] = sum(a == b for a, b in zip(res.allowed[: len(reqs)],
                                                     (python_check(*q) for q in loop_reqs)))
    for threads, clock in ((1, time.thread_time), (2, time.perf_counter)):  # threads=2: wall time
        out[f"batch_rows_s_{threads}"] = 1.0 / per_call(
            lambda t=threads: len(authz.check_batch(table, threads=t)) or 1, rounds=3, clock=clock)  # type: ignore[misc]
    out["batch_rows"] = table.num_rows
    return out


def fmt_ns(s: float) -> str:
    return f"{s * 1e9:,.0f} ns"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--roles", type=int, nargs="*", default=[100, 2000])
    args = ap.parse_args()
    results = [measure(n, args.rows) for n in args.roles]
    print(f"RBAC, one run: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| measurement | " + " | ".join(f"{r['roles']:,} roles × 5 rules" for r in results) + " | target |")
    print("|---|" + "---|" * len(results) + "---|")

    def row(label: str, f: Callable[[dict[str, Any]], str], target: str = "") -> None:
        print(f"| {label} | " + " | ".join(f(r) for r in results) + f" | {target} |")

    row("requests (allowed) / engine = pure-Python loop", lambda r: f"{r['requests']:,} ({r['allowed']:,}) / "
        f"{r['agree']:,} agree")
    row("PyO3 no-op, same arguments (`_noop`)", lambda r: fmt_ns(r["noop"]))
    row("`Authorizer.check`, dict", lambda r: fmt_ns(r["dict"]))
    row("`Authorizer.check`, handle", lambda r: fmt_ns(r["handle"]))
    row("`RbacPolicySet.check` (no Python frame), dict / handle",
        lambda r: f"{fmt_ns(r['core_dict'])} / {fmt_ns(r['core_handle'])}")
    row("`RbacPolicySet.allowed` (bool, no result object), dict / handle",
        lambda r: f"{fmt_ns(r['allowed_dict'])} / {fmt_ns(r['allowed_handle'])}")
    row("UPDATE with `old`: no-op / dict / handle",
        lambda r: f"{fmt_ns(r['noop_update'])} / {fmt_ns(r['update_dict'])} / {fmt_ns(r['update_handle'])}")
    row("10-line pure-Python loop over the user's rules", lambda r: fmt_ns(r["loop"]))
    row("dict ÷ handle", lambda r: f"{r['dict'] / r['handle']:.2f}×", "≤ 2×")
    row("handle ÷ no-op", lambda r: f"{r['handle'] / r['noop']:.2f}×", "≤ 2.5×")
    row("UPDATE dict ÷ handle; handle ÷ no-op", lambda r: f"{r['update_dict'] / r['update_handle']:.2f}× ; "
        f"{r['update_handle'] / r['noop_update']:.2f}×", "≤ 2× ; ≤ 2.5×")
    row("pure-Python loop ÷ check (dict / handle)", lambda r: f"{r['loop'] / r['dict']:.2f}× / "
        f"{r['loop'] / r['handle']:.2f}×", "≥ 4×")
    row("`allowed`: dict ÷ handle; handle ÷ no-op; loop ÷ handle",
        lambda r: f"{r['allowed_dict'] / r['allowed_handle']:.2f}× ; {r['allowed_handle'] / r['noop']:.2f}× ; "
        f"{r['loop'] / r['allowed_handle']:.2f}×")
    if "batch_rows" in results[0]:
        row("Arrow batch (dictionary columns, UPDATE rows with `old_resource`), rows",
            lambda r: f"{r['batch_rows']:,} ({r['batch_agree']:,}/{r['requests']:,} agree)")
        row("Arrow batch, threads=1", lambda r: f"{r['batch_rows_s_1'] / 1e6:.2f} M rows/s", "≥ 10 M/s")
        row("Arrow batch, threads=2 (wall time)", lambda r: f"{r['batch_rows_s_2'] / 1e6:.2f} M rows/s")


if __name__ == "__main__":
    main()
