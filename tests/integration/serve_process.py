"""`make run` as a real process: `python -m functions.local.serve` in a session of its own.

Ctrl-C is SIGINT to its whole process group, the way a terminal sends it; a crash is SIGKILL.
The emulator is the one the test session uses (PIXELFLOW_EMULATOR), so both are exercised.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

from functions.local.stack import LOCAL_CREDENTIALS, postgres_running, process_alive
from functions.settings import SETTINGS
from tests.integration.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops everything started here."


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The session's own stack exported its endpoints; `make run` must start its own.
    ours = {setting.env for setting in SETTINGS} | {"PORT"}
    env = {key: value for key, value in os.environ.items() if key not in ours}
    if os.environ.get("PIXELFLOW_EMULATOR"):
        env["PIXELFLOW_EMULATOR"] = os.environ["PIXELFLOW_EMULATOR"]
    return {**env, **(extra or {})}


class ServeProcess:
    """One state folder and port; ``start`` runs serve there (again), each start's output kept apart."""

    def __init__(self, state_dir: Path, port: int, log_path: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()):
        self.state_dir, self.port, self.log_path = Path(state_dir), port, Path(log_path)
        self.env = clean_env(env)
        self.args = args  # more command-line arguments (``--host``, ``--live-port``)
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 120) -> str:
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"==== start {self.starts}\n")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "functions.local.serve", "--port", str(self.port),
             "--state-dir", str(self.state_dir), *self.args], cwd=ROOT, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if BANNER_END in self.output():
                return self.output()
            if self.process.poll() is not None:
                raise AssertionError(f"make run exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        self.process.kill()
        raise AssertionError(f"make run did not start:\n{self.output()[-3000:]}")

    def output(self) -> str:
        """What the latest start printed (serve and its keeper share the log)."""
        return self.log_path.read_text(errors="replace").split("==== start")[-1]

    def ctrl_c(self, timeout: float = 120) -> str:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        return self.output()

    def kill(self) -> None:
        """A crash: SIGKILL to serve alone (its keeper, in a session of its own, is not told)."""
        self.process.kill()
        self.process.wait(10)

    def record(self) -> dict:
        try:
            return json.loads((self.state_dir / "stack.json").read_text())
        except (OSError, ValueError):
            return {}

    def endpoint(self):
        found = re.search(r"S3 \+ SQS\s+(http://\S+)\s+bucket (\S+)", self.output())
        return found.group(1), found.group(2)

    def s3(self):
        endpoint, _ = self.endpoint()
        return boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint,
                            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def database(self):
        from functions.adapters.database import Database

        return Database(f"postgresql://postgres:@/postgres?host={self.state_dir / 'pgdata'}")

    def everything_stopped(self, timeout: float = 90) -> bool:
        """Whether the emulator, the keeper and PostgreSQL of this folder all end within ``timeout``."""
        record = self.record()

        def stopped():
            return (not process_alive(record.get("emulator_pid"), record.get("emulator_created"))
                    and not process_alive(record.get("keeper_pid"), record.get("keeper_created"))
                    and not postgres_running(self.state_dir / "pgdata"))
        return bool(wait_for(stopped, timeout=timeout, interval=0.2))


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.ConnectionError:
        return False
