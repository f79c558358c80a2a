"""What the ingest analysis costs: per 12 MP photo, the duplicate query at 100,000 images, HEIC vs JPEG.

    .venv/bin/python bench/bench_analysis.py [--runs N] [--images 100000]

1. Added cost per 12 MP photo: the standard set (thumbnail + full-size WebP) is rendered from a
   photo-like 4000x3000 JPEG; the "analyse" step (one small whole-frame picture, ThumbHash,
   BlurHash, preview, OKLab palette, pHash) is timed by the same CPU-time budget that times decode,
   resize and encode, and shown in ms and as a share of the whole render. Medians over --runs.
2. The duplicate query (functions/store.py similar_images) on an embedded PostgreSQL 16 holding
   --images done images of one user with random hashes plus a few near copies: median time of the
   query at the default distance, how many candidates the band indexes gave, and the query plan.
3. Decoding a 12 MP HEIC (pillow-heif, one thread) against the same picture as a JPEG (Pillow).
4. Reading the header of a GIF of many 1x1 frames (100,000: 2.3 MB; 1.1 million: a 25 MB upload):
   counting every frame (what Pillow's n_frames did, before the fix) against counting up to
   MAX_FRAMES + 1 (processing) and up to 2 (delivery, which renders one still). CPU time.

Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from functions import imaging, store  # noqa: E402
from functions.imaging import analysis, gravity  # noqa: E402
from functions.imaging.source import Source  # noqa: E402
from tests.unit import analysis_corpus as corpus  # noqa: E402

SIZE = (4000, 3000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    photo = corpus.scene(2026, SIZE)
    jpeg = corpus.encode(photo, "JPEG", quality=90)
    added_cost(jpeg, args.runs)
    heic_vs_jpeg(photo, jpeg, args.runs)
    frame_count(args.runs)
    duplicate_query(args.images)


def added_cost(jpeg: bytes, runs: int) -> None:
    print(f"\n-- added cost of the analysis per {SIZE[0]}x{SIZE[1]} JPEG (standard set), {runs} runs")
    totals, analyses = [], []
    for _ in range(runs + 1):  # the first one warms up (imports, lcms, libwebp)
        budget = imaging.Budget()
        rendering = imaging.render_variants(jpeg, imaging.variant_plan(()), max_pixels=50_000_000, budget=budget)
        list(rendering)
        totals.append(budget.spent)
        analyses.append(sum(seconds for name, seconds in budget.steps if name == "analyse"))
    total, spent = statistics.median(totals[1:]) * 1000, statistics.median(analyses[1:]) * 1000
    print(f"render (CPU, all steps): {total:8.1f} ms   analyse step: {spent:6.2f} ms = {100 * spent / total:.2f} %")
    picture = Source.open(jpeg, max_pixels=50_000_000).decode()
    parts = {
        "small_frame (64 px, from 12 MP)": lambda: analysis.small_frame(picture, gravity.ANALYSIS_SIDE),
    }
    overview = analysis.small_frame(picture, gravity.ANALYSIS_SIDE)
    small = analysis.small_frame(overview)
    tiny = small.resize((16, 12))
    parts.update({
        "thumbhash": lambda: analysis.thumbhash(tiny.convert("RGBA")),
        "blurhash": lambda: analysis.blurhash(tiny),
        "preview": lambda: analysis.preview_data_uri(tiny),
        "colours": lambda: analysis.colours(tiny),
        "phash": lambda: analysis.phash(small),
        "all of analyse()": lambda: analysis.analyse(small),
        "crop_box attention (not in the default set)": lambda: gravity.crop_box(overview, (128, 128), "attention",
                                                                                 source_size=SIZE),
        "crop_box entropy (not in the default set)": lambda: gravity.crop_box(overview, (128, 128), "entropy",
                                                                               source_size=SIZE),
    })
    for name, call in parts.items():
        print(f"  {name:45s} {_median_ms(call, 50, clock=time.thread_time):7.3f} ms (CPU, median of 50)")


def heic_vs_jpeg(photo, jpeg: bytes, runs: int) -> None:
    heic = corpus.heic(photo, quality=80)
    print(f"\n-- decoding 12 MP: JPEG q90 {len(jpeg) / 1e6:.1f} MB vs HEIC q80 {len(heic) / 1e6:.1f} MB, {runs} runs")
    results = {}
    for name, data in (("jpeg", jpeg), ("heic", heic)):
        Source.open(data, max_pixels=50_000_000).decode()  # warm-up (loads libheif once)
        # Process CPU time: libheif decodes on threads of its own.
        results[name] = _median_ms(lambda data=data: Source.open(data, max_pixels=50_000_000).decode(), runs,
                                   clock=time.process_time)
        print(f"  {name}: {results[name]:8.1f} ms (process CPU time)")
    print(f"  HEIC / JPEG: {results['heic'] / results['jpeg']:.2f}x")


def many_frame_gif(frames: int) -> bytes:
    """A GIF89a of ``frames`` identical 1x1 frames, 23 bytes each (Pillow would merge identical frames)."""
    header = b"GIF89a" + (1).to_bytes(2, "little") * 2 + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    frame = (b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 100 ms
             b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # image descriptor: 1x1 at 0,0
             b"\x02\x02\x44\x01\x00")  # LZW: clear, pixel 0, end
    return header + frame * frames + b"\x3b"


def frame_count(runs: int) -> None:
    from functions.imaging.source import MAX_FRAMES

    print(f"\n-- reading a many-frame GIF's header (Source.open), CPU ms, median of {runs} (1 for 1.1 M frames)")
    for frames, repeat in ((100_000, runs), (1_100_000, 1)):
        data = many_frame_gif(frames)
        timings = {}
        for name, limit in (("every frame (before)", 10**9), (f"up to {MAX_FRAMES + 1:,} (after)", MAX_FRAMES),
                            ("up to 2 (delivery, after)", 1)):
            counted = Source.open(data, max_pixels=50_000_000, frame_limit=limit).info.frames
            timings[name] = _median_ms(
                lambda limit=limit: Source.open(data, max_pixels=50_000_000, frame_limit=limit), repeat,
                clock=time.thread_time)
            print(f"  {frames:>9,} frames ({len(data) / 1e6:4.1f} MB) counting {name:28s} "
                  f"{timings[name]:9.1f} ms  (counted {counted:,})")
        before, after = timings["every frame (before)"], timings[f"up to {MAX_FRAMES + 1:,} (after)"]
        print(f"  {frames:>9,} frames: before / after = {before / max(after, 1e-6):,.0f}x")


def duplicate_query(count: int) -> None:
    from functions.adapters.database import Database, apply_migrations
    from functions.local.stack import EmbeddedPostgres

    print(f"\n-- duplicate query, {count:,} done images of one user, distance 10 (the default)")
    state = Path(tempfile.mkdtemp(prefix="pixelflow-bench-analysis-"))
    postgres = EmbeddedPostgres(state / "pg")
    try:
        db = Database(postgres.start())
        apply_migrations(db)
        owner = str(uuid.uuid4())
        db.execute("INSERT INTO users (id, email, email_normalized, password_hash) VALUES (:id, :e, :e, 'x')",
                   id=owner, e=f"{owner}@bench.example")
        rng = random.Random(7)
        probes = [rng.getrandbits(64) for _ in range(20)]
        hashes = [rng.getrandbits(64) for _ in range(count)]
        for probe in probes:  # each probe has copies at 2, 6 and 10 bits
            for flips in (2, 6, 10):
                near = probe
                for bit in rng.sample(range(64), flips):
                    near ^= 1 << bit
                hashes.append(near)
        started = time.perf_counter()
        _fill(db, owner, hashes)
        print(f"  filled in {time.perf_counter() - started:.1f} s")
        db.execute("ANALYZE images")
        timings, found = [], []
        for probe in probes:
            began = time.perf_counter()
            rows = store.similar_images(db, owner, probe, max_distance=10, limit=100)
            timings.append((time.perf_counter() - began) * 1000)
            found.append(len(rows))
        print(f"  similar_images: median {statistics.median(timings):.2f} ms, max {max(timings):.2f} ms over "
              f"{len(probes)} probes; found per probe: median {statistics.median(found)} (3 planted)")
        bands = store._phash_bands(probes[0])
        candidates = db.one(
            "SELECT count(*) AS n FROM (" + " UNION ".join(
                f"SELECT id FROM images WHERE owner_id = :owner AND {column} = ANY(:{column})"
                for column in bands) + ") c",
            owner=owner, **{column: store._within(value, 2) for column, value in bands.items()})["n"]
        print(f"  candidates from the four band indexes: {candidates:,} of {len(hashes):,} rows")
        plan = db.rows("EXPLAIN SELECT id FROM images WHERE owner_id = :owner AND phash_b0 = ANY(:values)"
                       " AND phash IS NOT NULL", owner=owner, values=store._within(bands["phash_b0"], 2))
        print("  plan of one band lookup: " + " / ".join(next(iter(row.values())).strip()[:90] for row in plan[:2]))
        timings = []
        for probe in probes:
            began = time.perf_counter()
            db.rows("SELECT id FROM images WHERE owner_id = :owner AND bit_count((phash # :phash)::bit(64)) <= 10",
                    owner=owner, phash=store._signed64(probe))
            timings.append((time.perf_counter() - began) * 1000)
        print(f"  a full scan of the owner's rows in SQL instead: median {statistics.median(timings):.2f} ms")
        db.close()
    finally:
        postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


def _fill(db, owner: str, hashes: list[int]) -> None:
    # A bench fixture, not the ingest path (which writes one row at a time): the hashes travel as one
    # array per 20,000 rows and PostgreSQL derives the bands, as record_done's parameters would.
    for start in range(0, len(hashes), 20_000):
        db.execute(
            "INSERT INTO images (id, owner_id, original_name, storage_key, status, phash, phash_b0, phash_b1,"
            " phash_b2, phash_b3)"
            " SELECT id, :owner, 'x.jpg', 'originals/' || id, 'done', h, (h >> 48) & 65535, (h >> 32) & 65535,"
            " (h >> 16) & 65535, h & 65535"
            " FROM (SELECT gen_random_uuid() AS id, h FROM unnest(CAST(:hashes AS bigint[])) AS h) g",
            owner=owner, hashes=[store._signed64(value) for value in hashes[start:start + 20_000]])


def _median_ms(call, runs: int, clock=time.perf_counter) -> float:
    # thread_time for the single-threaded parts: on a shared machine wall time mostly measures the neighbours.
    times = []
    for _ in range(runs):
        began = clock()
        call()
        times.append((clock() - began) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
