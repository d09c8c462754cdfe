"""Regression tests for the loader defects of issue #13 (each failed on the code before the fix).

- a plain scalar that looks like a date / time but names none (`2023-02-29`) is the string it is
  written as (as Kubernetes' go-yaml reads it), never a bare ValueError out of loads / load / validate;
- creationTime keeps its nanoseconds (T3.5 ties compare them); one representation: (seconds, nanos);
- Kubernetes-form documents warn on unknown or misplaced fields and validate `metadata.name`.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshauthz
from meshauthz.cli import main as cli_main
from meshauthz.resource import GO_ZERO_TIME, rfc3339, seconds_nanos
from meshauthz.yaml_source import read_documents

MESH = "type: Mesh\nname: default\nmtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}\n"
DP = """---
type: Dataplane
mesh: default
name: backend-1
networking:
  address: 10.0.0.2
  inbound: [{port: 9000, tags: {kuma.io/service: backend}}]
"""


def tp(name: str, created: str, extra: str = "") -> str:
    return f"""---
type: TrafficPermission
mesh: default
name: {name}
creationTime: {created}
{extra}sources: [{{match: {{kuma.io/service: '*'}}}}]
destinations: [{{match: {{kuma.io/service: backend}}}}]
"""


# --- a date-looking plain scalar that is not a date ----------------------------------------------

NOT_DATES = ["2023-02-29", "2023-13-01", "2024-01-01T25:00:00Z", "2024-01-01 10:61:00", "2024-01-01T00:00:00+24:00"]


@pytest.mark.parametrize("text", NOT_DATES)
def test_impossible_date_is_a_string_everywhere(text: str, tmp_path: Path) -> None:
    doc = f"type: Mesh\nname: m\nlabels: {{release: {text}}}\n"
    store = meshauthz.loads(doc)  # raised a bare ValueError before
    assert store.get("Mesh", "m").labels["release"] == text
    path = tmp_path / "mesh.yaml"
    path.write_text(doc)
    assert meshauthz.load(path).get("Mesh", "m").labels["release"] == text
    assert meshauthz.validate(path).ok
    assert cli_main(["validate", str(path)]) == 0


def test_real_dates_still_resolve_as_pyyaml_does() -> None:
    [d] = read_documents("a: 2023-02-28\nb: 2024-01-01t10:00:00\nc: '2023-02-29'\n")
    assert d.value == {"a": date(2023, 2, 28), "b": datetime(2024, 1, 1, 10), "c": "2023-02-29"}


@pytest.mark.parametrize("text", ["!!timestamp 2023-02-29", "!!timestamp soon", "!!int x", "!!float y", "!!bool maybe"])
def test_explicitly_tagged_impossible_value_is_a_located_problem(text: str) -> None:
    result = meshauthz.api.load_text(f"type: Mesh\nname: m\nlabels: {{a: {text}}}\n")
    [p] = result.problems
    assert (p.document, p.line, p.column, p.code) == (0, 3, 13, "yaml")
    assert "invalid" in p.message


@pytest.mark.parametrize("text", ["!!binary aGk=", "!!set {a: null}", "!foo x", "!!omap [{a: 1}]"])
def test_tags_outside_plain_yaml_are_refused(text: str) -> None:
    [p] = meshauthz.api.load_text(f"type: Mesh\nname: m\nx: {text}\n").problems
    assert (p.line, p.column, p.code) == (3, 4, "yaml") and "unsupported YAML tag" in p.message


# --- creationTime keeps nanoseconds ---------------------------------------------------------------

EPOCH_2024 = 1_704_067_200  # 2024-01-01T00:00:00Z


def test_creation_time_keeps_nanoseconds_plain_and_quoted() -> None:
    store = meshauthz.loads(MESH + tp("a", "2024-01-01T00:00:00.000000123Z")
                            + tp("b", '"2024-01-01T01:00:00.987654321+01:00"'))
    a, b = store.get("TrafficPermission", "a", "default"), store.get("TrafficPermission", "b", "default")
    assert a.creation_seconds_nanos == (EPOCH_2024, 123)
    assert a.creation_time_ns == EPOCH_2024 * 10**9 + 123
    assert b.creation_seconds_nanos == (EPOCH_2024, 987_654_321)
    # the datetime view stays (microseconds)
    assert a.creation_time == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert b.creation_time == datetime(2024, 1, 1, 0, 0, 0, 987_654, tzinfo=timezone.utc)
    assert a.to_universal()["creationTime"] == "2024-01-01T00:00:00.000000123Z"


def test_t3_5_tie_is_decided_by_nanoseconds() -> None:
    # Equal rank; `z-later` was created 100 ns after `a-earlier`: the later one wins (T3.5, A2). With
    # microsecond truncation both times were equal and the smallest name (`a-earlier`) won (A3).
    store = meshauthz.loads(MESH + DP + tp("a-earlier", "2024-01-01T00:00:00.0000001Z")
                            + tp("z-later", "2024-01-01T00:00:00.0000002Z"))
    d = meshauthz.TrafficEngine(store).check(source={"kuma.io/service": "web"}, destination=("backend-1", 9000))
    assert (d.allowed, d.policy) == (True, "z-later")
    # the explanation shows the digits that decided the tie (microseconds alone would read equal)
    x = meshauthz.TrafficEngine(store).explain(source={"kuma.io/service": "web"}, destination=("backend-1", 9000))
    assert [(p.name, p.creation_time) for p in x.candidates] == [
        ("z-later", "2024-01-01T00:00:00.000000200+00:00"), ("a-earlier", "2024-01-01T00:00:00.000000100+00:00")]
    # sanity: with truly equal times the smallest name wins
    store = meshauthz.loads(MESH + DP + tp("a-earlier", "2024-01-01T00:00:00.0000002Z")
                            + tp("z-later", "2024-01-01T00:00:00.0000002Z"))
    d = meshauthz.TrafficEngine(store).check(source={"kuma.io/service": "web"}, destination=("backend-1", 9000))
    assert d.policy == "a-earlier"


def test_seconds_nanos_covers_go_zero_time_and_year_9999() -> None:
    assert seconds_nanos(GO_ZERO_TIME) == (-62_135_596_800, 0)
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59)))
    # 9999-12-31T23:59:59 at -23:59 is 10000-01-01T23:58:59Z: past datetime's range in UTC
    secs, nanos = seconds_nanos(late)
    assert (secs, nanos) == (253_402_300_799 + 23 * 3600 + 59 * 60, 0)
    assert rfc3339(secs, nanos) == "10000-01-01T23:58:59Z"
    assert rfc3339(-62_135_596_800, 5) == "0001-01-01T00:00:00.000000005Z"


# --- Kubernetes form: unknown / misplaced fields and metadata.name ----------------------------------

K8S_MTP = """apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: allow-web
  namespace: kuma-demo
  colour: blue
