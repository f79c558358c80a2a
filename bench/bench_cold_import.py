"""Cold import of each Lambda entry point: a fresh interpreter imports the app and resolves the function.

Run: .venv/bin/python bench/bench_cold_import.py   (prints a table; asserts nothing)

Lambda imports the module named by the function's handler string: ``app`` for the API and the
event handlers, but ``functions.api.guard`` for the authorizer (Chalice names a blueprint's
function by its own module), so the authorizer never imports the app. On top of that a function
pays for what its first call imports lazily (the authorizer: PyJWT; a sign-in: argon2; the
processor: Pillow). Neither counts the AWS clients (boto3, pg8000), which every function
builds on its first call. Median of RUNS fresh processes; the interpreter's own start is not counted.
Packages installed here for development but not shipped (requirements.txt) are hidden from the
probe, as they are absent on Lambda: PyJWT loads ``cryptography`` whenever it can find it.
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
    "authorizer (functions.api.guard)": ("functions.api.guard:access_token", ["functions.auth.tokens", "jwt"]),
    "HTTP: GET /images (api_handler)": ("app:app", []),
    "HTTP: POST /auth/login (api_handler)": ("app:app", ["functions.auth.tokens", "jwt", "argon2"]),
    "process_image": ("app:process_image", ["functions.imaging.render", "functions.imaging.source"]),
    "import_url": ("app:import_url", []),
    "fetch_import (outside the VPC)": ("app:fetch_import", ["functions.fetcher.client"]),
    "run_generation_step": ("app:run_generation_step", []),
    "call_provider (outside the VPC)": ("app:call_provider", ["functions.providers.fusionbrain",
                                                              "functions.providers.openai_images"]),
    "deliver_webhook": ("app:deliver_webhook", []),
    "send_webhook (outside the VPC)": ("app:send_webhook", ["functions.fetcher.client"]),
    "record_outcome": ("app:record_outcome", []),
    "housekeeping": ("app:housekeeping", []),
}
HEAVY = ("PIL", "argon2", "requests", "urllib3", "ssl", "http.client", "jwt", "cryptography", "boto3", "pg8000")

# Installed for development only (requirements-dev.txt), absent from the Lambda package.
NOT_SHIPPED = ("cryptography",)

PROBE = """
import importlib, importlib.abc, json, sys, time

class NotShipped(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {not_shipped!r}:
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NotShipped())
started = time.perf_counter()
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
    code = PROBE.format(not_shipped=NOT_SHIPPED, handler=handler, modules=modules, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(f"cold import per Lambda entry point, median of {RUNS} fresh interpreters (ms)")
    print(f"{'function (handler module)':40} {'import':>8} {'+ first call':>12}  heavy modules loaded by then")
    for label, (handler, modules) in ENTRY_POINTS.items():
        runs = [probe(handler, modules) for _ in range(RUNS)]
        app_ms = statistics.median(run["app"] for run in runs) * 1000
        total_ms = statistics.median(run["total"] for run in runs) * 1000
        print(f"{label:40} {app_ms:8.0f} {total_ms:12.0f}  {', '.join(runs[-1]['heavy']) or '-'}", flush=True)
