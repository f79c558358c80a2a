"""What is learnt about every image at ingest, from one small whole-frame picture: placeholders,
colours and a perceptual hash. Pure functions of a Pillow image; no numpy (it would add ~30 MB to
the Lambda package for work on a few thousand pixels).

Everything runs on pictures of at most 32x32 pixels, so the pure-Python loops stay around a
millisecond; the expensive part is the one downscale from the decoded picture (``small_frame``).

- ThumbHash (Evan Wallace's published format, https://evanw.github.io/thumbhash/): the picture's
  DCT in an L/P/Q(/A) colour space, at most 7 luminance and 3 chroma coefficients a side, packed
  into ~25 bytes with its aspect ratio. Written here from the format's description; tests decode
  it with the ``thumbhash`` package's own decoder.
- BlurHash (Wolt's published format, https://github.com/woltapp/blurhash/blob/master/Algorithm.md):
  4x3 DCT components of linear RGB, base-83 encoded. Tests decode it with the ``blurhash`` package.
- A tiny PNG (at most 16 px a side) as a data URI, for a CSS-blurred preview that needs no decoder.
- Colours: Pillow's median cut (C) brings the 16-pixel picture to at most 32 colours, which are then
  clustered in OKLab (Björn Ottosson's perceptual space), weighted by pixel count; the five largest
  clusters are the palette, the largest is the dominant colour.
- pHash: the 8x8 lowest frequencies of a 32x32 greyscale DCT-II, one bit per coefficient (above
  their median or not), the usual 64-bit perceptual hash; similar pictures differ in few bits.
"""

from __future__ import annotations

import base64
import io
import math
import statistics
from dataclasses import dataclass
from operator import mul

from PIL import Image

# The side of the picture every measure below starts from (ThumbHash accepts up to 100).
SMALL_SIDE = 32
_SAMPLES = 8
# ThumbHash keeps at most 7 frequencies a side and BlurHash 4x3, so 16 px a side (8 cycles) carries
# everything either stores; so do the preview and the palette (shares to 1/192). Pure-Python cost
# grows with pixels: at 32 px ThumbHash alone took 2.7 ms, at 16 px all four take ~2 ms together.
_PREVIEW_SIDE = 16
_PALETTE_SIZE = 5
_QUANTISED_COLOURS = 32
_BLURHASH_COMPONENTS = (4, 3)
_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


@dataclass(frozen=True)
class Analysis:
    """The ingest-time facts about one picture, as stored in the image's record."""

    thumbhash: str
    blurhash: str
    preview: str  # data:image/webp;base64,...
    dominant: str  # "#rrggbb"
    palette: tuple[tuple[str, float], ...]  # (hex, share of pixels), largest first
    phash: int  # unsigned 64-bit

    def placeholder_json(self) -> dict:
        return {"thumbhash": self.thumbhash, "blurhash": self.blurhash, "data_uri": self.preview}

    def colors_json(self) -> dict:
        return {"dominant": self.dominant,
                "palette": [{"hex": colour, "share": share} for colour, share in self.palette]}


def small_frame(picture: Image.Image, side: int = SMALL_SIDE) -> Image.Image:
    """The whole picture, RGB or RGBA, scaled to fit ``side`` pixels (aspect ratio kept).

    From a large picture, 8x8 nearest samples per output pixel are averaged: a box filter over
    all 12 million pixels of a photo takes ~25 ms, the sampled one ~0.4 ms, and 64 samples a
    pixel are plenty for 32-pixel measures (what the benchmark's duplicate cases confirm).
    """
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    sampled = (size[0] * _SAMPLES, size[1] * _SAMPLES)
    if picture.width > sampled[0] and picture.height > sampled[1]:
        picture = picture.resize(sampled, Image.Resampling.NEAREST)
    return picture.resize(size, Image.Resampling.BOX)


