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

from functions.imaging.budget import Budget
from functions.imaging.render import Rendering, Variant, render_variants
from functions.imaging.source import ImageRejected, SourceInfo, inspect_image
from functions.imaging.specs import STANDARD_VARIANTS, VariantSpec, parse_variant_specs, variant_plan

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
