"""rbac.yaml handlers (conformance.md): every result through the public `meshauthz.rbac` API."""

from __future__ import annotations

from typing import Any

from ..rbac import TOKEN_KINDS, Authorizer, User
from .handlers import handler


def _answer(vector: dict[str, Any], authz: Authorizer) -> dict[str, Any]:
    u = vector.get("user") or {}
    user = User(u.get("name", ""), u.get("groups") or [])
    action = vector["action"]
    if action in TOKEN_KINDS.values():
        d = authz.check_token(user, action, vector.get("token_request") or {})
    else:
        d = authz.check(user, action, vector.get("resource"), vector.get("old_resource"))
    return {"decision": "allow" if d.allowed else "deny", "error": d.message(vector.get("channel", "api"))}


@handler("rbac:rbac")
def rbac_mode(vector: dict[str, Any], file_doc: dict[str, Any]) -> dict[str, Any]:
    roles, bindings = file_doc.get("roles") or {}, file_doc.get("bindings") or {}
    docs = [roles[k] for k in vector.get("roles") or []] + [bindings[k] for k in vector.get("bindings") or []]
    return _answer(vector, Authorizer(docs))


@handler("rbac:static")
def static_mode(vector: dict[str, Any], file_doc: dict[str, Any]) -> dict[str, Any]:
    return _answer(vector, Authorizer(mode="static"))
