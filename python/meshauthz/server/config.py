"""Server configuration: defaults (S1.1, Kuma `kuma-cp.defaults.yaml`), a YAML file, `KUMA_*` variables.

Precedence: defaults < file < environment < command-line flags. File keys use Kuma's config paths
(`apiServer.authn.localhostIsAdmin`, ...); each has the environment variable Kuma derives from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional

import yaml


@dataclass
class ServerConfig:
    address: str = "127.0.0.1:5681"  # plain HTTP
    https_port: Optional[int] = 5682  # TLS (same API + the webhook); None = off
    tls_cert_file: Optional[str] = None  # generated at first start beside the store when absent
    tls_key_file: Optional[str] = None
    store: str = "sqlite:meshauthz.db"
    read_only: bool = False
    # apiServer.authn
    localhost_is_admin: bool = True
    enable_issuer: bool = True
    bootstrap_admin_token: bool = True
    use_secrets: bool = True
    public_keys: list[dict[str, Any]] = field(default_factory=list)  # [{kid, key | keyFile}]
    # access
    access_type: str = "rbac"  # rbac | static
    secret_reads: str = "rbac"  # A12: rbac | open | static-admin
    static_config: Optional[dict[str, Any]] = None
    skip_admin_role_creation: bool = False
    default_admin_groups: Optional[list[str]] = None
    default_admin_users: list[str] = field(default_factory=list)
    skip_mesh_creation: bool = False
    # server (meshauthz)
    admin_groups: list[str] = field(default_factory=lambda: ["mesh-system:admin"])  # S7.1
    # runtime.kubernetes
    allowed_users: list[str] = field(default_factory=list)
    system_namespace: str = "kuma-system"
    webhook_service: str = "kuma-control-plane"
    access_log: bool = True

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


# (dataclass field, file path, environment variable, kind)
_SETTINGS: list[tuple[str, str, str, str]] = [
    ("address", "server.address", "MESHAUTHZ_ADDRESS", "str"),
    ("https_port", "apiServer.https.port", "KUMA_API_SERVER_HTTPS_PORT", "int"),
    ("tls_cert_file", "apiServer.https.tlsCertFile", "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", "str"),
    ("tls_key_file", "apiServer.https.tlsKeyFile", "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", "str"),
    ("store", "store.url", "MESHAUTHZ_STORE", "str"),
    ("read_only", "apiServer.readOnly", "KUMA_API_SERVER_READ_ONLY", "bool"),
    ("localhost_is_admin", "apiServer.authn.localhostIsAdmin", "KUMA_API_SERVER_AUTHN_LOCALHOST_IS_ADMIN", "bool"),
    ("enable_issuer", "apiServer.authn.tokens.enableIssuer", "KUMA_API_SERVER_AUTHN_TOKENS_ENABLE_ISSUER", "bool"),
    ("bootstrap_admin_token", "apiServer.authn.tokens.bootstrapAdminToken",
     "KUMA_API_SERVER_AUTHN_TOKENS_BOOTSTRAP_ADMIN_TOKEN", "bool"),
    ("use_secrets", "apiServer.authn.tokens.validator.useSecrets",
     "KUMA_API_SERVER_AUTHN_TOKENS_VALIDATOR_USE_SECRETS", "bool"),
    ("public_keys", "apiServer.authn.tokens.validator.publicKeys", "", "list"),
    ("access_type", "access.type", "KUMA_ACCESS_TYPE", "str"),
    ("secret_reads", "server.secretReads", "MESHAUTHZ_SECRET_READS", "str"),
    ("static_config", "access.static", "", "dict"),
    ("skip_admin_role_creation", "kmesh.access.rbac.skipAdminRoleCreation",
     "KMESH_ACCESS_RBAC_SKIP_ADMIN_ROLE_CREATION", "bool"),
    ("default_admin_groups", "kmesh.access.rbac.defaultAdminRoleGroups", "KMESH_ACCESS_RBAC_DEFAULT_ADMIN_ROLE_GROUPS",
     "list"),
    ("default_admin_users", "kmesh.access.rbac.defaultAdminRoleUsers", "KMESH_ACCESS_RBAC_DEFAULT_ADMIN_ROLE_USERS",
     "list"),
    ("skip_mesh_creation", "defaults.skipMeshCreation", "KUMA_DEFAULTS_SKIP_MESH_CREATION", "bool"),
    ("admin_groups", "server.adminGroups", "MESHAUTHZ_ADMIN_GROUPS", "list"),
    ("allowed_users", "runtime.kubernetes.allowedUsers", "KUMA_RUNTIME_KUBERNETES_ALLOWED_USERS", "list"),
    ("system_namespace", "store.kubernetes.systemNamespace", "KUMA_STORE_KUBERNETES_SYSTEM_NAMESPACE", "str"),
    ("access_log", "server.accessLog", "MESHAUTHZ_ACCESS_LOG", "bool"),
]


class ConfigError(ValueError):
    pass


def _convert(kind: str, value: Any, where: str) -> Any:
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if kind == "list":
        if isinstance(value, str):
            return [v for v in (p.strip() for p in value.split(",")) if v]
        if isinstance(value, list):
            return value
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if kind == "dict":
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def load_config(file: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
                **overrides: Any) -> ServerConfig:
    cfg = ServerConfig()
    data: dict[str, Any] = {}
    if file:
        with open(file, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: the configuration must be a mapping")
    env = os.environ if env is None else env
    for attr, path, var, kind in _SETTINGS:
        found, value = _lookup(data, path)
        if found:
            setattr(cfg, attr, _convert(kind, value, f"{file}: {path}"))
        if var and var in env:
            setattr(cfg, attr, _convert(kind, env[var], var))
    known = {f.name for f in fields(ServerConfig)}
    for k, v in overrides.items():
        if k not in known:
            raise ConfigError(f"unknown setting {k!r}")
        if v is not None:
            setattr(cfg, k, v)
    if cfg.access_type not in ("rbac", "static"):
        raise ConfigError(f"access.type must be rbac or static, not {cfg.access_type!r}")
    if cfg.secret_reads not in ("rbac", "open", "static-admin"):
        raise ConfigError(f"server.secretReads must be rbac, open or static-admin, not {cfg.secret_reads!r}")
    return cfg
