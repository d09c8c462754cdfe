"""M6.5 subset algebra; subsets are lists of `k=v` (positive) / `k!=v` (negated) strings."""

from __future__ import annotations

from typing import Mapping, Sequence

from .. import _core


def subset_contains(subset: Sequence[str], element: Mapping[str, str]) -> bool:
    """Kuma `ContainsElement`: does `subset` contain the single-valued client `element`."""
    return _core.mtp_subset_contains(list(subset), dict(element))


def subset_is_subset(s1: Sequence[str], s2: Sequence[str]) -> bool:
    """Kuma `IsSubset`: is `s2` a subset of `s1`."""
    return _core.mtp_subset_is_subset(list(s1), list(s2))


def subset_iter(tags: Sequence[str]) -> list[list[str]]:
    """Kuma `SubsetIter` (M6.4.4): every combination, in enumeration order, tags in the given order."""
    return _core.mtp_subset_iter(list(tags))
