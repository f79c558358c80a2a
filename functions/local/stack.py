"""The embedded default: PostgreSQL from the pgserver wheel and an S3 + SQS emulator, on loopback.

The emulator is LocalStack community in host mode (from its own virtualenv, ``.venv-localstack``,
made by ``make install``) or moto in server mode; ``PIXELFLOW_EMULATOR`` chooses. Both keep
objects in memory, so ``BucketSnapshot`` copies the bucket to the state folder and back.

Used by ``make run`` (with the keeper, functions/local/keeper.py) and by the tests; nothing on
AWS imports this module.
"""

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent.parent
STATE_DIR = PROJECT / ".pixelflow"   # git-ignored
LOCALSTACK_VENV = PROJECT / ".venv-localstack"   # git-ignored, made by `make install`
EMULATORS = ("localstack", "moto")

log = logging.getLogger("pixelflow.stack")

# The emulators accept any credentials; these only keep boto3 from searching for real ones.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# How long a previous run's emulator may take to answer before it is counted as not answering.
READY_RETRY_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """``preexec_fn``: the kernel sends SIGTERM to this child when the process that started it dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # 1 = PR_SET_PDEATHSIG


def process_alive(pid: int | None, created: float | None = None) -> bool:
    """Whether ``pid`` runs and is the same process that was recorded (its start time guards pid reuse)."""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(process.create_time() - created) < 0.5
    except psutil.Error:
        return False


def process_created(pid: int) -> float:
    import psutil

    return psutil.Process(pid).create_time()


def end_process(pid: int, created: float | None, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``, the recorded process (not a later one with its pid)."""
    import psutil

    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not process_alive(pid, created):
            return
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(sig)
        # Polled, not waited: it may be another process's child, a zombie until that one reaps it.
        deadline = time.monotonic() + wait
        while process_alive(pid, created) and time.monotonic() < deadline:
            time.sleep(0.05)


