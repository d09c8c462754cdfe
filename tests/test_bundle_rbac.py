"""Bundles that activate their Authorizer (issue #13): a signed, verified bundle's compiled section
carries the AccessRoles / AccessRoleBindings as the core's values (load order), and its Authorizer
is compiled from them without reading a resource row or converting a document. It decides, denies,
explains and answers `what_can` exactly as an Authorizer built from the YAML, in every mode; a
spliced, truncated or garbage RBAC part is a `BundleError`; a section without the part (format 2,
or written without it) compiles from the resources; an unverified bundle never reads it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import meshauthz
import meshauthz.bundle as mb
import meshauthz.rbac.authorizer as authorizer_mod
from meshauthz import Authorizer, BundleError, User
from test_bundle_activation import KEY, PUBLIC, _assemble, _sections  # _assemble signs with KEY
from test_rbac_differential import world as rbac_world

MODES = [("rbac", "rbac"), ("rbac", "open"), ("rbac", "static-admin"), ("static", "rbac")]

ROLES = [
    {"type": "AccessRole", "name": "writer", "rules": [
        {"types": ["MeshTimeout", "TrafficPermission"], "mesh": "default", "access": ["CREATE", "UPDATE"],
         "when": [{"targetRef": {"kind": "MeshService", "name": "web"}}]},
        {"access": ["GENERATE_DATAPLANE_TOKEN"], "when": [{"dpToken": {"tags": [{"name": "svc", "value": "web"}]}}]},
    ]},
    {"type": "AccessRole", "name": "admin", "rules": [{"access": ["CREATE", "UPDATE", "DELETE"]}]},
]
BINDINGS = [
    {"type": "AccessRoleBinding", "name": "b-alice", "subjects": [{"type": "User", "name": "alice"}],
     "roles": ["writer", "missing"]},
    {"type": "AccessRoleBinding", "name": "b-ops", "subjects": [{"type": "Group", "name": "ops"}],
     "roles": ["admin"]},
]
TIMEOUT = {"type": "MeshTimeout", "name": "t", "mesh": "default",
           "spec": {"targetRef": {"kind": "MeshService", "name": "web"}}}
OTHER = {"type": "MeshTimeout", "name": "t", "mesh": "default",
         "spec": {"targetRef": {"kind": "MeshService", "name": "db"}}}


def _loaded(docs: list[dict[str, Any]]) -> list[meshauthz.Resource]:
    result = meshauthz.loader.load_objects(docs)
    assert not result.problems
    return result.resources


def _activated(resources: list[meshauthz.Resource], mode: str = "rbac", secret_reads: str = "rbac") -> Authorizer:
    b = mb.loads(mb.dumps(resources, sign_key=KEY), verify_key=PUBLIC)
    assert b.verified
    return b.authorizer(mode, secret_reads=secret_reads)  # type: ignore[no-any-return]


def _decision(authz: Authorizer, c: dict[str, Any]) -> Any:
    user = User(*c["user"])
    try:
        if "token" in c:
            d = authz.explain(user, c["action"], token_request=c["token"])
            allowed = authz.allowed(user, c["action"], token_request=c["token"])
        else:
            d = authz.explain(user, c["action"], c["resource"], c.get("old"))
            allowed = authz.allowed(user, c["action"], c["resource"], c.get("old"))
        return (allowed, d.allowed, d.reason, d.grant, d.old_grant, d.uncovered, d.message(c["channel"]), str(d))
    except meshauthz.MeshauthzError as e:
        return ("error", type(e).__name__, str(e))


def _what_can(authz: Authorizer, user: tuple[str, list[str]]) -> Any:
    caps = authz.what_can(User(*user))
    return (caps.mode, caps.roles, caps.missing_roles, caps.notes, [repr(p) for p in caps.permissions])


def _batch(authz: Authorizer, cases: list[dict[str, Any]]) -> Any:
    rows = [(c["user"][0], c["user"][1], c["action"], json.dumps(c["resource"])) for c in cases if "resource" in c]
    res = authz.check_batch(rows)
    return list(res.allowed), list(res.reason), list(res.policy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rbac_world())
def test_activated_authorizer_decides_as_from_yaml(w: Any) -> None:
    """Every mode and `secret_reads`: checks, `allowed`, explanations, denial texts, `what_can`,
    batches, role and binding names of the activated Authorizer equal those from the YAML."""
    roles, bindings, cases = w
    resources = _loaded(roles + bindings)
    data = mb.dumps(resources, sign_key=KEY)
    users = sorted({(c["user"][0], tuple(c["user"][1])) for c in cases})
    for mode, secret_reads in MODES:
        want = Authorizer(meshauthz.loader.load_objects(roles + bindings), mode, secret_reads=secret_reads)
        got = mb.loads(data, verify_key=PUBLIC).authorizer(mode, secret_reads=secret_reads)
        assert "_pending" in got.__dict__  # activated (names built on first use), not compiled
        assert [_decision(got, c) for c in cases] == [_decision(want, c) for c in cases]
        assert _batch(got, cases) == _batch(want, cases)
        assert [_what_can(got, (u, list(g))) for u, g in users] == [_what_can(want, (u, list(g))) for u, g in users]
        assert (got.roles, got.bindings, got.documents) == (want.roles, want.bindings, want.documents)
        assert got.policy_set.rule_count == want.policy_set.rule_count


def test_activation_reads_no_row_and_converts_no_document(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = _loaded(ROLES + BINDINGS)
    data = mb.dumps(resources, sign_key=KEY)
    want = Authorizer(_loaded(ROLES + BINDINGS))
    loaded: list[int] = []
    real_load = mb._Sections.load
    monkeypatch.setattr(mb._Sections, "load", lambda self, r, i: (loaded.append(i), real_load(self, r, i))[1])
    real_set = authorizer_mod.RbacPolicySet

    class NoConversion:
        from_bundle = staticmethod(real_set.from_bundle)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("an activated bundle must not convert documents into a policy set")

    monkeypatch.setattr(authorizer_mod, "RbacPolicySet", NoConversion)
    b = mb.loads(data, verify_key=PUBLIC)
    got = b.authorizer()
    cases = [(User("alice"), "CREATE", TIMEOUT), (User("alice"), "CREATE", OTHER),
             (User("bob", ["ops"]), "DELETE", OTHER), (User("bob"), "UPDATE", TIMEOUT)]
    for user, action, res in cases:
        assert str(got.explain(user, action, res, res)) == str(want.explain(user, action, res, res))
        assert got.allowed(user, action, res, res) == want.allowed(user, action, res, res)
    assert got.check(User("alice"), "CREATE", TIMEOUT).allowed and not got.check(User("alice"), "CREATE", OTHER).allowed
    assert loaded == []  # not a row read to activate and decide
    # what_can needs the role documents: built on first use from the bundle's lazy resources
    assert _what_can(got, ("alice", [])) == _what_can(want, ("alice", []))
    assert sorted(loaded) == list(range(len(resources)))
    assert (got.roles, got.bindings) == (["writer", "admin"], ["b-alice", "b-ops"])


def test_refresh_and_reload_of_an_activated_authorizer() -> None:
    got = _activated(_loaded(ROLES + BINDINGS))
    got.refresh()  # recompiles from the bundle's resources
    assert got.check(User("alice"), "CREATE", TIMEOUT).allowed
    got.reload(_loaded(ROLES))  # no bindings left
    assert not got.check(User("alice"), "CREATE", TIMEOUT).allowed
    assert got.bindings == [] and "_pending" not in got.__dict__


def _rbac_part_bundle() -> tuple[bytes, bytes, bytes]:
    return _sections(mb.dumps(_loaded(ROLES + BINDINGS), sign_key=KEY))


def test_spliced_truncated_and_garbage_rbac_parts_are_bundle_errors() -> None:
    zindex, zbody, zsets = _rbac_part_bundle()
    sets = zlib.decompress(zsets)
    other_index, other_body, other_sets = _sections(mb.dumps(_loaded(ROLES[:1] + BINDINGS[:1]), sign_key=KEY))
    forged = [
        sets[: len(sets) // 2],  # truncated in the RBAC part
        sets[:60],  # truncated just after the head
        sets + b"\x00",  # trailing bytes (the traffic sets' end) do not concern the RBAC part...
        b"\x03garbage" * 8,
        zlib.decompress(other_sets),  # spliced: another bundle's section (digest mismatch)
    ]
    for i, bad in enumerate(forged):
        b = mb.loads(_assemble(zindex, zbody, bad), verify_key=PUBLIC)
        if i == 2:  # ...but the traffic engine refuses them
            b.authorizer()
            with pytest.raises(BundleError):
                b.traffic_engine()
            continue
        with pytest.raises(BundleError):
            b.authorizer()
    # every flipped byte: a BundleError or an Authorizer, never another exception
    for i in range(0, len(sets), max(1, len(sets) // 97)):
        flipped = bytearray(sets)
        flipped[i] ^= 0x55
        b = mb.loads(_assemble(zindex, zbody, bytes(flipped)), verify_key=PUBLIC)
        try:
            a = b.authorizer()
        except BundleError:
            continue
        try:
            a.check(User("alice"), "CREATE", TIMEOUT)
        except meshauthz.EvaluationError:
            pass


def test_a_section_without_the_rbac_part_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Format 3 written without the part, and format 2 (before it existed): the Authorizer
    compiles from the resources and decides as from the YAML."""
    resources = _loaded(ROLES + BINDINGS)
    want = Authorizer(_loaded(ROLES + BINDINGS))
    zindex, zbody, zsets = _sections(mb.dumps(resources, sign_key=KEY))
    with monkeypatch.context() as m:
        m.delattr(Authorizer, "_bundle_sets")
        zindex2, zbody2, bare = _sections(mb.dumps(resources, sign_key=KEY))
    bare = zlib.decompress(bare)
    assert (zindex2, zbody2) == (zindex, zbody) and len(bare) < len(zlib.decompress(zsets))
    # postcard: format (varint 3), writer (varint length + text), digest (32 bytes), RBAC part (0: None)
    writer_len = bare[1]
    head_end = 2 + writer_len + 32
    assert bare[0] == 3 and bare[head_end] == 0
    format2 = b"\x02" + bare[1:head_end] + bare[head_end + 1:]
    for sets in (bare, format2):
        b = mb.loads(_assemble(zindex, zbody, sets), verify_key=PUBLIC)
        got = b.authorizer()
        assert "_pending" not in got.__dict__  # compiled from the resources
        for user, action, res in [(User("alice"), "CREATE", TIMEOUT), (User("alice"), "CREATE", OTHER)]:
            assert str(got.explain(user, action, res)) == str(want.explain(user, action, res))
        assert b.traffic_engine() is not None  # the traffic sets of either layout still activate


def test_roles_that_do_not_compile_are_written_without_the_part() -> None:
    """Duplicate role names (A14): the bundle's Authorizer reports the error as from the YAML."""
    dup = ROLES + [dict(ROLES[0])]
    resources = _loaded(dup)  # the loader keeps both; the Authorizer refuses them
    with pytest.raises(meshauthz.MeshauthzError) as want:
        Authorizer(resources)
    with pytest.raises(meshauthz.MeshauthzError) as got:
        _activated(resources)
    assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))


def test_an_unverified_bundle_never_reads_its_rbac_part() -> None:
    zindex, zbody, _ = _rbac_part_bundle()
    want = Authorizer(_loaded(ROLES + BINDINGS))
    unsigned = _assemble(zindex, zbody, b"\x03garbage" * 8, key=None)
    got = mb.loads(unsigned).authorizer()
    assert not mb.loads(unsigned).verified
    assert str(got.explain(User("alice"), "CREATE", TIMEOUT)) == str(want.explain(User("alice"), "CREATE", TIMEOUT))
