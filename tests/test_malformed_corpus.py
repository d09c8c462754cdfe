"""A corpus of malformed documents: each gets one exact, located problem and no traceback.

Every case asserts file, document index, line, column, field path and what was expected (or the
message). Each runs through the CLI in-process too, which must exit 1 or 2, never raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import pytest
import yaml

import meshauthz
from meshauthz import yaml_source
from meshauthz.cli import main as cli_main

TP_OK = """type: TrafficPermission
name: tp
mesh: default
sources:
  - match: {kuma.io/service: web}
destinations:
  - match: {kuma.io/service: backend}
"""


@dataclass
class Case:
    id: str
    text: Union[str, bytes]
    document: Optional[int]
    line: Optional[int]
    column: Optional[int]
    path: str
    contains: str  # substring of the message or of the expectation
    code: str


def bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


CASES = [
    # --- YAML layer -------------------------------------------------------------------------------
    Case("syntax-flow", "type: Mesh\nname: [a\n", 0, 3, 1, "", "invalid YAML", "yaml"),
    Case("syntax-indent", "type: Mesh\n  name: x\n", 0, 2, 7, "", "invalid YAML", "yaml"),
    Case("syntax-second-doc", TP_OK + "---\ntype: Mesh\nname: 'x\n", 1, 11, 1, "", "invalid YAML", "yaml"),
    Case("tab-indent", "type: Mesh\nname:\n\t- x\n", 0, 3, 1, "", "invalid YAML", "yaml"),
    Case("duplicate-key-top", "type: Mesh\nname: a\nname: b\n", 0, 3, 1, "", "duplicate mapping key 'name'",
         "duplicate-key"),
    Case("duplicate-key-nested", "type: Mesh\nname: a\nmtls:\n  enabledBackend: x\n  enabledBackend: y\n", 0, 5, 3,
         "", "duplicate mapping key 'enabledBackend'", "duplicate-key"),
    Case("duplicate-key-k8s", "apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: a\n  name: b\n", 0, 5, 3,
         "", "duplicate mapping key", "duplicate-key"),
    Case("duplicate-tag-key", TP_OK.replace("{kuma.io/service: web}", "{kuma.io/service: web, kuma.io/service: x}"),
         0, 5, 35, "", "duplicate mapping key 'kuma.io/service'", "duplicate-key"),
    Case("alias-bomb", bomb(), 0, 6, 36, "", "alias expansion exceeds", "limit"),
    Case("unknown-alias", "type: Mesh\nname: *nope\n", 0, 2, 7, "", "unknown alias", "yaml"),
    Case("deep-nesting", "a: " + "[" * 10_000 + "]" * 10_000 + "\n", 0, 1, 103, "", "nesting deeper than 100", "limit"),
    Case("python-tag", "type: Mesh\nname: !!python/object:os.system x\n", 0, 2, 7, "", "unsupported YAML tag", "yaml"),
    Case("binary-nul", b"type: Mesh\x00\x01\x02\x03name: x", None, 1, 1, "", "binary data", "binary"),
    Case("binary-control", "type: Mesh\nname: \x07bell\n", 0, 2, None, "", "control characters", "binary"),
    Case("bad-utf8", b"type: Mesh\nname: \xff\xfe\xfd\n", None, 2, None, "", "not valid UTF-8", "binary"),
    Case("complex-key", "type: Mesh\n? [a, b]\n: c\n", 0, 2, 3, "", "mapping key must be a scalar", "yaml"),
    Case("merge-not-map", "type: Mesh\nname: a\n<<: 5\n", 0, 3, 5, "", "merge key", "yaml"),
    # --- envelope -----------------------------------------------------------------------------------
    Case("not-a-mapping", "- type: Mesh\n", 0, 1, 1, "", "must be a mapping", "type"),
    Case("scalar-document", "just a string\n", 0, 1, 1, "", "must be a mapping", "type"),
    Case("unknown-kind", "type: TrafficPermision\nname: x\nmesh: default\n", 0, 1, 1, "type",
         "unknown resource kind 'TrafficPermision'", "unknown-kind"),
    Case("missing-kind", "name: x\nmesh: default\n", 0, 1, 1, "type", "missing resource kind", "unknown-kind"),
    Case("kind-not-string", "type: [Mesh]\nname: x\n", 0, 1, 1, "type", "must be a string", "unknown-kind"),
    Case("k8s-unknown-kind", "apiVersion: kuma.io/v1alpha1\nkind: Foo\nmetadata: {name: a}\n", 0, 2, 1, "kind",
         "unknown resource kind 'Foo'", "unknown-kind"),
    Case("k8s-bad-api", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n", 0, 1, 1, "apiVersion",
         "unsupported apiVersion 'apps/v1'", "unknown-kind"),
    Case("k8s-no-metadata", "apiVersion: kuma.io/v1alpha1\nkind: Mesh\nspec: {}\n", 0, 1, 1, "metadata",
         "missing metadata", "type"),
    Case("k8s-no-name", "apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata:\n  namespace: x\n", 0, 3, 1,
         "metadata.name", "metadata.name must be a non-empty string", "meta"),
    Case("k8s-spec-list", "apiVersion: kuma.io/v1alpha1\nkind: TrafficPermission\nmetadata: {name: a}\nspec: [1]\n",
         0, 4, 1, "spec", "spec must be a mapping", "type"),
    Case("k8s-secret-type", "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata: {name: a}\n", 0, 3, 1, "type",
         "is not a Kuma secret", "unknown-kind"),
    Case("name-not-string", "type: Mesh\nname: 12\n", 0, 2, 1, "name", "must be a string", "type"),
    Case("labels-not-map", "type: Mesh\nname: m\nlabels: [a]\n", 0, 3, 1, "labels", "map of strings", "type"),
    Case("bad-creation-time", TP_OK + "creationTime: yesterday\n", 0, 8, 1, "creationTime", "invalid timestamp",
         "type"),
    # --- meta (TP §5.3) -------------------------------------------------------------------------------
    Case("universal-mesh-missing", TP_OK.replace("mesh: default\n", ""), 0, 1, 1, "mesh", "cannot be empty", "meta"),
    Case("name-uppercase", TP_OK.replace("name: tp", "name: Tp"), 0, 2, 1, "name", "RFC 1123", "meta"),
    Case("name-empty", TP_OK.replace("name: tp", "name: ''"), 0, 2, 1, "name", "cannot be empty", "meta"),
    Case("mesh-bad-chars", TP_OK.replace("mesh: default", "mesh: De fault"), 0, 3, 1, "mesh", "invalid characters",
         "meta"),
]


# A bound against hangs, not a performance assertion: generous enough to hold on a loaded 2-core
# machine (each case takes well under a second alone; the 100 MB scalar a few seconds).
HANG_BOUND_S = 120


@dataclass
class Readers:
    """Which YAML reader a case ran through: the native one (`_core.yaml_load`, falling back to the
    reference for texts with a problem) or only the reference (`read_documents_reference`) over
    PyYAML's C parser or its pure-Python one."""

    mode: str
    loader: Optional[type] = None  # the PyYAML loader the reference must start with
    native_calls: int = 0
    reference_loaders: list = field(default_factory=list)  # loaders the reference read with, in order


