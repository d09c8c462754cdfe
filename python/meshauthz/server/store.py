"""Transactional resource stores for `meshauthz serve`: SQLite (embedded default) and PostgreSQL.

One row per resource, keyed by (type, mesh, name) (`mesh` is "" for global-scoped types), holding the
Universal JSON document (S2.10). A `meta` row holds the store **revision**, bumped by every committed
write; replicas compare it with the revision of their in-memory snapshot.

Writes run in `Store.transaction()`: lookup + RBAC + write in one transaction (S1.2):

* SQLite: WAL mode, `BEGIN IMMEDIATE` (the database write lock is taken before the lookup), synchronous
  FULL so an acknowledged write survives a `kill -9`;
* PostgreSQL: the transaction starts by locking the revision row (`SELECT ... FOR UPDATE`), which
  serialises writers of every replica on one database; the commit sends `NOTIFY meshauthz_revision`
  with the new revision so other replicas reload (LISTEN in a background thread).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

Key = tuple[str, str, str]  # (type, mesh or "", name)
Doc = dict[str, Any]

CHANNEL = "meshauthz_revision"


class StoreError(Exception):
    """The store could not complete an operation (SA13: 500, nothing written)."""


class ConflictError(StoreError):
    """A concurrent writer held the store past the lock timeout (S1.2: 409 `Conflict`, nothing written)."""


class Tx:
    """The operations available inside a write transaction."""

    def __init__(self, store: Store, conn: Any, revision: int) -> None:
        self._store = store
        self._conn = conn
        self.revision = revision  # revision when the transaction started (after the lock)
        self.changes: list[tuple[Key, Optional[Doc]]] = []

    def get(self, key: Key) -> Optional[Doc]:
        return self._store._get(self._conn, key)

    def keys_in_mesh(self, mesh: str) -> list[Key]:
        return self._store._keys_in_mesh(self._conn, mesh)

    def put(self, key: Key, doc: Doc) -> None:
        self._store._put(self._conn, key, doc)
        self.changes.append((key, doc))

    def delete(self, key: Key) -> None:
        self._store._delete(self._conn, key)
        self.changes.append((key, None))

    def all(self) -> dict[Key, Doc]:
        return self._store._all(self._conn)


class Store:
    """Common interface; see SQLiteStore / PostgresStore."""

    url: str

    def load(self) -> tuple[int, dict[Key, Doc]]:
        raise NotImplementedError

    def revision(self) -> int:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        raise NotImplementedError
        yield  # pragma: no cover

    def listen(self, callback: Callable[[int], None]) -> None:
        """Call `callback(revision)` when another process commits (no-op where unsupported)."""

    def stop_listening(self) -> None:
        pass

    def close(self) -> None:
        pass

    # backend hooks
    def _get(self, conn: Any, key: Key) -> Optional[Doc]:
        raise NotImplementedError

    def _keys_in_mesh(self, conn: Any, mesh: str) -> list[Key]:
        raise NotImplementedError

    def _put(self, conn: Any, key: Key, doc: Doc) -> None:
        raise NotImplementedError

    def _delete(self, conn: Any, key: Key) -> None:
        raise NotImplementedError

    def _all(self, conn: Any) -> dict[Key, Doc]:
        raise NotImplementedError


def _dumps(doc: Doc) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


class SQLiteStore(Store):
    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.url = f"sqlite:{path}"
        self._local = threading.local()
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS resources (type TEXT NOT NULL, mesh TEXT NOT NULL, "
                     "name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (type, mesh, name))")
        conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO meta (k, v) VALUES ('revision', 0)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False)
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            self._local.conn = conn
        return conn

    def revision(self) -> int:
        row = self._conn().execute("SELECT v FROM meta WHERE k='revision'").fetchone()
        return int(row[0])

    def load(self) -> tuple[int, dict[Key, Doc]]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            rev = int(conn.execute("SELECT v FROM meta WHERE k='revision'").fetchone()[0])
            docs = self._all(conn)
        finally:
            conn.execute("COMMIT")
        return rev, docs

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise ConflictError(f"the store is locked by another writer: {e}") from None
            raise StoreError(f"cannot start a transaction: {e}") from None
        except sqlite3.Error as e:
            raise StoreError(f"cannot start a transaction: {e}") from None
        try:
            rev = int(conn.execute("SELECT v FROM meta WHERE k='revision'").fetchone()[0])
            tx = Tx(self, conn, rev)
            yield tx
            if tx.changes:
                conn.execute("UPDATE meta SET v = v + 1 WHERE k='revision'")
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    def _get(self, conn: Any, key: Key) -> Optional[Doc]:
        row = conn.execute("SELECT doc FROM resources WHERE type=? AND mesh=? AND name=?", key).fetchone()
        return None if row is None else json.loads(row[0])

    def _keys_in_mesh(self, conn: Any, mesh: str) -> list[Key]:
        return [tuple(r) for r in conn.execute("SELECT type, mesh, name FROM resources WHERE mesh=?", (mesh,))]

    def _put(self, conn: Any, key: Key, doc: Doc) -> None:
        conn.execute("INSERT INTO resources (type, mesh, name, doc) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (type, mesh, name) DO UPDATE SET doc = excluded.doc", (*key, _dumps(doc)))

    def _delete(self, conn: Any, key: Key) -> None:
        conn.execute("DELETE FROM resources WHERE type=? AND mesh=? AND name=?", key)

    def _all(self, conn: Any) -> dict[Key, Doc]:
        return {(t, m, n): json.loads(d) for t, m, n, d in conn.execute("SELECT type, mesh, name, doc FROM resources")}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - the `serve` extra installs it
            raise StoreError("PostgreSQL needs psycopg: pip install 'meshauthz[serve]'") from e
        self._psycopg = psycopg
        self.url = url
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._listener: Optional[threading.Thread] = None
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as e:
            raise StoreError(f"cannot open PostgreSQL store: {e}") from None
        for attempt in range(5):
            try:
                with self._db.transaction():
                    self._db.execute("CREATE TABLE IF NOT EXISTS meshauthz_resources (type TEXT NOT NULL, "
                                     "mesh TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, "
                                     "PRIMARY KEY (type, mesh, name))")
                    self._db.execute("CREATE TABLE IF NOT EXISTS meshauthz_meta (k TEXT PRIMARY KEY, "
                                     "v BIGINT NOT NULL)")
                    self._db.execute("INSERT INTO meshauthz_meta (k, v) VALUES ('revision', 0) "
                                     "ON CONFLICT DO NOTHING")
                break
            except psycopg.errors.UniqueViolation:  # two replicas creating the schema at once: retry
                if attempt == 4:
                    raise StoreError("cannot create the PostgreSQL schema (concurrent creation)") from None
            except psycopg.Error as e:
                raise StoreError(f"cannot open PostgreSQL store: {e}") from None

    def _conn(self) -> Any:
        """The shared connection, reopened after a broken one (database restart, network blip)."""
        if self._db.closed or self._db.broken:
            try:
                self._db = self._psycopg.connect(self.url, autocommit=True)
            except self._psycopg.Error as e:
                raise StoreError(f"cannot reconnect to PostgreSQL: {e}") from None
        return self._db

    def revision(self) -> int:
        with self._lock:
            try:
                return int(self._conn().execute("SELECT v FROM meshauthz_meta WHERE k='revision'").fetchone()[0])
            except self._psycopg.Error as e:
                raise StoreError(f"PostgreSQL: {e}") from None

    def load(self) -> tuple[int, dict[Key, Doc]]:
        with self._lock:
            try:
                return self._load(self._conn())
            except self._psycopg.Error as e:
                raise StoreError(f"PostgreSQL: {e}") from None

    def _load(self, db: Any) -> tuple[int, dict[Key, Doc]]:
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            rev = int(db.execute("SELECT v FROM meshauthz_meta WHERE k='revision'").fetchone()[0])
            return rev, self._all(db)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            try:
                db = self._conn()
                with db.transaction():
                    rev = int(db.execute(
                        "SELECT v FROM meshauthz_meta WHERE k='revision' FOR UPDATE").fetchone()[0])
                    tx = Tx(self, db, rev)
                    yield tx
                    if tx.changes:
                        db.execute("UPDATE meshauthz_meta SET v = v + 1 WHERE k='revision'")
                        db.execute(f"NOTIFY {CHANNEL}, '{rev + 1}'")
            except (self._psycopg.errors.SerializationFailure, self._psycopg.errors.DeadlockDetected,
                    self._psycopg.errors.LockNotAvailable) as e:
                raise ConflictError(f"PostgreSQL: {e}") from None
            except self._psycopg.Error as e:
                raise StoreError(f"PostgreSQL: {e}") from None

    def listen(self, callback: Callable[[int], None]) -> None:
        def run() -> None:
            while not self._closed.is_set():  # reconnects; the revision poll covers the gaps
                try:
                    with self._psycopg.connect(self.url, autocommit=True) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        callback(-1)  # catch up with anything missed while not listening
                        while not self._closed.is_set():
                            for n in conn.notifies(timeout=0.5):
                                try:
                                    callback(int(n.payload))
                                except ValueError:
                                    callback(-1)
                except self._psycopg.Error:
                    self._closed.wait(1.0)

        self._listener = threading.Thread(target=run, name="meshauthz-pg-listen", daemon=True)
        self._listener.start()

    def _get(self, conn: Any, key: Key) -> Optional[Doc]:
        row = conn.execute("SELECT doc FROM meshauthz_resources WHERE type=%s AND mesh=%s AND name=%s",
                           key).fetchone()
        return None if row is None else json.loads(row[0])

    def _keys_in_mesh(self, conn: Any, mesh: str) -> list[Key]:
        return [tuple(r) for r in conn.execute("SELECT type, mesh, name FROM meshauthz_resources WHERE mesh=%s",
                                               (mesh,))]

    def _put(self, conn: Any, key: Key, doc: Doc) -> None:
        conn.execute("INSERT INTO meshauthz_resources (type, mesh, name, doc) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (type, mesh, name) DO UPDATE SET doc = excluded.doc", (*key, _dumps(doc)))

    def _delete(self, conn: Any, key: Key) -> None:
        conn.execute("DELETE FROM meshauthz_resources WHERE type=%s AND mesh=%s AND name=%s", key)

    def _all(self, conn: Any) -> dict[Key, Doc]:
        return {(t, m, n): json.loads(d)
                for t, m, n, d in conn.execute("SELECT type, mesh, name, doc FROM meshauthz_resources")}

    def stop_listening(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None

    def close(self) -> None:
        self.stop_listening()
        with self._lock:
            self._db.close()


def open_store(url: str) -> Store:
    """`sqlite:PATH` (or a bare path) or `postgresql://...` / `postgres://...`."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:"):
        url = url[len("sqlite:"):]
        if url.startswith("//"):
            url = url[2:]
    return SQLiteStore(url)
