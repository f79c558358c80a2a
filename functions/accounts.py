"""Accounts and sessions: register, sign in, rotate refresh tokens, sign out.

Knows nothing of HTTP. Raises domain errors (Conflict, Unauthorized, Throttled) that the
blueprint turns into status codes.
"""

import dataclasses
import datetime
import ipaddress
import math
import time
import uuid
from typing import Any

from functions.auth import emails, passwords, throttle, tokens
from functions.errors import Conflict, NotFound, Throttled, Unauthorized
from functions.timestamps import iso

POLICY = throttle.FailurePolicy()
# Failed sign-ins one source address may make per window across all accounts. Generous, since
# many people can share an address (offices, carrier NAT); a spray over many accounts is not.
ADDRESS_MAX_FAILURES = 100
# Used when the caller hands in no gate (scripts, tests of the domain alone); the API uses wiring's.
DEFAULT_GATE = passwords.HashGate(passwords.slots_for_memory(128))
WRONG_CREDENTIALS = "The email or password is incorrect."


@dataclasses.dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str

    def to_json(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "Bearer",
                "expires_in": self.expires_in, "refresh_token": self.refresh_token}


def user_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "email": row["email"], "created_at": iso(row["created_at"])}


def register(db, email: str, password: str, *, gate: passwords.HashGate | None = None) -> dict[str, Any]:
    """Create an account; one per address, compared case-insensitively."""
    gate = gate or DEFAULT_GATE
    normalized = emails.normalise_email(email)
    password_hash = gate.hash_password(password)
    # ON CONFLICT makes a concurrent double registration produce exactly one account.
    row = db.one(
        "INSERT INTO users (id, email, email_normalized, password_hash)"
        " VALUES (:id, :email, :normalized, :hash)"
        " ON CONFLICT (email_normalized) DO NOTHING"
        " RETURNING id, email, created_at",
        id=str(uuid.uuid4()), email=email.strip(), normalized=normalized, hash=password_hash,
    )
    if row is None:
        raise Conflict("An account with this email already exists.", code="email_taken", field="email")
    return user_json(row)


def login(db, token_settings, email: str, password: str, *, refresh_ttl: int,
          source_ip: str | None = None, gate: passwords.HashGate | None = None,
          address_limit: int = ADDRESS_MAX_FAILURES, now: float | None = None) -> TokenPair:
    """Check the password (throttled per account and per source address) and start a new session family.

    Each attempt is counted before the password is checked, in one conditional statement per
    counter, so concurrent attempts cannot all pass a check made before any of them counted.
    A success takes its count back.
    """
    gate = gate or DEFAULT_GATE
    now = time.time() if now is None else now
    normalized = emails.normalise_email(email)
    source_ip = address_key(source_ip) if source_ip else None
    if not _count_account_attempt(db, normalized, now):
        raise Throttled("Too many failed sign-ins for this account. Try again later.",
                        retry_after=_account_wait(db, normalized, now), code="too_many_attempts")
    if source_ip and not _count_source_attempt(db, source_ip, address_limit, now):
        _refund_account_attempt(db, normalized)
        raise Throttled("Too many failed sign-ins from this address. Try again later.",
                        retry_after=_source_wait(db, source_ip, now), code="too_many_attempts_from_address")
    try:
        user = db.one("SELECT id, password_hash FROM users WHERE email_normalized = :e", e=normalized)
        if user is None:
            gate.burn_verify_time(password)  # an unknown address costs what a wrong password costs
            raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
        if not gate.verify_password(user["password_hash"], password):
            raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
    except Throttled:
        # No slot for the check: the attempt was not made, so it does not count.
        _refund_account_attempt(db, normalized)
        if source_ip:
            _refund_source_attempt(db, source_ip)
        raise
    db.execute("DELETE FROM login_failures WHERE email_normalized = :e", e=normalized)
    if source_ip:
        _refund_source_attempt(db, source_ip)
    if passwords.needs_rehash(user["password_hash"]):
        db.execute("UPDATE users SET password_hash = :h, updated_at = now() WHERE id = :id",
                   h=gate.hash_password(password), id=user["id"])
    user_id = str(user["id"])
    family_id = str(uuid.uuid4())
    expires_at = _at(now + refresh_ttl)
    refresh = _store_refresh_token(db, user_id, family_id, expires_at)
    access, expires_in = tokens.issue_access_token(token_settings, user_id, session_id=family_id, now=int(now))
    return TokenPair(access, expires_in, refresh)


def _count_account_attempt(db, normalized: str, now: float) -> bool:
    """Count one attempt for the account; False (nothing counted) while its lockout runs.

    The lockout curve is throttle.lockout_seconds in SQL: after ``free_attempts`` attempts the
    next one must wait base * 2^(attempts - free), capped, from the last counted attempt.
    ON CONFLICT DO UPDATE locks the row and re-checks WHERE on its newest version, so two
    concurrent attempts never both see the same count.
    """
    return db.one(
        "INSERT INTO login_failures AS f (email_normalized, failures, last_failure_at) VALUES (:e, 1, :now)"
        " ON CONFLICT (email_normalized) DO UPDATE SET"
        "  failures = CASE WHEN f.last_failure_at < :window_start THEN 1 ELSE f.failures + 1 END,"
        "  last_failure_at = :now"
        " WHERE f.last_failure_at < :window_start OR f.failures < :free"
        "  OR f.last_failure_at + make_interval(secs => least(:max_delay::float8,"
        "       :base::float8 * power(2, least(f.failures - :free, 32)))) <= :now"
        " RETURNING failures",
        e=normalized, now=_at(now), window_start=_at(now - POLICY.window_seconds), free=POLICY.free_attempts,
        base=POLICY.base_delay_seconds, max_delay=POLICY.max_delay_seconds,
    ) is not None


