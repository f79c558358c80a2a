"""Run a coroutine on a fresh event loop in its own thread.

The browser tests' Playwright (sync API) keeps an event loop running on the main thread for the
whole session, and ``asyncio.run`` refuses to start inside a running loop.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run(coroutine):
    """``asyncio.run(coroutine)`` on another thread; its result, or its exception raised here."""
    with ThreadPoolExecutor(1, thread_name_prefix="own-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
