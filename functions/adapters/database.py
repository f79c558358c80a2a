"""PostgreSQL through pg8000, one connection per thread, reconnecting when the server went away."""

import contextlib
import logging
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from functions.errors import Unavailable

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def connection_params(url: str) -> Dict[str, Any]:
    """pg8000 keyword arguments for a postgresql:// URL; ``?host=/dir`` means a Unix socket there."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = urllib.parse.parse_qs(parts.query)
    params: Dict[str, Any] = {
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "database": urllib.parse.unquote(parts.path.lstrip("/") or "postgres"),
    }
    if parts.password:
        params["password"] = urllib.parse.unquote(parts.password)
    socket_dir = query.get("host", [""])[0]
    port = parts.port or 5432
    if socket_dir.startswith("/"):
        params["unix_sock"] = f"{socket_dir}/.s.PGSQL.{port}"
    else:
        params["host"] = parts.hostname or socket_dir or "localhost"
        params["port"] = port
    if query.get("sslmode", [""])[0] in ("require", "verify-ca", "verify-full"):
        import ssl

        params["ssl_context"] = ssl.create_default_context()
    return params


class Database:
    """Runs parameterised SQL (pg8000 ``:name`` placeholders) on a per-thread connection.

    A statement that fails because the connection dropped is retried once on a fresh
    connection, outside transactions only. Every write in pixelflow is conditional or
    idempotent, so that retry cannot apply a change twice.
    """

    def __init__(self, url: str, *, timeout: float = 10.0):
        self._params = connection_params(url)
        self._timeout = timeout
        self._local = threading.local()
        self._all: List[pg8000.native.Connection] = []
        self._all_lock = threading.Lock()

    def _connection(self) -> pg8000.native.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = pg8000.native.Connection(timeout=self._timeout, **self._params)
            except (InterfaceError, OSError) as error:
                raise Unavailable(f"The database is unavailable: {error.__class__.__name__}") from error
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def _run(self, sql: str, params: Dict[str, Any]):
        in_transaction = getattr(self._local, "depth", 0) > 0
        attempts = 1 if in_transaction else 2
        for attempt in range(attempts):
            conn = self._connection()
            try:
                rows = conn.run(sql, **params)
                columns = [column["name"] for column in conn.columns or []]
                return rows, columns, conn.row_count
            except (InterfaceError, OSError) as error:
                self._drop_connection()
                if attempt + 1 == attempts:
                    raise Unavailable("The database connection was lost.") from error
                log.warning("database connection lost, reconnecting")
            except DatabaseError as error:
                if _is_connection_failure(error):
                    self._drop_connection()
                    if attempt + 1 == attempts:
                        raise Unavailable("The database is shutting down or unavailable.") from error
                    continue
                raise
        raise AssertionError("unreachable")

    def rows(self, sql: str, **params: Any) -> List[Dict[str, Any]]:
        """All result rows as dicts."""
        rows, columns, _ = self._run(sql, params)
        return [dict(zip(columns, row)) for row in rows or []]

    def one(self, sql: str, **params: Any) -> Optional[Dict[str, Any]]:
        """The first result row as a dict, or None."""
        found = self.rows(sql, **params)
        return found[0] if found else None

    def execute(self, sql: str, **params: Any) -> int:
        """Run a statement; return the number of rows it touched."""
        _, _, count = self._run(sql, params)
        return count

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Database"]:
        """A transaction on this thread's connection; nested uses join the outer one."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self
            finally:
                self._local.depth = depth
            return
        self._run("BEGIN", {})
        self._local.depth = 1
        try:
            yield self
        except BaseException:
            self._local.depth = 0
            with contextlib.suppress(Exception):
                self._run("ROLLBACK", {})
            raise
        else:
            self._local.depth = 0
            self._run("COMMIT", {})

    def ping(self) -> None:
        """Raise Unavailable unless the server answers."""
        self.rows("SELECT 1 AS ok")

    def close(self) -> None:
        """Close every connection this adapter opened (all threads)."""
        with self._all_lock:
            connections, self._all = self._all, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


def _is_connection_failure(error: DatabaseError) -> bool:
    # 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions
    fields = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    code = str(fields.get("C", ""))
    return code.startswith("08") or code in ("57P01", "57P02", "57P03")


def apply_migrations(db: Database, folder: Path = MIGRATIONS) -> List[str]:
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


def _statements(sql: str) -> List[str]:
    # Migrations are plain DDL separated by ';' at line ends; no function bodies.
    chunks = [chunk.strip().rstrip(";") for chunk in (sql + "\n").split(";\n")]
    return [chunk for chunk in chunks if _has_code(chunk)]


def _has_code(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())
