"""Fixtures for the `meshauthz serve` suites (issue #15): a real uvicorn server on 127.0.0.1:0 per test,
a temporary SQLite file or a fresh PostgreSQL database, httpx clients. Import the fixtures by name.

PostgreSQL: `MESHAUTHZ_TEST_POSTGRES` (default postgresql://postgres@127.0.0.1:55432/postgres, the
cluster `.ci/postgres.sh` starts). Unreachable → skip, unless CI is set: then the test fails loudly.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jwt")
import httpx  # noqa: E402

from meshauthz.server import ServerConfig, start_in_thread  # noqa: E402
from meshauthz.server.runner import RunningServer  # noqa: E402

PG_URL = os.environ.get("MESHAUTHZ_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:55432/postgres")
STORES = ["sqlite", "postgresql"]


def _pg_admin() -> Any:
    try:
        import psycopg
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"psycopg missing on CI: {e}")
        pytest.skip("psycopg not installed")
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as e:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable at {PG_URL} on CI (.ci/postgres.sh must start it): {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {e}")


def new_pg_database(cleanup: list[Callable[[], None]]) -> str:
    """A fresh database on the test cluster; `cleanup` gets its DROP."""
    admin = _pg_admin()
    name = "meshauthz_" + uuid.uuid4().hex[:12]
    admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = PG_URL.rpartition("/")

    def drop() -> None:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

    cleanup.append(drop)
    return f"{base}/{name}"


class Api:
    """One running server plus helpers; `client(token)` talks plain HTTP to it."""

    def __init__(self, running: RunningServer) -> None:
        self.running = running
        self.service = running.service
        self.url = running.url
        self._clients: list[httpx.Client] = []

    def client(self, token: Optional[str] = None, **headers: str) -> httpx.Client:
        h = dict(headers)
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        c = httpx.Client(base_url=self.url, headers=h, timeout=30, trust_env=False)
        self._clients.append(c)
        return c

    def admin_token(self) -> str:
        """Read as the walkthrough does: the GlobalSecret `admin-user-token` (decoded)."""
        doc = self.service.snapshot.docs[("GlobalSecret", "", "admin-user-token")]
        return base64.b64decode(doc["data"]).decode()

    def token(self, name: str, groups: Optional[list[str]] = None, valid_for: str = "24h") -> str:
        r = self.client(self.admin_token()).post("/tokens/user", json={"name": name, "groups": groups or [],
                                                                       "validFor": valid_for})
        assert r.status_code == 200, r.text
        return r.text

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.running.stop()


@pytest.fixture
def server_factory(tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Api]]:
    """`make(store="sqlite"|"postgresql"|URL, **config)`; localhost-is-admin off unless asked (§9)."""
    started: list[Api] = []
    cleanup: list[Callable[[], None]] = []

    def make(store: str = "sqlite", **config: Any) -> Api:
        if ":" in store:
            url = store
        elif store == "sqlite":
            url = f"sqlite:{tmp_path / f'meshauthz-{len(started)}.db'}"
        else:
            url = new_pg_database(cleanup)
        config.setdefault("localhost_is_admin", False)
        config.setdefault("https_port", None)
        config.setdefault("access_log", False)
        cfg = ServerConfig(address="127.0.0.1:0", store=url, **config)
        api = Api(start_in_thread(cfg))
        started.append(api)
        return api

    make.pg_database = lambda: new_pg_database(cleanup)  # type: ignore[attr-defined]
    yield make
    for api in started:
        api.close()
    for fn in cleanup:
        fn()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def api(server_factory: Callable[..., Api], store_kind: str) -> Api:
    return server_factory(store_kind)


def poll(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Call `fn` until it returns a truthy value or the deadline passes (then return the last value)."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def err(status: int, title: str, detail: str, params: Optional[list[tuple[str, str]]] = None) -> dict[str, Any]:
    """The S3.1 body, written out independently of the server's own builder."""
    body: dict[str, Any] = {"type": "/std-errors", "status": status, "title": title, "detail": detail}
    if params:
        body["invalid_parameters"] = [{"field": f, "reason": r} for f, r in params]
    body["details"] = detail
    if params:
        body["causes"] = [{"field": f, "message": r} for f, r in params]
    return body
