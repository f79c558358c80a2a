"""Images for the analysis tests (HEIC, animations, photo-like scenes), made here with Pillow and pillow-heif."""

import io
import random

import pillow_heif
from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size=(1200, 900)) -> Image.Image:
    """A photo-like picture: a sky-to-ground gradient, soft blobs and a few sharp shapes, different per seed."""
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    gradient = Image.linear_gradient("L").resize(size)
    image = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(width // 20, width // 4)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(rng.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(width / 150))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle((x, y, x + rng.randrange(20, width // 5), y + rng.randrange(20, height // 5)),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def heic(image: Image.Image, *, orientation: int | None = None, quality: int = 80) -> bytes:
    """A HEIC written by libheif through pillow-heif (its EXIF orientation becomes libheif's own transform)."""
    options = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    pillow_heif.register_heif_opener()
    return encode(image, "HEIF", **options)


def heic_10_bit(size=(320, 240)) -> bytes:
    """A 10-bit HEIC: a 16-bit-per-channel gradient that libheif stores in 10 bits."""
    width, height = size
    row = b"".join((x * 65535 // (width - 1)).to_bytes(2, "little") * 3 for x in range(width))
    frame = pillow_heif.from_bytes(mode="RGB;16", size=size, data=row * height)
    out = io.BytesIO()
    frame.save(out, quality=-1)  # lossless keeps the 10 bits
    return out.getvalue()


def with_claimed_size(data: bytes, width: int, height: int) -> bytes:
    """The same HEIC with its 'ispe' box (the primary image's stated size) claiming another size."""
    at = data.index(b"ispe")
    # box: size(4) 'ispe'(4) version+flags(4) width(4) height(4)
    return data[:at + 8] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[at + 16:]


def animation(frames: int, size=(120, 80), durations=None, loop: int = 0, fmt: str = "GIF") -> bytes:
    """A frames-long animation, each frame a different shade with a moving square."""
    pictures = []
    for index in range(frames):
        # Every frame differs (Pillow merges identical neighbours into one longer frame).
        picture = Image.new("RGB", size, (index * 37 % 256, index // 256 % 256, 160))
        if min(size) >= 4:
            ImageDraw.Draw(picture).rectangle((index % size[0], 0, index % size[0] + size[0] // 4, size[1] // 4),
                                              fill=(255, 255, 255))
        pictures.append(picture)
    options = {"save_all": True, "append_images": pictures[1:], "loop": loop,
               "duration": durations if durations is not None else 100}
    if fmt == "WEBP":
        options["lossless"] = True
    return encode(pictures[0], fmt, **options)


def subject_on_flat(size=(1200, 400), subject_at=(0.8, 0.5), radius=60) -> Image.Image:
    """A flat grey background with one textured red subject centred at the given fractions of the size."""
    image = Image.new("RGB", size, (128, 128, 128))
    draw = ImageDraw.Draw(image)
    cx, cy = int(size[0] * subject_at[0]), int(size[1] * subject_at[1])
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(210, 40, 30))
    for step in range(-radius, radius, 12):
        draw.line((cx + step, cy - radius // 2, cx + step, cy + radius // 2), fill=(20, 20, 20), width=3)
    return image
