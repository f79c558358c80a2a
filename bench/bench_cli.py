"""The `pixelflow` command end to end: time to upload and process 100 small photos, at concurrency 1 and 8.

Starts its own embedded stack (PostgreSQL + moto server), the app's HTTP server and the runner
(2 workers, as tests run it), then runs the real command as a subprocess, waiting for processing,
once per concurrency with a fresh account each (so nothing is skipped as already uploaded), and
once more with --no-wait (the upload alone; its processing is let finish before the next run).
Prints images per second; nothing is asserted.

    .venv/bin/python bench/bench_cli.py [--images 100] [--concurrency 1 8]
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_imaging import photo_like  # noqa: E402  (the same seeded corpus as the imaging bench)

SMALL = (800, 600)  # "small photos": phone-sized thumbnails of a catalogue, ~100 KB as JPEG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    from functions.local.stack import EmbeddedStack, free_port

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-cli-"))
    stack = EmbeddedStack(state_dir=state / "stack")
    port = free_port()
    os.environ.update(stack.start({}))
    os.environ.update({"JWT_SECRET": secrets.token_urlsafe(48), "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
                       "PIXELFLOW_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}"})
    from functions import wiring
    from functions.local.http import LocalServer
    from functions.local.runner import EventRunner
    from infra.deploy_local import deploy

    server = runner = None
    try:
        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        from app import app

        runner = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=2,
                             wait_seconds=1, timeout_seconds=settings.function_timeout,
                             run_schedules=False).start()
        server = LocalServer(app, "127.0.0.1", port).start()
        folder = state / "photos"
        folder.mkdir()
        total = 0
        for index in range(args.images):
            data = photo_like(5000 + index, size=SMALL)
            (folder / f"photo-{index:03d}.jpg").write_bytes(data)
            total += len(data)
        print(f"pixelflow upload, {args.images} photo-like {SMALL[0]}x{SMALL[1]} JPEGs "
              f"({total / args.images / 1000:.0f} KB each), waiting for processing; runner with 2 workers")
        script = Path(sys.executable).with_name("pixelflow")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "functions.cli"]
        for concurrency in args.concurrency:
            for wait in (True, False):
                home = state / f"home-{concurrency}-{wait}"
                home.mkdir()
                env = {**{k: v for k, v in os.environ.items() if not k.startswith("PIXELFLOW_")},
                       "PIXELFLOW_API": server.url, "XDG_CONFIG_HOME": str(home), "PYTHONPATH": str(ROOT)}
                email = f"bench-{secrets.token_hex(4)}@example.com"
                requests.post(f"{server.url}/auth/register", json={"email": email, "password": "benchmark password"},
                              timeout=10).raise_for_status()
                subprocess.run([*command, "login", "--email", email, "--password-stdin"],
                               input="benchmark password\n", text=True, env=env, check=True, capture_output=True)
                started = time.perf_counter()
                ran = subprocess.run([*command, "upload", str(folder), "--concurrency", str(concurrency),
                                      *([] if wait else ["--no-wait"])], env=env, text=True, capture_output=True)
                elapsed = time.perf_counter() - started
                summary = ran.stdout.splitlines()[0] if ran.stdout else ran.stderr.strip()[-200:]
                what = "upload + processing" if wait else "upload only (--no-wait)"
                print(f"  concurrency {concurrency}, {what:<24} {elapsed:6.2f} s, {args.images / elapsed:5.1f} "
                      f"images/s (exit {ran.returncode}: {summary})", flush=True)
                if not wait:  # let its processing finish so it does not slow the next measurement
                    _settle(command, env)
    finally:
        if server:
            server.stop()
        if runner:
            runner.stop()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def _settle(command, env) -> None:
    while True:
        ran = subprocess.run([*command, "ls", "--limit", "1000", "--json"], env=env, text=True, capture_output=True,
                             check=True)
        if all(image["status"] in ("done", "failed") for image in json.loads(ran.stdout)):
            return
        time.sleep(0.5)


if __name__ == "__main__":
    main()
