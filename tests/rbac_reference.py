"""An obviously-correct, slow reference of the RBAC decision, written from rbac.md (not from the
implementation). Universal-form resources only. Used by the differential test."""

from __future__ import annotations

import re
from typing import Any, Optional

TARGETREF = {"MeshTrafficPermission", "MeshHTTPRoute", "MeshTimeout", "MeshTrace"}
CONNECTION = {"TrafficPermission", "TrafficRoute"}
DATAPLANE = {"TrafficTrace", "ProxyTemplate"}
GLOBAL = {"Mesh", "GlobalSecret", "AccessRole", "AccessRoleBinding", "Zone"}
SECRETS = {"Secret", "GlobalSecret"}


def family(t: str) -> str:  # R4.4
    if t in TARGETREF:
        return "targetRef"
    if t in CONNECTION:
        return "connection"
    if t in DATAPLANE:
        return "dataplane"
    return "none"


def go_quote(s: str) -> str:  # R8.1 (Go IsPrint == Python isprintable)
    out = ['"']
    esc = {
        '"': '\\"',
        "\\": "\\\\",
        "\a": "\\a",
        "\b": "\\b",
        "\f": "\\f",
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\v": "\\v",
    }
    for c in s:
        if c in esc:
            out.append(esc[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return "".join(out) + '"'


def glob(pattern: str, value: str) -> bool:  # R5.8
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), value, re.DOTALL) is not None


def covers(p: dict[str, str], s: dict[str, str]) -> bool:  # R5.8
    return all(k in s and glob(v, s[k]) for k, v in p.items())


def ref_match(q: dict[str, Any], p: dict[str, Any]) -> bool:  # R5.7
    if q.get("kind") != p.get("kind"):
        return False
    for k, v in q.items():
        if k == "kind":
            continue
        if k not in p:
            return False
        if isinstance(v, dict):
            if not isinstance(p[k], dict) or any(p[k].get(a) != b for a, b in v.items()):
                return False
        elif isinstance(v, list):
            if not p[k] or any(x not in v for x in p[k]):
                return False
        elif p[k] != v:
            return False
    return True


def elements(res: dict[str, Any]) -> list[tuple[str, Any]]:  # R4.5 / R4.6
    fam = family(res["type"])
    if fam == "targetRef":
        spec = res.get("spec") or {}
        out: list[tuple[str, Any]] = [("to", x["targetRef"]) for x in spec.get("to") or []]
        out += [("from", x["targetRef"]) for x in spec.get("from") or []]
        if spec.get("rules"):
            out.append(("from", {"kind": "Mesh"}))
        return out or [("top", None)]
    if fam == "connection":
        srcs = [x.get("match") or {} for x in res.get("sources") or []] or [{}]
        dsts = [x.get("match") or {} for x in res.get("destinations") or []] or [{}]
        return [("pair", (s, d)) for s in srcs for d in dsts]
    if fam == "dataplane":
        return [("sel", x.get("match") or {}) for x in res.get("selectors") or []] or [("sel", {})]
    return []


def q_covers(q: dict[str, Any], res: dict[str, Any], e: tuple[str, Any]) -> bool:  # R5.6
    kind, x = e
    if kind in ("top", "to", "from"):
        if not any(k in q for k in ("targetRef", "to", "from")) or any(
            k in q for k in ("sources", "destinations", "selectors", "dpToken")
        ):
            return False
        top = (res.get("spec") or {}).get("targetRef") or {"kind": "Mesh"}
        if "targetRef" in q and not ref_match(q["targetRef"], top):
            return False
        free = "to" not in q and "from" not in q
        if kind == "top":
            return free
        if kind in q:
            return ref_match(q[kind]["targetRef"], x)
        return free
    if kind == "pair":
        if set(q) - {"sources", "destinations"} or not q:
            return False
        s, d = x
        return ("sources" not in q or covers(q["sources"].get("match") or {}, s)) and (
            "destinations" not in q or covers(q["destinations"].get("match") or {}, d)
        )
    if kind == "sel":
        return set(q) == {"selectors"} and covers(q["selectors"].get("match") or {}, x)
    return False


