"""The engines a command builds from its `-f` / `--roles` inputs.

When the input is one bundle file (`meshauthz compile`), the engine comes from the bundle itself
(issue #13): a bundle signed by the `--verify-key` key activates its compiled section (no YAML, no
re-validation, no compile step); any other bundle is re-validated by `load_bundle`, as the loader
would. Several inputs, directories, stdin or YAML go through the loader (`from_paths`).
"""

from __future__ import annotations

import os
from typing import Optional

from ..bundle import MAGIC, load_bundle, required_key
from ..rbac import Authorizer
from ..traffic import TrafficEngine
from ._common import input_paths


def single_bundle(paths: list[str]) -> Optional[str]:
    """The path when `paths` is exactly one bundle file (read by its magic bytes), else None."""
    if len(paths) != 1 or paths[0] == "-" or not os.path.isfile(paths[0]):
        return None
    try:
        with open(paths[0], "rb") as f:
            head = f.read(len(MAGIC))
    except OSError:
        return None  # the loader reports the unreadable file, located
    return paths[0] if head == MAGIC else None


def traffic_engine(files: tuple[str, ...], option: str = "-f", gating: str = "legacy") -> TrafficEngine:
    paths = input_paths(files, option)
    bundle = single_bundle(paths)
    if bundle is not None:
        engine: TrafficEngine = load_bundle(bundle, verify_key=required_key()).traffic_engine(
            external_service_gating=gating)
        return engine
    return TrafficEngine.from_paths(paths, external_service_gating=gating)


def authorizer(files: tuple[str, ...], option: str = "--roles", mode: str = "rbac",
               secret_reads: str = "rbac") -> Authorizer:
    paths = input_paths(files, option)
    bundle = single_bundle(paths)
    if bundle is not None:
        authz: Authorizer = load_bundle(bundle, verify_key=required_key()).authorizer(mode, secret_reads=secret_reads)
        return authz
    return Authorizer(paths, mode=mode, secret_reads=secret_reads)
