"""Access tokens (short-lived signed JWTs) and refresh tokens (opaque, stored only as hashes)."""

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field

from functions.errors import Unauthorized

log = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as its 256-bit output
LEEWAY_SECONDS = 5  # clock drift tolerated between the Lambda hosts that issue and verify
MAX_TOKEN_LENGTH = 8192  # ours are ~300 characters; refuse to parse anything huge
REFRESH_TOKEN_BYTES = 32  # 256 bits

# The secret is a shared string, so only HMAC algorithms make sense for it.
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud", "typ"]
_ACCESS = "access"


class InvalidToken(Unauthorized):
    """The access token is missing a part, forged, expired or not an access token (HTTP 401).

    ``reason`` is a short word for logs; the message never contains the token.
    """

    code = "invalid_token"

    def __init__(self, message="The access token is invalid.", *, reason="invalid"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TokenSettings:
    """How access tokens are signed and checked; build it once from the environment."""

    secret: str = field(repr=False)  # kept out of repr so it never lands in a log line
    issuer: str = "pixelflow"
    audience: str = "pixelflow-api"
    access_ttl_seconds: int = 900
    algorithm: str = "HS256"

    def __post_init__(self):
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError("TokenSettings.secret must be a non-empty string (see check_secret).")
        if self.algorithm not in _HMAC_ALGORITHMS:
            raise ValueError(f"TokenSettings.algorithm must be one of {sorted(_HMAC_ALGORITHMS)}.")
        if self.access_ttl_seconds <= 0:
            raise ValueError("TokenSettings.access_ttl_seconds must be positive.")


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says: whose it is and which session (refresh-token family)."""

    user_id: str
    session_id: str | None


def issue_access_token(settings, user_id, *, session_id=None, now=None):
    """Sign an access token for ``user_id`` in session ``session_id``; return ``(token, expires_in_seconds)``.

    ``session_id`` (claim ``sid``) is the refresh-token family, so revoking the family
    (logout, refresh-token reuse) lets the authorizer refuse the access tokens it issued.
    """
    if not isinstance(user_id, str) or not user_id:
        raise ValueError("user_id must be a non-empty string.")
    issued_at = int(time.time() if now is None else now)
    claims = {
        "sub": user_id,
        "iat": issued_at,
        "exp": issued_at + settings.access_ttl_seconds,
        "iss": settings.issuer,
        "aud": settings.audience,
        "jti": secrets.token_urlsafe(16),
        "typ": _ACCESS,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    import jwt  # loaded on first use: most HTTP routes never issue a token

    token = jwt.encode(claims, settings.secret, algorithm=settings.algorithm)
    return token, settings.access_ttl_seconds


def verify_access_token(settings, token, *, now=None):
    """Return the user id (``sub``) of a valid access token; raise InvalidToken otherwise."""
    return verify_access_claims(settings, token, now=now).user_id


def verify_access_claims(settings, token, *, now=None):
    """Return the ``AccessClaims`` of a valid access token; raise InvalidToken otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(reason="malformed")
    import jwt  # loaded on first use: most HTTP routes never read one (the authorizer does)

    try:
        claims = jwt.decode(
            token,
            settings.secret,
            # Pinned from our settings, never read from the token's header: no "none", no HS/RS swap.
            algorithms=[settings.algorithm],
            audience=settings.audience,
            issuer=settings.issuer,
            options={
                "require": _REQUIRED_CLAIMS,
                "strict_aud": True,
                # Times are checked below against ``now``, which PyJWT cannot take.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(reason=type(exc).__name__) from None
    except (ValueError, TypeError):
        raise InvalidToken(reason="malformed") from None

    _check_times(claims, time.time() if now is None else now)
    if claims["typ"] != _ACCESS:
        raise InvalidToken(reason="not_an_access_token")
    # Ids are UUIDs in the database; anything else must stop here, not in a query.
    subject = _canonical_uuid(claims["sub"])
    if subject is None:
        raise InvalidToken(reason="bad_subject")
    session = claims.get("sid")
    if session is not None:
        session = _canonical_uuid(session)
        if session is None:
            raise InvalidToken(reason="bad_session")
    return AccessClaims(subject, session)


def new_refresh_token():
    """Return a new opaque refresh token: 256 random bits, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token):
    """Return the SHA-256 hex digest under which a refresh token is stored and looked up."""
    if not isinstance(token, str):
        raise TypeError("refresh token must be a string")
    # A fast hash is right here: the token has 256 random bits, so there is nothing to brute-force,
    # and a deterministic digest can be looked up by index (a salted slow hash could not).
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_secret(secret, *, stage, name="JWT_SECRET"):
    """Return the signing secret (setting ``name``) to use on ``stage``; raise ValueError if it is too weak.

    Outside "local" the secret must be at least 32 bytes. On "local" an empty secret is
    replaced by a random one for this process, so what it signs does not survive a restart.
    """
    secret = secret or ""
    if len(secret.encode("utf-8")) >= MIN_SECRET_BYTES:
        return secret
    if stage != "local":
        raise ValueError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes on stage {stage!r} "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if not secret:
        log.warning("%s is empty; using a random secret for this process only.", name)
        return secrets.token_urlsafe(48)
    log.warning("%s is shorter than %d bytes; accepted only on stage 'local'.", name, MIN_SECRET_BYTES)
    return secret


def _check_times(claims, now):
    expires_at, issued_at, not_before = claims["exp"], claims["iat"], claims.get("nbf")
    if not (_is_int(expires_at) and _is_int(issued_at)) or not (
        not_before is None or _is_int(not_before)
    ):
        raise InvalidToken(reason="bad_time_claim")
    if expires_at <= now - LEEWAY_SECONDS:
        # Safe to say: the signature has already been checked.
        raise InvalidToken("The access token has expired.", reason="expired")
    if issued_at > now + LEEWAY_SECONDS or (not_before is not None and not_before > now + LEEWAY_SECONDS):
        raise InvalidToken(reason="not_yet_valid")


def _canonical_uuid(value):
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
