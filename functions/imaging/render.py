"""Rendering variants: geometry per fit mode, resampling from the nearest larger picture, encoding."""

from __future__ import annotations

import dataclasses
import io
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from PIL import Image

from functions.imaging import analysis, gravity
from functions.imaging.budget import Budget
from functions.imaging.source import _DECODE_ERRORS as _FRAME_ERRORS
from functions.imaging.source import MAX_FRAMES, ImageRejected, Source, SourceInfo
from functions.imaging.specs import MAX_SIDE, VariantSpec

# reduce() by the largest integer factor that keeps the picture at least the target size, then LANCZOS:
# 4x faster than LANCZOS alone on 4000->1024 at 49 dB PSNR against it (1.5: 52 dB, 2x slower; 2.0: no gain).
_REDUCING_GAP = 1.0
# A smaller rendered picture is reused as the source of another only when it has twice the pixels per
# side the other needs, so chained resampling never softens the result visibly.
_REUSE_GAP = 2.0
# libwebp effort, equal to sharp's default (effort 4). On 12 MP photos 3 is as fast and 0.3% smaller,
# 5 is 15% slower and 9% smaller.
_WEBP_METHOD = 4
_MAX_ENCODE_THREADS = 4

# The longest side each format can store; a full-size variant of a wider panorama is scaled to fit.
_FORMAT_MAX_SIDE = {"webp": 16383, "jpeg": 65500}

# format -> (Pillow's name, Content-Type, file extension, has alpha)
_ENCODINGS = {
    "jpeg": ("JPEG", "image/jpeg", "jpg", False),
    "png": ("PNG", "image/png", "png", True),
    "webp": ("WEBP", "image/webp", "webp", True),
    "avif": ("AVIF", "image/avif", "avif", True),
}


@dataclass(frozen=True)
class Variant:
    """One encoded output, ready to store."""

    name: str
    format: str
    content_type: str
    extension: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class _Geometry:
    box: tuple[float, float, float, float]  # the part of the upright, full-resolution source used
    size: tuple[int, int]  # what that part is resampled to
    canvas: tuple[int, int]  # the output; larger than size only when contain pads

    @property
    def scale(self) -> float:
        """Output pixels per source pixel, on the more demanding axis."""
        return max(self.size[0] / (self.box[2] - self.box[0]), self.size[1] / (self.box[3] - self.box[1]))

    def whole_frame(self, source_size: tuple[int, int]) -> bool:
        return self.box == (0, 0, *source_size) and self.canvas == self.size


class Rendering:
    """The variants of one accepted image, yielded as they are made; ``info`` is the source's header.

    ``analysis`` (placeholders, colours, perceptual hash) is set once the image is decoded, before
    the first variant is yielded; it stays None when ``analyse`` is False.
    """

    def __init__(self, source: Source, plans, budget: Budget, max_animation_pixels: int | None = None,
                 analyse: bool = True):
        self.info: SourceInfo = source.info
        self.analyse = analyse
        self.budget = budget
        self.analysis: analysis.Analysis | None = None
        # For a multi-frame GIF or WebP: {"frames", "animated", "still_reason"}; None for a still image.
        self.animation: dict | None = None
        self._animated: set[str] = set()
        if source.info.frames > 1 and source.info.format in _ANIMATED_SOURCES:
            self._animated, self.animation = _animation_plan(source, plans, max_animation_pixels)
        self._variants = _render_all(source, plans, budget, self)

    def __iter__(self) -> Iterator[Variant]:
        return self

    def __next__(self) -> Variant:
        return next(self._variants)


