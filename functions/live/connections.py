"""The open WebSocket connections, one row each (API Gateway's connection id and its user)."""

# API Gateway closes every WebSocket connection after 2 hours; a row older than that is left over.
MAX_AGE_SECONDS = 2 * 60 * 60


def record(db, connection_id: str, user_id: str) -> None:
    """Remember a connection that was let in (idempotent: a repeated connect event changes nothing)."""
    db.execute("INSERT INTO live_connections (id, user_id) VALUES (:id, :user) ON CONFLICT (id) DO NOTHING",
               id=connection_id, user=user_id)


def owner(db, connection_id: str) -> str | None:
    """The user of an open connection (and mark it seen now), or None when it is not recorded."""
    row = db.one("UPDATE live_connections SET last_seen = now() WHERE id = :id RETURNING user_id", id=connection_id)
    return None if row is None else str(row["user_id"])


def of_user(db, user_id: str) -> list[str]:
    """The ids of the user's open connections."""
    return [row["id"] for row in db.rows("SELECT id FROM live_connections WHERE user_id = :user"
                                         " AND connected_at > now() - make_interval(secs => :age) ORDER BY id",
                                         user=user_id, age=float(MAX_AGE_SECONDS))]


def forget(db, connection_ids) -> int:
    """Remove connections (closed, or gone according to the management API); how many were recorded."""
    ids = list(connection_ids)
    if not ids:
        return 0
    return db.execute("DELETE FROM live_connections WHERE id = ANY(CAST(:ids AS text[]))", ids=ids)


def sweep(db) -> int:
    """Remove connections older than API Gateway's 2-hour limit (their disconnect was never recorded)."""
    return db.execute("DELETE FROM live_connections WHERE connected_at < now() - make_interval(secs => :age)",
                      age=float(MAX_AGE_SECONDS))