def wait_until(condition, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def local_s3_client(port: int, region: str = "us-east-1", timeout: float = 60):
    """An S3 client for the emulator on ``port`` (path-style, the emulator's credentials)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", region_name=region, endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                      connect_timeout=min(timeout, 10), read_timeout=timeout))


class EmbeddedPostgres:
    """A real PostgreSQL 16 from the pgserver wheel, data in ``data_dir``, on a Unix socket.

    pg_ctl daemonises the server, so a killed ``make run`` leaves it running: the next start
    reuses it (pgserver finds its postmaster.pid), and the keeper stops it when serve dies.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self._server: Any = None  # a pgserver.PostgresServer once started

    def start(self) -> str:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_handles(self.data_dir)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return self._server.get_uri()

    def pid(self) -> int | None:
        """The postmaster's process id while it runs (tests kill it to play a paused or crashed database)."""
        return postmaster_pid(self.data_dir)

    def resume(self) -> None:
        """Start PostgreSQL again on the same data folder and socket after it stopped or was killed."""
        import pgserver

        if self._server is None:
            raise RuntimeError("the embedded PostgreSQL was never started")
        with pgserver.PostgresServer._lock:
            self._server.ensure_postgres_running()

    def stop(self) -> None:
        if self._server is not None:
            forget_dead_handles(self.data_dir)
            self._server.cleanup()
            self._server = None


def forget_dead_handles(data_dir: Path) -> None:
    """Drop processes that died without closing their pgserver handle, so the last live one stops the server.

    pgserver stops PostgreSQL when the last process in ``.handle_pids.json`` lets go, and never
    forgets a killed one: without this, the server of a killed run would never be stopped.
    """
    import psutil

    path = Path(data_dir) / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = json.loads(path.read_text())
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            path.write_text(json.dumps(alive))


def postmaster_pid(data_dir: Path) -> int | None:
    """The live postmaster of ``data_dir`` (its postmaster.pid names a live process), or None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((Path(data_dir) / "postmaster.pid").read_text().splitlines()[0])
        return pid if process_alive(pid) else None
    return None


def postgres_running(data_dir: Path) -> bool:
    """Whether the PostgreSQL of ``data_dir`` is up (its postmaster.pid names a live process)."""
    return postmaster_pid(data_dir) is not None


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` when no live process holds a handle on it."""
    import pgserver

    if not postgres_running(data_dir):
        return
    forget_dead_handles(data_dir)
    pgserver.get_server(Path(data_dir), cleanup_mode="stop").cleanup()


class Emulator:
    """An S3 + SQS emulator process on a loopback port (base of LocalStackServer and MotoServer)."""

    kind = ""

    def __init__(self, port: int | None = None, log_path: Path | None = None,
                 state_dir: Path | None = None, own_session: bool = False):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log_path = log_path
        self._state_dir = Path(state_dir) if state_dir else None
        # make run: its own session, so Ctrl-C and a killed serve leave it to the keeper, which saves
        # the bucket first. Tests: it dies with the process that started it.
        self._own_session = own_session
        self._process: subprocess.Popen | None = None
        self.pid: int | None = None
        self.created: float | None = None

    def command(self):
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {**os.environ, **LOCAL_CREDENTIALS}

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> str:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.environment(),
            start_new_session=self._own_session, preexec_fn=None if self._own_session else die_with_parent)
        self.pid = self._process.pid
        self.created = process_created(self.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self._process.returncode} (log: {self._log_path})")
            if self.ready():
                return self.url
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer on {self.url} within {timeout:.0f}s (log: {self._log_path})")

    def adopt(self, pid: int, created: float) -> str:
        """Use an emulator that is already running (a previous run's, found in the state folder)."""
        self.pid, self.created = pid, created
        return self.url

    def alive(self) -> bool:
        return process_alive(self.pid, self.created)

    def stop(self) -> None:
        if self.pid:
            end_process(self.pid, self.created)
        if self._process is not None:
            with contextlib.suppress(Exception):
                self._process.wait(1)
        self._process = None
        self.pid = self.created = None

    def _get(self, path: str) -> bytes | None:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(self.url + path, timeout=1) as answer:
                return answer.read()
        return None


class MotoServer(Emulator):
    """moto in server mode (S3 + SQS + bucket notifications). It checks no POST policy: the storage gate does."""

    kind = "moto"

    def command(self):
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def ready(self) -> bool:
        return self._get("/moto-api/") is not None


class LocalStackServer(Emulator):
    """LocalStack community 3.8 in host mode (no Docker), S3 + SQS only, from ``.venv-localstack``.

    It checks a presigned POST policy's conditions but not its signature (the storage gate checks both). Its own
    persistence is a paid feature, so state is in memory, as with moto.
    """

    kind = "localstack"

    def __init__(self, *args, venv: Path = LOCALSTACK_VENV, **kwargs):
        super().__init__(*args, **kwargs)
        self.python = Path(venv) / "bin" / "python"

    def command(self):
        if not self.python.exists():
            raise RuntimeError(f"LocalStack is not installed in {self.python.parent.parent}: run `make install` "
                               "(or set PIXELFLOW_EMULATOR=moto)")
        return [str(self.python), "-m", "localstack.runtime.main"]

    def environment(self) -> dict[str, str]:
        root = (self._state_dir / "localstack") if self._state_dir else Path(tempfile.mkdtemp(prefix="localstack-"))
        address = f"127.0.0.1:{self.port}"
        return {
            **{key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PIXELFLOW_"))},
            **LOCAL_CREDENTIALS,
            "OVERRIDE_IN_DOCKER": "0",        # the machine may have /.dockerenv; this is host mode
            "FILESYSTEM_ROOT": str(root),
            "GATEWAY_LISTEN": address,
            "LOCALSTACK_HOST": address,
            "SERVICES": "s3,sqs",
            "PERSISTENCE": "0",               # a paid feature; BucketSnapshot keeps the objects instead
            "EAGER_SERVICE_LOADING": "1",     # ready means S3 and SQS answer
            "DNS_ADDRESS": "0",               # its DNS server is not needed (and crashes with current psutil)
            "DISABLE_EVENTS": "1",            # no analytics
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "SQS_ENDPOINT_STRATEGY": "path",  # queue URLs on this address, not on a DNS name
        }

    def ready(self) -> bool:
        body = self._get("/_localstack/health")
        if body is None:
            return False
        with contextlib.suppress(ValueError):
            services = json.loads(body).get("services", {})
            return all(services.get(name) in ("running", "available") for name in ("s3", "sqs"))
        return False


def emulator_class(kind: str):
    if kind not in EMULATORS:
        raise ValueError(f"PIXELFLOW_EMULATOR must be one of {', '.join(EMULATORS)}, not {kind!r}")
    return LocalStackServer if kind == "localstack" else MotoServer


class StackRecord:
    """``stack.json`` in the state folder: which emulator, serve and keeper processes belong to it.

    A restart reads it to find an emulator that is still running (and reuse it), a keeper still
    saving (and wait for it), or another ``make run`` on the same folder (and refuse to start).
    """

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "stack.json"

    def read(self) -> dict:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.path.read_text())
        return {}

    def update(self, **fields) -> dict:
        record = {**self.read(), **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.path)
        return record

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


