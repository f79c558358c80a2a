"""Pipeline latency through the embedded stack: upload complete -> thumbnail / done visible in GET /images/{id}.

Starts its own embedded stack (PostgreSQL + moto server), the app's HTTP server and one
runner worker, uploads photo-like 12 MP JPEGs with the presigned POST as a browser would,
and polls GET /images/{id}. Pipeline overhead = upload-to-done minus the time the same
job takes in-process (render_variants alone), over that processing time.

    .venv/bin/python bench/bench_pipeline.py [--images 8]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_imaging import photo_like  # noqa: E402  (the same seeded corpus as the imaging bench)
from served import served_app, sign_up  # noqa: E402


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    args = parser.parse_args()

    from functions import imaging

    with served_app({"RUNNER_CONCURRENCY": "1"}) as served:
        base, settings = served.base, served.settings
        headers = sign_up(base)["headers"]
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


if __name__ == "__main__":
    main()
