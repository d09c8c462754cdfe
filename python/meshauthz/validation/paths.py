"""Kuma field paths: `.field`, `[index]`, `["key"]` with the key quoted like Go's %q (TP §5)."""

from __future__ import annotations

from typing import Union

Path = tuple[Union[str, int], ...]


def go_quote(s: str) -> str:
    """Go `%q` / strconv.Quote: escape `"` and `\\`, C escapes, non-printables as \\xNN / \\uNNNN."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _C_ESCAPES:
            out.append(_C_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def render_path(path: Path) -> str:
    """Render a path tuple. A string element that is a map key (marked by wrapping it in a
    `MapKey`) renders as `["key"]`; other strings are fields, ints are indexes."""
    out: list[str] = []
    for el in path:
        if isinstance(el, MapKey):
            out.append(f"[{go_quote(str(el))}]")
        elif isinstance(el, int):
            out.append(f"[{el}]")
        else:
            out.append(("." if out else "") + el)
    return "".join(out)


class MapKey(str):
    """A path element that is a key of a user map (tags, labels) rather than a field name."""