class StackBusy(RuntimeError):
    """Another `make run` is using the state folder."""


class EmbeddedStack:
    """Starts what the environment does not already provide and returns the variables to use.

    With ``keep_state`` (make run) the emulator runs in its own session and is recorded in the
    state folder, so a restart reuses one that is still running; otherwise (tests) it dies with us.
    """

    def __init__(self, state_dir: Path = STATE_DIR, moto_port: int | None = None,
                 emulator: str | None = None, keep_state: bool = False, bucket: str | None = None,
                 region: str = "us-east-1"):
        self.state_dir = Path(state_dir)
        self.kind = emulator or os.environ.get("PIXELFLOW_EMULATOR") or "localstack"
        emulator_class(self.kind)   # fail early on a bad name
        self.postgres: EmbeddedPostgres | None = None
        self.emulator: Emulator | None = None
        self.gate: Any = None     # functions/local/gate.py StorageGate: what browsers reach instead of the emulator
        self.reused = False       # the emulator was a previous run's, still holding its objects
        self.record = StackRecord(self.state_dir)
        self._port = moto_port
        self._keep_state = keep_state
        self._bucket, self._region = bucket, region   # to save a previous emulator before ending it

    @property
    def moto(self) -> Emulator | None:
        """The emulator (name kept from when it could only be moto)."""
        return self.emulator

    def start(self, env: dict[str, str] | None = None, wait_for_keeper: float = 120.0) -> dict[str, str]:
        env = dict(os.environ if env is None else env)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started: dict[str, str] = {}
        if self._keep_state:
            self._settle_previous_run(wait_for_keeper)
        if not env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.state_dir / "pgdata")
            started["DATABASE_URL"] = self.postgres.start()
        if not env.get("AWS_ENDPOINT_URL"):
            started["AWS_ENDPOINT_URL"] = self._start_emulator()
            for key, value in LOCAL_CREDENTIALS.items():
                if not env.get(key):
                    started[key] = value
            started.update(self._start_gate(started["AWS_ENDPOINT_URL"], env))
        return started

    def _start_gate(self, upstream: str, env: dict[str, str]) -> dict[str, str]:
        # Presigned links name the gate and are signed with a secret of this run: the emulator
        # checks no signature, and its own credentials are well known.
        import secrets

        from functions.local.gate import StorageGate
        from functions.settings import Settings

        secret = secrets.token_urlsafe(32)
        limit = Settings.from_env({key: env[key] for key in ("MAX_UPLOAD_BYTES",) if env.get(key)}).max_upload_bytes
        self.gate = StorageGate(upstream, secret, limit).start()
        return {"STORAGE_PUBLIC_ENDPOINT_URL": self.gate.url, "STORAGE_SIGNING_SECRET": secret}

    def _settle_previous_run(self, wait_for_keeper: float) -> None:
        record = self.record.read()
        serve_pid = record.get("serve_pid")
        if process_alive(serve_pid, record.get("serve_created")) and serve_pid != os.getpid():
            raise StackBusy(f"another `make run` (pid {record['serve_pid']}) is using {self.state_dir}; "
                            "stop it first, or pass another --state-dir")
        # A keeper whose serve died is saving the bucket and stopping the emulator: let it finish.
        deadline = time.monotonic() + wait_for_keeper
        while process_alive(record.get("keeper_pid"), record.get("keeper_created")) and time.monotonic() < deadline:
            time.sleep(0.2)
        if process_alive(record.get("keeper_pid"), record.get("keeper_created")):
            raise StackBusy(f"the previous `make run`'s keeper (pid {record['keeper_pid']}) is still saving the "
                            f"bucket to {self.state_dir / 's3'} after {wait_for_keeper:.0f}s; start again once it "
                            "has ended")

    def _start_emulator(self) -> str:
        cls = emulator_class(self.kind)
        record = self.record.read() if self._keep_state else {}
        alive = process_alive(record.get("emulator_pid"), record.get("emulator_created"))
        if alive and record.get("emulator") == self.kind:
            candidate = cls(record["emulator_port"], log_path=self.state_dir / f"{self.kind}.log",
                            state_dir=self.state_dir, own_session=True)
            # A busy machine may keep it from answering at once.
            if wait_until(candidate.ready, READY_RETRY_SECONDS):
                self.emulator, self.reused = candidate, True
                return candidate.adopt(record["emulator_pid"], record["emulator_created"])
        if alive:
            # Another kind, or not answering: keep what it holds before ending it.
            self._save_previous(record)
            end_process(record["emulator_pid"], record.get("emulator_created"))
        self.emulator = cls(self._port, log_path=self.state_dir / f"{self.kind}.log", state_dir=self.state_dir,
                            own_session=self._keep_state)
        url = self.emulator.start()
        if self._keep_state:
            self.record.update(emulator=self.kind, emulator_pid=self.emulator.pid,
                               emulator_created=self.emulator.created, emulator_port=self.emulator.port,
                               restored=False)
        return url

    def _save_previous(self, record: dict) -> None:
        """Save the bucket of the previous run's emulator (it holds the snapshot's objects once restored)."""
        if not (record.get("restored") and record.get("emulator_port") and self._bucket):
            return
        try:
            counts = BucketSnapshot(self.state_dir / "s3").save(
                local_s3_client(record["emulator_port"], self._region, timeout=10), self._bucket)
            log.info("kept %d stored object(s) of the previous %s before ending it", counts["objects"],
                     record.get("emulator"))
        except Exception as error:
            log.error("the previous %s (pid %s) could not be saved before ending it: %s; objects stored "
                      "since its last save are lost", record.get("emulator"), record.get("emulator_pid"), error)

    def stop(self) -> None:
        if self.gate:
            self.gate.stop()
            self.gate = None
        if self.emulator:
            self.emulator.stop()
        if self.postgres:
            self.postgres.stop()


