"""The server's logic, independent of HTTP: snapshots, authentication, resource operations, tokens.

A `Snapshot` is an immutable view of one store revision: every document plus the compiled RBAC
`Authorizer` (and, built on first need, a `TrafficEngine`). Reads are served from the current
snapshot; a write locks the store (S1.2), reloads the snapshot inside the transaction if another
replica moved the revision on, decides RBAC on it, writes, commits, and only then swaps in the
snapshot of the new revision — one assignment, so a request never sees a partial policy set.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import meshauthz
from meshauthz import AccessDecision, Authorizer, User, authenticated, default_objects

from . import tokens as tk
from .config import ServerConfig
from .errors import ApiError, Param, access_denied, invalid, not_found, unauthenticated
from .store import ConflictError, Doc, Key, Store, StoreError, Tx
from .types import TYPES, ResourceType
from .validation import (
    ENVELOPE,
    check_body,
    consistency,
    decode_error,
    envelope_schema,
    json_type,
    name_deprecations,
)

log = logging.getLogger("meshauthz.server")

ADMIN = "mesh-system:admin"
AUTHENTICATED = "mesh-system:authenticated"
ADMIN_USER = User(ADMIN, [ADMIN, AUTHENTICATED])  # S4.2
ANONYMOUS_USER = User("mesh-system:anonymous", ["mesh-system:unauthenticated"])
CONTROL_PLANE_USER = User("mesh-system:control-plane", [])
RBAC_TYPES = ("AccessRole", "AccessRoleBinding")
TRAFFIC_TYPES = ("Mesh", "Dataplane", "ExternalService", "TrafficPermission", "MeshTrafficPermission")
CP_ACCOUNT = "system:serviceaccount:kuma-system:kuma-control-plane"
GC_ACCOUNT = "system:serviceaccount:kube-system:generic-garbage-collector"


def now_rfc3339() -> str:
    t = datetime.now(timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return s + "Z"


def key_of(rtype: ResourceType, mesh: Optional[str], name: str) -> Key:
    return (rtype.name, mesh or "" if rtype.mesh_scoped else "", name)


class EngineError(Exception):
    """The policy engine could not be built or could not decide (SA13 / S6.4: 500)."""


@dataclass
class Snapshot:
    revision: int
    docs: dict[Key, Doc]
    authorizer: Optional[Authorizer]
    engine_error: Optional[str] = None
    _traffic: Any = None
    _traffic_lock: threading.Lock = field(default_factory=threading.Lock)

    def meshes(self) -> set[str]:
        return {k[2] for k in self.docs if k[0] == "Mesh"}

    def traffic(self) -> Any:
        """The TrafficEngine of this revision (built on first use, then shared)."""
        with self._traffic_lock:
            if self._traffic is None:
                docs = [rbac_doc(d) for k, d in sorted(self.docs.items()) if k[0] in TRAFFIC_TYPES]
                try:
                    self._traffic = meshauthz.TrafficEngine(meshauthz.load_dicts(docs))
                except meshauthz.MeshauthzError as e:
                    raise EngineError(f"cannot compile the traffic policies: {e}") from None
            return self._traffic


def rbac_doc(doc: Doc) -> Doc:
    """The document without server-set times (what the engines read)."""
    return {k: v for k, v in doc.items() if k not in ("creationTime", "modificationTime")}


class Service:
    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self._write_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._key_cache: dict[tuple[str, str], Any] = {}
        self._token_cache: dict[str, tuple[Any, ...]] = {}
        self._static_keys: dict[str, Any] = {}
        for entry in config.public_keys:
            kid, key = str(entry.get("kid")), entry.get("key")
            if key is None and entry.get("keyFile"):
                with open(entry["keyFile"], "rb") as f:
                    key = f.read()
            if key is None:
                raise ValueError(f"publicKeys entry {kid!r} has neither key nor keyFile")
            self._static_keys[kid] = tk.load_public_key(key.encode() if isinstance(key, str) else key)
        self._snapshot = self._build(*store.load())
        self.instance_id = f"meshauthz-{int(time.time())}"
        self._closed = threading.Event()
        self._poller: Optional[threading.Thread] = None

    # ---- snapshots ---------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _build(self, revision: int, docs: dict[Key, Doc], previous: Optional[Snapshot] = None,
               rbac_changed: bool = True) -> Snapshot:
        if previous is not None and not rbac_changed:
            return Snapshot(revision, docs, previous.authorizer, previous.engine_error)
        try:
            if self.config.access_type == "static":
                authz = Authorizer((), mode="static", secret_reads=self.config.secret_reads,
                                   static_config=self.config.static_config)
            else:
                roles = [rbac_doc(d) for k, d in sorted(docs.items()) if k[0] in RBAC_TYPES]
                authz = Authorizer(roles, secret_reads=self.config.secret_reads)
            return Snapshot(revision, docs, authz)
        except meshauthz.MeshauthzError as e:  # fail closed: every check answers 500
            log.error("cannot compile the RBAC policies at revision %d: %s", revision, e)
            return Snapshot(revision, docs, None, str(e))

    def _swap(self, snap: Snapshot) -> None:
        with self._swap_lock:
            if snap.revision >= self._snapshot.revision:
                self._snapshot = snap

    def refresh(self, revision: Optional[int] = None) -> None:
        """Reload from the store when it is ahead of the snapshot (another replica wrote)."""
        if revision is not None and 0 <= revision <= self._snapshot.revision:
            return
        rev, docs = self.store.load()
        if rev != self._snapshot.revision:
            self._swap(self._build(rev, docs))

    def start_watching(self, interval: float = 0.5) -> None:
        """LISTEN (PostgreSQL) plus a revision poll as a fallback (and for SQLite shared by processes)."""
        self.store.listen(self._on_notify)

        def poll() -> None:
            while not self._closed.wait(interval):
                try:
                    if self.store.revision() != self._snapshot.revision:
                        self.refresh()
                except Exception as e:  # noqa: BLE001 - keep polling; the next write re-checks in its tx
                    log.warning("revision poll failed: %s", e)

        self._poller = threading.Thread(target=poll, name="meshauthz-poll", daemon=True)
        self._poller.start()

    def _on_notify(self, revision: int) -> None:
        try:
            self.refresh(revision)
        except Exception as e:  # noqa: BLE001
            log.warning("reload after notification failed: %s", e)

    def stop_watching(self) -> None:
        """Stop following other replicas' writes (reads may then be stale; writes still re-check)."""
        self._closed.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        self.store.stop_listening()

    def close(self) -> None:
        self.stop_watching()
        self.store.close()

    # ---- writes ------------------------------------------------------------------------------

    def _transaction(self, fn: Callable[[Tx, Snapshot], Any]) -> Any:
        """Run `fn(tx, snapshot)` in one store transaction; swap the snapshot after the commit."""
        with self._write_lock:
            try:
                with self.store.transaction() as tx:
                    snap = self._snapshot
                    if tx.revision != snap.revision:  # another replica/process wrote: decide on its state
                        snap = self._build(tx.revision, tx.all())
                        self._swap(snap)
                    result = fn(tx, snap)
                    changes = list(tx.changes)
                    base = snap
            except ConflictError as e:
                log.warning("write conflict: %s", e)
                raise ApiError(409, "Conflict", "the store was busy with a concurrent write; retry") from None
            except StoreError as e:
                log.error("store error: %s", e)
                raise ApiError(500, "Internal Server Error", "store error") from None
            if changes:
                docs = dict(base.docs)
                for k, d in changes:
                    if d is None:
                        docs.pop(k, None)
                    else:
                        docs[k] = d
                rbac_changed = any(k[0] in RBAC_TYPES for k, _ in changes)
                self._swap(self._build(base.revision + 1, docs, base, rbac_changed))
            return result

    def bootstrap(self) -> None:
        """First start (S1.3, S4.5, S4.8): default mesh, default RBAC objects, signing key, admin token.
        Written as `mesh-system:control-plane`, unchecked."""

        def run(tx: Tx, snap: Snapshot) -> None:
            docs = snap.docs
            stamp = now_rfc3339()
            if not self.config.skip_mesh_creation and not any(k[0] == "Mesh" for k in docs):
                tx.put(("Mesh", "", "default"), {"type": "Mesh", "name": "default", "creationTime": stamp,
                                                 "modificationTime": stamp})
            if self.config.access_type == "rbac" and not any(k[0] in RBAC_TYPES for k in docs):
                for obj in default_objects(admin_groups=self.config.default_admin_groups,
                                           admin_users=self.config.default_admin_users,
                                           skip_admin_role_creation=self.config.skip_admin_role_creation):
                    d = {"type": obj["type"], "name": obj["name"], "creationTime": stamp,
                         "modificationTime": stamp}
                    d.update({k: v for k, v in obj.items() if k not in ("type", "name")})
                    tx.put((obj["type"], "", obj["name"]), d)
            keys = self._signing_keys(docs)
            if not keys and (self.config.enable_issuer or self.config.bootstrap_admin_token):
                pem = tk.new_private_key_pem()
                tx.put(("GlobalSecret", "", tk.key_name(1)), self._secret_doc(tk.key_name(1), pem, stamp))
                keys = {1: pem}
            if self.config.bootstrap_admin_token and ("GlobalSecret", "", tk.ADMIN_TOKEN) not in docs and keys:
                serial = max(keys)
                token = tk.issue(keys[serial], serial, ADMIN, [ADMIN], tk.MAX_VALID_FOR)
                tx.put(("GlobalSecret", "", tk.ADMIN_TOKEN), self._secret_doc(tk.ADMIN_TOKEN, token.encode(), stamp))

        self._transaction(run)

    @staticmethod
    def _secret_doc(name: str, data: bytes, stamp: str) -> Doc:
        return {"type": "GlobalSecret", "name": name, "creationTime": stamp, "modificationTime": stamp,
                "data": base64.b64encode(data).decode()}

    @staticmethod
    def _signing_keys(docs: dict[Key, Doc]) -> dict[int, bytes]:
        out = {}
        for (t, _, n), d in docs.items():
            serial = tk.serial_of(n) if t == "GlobalSecret" else None
            data = tk.secret_data(d) if serial is not None else None
            if serial is not None and data:
                out[serial] = data
        return out

    # ---- authentication (S4) ------------------------------------------------------------------

    def is_direct_loopback(self, peer: Optional[str], headers: Any, scheme: str) -> bool:
        """SA1: loopback peer, no proxy headers, loopback Host, Sec-Fetch-Site absent/same-origin/none,
        Origin absent or the same loopback origin."""
        if not peer:
            return False
        try:
            if not ipaddress.ip_address(peer).is_loopback or peer.startswith("::ffff:"):
                return False
        except ValueError:
            return False
        for h in ("forwarded", "x-forwarded-for", "x-real-ip"):
            if headers.get(h) is not None:
                return False
        host = headers.get("host")
        if host is None or not _loopback_host(host):
            return False
        if headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            return False
        origin = headers.get("origin")
        if origin is not None and origin != f"{scheme}://{host}":
            return False
        return True

    def authenticate(self, peer: Optional[str], headers: Any, scheme: str = "http") -> User:
        """S4.1: localhost admin, then `Bearer `, then anonymous (SA14)."""
        if self.config.localhost_is_admin and self.is_direct_loopback(peer, headers, scheme):
            return ADMIN_USER
        auth = headers.get("authorization")
        if auth is None:
            return ANONYMOUS_USER
        if auth.startswith("Bearer ") or auth == "Bearer":  # HTTP servers trim the space of `Bearer `
            token = auth[len("Bearer "):]
            if not token:
                log.info("authentication failed: empty bearer token")
                raise unauthenticated()
            try:
                return self.verify_token(token)
            except tk.TokenError as e:
                log.info("authentication failed: %s", e)
                raise unauthenticated() from None
        if auth[:7].lower() == "bearer " or auth.lower() == "bearer":  # SA14: `bearer x`, other case
            log.info("authentication failed: bearer scheme with the wrong case")
            raise unauthenticated()
        return ANONYMOUS_USER  # other schemes (Basic ...): anonymous, as Kuma

    def verify_token(self, token: str) -> User:
        """S4.4. A verified token is remembered per snapshot (signing keys, revocations and static keys
        only change with the snapshot); its time claims are re-checked on every use."""
        snap = self._snapshot
        cached = self._token_cache.get(token)
        if cached is not None and cached[0] is snap:
            _, user, exp, nbf, iat = cached
            now = time.time()
            if (exp is None or exp > now) and (nbf is None or nbf <= now) and (iat is None or iat <= now):
                return user  # type: ignore[no-any-return]
            self._token_cache.pop(token, None)
        user, times = self._verify_token(snap, token)
        if len(self._token_cache) >= 10_000:
            self._token_cache.clear()
        self._token_cache[token] = (snap, user, *times)
        return user

    def _verify_token(self, snap: Snapshot, token: str) -> tuple[User, tuple[Any, Any, Any]]:

        def key_for(kid: str) -> Any:
            if kid in self._static_keys:
                return self._static_keys[kid]
            if not self.config.use_secrets or not kid.isdigit() or (kid != "0" and kid.startswith("0")):
                return None
            name = tk.key_name(int(kid))
            data = tk.secret_data(snap.docs.get(("GlobalSecret", "", name)))
            if not data:
                return None
            ck = (kid, base64.b64encode(data).decode())
            key = self._key_cache.get(ck)
            if key is None:
                try:
                    key = tk.load_private_key(data).public_key()
                except (ValueError, TypeError):
                    return None
                self._key_cache[ck] = key
            return key

        def revoked() -> set[str]:
            doc = snap.docs.get(("GlobalSecret", "", tk.REVOCATIONS))
            if doc is None:
                return set()
            data = tk.secret_data(doc)
            if data is None:
                raise tk.TokenError("cannot read the revocation list")  # S4.7: read error → 401
            return tk.parse_revocations(data)

        v = tk.verify(token, key_for, revoked)
        return authenticated(User(v.name, v.groups)), (v.exp, v.nbf, v.iat)

    # ---- decisions ---------------------------------------------------------------------------

    def _authorizer(self, snap: Snapshot) -> Authorizer:
        if snap.authorizer is None:
            raise ApiError(500, "Internal Server Error", "the RBAC policies could not be compiled")
        return snap.authorizer

    def decide(self, snap: Snapshot, user: User, action: str, resource: Optional[Doc] = None,
               old: Optional[Doc] = None, token_request: Optional[dict[str, Any]] = None) -> AccessDecision:
        authz = self._authorizer(snap)
        try:
            if token_request is not None:
                return authz.check(user, action, token_request=token_request)
            # dicts are converted to targets in Rust by the library itself (no loader on this path)
            return authz.check(user, action, resource, old)
        except meshauthz.MeshauthzError as e:
            log.error("RBAC check failed: %s", e)
            raise ApiError(500, "Internal Server Error", "the access check failed") from None

    def require(self, snap: Snapshot, user: User, action: str, resource: Optional[Doc] = None,
                old: Optional[Doc] = None, token_request: Optional[dict[str, Any]] = None) -> None:
        if user.name == CONTROL_PLANE_USER.name and user.groups == ():
            return  # S1.3: the control plane's own writes are not checked
        d = self.decide(snap, user, action, resource, old, token_request)
        if not d.allowed:
            raise access_denied(d.reason)

    # ---- resource API (S2) ---------------------------------------------------------------------

    def _require_mesh(self, snap: Snapshot, rtype: ResourceType, mesh: Optional[str]) -> None:
        if rtype.mesh_scoped and mesh is not None and ("Mesh", "", mesh) not in snap.docs:
            raise not_found("Failed to retrieve Mesh")  # S2.3

    def _gate_read(self, snap: Snapshot, user: User, rtype: ResourceType, mesh: Optional[str],
                   name: Optional[str]) -> None:
        """S5.2 / A12: reads are open except Secret / GlobalSecret."""
        if not rtype.secret:
            return
        probe: Doc = {"type": rtype.name, "name": name or "*"}
        if rtype.mesh_scoped:
            probe["mesh"] = mesh or "*"
        self.require(snap, user, "GET" if name is not None else "LIST", probe)

    def get(self, user: User, rtype: ResourceType, mesh: Optional[str], name: str) -> Doc:
        snap = self._snapshot
        self._require_mesh(snap, rtype, mesh)
        self._gate_read(snap, user, rtype, mesh, name)  # SA8: 403 before the lookup for secrets
        doc = snap.docs.get(key_of(rtype, mesh, name))
        if doc is None:
            raise not_found("Could not retrieve a resource")
        return doc

    def list(self, user: User, rtype: ResourceType, mesh: Optional[str]) -> list[Doc]:
        """Every matching document, SA10 order (name, then mesh); paging is the caller's."""
        snap = self._snapshot
        self._require_mesh(snap, rtype, mesh)
        if rtype.secret:
            self._gate_read(snap, user, rtype, mesh, None)
        items = [d for k, d in snap.docs.items() if k[0] == rtype.name and (mesh is None or k[1] == mesh)]
        items.sort(key=lambda d: (d.get("name", "").encode(), d.get("mesh", "").encode()))
        if rtype.secret:
            kept = []
            for d in items:
                if self.decide(snap, user, "GET", d).allowed:
                    kept.append(d)
            items = kept
        return items

    def put(self, user: User, rtype: ResourceType, mesh: Optional[str], name: str, raw: bytes) -> tuple[int, Doc]:
        """S2.7; returns (status, body)."""
        if self.config.read_only:
            raise ApiError(405, "Method not Allowed", "Method not allowed")
        self._require_mesh(self._snapshot, rtype, mesh)  # 1
        try:  # 2
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ApiError(400, "Bad Request", f"invalid {rtype.name} object: {json.dumps(str(e))}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request", f'invalid {rtype.name} object: "json: cannot unmarshal '
                                               f'{_go_kind(body)} into Go value of type rest.Resource"')
        decode = decode_error(rtype, body)
        if decode is not None:
            raise ApiError(400, "Bad Request", decode)
        schema = envelope_schema(rtype, body)
        checked = check_body(rtype, mesh, name, body) if not schema else None
        if schema or (checked is not None and checked.schema):
            raise invalid("Could not process a resource", schema or (checked.schema if checked else []))
        assert checked is not None

        def run(tx: Tx, snap: Snapshot) -> tuple[int, Doc]:
            if rtype.mesh_scoped and tx.get(("Mesh", "", mesh or "")) is None:
                raise not_found("Failed to retrieve Mesh")
            key = key_of(rtype, mesh, name)
            stored = tx.get(key)  # 3
            problems = consistency(rtype, mesh, name, body)  # 4
            if problems:
                raise invalid("Could not process a resource", problems)
            stamp = now_rfc3339()
            doc = self._document(rtype, mesh, name, body, stored, stamp)
            if stored is None:  # 5
                self.require(snap, user, "CREATE", doc)
            else:
                self.require(snap, user, "UPDATE", doc, stored)
            spec = list(checked.spec)
            if rtype.name == "GlobalSecret" and tk.serial_of(name) is not None:  # meshauthz: a usable key only
                try:
                    tk.load_private_key(base64.b64decode(body.get("data") or ""))
                except (ValueError, TypeError):
                    spec.append(("data", "must be a PEM-encoded RSA private key (a user token signing key)"))
            if spec:  # 6
                raise invalid("Could not create a resource" if stored is None else "Could not update a resource",
                              spec)
            tx.put(key, doc)  # 7
            warnings = name_deprecations(rtype, name) + checked.warnings
            out: Doc = {"warnings": warnings} if warnings else {}
            return (201 if stored is None else 200), out

        return self._transaction(run)  # type: ignore[no-any-return]

    @staticmethod
    def _document(rtype: ResourceType, mesh: Optional[str], name: str, body: Doc, stored: Optional[Doc],
                  stamp: str) -> Doc:
        doc: Doc = {"type": rtype.name}
        if rtype.mesh_scoped:
            doc["mesh"] = mesh
        doc["name"] = name
        doc["creationTime"] = stored.get("creationTime", stamp) if stored else stamp
        doc["modificationTime"] = stamp
        labels = dict(body.get("labels") or {})
        if rtype.mesh_scoped:
            labels.setdefault("kuma.io/mesh", mesh or "")
        if labels:
            doc["labels"] = labels
        for k, v in body.items():
            if k not in ENVELOPE:
                doc[k] = v
        return doc

    def delete(self, user: User, rtype: ResourceType, mesh: Optional[str], name: str) -> Doc:
        """S2.8."""
        if self.config.read_only:
            raise ApiError(405, "Method not Allowed", "Method not allowed")
        self._require_mesh(self._snapshot, rtype, mesh)

        def run(tx: Tx, snap: Snapshot) -> Doc:
            key = key_of(rtype, mesh, name)
            stored = tx.get(key)
            if stored is None:
                raise not_found("Could not delete a resource")
            self.require(snap, user, "DELETE", stored)
            if rtype.name == "Mesh":
                owned = tx.keys_in_mesh(name)
                if any(k[0] == "Dataplane" for k in owned):
                    raise invalid("Could not delete a resource",
                                  [("mesh", "unable to delete mesh, there are still some dataplanes attached")])
                for k in owned:  # S1.3: the mesh's resources go with it
                    tx.delete(k)
            tx.delete(key)
            return {}

        return self._transaction(run)  # type: ignore[no-any-return]

    def system_put(self, doc: Doc) -> None:
        """A control-plane write (S1.3), unchecked: tests and bootstrap seeding."""
        rtype = TYPES[doc["type"]]
        key = key_of(rtype, doc.get("mesh"), doc["name"])

        def run(tx: Tx, snap: Snapshot) -> None:
            stored = tx.get(key)
            stamp = now_rfc3339()
            tx.put(key, self._document(rtype, doc.get("mesh"), doc["name"], doc, stored, stamp))

        self._transaction(run)

    def system_delete(self, type_name: str, mesh: Optional[str], name: str) -> None:
        key = key_of(TYPES[type_name], mesh, name)

        def run(tx: Tx, snap: Snapshot) -> None:
            if tx.get(key) is not None:
                tx.delete(key)

        self._transaction(run)

    # ---- tokens (S4.6) -----------------------------------------------------------------------

    def issue_user_token(self, user: User, raw: bytes) -> str:
        snap = self._snapshot
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError
        except (ValueError, UnicodeDecodeError):
            body = None
        request = {"name": body.get("name"), "groups": body.get("groups")} if isinstance(body, dict) else {}
        self.require(snap, user, "GENERATE_USER_TOKEN", token_request=request)
        if body is None:
            raise ApiError(400, "Bad Request", "could not decode the request body")
        name, groups, valid_for = body.get("name"), body.get("groups"), body.get("validFor")
        if groups is None:
            groups = []
        problems: list[Param] = []
        if not isinstance(name, str) or name == "":
            problems.append(("name", "cannot be empty"))
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            problems.append(("groups", "must be a list of strings"))
        seconds = 0.0
        if valid_for is None or valid_for == "":
            problems.append(("validFor", "cannot be empty"))
        elif not isinstance(valid_for, str):
            problems.append(("validFor", f"is invalid: time: invalid duration {json.dumps(valid_for)}"))
        else:
            try:
                seconds = tk.parse_go_duration(valid_for)
                if seconds == 0:
                    problems.append(("validFor", "cannot be empty or nil"))
                elif seconds < 0 or seconds > tk.MAX_VALID_FOR:  # SA9
                    problems.append(("validFor", f"is invalid: must be positive and at most 87600h, got {valid_for}"))
            except ValueError as e:
                problems.append(("validFor", f"is invalid: {e}"))
        if problems:
            raise invalid("Invalid request", problems)
        if not self.config.enable_issuer:
            raise ApiError(400, "Could not issue a token", "issuing tokens using the control plane is disabled.")
        keys = self._signing_keys(snap.docs)
        if not keys:
            raise ApiError(500, "Internal Server Error", "there is no signing key")
        serial = max(keys)
        try:
            return tk.issue(keys[serial], serial, name, groups, seconds)
        except (ValueError, TypeError) as e:  # a corrupt stored key: fail closed, say which
            log.error("cannot sign with %s: %s", tk.key_name(serial), e)
            raise ApiError(500, "Internal Server Error",
                           f"the signing key {tk.key_name(serial)} is not a usable RSA private key") from None

    def rotate_signing_key(self) -> int:
        """S4.5: add key N+1 (new tokens use it); delete N separately to invalidate its tokens."""

        def run(tx: Tx, snap: Snapshot) -> int:
            serial = max(self._signing_keys(snap.docs) or {0: b""}) + 1
            name = tk.key_name(serial)
            tx.put(("GlobalSecret", "", name), self._secret_doc(name, tk.new_private_key_pem(), now_rfc3339()))
            return serial

        return self._transaction(run)  # type: ignore[no-any-return]


def _go_kind(value: Any) -> str:
    return {"integer": "number", "boolean": "bool"}.get(json_type(value), json_type(value))


def _loopback_host(host: str) -> bool:
    h = host
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def allowed_webhook_users(config: ServerConfig) -> set[str]:
    return set(config.allowed_users) | {f"system:serviceaccount:{config.system_namespace}:kuma-control-plane",
                                        GC_ACCOUNT}