def mesh_ok(rule: dict[str, Any], scope_mesh: Optional[str]) -> bool:  # R5.5
    m = rule.get("mesh") or ""
    return m == "" or (scope_mesh is not None and (m == "*" or m == scope_mesh))


def res_mesh(res: dict[str, Any]) -> Optional[str]:
    return None if res["type"] in GLOBAL else res["mesh"]


def grants(rule: dict[str, Any], action: str, res: dict[str, Any]) -> bool:  # R5.4
    if action not in (rule.get("access") or []):
        return False
    if rule.get("types") and res["type"] not in rule["types"]:
        return False
    if rule.get("names") and res["name"] not in rule["names"]:
        return False
    if not mesh_ok(rule, res_mesh(res)):
        return False
    when = rule.get("when") or []
    if not when:
        return True
    els = elements(res)
    return bool(els) and all(any(q_covers(q, res, e) for q in when) for e in els)


def grants_token(rule: dict[str, Any], action: str, req: dict[str, Any]) -> bool:  # R5.12 / R5.13
    if action not in (rule.get("access") or []):
        return False
    when = rule.get("when") or []
    if action == "GENERATE_DATAPLANE_TOKEN":
        if not mesh_ok(rule, req["mesh"]):
            return False
        if not when:
            return True
        for q in when:
            if "dpToken" not in q:
                continue
            allowed: dict[str, set[str]] = {}
            for t in q["dpToken"].get("tags") or []:
                allowed.setdefault(t["name"], set()).add(t.get("value", ""))
            tags = req.get("tags") or {}
            if all(tags.get(n) and all(v in vs for v in tags[n]) for n, vs in allowed.items()):
                return True
        return False
    return not (rule.get("mesh") or "") and not when


def user_rules(
    roles: list[dict[str, Any]], bindings: list[dict[str, Any]], name: str, groups: list[str]
) -> list[dict[str, Any]]:  # R5.1 / R5.2
    role_names: set[str] = set()
    for b in bindings:
        if any(
            (s["type"] == "User" and s["name"] == name) or (s["type"] == "Group" and s["name"] in groups)
            for s in b.get("subjects") or []
        ):
            role_names |= set(b.get("roles") or [])
    return [r for role in roles if role["name"] in role_names for r in role.get("rules") or []]


def decide(
    roles: list[dict[str, Any]],
    bindings: list[dict[str, Any]],
    name: str,
    groups: list[str],
    action: str,
    res: Optional[dict[str, Any]] = None,
    old: Optional[dict[str, Any]] = None,
    token: Optional[dict[str, Any]] = None,
    channel: str = "api",
) -> tuple[bool, Optional[str]]:
    """(allowed, denial text on `channel`)."""
    rules = user_rules(roles, bindings, name, groups)
    if action.startswith("GENERATE_"):
        ok = any(grants_token(r, action, token or {}) for r in rules)
    elif action in ("GET", "LIST"):
        assert res is not None
        ok = res["type"] not in SECRETS or any(  # A12
            grants(r, a, res) and (action == "GET" or not r.get("names"))
            for r in rules
            for a in ("CREATE", "UPDATE", "DELETE")
        )
    elif action == "UPDATE":  # R5.9
        assert res is not None and old is not None
        ok = any(grants(r, action, old) for r in rules) and any(grants(r, action, res) for r in rules)
    else:
        assert res is not None
        ok = any(grants(r, action, res) for r in rules)
    if ok:
        return True, None
    reason = f"user {go_quote(name + '/' + ','.join(groups))} cannot access the resource"
    return False, (f"Access Denied ({reason})" if channel == "api" else f"access denied: {reason}")