spec:
  targetRef: {kind: Mesh}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
to:
  - targetRef: {kind: Mesh}
"""


def test_kubernetes_misplaced_and_unknown_fields_warn() -> None:
    result = meshauthz.api.load_text(K8S_MTP, "k8s.yaml")
    assert result.ok, [str(p) for p in result.problems]
    got = sorted((w.path, w.line, w.column, w.code) for w in result.warnings)
    assert got == [("metadata.colour", 6, 3, "unknown-field"), ("to", 12, 1, "unknown-field")]
    with pytest.warns(meshauthz.MeshauthzWarning, match="unknown field"):
        meshauthz.loads(K8S_MTP)


def test_kubernetes_known_fields_do_not_warn() -> None:
    doc = """apiVersion: kuma.io/v1alpha1
kind: TrafficPermission
mesh: default
metadata: {name: tp, annotations: {a: b}, uid: x, resourceVersion: "1", labels: {app: x}}
spec:
  sources: [{match: {kuma.io/service: web}}]
  destinations: [{match: {kuma.io/service: backend}}]
"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(meshauthz.loads(doc)) == 1


@pytest.mark.parametrize("name, message", [("BAD_Name", "RFC 1123"), ("x" * 254, "253")])
def test_kubernetes_metadata_name_is_validated(name: str, message: str) -> None:
    doc = f"apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: {name}\n"
    [p] = meshauthz.api.load_text(doc).problems
    assert (p.line, p.column, p.path, p.code) == (4, 3, "metadata.name", "meta")
    assert message in p.message
    with pytest.raises(meshauthz.ValidationError):
        meshauthz.loads(doc)


def test_kubernetes_mesh_label_is_validated() -> None:
    doc = ("apiVersion: kuma.io/v1alpha1\nkind: TrafficPermission\nmetadata:\n  name: tp\n"
           "  labels: {kuma.io/mesh: Bad Mesh}\nspec: {}\n")
    [p] = meshauthz.api.load_text(doc).problems
    assert (p.line, p.path, p.code) == (5, 'metadata.labels["kuma.io/mesh"]', "meta")


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
       st.text(alphabet="0123456789", max_size=12), st.sampled_from(["Z", "+00:00", "-05:30", ""]))
def test_fast_rfc3339_equals_the_general_path(t: datetime, fraction: str, zone: str) -> None:
    from meshauthz.loader import rfc3339_utc
    from meshauthz.yaml_source import Timestamp, timestamp

    text = t.strftime("%Y-%m-%dT%H:%M:%S") if t.year >= 1000 else f"{t.year:04d}" + t.strftime("-%m-%dT%H:%M:%S")
    text += ("." + fraction if fraction else "") + zone
    fast = rfc3339_utc(text)
    general = timestamp(text)
    assert isinstance(general, Timestamp)
    if fast is None:
        assert zone != "Z"  # only the canonical UTC form takes the fast path
        return
    assert fast[0] == (general if general.tzinfo else general.replace(tzinfo=timezone.utc))
    assert fast[1] == seconds_nanos(general)


def test_loaded_clean_documents_keep_positions_but_not_their_mapping() -> None:
    store = meshauthz.loads(MESH + tp("a", "2024-01-01T00:00:00Z"))
    r = store.get("TrafficPermission", "a", "default")
    assert r.document is not None and r.document.value is None  # released: the body is that mapping
    assert r.body == {"sources": [{"match": {"kuma.io/service": "*"}}],
                      "destinations": [{"match": {"kuma.io/service": "backend"}}]}
    assert r.mark(("destinations", 0)) == (10, 16)  # positions stay available (read natively on demand)
