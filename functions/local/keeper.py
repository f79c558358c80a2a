"""The keeper: owns `make run`'s emulator and embedded PostgreSQL, and outlives serve to put them away.

``make run`` (functions/local/serve.py) starts it in a session of its own, so neither Ctrl-C
nor a SIGKILL of serve reaches it. While serve lives, it saves the emulator's bucket to the
state folder every ``PIXELFLOW_SNAPSHOT_SECONDS`` (only changed objects). When serve ends,
for whatever reason, or asks it to stop (SIGTERM, after the runner has drained), it saves the
bucket a last time, stops the emulator, and, if serve is gone, stops PostgreSQL too. If the
emulator itself dies, it tells serve to stop (SIGTERM): what it held since the last save is lost.
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
    LOCAL_CREDENTIALS,
    BucketSnapshot,
    StackRecord,
    end_process,
    process_alive,
    stop_postgres,
)

log = logging.getLogger("pixelflow.keeper")


class Keeper:
    def __init__(self, state_dir: Path, *, serve_pid: int, bucket: str, every: float, region: str):
        self.state_dir = Path(state_dir)
        self.record = StackRecord(self.state_dir)
        self.serve_pid = serve_pid
        self.serve_created = self.record.read().get("serve_created")
        self.bucket = bucket
        self.every = every
        self.region = region
        self.snapshot = BucketSnapshot(self.state_dir / "s3")
        self.stopping = threading.Event()
        self._s3 = None
        self._last = 0.0   # when the last periodic save started (monotonic)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is serve's to handle
        emulator_lost = False
        while not self.stopping.wait(min(self.every, 0.5)):
            if not process_alive(self.serve_pid, self.serve_created):
                log.warning("keeper: make run (pid %d) ended without stopping; saving and stopping what it started",
                            self.serve_pid)
                break
            record = self.record.read()
            if record.get("emulator_pid") and not process_alive(record["emulator_pid"], record.get("emulator_created")):
                log.error("keeper: the storage emulator (pid %d) ended; objects stored since the last save "
                          "(at most %g s ago) are lost. Stopping make run; start it again.",
                          record["emulator_pid"], self.every)
                emulator_lost = True
                os.kill(self.serve_pid, signal.SIGTERM)
                break
            if self._due():
                self.save(quiet=True)
        if emulator_lost:
            # Serve stops itself now; if it dies instead (or is already dying), what it started is ours to stop.
            deadline = time.monotonic() + 180
            while (process_alive(self.serve_pid, self.serve_created) and not self.stopping.is_set()
                   and time.monotonic() < deadline):
                time.sleep(0.2)
        else:
            self.save(quiet=False)
        self.stop_emulator()
        if not process_alive(self.serve_pid, self.serve_created):
            stop_postgres(self.state_dir / "pgdata")
            self.record.clear()
        return 0

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False

    def save(self, *, quiet: bool) -> None:
        record = self.record.read()
        # Only an emulator that holds the snapshot's objects may overwrite it (a fresh one is empty until restored).
        if not record.get("restored") or not process_alive(record.get("emulator_pid"), record.get("emulator_created")):
            return
        try:
            counts = self.snapshot.save(self._client(record["emulator_port"]), self.bucket)
        except Exception as error:   # the next save tries again; the previous snapshot stays whole
            log.error("keeper: saving the bucket failed: %s", error)
            return
        if not quiet or counts["copied"] or counts["dropped"]:
            log.info("keeper: kept %d stored object(s) in %s (%d copied, %d dropped)",
                     counts["objects"], self.snapshot.folder, counts["copied"], counts["dropped"])
        if not quiet:
            print(f"kept {counts['objects']} stored object(s) in {self.snapshot.folder}", flush=True)

    def stop_emulator(self) -> None:
        record = self.record.read()
        if record.get("emulator_pid"):
            end_process(record["emulator_pid"], record.get("emulator_created"))
            self.record.update(emulator_pid=None, restored=False)

    def _client(self, port: int):
        if self._s3 is None:
            import boto3
            from botocore.config import Config

            self._s3 = boto3.session.Session().client(
                "s3", region_name=self.region, endpoint_url=f"http://127.0.0.1:{port}",
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
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
