"""Import latency through the embedded stack: POST /imports -> original stored -> done visible.

Since the split, an import takes two more queue hops (the fetch order to the function outside
the VPC, and its outcome back); this prints what the whole path costs. Starts its own embedded
stack (PostgreSQL + the emulator PIXELFLOW_EMULATOR names), the app's HTTP server and one runner worker, serves a
640x480 JPEG from a loopback origin on the import allow list, and polls GET /images/{id}.

    .venv/bin/python bench/bench_split.py [--imports 8]
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

from served import served_app, sign_up  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=8)
    args = parser.parse_args()

    from tests.fakes.loopback import LoopbackServer

    origin = LoopbackServer().start()
    try:
        with served_app({"RUNNER_CONCURRENCY": "1", "IMPORT_ALLOWED_HOSTS": origin.host}) as served:
            measure(served.base, sign_up(served.base)["headers"], origin, args.imports)
    finally:
        origin.stop()


def measure(base: str, headers: dict, origin, imports: int) -> None:
    from tests.fakes.loopback import Answer
    from tests.integration.images_corpus import photo

    to_stored, to_done = [], []
    for index in range(imports):
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
    print(f"imports, {imports} x 640x480 JPEG from loopback, 1 runner worker")
    print(f"  POST /imports -> original stored visible  median {statistics.median(to_stored):6.3f}s  "
          f"max {max(to_stored):6.3f}s")
    print(f"  POST /imports -> done visible             median {statistics.median(to_done):6.3f}s  "
          f"max {max(to_done):6.3f}s")


if __name__ == "__main__":
    main()
