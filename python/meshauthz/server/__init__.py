"""`meshauthz serve`: a Kuma-compatible control-plane API that enforces Kong Mesh RBAC (issue #15).

Spec: `server.md` (S-rules). Needs the `serve` extra: `pip install 'meshauthz[serve]'`.

    from meshauthz.server import ServerConfig, start_in_thread
    running = start_in_thread(ServerConfig(address="127.0.0.1:0", store="sqlite:/tmp/x.db"))
    print(running.url)
    running.stop()

Names are imported lazily so `meshauthz.server.cli` (the command line) loads without the extra.
"""

from __future__ import annotations

from typing import Any

from . import config

__all__ = ["ServerConfig", "load_config", "RunningServer", "build_service", "serve", "start_in_thread"]


def __getattr__(name: str) -> Any:
    if name in ("ServerConfig", "load_config"):
        return getattr(config, name)
    if name in ("RunningServer", "build_service", "serve", "start_in_thread"):
        from . import runner  # lazy: the `serve` extra (uvicorn, starlette) may be missing

        return getattr(runner, name)
    raise AttributeError(name)
