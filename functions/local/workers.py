"""Warm worker processes for the local event runner, shaped like Lambda execution environments.

Each worker is a long-lived Python process that imports the app once (its cold start) and
then takes invocations over a pipe: a function name, the Lambda-shaped event and the
timeout. It answers with the handler's result or the exception it raised. An invocation
that outlives its timeout gets the worker killed (SIGKILL) and replaced, as Lambda ends a
timed-out invocation's environment; the runner then leaves its messages on the queue.

Workers end with the runner's process, however it ends: ``PR_SET_PDEATHSIG`` (SIGKILL)
for a parent that is killed, and end-of-file on the pipe for a parent that closes it.

    python -m functions.local.workers --fd N --app app:app --parent PID   (started by WorkerPool)
"""

import argparse
import concurrent.futures
import ctypes
import importlib
import logging
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
PR_SET_PDEATHSIG = 1
READY_TIMEOUT_SECONDS = 60.0  # a cold start: Python, the app, Pillow


class InvocationTimedOut(Exception):
    """The handler ran past its timeout; its worker was killed."""


class InvocationFailed(Exception):
    """The handler raised (its type, message and the worker's traceback are in the text)."""


class WorkerDied(Exception):
    """The worker process ended in the middle of an invocation (crash, out of memory, killed)."""


def load_app(path: str):
    """The object at ``module:attribute`` (default attribute ``app``)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


# --- the worker process ----------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    # The kernel sends SIGKILL when the thread that started us ends (see WorkerPool._spawner).
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def serve(conn: Connection, app) -> None:
    """Answer invocations until the runner closes the pipe."""
    from functions.local.runner import LambdaContext

    settings = None
    while True:
        try:
            name, event, timeout, wanted = conn.recv()
        except EOFError:
            return
        if wanted is not None and wanted != settings:
            # The runner's process reconfigured itself (tests do): rebuild our clients from its settings.
            from functions import wiring

            settings = wiring.configure(wanted)
        try:
            result = app.handler_map[name](event, LambdaContext(name, timeout))
            answer = pickle.dumps(("ok", result))
        except Exception as error:
            answer = pickle.dumps(("error", f"{error.__class__.__name__}: {error}", traceback.format_exc()))
        conn.send_bytes(answer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a local event runner worker (started by the runner)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--app", default="app:app")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--log-level", type=int, default=logging.INFO, help="the runner's own level")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    # Ctrl-C reaches the whole process group; the runner decides when we stop (it drains first).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s")
    conn = Connection(args.fd)
    app = load_app(args.app)
    conn.send(("ready", os.getpid()))
    serve(conn, app)
    return 0


# --- the runner's side -----------------------------------------------------------------

class IdleWorkers:
    """The workers free to take an invocation; pollers may wait for one without taking it."""

    def __init__(self):
        self._free: list[Any] = []
        self._changed = threading.Condition()

    def put(self, worker) -> None:
        with self._changed:
            self._free.append(worker)
            self._changed.notify_all()

    def get(self, timeout: float | None = None):
        """A free worker, or None after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._free, timeout):
                return None
            return self._free.pop(0)

    def wait_for_one(self, timeout: float) -> bool:
        """True as soon as a worker is free (without taking it), False after ``timeout``."""
        with self._changed:
            return bool(self._changed.wait_for(lambda: self._free, timeout))


