"""Pipeline latency through the embedded stack: upload complete -> thumbnail / done visible in GET /images/{id}.

Starts its own embedded stack (PostgreSQL + moto server), the app's HTTP server and one
runner worker, uploads photo-like 12 MP JPEGs with the presigned POST as a browser would,
and polls GET /images/{id}. Pipeline overhead = upload-to-done minus the time the same
job takes in-process (render_variants alone), over that processing time.

    .venv/bin/python bench/bench_pipeline.py [--images 8]
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
sys.path.insert(0, str(ROOT / "bench"))

from bench_imaging import photo_like  # noqa: E402  (the same seeded corpus as the imaging bench)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()

    from functions.local.stack import EmbeddedStack, free_port

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-"))
    stack = EmbeddedStack(state_dir=state)
    port = free_port()
    os.environ.update(stack.start({}))
    os.environ.update({"JWT_SECRET": secrets.token_urlsafe(48), "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
                       "PIXELFLOW_PUBLIC_ORIGIN": f"http://127.0.0.1:{port}",
                       "RUNNER_CONCURRENCY": "1"})
    from functions import imaging, wiring
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
        variants = [{"name": "w1024", "width": 1024, "height": 1024, "fit": "inside", "format": "webp"},
                    {"name": "w512", "width": 512, "height": 512, "fit": "inside", "format": "webp"}]
        plan = imaging.variant_plan(imaging.parse_variant_specs(variants))
        to_thumb, to_done, processing = [], [], []
        for index in range(args.images):
            data = photo_like(1000 + index)
            started = time.perf_counter()
            list(imaging.render_variants(data, plan, max_pixels=settings.max_image_pixels))
            processing.append(time.perf_counter() - started)
            ticket = requests.post(f"{base}/uploads", json={"filename": f"bench-{index}.jpg",
                                                             "content_type": "image/jpeg", "size": len(data),
                                                             "variants": variants}, headers=headers, timeout=10).json()
            requests.post(ticket["upload"]["url"], data=ticket["upload"]["fields"],
                          files={"file": ("bench.jpg", data, "image/jpeg")}, timeout=60).raise_for_status()
            uploaded = time.perf_counter()
            thumb_at = None
            while True:
                item = requests.get(f"{base}/images/{ticket['image_id']}", headers=headers, timeout=10).json()
                now = time.perf_counter()
                if thumb_at is None and any(v["name"] == "thumbnail" for v in item["variants"]):
                    thumb_at = now
                if item["status"] in ("done", "failed"):
                    break
                time.sleep(0.02)
            if item["status"] != "done":
                raise SystemExit(f"image failed: {item['error']}")
            to_thumb.append(thumb_at - uploaded)
            to_done.append(now - uploaded)
        overhead = [done - work for done, work in zip(to_done, processing)]
        print(f"pipeline, {args.images} photo-like 12 MP JPEGs, 1 runner worker, variants thumbnail+webp+1024+512")
        print(f"  upload -> thumbnail visible   p50 {percentile(to_thumb, .5):6.3f}s  "
              f"p95 {percentile(to_thumb, .95):6.3f}s")
        print(f"  upload -> done visible        p50 {percentile(to_done, .5):6.3f}s  "
              f"p95 {percentile(to_done, .95):6.3f}s")
        print(f"  same job in-process           p50 {percentile(processing, .5):6.3f}s")
        print(f"  pipeline overhead (S3+SQS+SQL+polling) median {statistics.median(overhead):.3f}s = "
              f"{100 * statistics.median(overhead) / statistics.median(processing):.1f}% of processing "
              f"(includes up to 1 long-poll wait and the 20 ms poll interval)")
    finally:
        if server:
            server.stop()
        if runner:
            runner.stop()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
