"""`authorize_inbound_mtp` (meshtrafficpermission.md §7) on the MTP file's `authorize_inbound` vectors.

The lead wires the shared `authorize_inbound` kind; here every vector for which the MTP part decides
(result not None, i.e. not E5) must match `expect`, and E5 cases must carry a legacy-TP reason.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from conftest import VECTORS
from meshauthz import load_dicts
from meshauthz.mtp import authorize_inbound_mtp

DOC = yaml.safe_load((VECTORS / "meshtrafficpermission.yaml").read_text())
AUTH = [v for v in DOC["vectors"] if v["query"]["kind"] == "authorize_inbound"]


def _run(v: dict[str, Any]) -> Any:
    return authorize_inbound_mtp(load_dicts(v.get("resources") or []), v["query"]["client"],
                                 v["query"]["destination"])


@pytest.mark.parametrize("vector", AUTH, ids=[v["id"] for v in AUTH])
def test_authorize_inbound_mtp(vector: dict[str, Any]) -> None:
    got = _run(vector)
    if got is None:  # E5: legacy TrafficPermission decides (TP reason codes)
        assert vector["expect"]["reason"] in ("allowed", "source-not-matched")
        return
    assert {k: got.get(k) for k in vector["expect"]} == vector["expect"]


def test_score_report() -> None:
    decided = [(v, r) for v in AUTH if (r := _run(v)) is not None]
    right = sum(all(r.get(k) == x for k, x in v["expect"].items()) for v, r in decided)
    print(f"authorize_inbound_mtp: {right}/{len(decided)} right ({len(AUTH) - len(decided)} E5 excluded)")
    assert len(AUTH) == 27 and right == len(decided)
