"""The options grammar of ``/img/{signature}/{options}/{image_id}``: parse, check, canonicalise.

``w:640,h:480,fit:cover,f:auto,q:75,dpr:2,exp:1767225600`` — comma-separated ``key:value`` pairs,
each key at most once, in any order:

- ``w``, ``h``: width and height in pixels, 1..8192 (one alone keeps the aspect ratio);
- ``fit``: cover | contain | fill | inside (default inside: never enlarges);
- ``g``: where a cover crop is placed, center | entropy | attention (default center; only with
  ``fit:cover`` and both sides; functions/imaging/gravity.py);
- ``f``: auto | webp | avif | jpeg | png (default auto: chosen from the Accept header);
- ``q``: quality 1..100 (default 80 for JPEG and WebP, 60 for AVIF; PNG is lossless);
- ``dpr``: device pixel ratio 1..3 (up to two decimals), multiplied into w and h;
- ``v``: the content version, 1..16 lowercase hex digits (the API writes the first 12 of the image's
  SHA-256): signed and part of the cache key, it does not change what is rendered, so a replaced
  original gets new URLs; with the current version the answer may be cached for a year;
- ``exp``: unix seconds after which the URL is refused (403).

Canonical options put the keys in that order, fold ``dpr`` into the sides and drop defaults, so
``dpr:2,w:320`` and ``w:640,f:auto`` share one cache entry. Pure functions, no I/O.
"""

from __future__ import annotations

import dataclasses
import re

from functions.errors import BadRequest
from functions.imaging.specs import GRAVITIES

MAX_SIDE = 8192
MAX_LENGTH = 200
FITS = ("cover", "contain", "fill", "inside")
FORMATS = ("auto", "webp", "avif", "jpeg", "png")
DEFAULT_FIT = "inside"
DEFAULT_QUALITY = {"jpeg": 80, "webp": 80, "avif": 60}
DEFAULT_GRAVITY = "center"
KEYS = ("w", "h", "fit", "g", "f", "q", "dpr", "v", "exp")

_SIDE = re.compile(r"[1-9][0-9]{0,4}")
_QUALITY = re.compile(r"[1-9][0-9]{0,2}")
_DPR = re.compile(r"[1-3](\.[0-9]{1,2})?")
_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")
_VERSION = re.compile(r"[0-9a-f]{1,16}")


class OptionRefused(BadRequest):
    """An option is unknown, repeated or out of range (HTTP 400); ``field`` names it."""

    code = "invalid_option"


@dataclasses.dataclass(frozen=True)
class Options:
    """What a URL asks for, after dpr is folded into the sides. ``format`` may still be "auto"."""

    width: int | None = None
    height: int | None = None
    fit: str = DEFAULT_FIT
    format: str = "auto"
    quality: int | None = None  # None: the format's default
    expires: int | None = None
    gravity: str = DEFAULT_GRAVITY
    version: str | None = None  # v: the content version the URL was made for; never affects the output

    def canonical(self) -> str:
        """The options in canonical form (what the API signs); equal requests give equal strings."""
        parts = []
        if self.width is not None:
            parts.append(f"w:{self.width}")
        if self.height is not None:
            parts.append(f"h:{self.height}")
        if self.fit != DEFAULT_FIT:
            parts.append(f"fit:{self.fit}")
        if self.gravity != DEFAULT_GRAVITY:
            parts.append(f"g:{self.gravity}")
        parts.append(f"f:{self.format}")  # always written, so the options are never empty
        quality = self.quality
        if quality is not None and quality != DEFAULT_QUALITY.get(self.format) and self.format != "png":
            parts.append(f"q:{quality}")
        if self.version is not None:
            parts.append(f"v:{self.version}")
        if self.expires is not None:
            parts.append(f"exp:{self.expires}")
        return ",".join(parts)

    def rendition(self, fmt: str) -> str:
        """The storage name of the output in format ``fmt``: every value filled in (a centred crop's
        gravity left out, as before gravities existed), version and expiry left out."""
        parts = [f"w:{self.width}" if self.width is not None else None,
                 f"h:{self.height}" if self.height is not None else None,
                 f"fit:{self.fit}", f"g:{self.gravity}" if self.gravity != DEFAULT_GRAVITY else None, f"f:{fmt}"]
        if fmt != "png":
            parts.append(f"q:{self.resolved_quality(fmt)}")
        return ",".join(part for part in parts if part)

    def resolved_quality(self, fmt: str) -> int:
        return self.quality if self.quality is not None else DEFAULT_QUALITY.get(fmt, 80)


