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


def test_main_cli_has_the_server_commands(capsys) -> None:
    from meshauthz.cli import build_parser

    parser = build_parser()
    for argv in (["serve", "--store", "sqlite:x.db", "--no-https"], ["token", "--signing-key", "k", "--name", "n"],
                 ["webhook-manifest"]):
        args = parser.parse_args(argv)
        assert callable(args.func)
