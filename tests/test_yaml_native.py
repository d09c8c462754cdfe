"""The native YAML reader against the reference reader (yaml_source.read_documents_reference).

Issue #13: both read the malformed corpus, `examples/` and hypothesis-generated documents; values,
the position of every path, and problems compared on (document, line, code) must be equal.

Two levels are checked:
- `read_documents` (what the loader uses: native, with the reference for problems and for YAML
  outside the native subset) equals the reference on every input;
- the native reader alone never accepts a text the reference refuses, and whenever both accept, the
  values and positions are equal (so the fallback only ever words problems or reads exotic YAML).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshauthz import _core
from meshauthz.errors import ParseError
from meshauthz.yaml_source import (
    Document,
    _decode,
    _make_timestamp,
    construct_plain,
    read_documents,
    read_documents_reference,
)
from test_malformed_corpus import CASES, TP_OK

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))


def _same(a: Any, b: Any) -> bool:
    """Equality that also requires equal types (1 vs True vs 1.0) and treats NaN as equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if hasattr(a, "nanosecond"):
        return a == b and a.tzinfo == b.tzinfo and a.nanosecond == b.nanosecond
    return bool(a == b)


Outcome = tuple[Optional[list[tuple[int, Any, dict[Any, Any]]]], Optional[tuple[Optional[int], Optional[int], str]]]


def _outcome(docs: Any) -> Outcome:
    try:
        return [(d.index, d.value, d.positions) for d in docs()], None
    except ParseError as e:
        p = e.problems[0]
        return None, (p.document, p.line, p.code)


def _native_alone(text: Any) -> Outcome:
    try:
        decoded = _decode(text, "f")
    except ParseError as e:
        p = e.problems[0]
        return None, (p.document, p.line, p.code)
    docs, problem = _core.yaml_load(decoded, _make_timestamp, __import__("datetime").date, construct_plain)
    if docs is None:
        return None, (problem[1], problem[2], "outside-subset" if problem[5] else problem[4])
    return [(i, v, Document(v, "f", i, marks=m).positions) for i, v, m, _, _, _ in docs], None


def _assert_equal(a: Outcome, b: Outcome) -> None:
    assert a[1] == b[1]
    if a[0] is None or b[0] is None:
        assert a[0] is b[0]
        return
    assert len(a[0]) == len(b[0])
    for (ia, va, pa), (ib, vb, pb) in zip(a[0], b[0]):
        assert ia == ib
        assert _same(va, vb), (va, vb)
        assert pa == pb


def check(text: Any) -> None:
    reference = _outcome(lambda: read_documents_reference(text, "f"))
    _assert_equal(_outcome(lambda: read_documents(text, "f")), reference)
    native = _native_alone(text)
    if reference[1] is not None:
        assert native[0] is None, "the native reader accepted a text the reference refuses"
        if native[1] and native[1][2] in ("duplicate-key", "limit"):
            assert native[1] == reference[1]  # our own checks: same document, line and code
    elif native[0] is not None:
        _assert_equal(native, reference)
    else:
        # refused natively, accepted by the reference: only for YAML outside the native subset
        assert native[1] is not None and native[1][2] == "outside-subset", native


@pytest.mark.parametrize("case", [c for c in CASES if c.id != "deep-nesting"], ids=lambda c: c.id)
def test_malformed_corpus(case: Any) -> None:
    check(case.text)


def test_deep_nesting_is_refused_natively_at_level_101() -> None:
    # the native depth check is ours: `limit` where level 101 opens (column 103 here)
    text = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert _native_alone(text)[1] == (0, 1, "limit")
    docs, problem = _core.yaml_load(text, _make_timestamp, None, construct_plain)
    assert docs is None and problem[3] == 103


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples(path: Path) -> None:
    data = path.read_bytes()
    check(data)
    assert _native_alone(data)[0] is not None  # the examples are read natively, no fallback


EDGE = [
    "",
    "# only a comment\n",
    "---\n",
    "---\n...\n---\na: 1\n",
    "a: &x {b: 1}\nc: *x\nd:\n- &y 3\n- *y\n- <<: *x\n  e: 2\n",
    "a: &m\n  x: 1\nb:\n  <<: [*m, {y: 2}]\n  x: 3\n",
    "a: {x: 1}\n<<: {a: 2, b: 3}\n",
    "- &a a\n- &a b\n- *a\n",
    "a: 1\r\nb:\r\n  - c\r\n",
    "1: a\ntrue: b\n",
    "1: a\n1.0: b\n",
    "2001-12-14: x\n2001-12-14: y\n",
    "x: [1, 2, {a: b}]\n? c\n: d\n",
    "k: 0x1F\nl: 1_000\nm: 1:30\nn: .inf\no: -.INF\np: .NaN\nq: 1.5e+3\nr: yes\ns: off\nt: ~\n"
    "u: 2001-12-14t21:59:43.10-05:00\nv: 2001-12-14 21:59:43.10\nw: 123456789012345678901234567890\n"
    "x: 1:30.5\ny: 0o17\nz: 017\n",
    "a: 2001-12-14 21:59:43.10 +05\nb: 2002-02-29\nc: 2001-1-1 1:00:00\nd: 2024-01-01T00:00:00.123456789Z\n",
    "a: .5\nb: 1.\nc: -1_0.0_1\nd: 1e5\ne: +1\nf: -0\ng: 0b_\nh: 0x_\ni: 1.e+5\nj: =\n",
    "a: |\n  text\n  more\nb: >-\n  folded\n  lines\nc: 'multi\n  line'\n",
    "- !!str 1\n",
    "%YAML 1.1\n---\na: 1\n",
    "x: \"a\\u2028b\"\n",
    "a: \u0085b\n",
    "\ufeffa: 1\n",
    "a: &a [*a]\n",
    "a: *nope\n",
    "a: b\nc\n",
    "k: {a: 1, a: 2}\n",
    "? - a\n: b\n",
    TP_OK + "---\n" + TP_OK,
    "a: |2-\n   x\n  y\nb: >+\n  folded\n\n",
    '"quoted \\t key": "esc \\u00e9 \\x41"\n',
    "a: multi\n  line plain\n  scalar\nb: 2\n",
    "{a: , b}\n",
    "k" * 1100 + ": v\n",  # libyaml's 1024-character simple key limit
    "&k key: &v value\n*k : x\n",
    "a: 1 # c\n# only\n...\n# after end\n---\nb: 2\n",
    "- - - a\n    - b\n  - c\n",
    "a:\t1\n",
    "- >\n a\n b\n\n c\n",
    "--- >\n  folded root\n",
    "--- |\n  literal root\n",
    "a: &anchor\nb: *anchor\n",
    "'a': 1\n\"a\": 2\n",
    "0x1: a\n1: b\n",
    ".inf: a\n.Inf: b\n",
    "a: 685.230_15e+03\nb: 190:20:30.15\nc: 2001-12-15 2:59:43.10\n",
]


