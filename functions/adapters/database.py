"""PostgreSQL through pg8000, one connection per thread, reconnecting when the server went away."""

import contextlib
import logging
import threading
import time
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

    def __init__(self, url: str, *, password: str | None = None, timeout: float = 10.0, max_idle: int = 8,
                 connect_timeout: float = 5.0, connect_wait: float = 3.0, retry_after: int = 15,
                 idle_session: int = 60):
        self._params = connection_params(url, password)
        # The server ends sessions idle this long: a frozen Lambda's pooled connection never keeps Aurora awake.
        self._params["startup_params"] = {"idle_session_timeout": f"{idle_session * 1000}"}
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._connect_wait = connect_wait
        self._retry_after = retry_after
        # The pool forgets a connection a little before the server would close it.
        self._idle_limit = max(1.0, idle_session * 0.8)
        self._max_idle = max_idle
        self._idle: list[tuple[pg8000.native.Connection, float]] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._down = False     # the last connect attempt failed
        self._probing = False  # a caller is waiting for the database to come back

    def _open(self) -> pg8000.native.Connection:
        """A new connection, tried at growing intervals for up to ``connect_wait`` seconds.

        A paused Aurora instance resumes when a connection arrives (~15 s); a restarting server
        refuses for a few seconds. Once the database is known to be down, one caller at a time
        waits for it and the others fail at once: a flood of requests while it is down holds one
        thread, not one per request.
        """
        with self._lock:
            if self._down and self._probing:
                raise self._unavailable("The database is not reachable yet.")
            probing = self._down
            self._probing = self._probing or probing
        try:
            return self._connect()
        finally:
            if probing:
                with self._lock:
                    self._probing = False

    def _connect(self) -> pg8000.native.Connection:
        deadline = time.monotonic() + self._connect_wait
        pause = 0.2
        while True:
            try:
                conn = pg8000.native.Connection(timeout=self._connect_timeout, **self._params)
            except (InterfaceError, OSError) as error:
                reason = f"The database is unavailable: {error.__class__.__name__}"
                cause: Exception = error
            except DatabaseError as error:
                if not _is_connection_failure(error):
                    raise self._unavailable("The database refused a connection.") from error
                reason, cause = "The database is starting up or shutting down.", error
            else:
                # Statements get their own, longer deadline than the connect.
                _set_timeout(conn, self._timeout)
                self._down = False
                return conn
            self._down = True
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._unavailable(reason) from cause
            log.warning("database not reachable (%s), trying again", cause.__class__.__name__)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 2.0)

    def _unavailable(self, message: str) -> Unavailable:
        return Unavailable(message, retry_after=self._retry_after)

    def _acquire(self) -> pg8000.native.Connection:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return held
        stale = []
        conn = None
        with self._lock:
            now = time.monotonic()
            while self._idle:
                candidate, released = self._idle.pop()
                if now - released < self._idle_limit:
                    conn = candidate
                    break
                stale.append(candidate)
        for old in stale:
            _close(old)
        return conn if conn is not None else self._open()

    def _release(self, conn: pg8000.native.Connection) -> None:
        if getattr(self._local, "conn", None) is conn:
            return  # still inside a transaction
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append((conn, time.monotonic()))
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
                    raise self._unavailable("The database connection was lost.") from error
                log.warning("database connection lost, reconnecting")
                continue
            except DatabaseError as error:
                if _is_connection_failure(error):
                    self._discard(conn)
                    if attempt + 1 == attempts:
                        raise self._unavailable("The database is shutting down or unavailable.") from error
                    continue
                self._release(conn)
                raise
            self._release(conn)
            return result
        raise AssertionError("unreachable")

    def _discard(self, conn: pg8000.native.Connection) -> None:
        """Close a connection found broken, and the idle ones: they went to the same server that went away."""
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        _close(conn)
        self.close()

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
        conn = self._begin()
        self._local.conn = conn
        try:
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

    def _begin(self) -> pg8000.native.Connection:
        # A pooled connection may have died since it was used (server restart, idle timeout): nothing has
        # happened in the transaction yet, so BEGIN is retried once on a fresh connection.
        for attempt in range(2):
            conn = self._acquire()
            try:
                conn.run("BEGIN")
                return conn
            except (InterfaceError, OSError) as error:
                self._discard(conn)
                if attempt:
                    raise self._unavailable("The database connection was lost.") from error
            except DatabaseError as error:
                if not _is_connection_failure(error):
                    self._release(conn)
                    raise
                self._discard(conn)
                if attempt:
                    raise self._unavailable("The database is shutting down or unavailable.") from error
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raise Unavailable unless the server answers."""
        self.rows("SELECT 1 AS ok")

    def close(self) -> None:
        """Close every idle connection (connections in use close when given back after this)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _close(conn)


def _set_timeout(conn: pg8000.native.Connection, seconds: float) -> None:
    # pg8000 has one timeout for the connect and every read after it; its socket is the only handle on the latter.
    sock = getattr(conn, "_usock", None)
    if sock is not None:
        sock.settimeout(seconds)


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
