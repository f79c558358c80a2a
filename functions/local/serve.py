"""``make run``: the embedded stack, provisioned, with the app's HTTP routes and event handlers.

Starts what the environment does not provide (PostgreSQL from pgserver, moto server),
applies infra/resources.json and the migrations, then serves HTTP on 127.0.0.1:8000 and
feeds every SQS handler from its queue, until Ctrl-C stops everything it started.
"""

import argparse
import logging
import os
import secrets
import sys
import time
from pathlib import Path

from functions.local.stack import STATE_DIR, BucketSnapshot, EmbeddedStack


def _local_secret(state_dir: Path, name: str) -> str:
    # Kept across restarts: browser sessions and webhook secrets survive `make run` being restarted.
    path = state_dir / name
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR,
                        help="where the embedded PostgreSQL data and the saved bucket live")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its per-command logs drown the useful lines
    started_at = time.monotonic()

    stack = EmbeddedStack(state_dir=args.state_dir)
    os.environ.update(stack.start())
    if os.environ.get("PIXELFLOW_STAGE", "local") == "local":
        for variable, name in (("JWT_SECRET", "jwt-secret"), ("WEBHOOK_SIGNING_KEY", "webhook-signing-key")):
            if not os.environ.get(variable):
                os.environ[variable] = _local_secret(args.state_dir, name)
    os.environ.setdefault("PIXELFLOW_PUBLIC_ORIGIN", f"http://{args.host}:{args.port}")

    from functions import wiring
    from functions.local.http import LocalServer
    from functions.local.runner import start_for, wait_for_stop_signal
    from infra.deploy_local import deploy

    server = runner = None
    try:
        settings = wiring.configure()
        changes = deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        snapshot = BucketSnapshot(args.state_dir / "s3") if stack.moto else None
        restored = snapshot.restore(wiring.boto3_client("s3"), settings.bucket) if snapshot else 0
        from app import app

        runner = start_for(app, settings, wiring.boto3_client("sqs"))
        server = LocalServer(app, args.host, args.port, stage=settings.stage).start()
        print(f"""
pixelflow is running ({time.monotonic() - started_at:.1f}s to start, {len(changes)} provisioning change(s), \
{restored} stored object(s) restored)
  app        {server.url}/   (health: {server.url}/health, docs: {server.url}/docs)
  S3 + SQS   {settings.endpoint_url}   bucket {settings.bucket}
  PostgreSQL {'embedded, data in ' + str(args.state_dir / 'pgdata') if stack.postgres else 'DATABASE_URL'}
  events     {', '.join(source.queue for source in runner.sources())}
  schedules  {', '.join(schedule.name for schedule in runner.schedules()) or 'none'}
Ctrl-C stops everything started here.
""", flush=True)
        wait_for_stop_signal()
        print("stopping ...", flush=True)
        if snapshot:
            # The embedded moto keeps objects in memory; keep them for the next start.
            saved = snapshot.save(wiring.boto3_client("s3"), settings.bucket)
            print(f"kept {saved} stored object(s) in {snapshot.folder}", flush=True)
        return 0
    finally:
        if server:
            server.stop()
        if runner:
            runner.stop(timeout=10)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
