"""`meshauthz serve`: a Kuma-compatible control-plane API that enforces Kong Mesh RBAC (issue #15).

Spec: `server.md` (S-rules). Needs the `serve` extra: `pip install 'meshauthz[serve]'`.

    from meshauthz.server import ServerConfig, start_in_thread
    running = start_in_thread(ServerConfig(address="127.0.0.1:0", store="sqlite:/tmp/x.db"))
    print(running.url)
    running.stop()
"""

from __future__ import annotations

from .config import ServerConfig, load_config
from .runner import RunningServer, build_service, serve, start_in_thread

__all__ = ["ServerConfig", "load_config", "RunningServer", "build_service", "serve", "start_in_thread"]