class Worker:
    """One warm worker process and the runner's end of its pipe."""

    def __init__(self, process: subprocess.Popen, conn: Connection):
        self.process = process
        self.conn = conn
        self.pid = process.pid
        self.invocations = 0

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            self.kill()
            raise WorkerDied(f"worker {self.pid} did not start within {timeout:g} s")
        try:
            self.conn.recv()
        except EOFError:
            self.kill()
            raise WorkerDied(f"worker {self.pid} exited while starting (exit code {self.process.wait()})") from None

    def invoke(self, name: str, event: dict[str, Any], timeout: float, settings: Any = None) -> Any:
        """The handler's result; raises InvocationTimedOut, InvocationFailed or WorkerDied."""
        self.invocations += 1
        try:
            self.conn.send((name, event, timeout, settings))
            if not self.conn.poll(timeout):
                self.kill()
                raise InvocationTimedOut(f"{name} timed out after {timeout:g} seconds")
            answer = pickle.loads(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.kill()
            raise WorkerDied(f"worker {self.pid} died during {name} (exit code {self.process.poll()})") from None
        if answer[0] == "error":
            raise InvocationFailed(f"{answer[1]}\n{answer[2]}")
        return answer[1]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.conn.close()

    def close(self, timeout: float) -> None:
        """End of file on the pipe: the worker returns from its loop and exits."""
        self.conn.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WorkerPool:
    """``size`` warm workers shared by every queue; a killed or crashed worker is replaced."""

    def __init__(self, size: int, app_path: str, env: dict[str, str] | None = None):
        self.size = size
        self.app_path = app_path
        self._env = env or {}
        self.idle = IdleWorkers()
        self._all: list[Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.cold_starts = 0
        # PR_SET_PDEATHSIG fires when the *thread* that forked a worker ends, so every worker is
        # started from this one thread, which lives until the pool is closed.
        self._requests: queue.Queue[concurrent.futures.Future | None] = queue.Queue()
        self._spawner = threading.Thread(target=self._spawn_loop, name="runner-spawner", daemon=True)

    def start(self) -> "WorkerPool":
        self._spawner.start()
        futures = [self._request_spawn() for _ in range(self.size)]
        for future in futures:
            self._add(future.result())
        return self

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [worker.pid for worker in self._all]

    def release(self, worker: Worker) -> None:
        """Give a worker back; a dead one is replaced by a fresh process (a cold start)."""
        if worker.process.poll() is None:
            self.idle.put(worker)
            return
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
            if self._closed:
                return
        log.info("runner: worker %d ended (exit code %s); starting a new one (a cold start)",
                 worker.pid, worker.process.returncode)
        future = self._request_spawn()
        future.add_done_callback(self._replaced)

    def _replaced(self, future: concurrent.futures.Future) -> None:
        try:
            self._add(future.result())
        except Exception:
            log.exception("runner: a replacement worker failed to start; the pool has one worker less")

    def _add(self, worker: Worker) -> None:
        with self._lock:
            if self._closed:
                worker.close(5)
                return
            self._all.append(worker)
            self.cold_starts += 1
        self.idle.put(worker)

    def _request_spawn(self) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.put(future)
        return future

    def _spawn_loop(self) -> None:
        while True:
            future = self._requests.get()
            if future is None:
                return
            try:
                worker = self._spawn()
            except BaseException as error:  # noqa: B036 - handed to whoever asked for the worker
                future.set_exception(error)
                continue
            # Waiting for readiness elsewhere keeps this thread free to start the next one.
            threading.Thread(target=self._finish_start, args=(worker, future), daemon=True).start()

    @staticmethod
    def _finish_start(worker: Worker, future: concurrent.futures.Future) -> None:
        try:
            worker.wait_ready(READY_TIMEOUT_SECONDS)
            future.set_result(worker)
        except BaseException as error:  # noqa: B036
            future.set_exception(error)

    def _spawn(self) -> Worker:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env.update(self._env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "functions.local.workers", "--fd", str(theirs.fileno()),
                 "--app", self.app_path, "--parent", str(os.getpid()),
                 "--log-level", str(logging.getLogger().getEffectiveLevel())],
                env=env, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        return Worker(process, Connection(ours.detach()))

    def close(self, timeout: float = 10.0) -> None:
        """End every worker (idle ones by end of file, so they exit cleanly) and the spawner thread."""
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), []
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.close(max(0.1, deadline - time.monotonic()))
        self._requests.put(None)
        self._spawner.join(timeout)


if __name__ == "__main__":
    sys.exit(main())
