"""Cold import of each Lambda entry point: a fresh interpreter imports the app and resolves the function.

Run: .venv/bin/python bench/bench_cold_import.py   (prints a table; asserts nothing)

Every function ships the same package, so each one pays for ``import app``; on top of that a
function pays for what its first call imports lazily (the authorizer: PyJWT; a sign-in: argon2;
the processor: Pillow). Neither counts the AWS clients (boto3, pg8000), which every function
builds on its first call. Median of RUNS fresh processes; the interpreter's own start is not counted.
Targets on the reference machine: authorizer <= 60 ms, HTTP routes <= 150 ms, processor <= 250 ms.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7

# Lambda function -> (its handler, as module:attribute; the modules its first call imports).
ENTRY_POINTS = {
    "authorizer (access_token)": ("functions.api.guard:access_token", ["functions.auth.tokens", "jwt"]),
    "HTTP: GET /images (api_handler)": ("app:app", []),
    "HTTP: POST /auth/login (api_handler)": ("app:app", ["functions.auth.tokens", "jwt", "argon2"]),
    "process_image": ("app:process_image", ["functions.imaging.render", "functions.imaging.source"]),
    "import_url": ("app:import_url", ["functions.fetcher.client", "functions.imaging.source"]),
    "run_generation_step": ("app:run_generation_step", ["functions.providers.fusionbrain",
                                                        "functions.providers.openai_images"]),
    "deliver_webhook": ("app:deliver_webhook", ["functions.fetcher.client"]),
    "housekeeping": ("app:housekeeping", []),
}
HEAVY = ("PIL", "argon2", "requests", "urllib3", "ssl", "http.client", "jwt", "cryptography", "boto3", "pg8000")

PROBE = """
import importlib, json, sys, time
started = time.perf_counter()
import app
module, _, attribute = {handler!r}.partition(":")
handler = getattr(importlib.import_module(module), attribute)
after_app = time.perf_counter()
for name in {modules!r}:
    importlib.import_module(name)
done = time.perf_counter()
print(json.dumps({{"app": after_app - started, "total": done - started,
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def probe(handler: str, modules: list[str]) -> dict:
    code = PROBE.format(handler=handler, modules=modules, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(f"cold import per Lambda entry point, median of {RUNS} fresh interpreters (ms)")
    print(f"{'function':40} {'import app':>10} {'+ first call':>12}  heavy modules loaded by then")
    for label, (handler, modules) in ENTRY_POINTS.items():
        runs = [probe(handler, modules) for _ in range(RUNS)]
        app_ms = statistics.median(run["app"] for run in runs) * 1000
        total_ms = statistics.median(run["total"] for run in runs) * 1000
        print(f"{label:40} {app_ms:10.0f} {total_ms:12.0f}  {', '.join(runs[-1]['heavy']) or '-'}", flush=True)
