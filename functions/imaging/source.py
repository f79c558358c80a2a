"""Reading an uploaded image: decide its type from its bytes, check it, decode it upright in sRGB."""

from __future__ import annotations

import functools
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import ExifTags, GifImagePlugin, Image, ImageCms, ImageFile, UnidentifiedImageError

from functions.imaging import jpeg

# Truncated files are rejected, never padded with grey. Pillow's default; asserted so a change elsewhere shows.
assert not ImageFile.LOAD_TRUNCATED_IMAGES

# Our type name -> (Pillow's plugin name, MIME type).
_TYPES = {
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "gif": ("GIF", "image/gif"),
    "avif": ("AVIF", "image/avif"),
    "heic": ("HEIF", "image/heic"),  # the plugin pillow-heif registers (see _heif_plugin)
}

_LABELS = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "gif": "GIF", "avif": "AVIF", "heic": "HEIC"}

# ISOBMFF brands of HEIF still images and sequences (ISO/IEC 23008-12), as phones write them.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"mif2"}

# What Pillow's decoders raise on damaged data (libavif's errors arrive as RuntimeError; found by
# fuzzing every allowed type). Caught only around Pillow's open/load; anything else propagates.
_DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError,
    struct.error, zlib.error, ZeroDivisionError, OverflowError,
)

# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

# More frames than this is a slide show nobody watches, and each frame costs fixed Python overhead
# (~0.1 ms) whatever its size: 10,000 1x1 frames would be a second per variant for nothing. Frames
# are counted only up to one past it: counting all of a GIF's walks every frame (~5 us each, so ~5 s
# for the million 1x1 frames a 25 MB file holds), before a single pixel is decoded.
MAX_FRAMES = 1000


class ImageRejected(Exception):
    """This image can never be processed; retrying will not help.

    ``code`` is one of unsupported_type, too_many_pixels, too_many_scans, too_many_segments,
    corrupt_image, empty, too_large, variants_too_large, too_slow;
    ``message`` is a sentence for the person who uploaded it.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ImageRejected({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class SourceInfo:
    """What an uploaded image is, read from its header. Width and height are as displayed (after EXIF orientation)."""

    format: str
    mime: str
    width: int
    height: int
    frames: int  # counted up to the frame limit + 1 (Source.open): a larger count is not known


def inspect_image(data: bytes, *, max_pixels: int, max_bytes: int | None = None,
                  frame_limit: int = MAX_FRAMES) -> SourceInfo:
    """Identify an image by its content and check its size from the header, without decoding pixels.

    Raises ImageRejected (empty, too_large, unsupported_type, too_many_pixels, too_many_scans,
    too_many_segments, corrupt_image).
    """
    return Source.open(data, max_pixels=max_pixels, max_bytes=max_bytes, frame_limit=frame_limit).info


def sniff(data: bytes) -> str | None:
    """The allowed type these bytes start like, or None. Names and declared types are never trusted."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brands = _brands(data)
        if b"avif" in brands or b"avis" in brands:
            return "avif"
        if brands & _HEIF_BRANDS:
            return "heic"
    return None


def _brands(data: bytes) -> set[bytes]:
    # ISOBMFF 'ftyp' box: size, 'ftyp', major brand, minor version, compatible brands. AVIF and HEIC share it.
    size = int.from_bytes(data[:4], "big")
    if not 16 <= size <= min(len(data), 4096):
        return set()
    return {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}