def render_variants(
    data: bytes, specs: Sequence[VariantSpec], *, max_pixels: int, max_bytes: int | None = None,
    max_output_pixels: int | None = None, budget: Budget | None = None, max_animation_pixels: int | None = None,
    frame_limit: int = MAX_FRAMES, analyse: bool = True,
) -> Rendering:
    """Render every spec from one uploaded image; specs[0] (the thumbnail) is yielded first, as soon as it exists.

    The image is decoded once, at the smallest scale that serves every spec. Raises ImageRejected
    when the image cannot be used, or its variants would add up to more than ``max_output_pixels``
    (at once, before anything is decoded); while iterating, for damage the header did not show, or
    (too_slow) once ``budget`` is spent.

    Frames are counted up to ``frame_limit`` + 1 (more are never animated); a caller that renders
    only stills of the first frame (delivery) passes 1. ``analyse`` False skips the ingest analysis
    (placeholders, colours, pHash), which only processing records.
    """
    budget = budget or Budget()
    with budget.step("header"):  # the header read and the frame count are work on the image too
        source = Source.open(data, max_pixels=max_pixels, max_bytes=max_bytes, frame_limit=frame_limit)
    plans = [(spec, geometry(spec, source.size)) for spec in specs]
    total = sum(geo.canvas[0] * geo.canvas[1] for _, geo in plans)
    if max_output_pixels is not None and total > max_output_pixels:
        # Checked before any decode: every resampled picture is held until its encode ends.
        raise ImageRejected(
            "variants_too_large",
            f"The variants asked for would add up to {total / 1e6:.0f} megapixels from this "
            f"{source.size[0]}x{source.size[1]} image; "
            f"at most {max_output_pixels / 1e6:.0f} can be made from one image.",
        )
    return Rendering(source, plans, budget, max_animation_pixels, analyse)


def _render_all(source: Source, plans, budget: Budget, rendering: Rendering) -> Iterator[Variant]:
    if not plans:
        return
    # One decode serves every variant: a second one (a small draft for an early thumbnail) would
    # double the worst case, and a decode is the one step that cannot be stopped half-way.
    with budget.step("decode", whole_process=source.info.format == "heic"):
        picture = source.decode(_resolution_needed(plans, source.size))
    with budget.step("analyse"):
        # One small whole-frame picture feeds the analysis and every smart crop.
        overview = analysis.small_frame(picture, gravity.ANALYSIS_SIDE)
        if rendering.analyse:
            rendering.analysis = analysis.analyse(analysis.small_frame(overview))
        plans = [(spec, _placed(spec, geo, overview, source.size)) for spec, geo in plans]
    first, rest = plans[0], plans[1:]
    spec, geo = first
    yield _render_step(budget, spec, geo, _resize_step(budget, geo, [picture], source.size))
    moving = [(spec, geo) for spec, geo in rest if spec.name in rendering._animated]
    rest = [(spec, geo) for spec, geo in rest if spec.name not in rendering._animated]
    if rest:
        yield from _render_rest(rest, picture, source.size, budget)
    del picture
    for spec, geo in moving:  # one at a time: each holds all of its frames until encoded
        yield _render_animated(source, spec, geo, budget)


# --- animation ----------------------------------------------------------------------------------

_ANIMATED_SOURCES = ("gif", "webp")
# Browsers show GIF frames of 0-10 ms as 100 ms (the old Netscape rule); an animated WebP output
# keeps what a browser showed, and libwebp needs increasing timestamps.
_MIN_DURATION_MS, _SHORT_DURATION_SHOWN_MS = 20, 100


def _animation_plan(source: Source, plans, max_pixels: int | None) -> tuple[set[str], dict]:
    """Which variants keep the animation (WebP ones after the thumbnail), and what the record says.

    The frame-pixel budget counts every frame decoded plus every frame of every animated output.
    """
    frames = source.info.frames
    animated = [(spec, geo) for spec, geo in plans[1:] if spec.format == "webp"]
    record: dict[str, Any] = {"frames": frames, "animated": bool(animated), "still_reason": None}
    if not animated:
        record["still_reason"] = ("No WebP variant was asked for; JPEG, PNG and AVIF variants and the thumbnail "
                                  "are stills.")
        return set(), record
    width, height = source.size
    total = frames * (width * height + sum(geo.canvas[0] * geo.canvas[1] for _, geo in animated))
    if frames > MAX_FRAMES:
        # Counted no further than MAX_FRAMES + 1 (source.py): the record says that many, the reason "more than".
        record.update(animated=False,
                      still_reason=f"It has more than {MAX_FRAMES:,} frames; at most {MAX_FRAMES:,} are animated.")
        return set(), record
    if max_pixels is not None and total > max_pixels:
        record.update(animated=False, still_reason=(
            f"Its {frames:,} frames add up to {total / 1e6:,.0f} megapixels of work; at most "
            f"{max_pixels / 1e6:,.0f} are animated, so its variants are stills of the first frame."))
        return set(), record
    return {spec.name for spec, _ in animated}, record


