"""Inputs for the imaging tests, made in memory with Pillow: good pictures and a corpus of bad ones."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import ExifTags, Image, ImageDraw

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 160, 0)

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="52,22.0N"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def scene(size=(400, 300)) -> Image.Image:
    """A picture with a gradient and distinct shapes, so resampling and cropping have something to move."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 4, height // 4), fill=RED)
    draw.ellipse((width // 3, height // 3, width * 2 // 3, height * 2 // 3), fill=GREEN)
    return image


def marked_corner(size=(1600, 1200)) -> Image.Image:
    """Blue, with a red block in the stored top-left corner."""
    image = Image.new("RGB", size, BLUE)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=RED)
    return image


def gps_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PixelflowCam"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (52.0, 22.0, 0.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (4.0, 53.0, 0.0),
    }
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    return exif


def jpeg_with_orientation(orientation: int, size=(1600, 1200)) -> bytes:
    return encode(marked_corner(size), "JPEG", quality=90, exif=gps_exif(orientation))


def jpeg_with_gps_xmp_and_icc() -> bytes:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(scene((800, 600)), "JPEG", quality=90, exif=gps_exif(), xmp=XMP, icc_profile=srgb)


def png_bomb(width=20000, height=20000) -> bytes:
    """A PNG whose header claims width x height pixels but whose file is a few hundred bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 4)  # a few rows; never read
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def noisy(size=(256, 256), seed=7) -> Image.Image:
    """Incompressible content, so the pixel data is most of the file and a cut lands inside it."""
    import random

    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


HTML = b"<!DOCTYPE html><html><head><title>holiday.jpg</title></head><body><img src=x onerror=alert(1)></body></html>"
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><circle cx="50" cy="50" r="40"/></svg>'
)


def cmyk_jpeg() -> bytes:
    image = Image.new("CMYK", (200, 100), (0, 0, 0, 0))  # white
    ImageDraw.Draw(image).rectangle((0, 0, 99, 99), fill=(0, 255, 255, 0))  # red on the left
    return encode(image, "JPEG", quality=95)


def png_16bit_grey() -> bytes:
    """A horizontal ramp over the full 16-bit range: 0 on the left, 65535 on the right."""
    image = Image.new("I;16", (256, 16))
    image.putdata([x * 257 for _ in range(16) for x in range(256)])
    return encode(image, "PNG")


def png_palette_with_transparency() -> bytes:
    """Palette image: index 0 fully transparent (left half), index 1 opaque red (right half)."""
    image = Image.new("P", (200, 100), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    ImageDraw.Draw(image).rectangle((100, 0, 199, 99), fill=1)
    return encode(image, "PNG", transparency=0)


def png_grey_with_alpha() -> bytes:
    image = Image.new("LA", (100, 100), (200, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 49, 99), fill=(0, 0))
    return encode(image, "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 80), colour) for colour in (RED, GREEN, BLUE)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def bmp() -> bytes:
    return encode(scene((40, 30)), "BMP")


def heic_like() -> bytes:
    """An ISOBMFF file branded HEIC: the same box family as AVIF, but not a type we accept."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 64


def jpeg_magic_then_garbage() -> bytes:
    return b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x13\x37" * 40


def mutations(seed: int, count: int) -> list[tuple[str, bytes]]:
    """Seeded damage to small good files of every allowed type: flipped bytes, cuts, insertions."""
    import random

    rnd = random.Random(seed)
    picture = scene((64, 48))
    originals = {
        "jpeg": encode(picture, "JPEG"),
        "progressive-jpeg": encode(picture, "JPEG", progressive=True),
        "png": encode(picture, "PNG"),
        "palette-png": png_palette_with_transparency(),
        "webp": encode(picture, "WEBP"),
        "gif": animated_gif(),
        "avif": encode(picture, "AVIF"),
    }
    damaged = []
    for name, data in originals.items():
        for _ in range(count):
            mutated = bytearray(data)
            how = rnd.randrange(3)
            if how == 0:
                for _ in range(rnd.randrange(1, 8)):
                    mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
            elif how == 1:
                del mutated[rnd.randrange(1, len(mutated)) :]
            else:
                at = rnd.randrange(len(mutated))
                mutated[at:at] = rnd.randbytes(rnd.randrange(1, 20))
            damaged.append((name, bytes(mutated)))
    return damaged


def srgb_profile_named_otherwise() -> bytes:
    """lcms's sRGB profile under another name: the pixels take the conversion path but keep their colours."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile.replace("sRGB".encode("utf-16-be"), "Wide".encode("utf-16-be"))


def mpo() -> bytes:
    """A multi-picture JPEG as cameras write it: the scene first, then a black second picture."""
    out = io.BytesIO()
    scene((800, 600)).save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (800, 600))])
    return out.getvalue()


# --- files built to be slow ----------------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment after SOI, entropy-coded data included in its SOS segment.

    Deliberately written apart from the code under test (a plain byte loop, no regular expression).
    """
    found, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            found.append((marker, pos, pos + 2))
            return found
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        found.append((marker, pos, end))
        pos = end
    return found


def progressive_jpeg(size=(400, 300), **options) -> bytes:
    return encode(scene(size), "JPEG", progressive=True, **options)


def jpeg_with_many_scans(scans: int = 2000, size=(256, 256)) -> bytes:
    """A valid progressive JPEG whose smallest scan (with the Huffman table before it) is repeated
    ``scans`` times: each copy is a dozen bytes, yet libjpeg walks every block of the picture for it.
    The shape of the known attack (a 1.6 MB file with 20,000 scans decoding for minutes), kept small.
    """
    data = encode(Image.linear_gradient("L").resize(size).convert("RGB"), "JPEG", progressive=True, quality=90)
    segments = jpeg_segments(data)
    scan_at = [index for index, (marker, _, _) in enumerate(segments) if marker == 0xDA]
    index = min(scan_at[1:], key=lambda i: segments[i][2] - segments[i][1])
    _, start, end = segments[index]
    marker, table_start, table_end = segments[index - 1]
    table = data[table_start:table_end] if marker == 0xC4 else b""
    body = data[: segments[-1][1]]  # everything before EOI
    return body + (table + data[start:end]) * (scans - len(scan_at)) + b"\xff\xd9"


def with_app_segment(data: bytes, payload: bytes, marker: int = 0xE1) -> bytes:
    """``data`` with one more APPn segment right after SOI (e.g. an EXIF block holding a thumbnail)."""
    return data[:2] + bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def jpeg_with_many_segments(count: int = 2000) -> bytes:
    """A small JPEG with ``count`` empty comment segments before its frame header: each costs Pillow's
    header parser (a Python loop) a turn, and a few MB of them take it seconds."""
    data = encode(scene((64, 48)), "JPEG")
    return data[:2] + b"\xff\xfe\x00\x02" * count + data[2:]