def _account_wait(db, normalized: str, now: float) -> int:
    row = db.one("SELECT failures, last_failure_at FROM login_failures WHERE email_normalized = :e", e=normalized)
    if row is None:
        return 1
    return max(1, throttle.retry_after(POLICY, row["failures"], row["last_failure_at"].timestamp(), now))


def _refund_account_attempt(db, normalized: str) -> None:
    db.execute("UPDATE login_failures SET failures = failures - 1 WHERE email_normalized = :e AND failures > 0",
               e=normalized)


def address_key(source_ip: str) -> str:
    """What the per-address limit counts under: an IPv4 address, or an IPv6 address's /64.

    One IPv6 subscriber holds a whole /64, so counting single addresses would let one client
    rotate through billions of them; an IPv4-mapped IPv6 address counts as its IPv4 address.
    """
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _count_source_attempt(db, source_ip: str, limit: int, now: float) -> bool:
    """Count one attempt from ``source_ip``; False (nothing counted) once it has ``limit`` in the window."""
    return db.one(
        "INSERT INTO login_sources AS s (source_ip, failures, last_failure_at) VALUES (:ip, 1, :now)"
        " ON CONFLICT (source_ip) DO UPDATE SET"
        "  failures = CASE WHEN s.last_failure_at < :window_start THEN 1 ELSE s.failures + 1 END,"
        "  last_failure_at = :now"
        " WHERE s.last_failure_at < :window_start OR s.failures < :limit"
        " RETURNING failures",
        ip=source_ip[:64], now=_at(now), window_start=_at(now - POLICY.window_seconds), limit=limit,
    ) is not None


def _source_wait(db, source_ip: str, now: float) -> int:
    row = db.one("SELECT last_failure_at FROM login_sources WHERE source_ip = :ip", ip=source_ip[:64])
    if row is None:
        return 1
    return max(1, math.ceil(POLICY.window_seconds - max(0.0, now - row["last_failure_at"].timestamp())))


def _refund_source_attempt(db, source_ip: str) -> None:
    db.execute("UPDATE login_sources SET failures = failures - 1 WHERE source_ip = :ip AND failures > 0",
               ip=source_ip[:64])


def _store_refresh_token(db, user_id: str, family_id: str, expires_at: datetime.datetime) -> str:
    token = tokens.new_refresh_token()
    db.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
        " VALUES (:hash, :family, :user, :expires)",
        hash=tokens.hash_refresh_token(token), family=family_id, user=user_id, expires=expires_at,
    )
    return token


def refresh(db, token_settings, refresh_token: str, *, now: float | None = None) -> TokenPair:
    """Exchange a refresh token for a new pair; a reused (already rotated) token revokes its family."""
    now = time.time() if now is None else now
    token_hash = tokens.hash_refresh_token(refresh_token)
    reused = False
    with db.transaction():
        row = db.one(
            "SELECT family_id, user_id, expires_at, rotated_at, revoked_at FROM refresh_tokens"
            " WHERE token_hash = :hash FOR UPDATE", hash=token_hash)
        if row is None or row["revoked_at"] is not None or row["expires_at"].timestamp() <= now:
            pair = None
        elif row["rotated_at"] is not None:
            # Theft detection: whoever holds the newer token loses it too.
            db.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :family"
                       " AND revoked_at IS NULL", family=row["family_id"])
            reused, pair = True, None
        else:
            db.execute("UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = :hash", hash=token_hash)
            user_id = str(row["user_id"])
            new_token = _store_refresh_token(db, user_id, str(row["family_id"]), row["expires_at"])
            access, expires_in = tokens.issue_access_token(token_settings, user_id,
                                                           session_id=str(row["family_id"]), now=int(now))
            pair = TokenPair(access, expires_in, new_token)
    if pair is None:
        if reused:
            raise RefreshTokenReused(str(row["family_id"]))
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_refresh_token")
    return pair


def logout(db, user_id: str, refresh_token: str | None, session_id: str | None = None) -> list[str]:
    """Sign out; return the session ids (refresh-token families) revoked now.

    Revokes the caller's own session ``session_id`` (the access token's ``sid``) and the family
    of ``refresh_token`` (only if it is the caller's); with neither, every family of the caller.
    The authorizer refuses access tokens of a revoked family (see functions/auth/revocations.py).
    """
    if refresh_token or session_id:
        rows = db.rows(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = :user"
            " AND (family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = :hash)"
            "      OR family_id = CAST(:session AS uuid))"
            " RETURNING family_id",
            user=user_id, hash=tokens.hash_refresh_token(refresh_token or ""), session=session_id)
    else:
        rows = db.rows("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = :user"
                       " RETURNING family_id", user=user_id)
    return sorted({str(row["family_id"]) for row in rows})


def session_revoked(db, session_id: str) -> bool:
    """True when the session (refresh-token family) ``session_id`` was revoked: one indexed lookup."""
    row = db.one("SELECT 1 AS revoked FROM refresh_tokens WHERE family_id = :sid AND revoked_at IS NOT NULL"
                 " LIMIT 1", sid=session_id)
    return row is not None


class RefreshTokenReused(Unauthorized):
    """A rotated refresh token came back: its family (``session_id``) has been revoked (HTTP 401)."""

    code = "refresh_token_reused"

    def __init__(self, session_id: str):
        super().__init__("This refresh token was already used; the session has been signed out.")
        self.session_id = session_id


def get_user(db, user_id: str) -> dict[str, Any]:
    row = db.one("SELECT id, email, created_at FROM users WHERE id = :id", id=user_id)
    if row is None:
        raise NotFound("The account no longer exists.", code="user_not_found")
    return user_json(row)


def _at(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)