def _render_animated(source: Source, spec: VariantSpec, geo: _Geometry, budget: Budget) -> Variant:
    """Every frame resized to the geometry, encoded as one animated WebP with the source's durations and loop."""
    container = source.open_frames()
    loop = int(container.info.get("loop", 0) or 0)
    frames: list[Image.Image] = []
    durations: list[int] = []
    for index in range(source.info.frames):
        with budget.step("frame"):  # this frame's decode; counted apart from the one decode of stills
            try:
                container.seek(index)
                frame = source.upright(container.convert("RGBA"))
            except (EOFError, *_FRAME_ERRORS) as error:
                if not frames:
                    raise ImageRejected("corrupt_image", "The animation's frames cannot be read.") from error
                break  # damaged later frames: keep what was read, as browsers do
        duration = int(container.info.get("duration", 0) or 0)
        durations.append(duration if duration >= _MIN_DURATION_MS else _SHORT_DURATION_SHOWN_MS)
        with budget.step("frame"):
            frame = _resample(geo, [frame], source.size)
            if geo.canvas != geo.size:
                frame = _pad(frame, geo, True)
        frames.append(frame)
    with budget.step("encode"):
        out = io.BytesIO()
        frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=durations, loop=loop,
                       quality=spec.quality, method=_WEBP_METHOD)
    _, content_type, extension, _ = _ENCODINGS["webp"]
    return Variant(spec.name, "webp", content_type, extension, frames[0].width, frames[0].height, out.getvalue())


def geometry(spec: VariantSpec, source_size: tuple[int, int]) -> _Geometry:
    """Where the output's pixels come from and how big it is, for one spec and an upright source size."""
    width, height = source_size
    whole = (0, 0, width, height)
    if spec.width is None and spec.height is None:
        limit = _FORMAT_MAX_SIDE.get(spec.format, max(source_size))
        size = _scaled(source_size, min(1.0, limit / max(source_size)), limit=(limit, limit))
        return _Geometry(whole, size, size)
    if spec.width is None or spec.height is None:
        # One side given: keep the aspect ratio; only "inside" refuses to enlarge.
        if spec.width is not None:
            scale = spec.width / width
        else:
            assert spec.height is not None  # neither side given is handled above
            scale = spec.height / height
        scale = min(scale, MAX_SIDE / max(width, height))  # the derived side stays within the spec's limit
        if spec.fit == "inside":
            scale = min(scale, 1.0)
        size = _scaled(source_size, scale)
        return _Geometry(whole, size, size)
    box_w, box_h = spec.width, spec.height
    if spec.fit == "fill":
        return _Geometry(whole, (box_w, box_h), (box_w, box_h))
    if spec.fit == "cover":
        return _Geometry(gravity.cover_box(source_size, (box_w, box_h)), (box_w, box_h), (box_w, box_h))
    scale = min(box_w / width, box_h / height)
    if spec.fit == "inside":
        scale = min(scale, 1.0)
    size = _scaled(source_size, scale, limit=(box_w, box_h))
    return _Geometry(whole, size, (box_w, box_h) if spec.fit == "contain" else size)


def _placed(spec: VariantSpec, geo: _Geometry, overview: Image.Image, source_size: tuple[int, int]) -> _Geometry:
    """The geometry with its cover crop moved where the spec's gravity puts it."""
    if spec.fit != "cover" or spec.gravity == "center" or spec.width is None or spec.height is None:
        return geo
    box = gravity.crop_box(overview, (spec.width, spec.height), spec.gravity, source_size=source_size)
    return dataclasses.replace(geo, box=box)


def _scaled(size: tuple[int, int], scale: float, limit: tuple[int, int] = (MAX_SIDE, MAX_SIDE)) -> tuple[int, int]:
    width, height = (min(bound, max(1, math.floor(side * scale + 0.5))) for side, bound in zip(size, limit))
    return width, height


def _resolution_needed(plans, source_size: tuple[int, int]) -> tuple[int, int] | None:
    """The smallest upright decode that serves every plan, or None for full resolution."""
    scale = max(geo.scale for _, geo in plans)
    if scale >= 1:
        return None
    return (math.ceil(source_size[0] * scale), math.ceil(source_size[1] * scale))


