"""What a database outage costs callers: how fast they hear 503-worthy Unavailable, and how fast they recover.

Starts its own embedded PostgreSQL (no emulator, no app), fills the adapter's pool from many
threads, kills the server with SIGKILL, has N threads ask at once while it is down (one waits
DATABASE_CONNECT_WAIT_SECONDS for it, the rest should fail at once), starts it again on the same
data folder, and times the first statement after. Repeated for a few rounds; prints medians.

    .venv/bin/python bench/bench_database_pause.py [--rounds 5] [--callers 32] [--wait 3]
"""

import argparse
import concurrent.futures
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--wait", type=float, default=3.0, help="DATABASE_CONNECT_WAIT_SECONDS")
    args = parser.parse_args()

    from functions.adapters.database import Database
    from functions.errors import Unavailable
    from functions.local.stack import EmbeddedPostgres

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-pause-"))
    postgres = EmbeddedPostgres(state / "pgdata")
    try:
        db = Database(postgres.start(), connect_wait=args.wait)

        def ask() -> tuple[bool, float]:
            started = time.perf_counter()
            try:
                db.one("SELECT 1 AS ok")
                return True, time.perf_counter() - started
            except Unavailable:
                return False, time.perf_counter() - started

        up, down, slowest, restart, first = [], [], [], [], []
        with concurrent.futures.ThreadPoolExecutor(args.callers) as pool:
            for _ in range(args.rounds):
                up += [seconds for _, seconds in pool.map(lambda _: ask(), range(args.callers * 4))]
                os.kill(postgres.pid() or 0, signal.SIGKILL)
                while postgres.pid() is not None:
                    time.sleep(0.05)
                answers = list(pool.map(lambda _: ask(), range(args.callers)))
                assert not any(ok for ok, _ in answers), "a statement went through while the server was dead"
                down += [seconds for _, seconds in answers]
                slowest.append(max(seconds for _, seconds in answers))
                started = time.perf_counter()
                while True:
                    try:
                        postgres.resume()
                        break
                    except Exception:
                        time.sleep(0.2)  # the dead server's backends may hold its shared memory a moment
                restart.append(time.perf_counter() - started)
                ok, seconds = ask()
                assert ok, "the first statement after the restart failed"
                first.append(seconds)
        print(f"database outage, embedded PostgreSQL, {args.rounds} rounds, {args.callers} callers at once, "
              f"connect wait {args.wait:g} s")
        print(f"  statement while up:                  median {statistics.median(up) * 1000:8.2f} ms")
        print(f"  Unavailable while down, per caller:  median {statistics.median(down) * 1000:8.2f} ms, "
              f"slowest caller median {statistics.median(slowest):.2f} s")
        print(f"  restart on the same data folder:     median {statistics.median(restart):8.2f} s")
        print(f"  first statement after the restart:   median {statistics.median(first) * 1000:8.2f} ms")
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