@functools.cache
def _heif_plugin() -> None:
    """Register pillow-heif's HEIF plugin with Pillow, once, on the first HEIC (it loads libheif)."""
    import pillow_heif

    # The primary image only: thumbnails, depth maps and auxiliary images are never decoded.
    pillow_heif.options.THUMBNAILS = False
    pillow_heif.options.DEPTH_IMAGES = False
    pillow_heif.options.AUX_IMAGES = False
    # One decoding thread asked for (Lambda gives one image one or two vCPUs); libheif still decodes
    # on threads of its own, so the budget counts a HEIC decode in process CPU time (render.py).
    pillow_heif.options.DECODE_THREADS = 1
    pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class Source:
    """An accepted image whose header has been read; decode() gives its pixels."""

    data: bytes
    info: SourceInfo
    stored_size: tuple[int, int]  # as encoded, before orientation
    orientation: int

    @classmethod
    def open(cls, data: bytes, *, max_pixels: int, max_bytes: int | None = None,
             frame_limit: int = MAX_FRAMES) -> Source:
        """Read the header. Frames are counted up to ``frame_limit`` + 1 and no further: that many
        means "more than ``frame_limit``" (1 tells a still from an animation, for a caller that
        only ever decodes the first frame)."""
        if not data:
            raise ImageRejected("empty", "The file is empty.")
        if max_bytes is not None and len(data) > max_bytes:
            raise ImageRejected(
                "too_large", f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes."
            )
        kind = sniff(data)
        if kind is None:
            raise ImageRejected("unsupported_type", "The file is not a JPEG, PNG, WebP, GIF, AVIF or HEIC image.")
        if kind == "jpeg":
            _check_structure(data)  # before Pillow's header parse too, which loops over every segment
        image = _open(data, kind)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(
                "too_many_pixels",
                f"The image is {width}x{height} ({width * height:,} pixels); the limit is {max_pixels:,} pixels.",
            )
        orientation = _orientation(image, kind)
        if orientation >= 5:
            width, height = height, width
        # A JPEG is one picture here: an MPO's second frame is a depth map or preview, not animation;
        # a HEIC's other top-level images (bursts, edits) are not frames of one picture either.
        frames = 1 if kind in ("jpeg", "heic") else _frames(image, frame_limit + 1)
        info = SourceInfo(kind, _TYPES[kind][1], width, height, frames)
        return cls(data, info, image.size, orientation)

    @property
    def size(self) -> tuple[int, int]:
        """Upright width and height at full resolution."""
        return self.info.width, self.info.height

    def draft_scale(self, at_least: tuple[int, int] | None) -> int:
        """The 1/N scale a decode for an output of at least ``at_least`` (upright) pixels will use."""
        if self.info.format != "jpeg" or at_least is None:
            return 1
        need_w, need_h = _stored(at_least, self.orientation)
        full_w, full_h = self.stored_size
        fits = min(full_w // max(need_w, 1), full_h // max(need_h, 1))
        return next((s for s in (8, 4, 2) if s <= fits), 1)

    def decode(self, at_least: tuple[int, int] | None = None) -> Image.Image:
        """Decode the first frame upright, as RGB or RGBA in sRGB, carrying no metadata.

        For JPEG, ``at_least`` (upright pixels) lets libjpeg decode at 1/2, 1/4 or 1/8 scale,
        never below that size.
        """
        image = _open(self.data, self.info.format)
        if at_least is not None and self.draft_scale(at_least) > 1:
            image.draft(None, _stored(at_least, self.orientation))  # same arithmetic as draft_scale
        try:
            image.load()
        except _DECODE_ERRORS as error:
            raise ImageRejected(  # Pillow's own words stay on __cause__, for the logs
                "corrupt_image", f"The {_LABELS[self.info.format]} file is damaged or cut short, so it cannot be read."
            ) from error
        image = _normalise_mode(_to_srgb(image, image.info.get("icc_profile")))
        if self.orientation in _UPRIGHT:
            image = image.transpose(_UPRIGHT[self.orientation])
        image.info = {}  # nothing of the source's metadata (EXIF, GPS, XMP, ICC) may reach an output
        return image


    def open_frames(self) -> Image.Image:
        """The container, opened again, for reading its frames one by one (``seek``)."""
        return _open(self.data, self.info.format)

    def upright(self, frame: Image.Image) -> Image.Image:
        """One decoded frame in sRGB, upright, without metadata (what ``decode`` does to the first)."""
        frame = _normalise_mode(_to_srgb(frame, frame.info.get("icc_profile")))
        if self.orientation in _UPRIGHT:
            frame = frame.transpose(_UPRIGHT[self.orientation])
        frame.info = {}
        return frame


def _open(data: bytes, kind: str) -> Image.Image:
    if kind == "heic":
        _heif_plugin()
    try:
        # Pillow's bomb warning is an error here. catch_warnings swaps process-wide filters, but only
        # around the header parse; our own max_pixels check right after is the limit that matters.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=[_TYPES[kind][0]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected("too_many_pixels", "The image has more pixels than can be processed.") from error
    except (UnidentifiedImageError, *_DECODE_ERRORS) as error:
        raise ImageRejected(
            "corrupt_image", f"The file starts like a {_LABELS[kind]} image but its header cannot be read."
        ) from error


def _check_structure(data: bytes) -> None:
    # Before any decode: libjpeg's cost grows with scans x blocks, and one decode cannot be interrupted.
    structure = jpeg.walk(data)
    if structure.scans > jpeg.MAX_SCANS:
        raise ImageRejected(
            "too_many_scans",
            f"The JPEG file is stored as more than {jpeg.MAX_SCANS} scans (progressive photos have about 10), "
            "which would take far too long to decode.",
        )
    if structure.segments > jpeg.MAX_SEGMENTS:
        raise ImageRejected(
            "too_many_segments",
            f"The JPEG file is made of more than {jpeg.MAX_SEGMENTS} segments (photos have a few dozen), "
            "which would take far too long to read.",
        )


def _orientation(image: Image.Image, kind: str) -> int:
    try:
        if kind == "png":
            # PngImageFile.getexif() would decode the whole image to find an eXIf chunk after IDAT.
            raw = image.info.get("exif")
            exif = Image.Exif()
            if raw:
                exif.load(raw)
        else:
            exif = image.getexif()
        value = exif.get(ExifTags.Base.Orientation, 1)
    except Exception:  # damaged metadata never rejects a picture; it is dropped anyway
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _frames(image: Image.Image, at_most: int) -> int:
    """How many frames the file holds, counted up to ``at_most`` and no further."""
    if not isinstance(image, GifImagePlugin.GifImageFile):
        # WebP: libwebp's demuxer counted them while opening (in C, one pass over the chunk
        # headers); APNG: the count its header declares. Either way nothing is walked here.
        try:
            return min(int(getattr(image, "n_frames", 1)), at_most)
        except _DECODE_ERRORS:
            return 1
    # GIF: no header says how many frames follow; Pillow's n_frames walks every one of them. This is
    # its walk (the private _seek it uses, with update_image=False: block headers are skipped over,
    # no pixel is decoded), stopped at ``at_most``.
    count = 1
    try:
        while count < at_most:
            image._seek(count, False)
            count += 1
    except EOFError:
        pass  # the trailer: all of them counted
    except _DECODE_ERRORS:
        return 1  # damaged later frames: only the first one is ever used (as n_frames raising was)
    return count


def _stored(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation >= 5 else size


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert pixels described by an embedded ICC profile to sRGB; outputs then carry no profile."""
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        transform = _transform_to_srgb(bytes(icc), image.mode)
        if transform is None:
            return image
        converted = ImageCms.applyTransform(image, transform)
        assert converted is not None  # None only for inPlace=True
        return converted
    except (ImageCms.PyCMSError, *_DECODE_ERRORS):
        return image  # an unreadable profile: treat the pixels as sRGB, as browsers do


@functools.lru_cache(maxsize=16)
def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    space = profile.profile.xcolor_space.strip()
    if space != ("CMYK" if mode == "CMYK" else "RGB"):
        return None  # the profile does not describe these pixels
    if mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(profile).lower():
        return None  # already sRGB: skip the per-pixel work
    return ImageCms.buildTransform(
        profile,
        _SRGB,
        mode,
        "RGB" if mode == "CMYK" else mode,
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
        # NOCACHE: lcms's one-pixel cache is not safe when threads share a transform.
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION | ImageCms.Flags.NOCACHE,
    )


def _normalise_mode(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to 8-bit RGB, or RGBA when the image has transparency."""
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        # 16-bit grey: scale to 8 bits; convert("L") alone would clip everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
        return image.convert("RGB")
    if mode in ("RGB", "RGBA") and "transparency" not in image.info:
        return image
    if mode == "RGBa":
        return image.convert("RGBA")
    if mode == "CMYK":
        return image.convert("RGB")
    return image.convert("RGBA" if image.has_transparency_data else "RGB")