@pytest.mark.parametrize("text", EDGE)
def test_edge_cases(text: str) -> None:
    check(text)


# --- hypothesis: plain scalars (YAML 1.1 resolution) and dumped structures -------------------------

TOKENS = ["yes", "No", "ON", "off", "y", "n", "true", "False", "null", "Null", "~", "", "0", "-0", "+1", "07",
          "08", "0o7", "0x1f", "0X1F", "0b101", "0b_", "1_000", "1__0", "1:30", "1:60", "-1:20:30", "1:30.5",
          "190:20:30.15", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "-.nan", "1.", ".5", "1.e+5", "1.5e-3",
          "1e5", "1_0.5_0", "._5", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10",
          "2024-02-29", "2023-02-29", "2024-01-01T25:00:00Z", "2024-1-2 3:04:05 +5", "2024-01-01T00:00:00+24:00",
          "2024-01-01T00:00:00.123456789Z", "0000-01-01", "<<x", "=x", "kuma.io/service", "a b", "12345678901234567890",
          "-9223372036854775809", "9223372036854775807", "0x" + "f" * 20, "1_2:3_4"]

plain = st.one_of(st.sampled_from(TOKENS), st.from_regex(r"[0-9][0-9_:.eE+-]{0,10}", fullmatch=True),
                  st.from_regex(r"[-+.]?[0-9a-fA-FxXbo_.]{1,8}", fullmatch=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(plain, min_size=1, max_size=8), st.booleans())
def test_plain_scalars_resolve_as_pyyaml(tokens: list[str], flow: bool) -> None:
    if flow:
        text = "[" + ", ".join(tokens) + "]\n"
    else:
        text = "".join(f"k{i}: {t}\n" for i, t in enumerate(tokens))
    check(text)
    check("".join(f"- {t}\n" for t in tokens))


keys = st.one_of(st.text(min_size=0, max_size=6), st.integers(-5, 5), st.sampled_from(["<<", "a", "b", "yes", "1"]))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                   st.sampled_from(TOKENS), st.dates(), st.datetimes())
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=3), st.sampled_from([None, True, False]), st.booleans(),
       st.sampled_from([20, 80, 1000]), st.booleans())
def test_dumped_documents(docs: list[Any], flow: Optional[bool], unicode: bool, width: int, start: bool) -> None:
    text = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=unicode, width=width,
                              explicit_start=start)
    check(text)
    check(text.encode("utf-8"))


def _big_stream(n: int) -> str:
    return "---\n".join(TP_OK.replace("name: tp", f"name: tp-{i}") + f"labels: {{n: '{i}'}}\n" for i in range(n))


def test_big_streams_read_on_a_second_thread_equal_the_reference() -> None:
    text = _big_stream(2500)  # past the size from which a second thread reads while this one converts
    assert len(text) > 256 * 1024
    check(text)
    # problems late in a big stream: ours (duplicate key) and the parser's (syntax)
    check(text + "---\ntype: Mesh\nname: a\nname: b\n")
    check(text + "---\ntype: Mesh\nname: [a\n")
    docs = list(read_documents(text, "f"))
    assert len(docs) == 2500 and all(d.clean for d in docs)
    assert docs[-1].mark(("destinations", 0, "match")) == (9 * 2499 + 7, 5)  # 8 lines + "---" per document


def _indent(text: str) -> str:
    return "".join("  " + line + "\n" for line in text.splitlines())


flat = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "1", "yes"]), leaves, min_size=1, max_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flat, flat, flat, st.booleans())
def test_anchors_aliases_and_merges(base: dict[str, Any], other: dict[str, Any], third: dict[str, Any],
                                   as_list: bool) -> None:
    merge = "[*b, *t]" if as_list else "*b"
    text = (f"base: &b\n{_indent(yaml.safe_dump(base))}third: &t\n{_indent(yaml.safe_dump(third))}"
            f"other:\n  <<: {merge}\n{_indent(yaml.safe_dump(other))}copies: [*b, *t, *b]\n")
    check(text)
