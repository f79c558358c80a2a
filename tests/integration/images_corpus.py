"""Images the pipeline tests upload, generated here (no binary fixtures)."""

import io
import struct
import zlib

from PIL import Image


def photo(width=640, height=480, fmt="JPEG", mode="RGB", **save) -> bytes:
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    if mode == "RGB":
        r = Image.linear_gradient("L").resize((width, height))
        g = r.rotate(90).resize((width, height))
        image = Image.merge("RGB", (r, g, r.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def noisy_png(width, height) -> bytes:
    """Noise does not compress, so a cut in the middle really loses pixel rows."""
    out = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(out, "PNG")
    return out.getvalue()


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def jpeg_with_orientation_6(width=300, height=200) -> bytes:
    """Stored landscape with a red top-left corner; orientation 6 means 'rotate 90° clockwise to view'."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (200, 150), (10, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_bomb(width=20000, height=20000) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * width
    data = zlib.compress(row * 16, 9)  # far fewer rows than declared: never decoded anyway
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def cmyk_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("CMYK", (160, 120), (0, 128, 255, 0)).save(out, "JPEG")
    return out.getvalue()


def png_16bit() -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((256, 128)).convert("I;16").save(out, "PNG")
    return out.getvalue()


def palette_png_with_transparency() -> bytes:
    image = Image.new("P", (100, 80), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * (254 * 3))
    image.paste(1, (20, 20, 60, 60))
    out = io.BytesIO()
    image.save(out, "PNG", transparency=0)
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (90, 60), index) for index in (1, 2, 3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (252 * 3))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


PHOTO = photo(640, 480)  # what the loopback origins serve for imports
