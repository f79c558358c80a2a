"""PostgreSQL through pg8000, one connection per thread, reconnecting when the server went away."""

import contextlib
import logging
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from functions.errors import Unavailable

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def connection_params(url: str, password: str | None = None) -> dict[str, Any]:
    """pg8000 keyword arguments for a postgresql:// URL; ``?host=/dir`` means a Unix socket there.

    ``sslmode`` follows libpq: ``require`` encrypts without verifying the server (RDS's CA is
    not in the default trust store), ``verify-full`` verifies against the system's CAs.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = urllib.parse.parse_qs(parts.query)
    params: dict[str, Any] = {
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "database": urllib.parse.unquote(parts.path.lstrip("/") or "postgres"),
    }
    if password:
        params["password"] = password
    elif parts.password:
        params["password"] = urllib.parse.unquote(parts.password)
    socket_dir = query.get("host", [""])[0]
    port = parts.port or 5432
    if socket_dir.startswith("/"):
        params["unix_sock"] = f"{socket_dir}/.s.PGSQL.{port}"
    else:
        params["host"] = parts.hostname or socket_dir or "localhost"
        params["port"] = port
    sslmode = query.get("sslmode", [""])[0]
    if sslmode in ("require", "verify-ca", "verify-full"):
        import ssl

        context = ssl.create_default_context()
        if sslmode == "require":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        params["ssl_context"] = context
    return params


class Database:
    """Runs parameterised SQL (pg8000 ``:name`` placeholders) on pooled connections.

    Each statement borrows an idle connection (or opens one) and gives it back, so any
    number of short-lived threads (the local HTTP server starts one per request) share a
    few connections; a transaction keeps its connection for the thread until it ends.
    A statement that fails because the connection dropped is retried once on a fresh
    connection, outside transactions only. Every write in pixelflow is conditional or
    idempotent, so that retry cannot apply a change twice.
    """

    def __init__(self, url: str, *, password: str | None = None, timeout: float = 10.0, max_idle: int = 8):
        self._params = connection_params(url, password)
        self._timeout = timeout
        self._max_idle = max_idle
        self._idle: list[pg8000.native.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def _open(self) -> pg8000.native.Connection:
        try:
            return pg8000.native.Connection(timeout=self._timeout, **self._params)
        except (InterfaceError, OSError) as error:
            raise Unavailable(f"The database is unavailable: {error.__class__.__name__}") from error
        except DatabaseError as error:
            raise Unavailable("The database refused a connection.") from error

    def _acquire(self) -> pg8000.native.Connection:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return held
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _release(self, conn: pg8000.native.Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            return  # still inside a transaction
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        _close(conn)

    def _run(self, sql: str, params: dict[str, Any]):
        in_transaction = getattr(self._local, "conn", None) is not None
        attempts = 1 if in_transaction else 2
        for attempt in range(attempts):
            conn = self._acquire()
            try:
                rows = conn.run(sql, **params)
                columns = [column["name"] for column in conn.columns or []]
                result = rows, columns, conn.row_count
            except (InterfaceError, OSError) as error:
                self._discard(conn)
                if attempt + 1 == attempts:
                    raise Unavailable("The database connection was lost.") from error
                log.warning("database connection lost, reconnecting")
                continue
            except DatabaseError as error:
                if _is_connection_failure(error):
                    self._discard(conn)
                    if attempt + 1 == attempts:
                        raise Unavailable("The database is shutting down or unavailable.") from error
                    continue
                self._release(conn)
                raise
            self._release(conn)
            return result
        raise AssertionError("unreachable")

    def _discard(self, conn: pg8000.native.Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        _close(conn)

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """All result rows as dicts."""
        rows, columns, _ = self._run(sql, params)
        return [dict(zip(columns, row)) for row in rows or []]

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        """The first result row as a dict, or None."""
        found = self.rows(sql, **params)
        return found[0] if found else None

    def execute(self, sql: str, **params: Any) -> int:
        """Run a statement; return the number of rows it touched."""
        _, _, count = self._run(sql, params)
        return count

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Database"]:
        """A transaction on one connection held by this thread; nested uses join the outer one."""
        if getattr(self._local, "conn", None) is not None:
            yield self
            return
        conn = self._acquire()
        self._local.conn = conn
        try:
            self._run("BEGIN", {})
            yield self
        except BaseException:
            if self._local.conn is not None:
                with contextlib.suppress(Exception):
                    conn.run("ROLLBACK")
            raise
        else:
            self._run("COMMIT", {})
        finally:
            held, self._local.conn = self._local.conn, None
            if held is not None:
                self._release(held)

    def ping(self) -> None:
        """Raise Unavailable unless the server answers."""
        self.rows("SELECT 1 AS ok")

    def close(self) -> None:
        """Close every idle connection (connections in use close when given back after this)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: pg8000.native.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _is_connection_failure(error: DatabaseError) -> bool:
    # 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
    fields = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    code = str(fields.get("C", ""))
    return code.startswith("08") or code in ("57P01", "57P02", "57P03")


def apply_migrations(db: Database, folder: Path = MIGRATIONS) -> list[str]:
    """Apply each ``NNNN_name.sql`` in order, once; return the names applied now."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = []
    for path in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        with db.transaction():
            # The advisory lock serialises concurrent deploys; the row makes the file run once.
            db.execute("SELECT pg_advisory_xact_lock(7340661)")
            if db.one("SELECT 1 AS done FROM schema_migrations WHERE name = :name", name=path.name):
                continue
            for statement in _statements(path.read_text()):
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations (name) VALUES (:name)", name=path.name)
            applied.append(path.name)
    return applied


def _statements(sql: str) -> list[str]:
    # Migrations are plain DDL separated by ';' at line ends; no function bodies.
    chunks = [chunk.strip().rstrip(";") for chunk in (sql + "\n").split(";\n")]
    return [chunk for chunk in chunks if _has_code(chunk)]


def _has_code(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())