def parse(text: str) -> Options:
    """Parse and check URL options; raises OptionRefused naming the option at fault."""
    if not text or len(text) > MAX_LENGTH:
        raise OptionRefused(f"Options must be 1 to {MAX_LENGTH} characters, such as w:640,f:auto.",
                            field="options")
    seen: dict[str, str] = {}
    for pair in text.split(","):
        key, colon, value = pair.partition(":")
        if not colon or key not in KEYS:
            shown = key if re.fullmatch(r"[a-z]{1,8}", key) else "options"
            raise OptionRefused(f"Unknown option {pair[:20]!r}; options are {', '.join(KEYS)} as key:value.",
                                field=shown)
        if key in seen:
            raise OptionRefused(f"The option {key} is given twice.", field=key)
        seen[key] = value
    width = _side(seen, "w")
    height = _side(seen, "h")
    fit = _choice(seen, "fit", FITS, DEFAULT_FIT)
    gravity = _choice(seen, "g", GRAVITIES, DEFAULT_GRAVITY)
    if gravity != DEFAULT_GRAVITY and (fit != "cover" or "w" not in seen or "h" not in seen):
        raise OptionRefused("g places a cover crop: it needs fit:cover with both w and h.", field="g")
    fmt = _choice(seen, "f", FORMATS, "auto")
    quality = None
    if "q" in seen:
        if not _QUALITY.fullmatch(seen["q"]) or not 1 <= int(seen["q"]) <= 100:
            raise OptionRefused("q (quality) must be a whole number from 1 to 100.", field="q")
        quality = int(seen["q"])
    if "dpr" in seen:
        if not _DPR.fullmatch(seen["dpr"]) or float(seen["dpr"]) > 3:
            raise OptionRefused("dpr must be a number from 1 to 3 with at most two decimals.", field="dpr")
        dpr = float(seen["dpr"])
        width = _scaled(width, dpr, "w")
        height = _scaled(height, dpr, "h")
    expires = None
    if "exp" in seen:
        if not _EXPIRY.fullmatch(seen["exp"]):
            raise OptionRefused("exp must be a time in unix seconds.", field="exp")
        expires = int(seen["exp"])
    version = seen.get("v")
    if version is not None and not _VERSION.fullmatch(version):
        raise OptionRefused("v (the content version) must be 1 to 16 lowercase hex digits.", field="v")
    return Options(width, height, fit, fmt, quality, expires, gravity, version)


def _side(seen: dict[str, str], key: str) -> int | None:
    if key not in seen:
        return None
    value = seen[key]
    if not _SIDE.fullmatch(value) or int(value) > MAX_SIDE:
        raise OptionRefused(f"{key} must be a whole number of pixels from 1 to {MAX_SIDE}.", field=key)
    return int(value)


def _scaled(side: int | None, dpr: float, key: str) -> int | None:
    if side is None:
        return None
    scaled = max(1, int(side * dpr + 0.5))
    if scaled > MAX_SIDE:
        raise OptionRefused(f"{key} times dpr is {scaled} pixels; at most {MAX_SIDE}.", field="dpr")
    return scaled


def _choice(seen: dict[str, str], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = seen.get(key, default)
    if value not in allowed:
        raise OptionRefused(f"{key} must be one of {', '.join(allowed)}.", field=key)
    return value
