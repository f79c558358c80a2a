"""Lease heartbeats: a claimed job keeps its claim alive for as long as it runs.

Processing, generation steps and imports claim their row with a token and a timestamp
(``claimed_at``); a redelivered event may take the row over only once that timestamp is
one lease (the function timeout) old. While the job runs, ``heartbeat`` renews the
timestamp every third of the lease on a background thread, so a duplicate never takes
over live work; when the worker dies (the process is killed at its timeout, or crashes)
the renewals stop with it and the lease runs out within one lease length.

A renewal that matches no row means another worker holds the claim now: the lease is
lost, and the job must stop writing (``lease.lost`` / ``lease.check()``).
"""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

MIN_RENEW_INTERVAL = 0.1  # seconds; a lease of (almost) nothing must not spin


# The order queues' max_receive_count in infra/resources.json (tests/deploy checks they agree).
ORDER_MAX_RECEIVES = 5


def handoff_seconds(settings) -> int:
    """How much longer a claim holds once its order is sent to an outside function: the order's whole life.

    The outside function cannot renew a lease (it has no database). SQS gives its order up to
    maxReceiveCount tries of one visibility timeout each, then the DLQ consumer settles the record;
    until then a duplicate job message cannot take the claim over. Before the order is sent the claim
    has the usual lease of one function timeout, so a worker that dies before sending is taken over.
    """
    return settings.visibility_timeout * ORDER_MAX_RECEIVES


class LeaseLost(Exception):
    """The job's claim was taken over by another worker; it must not write any more."""


class Lease:
    """A held claim, renewed by ``heartbeat`` while the job runs."""

    def __init__(self, db, renew_sql: str, params: dict, *, seconds: float, name: str):
        self._db = db
        self._sql = renew_sql
        self._params = params
        self.seconds = float(seconds)
        self.name = name
        self.renewals = 0
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._renewed_at = time.monotonic()  # the claim itself was just taken
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    @property
    def lost(self) -> bool:
        """True once a renewal found the claim held by someone else (or could not renew it in time)."""
        return self._lost.is_set()

    def check(self) -> None:
        """Raise LeaseLost if the claim is no longer ours."""
        if self.lost:
            raise LeaseLost(f"the lease on {self.name} was taken over")

    def renew(self) -> bool:
        """Renew once now; False when the claim is no longer ours."""
        # Runs on this thread's own pooled connection, outside any transaction of the job.
        if self._db.execute(self._sql, **self._params):
            self.renewals += 1
            self._renewed_at = time.monotonic()
            return True
        self._lost.set()
        return False

    def _run(self) -> None:
        interval = max(self.seconds / 3, MIN_RENEW_INTERVAL)
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    log.warning("lease on %s was taken over; the job stops writing", self.name)
                    return
            except Exception:
                # The database hiccupped: keep trying, but once a whole lease passed unrenewed
                # another worker may have taken over, so behave as if it had.
                log.warning("could not renew the lease on %s", self.name, exc_info=True)
                if time.monotonic() - self._renewed_at >= self.seconds:
                    self._lost.set()
                    return

    def start(self) -> "Lease":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


@contextlib.contextmanager
def heartbeat(db, renew_sql: str, *, seconds: float, name: str, **params: Any) -> Iterator[Lease]:
    """Renew a claim with ``renew_sql`` (an UPDATE conditional on the claim token) every third
    of ``seconds`` while the block runs; the renewals stop when it ends, however it ends."""
    lease = Lease(db, renew_sql, params, seconds=seconds, name=name).start()
    try:
        yield lease
    finally:
        lease.stop()
