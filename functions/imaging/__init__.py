"""The image-processing core: bytes and options in, encoded variants out. No S3, no SQL, no Chalice.

Decisions a caller relies on:

- Type is decided from the bytes (magic numbers), never from a name or a declared Content-Type.
- Outputs carry no metadata at all: no EXIF (so no GPS), no XMP, no ICC profile. Pixels with an
  embedded non-sRGB profile (Display P3, Adobe RGB, CMYK press profiles) are converted to sRGB first,
  so an untagged output shows the same colours; an unreadable profile is ignored.
- Animated GIF, WebP, PNG and AVIF give their first frame; an MPO (multi-picture JPEG) its primary picture.
- The remaining variants are encoded on up to 4 threads, as many as this process may run on.
- Work per image is bounded: each image is decoded once; what one step can cost is bounded before
  it starts (pixels, JPEG scans, the variants' pixels); a Budget of CPU seconds is checked between
  steps (decode, resize, encode), on every thread, and ends the image ``too_slow`` when spent.
"""


import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from functions.imaging.budget import Budget
    from functions.imaging.render import Rendering, Variant, render_variants
    from functions.imaging.source import ImageRejected, SourceInfo, inspect_image
    from functions.imaging.specs import STANDARD_VARIANTS, VariantSpec, parse_variant_specs, variant_plan

# Loaded on first use (PEP 562): the variant rules (specs) are read by the HTTP functions, which must not
# pay for Pillow; only rendering and inspecting load it.
_HOMES = {
    "Budget": "budget",
    "Rendering": "render", "Variant": "render", "render_variants": "render",
    "ImageRejected": "source", "SourceInfo": "source", "inspect_image": "source",
    "STANDARD_VARIANTS": "specs", "VariantSpec": "specs", "parse_variant_specs": "specs", "variant_plan": "specs",
}

__all__ = [
    "STANDARD_VARIANTS",
    "Budget",
    "ImageRejected",
    "Rendering",
    "SourceInfo",
    "Variant",
    "VariantSpec",
    "inspect_image",
    "parse_variant_specs",
    "render_variants",
    "variant_plan",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
