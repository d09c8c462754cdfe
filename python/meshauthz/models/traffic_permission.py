"""TrafficPermission (TP §1.1): `sources` / `destinations`, lists of `{match: map}`."""

from __future__ import annotations

from typing import List, Optional

from .base import KumaModel, StrMap


class Selector(KumaModel):
    match: StrMap = None


class TrafficPermission(KumaModel):
    sources: Optional[List[Selector]] = None
    destinations: Optional[List[Selector]] = None
