"""AccessRole / AccessRoleBinding validation (rbac.md R2.1, A7, A17)."""

from __future__ import annotations

from typing import Any

from meshauthz.validation import validate_spec


def fields(kind: str, body: dict[str, Any]) -> list[str]:
    return [x.field for x in validate_spec(kind, body)]


def test_r2_1_valid_doc_role() -> None:
    role = {"rules": [{"mesh": "default", "types": ["MeshTrafficPermission"], "access": ["CREATE", "DELETE"],
                       "when": [{"targetRef": {"kind": "MeshService", "name": "backend"}},
                                {"destinations": {"match": {"kuma.io/service": "backend"}}},
                                {"dpToken": {"tags": [{"name": "kuma.io/service", "value": "web"}]}}]}]}
    assert fields("AccessRole", role) == []


def test_a17_unknown_access_value() -> None:
    assert fields("AccessRole", {"rules": [{"access": ["CREATE", "READ"]}]}) == ["rules[0].access[1]"]


def test_a17_unknown_qualifier_key_and_empty_qualifier() -> None:
    assert fields("AccessRole", {"rules": [{"access": ["CREATE"], "when": [{"service": "x"}, {}]}]}) == [
        "rules[0].when[0].service", "rules[0].when[1]"]


def test_a7_mixed_families_rejected() -> None:
    q = {"targetRef": {"kind": "Mesh"}, "sources": {"match": {"a": "b"}}}
    assert fields("AccessRole", {"rules": [{"access": ["CREATE"], "when": [q]}]}) == ["rules[0].when[0]"]


def test_r2_1_target_ref_needs_kind_and_dp_token_tag_needs_name() -> None:
    q = [{"targetRef": {"name": "x"}}, {"to": {"targetRef": {}}}, {"dpToken": {"tags": [{"value": "v"}]}}]
    assert fields("AccessRole", {"rules": [{"access": ["CREATE"], "when": q}]}) == [
        "rules[0].when[0].targetRef.kind", "rules[0].when[1].to.targetRef.kind",
        "rules[0].when[2].dpToken.tags[0].name"]


def test_r2_1_binding_subjects() -> None:
    body = {"subjects": [{"type": "user", "name": "a"}, {"type": "Group", "name": ""}, {"type": "User", "name": "x"}],
            "roles": ["admin"]}
    assert fields("AccessRoleBinding", body) == ["subjects[0].type", "subjects[1].name"]


def test_r2_2_empty_access_is_not_an_error() -> None:
    assert fields("AccessRole", {"rules": [{"access": []}]}) == []
