"""Password policy and hashing (argon2id).

Passwords are Unicode-normalised (NFKC) before hashing, as NIST SP 800-63B asks,
so the same password typed on different systems gives the same hash. They are
never truncated.

Each hash or verify holds argon2's 19 MiB for its duration, so ``HashGate`` bounds how many
run at once in this process: memory stays flat under a burst, and a caller that cannot get a
slot in time is told to come back (``Throttled`` with ``retry_after``) instead of queueing.
"""

import contextlib
import functools
import secrets
import threading
import unicodedata
from typing import TYPE_CHECKING

from functions.auth.password_policy import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from functions.errors import InvalidInput, Throttled

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@functools.cache
def _hasher() -> "PasswordHasher":
    # Built on first use: only sign-up, sign-in and password changes load argon2 (not the authorizer).
    from argon2 import PasswordHasher, Type

    # OWASP Password Storage Cheat Sheet, argon2id option "m=19456 (19 MiB), t=2, p=1".
    # p=1 because a Lambda invocation hashes one password at a time on one vCPU.
    return PasswordHasher(
        time_cost=2,
        memory_cost=19 * 1024,  # KiB
        parallelism=1,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


HASH_MEMORY_MIB = 19  # the m parameter above: what one hash or verify holds while it runs
SLOT_WAIT_SECONDS = 5.0  # a sign-in queues this long for a slot before it is told to retry


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
    return _hasher().hash(_normalise(password))


def verify_password(stored_hash, password):
    """Return True if ``password`` matches ``stored_hash``; False on mismatch or a malformed hash."""
    if not isinstance(stored_hash, str) or not isinstance(password, str):
        return False
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored_hash, _normalise(password))
    except (VerificationError, InvalidHashError):
        # VerifyMismatchError is a VerificationError; so are undecodable hashes.
        return False


def needs_rehash(stored_hash):
    """Return True if ``stored_hash`` was made with other parameters than today's (or is unreadable)."""
    # An unreadable hash can only be improved by replacing it.
    if not isinstance(stored_hash, str):
        return True
    from argon2.exceptions import InvalidHashError

    try:
        return _hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def burn_verify_time(password):
    """Spend the time of one failed verify, so an unknown account answers as slowly as a known one."""
    # Same code path as verify_password, so even its early returns cost the same.
    verify_password(_dummy_hash(), password)


@functools.cache
def _dummy_hash():
    # Built on first use with the live parameters (not at import: cold start).
    return _hasher().hash(secrets.token_urlsafe(32))


def _normalise(password):
    return unicodedata.normalize("NFKC", password)


@functools.cache
def _map_hash_memory_directly():
    """Make glibc give each hash's 19 MiB straight back to the OS when the hash ends.

    glibc raises its mmap threshold after the first large free, so later 19 MiB blocks come
    from per-thread arenas that keep them: measured, 200 verifies on 200 threads through 6
    slots still peaked at 623 MiB; with the threshold pinned at 18 MiB, 150 MiB. Pillow's 16 MiB
    image blocks stay below it and are unaffected. A no-op where mallopt does not exist.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 18 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


_M_MMAP_THRESHOLD = -3  # glibc malloc.h


def slots_for_memory(memory_mib):
    """How many hashes may run at once within ``memory_mib`` MiB (at least one)."""
    return max(1, int(memory_mib) // HASH_MEMORY_MIB)


class HashGate:
    """Runs hash, verify and the unknown-account burn under a process-wide bound of ``slots``.

    Counts the password guesses it answered (``checks``: verifies and burns) and the most
    hashes that ever ran at once (``max_in_flight``), so tests and benches can see both.
    """

    def __init__(self, slots, *, wait_seconds=SLOT_WAIT_SECONDS):
        if slots < 1:
            raise ValueError("HashGate needs at least one slot.")
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.checks = 0
        self.refused = 0

    def hash_password(self, password):
        """``hash_password`` within a slot (validated first, so bad input costs no slot)."""
        validate_password(password)
        with self._slot():
            return hash_password(password)

    def verify_password(self, stored_hash, password):
        """``verify_password`` within a slot."""
        with self._slot(check=True):
            return verify_password(stored_hash, password)

    def burn_verify_time(self, password):
        """``burn_verify_time`` within a slot: an unknown account costs a slot like a known one."""
        with self._slot(check=True):
            burn_verify_time(password)

    def reset_counters(self):
        """Start ``checks``, ``refused`` and ``max_in_flight`` again from now."""
        with self._lock:
            self.max_in_flight = self.in_flight
            self.checks = self.refused = 0

    @contextlib.contextmanager
    def _slot(self, check=False):
        _map_hash_memory_directly()  # on first use, not at import
        if not self._semaphore.acquire(timeout=self.wait_seconds):
            with self._lock:
                self.refused += 1
            raise Throttled("The server is busy signing other people in. Try again in a moment.",
                            retry_after=1, code="server_busy")
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.checks += check
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
            self._semaphore.release()
