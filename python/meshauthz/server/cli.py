"""Command line of the server: `meshauthz serve`, `meshauthz token`, `meshauthz webhook-manifest`.

Standalone (`main(argv)`) and pluggable into the main CLI (`add_parsers(subparsers)`). Exit codes: 0 ok,
2 bad usage / input (the `serve` extra missing, an unreadable key file, a bad duration).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Optional

from .config import ConfigError, load_config
from .store import StoreError

EXIT_OK, EXIT_USAGE = 0, 2
_EXTRA = "the server needs the `serve` extra: pip install 'meshauthz[serve]'"


def _serve(args: argparse.Namespace) -> int:
    try:
        import logging

        from .runner import serve  # lazy: the `serve` extra (uvicorn, starlette) may be missing
    except ImportError as e:
        print(f"error: {_EXTRA} ({e})", file=sys.stderr)
        return EXIT_USAGE
    overrides = {"address": args.address, "store": args.store, "read_only": True if args.read_only else None}
    if args.no_https:
        overrides["https_port"] = None
    elif args.https_port is not None:
        overrides["https_port"] = args.https_port
    try:
        config = load_config(args.config, **overrides)
        if args.no_https:
            config.https_port = None
    except (ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        serve(config)
    except (StoreError, OSError, ValueError) as e:  # unreachable database, port in use, bad key file
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    try:
        from . import tokens  # lazy: the `serve` extra (PyJWT, cryptography) may be missing
    except ImportError as e:
        print(f"error: {_EXTRA} ({e})", file=sys.stderr)
        return EXIT_USAGE
    try:
        with open(args.signing_key, "rb") as f:
            pem = f.read()
        seconds = tokens.parse_go_duration(args.valid_for)
        if seconds <= 0 or seconds > tokens.MAX_VALID_FOR:
            raise ValueError(f"--valid-for must be positive and at most 87600h, got {args.valid_for}")
        token = tokens.issue(pem, args.kid, args.name, args.group or [], seconds)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(token)
    return EXIT_OK


def _manifest(args: argparse.Namespace) -> int:
    import base64

    from .webhook import manifest  # lazy: needs the `serve` extra (PyJWT, cryptography via tokens)

    ca = ""
    if args.ca_file:
        try:
            with open(args.ca_file, "rb") as f:
                ca = base64.b64encode(f.read()).decode()
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_USAGE
    sys.stdout.write(manifest(args.service, args.namespace, args.port, ca))
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the Kuma-compatible API server that enforces RBAC")
    p.add_argument("--config", help="YAML configuration file (Kuma setting paths)")
    p.add_argument("--address", help="HOST:PORT of the plain HTTP listener (default 127.0.0.1:5681)")
    p.add_argument("--https-port", type=int, help="port of the TLS listener (default 5682)")
    p.add_argument("--no-https", action="store_true", help="do not open the TLS listener")
    p.add_argument("--store", help="sqlite:PATH (default sqlite:meshauthz.db) or postgresql://...")
    p.add_argument("--read-only", action="store_true", help="refuse every write (405)")
    p.set_defaults(func=_serve)

    t = sub.add_parser("token", help="issue a user token offline from a signing key file")
    t.add_argument("--signing-key", required=True, help="PEM RSA private key (the GlobalSecret's data)")
    t.add_argument("--kid", type=int, default=1, help="the key's serial (user-token-signing-key-N); default 1")
    t.add_argument("--name", required=True)
    t.add_argument("--group", action="append", help="repeatable")
    t.add_argument("--valid-for", default="24h", help="Go duration, e.g. 24h (default)")
    t.set_defaults(func=_token)

    w = sub.add_parser("webhook-manifest", help="print the ValidatingWebhookConfiguration")
    w.add_argument("--namespace", default="kuma-system")
    w.add_argument("--service", default="kuma-control-plane")
    w.add_argument("--port", type=int, default=5682)
    w.add_argument("--ca-file", help="PEM CA bundle of the serving certificate")
    w.set_defaults(func=_manifest)


def register(cli: Any) -> None:
    """Add `serve`, `token` and `webhook-manifest` to the main (Click) CLI, same options as above."""
    import click

    @cli.command("serve", short_help="Run the Kuma-compatible API server that enforces RBAC.")
    @click.option("--config", help="YAML configuration file (Kuma setting paths).")
    @click.option("--address", help="HOST:PORT of the plain HTTP listener (default 127.0.0.1:5681).")
    @click.option("--https-port", type=int, help="Port of the TLS listener (default 5682).")
    @click.option("--no-https", is_flag=True, help="Do not open the TLS listener.")
    @click.option("--store", help="sqlite:PATH (default sqlite:meshauthz.db) or postgresql://...")
    @click.option("--read-only", is_flag=True, help="Refuse every write (405).")
    def serve_cmd(**kw: Any) -> int:
        """Run the Kuma-compatible control-plane API (docs/server.md)."""
        return _serve(argparse.Namespace(**kw))

    @cli.command("token", short_help="Issue a user token offline from a signing key file.")
    @click.option("--signing-key", required=True, help="PEM RSA private key (the GlobalSecret's data).")
    @click.option("--kid", type=int, default=1, show_default=True, help="The key's serial (user-token-signing-key-N).")
    @click.option("--name", required=True, help="The user name.")
    @click.option("--group", multiple=True, help="A group (repeatable).")
    @click.option("--valid-for", default="24h", show_default=True, help="Go duration, e.g. 24h.")
    def token_cmd(**kw: Any) -> int:
        """Issue an RS256 user token offline."""
        kw["group"] = list(kw["group"])
        return _token(argparse.Namespace(**kw))

    @cli.command("webhook-manifest", short_help="Print the ValidatingWebhookConfiguration.")
    @click.option("--namespace", default="kuma-system", show_default=True)
    @click.option("--service", default="kuma-control-plane", show_default=True)
    @click.option("--port", type=int, default=5682, show_default=True)
    @click.option("--ca-file", help="PEM CA bundle of the serving certificate.")
    def manifest_cmd(**kw: Any) -> int:
        """Print the Kubernetes admission webhook manifest."""
        return _manifest(argparse.Namespace(**kw))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="meshauthz")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
