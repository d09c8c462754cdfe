"""Server configuration (defaults, YAML file with Kuma setting paths, KUMA_* environment, flags) and the
CLI hook: `meshauthz serve|token|webhook-manifest` are commands of the main CLI."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")

from meshauthz.server.config import ConfigError, load_config  # noqa: E402


def test_defaults_file_env_and_overrides(tmp_path) -> None:
    cfg = load_config(env={})
    assert (cfg.address, cfg.https_port, cfg.localhost_is_admin, cfg.store) == (
        "127.0.0.1:5681", 5682, True, "sqlite:meshauthz.db")
    f = tmp_path / "c.yaml"
    f.write_text("apiServer:\n  authn:\n    localhostIsAdmin: false\n    tokens:\n      enableIssuer: false\n"
                 "access:\n  type: static\nruntime:\n  kubernetes:\n    allowedUsers: [a, b]\n")
    cfg = load_config(str(f), env={})
    assert (cfg.localhost_is_admin, cfg.enable_issuer, cfg.access_type, cfg.allowed_users) == (
        False, False, "static", ["a", "b"])
    cfg = load_config(str(f), env={"KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN": "true",
                                   "KUMA_RUNTIME_KUBERNETES_ALLOWED_USERS": "x, y"}, store="sqlite:/tmp/x.db")
    assert (cfg.localhost_is_admin, cfg.allowed_users, cfg.store) == (True, ["x", "y"], "sqlite:/tmp/x.db")
    with pytest.raises(ConfigError):
        load_config(env={"KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN": "maybe"})
    with pytest.raises(ConfigError):
        load_config(env={"KUMA_ACCESS_TYPE": "open"})


def test_main_cli_has_the_server_commands(tmp_path) -> None:
    """`serve`, `token` and `webhook-manifest` are commands of the main `meshauthz` CLI."""
    from click.testing import CliRunner

    from meshauthz.cli import cli

    runner = CliRunner()
    for name in ("serve", "token", "webhook-manifest"):
        result = runner.invoke(cli, [name, "--help"], prog_name="meshauthz")
        assert result.exit_code == 0, result.output
        assert f"meshauthz {name}" in result.output
    manifest = runner.invoke(cli, ["webhook-manifest", "--namespace", "mesh-ns"])
    assert manifest.exit_code == 0 and "ValidatingWebhookConfiguration" in manifest.output
    assert "mesh-ns" in manifest.output
    from meshauthz.cli import main

    # an unreadable key file is bad input (exit 2), not a traceback
    assert main(["token", "--signing-key", str(tmp_path / "none.pem"), "--name", "n"]) == 2


def test_structured_access_log(tmp_path, caplog) -> None:
    import json
    import logging

    import httpx

    from meshauthz.server import ServerConfig, start_in_thread

    running = start_in_thread(ServerConfig(address="127.0.0.1:0", https_port=None, store=f"sqlite:{tmp_path / 'l.db'}",
                                           localhost_is_admin=False))
    try:
        with caplog.at_level(logging.INFO, logger="meshauthz.access"):
            with httpx.Client(base_url=running.url, trust_env=False) as c:
                c.get("/meshes/default")
                c.post("/_meshauthz/v1/access", json={"action": "CREATE", "resource": {"type": "Mesh", "name": "x"}})
                c.get("/who-am-i", headers={"Authorization": "Bearer nope"})
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "meshauthz.access"]
    finally:
        running.stop()
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("GET", "/meshes/default", 200), ("POST", "/_meshauthz/v1/access", 200), ("GET", "/who-am-i", 401)]
    assert lines[0]["user"] == "mesh-system:anonymous/mesh-system:unauthenticated"
    assert lines[2]["user"] is None and all(x["peer"] == "127.0.0.1" and x["ms"] >= 0 for x in lines)


def test_access_log_can_be_turned_off(tmp_path, caplog) -> None:
    import logging

    import httpx

    from meshauthz.server import ServerConfig, start_in_thread

    running = start_in_thread(ServerConfig(address="127.0.0.1:0", https_port=None, store=f"sqlite:{tmp_path / 'l.db'}",
                                           access_log=False))
    try:
        with caplog.at_level(logging.INFO, logger="meshauthz.access"):
            with httpx.Client(base_url=running.url, trust_env=False) as c:
                assert c.get("/meshes/default").status_code == 200
                assert c.post("/_meshauthz/v1/access", json={"action": "X"}).status_code == 400
    finally:
        running.stop()
    assert not [r for r in caplog.records if r.name == "meshauthz.access"]


def test_serve_reports_an_unreachable_store(capsys) -> None:
    from meshauthz.server.cli import main

    assert main(["serve", "--no-https", "--address", "127.0.0.1:0", "--store", "postgresql://x@127.0.0.1:1/x"]) == 2
    assert "cannot open PostgreSQL store" in capsys.readouterr().err
