"""Cost of request validation with fastjsonschema: loading it, compiling each body schema once, checking a body.

Run: .venv/bin/python bench/bench_validation.py   (prints a table; asserts nothing)
Each figure comes from a fresh interpreter (compiling is a first-request cost), median of 5.
"""

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
CHECKS = 2000

# One fresh process: import fastjsonschema, compile the body schemas the routes use, then validate bodies.
PROBE = f"""
import copy, json, time
from functions.api import schemas
from functions.api.schema import validate, validator
figures = {{}}
started = time.perf_counter()
import fastjsonschema
figures["import fastjsonschema"] = time.perf_counter() - started
for name in ("REGISTRATION", "UPLOAD_REQUEST", "GENERATION_REQUEST", "BATCH_REQUEST"):
    started = time.perf_counter()
    validator(getattr(schemas, name))
    figures["compile " + name] = time.perf_counter() - started
body = {{"filename": "a.jpg", "content_type": "image/jpeg", "size": 10,
        "variants": [{{"name": "card", "width": 600, "height": 400, "fit": "cover"}}]}}
copies = [copy.deepcopy(body) for _ in range({CHECKS})]
started = time.perf_counter()
for one in copies:
    validate(one, schemas.UPLOAD_REQUEST)
figures["validate an upload body"] = (time.perf_counter() - started) / {CHECKS}
print(json.dumps(figures))
"""


def main():
    import json

    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(RUNS)]
    print(f"request validation (fastjsonschema), median of {RUNS} fresh interpreters")
    for name in runs[0]:
        median = statistics.median(run[name] for run in runs)
        unit, scale = ("us", 1e6) if median < 1e-3 else ("ms", 1e3)
        print(f"  {name:<32} {median * scale:8.2f} {unit}")


if __name__ == "__main__":
    main()
