"""Import latency through the embedded stack: POST /imports -> original stored -> done visible.

Since the split, an import takes two more queue hops (the fetch order to the function outside
the VPC, and its outcome back); this prints what the whole path costs. Starts its own embedded
stack (PostgreSQL + the emulator PIXELFLOW_EMULATOR names), the app's HTTP server and one runner worker, serves a
640x480 JPEG from a loopback origin on the import allow list, and polls GET /images/{id}.

    .venv/bin/python bench/bench_split.py [--imports 8]
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=8)
    args = parser.parse_args()

    from functions.local.stack import EmbeddedStack, free_port
    from tests.fakes.loopback import Answer, LoopbackServer
    from tests.integration.images_corpus import photo

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-"))
    stack = EmbeddedStack(state_dir=state)
    port = free_port()
    os.environ.update(stack.start({}))
    origin = LoopbackServer().start()
    os.environ.update({"JWT_SECRET": secrets.token_urlsafe(48), "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
                       "PIXELFLOW_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}", "RUNNER_CONCURRENCY": "1",
                       "IMPORT_ALLOWED_HOSTS": origin.host})
    from functions import wiring
    from functions.local.http import LocalServer
    from functions.local.runner import EventRunner
    from infra.deploy_local import deploy

    server = runner = None
    try:
        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        from app import app

        runner = EventRunner(app, wiring.boto3_client("sqs"), region=settings.region, concurrency=1,
                             wait_seconds=1, timeout_seconds=settings.function_timeout).start()
        server = LocalServer(app, "127.0.0.1", port).start()
        base = server.url
        email = f"bench-{secrets.token_hex(4)}@example.com"
        requests.post(f"{base}/auth/register", json={"email": email, "password": "benchmark password"}, timeout=10)
        token = requests.post(f"{base}/auth/login", json={"email": email, "password": "benchmark password"},
                              timeout=10).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        to_stored, to_done = [], []
        for index in range(args.imports):
            origin.routes[f"/p{index}.jpg"] = Answer(200, {"Content-Type": "image/jpeg"}, photo(640, 480))
            started = time.perf_counter()
            answer = requests.post(f"{base}/imports", json={"url": origin.url(f"/p{index}.jpg")}, headers=headers,
                                   timeout=10)
            answer.raise_for_status()
            image_id, stored_at = answer.json()["image_id"], None
            while True:
                item = requests.get(f"{base}/images/{image_id}", headers=headers, timeout=10).json()
                now = time.perf_counter()
                if stored_at is None and (item["content_type"] or item["status"] != "queued"):
                    stored_at = now
                if item["status"] in ("done", "failed"):
                    break
                time.sleep(0.02)
            if item["status"] != "done":
                raise SystemExit(f"import failed: {item['error']}")
            to_stored.append(stored_at - started)
            to_done.append(now - started)
        print(f"imports, {args.imports} x 640x480 JPEG from loopback, 1 runner worker")
        print(f"  POST /imports -> original stored visible  median {statistics.median(to_stored):6.3f}s  "
              f"max {max(to_stored):6.3f}s")
        print(f"  POST /imports -> done visible             median {statistics.median(to_done):6.3f}s  "
              f"max {max(to_done):6.3f}s")
    finally:
        if server:
            server.stop()
        if runner:
            runner.stop()
        origin.stop()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
