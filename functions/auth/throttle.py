"""Login throttle policy: how long an account waits after failed logins.

Pure arithmetic; the account service keeps ``failures`` and ``last_failure_at`` per
account in PostgreSQL and asks these functions what they mean.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FailurePolicy:
    """Failures allowed before a delay, the delay curve, and how long failures are remembered."""

    free_attempts: int = 5
    base_delay_seconds: int = 30
    max_delay_seconds: int = 900
    window_seconds: int = 900


def lockout_seconds(policy, failures):
    """Delay earned by ``failures`` consecutive failures: 0, then doubling from the base, capped."""
    excess = failures - policy.free_attempts
    if excess < 0:
        return 0
    # The cap bounds what a stranger can do to the owner: a delay, never a permanent lock.
    # Clamping the exponent keeps a huge counter from building a huge integer.
    return min(policy.max_delay_seconds, policy.base_delay_seconds * 2 ** min(excess, 32))


def counter_expired(policy, last_failure_at, now):
    """True when the last failure is older than the window, so the caller resets the counter."""
    return last_failure_at is None or now - last_failure_at > policy.window_seconds


def retry_after(policy, failures, last_failure_at, now):
    """Whole seconds the account must still wait before the next attempt (0 if none)."""
    if not failures or counter_expired(policy, last_failure_at, now):
        return 0
    # A clock that went backwards (another host) must not extend the wait beyond the lockout.
    elapsed = max(0.0, now - last_failure_at)
    return max(0, math.ceil(lockout_seconds(policy, failures) - elapsed))
