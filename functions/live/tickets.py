"""Connection tickets: browsers cannot set headers on a WebSocket, so they connect with a ticket.

A ticket is 32 random bytes, valid ``live_ticket_seconds`` and used once; only its SHA-256 is
stored. It travels in the connect URL's query string, which is acceptable because it is single
use and short-lived, unlike the bearer token it was bought with.
"""

import datetime
import hashlib
import secrets
from typing import Any

from functions.timestamps import iso

MAX_TICKET_CHARS = 100  # token_urlsafe(32) is 43; anything far longer is not ours


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def issue(db, user_id: str, *, ttl_seconds: int) -> dict[str, Any]:
    """A new single-use ticket for ``user_id`` and when it expires."""
    ticket = secrets.token_urlsafe(32)
    row = db.one("INSERT INTO live_tickets (ticket_hash, user_id, expires_at)"
                 " VALUES (:hash, :user, now() + make_interval(secs => :ttl)) RETURNING expires_at",
                 hash=_hash(ticket), user=user_id, ttl=float(ttl_seconds))
    expires: datetime.datetime = row["expires_at"]
    return {"ticket": ticket, "expires_at": iso(expires), "expires_in": ttl_seconds}


def redeem(db, ticket: Any) -> str | None:
    """The user a valid ticket was issued to, or None (unknown, forged, used or expired); it is used up either way."""
    if not isinstance(ticket, str) or not 0 < len(ticket) <= MAX_TICKET_CHARS:
        return None
    # One statement: of two connects racing with the same ticket, only one gets the row.
    row = db.one("DELETE FROM live_tickets WHERE ticket_hash = :hash RETURNING user_id, expires_at > now() AS fresh",
                 hash=_hash(ticket))
    if row is None or not row["fresh"]:
        return None
    return str(row["user_id"])


def sweep(db) -> int:
    """Forget expired tickets nobody used; how many."""
    return db.execute("DELETE FROM live_tickets WHERE expires_at < now()")
