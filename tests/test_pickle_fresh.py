"""#12 item 7 for the other engines: every `pickle.loads` of an `Authorizer` or `MtpEngine` is a
fresh engine (over the process's cached compiled snapshot), so a reload in one task never changes
what another unpickled copy, or a later unpickle, decides."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import meshauthz
from meshauthz.mtp import MtpEngine
from meshauthz.rbac import Authorizer, User

ROOT = Path(__file__).resolve().parent.parent
MTLS = {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}


def test_unpickled_authorizers_are_independent() -> None:
    role = {"type": "AccessRole", "name": "ops", "rules": [{"types": ["TrafficPermission"], "access": ["CREATE"]}]}
    binding = {"type": "AccessRoleBinding", "name": "b", "subjects": [{"type": "User", "name": "ann"}],
               "roles": ["ops"]}
    doc = {"type": "TrafficPermission", "mesh": "default", "name": "tp",
           "sources": [{"match": {"kuma.io/service": "web"}}], "destinations": [{"match": {"kuma.io/service": "x"}}]}
    data = pickle.dumps(Authorizer(meshauthz.load_dicts([role, binding])))
    a, b = pickle.loads(data), pickle.loads(data)
    assert a is not b
    ann = User("ann", [])
    assert a.check(ann, "CREATE", doc).allowed and b.check(ann, "CREATE", doc).allowed
    a.reload(meshauthz.load_dicts([binding]))  # R5: no role left, ann may do nothing
    assert not a.check(ann, "CREATE", doc).allowed
    assert b.check(ann, "CREATE", doc).allowed
    assert pickle.loads(data).check(ann, "CREATE", doc).allowed


def _dp(name: str, svc: str) -> dict[str, Any]:
    return {"type": "Dataplane", "mesh": "default", "name": name,
            "networking": {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc}}]}}


def test_unpickled_mtp_engines_are_independent() -> None:
    mtp = {"type": "MeshTrafficPermission", "mesh": "default", "name": "gate",
           "spec": {"targetRef": {"kind": "MeshService", "name": "backend"},
                    "from": [{"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "web"}},
                              "default": {"action": "Allow"}}]}}
    base = [{"type": "Mesh", "name": "default", "mtls": MTLS}, _dp("web-1", "web"), _dp("backend-1", "backend")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = pickle.dumps(MtpEngine(meshauthz.load_dicts(base + [mtp])))
        a, b = pickle.loads(data), pickle.loads(data)
        assert a is not b and a.store is not b.store
        a.reload(meshauthz.load_dicts(base))  # no MTP selects the inbound any more
    assert a.check(source="web-1", destination=("backend-1", 8080)) is None
    d = b.check(source="web-1", destination=("backend-1", 8080))
    assert d is not None and d.allowed  # M6.2: the web item allows
    d = pickle.loads(data).check(source="web-1", destination=("backend-1", 8080))
    assert d is not None and d.allowed