class BucketSnapshot:
    """Keeps the embedded bucket's objects across restarts and crashes (the emulators hold them in memory).

    Only keys under ``originals/`` and ``variants/`` (what pixelflow writes) are kept. Each object
    is stored as ``objects/<sha256 of its key>``: a key never becomes a path, so no key (``..``,
    one ending in ``/``, both ``K`` and ``K/z``) can reach outside the folder or collide with
    another. ``index.json`` maps each key to its ETag and content type.

    ``save`` copies only the objects whose ETag changed since the last save, one at a time (an
    object that cannot be copied is logged, counted and skipped, its previous copy kept), drops
    the files of deleted ones, then replaces ``index.json`` in one rename, so a crash mid-save
    leaves the previous snapshot usable. ``restore`` puts every object back; restored originals
    raise ObjectCreated events again, and processing skips them because their images are
    already finished.
    """

    PREFIXES = ("originals/", "variants/")

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.index = self.folder / "index.json"
        self.objects = self.folder / "objects"

    @classmethod
    def keeps(cls, key: str) -> bool:
        return key.startswith(cls.PREFIXES)

    def entries(self) -> dict[str, dict[str, str]]:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            raw = json.loads(self.index.read_text())
            # The first format mapped key -> content type, without ETags.
            return {key: value if isinstance(value, dict) else {"etag": "", "content_type": value}
                    for key, value in raw.items() if self.keeps(key)}
        return {}

    def save(self, s3, bucket: str) -> dict[str, int]:
        """Bring the snapshot up to date; return how many objects it holds, were copied, dropped, or failed.

        Raises when the bucket cannot be listed or the emulator stops answering: an unreachable
        emulator never empties the snapshot. ``failed`` counts objects that could not be copied.
        """
        from botocore.exceptions import BotoCoreError

        before = self.entries()
        listed: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                if self.keeps(item["Key"]):
                    listed[item["Key"]] = item.get("ETag", "")
        after: dict[str, dict[str, str]] = {}
        copied = failed = 0
        for key, etag in listed.items():
            known = before.get(key)
            if known and known.get("etag") == etag and etag and self._path(key).is_file():
                after[key] = known
                continue
            try:
                answer = s3.get_object(Bucket=bucket, Key=key)
                self._write(key, answer["Body"].read())
            except s3.exceptions.NoSuchKey:
                continue   # deleted since the listing
            except BotoCoreError:
                raise      # the emulator stopped answering: the previous index stays as it was
            except Exception as error:   # this object only; the others are still saved
                log.error("snapshot: could not save %r: %s", key, error)
                failed += 1
                if known and self._path(key).is_file():
                    after[key] = known   # its previous copy is kept
                continue
            after[key] = {"etag": answer.get("ETag", etag),
                          "content_type": answer.get("ContentType", "application/octet-stream")}
            copied += 1
        dropped = [key for key in before if key not in after]
        self._write_index(after)
        for key in dropped:
            with contextlib.suppress(OSError):
                self._path(key).unlink()
        if not failed:
            self._forget_old_layout()
        return {"objects": len(after), "copied": copied, "dropped": len(dropped), "failed": failed}

    def restore(self, s3, bucket: str) -> int:
        restored = 0
        for key, entry in self.entries().items():
            path: Path | None = self._path(key)
            if path is not None and not path.is_file():
                path = self._old_path(key)
            if path is not None and path.is_file():
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=entry["content_type"])
                restored += 1
        return restored

    def _path(self, key: str) -> Path:
        return self.objects / hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def _old_path(self, key: str) -> Path | None:
        """Where the previous version kept ``key`` (objects/<key>), only if that stays inside objects/<prefix>."""
        parts = key.split("/")
        if not self.keeps(key) or any(part in ("", ".", "..") for part in parts) or "\\" in key or "\0" in key:
            return None
        path = self.objects.joinpath(*parts)
        with contextlib.suppress(OSError, ValueError):
            root = self.objects.resolve()
            if path.resolve().is_relative_to(root / parts[0]) and not path.is_symlink():
                return path
        return None

    def _forget_old_layout(self) -> None:
        # The previous version's files: the index now names every object by its new file.
        for prefix in self.PREFIXES:
            old = self.objects / prefix.rstrip("/")
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".saving")
        temporary.write_bytes(data)
        os.replace(temporary, path)

    def _write_index(self, entries: dict[str, dict[str, str]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.index.with_suffix(".saving")
        temporary.write_text(json.dumps(entries))
        os.replace(temporary, self.index)
