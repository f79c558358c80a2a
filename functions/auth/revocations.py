"""The authorizer's in-process memory of which sessions are revoked.

The authorizer runs on every request, so it asks the database about a session at most once
per ``ttl_seconds`` (and per process: each Lambda container has its own memory). A session
revoked in another process is therefore refused at most ``ttl_seconds`` later; one revoked in
this process (logout, refresh-token reuse) is refused at once. A revocation is never undone,
so a "revoked" answer is kept until the entry is evicted.
"""

import collections
import threading
import time

DEFAULT_TTL_SECONDS = 60
MAX_ENTRIES = 10_000  # ~1 MB at most; the oldest entries go first


class RevocationCache:
    """Remembers per session id whether it was revoked: ``True``/``False``, or ``None`` (ask)."""

    def __init__(self, ttl_seconds=DEFAULT_TTL_SECONDS, max_entries=MAX_ENTRIES, clock=time.monotonic):
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries = collections.OrderedDict()  # session id -> (revoked, checked at)
        self._lock = threading.Lock()

    def get(self, session_id):
        """``True`` (revoked), ``False`` (live, checked less than ``ttl_seconds`` ago) or ``None``."""
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            revoked, checked_at = entry
            if revoked:
                return True
            if self._clock() - checked_at >= self.ttl_seconds:
                del self._entries[session_id]
                return None
            return False

    def put(self, session_id, revoked):
        """Record what the database said about ``session_id`` just now."""
        with self._lock:
            known = self._entries.get(session_id)
            if known is not None and known[0] and not revoked:
                return  # a read that began before a revocation here must not undo it: revocations are final
            self._entries[session_id] = (bool(revoked), self._clock())
            self._entries.move_to_end(session_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def mark_revoked(self, session_ids):
        """This process revoked these sessions: refuse their access tokens from now on."""
        for session_id in session_ids:
            self.put(str(session_id), True)

    def clear(self):
        """Forget everything (the next check of each session asks the database)."""
        with self._lock:
            self._entries.clear()
