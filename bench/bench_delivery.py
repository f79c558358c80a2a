"""Benchmark /img delivery: a miss (12 MP JPEG -> w:1280, WebP and AVIF), a hit, and sharp and thumbor on that job.

- miss, render only: ``functions.delivery.render`` (the imaging core: draft decode, reduce + LANCZOS, encode);
- miss and hit through ``functions.delivery.serve`` in-process, against the embedded stack (PostgreSQL from
  pgserver, the moto server for S3): signature check, row lookups, the original's read, the render, the
  rendition's write and row (miss); the row lookup and the stored rendition's read (hit);
- sharp (bench/sharp, installed with npm on first use) and thumbor (PyPI, installed on first use into its own
  virtualenv, bench/thumbor/.venv, never into .venv; timed over HTTP on loopback, result storage off).

Every tool is pinned to one core. Prints p50 milliseconds; nothing is asserted.
"""

import dataclasses
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_imaging import corpus  # noqa: E402  (the same 12 MP photo-like JPEGs bench_imaging uses)

SHARP = HERE / "sharp"
THUMBOR = HERE / "thumbor" / ".venv"
THUMBOR_VERSION = "7.8.0"
ROUNDS = 7
HITS = 200


def main() -> None:
    os.sched_setaffinity(0, {0})
    source = corpus(1, 2026)[0]
    data = source.read_bytes()
    print(f"source: {source.name} ({len(data) / 1e6:.1f} MB), job: w:1280 inside; WebP q80, AVIF q60; "
          f"{ROUNDS} rounds after a warm-up, one core")
    rows = [("pixelflow render only", render_only(data))]
    served, hit = through_serve(data)
    rows.append(("pixelflow miss via serve() (+ S3 read/write, SQL)", served))
    rows.append(sharp_job(source))
    rows.append(thumbor_job(source))
    print(f"\n{'tool':58} {'webp p50 ms':>12} {'avif p50 ms':>12} {'webp KB':>9} {'avif KB':>9}")
    for name, result in rows:
        if isinstance(result, str):
            print(f"{name:58} skipped: {result}")
            continue
        print(f"{name:58} {_p50(result, 'webp'):12.0f} {_p50(result, 'avif'):12.0f} "
              f"{result['bytes'].get('webp', 0) / 1e3:9.0f} {result['bytes'].get('avif', 0) / 1e3:9.0f}")
    print(f"\nhit via serve(), in-process (row lookups + the process's recent renditions): p50 "
          f"{statistics.median(hit):.2f} ms, p90 {statistics.quantiles(hit, n=10)[-1]:.2f} ms over {len(hit)}")
    mine, theirs = rows[0][1], dict(rows).get(_sharp_name)
    if isinstance(theirs, dict):
        for fmt in ("webp", "avif"):
            print(f"render {fmt}: pixelflow / sharp time = {_p50(mine, fmt) / _p50(theirs, fmt):.2f}x")


def _p50(result: dict, fmt: str) -> float:
    return statistics.median(result["ms"][fmt]) if result["ms"].get(fmt) else float("nan")


# --- pixelflow ----------------------------------------------------------------------------------------

def _settings(**overrides):
    from functions.settings import Settings

    return dataclasses.replace(Settings.from_env(env={}), **overrides)


def render_only(data: bytes) -> dict:
    from functions import delivery
    from functions.delivery import options as grammar

    settings = _settings()
    result: dict = {"ms": {}, "bytes": {}}
    for fmt in ("webp", "avif"):
        options = grammar.parse(f"w:1280,f:{fmt}")
        delivery.render(data, options, fmt, settings)
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            out, _, _ = delivery.render(data, options, fmt, settings)
            times.append((time.perf_counter() - started) * 1000)
        result["ms"][fmt], result["bytes"][fmt] = times, len(out)
    return result


