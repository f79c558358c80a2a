"""The keeper: owns `make run`'s emulator and embedded PostgreSQL, and outlives serve to put them away.

``make run`` (functions/local/serve.py) starts it in a session of its own, so neither Ctrl-C
nor a SIGKILL of serve reaches it. While serve lives, it saves the emulator's bucket to the
state folder every ``PIXELFLOW_SNAPSHOT_SECONDS`` (only changed objects). When serve ends,
for whatever reason, or asks it to stop (SIGTERM, after the runner has drained), it saves the
bucket a last time, stops the emulator, and, if serve is gone, stops PostgreSQL too. If the
emulator itself dies, it tells serve to stop (SIGTERM): what it held since the last save is lost.

It acts only on the emulator recorded when it started: if that last save fails, it leaves the
emulator running and recorded (the next start reuses it) and exits with ``SAVE_FAILED``; and it
clears ``stack.json`` only while the record still names its own serve and emulator.
"""

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from functions.local.stack import (
    BucketSnapshot,
    StackRecord,
    end_process,
    local_s3_client,
    process_alive,
    stop_postgres,
)

log = logging.getLogger("pixelflow.keeper")
# Exit status when the last save failed and the emulator was left running (serve must not stop it).
SAVE_FAILED = 3


class Keeper:
    def __init__(self, state_dir: Path, *, serve_pid: int, bucket: str, every: float, region: str):
        self.state_dir = Path(state_dir)
        self.record = StackRecord(self.state_dir)
        self.serve_pid = serve_pid
        record = self.record.read()
        self.serve_created = record.get("serve_created")
        # The emulator of this run, read once: a later run's record never makes this keeper touch its emulator.
        self.emulator_pid = record.get("emulator_pid")
        self.emulator_created = record.get("emulator_created")
        self.emulator_port = record.get("emulator_port")
        self.bucket = bucket
        self.every = every
        self.region = region
        self.snapshot = BucketSnapshot(self.state_dir / "s3")
        self.stopping = threading.Event()
        self._s3 = None
        self._last = 0.0   # when the last periodic save started (monotonic)
        self._last_error: str | None = None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is serve's to handle
        emulator_lost = False
        while not self.stopping.wait(min(self.every, 0.5)):
            if not process_alive(self.serve_pid, self.serve_created):
                log.warning("keeper: make run (pid %d) ended without stopping; saving and stopping what it started",
                            self.serve_pid)
                break
            if self.emulator_pid and not self._emulator_alive():
                log.error("keeper: the storage emulator (pid %d) ended; objects stored since the last save "
                          "(at most %g s ago) are lost. Stopping make run; start it again.",
                          self.emulator_pid, self.every)
                emulator_lost = True
                os.kill(self.serve_pid, signal.SIGTERM)
                break
            if self._due():
                self.save(quiet=True)
        saved = True
        if emulator_lost:
            # Serve stops itself now; if it dies instead (or is already dying), what it started is ours to stop.
            deadline = time.monotonic() + 180
            while (process_alive(self.serve_pid, self.serve_created) and not self.stopping.is_set()
                   and time.monotonic() < deadline):
                time.sleep(0.2)
        else:
            saved = self.save(quiet=False)
        if saved:
            self.stop_emulator()
        else:
            log.error("keeper: the last save failed; the storage emulator (pid %d) is left running with what it "
                      "holds, and the next `make run` on %s reuses it", self.emulator_pid, self.state_dir)
            print(f"the last save failed: the storage emulator (pid {self.emulator_pid}) is left running; "
                  "the next start reuses it", flush=True)
        if not process_alive(self.serve_pid, self.serve_created) and self._record_is_ours():
            stop_postgres(self.state_dir / "pgdata")
            if saved:
                self.record.clear()
            else:
                self.record.update(serve_pid=None, keeper_pid=None)
        return 0 if saved else SAVE_FAILED

    def _emulator_alive(self) -> bool:
        return process_alive(self.emulator_pid, self.emulator_created)

    def _record_is_ours(self) -> bool:
        """Whether stack.json still describes this keeper's run (a later run may have written its own)."""
        record = self.record.read()
        return (record.get("serve_pid") in (None, self.serve_pid)
                and record.get("emulator_pid") in (None, self.emulator_pid))

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False

    def save(self, *, quiet: bool) -> bool:
        """Save the bucket; False when the save failed as a whole (the emulator did not answer)."""
        record = self.record.read()
        # Only an emulator that holds the snapshot's objects may overwrite it (a fresh one is empty until
        # restored), and only this run's.
        if not self.emulator_pid or not self._emulator_alive():
            return True
        if not (record.get("restored") and record.get("emulator_pid") == self.emulator_pid):
            return True
        try:
            counts = self.snapshot.save(self._client(), self.bucket)
        except Exception as error:   # the next save tries again; the previous snapshot stays whole
            # Periodic saves log each distinct error once; the last save always says why.
            report = log.debug if quiet and str(error) == self._last_error else log.error
            report("keeper: saving the bucket failed: %s", error)
            self._last_error = str(error)
            return False
        self._last_error = None
        if not quiet or counts["copied"] or counts["dropped"] or counts["failed"]:
            log.info("keeper: kept %d stored object(s) in %s (%d copied, %d dropped%s)", counts["objects"],
                     self.snapshot.folder, counts["copied"], counts["dropped"],
                     f", {counts['failed']} could not be saved (see above)" if counts["failed"] else "")
        if not quiet:
            print(f"kept {counts['objects']} stored object(s) in {self.snapshot.folder}", flush=True)
        return True   # an object that could not be copied is logged and counted; the rest is saved

    def stop_emulator(self) -> None:
        if self.emulator_pid:
            end_process(self.emulator_pid, self.emulator_created)
            if self.record.read().get("emulator_pid") == self.emulator_pid:
                self.record.update(emulator_pid=None, restored=False)

    def _client(self):
        if self._s3 is None:
            self._s3 = local_s3_client(self.emulator_port, self.region)
        return self._s3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--serve-pid", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return Keeper(args.state_dir, serve_pid=args.serve_pid, bucket=args.bucket, every=args.every,
                  region=args.region).run()


if __name__ == "__main__":
    sys.exit(main())