def _render_rest(plans, picture: Image.Image, source_size: tuple[int, int], budget: Budget) -> Iterator[Variant]:
    # Biggest first: its encode (the full-size WebP) is the longest, and its picture can feed the smaller ones.
    plans = sorted(plans, key=lambda plan: plan[1].size[0] * plan[1].size[1], reverse=True)
    pictures = [picture]  # whole-frame pictures at decreasing resolution
    workers = min(len(plans), _cpus(), _MAX_ENCODE_THREADS)
    if workers <= 1:
        for spec, geo in plans:
            yield _render_step(budget, spec, geo, _resample_and_keep(geo, pictures, source_size, budget))
        return
    # Pillow releases the GIL while encoding, so encodes overlap each other and the next resample.
    pool = ThreadPoolExecutor(workers, thread_name_prefix="imaging-encode")
    try:
        futures = [
            pool.submit(_render_step, budget, spec, geo, _resample_and_keep(geo, pictures, source_size, budget))
            for spec, geo in plans
        ]
        del pictures, picture
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _render_step(budget: Budget, spec: VariantSpec, geo: _Geometry, image: Image.Image) -> Variant:
    with budget.step("encode"):  # on the thread that encodes, so its CPU time is the one counted
        return _render(spec, geo, image)


def _resize_step(budget: Budget, geo: _Geometry, pictures, source_size) -> Image.Image:
    with budget.step("resize"):
        return _resample(geo, pictures, source_size)


def _resample_and_keep(geo: _Geometry, pictures: list[Image.Image], source_size, budget: Budget) -> Image.Image:
    image = _resize_step(budget, geo, pictures, source_size)
    if geo.whole_frame(source_size) and all(image is not picture for picture in pictures):
        pictures.append(image)
    return image


def _resample(geo: _Geometry, pictures: Sequence[Image.Image], source_size: tuple[int, int]) -> Image.Image:
    """Resample the geometry's box to its size, from the smallest picture that still has enough detail."""
    def detail(candidate: Image.Image) -> float:  # pixels per source pixel on its poorer axis ("fill" distorts)
        return min(candidate.width / source_size[0], candidate.height / source_size[1])

    usable = [candidate for candidate in pictures[1:] if detail(candidate) >= geo.scale * _REUSE_GAP]
    picture = min(usable, key=lambda candidate: candidate.width * candidate.height, default=pictures[0])
    scale_x, scale_y = picture.width / source_size[0], picture.height / source_size[1]
    left, top, right, bottom = geo.box
    box = (left * scale_x, top * scale_y, min(right * scale_x, picture.width), min(bottom * scale_y, picture.height))
    if picture.size == geo.size and box == (0, 0, *picture.size):
        return picture
    return picture.resize(geo.size, Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)


def _render(spec: VariantSpec, geo: _Geometry, image: Image.Image) -> Variant:
    pillow_format, content_type, extension, has_alpha = _ENCODINGS[spec.format]
    if geo.canvas != geo.size:
        image = _pad(image, geo, has_alpha)
    if not has_alpha and image.mode == "RGBA":
        image = _on_white(image)
    return Variant(
        name=spec.name,
        format=spec.format,
        content_type=content_type,
        extension=extension,
        width=image.width,
        height=image.height,
        data=_encode(image, spec, pillow_format),
    )


def _pad(image: Image.Image, geo: _Geometry, transparent: bool) -> Image.Image:
    offset = ((geo.canvas[0] - geo.size[0]) // 2, (geo.canvas[1] - geo.size[1]) // 2)
    if transparent:
        canvas = Image.new("RGBA", geo.canvas, (0, 0, 0, 0))
        canvas.paste(image.convert("RGBA"), offset)
    else:
        canvas = Image.new("RGB", geo.canvas, (255, 255, 255))
        canvas.paste(image, offset, image if image.mode == "RGBA" else None)
    return canvas


def _on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, (0, 0), image)
    return background


def _encode(image: Image.Image, spec: VariantSpec, pillow_format: str) -> bytes:
    # No exif/xmp/icc_profile arguments and empty image.info: outputs carry no metadata at all.
    out = io.BytesIO()
    if spec.format == "webp":
        image.save(out, pillow_format, quality=spec.quality, method=_WEBP_METHOD)
    elif spec.format == "jpeg":
        image.save(out, pillow_format, quality=spec.quality, optimize=True)
    elif spec.format == "avif":
        image.save(out, pillow_format, quality=spec.quality)
    else:
        image.save(out, pillow_format)  # PNG is lossless: quality does not apply
    return out.getvalue()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
