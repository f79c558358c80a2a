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
    parser.add_argument("--hostile-only", action="store_true",
                        help="only the files built to be slow: time to refuse each, and a normal image after two")
    parser.add_argument("--worker", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="0", help=argparse.SUPPRESS)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args.worker, args.cpus, args.breakdown)

    if args.hostile_only:
        return hostile_report()
    files = corpus(args.images, args.seed)
    print(f"corpus: {len(files)} photo-like {SIZE[0]}x{SIZE[1]} JPEGs (q90, seed {args.seed}) "
          f"in {OUT.relative_to(ROOT)}/")
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
    hostile_report()


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

    def decode():
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    def thumbnail(full):
        side = min(full.size)
        box = ((full.width - side) // 2, (full.height - side) // 2, (full.width + side) // 2, (full.height + side) // 2)
        small = full.resize((128, 128), Image.Resampling.LANCZOS, box=box, reducing_gap=1.0)
        small.save(io.BytesIO(), "WEBP", quality=80, method=4)

    decode_ms, full = best(decode)
    thumbnail_ms, _ = best(lambda: thumbnail(full))
    encode_ms, _ = best(lambda: full.save(io.BytesIO(), "WEBP", quality=80, method=4))
    return {"jpeg decode, full (the one decode)": decode_ms, "thumbnail from it (resize + encode)": thumbnail_ms,
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


# --- files built to be slow ---------------------------------------------------------------------


def hostile_files() -> dict[str, bytes]:
    """Small files whose processing would be long: what each costs pixelflow now is the figure."""
    from PIL import Image

    from tests.unit import imaging_corpus as made

    def save(image, fmt, **options) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **options)
        return out.getvalue()

    palette = Image.new("P", (7000, 7000), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    frames = [Image.new("RGB", (4, 4), (n % 256, n // 256, 0)) for n in range(20_000)]  # all distinct
    webp_frames = [Image.new("RGB", (16, 16), (n % 256, 0, 0)) for n in range(3_000)]
    return {
        "JPEG, 20,000 scans, 4096x4096": made.jpeg_with_many_scans(20_000, (4096, 4096)),
        "JPEG, 2,000 scans, 4096x4096": made.jpeg_with_many_scans(2_000, (4096, 4096)),
        "JPEG, 1,000,000 comment segments": made.jpeg_with_many_segments(1_000_000),
        "PNG bomb, 20000x20000 header": made.png_bomb(),
        "palette PNG 7000x7000 + tRNS (49 MP)": save(palette, "PNG", transparency=0),
        "GIF, 20,000 frames": save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10),
        "WebP, 3,000 frames": save(webp_frames[0], "WEBP", save_all=True, append_images=webp_frames[1:],
                                   duration=10, lossless=True),
    }


def _process(data: bytes, budget_seconds: float | None = 20) -> tuple[str, float, float]:
    """(outcome, wall ms, CPU ms) of the standard job in-process, with pixelflow's default limits."""
    from functions.imaging import STANDARD_VARIANTS, Budget, ImageRejected, render_variants

    budget = Budget(budget_seconds)
    started = time.perf_counter()
    try:
        for _ in render_variants(data, STANDARD_VARIANTS, max_pixels=50_000_000, max_output_pixels=100_000_000,
                                 budget=budget):
            pass
        outcome = "done"
    except ImageRejected as rejected:
        outcome = rejected.code
    return outcome, (time.perf_counter() - started) * 1000, budget.spent * 1000


def _thumbnail_after_two(hostile: bytes, normal: bytes) -> float:
    """ms from submission until the normal image's thumbnail exists, queued behind two hostile files
    on two workers (the local runner's default concurrency, or two Lambda-less workers)."""
    from concurrent.futures import ThreadPoolExecutor

    from functions.imaging import STANDARD_VARIANTS, ImageRejected, render_variants

    def first_variant(data):
        try:
            next(iter(render_variants(data, STANDARD_VARIANTS, max_pixels=50_000_000)))
        except ImageRejected:
            pass
        return time.perf_counter()

    with ThreadPoolExecutor(2) as workers:
        started = time.perf_counter()
        futures = [workers.submit(first_variant, data) for data in (hostile, hostile, normal)]
        return (futures[2].result() - started) * 1000


def hostile_report() -> None:
    sys.path.insert(0, str(ROOT))
    from functions.imaging import jpeg

    files = hostile_files()
    print("\nfiles built to be slow (standard job, default limits, in-process, one run):")
    print(f"  {'file':<40} {'bytes':>10}  {'outcome':<16} {'wall':>10} {'CPU':>10}")
    for name, data in files.items():
        outcome, wall, cpu = _process(data)
        print(f"  {name:<40} {len(data):>10,}  {outcome:<16} {wall:>8.1f} ms {cpu:>8.1f} ms")

    limit = jpeg.MAX_SCANS
    try:  # what the 2,000-scan file cost before scans were counted (one decode; the old code did two)
        jpeg.MAX_SCANS = 10 ** 9
        _, wall, cpu = _process(files["JPEG, 2,000 scans, 4096x4096"], budget_seconds=None)
    finally:
        jpeg.MAX_SCANS = limit
    print(f"  without the scan check, the 2,000-scan file takes {wall / 1000:.1f} s "
          f"({cpu / 1000:.1f} s CPU); decode time grows linearly with scans x blocks")

    normal = photo_like(1, (1600, 1200))
    solo = []
    for _ in range(5):
        started = time.perf_counter()
        _thumbnail_only(normal)
        solo.append((time.perf_counter() - started) * 1000)
    after = [_thumbnail_after_two(files["JPEG, 20,000 scans, 4096x4096"], normal) for _ in range(5)]
    print(f"  thumbnail of a 1600x1200 JPEG: alone {statistics.median(solo):.0f} ms, queued behind two "
          f"20,000-scan JPEGs on 2 workers {statistics.median(after):.0f} ms (medians of 5)")
    try:
        jpeg.MAX_SCANS = 10 ** 9
        unguarded = _thumbnail_after_two(files["JPEG, 2,000 scans, 4096x4096"], normal)
    finally:
        jpeg.MAX_SCANS = limit
    print(f"  the same behind two 2,000-scan JPEGs without the scan check: {unguarded:.0f} ms (one run)")


def _thumbnail_only(data: bytes) -> None:
    from functions.imaging import STANDARD_VARIANTS, render_variants

    next(iter(render_variants(data, STANDARD_VARIANTS, max_pixels=50_000_000)))


if __name__ == "__main__":
    main()
