"""Benchmark the imaging core against sharp (Node) on photo-like 12 MP JPEGs, both pinned to one core.

    .venv/bin/python bench/bench_imaging.py [--images N] [--seed S] [--all-cores]

The job per image is pixelflow's standard set plus two requested sizes: thumbnail (128x128 cover),
full-size, 1024 and 512 (inside); all WebP quality 80 at libwebp effort 4 (Pillow's method=4, sharp's
default effort=4). Each tool runs in its own child process so peak RSS is its own; the first image is a
warm-up run again untimed. The tools take turns for --rounds rounds, so a noisy neighbour on the core
hurts both alike; per image, the best round is the figure (the median round is printed too). Numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"  # git-ignored
SHARP = HERE / "sharp"
SIZE = (4000, 3000)
NAMES = ("thumbnail", "webp", "w1024", "w512")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6, help="photos in the corpus (default 6)")
    parser.add_argument("--seed", type=int, default=2026, help="corpus seed (default 2026)")
    parser.add_argument("--rounds", type=int, default=3, help="turns each tool takes over the corpus (default 3)")
    parser.add_argument("--all-cores", action="store_true", help="also time pixelflow unpinned, on every core")
    parser.add_argument("--worker", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="0", help=argparse.SUPPRESS)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker, args.cpus, args.breakdown)

    files = corpus(args.images, args.seed)
    print(f"corpus: {len(files)} photo-like {SIZE[0]}x{SIZE[1]} JPEGs (q90, seed {args.seed}) in {OUT.relative_to(ROOT)}/")
    ours_rounds, sharp_rounds, skipped = [], [], None
    for turn in range(args.rounds):
        extra = ["--breakdown"] if turn == 0 else []
        ours_rounds.append(_run([sys.executable, __file__, *extra, "--worker", *map(str, files)]))
        if skipped is None:
            theirs, skipped = _run_sharp(files)
            if theirs:
                sharp_rounds.append(theirs)
    _report(_combine(ours_rounds), _combine(sharp_rounds) if sharp_rounds else None, skipped, args.rounds)
    if args.all_cores:
        cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        wide = _combine([_run([sys.executable, __file__, "--cpus", cpus, "--worker", *map(str, files)])
                         for _ in range(args.rounds)])
        print(f"\npixelflow on cores {cpus} (encode thread pool active): "
              f"{_per_second(wide):.3f} images/s, thumbnail after {_median(wide, 'thumbnail_ms'):.0f} ms")


# --- the corpus ---------------------------------------------------------------------------------


def corpus(count: int, seed: int) -> list[Path]:
    """Photo-like JPEGs made from a fixed seed; made once, then reused from bench/out/."""
    folder = OUT / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = folder / f"photo-{SIZE[0]}x{SIZE[1]}-seed{seed}-{index:03d}.jpg"
        if not path.exists():
            print(f"making {path.name} ...", flush=True)
            path.write_bytes(photo_like(seed * 1000 + index))
        files.append(path)
    return files


def photo_like(seed: int, size=SIZE) -> bytes:
    """Smooth colour fields, mid-scale blotches, fine texture, soft translucent shapes and sensor grain."""
    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    width, height = size

    def noise(mode: str, small: tuple[int, int]) -> Image.Image:
        raw = rnd.randbytes(small[0] * small[1] * len(mode))
        return Image.frombytes(mode, small, raw).resize(size, Image.Resampling.BICUBIC)

    image = noise("RGB", (6, 4))  # sky, walls
    image = Image.blend(image, noise("RGB", (width // 100, height // 100)), 0.3)
    detail = noise("L", (width // 6, height // 6))  # foliage, fabric
    image = Image.blend(image, Image.merge("RGB", (detail,) * 3), 0.2)
    for _ in range(14):
        x, y = rnd.randrange(width), rnd.randrange(height)
        box = (x, y, x + rnd.randrange(100, width // 3), y + rnd.randrange(100, height // 3))
        mask = Image.new("L", size)
        draw = ImageDraw.Draw(mask)
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=rnd.randrange(90, 200))
        mask = mask.filter(ImageFilter.BoxBlur(rnd.randrange(1, 12)))
        image.paste(tuple(rnd.randrange(256) for _ in range(3)), (0, 0), mask)
    grain = Image.frombytes("L", size, rnd.randbytes(width * height))
    image = Image.blend(image, Image.merge("RGB", (grain,) * 3), 0.05)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


# --- pixelflow, in a child process --------------------------------------------------------------


def _worker(paths: list[str], cpus: str, breakdown: bool) -> None:
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    sys.path.insert(0, str(ROOT))
    import PIL

    from functions.imaging import VariantSpec, render_variants, variant_plan

    plan = variant_plan((VariantSpec("w1024", 1024, 1024), VariantSpec("w512", 512, 512)))
    buffers = [Path(p).read_bytes() for p in paths]

    def job(data: bytes) -> dict:
        start = time.perf_counter()
        thumbnail_ms, sizes = None, {}
        for variant in render_variants(data, plan, max_pixels=50_000_000):
            if thumbnail_ms is None:
                thumbnail_ms = (time.perf_counter() - start) * 1000
            sizes[variant.name] = len(variant.data)
        return {"ms": (time.perf_counter() - start) * 1000, "thumbnail_ms": thumbnail_ms, "bytes": sizes}

    job(buffers[0])  # warm-up: imports, plugin registration, first-touch allocations
    images = [job(data) for data in buffers]
    result = {
        "tool": f"pixelflow (Pillow {PIL.__version__})",
        "images": images,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "breakdown": _breakdown(buffers[0]) if breakdown else None,
    }
    print(json.dumps(result))


def _breakdown(data: bytes) -> dict:
    """Time the big steps on their own, to say what dominates."""
    from PIL import Image

    def best(step, repeat=3):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            value = step()
            times.append((time.perf_counter() - start) * 1000)
        return min(times), value

    def decode(draft=None):
        image = Image.open(io.BytesIO(data))
        if draft:
            image.draft("RGB", draft)
        image.load()
        return image

    draft_ms, _ = best(lambda: decode((171, 128)))
    decode_ms, full = best(decode)
    encode_ms, _ = best(lambda: full.save(io.BytesIO(), "WEBP", quality=80, method=4))
    return {"jpeg decode at 1/8 (thumbnail)": draft_ms, "jpeg decode, full": decode_ms,
            "webp encode, full size": encode_ms}


# --- sharp --------------------------------------------------------------------------------------


def _run_sharp(files: list[Path]) -> tuple[dict | None, str | None]:
    if shutil.which("node") is None:
        return None, "node is not installed"
    if not (SHARP / "node_modules" / "sharp").is_dir():
        if shutil.which("npm") is None:
            return None, "sharp is not installed and npm is missing"
        print(f"installing sharp: npm install --prefix {SHARP.relative_to(ROOT)}", flush=True)
        installed = subprocess.run(["npm", "install", "--prefix", str(SHARP)], capture_output=True, text=True)
        if installed.returncode != 0:
            return None, f"npm install failed: {installed.stderr.strip().splitlines()[-1:]}"
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    try:
        return _run([*pin, "node", str(SHARP / "bench.js"), *map(str, files)], pin=not pin), None
    except RuntimeError as error:
        return None, str(error)


def _run(command: list[str], pin: bool = False) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT,
        preexec_fn=(lambda: os.sched_setaffinity(0, {0})) if pin else None,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return _normalise(result)


def _normalise(result: dict) -> dict:
    # JS reports camelCase; one shape for both from here on.
    result.setdefault("peak_rss_bytes", result.pop("peakRssBytes", None))
    for image in result["images"]:
        image.setdefault("thumbnail_ms", image.pop("thumbnailMs", None))
    return result


def _combine(rounds: list[dict]) -> dict:
    """One result per tool: per image the best round's times, plus the median round's."""
    combined = dict(rounds[0])  # the first round carries the breakdown
    combined["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in rounds)
    combined["images"] = []
    for per_round in zip(*(r["images"] for r in rounds)):
        combined["images"].append({
            "ms": min(i["ms"] for i in per_round),
            "median_ms": statistics.median(i["ms"] for i in per_round),
            "thumbnail_ms": min(i["thumbnail_ms"] for i in per_round),
            "bytes": per_round[0]["bytes"],
        })
    return combined


# --- the report ---------------------------------------------------------------------------------


def _per_second(result: dict, key: str = "ms") -> float:
    return len(result["images"]) / (sum(image.get(key, image["ms"]) for image in result["images"]) / 1000)


def _median(result: dict, key: str) -> float:
    return statistics.median(image[key] for image in result["images"])


def _bytes(result: dict, name: str) -> int:
    return sum(image["bytes"][name] for image in result["images"])


def _report(ours: dict, theirs: dict | None, skipped: str | None, rounds: int) -> None:
    n = len(ours["images"])
    print(f"job per image: thumbnail 128x128 cover + full-size + 1024 + 512 inside, WebP q80 effort 4; "
          f"one core (cpu 0); {n} images after one warm-up, best of {rounds} alternating rounds\n")
    columns = [ours] + ([theirs] if theirs else [])
    rows = [
        ("", [c["tool"].split(" (")[0] for c in columns]),
        ("images per second", [f"{_per_second(c):.3f}" for c in columns]),
        ("images per second, median round", [f"{_per_second(c, 'median_ms'):.3f}" for c in columns]),
        ("ms per image, median", [f"{_median(c, 'ms'):.0f}" for c in columns]),
        ("ms per image, min..max", [f"{min(i['ms'] for i in c['images']):.0f}..{max(i['ms'] for i in c['images']):.0f}"
                                    for c in columns]),
        ("ms to thumbnail (first variant), median", [f"{_median(c, 'thumbnail_ms'):.1f}" for c in columns]),
        ("peak RSS, MiB", [f"{c['peak_rss_bytes'] / 2**20:.0f}" for c in columns]),
        *[(f"bytes {name}, total", [f"{_bytes(c, name):,}" for c in columns]) for name in NAMES],
        ("bytes, all variants", [f"{sum(_bytes(c, name) for name in NAMES):,}" for c in columns]),
    ]
    width = max(len(label) for label, _ in rows)
    for label, cells in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{cell:>16}" for cell in cells))
    print("\n" + "\n".join(f"  {c['tool']}" for c in columns))
    if theirs:
        ratio = _per_second(ours) / _per_second(theirs)
        median_ratio = _per_second(ours, "median_ms") / _per_second(theirs, "median_ms")
        size = sum(_bytes(ours, n) for n in NAMES) / sum(_bytes(theirs, n) for n in NAMES)
        print(f"\nthroughput pixelflow / sharp: {ratio:.2f}x (median rounds: {median_ratio:.2f}x)   "
              f"output bytes pixelflow / sharp: {size:.3f}")
    else:
        print(f"\nsharp: skipped ({skipped}); no comparison made")
    breakdown = ours["breakdown"]
    per_image = _median(ours, "ms")
    print("\nwhere pixelflow's time goes (first image, best of 3):")
    for step, ms in breakdown.items():
        print(f"  {step:<32} {ms:7.1f} ms  {ms / per_image:6.1%} of a job")


if __name__ == "__main__":
    main()
