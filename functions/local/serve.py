"""``make run``: the embedded stack, provisioned, with the app's HTTP routes and event handlers.

Starts what the environment does not provide (PostgreSQL from pgserver, LocalStack or moto),
applies infra/resources.json and the migrations, puts back the saved bucket, reconciles the
database with storage, then serves HTTP on 127.0.0.1:8000 (``--host``), the WebSocket gateway
on ``--live-port`` / LIVE_PORT (any free port by default; its management API always on
127.0.0.1), and feeds every SQS handler from its queue, until Ctrl-C. A keeper process
(functions/local/keeper.py) owns the emulator and the database: it saves the bucket
periodically and, when this process ends for any reason, saves it once more and stops them.

Stopping: HTTP first, then the runner drains the jobs in flight, then the keeper saves the
bucket and stops the emulator, then PostgreSQL stops.
"""

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from functions.local import keeper as keeper_module
from functions.local.stack import STATE_DIR, BucketSnapshot, EmbeddedStack, StackBusy, process_created

log = logging.getLogger("pixelflow.serve")


def _local_secret(state_dir: Path, name: str) -> str:
    # Kept across restarts: browser sessions and webhook secrets survive `make run` being restarted.
    path = state_dir / name
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_for_stop_signal() -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM."""
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    while not stopping.wait(1):
        pass
    # A second Ctrl-C while stopping must not cut the drain and the save short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_keeper(state_dir: Path, settings) -> subprocess.Popen:
    # Its own session: Ctrl-C reaches the terminal's foreground group, and a SIGKILL of this process
    # must leave it alive to save the bucket and stop what we started.
    return subprocess.Popen(
        [sys.executable, "-m", "functions.local.keeper", "--state-dir", str(state_dir),
         "--serve-pid", str(os.getpid()), "--bucket", settings.bucket,
         "--every", str(settings.snapshot_seconds), "--region", settings.region],
        start_new_session=True, stdin=subprocess.DEVNULL)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--live-port", type=int, default=int(os.environ.get("LIVE_PORT", "0")),
                        help="the WebSocket gateway's port (0: any free one; the banner prints it)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where the embedded PostgreSQL data and the saved bucket live")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its per-command logs drown the useful lines
    started_at = time.monotonic()
    state_dir = args.state_dir.resolve()

    from functions.settings import Settings

    configured = Settings.from_env()
    stack = EmbeddedStack(state_dir=state_dir, emulator=configured.emulator, keep_state=True,
                          bucket=configured.bucket, region=configured.region)
    try:
        os.environ.update(stack.start())
    except StackBusy as busy:
        print(f"pixelflow: {busy}", file=sys.stderr)
        return 1
    keeper = None
    if stack.emulator or stack.postgres:
        stack.record.update(serve_pid=os.getpid(), serve_created=process_created(os.getpid()))
    if os.environ.get("PIXELFLOW_STAGE", "local") == "local":
        for variable, name in (("JWT_SECRET", "jwt-secret"), ("WEBHOOK_SIGNING_KEY", "webhook-signing-key")):
            if not os.environ.get(variable):
                os.environ[variable] = _local_secret(state_dir, name)
    from functions.local.live import url_host

    os.environ.setdefault("PIXELFLOW_PUBLIC_ORIGIN", f"http://{url_host(args.host)}:{args.port}")

    from functions import wiring
    from functions.local.http import LocalServer
    from functions.local.runner import start_for
    from functions.reconcile import reconcile
    from infra.deploy_local import deploy

    server = runner = settings = gateway = None
    try:
        from app import app
        from functions.local.live import LocalWebsocketGateway

        # Started first: the app's settings (and the workers' environment) name its two URLs. Browsers get
        # LIVE_SOCKET_URL when it is set (docker compose: the published port on the host), else the gateway's.
        gateway = LocalWebsocketGateway(app, args.host, args.live_port).start()
        os.environ.update(LIVE_SOCKET_URL=os.environ.get("LIVE_SOCKET_URL") or gateway.url,
                          LIVE_ENDPOINT_URL=gateway.management_url)
        settings = wiring.configure()
        if stack.emulator or stack.postgres:
            keeper = _start_keeper(state_dir, settings)
            stack.record.update(keeper_pid=keeper.pid, keeper_created=process_created(keeper.pid))
        changes = deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        restored = 0
        if stack.emulator:
            if not (stack.reused and stack.record.read().get("restored")):
                restored = BucketSnapshot(state_dir / "s3").restore(wiring.boto3_client("s3"), settings.bucket)
            # From now on the emulator holds the snapshot's objects: the keeper may save over it.
            stack.record.update(restored=True)
        from functions import pipeline

        found = reconcile(wiring.database(), wiring.storage(), wiring.queues(), settings,
                          messages_lost=bool(stack.emulator) and not stack.reused,
                          previous_run_ended=bool(stack.postgres),
                          announce=lambda image_id: pipeline.announce(image_id=image_id))
        runner = start_for(app, settings, wiring.boto3_client("sqs"))
        server = LocalServer(app, args.host, args.port, stage=settings.stage).start()
        emulator = (f"{stack.emulator.kind}{' (reused, still running)' if stack.reused else ''}, "
                    f"saved to {state_dir / 's3'} every {settings.snapshot_seconds}s" if stack.emulator
                    else "AWS_ENDPOINT_URL")
        served_at = "" if settings.live_socket_url == gateway.url else f", served at {gateway.url}"
        print(f"""
