"""Handlers for the MeshTrafficPermission-only kinds: subset_*, matched_policies, select_rules."""

from __future__ import annotations

from typing import Any

from .. import load_dicts
from ..mtp import MtpEngine, subset_contains, subset_is_subset, subset_iter
from .handlers import handler


def _engine(vector: dict[str, Any]) -> MtpEngine:
    return MtpEngine(load_dicts(vector.get("resources") or []))


@handler("subset_contains")
def _contains(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    return {"contains": subset_contains(q["subset"], q["element"] or {})}


@handler("subset_is_subset")
def _is_subset(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    q = vector["query"]
    return {"is_subset": subset_is_subset(q["s1"], q["s2"])}


@handler("subset_iter")
def _iter(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    return {"subsets": subset_iter(vector["query"]["tags"])}


@handler("matched_policies")
def _matched(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    d = vector["query"]["destination"]
    return {"policies": _engine(vector).matched_policies(str(d["dataplane"]), int(d["port"]), d.get("mesh"))}


@handler("select_rules")
def _rules(vector: dict[str, Any], _file: dict[str, Any]) -> dict[str, Any]:
    d = vector["query"]["destination"]
    order = (vector.get("options") or {}).get("policy_order", "kuma")
    rules = _engine(vector).select_rules(str(d["dataplane"]), int(d["port"]), order, d.get("mesh"))
    return {"rules": None if rules is None else [r.to_dict() for r in rules]}
