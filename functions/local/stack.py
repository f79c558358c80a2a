"""The embedded default: PostgreSQL from the pgserver wheel and moto in server mode, on loopback.

Used by ``make run`` and by the tests; nothing on AWS imports this module.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Optional

PROJECT = Path(__file__).resolve().parent.parent.parent
STATE_DIR = PROJECT / ".pixelflow"   # git-ignored

# moto accepts any credentials; these only keep boto3 from searching for real ones.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """A real PostgreSQL 16 from the pgserver wheel, data in ``data_dir``, on a Unix socket."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._server = None

    def start(self) -> str:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return self._server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class MotoServer:
    """moto in server mode (S3 + SQS + bucket notifications) in its own process on loopback."""

    def __init__(self, port: Optional[int] = None, log_path: Optional[Path] = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> str:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=log, env={**os.environ, **LOCAL_CREDENTIALS},
            # Its own session: Ctrl-C in a terminal reaches the whole foreground group, and moto must
            # outlive it until `make run` has saved the bucket; stop() ends it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._process.returncode}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return self.url
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.url} within {timeout:.0f}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


class EmbeddedStack:
    """Starts what the environment does not already provide and returns the variables to use."""

    def __init__(self, state_dir: Path = STATE_DIR, moto_port: Optional[int] = None):
        self.state_dir = Path(state_dir)
        self.postgres: Optional[EmbeddedPostgres] = None
        self.moto: Optional[MotoServer] = None
        self._moto_port = moto_port

    def start(self, env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(os.environ if env is None else env)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started: Dict[str, str] = {}
        if not env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.state_dir / "pgdata")
            started["DATABASE_URL"] = self.postgres.start()
        if not env.get("AWS_ENDPOINT_URL"):
            self.moto = MotoServer(self._moto_port, log_path=self.state_dir / "moto.log")
            started["AWS_ENDPOINT_URL"] = self.moto.start()
            for key, value in LOCAL_CREDENTIALS.items():
                if not env.get(key):
                    started[key] = value
        return started

    def stop(self) -> None:
        if self.moto:
            self.moto.stop()
        if self.postgres:
            self.postgres.stop()


class BucketSnapshot:
    """Keeps the embedded bucket's objects across `make run` restarts (moto holds them in memory).

    ``save`` writes every object under ``folder`` with an index of content types; ``restore``
    puts them back. Restored originals raise ObjectCreated events again; processing skips
    them, because their images are already finished.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.index = self.folder / "index.json"

    def save(self, s3, bucket: str) -> int:
        import json
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        types = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                answer = s3.get_object(Bucket=bucket, Key=item["Key"])
                path = self.folder / "objects" / item["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(answer["Body"].read())
                types[item["Key"]] = answer.get("ContentType", "application/octet-stream")
        self.index.write_text(json.dumps(types))
        return len(types)

    def restore(self, s3, bucket: str) -> int:
        import json

        if not self.index.exists():
            return 0
        types = json.loads(self.index.read_text())
        for key, content_type in types.items():
            path = self.folder / "objects" / key
            if path.is_file():
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        return len(types)
