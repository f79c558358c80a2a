"""Password policy and hashing (argon2id).

Passwords are Unicode-normalised (NFKC) before hashing, as NIST SP 800-63B asks,
so the same password typed on different systems gives the same hash. They are
never truncated.
"""

import functools
import secrets
import unicodedata

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from functions.errors import InvalidInput

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128

# OWASP Password Storage Cheat Sheet, argon2id option "m=19456 (19 MiB), t=2, p=1".
# p=1 because a Lambda invocation hashes one password at a time on one vCPU.
_HASHER = PasswordHasher(
    time_cost=2,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)


def validate_password(password):
    """Raise InvalidInput(field="password") unless ``password`` is a str of 10..128 characters."""
    if not isinstance(password, str):
        raise InvalidInput("Password must be a string.", field="password")
    # len() counts code points, so a multibyte character counts once.
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters long.",
            field="password",
        )


def hash_password(password):
    """Return the argon2id hash (PHC string) of ``password``; validate it first."""
    validate_password(password)
    return _HASHER.hash(_normalise(password))


def verify_password(stored_hash, password):
    """Return True if ``password`` matches ``stored_hash``; False on mismatch or a malformed hash."""
    if not isinstance(stored_hash, str) or not isinstance(password, str):
        return False
    try:
        return _HASHER.verify(stored_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        # VerifyMismatchError is a VerificationError; so are undecodable hashes.
        return False


def needs_rehash(stored_hash):
    """Return True if ``stored_hash`` was made with other parameters than today's (or is unreadable)."""
    # An unreadable hash can only be improved by replacing it.
    if not isinstance(stored_hash, str):
        return True
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def burn_verify_time(password):
    """Spend the time of one failed verify, so an unknown account answers as slowly as a known one."""
    # Same code path as verify_password, so even its early returns cost the same.
    verify_password(_dummy_hash(), password)


@functools.cache
def _dummy_hash():
    # Built on first use with the live parameters (not at import: cold start).
    return _HASHER.hash(secrets.token_urlsafe(32))


def _normalise(password):
    return unicodedata.normalize("NFKC", password)
