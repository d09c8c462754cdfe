"""The loader's fast "clean body" check (models/fastcheck.py) never hides what pydantic reports.

A body the check calls clean must parse with no error and no unknown field (issue #13: validation
without pydantic objects on the hot path, same paths and messages); the examples are clean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz.models import MODELS, ModelError, parse_model
from meshauthz.models.fastcheck import clean

ROOT = Path(__file__).resolve().parent.parent

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**33), st.floats(allow_nan=False), st.text(max_size=4),
                    st.sampled_from(["8080", "Ready", "BUILTIN", "Allow", "Mesh", "x"]))
FIELD_NAMES = ["sources", "destinations", "match", "networking", "inbound", "outbound", "gateway", "address", "port",
               "tags", "type", "state", "mtls", "enabledBackend", "backends", "name", "spec", "targetRef", "from",
               "from_", "default", "action", "kind", "rules", "types", "subjects", "roles", "conf", "extra", "admin"]
bodies = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.dictionaries(st.sampled_from(FIELD_NAMES), bodies, max_size=4))
def test_clean_implies_pydantic_accepts_without_unknown_fields(kind: str, body: dict[str, Any]) -> None:
    if clean(kind, body):
        try:
            _, unknown = parse_model(kind, body)
        except ModelError as e:  # pragma: no cover - a failure here is the bug this test is for
            pytest.fail(f"clean({kind}) but pydantic reports {e.errors}")
        assert unknown == []


@pytest.mark.parametrize("kind, body, expected", [
    ("TrafficPermission", {"sources": [{"match": {"kuma.io/service": "web"}}]}, True),
    ("TrafficPermission", {"sources": [{"match": {"kuma.io/service": 1}}]}, False),  # type error
    ("TrafficPermission", {"sources": [{"match": {}, "extra": 1}]}, False),  # unknown field
    ("Dataplane", {"networking": {"inbound": [{"port": 8080, "tags": {"a": "b"}}]}}, True),
    ("Dataplane", {"networking": {"inbound": [{"port": "8080"}]}}, False),  # pydantic coerces: its path
    ("Dataplane", {"networking": {"inbound": [{"port": True}]}}, False),
    ("Dataplane", {"networking": {"gateway": {"type": "BUILTIN"}}}, True),
    ("Dataplane", {"networking": {"gateway": {"type": "OTHER"}}}, False),
    ("MeshTrafficPermission", {"spec": {"from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]}},
     True),
    ("MeshTrafficPermission", {"spec": {"from_": []}}, False),  # the field name, not the alias
])
def test_clean_cases(kind: str, body: dict[str, Any], expected: bool) -> None:
    assert clean(kind, body) is expected


def test_examples_load_without_pydantic_and_models_build_on_access() -> None:
    store = meshauthz.load(ROOT / "examples" / "universal")
    typed = [r for r in store if r.kind.name in MODELS]
    assert typed and all(clean(r.kind.name, r.body) for r in typed)
    assert all(r._model is None for r in typed)  # nothing built while loading
    tp = next(r for r in typed if r.kind.name == "TrafficPermission")
    assert tp.model is not None and tp.model.sources is not None  # built on access, then kept
    assert tp._model is tp.model


def test_unclean_body_still_reports_pydantic_problem_and_warning() -> None:
    result = meshauthz.api.load_text("type: TrafficPermission\nname: t\nmesh: default\n"
                                     "sources: [{match: {kuma.io/service: web}, colour: red}]\n"
                                     "destinations: [{match: {kuma.io/service: [x]}}]\n")
    assert [(p.code, p.path) for p in result.problems] == [("type", 'destinations[0].match["kuma.io/service"]')]
    result = meshauthz.api.load_text("type: TrafficPermission\nname: t\nmesh: default\n"
                                     "sources: [{match: {kuma.io/service: web}, colour: red}]\n"
                                     "destinations: [{match: {kuma.io/service: x}}]\n")
    assert result.ok
    assert [(w.code, w.path, w.line) for w in result.warnings] == [("unknown-field", "sources[0].colour", 4)]


tp_bodies = st.dictionaries(
    st.sampled_from(["sources", "destinations", "extra"]),
    st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"match": st.one_of(
        st.dictionaries(st.sampled_from(["kuma.io/service", "a b", "", "x/y", "v"]),
                        st.one_of(st.sampled_from(["web", "*", "", "a*", "x:y", "ä"]), st.none(), st.integers()),
                        max_size=3), st.none())}), st.none(), st.just({"match": {"a": "b"}, "x": 1})), max_size=3),
        st.none(), st.integers()),
    max_size=3)


@settings(max_examples=400, deadline=None)
@given(tp_bodies)
def test_python_tp_verdict_implies_no_problem(body: dict[str, Any]) -> None:
    from meshauthz.validation import validate_resource
    from meshauthz.validation.traffic_permission import clean as clean_tp

    if clean_tp(body):
        assert clean("TrafficPermission", body)  # the model types pass, no unknown field
        tp = meshauthz.api.load_dicts([{"type": "TrafficPermission", "name": "t", "mesh": "m", **body}])
        [r] = tp.list()
        assert validate_resource(r).violations == []
