"""TrafficPermission `Validate()` (TP §5.1): sources, then destinations, with identical rules."""

from __future__ import annotations

from typing import Any

from .tags import validate_selectors


def validate(body: dict[str, Any]) -> list:
    # T5.1–T5.6; T5.7: no mandatory kuma.io/service; T5.8: everything collected.
    return validate_selectors(("sources",), body.get("sources")) + \
        validate_selectors(("destinations",), body.get("destinations"))
