"""The per-kind handler table: each area module registers its handlers here (`@handler(kind)`), and
the runner dispatches through it. Split from `runner.py` (#11 item 8) so the area modules never
import the runner that imports them."""

from __future__ import annotations

from typing import Any, Callable

Handler = Callable[[dict[str, Any], dict[str, Any]], Any]
"""handler(vector, file_document) -> result; the file document gives catalogues (rbac roles)."""

HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return register
