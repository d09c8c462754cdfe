"""MeshTrafficPermission validation (meshtrafficpermission.md §3): M3.1–M3.8.
Expected values are written from the spec."""

from __future__ import annotations

from typing import Any

from meshauthz.validation import deprecations, validate_schema, validate_spec


def v(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(x.field, x.message) for x in validate_spec("MeshTrafficPermission", {"spec": spec})]


ALLOW = {"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}


def test_m2_4_omitted_target_ref_is_valid() -> None:
    assert v({"from": [ALLOW]}) == []


def test_m3_1_order_top_then_from_then_items() -> None:
    spec = {"targetRef": {"kind": "Mesh", "tags": {"a": "b"}},
            "from": [{"targetRef": {"kind": "MeshSubset", "name": "x"}, "default": {}},
                     {"targetRef": {"kind": "Dataplane"}}]}
    assert v(spec) == [("spec.targetRef.tags", "must not be set with kind Mesh"),
                       ("spec.from[0].targetRef.name", "must not be set with kind MeshSubset"),
                       ("spec.from[0].default.action", "must be defined"),
                       ("spec.from[1].targetRef.kind", "value is not supported"),
                       ("spec.from[1].default.action", "must be defined")]


def test_m3_2_from_required() -> None:
    assert v({"targetRef": {"kind": "Mesh"}}) == [("spec.from", "needs at least one item")]
    assert v({"from": []}) == [("spec.from", "needs at least one item")]


def test_m3_3_kind_must_be_defined_stops() -> None:
    assert v({"from": [{"targetRef": {"name": "Bad!"}, "default": {"action": "Allow"}}]}) == [
        ("spec.from[0].targetRef.kind", "must be defined")]


def test_m3_3_supported_kinds_top_and_from() -> None:
    assert v({"targetRef": {"kind": "MeshGateway", "name": "gw"}, "from": [ALLOW]}) == [
        ("spec.targetRef.kind", "value is not supported")]
    assert v({"from": [{"targetRef": {"kind": "Dataplane"}, "default": {"action": "Allow"}}]}) == [
        ("spec.from[0].targetRef.kind", "value is not supported")]


def test_m3_3_mesh_kind() -> None:
    ref = {"kind": "Mesh", "name": "x", "mesh": "m", "labels": {"a": "b"}, "namespace": "n", "sectionName": "s",
           "proxyTypes": []}
    assert v({"targetRef": ref, "from": [ALLOW]}) == [
        ("spec.targetRef.name", "using name with kind Mesh is not yet supported"),
        ("spec.targetRef.mesh", "must not be set with kind Mesh"),
        ("spec.targetRef.labels", "must not be set with kind Mesh"),
        ("spec.targetRef.namespace", "must not be set with kind Mesh"),
        ("spec.targetRef.sectionName", "must not be set with kind Mesh"),
        ("spec.targetRef.proxyTypes", "must be undefined or have at least one element")]


def test_m3_3_dataplane_kind() -> None:
    ref = {"kind": "Dataplane", "tags": {"a": "b"}, "proxyTypes": ["Sidecar"], "labels": {"app": "x"}, "name": "dp"}
    assert v({"targetRef": ref, "from": [ALLOW]}) == [
        ("spec.targetRef.tags", "must not be set with kind Dataplane"),
        ("spec.targetRef.proxyTypes", "must not be set with kind Dataplane"),
        ("spec.targetRef.labels", "either labels or name and namespace must be specified")]
    # sectionName only with inbound (from) policies
    assert v({"targetRef": {"kind": "Dataplane", "sectionName": "p"}}) == [
        ("spec.targetRef.sectionName", "can only be used with inbound policies"),
        ("spec.from", "needs at least one item")]
    assert v({"targetRef": {"kind": "Dataplane", "name": "dp", "sectionName": "p"}, "from": [ALLOW]}) == []


def test_m3_3_meshservice_kind() -> None:
    assert v({"targetRef": {"kind": "MeshService"}, "from": [ALLOW]}) == [
        ("spec.targetRef.name", "must be set with kind MeshService")]
    assert v({"targetRef": {"kind": "MeshService", "name": "Backend", "tags": {"a": "b"}}, "from": [ALLOW]}) == [
        ("spec.targetRef.name", "invalid characters: must consist of lower case alphanumeric characters, "
                                "'-', '.' and '_'."),
        ("spec.targetRef.tags", "must not be set with kind MeshService")]


def test_m3_3_meshservicesubset_kind_and_m3_5_selector_values() -> None:
    ref = {"kind": "MeshServiceSubset", "tags": {"version": "*", "p": "a/b", "bad": "x*"}}
    assert v({"from": [{"targetRef": ref, "default": {"action": "Deny"}}]}) == [
        ("spec.from[0].targetRef.name", "must be set with kind MeshServiceSubset"),
        ('spec.from[0].targetRef.tags["bad"]', 'tag value must consist of alphanumeric characters, dots, dashes, '
                                               'slashes and underscores or be "*"')]


def test_m3_4_meshsubset_tags() -> None:
    ref = {"kind": "MeshSubset", "tags": {"zone": "", "bad key": "x", "v": "*"}}
    assert v({"from": [{"targetRef": ref, "default": {"action": "Allow"}}]}) == [
        ('spec.from[0].targetRef.tags["bad key"]', "tag name must consist of alphanumeric characters, dots, dashes, "
                                                   "slashes and underscores"),
        ('spec.from[0].targetRef.tags["v"]', "tag value must consist of alphanumeric characters, dots, dashes and "
                                             "underscores"),
        ('spec.from[0].targetRef.tags["zone"]', "tag value must be non-empty")]
    assert v({"from": [{"targetRef": {"kind": "MeshSubset", "tags": {}}, "default": {"action": "Allow"}}]}) == []


def test_m3_6_action_required() -> None:
    assert v({"from": [{"targetRef": {"kind": "Mesh"}}]}) == [("spec.from[0].default.action", "must be defined")]


def test_m3_7_schema_enum_action() -> None:
    body = {"spec": {"from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "allow"}}]}}
    assert [x.to_dict() for x in validate_schema("MeshTrafficPermission", body)] == [
        {"field": "spec.from[0].default.action",
         "message": "in body should be one of [Allow Deny AllowWithShadowDeny]"}]
    # the spec layer does not look at enum values
    assert validate_spec("MeshTrafficPermission", body) == []
    assert validate_schema("MeshTrafficPermission", {"spec": {"from": [ALLOW]}}) == []


def test_m3_8_deprecations_order() -> None:
    body = {"spec": {"targetRef": {"kind": "MeshService", "name": "b"},
                     "from": [{"targetRef": {"kind": "MeshService", "name": "w"}}, ALLOW,
                              {"targetRef": {"kind": "MeshService", "name": "x"}}]}}
    from_msg = ("MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with "
                "'kuma.io/service' instead")
    assert deprecations("MeshTrafficPermission", body) == [
        "MeshService value for 'targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' tag instead",
        from_msg, from_msg]
    assert deprecations("MeshTrafficPermission", {"spec": {"targetRef": {"kind": "MeshSubset"}}}) == [
        "MeshSubset value for 'targetRef.kind' is deprecated, use Dataplane with labels instead"]
    assert deprecations("MeshTrafficPermission", {"spec": {"targetRef": {"kind": "Dataplane"}}}) == []


def test_wrong_types_are_reported_not_raised() -> None:
    """Wrong JSON types are schema violations at their path (the OpenAPI step, S2.7), never exceptions;
    the semantic step still reports what is missing and deprecations find nothing to warn about."""
    def schema_paths(spec: Any) -> dict[tuple[Any, ...], str]:
        return {v.path: v.message for v in validate_schema("MeshTrafficPermission", {"spec": spec})}

    assert schema_paths({"from": "x"}) == {("spec", "from"): 'in body must be of type array: "string"'}
    wrong = schema_paths({"targetRef": "Mesh", "from": [None, 3]})
    assert wrong[("spec", "targetRef")] == 'in body must be of type object: "string"'
    assert wrong[("spec", "from", 1)] == 'in body must be of type object: "integer"'
    wrong = schema_paths({"from": [{"targetRef": [], "default": 1}]})
    assert wrong == {("spec", "from", 0, "targetRef"): 'in body must be of type object: "array"',
                     ("spec", "from", 0, "default"): 'in body must be of type object: "integer"'}
    for spec in ({"from": "x"}, {"targetRef": "Mesh", "from": [None, 3]}, {"from": [{"targetRef": [], "default": 1}]}):
        assert validate_spec("MeshTrafficPermission", {"spec": spec}), spec  # never silently valid
        assert deprecations("MeshTrafficPermission", {"spec": spec}) == []
    assert [(v.path, v.message) for v in validate_spec("MeshTrafficPermission", {"spec": None})] == [
        (("spec", "from"), "needs at least one item")]