@pytest.fixture(params=["native", "libyaml", "pure-python"])
def yaml_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Readers:
    """Every case holds with the native reader and, forced to the reference reader, with PyYAML's C
    parser and with its pure-Python one (the limits are ours, not the parser's)."""
    readers = Readers(str(request.param))
    if readers.mode == "native":
        if yaml_source._yaml_load is None:
            pytest.skip("the native module has no YAML reader")
        monkeypatch.delenv("MESHAUTHZ_YAML", raising=False)
    else:
        monkeypatch.setenv("MESHAUTHZ_YAML", "reference")
        if readers.mode == "libyaml":
            if not hasattr(yaml, "CSafeLoader"):
                pytest.skip("this PyYAML has no libyaml")
            readers.loader = yaml.CSafeLoader
        else:
            readers.loader = yaml.SafeLoader
        monkeypatch.setattr(yaml_source, "_Loader", readers.loader)
    native, read = yaml_source._yaml_load, yaml_source._read

    def counting_native(*args: object) -> object:
        readers.native_calls += 1
        return native(*args)  # type: ignore[misc]

    def recording_read(data: str, file: str, loader: type, skip: int) -> object:
        readers.reference_loaders.append(loader)
        return read(data, file, loader, skip)

    if native is not None:
        monkeypatch.setattr(yaml_source, "_yaml_load", counting_native)
    monkeypatch.setattr(yaml_source, "_read", recording_read)
    return readers


