"""Where a cover-fit crop sits: in the middle, on the busiest part, or on the most salient part.

Call ``crop_box(picture, (width, height), gravity)`` with any decode of the image (a small one is
enough: the analysis works on at most ``ANALYSIS_SIDE`` pixels a side) and, when that decode is
smaller than the image the box is for, ``source_size=(full_width, full_height)``. It returns the
box ``(left, top, right, bottom)`` in source pixels (floats, as Pillow's ``resize(box=...)`` takes),
with the output's aspect ratio and as large as fits: exactly what ``fit: cover`` then scales down.

A cover crop is only ever free along one axis (the source is wider or taller than the output), so
both smart gravities reduce to choosing an offset along that axis:

- ``entropy`` (as libvips' ``VIPS_INTERESTING_ENTROPY``): the strip of the free axis is narrowed
  step by step, each time cutting a slice (an eighth of the excess, at least a pixel) off the end
  whose slice has the lower Shannon entropy of its grey-level histogram, until it fits the box.
- ``attention`` (after libvips' ``VIPS_INTERESTING_ATTENTION``, without a model): a saliency map
  adds edge strength (Pillow's FIND_EDGES on luminance), saturation weighted by brightness, and a
  skin-tone mask (the classic Cb 77-127, Cr 133-173 rule in YCbCr); the window holding the most of
  it wins (column or row sums, then a sliding sum).
- ``center``: the middle, as before.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from functions.imaging.specs import GRAVITIES

__all__ = ["ANALYSIS_SIDE", "GRAVITIES", "cover_box", "crop_box", "saliency"]

ANALYSIS_SIDE = 64
# The saliency terms' weights: edges are what a viewer's eye lands on; skin (faces, people) next.
_EDGE_WEIGHT, _SATURATION_WEIGHT, _SKIN_WEIGHT = 1.0, 0.5, 0.75


def cover_box(source_size: tuple[int, int], box_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The part of the source that ``fit=cover`` keeps: the box's shape, as large as fits, centred.

    The one place a cover crop is sized, for pipeline variants and delivery renditions alike;
    ``crop_box`` then moves it where a gravity other than "center" puts it.
    """
    width, height = source_size
    scale = max(box_size[0] / width, box_size[1] / height)
    crop_w, crop_h = min(width, box_size[0] / scale), min(height, box_size[1] / scale)
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    return (left, top, left + crop_w, top + crop_h)


def crop_box(picture: Image.Image, size: tuple[int, int], gravity: str = "center", *,
             source_size: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
    """The cover-fit crop box for an output of ``size`` (width, height), in ``source_size`` pixels.

    ``picture`` is the image (or a smaller decode of all of it); ``gravity`` is one of GRAVITIES.
    """
    if gravity not in GRAVITIES:
        raise ValueError(f"gravity must be one of {', '.join(GRAVITIES)}")
    width, height = source_size or picture.size
    centred = cover_box((width, height), size)
    left, top, right, bottom = centred
    crop_w, crop_h = right - left, bottom - top
    free_x, free_y = width - crop_w, height - crop_h
    if gravity == "center" or max(free_x, free_y) < 1:
        return centred
    horizontal = free_x >= free_y
    small = _fit(picture, ANALYSIS_SIDE)
    length = small.width if horizontal else small.height
    window = max(1, min(length, round((crop_w / width if horizontal else crop_h / height) * length)))
    if gravity == "entropy":
        start: float = _entropy_offset(small.convert("L"), window, horizontal)
    else:
        start = _attention_offset(saliency(small), window, horizontal)
    if horizontal:
        left = min(free_x, max(0.0, start / small.width * width))
    else:
        top = min(free_y, max(0.0, start / small.height * height))
    return left, top, left + crop_w, top + crop_h


def saliency(picture: Image.Image) -> Image.Image:
    """A greyscale map of how much each pixel draws the eye: edges, saturation, skin tones."""
    rgb = picture.convert("RGB")
    edges = rgb.convert("L").filter(ImageFilter.FIND_EDGES)
    # Pillow leaves a kernel's one-pixel border unfiltered (a copy of the picture): that is no edge.
    inner = Image.new("L", rgb.size, 0)
    if rgb.width > 2 and rgb.height > 2:
        inner.paste(edges.crop((1, 1, rgb.width - 1, rgb.height - 1)), (1, 1))
    edges = inner
    _, saturation, value = rgb.convert("HSV").split()
    vivid = ImageChops.multiply(saturation, value)  # dark pixels' hue is noise, not colour
    _, cb, cr = rgb.convert("YCbCr").split()
    skin = ImageChops.multiply(cb.point(lambda v: 255 if 77 <= v <= 127 else 0),
                               cr.point(lambda v: 255 if 133 <= v <= 173 else 0))
    total = Image.new("L", rgb.size, 0)
    for layer, weight in ((edges, _EDGE_WEIGHT), (vivid, _SATURATION_WEIGHT), (skin, _SKIN_WEIGHT)):
        total = ImageChops.add(total, layer.point(lambda v, w=weight: round(v * w / 2.25)))
    return total


def _attention_offset(score: Image.Image, window: int, horizontal: bool) -> float:
    # The map's mean along the fixed axis, one value per position on the free axis (BOX is a C mean).
    profile = list((score.resize((score.width, 1), Image.Resampling.BOX) if horizontal
                    else score.resize((1, score.height), Image.Resampling.BOX)).tobytes())
    sums = [current := sum(profile[:window])]
    for start in range(1, len(profile) - window + 1):
        current += profile[start + window - 1] - profile[start - 1]
        sums.append(current)
    best_sum = max(sums)
    if best_sum == 0:  # nothing salient anywhere: keep the middle
        return (len(profile) - window) / 2
    # Several windows may hold the whole subject: the middle one of them centres it.
    best = [start for start, total in enumerate(sums) if total == best_sum]
    return best[len(best) // 2]


def _entropy_offset(grey: Image.Image, window: int, horizontal: bool) -> int:
    length = grey.width if horizontal else grey.height
    start, end = 0, length
    while end - start > window:
        step = max(1, (end - start - window) // 8)
        first = _strip(grey, start, start + step, horizontal).entropy()
        last = _strip(grey, end - step, end, horizontal).entropy()
        # The poorer end loses a slice; on a tie, the end that has lost less, so a flat picture stays centred.
        if first < last or (first == last and start <= length - end):
            start += step
        else:
            end -= step
    return start


def _strip(grey: Image.Image, begin: int, end: int, horizontal: bool) -> Image.Image:
    return grey.crop((begin, 0, end, grey.height) if horizontal else (0, begin, grey.width, end))


def _fit(picture: Image.Image, side: int) -> Image.Image:
    if max(picture.size) <= side:
        return picture
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
