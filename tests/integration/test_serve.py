"""`make run` as a person uses it: start, store something, Ctrl-C, start again, find it still there.

The server runs as `python -m functions.local.serve` in a process group of its own, the way a
terminal runs it, and Ctrl-C is SIGINT to that whole group, the way a terminal sends it.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

from functions.local.stack import LOCAL_CREDENTIALS, free_port
from functions.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def _clean_env():
    # The session's own stack exported its endpoints; `make run` must start its own.
    ours = {setting.env for setting in SETTINGS} | {"PORT"}
    return {key: value for key, value in os.environ.items() if key not in ours}


def _start(state_dir: Path, port: int, log_path: Path):
    log = open(log_path, "ab")
    process = subprocess.Popen([sys.executable, "-m", "functions.local.serve", "--port", str(port),
                                "--state-dir", str(state_dir)], cwd=ROOT, env=_clean_env(),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "Ctrl-C stops everything started here." in text.split("==== start")[-1]:
            return process
        if process.poll() is not None:
            raise AssertionError(f"make run exited with {process.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"make run did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def _ctrl_c(process, log_path: Path) -> str:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return log_path.read_text(errors="replace").split("==== start")[-1]


def test_given_make_run_when_ctrl_c_is_pressed_then_it_stops_cleanly_and_the_next_start_restores_the_bucket(
        private_dir):
    port, log_path = free_port(), private_dir / "run.log"
    log_path.write_text("==== start 1\n")
    first = _start(private_dir / "state", port, log_path)
    try:
        output = log_path.read_text()
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["status"] == "ok"
        assert "schedules  housekeeping" in output
        endpoint = re.search(r"S3 \+ SQS\s+(http://\S+)\s+bucket (\S+)", output)
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint.group(1),
                          aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        s3.put_object(Bucket=endpoint.group(2), Key="variants/someone/kept.txt", Body=b"still here")
    finally:
        stopped = _ctrl_c(first, log_path)
    assert first.returncode == 0, stopped[-3000:]
    assert "kept 1 stored object(s)" in stopped and "Traceback" not in stopped, stopped[-3000:]
    assert not _answers(port), "the HTTP server outlived Ctrl-C"
    assert not _answers(int(endpoint.group(1).rsplit(":", 1)[1])), "moto outlived Ctrl-C"

    keys = {name: (private_dir / "state" / name).read_text() for name in ("jwt-secret", "webhook-signing-key")}
    with open(log_path, "a") as log:
        log.write("==== start 2\n")
    second = _start(private_dir / "state", port, log_path)
    try:
        assert "1 stored object(s) restored" in log_path.read_text().split("==== start")[-1]
    finally:
        _ctrl_c(second, log_path)
    assert second.returncode == 0
    # Kept, not drawn again: sessions and every user's webhook secret survive a restart.
    assert {name: (private_dir / "state" / name).read_text() for name in keys} == keys
    assert all(len(value.strip()) >= 32 for value in keys.values())


def _answers(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
        return True
    except requests.ConnectionError:
        return False
