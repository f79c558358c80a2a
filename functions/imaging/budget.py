"""The CPU time one image may take, counted per step on every thread that works on it.

Why between steps and not a timer: a decode, resize or encode is one C call that holds no Python
frame Python could interrupt, and killing the thread is not possible. So the work is bounded in two
layers: what a single step can cost is bounded before it starts (pixels, JPEG scans, the variants'
pixel budget), and no step starts once the steps so far add up to more than the budget: the image
ends ``too_slow`` instead of running on to the function's timeout. A step already running is let
finish (so the last one never throws its finished work away); one that alone outlasts the timeout
gets the worker killed, and the caller counts those attempts.

Thread CPU time (not wall time, not process time) is what is counted: several images share a
process in the local runner, and encodes of one image run on several threads at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from functions.imaging.source import ImageRejected


class Budget:
    """CPU seconds one image may spend (``None``: unlimited); ``steps`` records what ran, in order.

    ``clock`` gives the calling thread's CPU seconds; tests hand in another one.
    """

    def __init__(self, cpu_seconds: float | None = None, *, clock: Callable[[], float] = time.thread_time):
        self.cpu_seconds = cpu_seconds
        self.steps: list[tuple[str, float]] = []
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        """CPU seconds spent so far, summed over every step on every thread."""
        with self._lock:
            return sum(seconds for _, seconds in self.steps)

    def count(self, step: str) -> int:
        """How many times ``step`` ran (``decode``, ``resize``, ``encode``)."""
        with self._lock:
            return sum(1 for name, _ in self.steps if name == step)

    @contextmanager
    def step(self, name: str, *, whole_process: bool = False) -> Iterator[None]:
        """Run one step on this thread, counting its CPU time; refused (too_slow) if the budget is spent.

        ``whole_process``: count the process's CPU time instead, for a step whose library works on
        threads of its own (libheif decodes on its own threads whatever it is told): an over-count
        when other images share the process, never an under-count.
        """
        self.check()
        clock = time.process_time if whole_process and self._clock is time.thread_time else self._clock
        started = clock()
        try:
            yield
        finally:
            with self._lock:
                self.steps.append((name, clock() - started))

    def check(self) -> None:
        """Raise ImageRejected(too_slow) if the steps so far add up to more than the budget."""
        if self.cpu_seconds is None:
            return
        spent = self.spent
        if spent > self.cpu_seconds:
            raise ImageRejected(
                "too_slow",
                f"Processing this image took more than {self.cpu_seconds:g} seconds of computing time "
                f"({spent:.1f} s when it was stopped), the most one image may take.",
            )