def through_serve(data: bytes):
    """Misses and hits through serve() against the embedded stack (moto), in this process."""
    from functions import delivery, wiring
    from functions.delivery import signing
    from functions.local.stack import EmbeddedStack
    from infra.deploy_local import deploy

    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-delivery-"))
    os.environ["PIXELFLOW_EMULATOR"] = "moto"
    stack = EmbeddedStack(state_dir=state)
    try:
        env = stack.start({})
        env.update({"PIXELFLOW_STAGE": "local", "WEBHOOK_SIGNING_KEY": secrets.token_urlsafe(48)})
        os.environ.update(env)
        settings = wiring.configure()
        deploy(settings, wiring.boto3_client("s3"), wiring.boto3_client("sqs"), wiring.database())
        db, storage = wiring.database(), wiring.storage()
        user, image = _seed(db, storage, data)
        key = signing.user_key(db, settings.webhook_signing_key, user)
        result: dict = {"ms": {}, "bytes": {}}

        def call(options):
            return delivery.serve(signing.sign(key, options, image), options, image, accept="image/avif,image/webp",
                                  if_none_match=None, db=db, storage=storage, settings=settings,
                                  server_key=settings.webhook_signing_key)
        for fmt in ("webp", "avif"):
            call(f"w:1280,f:{fmt}")  # warm-up
            times = []
            for round_ in range(ROUNDS):
                options = f"w:1280,f:{fmt},q:{70 + round_}"  # a new rendition each time: always a miss
                started = time.perf_counter()
                answer = call(options)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.rendered
            result["ms"][fmt], result["bytes"][fmt] = times, len(answer.body)
        hits = []
        for _ in range(HITS):
            started = time.perf_counter()
            answer = call("w:1280,f:webp")
            hits.append((time.perf_counter() - started) * 1000)
            assert not answer.rendered
        [row] = db.rows("SELECT storage_key FROM renditions WHERE options = 'w:1280,fit:inside,f:webp,q:80'")
        parts = {"SQL row lookups (2)": lambda: (db.one("SELECT 1 AS one FROM images WHERE id = :id", id=image),
                                                 db.one("SELECT 1 AS one FROM renditions WHERE image_id = :id",
                                                        id=image)),
                 "storage read of the rendition": lambda: storage.get(row["storage_key"])}
        for label, step in parts.items():
            spent = []
            for _ in range(HITS // 2):
                started = time.perf_counter()
                step()
                spent.append((time.perf_counter() - started) * 1000)
            print(f"  of a hit, {label}: p50 {statistics.median(spent):.2f} ms")
        return result, hits
    finally:
        wiring.configure(_settings())
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def _seed(db, storage, data: bytes):
    import uuid

    user, image = str(uuid.uuid4()), str(uuid.uuid4())
    key = f"originals/{user}/{image}"
    storage.put(key, data, content_type="image/jpeg")
    db.execute("INSERT INTO users (id, email, email_normalized, password_hash) VALUES (:id, :e, :e, 'x')",
               id=user, e=f"{user}@example.com")
    db.execute("INSERT INTO images (id, owner_id, original_name, storage_key, status, format, width, height)"
               " VALUES (:id, :owner, 'photo.jpg', :key, 'done', 'jpeg', 4000, 3000)", id=image, owner=user, key=key)
    return user, image


# --- sharp --------------------------------------------------------------------------------------------

_sharp_name = "sharp (libvips), pinned to one core"


def sharp_job(source: Path):
    if shutil.which("node") is None:
        return _sharp_name, "node is not installed"
    if not (SHARP / "node_modules" / "sharp").is_dir():
        if shutil.which("npm") is None:
            return _sharp_name, "sharp is not installed and npm is missing"
        installed = subprocess.run(["npm", "install", "--prefix", str(SHARP)], capture_output=True, text=True)
        if installed.returncode != 0:
            return _sharp_name, "npm install failed: " + installed.stderr.strip()[-200:]
    done = subprocess.run(["taskset", "-c", "0", "node", str(SHARP / "delivery.js"), str(ROUNDS), str(source)],
                          capture_output=True, text=True, env={**os.environ, "UV_THREADPOOL_SIZE": "1",
                                                               "VIPS_CONCURRENCY": "1"})
    if done.returncode != 0:
        return _sharp_name, "sharp failed: " + done.stderr.strip()[-200:]
    result = json.loads(done.stdout)
    print(f"sharp: {result['tool']}")
    return _sharp_name, result


# --- thumbor ------------------------------------------------------------------------------------------

def thumbor_job(source: Path):
    name = "thumbor (Pillow engine, over HTTP on loopback), one core"
    python = THUMBOR / "bin" / "python"
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(THUMBOR)], capture_output=True, text=True)
        if made.returncode != 0:
            return name, "could not make its virtualenv: " + made.stderr.strip()[-200:]
    if subprocess.run([str(python), "-c", "import thumbor"], capture_output=True).returncode != 0:
        print(f"installing thumbor {THUMBOR_VERSION} into {THUMBOR.relative_to(ROOT)} (bench only)", flush=True)
        installed = subprocess.run([str(python), "-m", "pip", "install", "-q", f"thumbor=={THUMBOR_VERSION}"],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            return name, "pip install thumbor failed: " + installed.stderr.strip()[-300:]
    folder = Path(tempfile.mkdtemp(prefix="pixelflow-bench-thumbor-"))
    shutil.copy(source, folder / "photo.jpg")
    (folder / "thumbor.conf").write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(folder)!r}\n"
        "ALLOW_UNSAFE_URL = True\nRESULT_STORAGE = None\nSTORAGE = 'thumbor.storages.no_storage'\n"
        "ENGINE = 'thumbor.engines.pil'\nMAX_AGE = 0\nQUALITY = 80\nAUTO_WEBP = False\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["taskset", "-c", "0", str(THUMBOR / "bin" / "thumbor"), "-p", str(port), "-l", "error",
                               "-c", str(folder / "thumbor.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}/unsafe/1280x0/filters:format({{fmt}}):quality({{q}})/photo.jpg"
        if not _wait_for(f"http://127.0.0.1:{port}/healthcheck", server):
            return name, "thumbor did not start: " + (server.stderr.read() or b"").decode()[-300:]
        result: dict = {"ms": {}, "bytes": {}}
        for fmt, quality in (("webp", 80), ("avif", 60)):
            url = base.format(fmt=fmt, q=quality)
            try:
                body = _get(url)
            except OSError as error:
                print(f"thumbor {fmt}: {error}")
                continue
            times = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                body = _get(url)
                times.append((time.perf_counter() - started) * 1000)
            result["ms"][fmt], result["bytes"][fmt] = times, len(body)
        probe = "import thumbor, PIL; print(thumbor.__version__, PIL.__version__)"
        version = subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.split()
        print(f"thumbor: {version[0]} (Pillow {version[1]})")
        return name, result
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return answer.read()


def _wait_for(url: str, process) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            _get(url)
            return True
        except OSError:
            time.sleep(0.2)
    return False


if __name__ == "__main__":
    main()
