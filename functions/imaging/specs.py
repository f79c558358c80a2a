"""Variant specs: what a caller may ask for, and the set every image gets."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from functions.errors import InvalidInput

FITS = ("cover", "contain", "fill", "inside")
GRAVITIES = ("center", "entropy", "attention")  # functions/imaging/gravity.py; only fit "cover" crops
FORMATS = ("jpeg", "png", "webp", "avif")
MAX_SIDE = 8192
MAX_REQUESTED = 10
RESERVED_NAMES = ("thumbnail", "webp", "original")
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,31}"
MIN_QUALITY, MAX_QUALITY = 1, 100
# The API's request schema (functions/api/schemas.py) is derived from these rules and VariantSpec's defaults.

_NAME = re.compile(NAME_PATTERN)
_KEYS = ("name", "width", "height", "fit", "format", "quality", "gravity")


@dataclass(frozen=True)
class VariantSpec:
    """One output to render. Width and height are in pixels; ``None`` means "follow the aspect ratio"."""

    name: str
    width: int | None
    height: int | None
    fit: str = "inside"
    format: str = "webp"
    quality: int = 80
    gravity: str = "center"  # where a cover crop is placed (functions/imaging/gravity.py)

    @property
    def is_full_size(self) -> bool:
        return self.width is None and self.height is None


# The thumbnail comes first: render_variants yields specs[0] before anything else.
STANDARD_VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec("thumbnail", 128, 128, fit="cover", format="webp", quality=80),
    VariantSpec("webp", None, None, fit="inside", format="webp", quality=80),
)


def variant_plan(requested: tuple[VariantSpec, ...], *, thumbnail_gravity: str = "center") -> tuple[VariantSpec, ...]:
    """Every variant one image gets: the standard set first, then what the caller asked for."""
    standard = STANDARD_VARIANTS
    if thumbnail_gravity != standard[0].gravity:
        standard = (dataclasses.replace(standard[0], gravity=thumbnail_gravity), *standard[1:])
    return standard + tuple(requested)


def parse_variant_specs(raw, *, max_output_pixels: int | None = None) -> tuple[VariantSpec, ...]:
    """Validate user-requested variants (a JSON list of objects, or None for none).

    Raises InvalidInput naming the offending field, e.g. ``variants[2].quality``, or ``variants``
    when the sizes fixed by the request alone add up to more than ``max_output_pixels``.
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput("Variants must be a list of objects.", field="variants")
    if len(raw) > MAX_REQUESTED:
        raise InvalidInput(
            f"At most {MAX_REQUESTED} variants can be requested, got {len(raw)}.", field="variants"
        )
    specs: list[VariantSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        spec = _parse_one(item, f"variants[{index}]")
        if spec.name in seen:
            raise InvalidInput(
                f"The variant name '{spec.name}' is used twice.", field=f"variants[{index}].name"
            )
        seen.add(spec.name)
        specs.append(spec)
    fixed = fixed_output_pixels(variant_plan(tuple(specs)))  # the thumbnail counts too
    if max_output_pixels is not None and fixed > max_output_pixels:
        raise InvalidInput(
            f"The variants asked for add up to {fixed:,} pixels; at most {max_output_pixels:,} can be made "
            "from one image.", code="variants_too_large", field="variants"
        )
    return tuple(specs)


def fixed_output_pixels(specs) -> int:
    """Pixels these specs produce whatever the image: both sides given, and a fit that fills the box."""
    return sum(spec.width * spec.height for spec in specs
               if spec.width is not None and spec.height is not None and spec.fit != "inside")


def _parse_one(item, where: str) -> VariantSpec:
    if not isinstance(item, dict):
        raise InvalidInput("Each variant must be an object.", field=where)
    for key in item:
        if key not in _KEYS:
            raise InvalidInput(
                f"Unknown key '{key}'; a variant has only {', '.join(_KEYS)}.", field=f"{where}.{key}"
            )
    name = item.get("name")
    if name is None:
        raise InvalidInput("A variant needs a name.", field=f"{where}.name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            "A variant name is 1 to 32 characters of a-z, 0-9, '_' and '-', starting with a letter or digit.",
            field=f"{where}.name",
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(
            f"The name '{name}' is reserved; pick another (reserved: {', '.join(RESERVED_NAMES)}).",
            field=f"{where}.name",
        )
    width = _side(item.get("width"), f"{where}.width")
    height = _side(item.get("height"), f"{where}.height")
    if width is None and height is None:
        raise InvalidInput("Give a width, a height or both.", field=f"{where}.width")
    fit = _choice(item.get("fit", VariantSpec.fit), FITS, f"{where}.fit", "Fit")
    fmt = _choice(item.get("format", VariantSpec.format), FORMATS, f"{where}.format", "Format")
    quality = item.get("quality", VariantSpec.quality)
    if not _is_int(quality) or not MIN_QUALITY <= quality <= MAX_QUALITY:
        raise InvalidInput(f"Quality must be a whole number from {MIN_QUALITY} to {MAX_QUALITY}.",
                           field=f"{where}.quality")
    gravity = _choice(item.get("gravity", VariantSpec.gravity), GRAVITIES, f"{where}.gravity", "Gravity")
    if gravity != VariantSpec.gravity and (fit != "cover" or width is None or height is None):
        raise InvalidInput("gravity places a crop: it needs fit cover and both width and height.",
                           field=f"{where}.gravity")
    return VariantSpec(name, width, height, fit=fit, format=fmt, quality=quality, gravity=gravity)


def _side(value, field: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= MAX_SIDE:
        raise InvalidInput(f"Must be a whole number of pixels from 1 to {MAX_SIDE}.", field=field)
    return value


def _choice(value, allowed: tuple[str, ...], field: str, label: str) -> str:
    if value not in allowed:  # also rejects non-strings: nothing else compares equal
        raise InvalidInput(f"{label} must be one of {', '.join(allowed)}.", field=field)
    return value


def _is_int(value) -> bool:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)
