"""TrafficPermission `Validate()` (TP §5.1): sources, then destinations, with identical rules."""

from __future__ import annotations

import re
from typing import Any

from .tags import validate_selectors


def validate(body: dict[str, Any]) -> list:
    # T5.1–T5.6; T5.7: no mandatory kuma.io/service; T5.8: everything collected.
    return validate_selectors(("sources",), body.get("sources")) + \
        validate_selectors(("destinations",), body.get("destinations"))


_TAG_NAME = re.compile(r"[a-zA-Z0-9.\-_:/]+")  # non-empty TAG_NAME (T5.3, T5.4)
_SELECTOR_VALUE = re.compile(r"[a-zA-Z0-9.\-_:/]+|\*")  # non-empty SELECTOR_VALUE (T5.5, T5.6)


def clean(body: dict[str, Any]) -> bool:
    """True only when `body` passes the model types (no unknown field) and T5.1–T5.6 with nothing to
    report: the same verdict as the native reader's (meshauthz_core::yaml::clean), for resources
    that come without it (bundles read without a verified signature)."""
    if not body.keys() <= {"sources", "destinations"}:
        return False
    for key in ("sources", "destinations"):
        items = body.get(key)
        if type(items) is not list or not items:
            return False
        for item in items:
            if type(item) is not dict or len(item) != 1:
                return False
            tags = item.get("match")
            if type(tags) is not dict or not tags:
                return False
            for k, v in tags.items():
                if type(k) is not str or type(v) is not str or not _TAG_NAME.fullmatch(k) \
                        or not _SELECTOR_VALUE.fullmatch(v):
                    return False
    return True