@pytest.mark.timeout(HANG_BOUND_S)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_document_gets_one_located_problem(case: Case, tmp_path: Path, yaml_loader: Readers,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{case.id}.yaml"
    path.write_bytes(case.text.encode() if isinstance(case.text, str) else case.text)
    result = meshauthz.validate(path)
    assert len(result.problems) == 1, [str(p) for p in result.problems]
    p = result.problems[0]
    assert (p.file, p.document, p.line, p.column, p.path, p.code) == (
        str(path), case.document, case.line, case.column, case.path, case.code), str(p)
    assert case.contains in p.message + " " + p.expected
    assert p.expected or p.message  # every problem says what was expected or what is wrong
    # the reader under test really read the text (only a text refused before parsing reads none)
    if yaml_loader.mode == "native":
        assert yaml_loader.native_calls or case.code == "binary"
    else:
        assert yaml_loader.native_calls == 0
        assert yaml_loader.reference_loaders or case.code == "binary"
        if yaml_loader.reference_loaders:
            assert yaml_loader.reference_loaders[0] is yaml_loader.loader
    with pytest.raises(meshauthz.InputError):
        meshauthz.load(path)
    assert cli_main(["validate", str(path)]) == 1
    err = capsys.readouterr()
    assert "Traceback" not in err.out + err.err
    assert str(path) in err.out


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.timeout(HANG_BOUND_S)
def test_hundred_megabyte_scalar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "w") as f:
        f.write("type: Mesh\nname: ")
        f.write("x" * 100_000_000)
        f.write("\n")
    result = meshauthz.validate(path)
    [p] = result.problems
    assert (p.file, p.document, p.line, p.column, p.code) == (str(path), 0, 2, 7, "limit")
    assert "exceeds the 1048576 limit" in p.message


def test_every_document_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("type: Nope\nname: a\n---\n---\ntype: Mesh\nname: B\n---\n" + TP_OK)
    result = meshauthz.validate(path)
    assert [(p.document, p.path) for p in result.problems] == [(0, "type"), (2, "name")]
    assert [r.name for r in result.resources] == ["tp"]


def test_duplicate_resource_is_located(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(TP_OK + "---\n" + TP_OK)
    [p] = meshauthz.validate(path).problems
    assert (p.document, p.line, p.code) == (1, 9, "duplicate-resource")
    assert "already defined at" in p.message and "document 0" in p.message


def test_merge_keys_and_anchors_still_work() -> None:
    store = meshauthz.loads("""
type: Dataplane
name: dp-1
mesh: default
networking:
  address: 10.0.0.1
  inbound:
    - &in {port: 8080, tags: &t {kuma.io/service: web, version: v1}}
    - <<: *in
      port: 8081
      tags: {<<: *t, version: v2}
""")
    dp = store.get("Dataplane", "dp-1", mesh="default")
    inbound = dp.body["networking"]["inbound"]
    assert inbound[1] == {"port": 8081, "tags": {"kuma.io/service": "web", "version": "v2"}}


def test_empty_documents_are_skipped() -> None:
    store = meshauthz.loads("---\n---\n" + TP_OK + "---\n")
    assert [r.name for r in store] == ["tp"]