def analyse(small: Image.Image) -> Analysis:
    """Every measure, from ``small_frame(picture)`` (the cheaper ones at fewer pixels still)."""
    opaque = small.convert("RGB") if small.mode != "RGB" else small
    tiny = _fit(small, _PREVIEW_SIDE)
    tiny_rgb = tiny.convert("RGB") if tiny.mode != "RGB" else tiny
    palette = colours(tiny_rgb)
    return Analysis(
        thumbhash=base64.b64encode(thumbhash(tiny.convert("RGBA"))).decode("ascii"),
        blurhash=blurhash(tiny_rgb),
        preview=preview_data_uri(tiny),
        dominant=palette[0][0],
        palette=palette,
        phash=phash(opaque),
    )


def _fit(picture: Image.Image, side: int) -> Image.Image:
    if max(picture.size) <= side:
        return picture
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BOX)


# --- pHash ------------------------------------------------------------------------------------

def _dct_rows(n: int, keep: int) -> list[list[float]]:
    return [[math.cos(math.pi * k * (2 * x + 1) / (2 * n)) for x in range(n)] for k in range(keep)]


_PHASH_N, _PHASH_KEEP = 32, 8
_PHASH_COS = _dct_rows(_PHASH_N, _PHASH_KEEP)


def phash(picture: Image.Image) -> int:
    """The 64-bit perceptual hash of a picture (any size; it is brought to 32x32 grey first)."""
    grey = picture.convert("L").resize((_PHASH_N, _PHASH_N), Image.Resampling.BILINEAR)
    pixels = list(grey.tobytes())
    rows = [pixels[y * _PHASH_N:(y + 1) * _PHASH_N] for y in range(_PHASH_N)]
    # Separable DCT-II, only the 8 lowest frequencies per axis: rows first, then columns.
    by_row = [[sum(map(mul, row, basis)) for basis in _PHASH_COS] for row in rows]
    coefficients = []
    for v in range(_PHASH_KEEP):
        basis = _PHASH_COS[v]
        for u in range(_PHASH_KEEP):
            coefficients.append(sum(basis[y] * by_row[y][u] for y in range(_PHASH_N)))
    median = statistics.median(coefficients)
    value = 0
    for coefficient in coefficients:
        value = (value << 1) | (coefficient > median)
    return value


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes."""
    return (a ^ b).bit_count()


# --- ThumbHash ----------------------------------------------------------------------------------

def thumbhash(rgba: Image.Image) -> bytes:
    """The ThumbHash of an RGBA picture of at most 100x100 pixels."""
    w, h = rgba.size
    if w > 100 or h > 100:
        raise ValueError(f"{w}x{h} does not fit in 100x100")
    data = rgba.tobytes()
    n = w * h
    alphas = [data[i] / 255 for i in range(3, 4 * n, 4)]
    total_alpha = sum(alphas)
    avg = [0.0, 0.0, 0.0]
    if total_alpha:
        for c in range(3):
            avg[c] = sum(a * data[i] for a, i in zip(alphas, range(c, 4 * n, 4))) / 255 / total_alpha
    has_alpha = total_alpha < n
    l_limit = 5 if has_alpha else 7
    lx = max(1, round(l_limit * w / max(w, h)))
    ly = max(1, round(l_limit * h / max(w, h)))
    lum, p, q = [], [], []
    for k, alpha in enumerate(alphas):  # composite over the average colour, then to L/P/Q
        r = avg[0] * (1 - alpha) + alpha / 255 * data[4 * k]
        g = avg[1] * (1 - alpha) + alpha / 255 * data[4 * k + 1]
        b = avg[2] * (1 - alpha) + alpha / 255 * data[4 * k + 2]
        lum.append((r + g + b) / 3)
        p.append((r + g) / 2 - b)
        q.append(r - g)

    def encode_channel(channel: list[float], nx: int, ny: int) -> tuple[float, list[float], float]:
        cos_x = [[math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)] for cx in range(nx)]
        cos_y = [[math.cos(math.pi / h * cy * (y + 0.5)) for y in range(h)] for cy in range(ny)]
        rows = [channel[y * w:(y + 1) * w] for y in range(h)]
        by_row = [[sum(map(mul, row, basis)) for row in rows] for basis in cos_x]  # [cx][y]
        dc, ac, scale = 0.0, [], 0.0
        for cy in range(ny):
            cx = 0
            while cx * ny < nx * (ny - cy):  # the triangle of low frequencies the format keeps
                f = sum(map(mul, by_row[cx], cos_y[cy])) / n
                if cx or cy:
                    ac.append(f)
                    scale = max(scale, abs(f))
                else:
                    dc = f
                cx += 1
        if scale:
            ac = [0.5 + 0.5 / scale * f for f in ac]
        return dc, ac, scale

    l_dc, l_ac, l_scale = encode_channel(lum, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = encode_channel(p, 3, 3)
    q_dc, q_ac, q_scale = encode_channel(q, 3, 3)
    channels = [l_ac, p_ac, q_ac]
    landscape = w > h
    header24 = (round(63 * l_dc) | round(31.5 + 31.5 * p_dc) << 6 | round(31.5 + 31.5 * q_dc) << 12
                | round(31 * l_scale) << 18 | int(has_alpha) << 23)
    header16 = (ly if landscape else lx) | round(63 * p_scale) << 3 | round(63 * q_scale) << 9 | int(landscape) << 15
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        a_dc, a_ac, a_scale = encode_channel(alphas, 5, 5)
        out.append(round(15 * a_dc) | round(15 * a_scale) << 4)
        channels.append(a_ac)
    nibbles = [round(15 * f) for ac in channels for f in ac]
    nibbles += [0] * (len(nibbles) % 2)
    out += [nibbles[i] | nibbles[i + 1] << 4 for i in range(0, len(nibbles), 2)]
    return bytes(out)


# --- BlurHash -----------------------------------------------------------------------------------

_TO_LINEAR = [((v / 255) / 12.92 if v / 255 <= 0.04045 else (((v / 255) + 0.055) / 1.055) ** 2.4) for v in range(256)]


def _to_srgb8(value: float) -> int:
    v = max(0.0, min(1.0, value))
    encoded = v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return int(encoded * 255 + 0.5)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def blurhash(rgb: Image.Image) -> str:
    """The BlurHash (4x3 components) of an RGB picture."""
    nx, ny = _BLURHASH_COMPONENTS
    w, h = rgb.size
    data = rgb.tobytes()
    channels = [[_TO_LINEAR[v] for v in data[c::3]] for c in range(3)]
    # Sampled at pixel centres: the reference encoder's x/w (pixel corners) is harmless at full size,
    # but on 16 pixels it gives a flat picture AC terms of an eighth of its colour.
    cos_x = [[math.cos(math.pi * i * (x + 0.5) / w) for x in range(w)] for i in range(nx)]
    cos_y = [[math.cos(math.pi * j * (y + 0.5) / h) for y in range(h)] for j in range(ny)]
    factors: list[tuple[float, float, float]] = []
    for j in range(ny):
        for i in range(nx):
            norm = (1 if i == 0 and j == 0 else 2) / (w * h)
            factor = []
            for channel in channels:
                by_row = [sum(map(mul, channel[y * w:(y + 1) * w], cos_x[i])) for y in range(h)]
                factor.append(norm * sum(map(mul, by_row, cos_y[j])))
            factors.append((factor[0], factor[1], factor[2]))
    dc, ac = factors[0], factors[1:]
    out = _base83((nx - 1) + (ny - 1) * 9, 1)
    maximum = max((abs(v) for f in ac for v in f), default=0.0)
    quantised = max(0, min(82, math.floor(maximum * 166 - 0.5))) if ac else 0
    ac_max = (quantised + 1) / 166 if ac else 1.0
    out += _base83(quantised, 1)
    out += _base83((_to_srgb8(dc[0]) << 16) + (_to_srgb8(dc[1]) << 8) + _to_srgb8(dc[2]), 4)
    for f in ac:
        r, g, b = (max(0, min(18, math.floor(math.copysign(abs(v / ac_max) ** 0.5, v) * 9 + 9.5))) for v in f)
        out += _base83(r * 19 * 19 + g * 19 + b, 2)
    return out


# --- the data-URI preview -------------------------------------------------------------------

def preview_data_uri(picture: Image.Image) -> str:
    """A PNG of at most 16 px a side, as a data URI (a few hundred bytes).

    PNG, not WebP: libwebp's set-up costs ~2.7 ms even for 16x12 pixels, zlib 0.06 ms.
    """
    out = io.BytesIO()
    _fit(picture, _PREVIEW_SIDE).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


# --- colours in OKLab ---------------------------------------------------------------------------

def _oklab(r: int, g: int, b: int) -> tuple[float, float, float]:
    lr, lg, lb = _TO_LINEAR[r], _TO_LINEAR[g], _TO_LINEAR[b]
    lms = (0.4122214708 * lr + 0.5363325363 * lg + 0.0514459929 * lb,
           0.2119034982 * lr + 0.6806995451 * lg + 0.1073969566 * lb,
           0.0883024619 * lr + 0.2817188376 * lg + 0.6299787005 * lb)
    l_, m_, s_ = (math.copysign(abs(v) ** (1 / 3), v) for v in lms)
    return (0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_,
            1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_,
            0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_)


def _srgb_from_oklab(lab: tuple[float, float, float]) -> tuple[int, int, int]:
    lightness, a, b = lab
    l_ = (lightness + 0.3963377774 * a + 0.2158037573 * b) ** 3
    m_ = (lightness - 0.1055613458 * a - 0.0638541728 * b) ** 3
    s_ = (lightness - 0.0894841775 * a - 1.2914855480 * b) ** 3
    linear = (4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
              -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
              -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_)
    return _to_srgb8(linear[0]), _to_srgb8(linear[1]), _to_srgb8(linear[2])


def colours(rgb: Image.Image) -> tuple[tuple[str, float], ...]:
    """Up to five (``#rrggbb``, share) pairs, largest share first, clustered in OKLab."""
    quantised = rgb.quantize(_QUANTISED_COLOURS, method=Image.Quantize.MEDIANCUT)
    raw_palette = quantised.getpalette() or []
    counts: list[tuple[int, int]] = quantised.getcolors(_QUANTISED_COLOURS) or []  # type: ignore[assignment]
    points = [(count, _oklab(*raw_palette[3 * index:3 * index + 3])) for count, index in counts]
    total = sum(count for count, _ in points)
    # Weighted k-means in OKLab, seeded with the most frequent colours that are not near an earlier seed.
    points.sort(key=lambda point: -point[0])
    centres: list[tuple[float, float, float]] = []
    for _, lab in points:
        if all(_distance(lab, centre) > 0.08 for centre in centres):
            centres.append(lab)
        if len(centres) == _PALETTE_SIZE:
            break
    members: list[list[tuple[int, tuple[float, float, float]]]] = []
    for _ in range(8):
        members = [[] for _ in centres]
        for point in points:
            members[min(range(len(centres)), key=lambda k: _distance(point[1], centres[k]))].append(point)
        centres = [_weighted_mean(group) if group else centre for group, centre in zip(members, centres)]
    clusters = sorted(((sum(c for c, _ in group), centre) for group, centre in zip(members, centres) if group),
                      key=lambda cluster: -cluster[0])
    return tuple((_hex(_srgb_from_oklab(centre)), round(count / total, 3)) for count, centre in clusters)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def _distance(a, b) -> float:
    return math.dist(a, b)


def _weighted_mean(group) -> tuple[float, float, float]:
    weight = sum(count for count, _ in group)
    lightness, a, b = (sum(count * lab[axis] for count, lab in group) / weight for axis in range(3))
    return lightness, a, b
