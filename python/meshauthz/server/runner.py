"""Process wiring: store → Service → ASGI app → uvicorn on the HTTP port and the HTTPS port.

`serve(config)` blocks until SIGINT/SIGTERM (uvicorn's graceful shutdown: in-flight requests finish);
`start_in_thread(config)` runs the same servers on a background thread (tests, embedding) and reports
the bound ports (port 0 = any free port).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import uvicorn

from .app import create_app
from .config import ServerConfig
from .service import Service
from .store import open_store
from .tls import ensure_self_signed

log = logging.getLogger("meshauthz.server")


def build_service(config: ServerConfig) -> Service:
    service = Service(config, open_store(config.store))
    service.bootstrap()
    service.start_watching()
    return service


def _tls_files(config: ServerConfig) -> tuple[str, str]:
    if config.tls_cert_file and config.tls_key_file:
        return config.tls_cert_file, config.tls_key_file
    base = config.store[len("sqlite:"):] if config.store.startswith("sqlite:") else "meshauthz"
    directory = os.path.dirname(os.path.abspath(base))
    cert, key = os.path.join(directory, "meshauthz-tls.crt"), os.path.join(directory, "meshauthz-tls.key")
    if ensure_self_signed(cert, key):
        log.info("generated a self-signed certificate %s", cert)
    return cert, key


def _servers(config: ServerConfig, app: Any) -> list[uvicorn.Server]:
    common = {"log_level": "warning", "access_log": False, "lifespan": "off", "timeout_graceful_shutdown": 10}
    servers = [uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, **common))]
    if config.https_port is not None:
        cert, key = _tls_files(config)
        servers.append(uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.https_port,
                                                     ssl_certfile=cert, ssl_keyfile=key, **common)))
    return servers


def serve(config: ServerConfig) -> None:
    """Run until interrupted."""
    service = build_service(config)
    app = create_app(service)
    servers = _servers(config, app)
    log.info("meshauthz serve: http://%s (store %s)", config.address, service.store.url)

    async def main() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    try:
        asyncio.run(main())
    finally:
        service.close()


@dataclass
class RunningServer:
    service: Service
    app: Any
    servers: list[uvicorn.Server]
    thread: threading.Thread
    ports: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def https_url(self) -> Optional[str]:
        return f"https://127.0.0.1:{self.ports[1]}" if len(self.ports) > 1 else None

    def stop(self) -> None:
        for s in self.servers:
            s.should_exit = True
        self.thread.join(timeout=15)
        self.service.close()


def start_in_thread(config: ServerConfig, timeout: float = 30.0) -> RunningServer:
    service = build_service(config)
    app = create_app(service)
    servers = _servers(config, app)
    errors: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            await asyncio.gather(*(s.serve() for s in servers))
        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - reported to the starter
            errors.append(e)

    thread = threading.Thread(target=run, name="meshauthz-serve", daemon=True)
    thread.start()
    done = threading.Event()
    deadline = timeout
    step = 0.01
    waited = 0.0
    while waited < deadline and not all(s.started for s in servers):
        if errors or not thread.is_alive():
            break
        done.wait(step)
        waited += step
    if not all(s.started for s in servers):
        for s in servers:
            s.should_exit = True
        service.close()
        raise RuntimeError(f"server did not start: {errors[0] if errors else 'timeout'}")
    ports = [s.servers[0].sockets[0].getsockname()[1] for s in servers]
    return RunningServer(service, app, servers, thread, ports)
