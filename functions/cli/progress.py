"""Progress of long commands: rich bars on a terminal, one plain line per event otherwise."""

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from functions.cli.output import Output, human_bytes

PLAIN_EVERY = 2.0  # seconds between plain progress lines of a counted task


class Stopper:
    """Ctrl-C as a request: the first one asks the command to stop cleanly, a second one stops it at once."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True if a stop was requested meanwhile."""
        return self._event.wait(seconds)

    @contextlib.contextmanager
    def on_interrupt(self, output: Output) -> Iterator["Stopper"]:
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # a background job keeps ignoring Ctrl-C
            yield self
            return

        def handle(signum, frame):
            if self._event.is_set():
                raise KeyboardInterrupt
            self._event.set()
            output.note("Stopping: no new upload starts, unfinished ones are withdrawn (Ctrl-C again to quit now).")

        previous = signal.signal(signal.SIGINT, handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class Bar:
    """A counted task (checking files, processing images): a rich bar or occasional plain lines."""

    def __init__(self, output: Output, label: str, total: int, fields: str = "", **initial):
        self.output, self.label, self.total = output, label, total
        self._progress: Progress | None = None
        self._last: tuple[int | None, dict[str, Any] | None, float] = (None, None, 0.0)
        if output.interactive:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn(fields), TimeElapsedColumn(),
                                      console=output.err)
            self._task = self._progress.add_task(label, total=total, **initial)  # ``fields`` renders these

    def __enter__(self) -> "Bar":
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def update(self, completed: int, **fields) -> None:
        if self._progress:
            self._progress.update(self._task, completed=completed, **fields)
        elif (completed, fields) != self._last[:2] and (completed == self.total
                                                         or time.monotonic() - self._last[2] >= PLAIN_EVERY):
            # Plain lines at most every few seconds (and the last one): 2,000 files must not mean 2,000 lines.
            self._last = (completed, fields, time.monotonic())
            extra = "".join(f", {name} {value}" for name, value in fields.items())
            self.output.note(f"{self.label}: {completed}/{self.total}{extra}")


class TransferView:
    """One overall bar (files and bytes, rate, ETA) and a line per file in flight; plain lines without a terminal."""

    def __init__(self, output: Output, files: int, total_bytes: int):
        self.output, self.files, self.total_bytes = output, files, total_bytes
        self.finished = 0
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._tasks: dict[int, TaskID] = {}
        self._sent: dict[int, int] = {}
        if output.interactive:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), TimeRemainingColumn(), console=output.err)
            self._overall = self._progress.add_task(self._title(), total=total_bytes)

    def _title(self) -> str:
        return f"Uploading {self.finished}/{self.files} files"

    def __enter__(self) -> "TransferView":
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    def started(self, key: int, name: str, size: int) -> None:
        with self._lock:
            self._sent[key] = 0
            if self._progress:
                self._tasks[key] = self._progress.add_task(f"  {name}", total=size)

    def sent(self, key: int, total_sent: int) -> None:
        with self._lock:
            delta = total_sent - self._sent.get(key, 0)
            if delta <= 0:
                return
            self._sent[key] = total_sent
            if self._progress:
                self._progress.update(self._tasks[key], completed=total_sent)
                self._progress.advance(self._overall, delta)

    def finished_file(self, key: int, name: str, size: int, error: str | None) -> None:
        with self._lock:
            sent = self._sent.pop(key, 0)
            if error is None:
                self.finished += 1
            if self._progress:
                task = self._tasks.pop(key, None)
                if task is not None:
                    self._progress.remove_task(task)
                # A withdrawn or failed file gives back what it had counted; a finished one counts whole.
                self._progress.advance(self._overall, (size - sent) if error is None else -sent)
                self._progress.update(self._overall, description=self._title())
            elif error is None:
                self.output.note(f"uploaded {name} ({human_bytes(size)}), {self.finished}/{self.files}")
            else:
                self.output.note(f"not uploaded {name}: {error}")


@contextlib.contextmanager
def spinner(output: Output, message: str) -> Iterator[None]:
    """A spinner on a terminal, else one line."""
    if output.interactive:
        with output.err.status(message):
            yield
    else:
        output.note(message)
        yield
