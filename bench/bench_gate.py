"""What the storage gate costs: presigned form uploads (and downloads) through the gate vs straight to the emulator.

Starts its own embedded stack (PIXELFLOW_EMULATOR chooses LocalStack or moto; no app server,
no runner), then posts the same files N times each way, alternating, with fresh keys, and
fetches each back with a presigned GET. Prints medians; nothing is asserted.

    .venv/bin/python bench/bench_gate.py [--uploads 40] [--sizes 100000 5000000]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 5_000_000])
    args = parser.parse_args()

    from functions.adapters.storage import Storage
    from functions.local.stack import EmbeddedStack

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-gate-"))
    stack = EmbeddedStack(state_dir=state)
    try:
        os.environ.update(stack.start({}))
        from functions import wiring
        from infra.deploy_local import deploy

        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        through_gate = wiring.storage()
        direct = Storage(wiring.boto3_client("s3"), settings.bucket)
        print(f"storage gate vs direct, {stack.kind}, {args.uploads} uploads + downloads each way per size, "
              "alternating, one client at a time")
        for size in args.sizes:
            data = os.urandom(size)
            times = {"gate": ([], []), "direct": ([], [])}
            for _ in range(args.uploads):
                for name, storage in (("gate", through_gate), ("direct", direct)):
                    key = f"originals/bench/{uuid.uuid4()}"
                    ticket = storage.presigned_post(key, min_bytes=size, max_bytes=size,
                                                    content_type="application/octet-stream", expires_in=300)
                    started = time.perf_counter()
                    answer = requests.post(ticket["url"], data=ticket["fields"],
                                           files={"file": ("x.bin", data, "application/octet-stream")}, timeout=120)
                    times[name][0].append(time.perf_counter() - started)
                    answer.raise_for_status()
                    started = time.perf_counter()
                    fetched = requests.get(storage.presigned_get(key, expires_in=300), timeout=120)
                    times[name][1].append(time.perf_counter() - started)
                    assert fetched.content == data, (name, fetched.status_code)
            (gate_up, gate_down), (direct_up, direct_down) = times["gate"], times["direct"]
            print(f"  {size / 1e6:.1f} MB: upload median {statistics.median(gate_up) * 1000:.1f} ms through the gate "
                  f"vs {statistics.median(direct_up) * 1000:.1f} ms direct "
                  f"(+{(statistics.median(gate_up) - statistics.median(direct_up)) * 1000:.1f} ms); "
                  f"download median {statistics.median(gate_down) * 1000:.1f} vs "
                  f"{statistics.median(direct_down) * 1000:.1f} ms")
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
