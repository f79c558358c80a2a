"""Runner throughput: 12 MP photos per second through the local event runner, with 1 and 2 worker processes.

Starts its own embedded stack (PostgreSQL + moto server). Per round: the originals of
``--images`` images are stored while no runner is running (their ObjectCreated events wait
in image-events), then a runner with N warm workers starts (cold starts are not timed) and
the clock runs until every image is ``done`` in the database: receive, claim, read from S3,
decode, encode, write the variants, record. Medians over ``--rounds`` rounds per N. The
workers' CPU time over the round shows how many cores they actually got: on a machine
shared with other work, two workers cannot scale past the cores left to them.

    .venv/bin/python bench/bench_runner.py [--images 8] [--rounds 3]
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_imaging import photo_like  # noqa: E402  (the same seeded corpus as the imaging bench)

VARIANTS = [{"name": "w1024", "width": 1024, "height": 1024, "fit": "inside", "format": "webp"},
            {"name": "w512", "width": 512, "height": 512, "fit": "inside", "format": "webp"}]


def cpu_seconds(pids) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per worker count")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    args = parser.parse_args()
    counts = [int(item) for item in args.workers.split(",")]

    from functions.local.stack import EmbeddedStack

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-"))
    stack = EmbeddedStack(state_dir=state)
    os.environ.update(stack.start({}))
    os.environ.update({"JWT_SECRET": secrets.token_urlsafe(48), "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48),
                       "LOG_LEVEL": "WARNING"})
    from functions import imaging, store, wiring
    from functions.local.runner import EventRunner
    from infra.deploy_local import deploy

    try:
        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        from app import app

        db, storage, sqs = wiring.database(), wiring.storage(), wiring.boto3_client("sqs")
        owner = str(uuid.uuid4())
        db.execute("INSERT INTO users (id, email, email_normalized, password_hash) VALUES (:id, :e, :e, 'x')",
                   id=owner, e=f"bench-{owner}@example.com")
        corpus = [photo_like(2000 + index) for index in range(4)]
        requested = imaging.parse_variant_specs(VARIANTS)
        rates = {count: [] for count in counts}
        used = {count: [] for count in counts}
        in_flight = {count: [] for count in counts}
        for round_number in range(args.rounds):
            for count in counts:
                ids = []
                for index in range(args.images):
                    image_id = str(uuid.uuid4())
                    store.insert_image(db, image_id=image_id, owner=owner, source="upload", name="bench.jpg",
                                       status="awaiting_upload", variants=requested, content_type="image/jpeg")
                    storage.put(store.original_key(owner, image_id), corpus[index % len(corpus)],
                                content_type="image/jpeg")
                    ids.append(image_id)
                runner = EventRunner(app, sqs, region=settings.region, concurrency=count, wait_seconds=1,
                                     timeout_seconds=settings.function_timeout, run_schedules=False)
                runner.start()  # returns once every worker has imported the app
                started, workers = time.perf_counter(), runner.worker_pids
                cpu_before = cpu_seconds(workers)
                while True:
                    row = db.one("SELECT count(*) FILTER (WHERE status IN ('done', 'failed')) AS settled,"
                                 " count(*) FILTER (WHERE status = 'failed') AS failed"
                                 " FROM images WHERE id = ANY(CAST(:ids AS uuid[]))", ids="{" + ",".join(ids) + "}")
                    if row["settled"] == len(ids):
                        break
                    time.sleep(0.02)
                elapsed = time.perf_counter() - started
                overlap = db.one("SELECT EXTRACT(EPOCH FROM sum(processed_at - claimed_at)) AS busy"
                                 " FROM images WHERE id = ANY(CAST(:ids AS uuid[]))",
                                 ids="{" + ",".join(ids) + "}")["busy"]
                cores = (cpu_seconds(workers) - cpu_before) / elapsed
                runner.stop()
                if row["failed"]:
                    raise SystemExit(f"{row['failed']} image(s) failed")
                rates[count].append(len(ids) / elapsed)
                used[count].append(cores)
                in_flight[count].append(float(overlap) / elapsed)
                print(f"  round {round_number + 1}, {count} worker(s): {len(ids)} images in {elapsed:.2f}s = "
                      f"{len(ids) / elapsed:.2f} images/s, workers busy on {cores:.2f} cores on average "
                      f"(load average {os.getloadavg()[0]:.2f}), "
                      f"jobs in flight on average {float(overlap) / elapsed:.2f}", flush=True)
        print(f"runner throughput, {args.images} photo-like 12 MP JPEGs per round, thumbnail + WebP q80 + 1024 + 512 "
              f"WebP, {os.cpu_count()} cores, medians of {args.rounds} rounds")
        medians = {count: statistics.median(values) for count, values in rates.items()}
        for count, median in medians.items():
            print(f"  {count} worker process(es): {median:.2f} images/s ({1 / median:.2f} s each); "
                  f"{statistics.median(in_flight[count]):.2f} jobs in flight, "
                  f"{statistics.median(used[count]):.2f} cores busy on average")
        per_core = {count: statistics.median(rate / cores for rate, cores in zip(rates[count], used[count]))
                    for count in counts}
        if len(counts) >= 2:
            first, last = counts[0], counts[-1]
            print(f"  {last} workers / {first}: {medians[last] / medians[first]:.2f}x; per busy core "
                  f"{per_core[last]:.2f} vs {per_core[first]:.2f} images/s = {per_core[last] / per_core[first]:.2f}x "
                  f"(extrapolated to {last} free cores: about {last * per_core[last] / per_core[first]:.1f}x)")
    finally:
        wiring.configure()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
