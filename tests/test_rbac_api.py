"""Unit tests of meshauthz.rbac, citing rbac.md rule numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import meshauthz
from meshauthz import InputError
from meshauthz.errors import DuplicateResourceError, EvaluationError, ValidationError
from meshauthz.rbac import AccessDecision, Authorizer, User, authenticated, default_objects

BO = User("backend-owner", ["mesh-system:authenticated"])


def role(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"type": "AccessRole", "name": name, "rules": list(rules)}


def binding(
    name: str, roles: list[str], users: tuple[str, ...] = (), groups: tuple[str, ...] = ()
) -> dict[str, Any]:
    subjects = [{"type": "User", "name": u} for u in users] + [{"type": "Group", "name": g} for g in groups]
    return {"type": "AccessRoleBinding", "name": name, "subjects": subjects, "roles": roles}


def mtp(target: str, name: str = "p", froms: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "MeshTrafficPermission",
        "mesh": "default",
        "name": name,
        "spec": {
            "targetRef": {"kind": "MeshService", "name": target},
            "from": [{"targetRef": {"kind": "MeshService", "name": f}} for f in froms],
        },
    }


OWNER = role(
    "owner",
    {
        "types": ["MeshTrafficPermission"],
        "mesh": "default",
        "access": ["CREATE", "UPDATE"],
        "when": [{"targetRef": {"kind": "MeshService", "name": "backend"}}],
    },
)
OWNERS = binding("owners", ["owner"], users=("backend-owner",))


def test_r5_4_grant_reports_role_binding_and_rule() -> None:
    d = Authorizer([OWNER, OWNERS]).check(BO, "CREATE", mtp("backend", froms=("web",)))
    assert d.allowed and (d.role, d.binding, d.rule_index) == ("owner", "owners", 0)
    assert d.message() is None


def test_r8_3_r8_4_denial_texts_and_uncovered() -> None:
    d = Authorizer([OWNER, OWNERS]).check(BO, "CREATE", mtp("web"))
    assert not d.allowed
    assert (
        d.message()
        == 'Access Denied (user "backend-owner/mesh-system:authenticated" cannot access the resource)'
    )
    assert (
        d.message("kubernetes-webhook")
        == 'access denied: user "backend-owner/mesh-system:authenticated" cannot access the resource'
    )
    assert d.uncovered and "web" in d.uncovered[0]
    assert "DENY" in str(d) and d.explain()["allowed"] is False


def test_r5_6_uncovered_lazy_and_handle_path_matches_general_path() -> None:
    """R5.6 is computed on demand; the handle hot path (`RbacPolicySet.decide`) gives the same
    decision as the general path, field for field, and a lazy denial pickles with its list."""
    import pickle

    authz = Authorizer([OWNER, OWNERS, role("r2", {"types": ["MeshTrafficPermission"], "access": ["DELETE"]}),
                        binding("b2", ["r2", "owner"], groups=("g",))])
    users = [BO, User("x", ["g", "mesh-system:authenticated"]), User("nobody"), User("x", ("g", "g"))]
    for res in (mtp("web"), mtp("backend"), mtp("web", froms=("a", "b"))):
        h = authz.target(res)
        for u in users:
            for action in ("CREATE", "DELETE", "GET", "LIST", "VIEW_STATS"):
                fast, slow = authz.check(u, action, h), authz.check(u, action, res)
                assert fast.explain() == {**slow.explain(), "target": fast.target}
                fields = {f: getattr(slow, f) for f in AccessDecision.__match_args__}
                assert fast == AccessDecision(**{**fields, "target": fast.target})
                assert not pickle.loads(pickle.dumps(fast))._uncovered_pending
                assert pickle.loads(pickle.dumps(slow)) == slow
    d = authz.check(BO, "CREATE", mtp("web"))
    assert d._uncovered_pending and d.uncovered and not d._uncovered_pending
    with pytest.raises(EvaluationError):
        authz.check(User("u", [1]), "CREATE", authz.target(mtp("web")))  # type: ignore[list-item]


def test_access_decision_and_grant_behave_as_frozen_records() -> None:
    """The native result classes keep the dataclass contract: keyword / positional construction
    with the documented defaults, equality and hashing over the fields, repr, pickling, copies,
    immutability, `match` patterns, and the derived properties and texts."""
    import copy
    import pickle

    from meshauthz.rbac import Grant

    g = Grant("owner", "owners", 2, "CREATE")
    assert (g.role, g.binding, g.rule, g.access) == ("owner", "owners", 2, "CREATE")
    assert g == Grant(role="owner", binding="owners", rule=2, access="CREATE")
    assert g != Grant("owner", "owners", 1, "CREATE")
    assert hash(g) == hash(("owner", "owners", 2, "CREATE")) and len({g, Grant("owner", "owners", 2, "CREATE")}) == 1
    assert repr(g) == "Grant(role='owner', binding='owners', rule=2, access='CREATE')"
    assert str(g) == "role 'owner' rule 2 (CREATE) via binding 'owners'"
    assert pickle.loads(pickle.dumps(g)) == g and g != ("owner", "owners", 2, "CREATE")
    with pytest.raises(AttributeError):
        g.role = "x"  # type: ignore[misc]

    u = User("alice", ["team"])
    d = AccessDecision(allowed=False, user=u, action="CREATE", target="MeshTrafficPermission default/web",
                       mode="rbac", reason='user "alice/team" cannot access the resource')
    assert (d.grant, d.old_grant, d.denied_side, d.uncovered, d.examined, d.notes) == (None, None, None, (), 0, ())
    assert d.user is u and not d and d.http_status == 403 and (d.role, d.binding, d.rule_index) == (None, None, None)
    assert d.message() == 'Access Denied (user "alice/team" cannot access the resource)'
    assert d.message("kubernetes-webhook") == 'access denied: user "alice/team" cannot access the resource'
    assert str(d) == ("DENY CREATE MeshTrafficPermission default/web for alice/team\n"
                      '  Access Denied (user "alice/team" cannot access the resource)')
    assert repr(d) == ("AccessDecision(allowed=False, user=User(name='alice', groups=('team',)), action='CREATE', "
                       "target='MeshTrafficPermission default/web', mode='rbac', grant=None, old_grant=None, "
                       "denied_side=None, uncovered=(), reason='user \"alice/team\" cannot access the resource', "
                       "examined=0, notes=())")
    a = AccessDecision(True, u, "UPDATE", "t", "rbac", g, g, None, (), None, 3, ("n",))
    assert a and a.http_status == 200 and a.message() is None
    assert (a.role, a.binding, a.rule_index) == ("owner", "owners", 2)
    assert a.explain() == {"allowed": True, "mode": "rbac", "user": {"name": "alice", "groups": ["team"]},
                           "action": "UPDATE", "target": "t",
                           "grant": {"role": "owner", "binding": "owners", "rule": 2, "access": "CREATE"},
                           "old_grant": {"role": "owner", "binding": "owners", "rule": 2, "access": "CREATE"},
                           "denied_side": None, "uncovered": [], "reason": None, "examined": 3, "notes": ["n"]}
    assert str(a) == ("ALLOW UPDATE t for alice/team\n  granted by role 'owner' rule 2 (CREATE) via binding 'owners'\n"
                      "  stored object granted by role 'owner' rule 2 (CREATE) via binding 'owners'\n  note: n")
    same = AccessDecision(allowed=True, user=User("alice", ("team",)), action="UPDATE", target="t", mode="rbac",
                          grant=g, old_grant=Grant("owner", "owners", 2, "CREATE"), examined=3, notes=("n",))
    assert a == same and hash(a) == hash(same) and a != d and len({a, same, d}) == 2
    for c in (pickle.loads(pickle.dumps(a)), copy.copy(a), copy.deepcopy(a)):
        assert c == a and c.explain() == a.explain()
    with pytest.raises(AttributeError):
        a.allowed = False  # type: ignore[misc]
    match a:
        case AccessDecision(True, User(name), "UPDATE", grant=Grant(role, _, rule, _)):
            assert (name, role, rule) == ("alice", "owner", 2)
        case _:
            pytest.fail("positional pattern over the fields")
    # A real denial: its lazy R5.6 list is part of equality, hashing and the pickled form.
    authz = Authorizer([OWNER, OWNERS])
    real = authz.check(BO, "CREATE", authz.target(mtp("web")))
    assert real._uncovered_pending
    assert real == pickle.loads(pickle.dumps(real)) and real.uncovered and not real._uncovered_pending
    assert isinstance(real, meshauthz.AccessDecision) and isinstance(real.grant or g, Grant)


def test_r5_9_update_needs_old_and_both_sides() -> None:
    authz = Authorizer([OWNER, OWNERS])
    with pytest.raises(EvaluationError):
        authz.check(BO, "UPDATE", mtp("backend"))  # A10
    d = authz.check(BO, "UPDATE", mtp("backend"), old=mtp("web"))
    assert not d.allowed and d.denied_side == "old"
    assert authz.check(BO, "UPDATE", mtp("backend"), old=mtp("backend")).allowed


def test_r3_1_reads_open_a12_secret_reads() -> None:
    secret = {"type": "Secret", "mesh": "default", "name": "tls", "data": "eA=="}
    writer = role("w", {"types": ["Secret"], "names": ["tls"], "mesh": "default", "access": ["UPDATE"]})
    authz = Authorizer([writer, binding("b", ["w"], users=("mo",))])
    assert authz.check(User("x"), "GET", mtp("web")).allowed
    assert authz.check(User("mo"), "GET", secret).allowed
    assert not authz.check(User("mo"), "LIST", secret).allowed  # named grant: no LIST (A12)
    assert not authz.check(User("x"), "GET", secret).allowed
    assert Authorizer([writer], secret_reads="open").check(User("x"), "GET", secret).allowed
    static_admin = Authorizer([], secret_reads="static-admin")
    assert static_admin.check(User("mesh-system:admin"), "GET", secret).allowed


def test_a9_token_types_ignored_and_dp_token() -> None:
    r = role(
        "dp",
        {
            "types": ["Dataplane"],
            "mesh": "default",
            "access": ["GENERATE_DATAPLANE_TOKEN"],
            "when": [{"dpToken": {"tags": [{"name": "kuma.io/service", "value": "web"}]}}],
        },
    )
    authz = Authorizer([r, binding("b", ["dp"], users=("ci",))])
    assert authz.check_token(
        User("ci"), "dataplane", {"mesh": "default", "tags": {"kuma.io/service": ["web"]}}
    )
    assert not authz.check_token(
        User("ci"), "dataplane", {"mesh": "default", "tags": {"kuma.io/service": ["db"]}}
    )
    assert not authz.check_token(User("ci"), "user", {"name": "x"})


def test_r1_2_authenticated_appends_at_end() -> None:
    u = authenticated(User("a", ["g", "mesh-system:authenticated"]))
    assert u.groups == ("g", "mesh-system:authenticated", "mesh-system:authenticated")
    assert str(User("ci-bot")) == "ci-bot/"


def test_r6_2_defaults_everyone_is_admin_and_r6_4_restricted() -> None:
    authz = Authorizer(default_objects())
    anon = User("mesh-system:anonymous", ["mesh-system:unauthenticated"])
    assert authz.check(anon, "DELETE", {"type": "GlobalSecret", "name": "admin-user-token"}).allowed
    restricted = Authorizer(default_objects(restricted=True))
    assert not restricted.check(anon, "CREATE", {"type": "Mesh", "name": "m"}).allowed
    assert default_objects(skip_admin_role_creation=True) == []
    k8s = default_objects("kubernetes", restricted=True)[1]["spec"]["subjects"]
    assert [s["name"] for s in k8s] == [
        "mesh-system:admin",
        "system:masters",
        "system:serviceaccounts:kube-system",
    ]
    assert "VIEW_STATS" in default_objects(version="2.6")[0]["rules"][0]["access"]
    assert "VIEW_STATS" not in default_objects(version="1.8")[0]["rules"][0]["access"]


def test_r7_2_static_mode() -> None:
    authz = Authorizer(mode="static")
    d = authz.check(BO, "CREATE", {"type": "Secret", "mesh": "default", "name": "s"})
    assert d.message() == (
        'Access Denied (user "backend-owner/mesh-system:authenticated" cannot access the '
        'resource of type "Secret")'
    )
    assert authz.check_token(BO, "user", {}).message() == "Access Denied (action not allowed)"
    zone = authz.check_token(BO, "zone", {"zone": "east"}).message()
    assert zone == (
        'Access Denied (user "backend-owner/mesh-system:authenticated" cannot access generate zone '
        "token for zone 'east')"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"access": ["READ"]},  # unknown access value
        {"access": ["CREATE"], "when": [{}]},  # empty qualifier
        {"access": ["CREATE"], "when": [{"bogus": 1}]},  # unknown qualifier key
        {
            "access": ["CREATE"],
            "when": [{"targetRef": {"kind": "Mesh"}, "sources": {"match": {}}}],
        },  # mixed (A7)
        {"access": ["CREATE"], "when": [{"targetRef": {"name": "x"}}]},  # targetRef without kind
        {"access": ["CREATE"], "when": [{"dpToken": {"tags": [{"value": "x"}]}}]},  # tag without name
        {"access": "CREATE"},  # wrong YAML type
    ],
)
def test_r2_1_bad_roles_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Authorizer([role("r", bad)])


@pytest.mark.parametrize("subject", [{"type": "user", "name": "x"}, {"type": "User", "name": ""}])
def test_r2_1_bad_subjects_rejected(subject: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Authorizer([{"type": "AccessRoleBinding", "name": "b", "subjects": [subject], "roles": []}])


def test_a14_duplicates_rejected() -> None:
    with pytest.raises(DuplicateResourceError):
        Authorizer([OWNER, OWNER])


def test_problems_are_located(tmp_path: Path) -> None:
    f = tmp_path / "roles.yaml"
    f.write_text("type: AccessRole\nname: r\nrules:\n- access:\n  - CREATE\n  - READ\n")
    with pytest.raises(InputError) as e:
        Authorizer(str(f))
    p = e.value.problems[0]
    assert (p.file, p.line, p.path) == (str(f), 6, "rules[0].access[1]")


def test_reload_keeps_old_set_when_new_is_bad(tmp_path: Path) -> None:
    authz = Authorizer([OWNER, OWNERS])
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: AccessRole\nname: owner\nrules:\n- access: [NOPE]\n")
    with pytest.raises(InputError):
        authz.reload(str(bad))
    assert authz.check(BO, "CREATE", mtp("backend")).allowed
    authz.reload([OWNER])  # a good reload replaces it (no binding now)
    assert not authz.check(BO, "CREATE", mtp("backend")).allowed


def test_handle_path_matches_dict_path_and_store_source() -> None:
    store = meshauthz.load_dicts([OWNER, OWNERS])
    authz = Authorizer(store)
    h = authz.target(mtp("backend"))
    assert h.elements == ["targetRef {kind: MeshService, name: backend}"]
    assert authz.check(BO, "CREATE", h).allowed == authz.check(BO, "CREATE", mtp("backend")).allowed is True


def test_fail_closed_on_bad_resources() -> None:
    authz = Authorizer([OWNER, OWNERS])
    with pytest.raises(EvaluationError):
        authz.check(BO, "CREATE", {"type": "MeshTrace", "name": "no-mesh", "spec": {}})  # R4.1
    with pytest.raises(meshauthz.MeshauthzError):
        authz.check(BO, "CREATE", {"type": "Nope", "name": "x"})  # R4.3
    with pytest.raises(EvaluationError):
        authz.check(BO, "FROB", mtp("backend"))


def test_a11_kubernetes_core_name() -> None:
    named = role("n", {"types": ["MeshTrafficPermission"], "names": ["p"], "access": ["CREATE"]})
    authz = Authorizer([named, binding("b", ["n"], users=("u",))])
    k8s = {
        "apiVersion": "kuma.io/v1alpha1",
        "kind": "MeshTrafficPermission",
        "metadata": {"name": "p", "namespace": "ns", "labels": {"kuma.io/mesh": "default"}},
        "spec": {},
    }
    assert not authz.check(User("u"), "CREATE", k8s).allowed
    assert authz.check(User("u"), "CREATE", mtp("x")).allowed