pixelflow is running ({time.monotonic() - started_at:.1f}s to start, {len(changes)} provisioning change(s), \
{restored} stored object(s) restored)
  app        {server.url}/   (health: {server.url}/health, docs: {server.url}/docs)
  live       {settings.live_socket_url}/   (WebSocket{served_at}; management API {gateway.management_url})
  S3 + SQS   {settings.endpoint_url}   bucket {settings.bucket}   {emulator}
  browsers   {settings.storage_public_url or settings.endpoint_url}{'   (storage gate)' if stack.gate else ''}
  PostgreSQL {'embedded, data in ' + str(state_dir / 'pgdata') if stack.postgres else 'DATABASE_URL'}
  events     {', '.join(str(source.queue) for source in runner.sources())}
  schedules  {', '.join(schedule.name for schedule in runner.schedules()) or 'none'}
  reconciled {found.summary()}
Ctrl-C stops everything started here.
""", flush=True)
        _wait_for_stop_signal()
        print("stopping ...", flush=True)
        return 0
    finally:
        # Order matters: no new work, then the jobs in flight finish and store their variants,
        # then the keeper saves the bucket and stops the emulator, then the database goes.
        if server:
            server.stop()
        if gateway:
            gateway.stop()
        if stack.gate:
            stack.gate.stop()
        if runner:
            runner.stop(timeout=max(10, settings.function_timeout if settings else 10))
        emulator_left = False
        if keeper:
            keeper.terminate()
            try:
                # The keeper's last save failed: it left the emulator running and recorded for the next start.
                emulator_left = keeper.wait(120) == keeper_module.SAVE_FAILED
            except subprocess.TimeoutExpired:
                # Its save is cut short, not the emulator: the next start reuses it with what it holds.
                log.error("the keeper did not finish saving within 120 s; the storage emulator is left running "
                          "and the next start reuses it")
                keeper.kill()
                emulator_left = True
            if stack.emulator and not emulator_left:
                stack.emulator.stop()   # already stopped by the keeper: this only reaps our child
        else:
            stack.stop()
        if stack.postgres:
            stack.postgres.stop()
        if emulator_left:
            stack.record.update(serve_pid=None, keeper_pid=None)
        elif stack.emulator or stack.postgres:
            stack.record.clear()


if __name__ == "__main__":
    sys.exit(main())
