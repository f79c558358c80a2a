"""Accounts and sessions: register, sign in, rotate refresh tokens, sign out.

Knows nothing of HTTP. Raises domain errors (Conflict, Unauthorized, Throttled) that the
blueprint turns into status codes.
"""

import dataclasses
import datetime
import time
import uuid
from typing import Any, Dict, Optional

from functions.auth import emails, passwords, throttle, tokens
from functions.timestamps import iso
from functions.errors import Conflict, NotFound, Throttled, Unauthorized

POLICY = throttle.FailurePolicy()
WRONG_CREDENTIALS = "The email or password is incorrect."


@dataclasses.dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str

    def to_json(self) -> Dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "Bearer",
                "expires_in": self.expires_in, "refresh_token": self.refresh_token}


def user_json(row: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": str(row["id"]), "email": row["email"], "created_at": iso(row["created_at"])}


def register(db, email: str, password: str) -> Dict[str, Any]:
    """Create an account; one per address, compared case-insensitively."""
    normalized = emails.normalise_email(email)
    password_hash = passwords.hash_password(password)
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
          now: Optional[float] = None) -> TokenPair:
    """Check the password (throttled per address) and start a new session family."""
    now = time.time() if now is None else now
    normalized = emails.normalise_email(email)
    failures = db.one("SELECT failures, last_failure_at FROM login_failures WHERE email_normalized = :e",
                      e=normalized)
    if failures and not throttle.counter_expired(POLICY, failures["last_failure_at"].timestamp(), now):
        wait = throttle.retry_after(POLICY, failures["failures"], failures["last_failure_at"].timestamp(), now)
        if wait > 0:
            raise Throttled("Too many failed sign-ins for this account. Try again later.",
                            retry_after=wait, code="too_many_attempts")
    user = db.one("SELECT id, password_hash FROM users WHERE email_normalized = :e", e=normalized)
    if user is None:
        passwords.burn_verify_time(password)  # an unknown address costs what a wrong password costs
        _record_failure(db, normalized, now)
        raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
    if not passwords.verify_password(user["password_hash"], password):
        _record_failure(db, normalized, now)
        raise Unauthorized(WRONG_CREDENTIALS, code="invalid_credentials")
    db.execute("DELETE FROM login_failures WHERE email_normalized = :e", e=normalized)
    if passwords.needs_rehash(user["password_hash"]):
        db.execute("UPDATE users SET password_hash = :h, updated_at = now() WHERE id = :id",
                   h=passwords.hash_password(password), id=user["id"])
    user_id = str(user["id"])
    family_id = str(uuid.uuid4())
    expires_at = _at(now + refresh_ttl)
    refresh = _store_refresh_token(db, user_id, family_id, expires_at)
    access, expires_in = tokens.issue_access_token(token_settings, user_id, now=int(now))
    return TokenPair(access, expires_in, refresh)


def _record_failure(db, normalized: str, now: float) -> None:
    window_start = _at(now - POLICY.window_seconds)
    db.execute(
        "INSERT INTO login_failures (email_normalized, failures, last_failure_at) VALUES (:e, 1, :now)"
        " ON CONFLICT (email_normalized) DO UPDATE SET"
        "  failures = CASE WHEN login_failures.last_failure_at < :window_start THEN 1"
        "                  ELSE login_failures.failures + 1 END,"
        "  last_failure_at = :now",
        e=normalized, now=_at(now), window_start=window_start,
    )


def _store_refresh_token(db, user_id: str, family_id: str, expires_at: datetime.datetime) -> str:
    token = tokens.new_refresh_token()
    db.execute(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)"
        " VALUES (:hash, :family, :user, :expires)",
        hash=tokens.hash_refresh_token(token), family=family_id, user=user_id, expires=expires_at,
    )
    return token


def refresh(db, token_settings, refresh_token: str, *, now: Optional[float] = None) -> TokenPair:
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
            access, expires_in = tokens.issue_access_token(token_settings, user_id, now=int(now))
            pair = TokenPair(access, expires_in, new_token)
    if pair is None:
        if reused:
            raise Unauthorized("This refresh token was already used; the session has been signed out.",
                               code="refresh_token_reused")
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_refresh_token")
    return pair


def logout(db, user_id: str, refresh_token: Optional[str]) -> None:
    """Revoke the family of ``refresh_token`` (only if it is the caller's), or every family of the caller."""
    if refresh_token:
        db.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = :user"
            " AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = :hash)",
            user=user_id, hash=tokens.hash_refresh_token(refresh_token))
    else:
        db.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = :user",
                   user=user_id)


def get_user(db, user_id: str) -> Dict[str, Any]:
    row = db.one("SELECT id, email, created_at FROM users WHERE id = :id", id=user_id)
    if row is None:
        raise NotFound("The account no longer exists.", code="user_not_found")
    return user_json(row)


def _at(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)

