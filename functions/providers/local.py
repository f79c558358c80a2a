"""The offline provider: a deterministic picture of the prompt, drawn with Pillow.

It is the default when no provider keys are configured, so the whole
generation flow (run, delayed polls, done) works on a laptop with no network.
The job id carries everything needed to draw the image and the time it was
started, so any process can answer ``status`` (Lambda functions share no memory).

Deliberate hooks for tests and the UI: a prompt containing the word
``censored-test`` ends ``censored``, one containing ``fail-test`` ends
``failed``, both after the usual delay. Unlike Fusion Brain, a finished job
can be read any number of times.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import math
import random
import re
import time
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont

from functions.providers.base import STANDARD_STYLES, GenerationRequest, PollResult, RunResult

JOB_PREFIX = "local-"
MIN_SIDE = 16
MAX_SIDE = 2048

_STYLE_NAMES = tuple(style["name"] for style in STANDARD_STYLES)
_CENSORED_HOOK = re.compile(r"\bcensored-test\b", re.IGNORECASE)
_FAIL_HOOK = re.compile(r"\bfail-test\b", re.IGNORECASE)

# A palette per style, so the style visibly changes the picture.
_PALETTES = {
    "DEFAULT": [(36, 59, 85), (20, 30, 48), (235, 94, 40), (250, 199, 72), (64, 145, 108), (237, 242, 244)],
    "ANIME": [(255, 183, 197), (164, 215, 255), (255, 240, 170), (190, 160, 255), (120, 220, 200), (255, 255, 255)],
    "UHD": [(15, 32, 39), (44, 83, 100), (173, 146, 104), (218, 205, 180), (92, 120, 80), (200, 80, 50)],
    "KANDINSKY": [(245, 235, 210), (20, 20, 20), (214, 40, 40), (0, 82, 165), (250, 200, 20), (30, 140, 80)],
}


class LocalProvider:
    """Draws the image itself after ``delay_seconds``; ``clock`` returns wall-clock seconds."""

    name = "local"
    supports_negative_prompt = True

    def __init__(self, delay_seconds: float = 3.0, *, clock: Callable[[], float] = time.time):
        self.delay_seconds = max(0.0, float(delay_seconds))
        self._clock = clock

    def run(self, req: GenerationRequest) -> RunResult:
        """Start a job at once; its id encodes the request, the start time and the delay."""
        for side, value in (("width", req.width), ("height", req.height)):
            if not isinstance(value, int) or not MIN_SIDE <= value <= MAX_SIDE:
                return RunResult.rejected(f"{side} must be a whole number from {MIN_SIDE} to {MAX_SIDE}.")
        if not req.prompt or not req.prompt.strip():
            return RunResult.rejected("The prompt is empty.")
        if req.style is not None and req.style not in _STYLE_NAMES:
            return RunResult.rejected(f"Unknown style {req.style!r}; choose one of {', '.join(_STYLE_NAMES)}.")
        job = {
            "v": 1,
            "p": req.prompt,
            "w": req.width,
            "h": req.height,
            "s": req.style,
            "n": req.negative_prompt,
            "t": math.floor(self._clock() * 1000) / 1000,  # rounded down: delay 0 means ready at once
            "d": self.delay_seconds,  # carried along so every process agrees when the job is ready
        }
        encoded = base64.urlsafe_b64encode(json.dumps(job, separators=(",", ":")).encode()).rstrip(b"=")
        return RunResult.started(JOB_PREFIX + encoded.decode("ascii"), retry_after=self.delay_seconds)

    def status(self, job_id: str) -> PollResult:
        """Pending until start + delay, then the image (or the hook's outcome)."""
        job = _decode_job(job_id)
        if job is None:
            return PollResult.failed("Unknown job id for the local provider.")
        req, started_at, delay = job
        remaining = started_at + delay - self._clock()
        if remaining > 0:
            stage = "INITIAL" if remaining > delay / 2 else "PROCESSING"
            return PollResult.pending(stage, retry_after=remaining)
        if _CENSORED_HOOK.search(req.prompt):
            return PollResult.censored("The prompt asked for the censored-test outcome.")
        if _FAIL_HOOK.search(req.prompt):
            return PollResult.failed("The prompt asked for the fail-test outcome.")
        return PollResult.done(render_image(req))

    def styles(self) -> list[dict]:
        """The same style names Fusion Brain uses."""
        return [dict(style) for style in STANDARD_STYLES]


def render_image(req: GenerationRequest) -> bytes:
    """PNG bytes of exactly ``req.width`` x ``req.height``; the same request always gives the same bytes."""
    rng = random.Random(_seed(req))
    palette = _PALETTES.get((req.style or "DEFAULT").upper(), _PALETTES["DEFAULT"])
    size = (req.width, req.height)

    first, second = rng.sample(palette, 2)
    image = _gradient(size, first, second, angle=rng.uniform(0, 360))
    _draw_shapes(image, rng, palette)
    if min(size) >= 64:  # text on a thumbnail-sized canvas is only noise
        _draw_caption(image, req.prompt)

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _seed(req: GenerationRequest) -> int:
    # hashlib, not hash(): hash() of a str changes from one process to the next.
    material = json.dumps([req.prompt, req.style, req.width, req.height, req.negative_prompt])
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _gradient(size, first, second, *, angle: float) -> Image.Image:
    ramp = Image.linear_gradient("L").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    # The middle of the rotated ramp is fully covered whatever the angle.
    cx, cy, half = ramp.width // 2, ramp.height // 2, 90
    mask = ramp.crop((cx - half, cy - half, cx + half, cy + half)).resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, second), Image.new("RGB", size, first), mask)


def _draw_shapes(image: Image.Image, rng: random.Random, palette) -> None:
    width, height = image.size
    scale = min(width, height)
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA fills blend onto the RGB canvas
    for _ in range(rng.randint(7, 14)):
        colour = (*rng.choice(palette), rng.randint(90, 200))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.3) * scale
        kind = rng.choice(("circle", "ring", "rectangle", "polygon", "line"))
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if kind == "circle":
            draw.ellipse(box, fill=colour)
        elif kind == "ring":
            draw.ellipse(box, outline=colour, width=max(1, int(radius / 6)))
        elif kind == "rectangle":
            draw.rectangle((cx - radius, cy - radius / 2, cx + radius, cy + radius / 2), fill=colour)
        elif kind == "polygon":
            corners = rng.randint(3, 6)
            turn = rng.uniform(0, 2 * math.pi)
            points = [
                (cx + radius * math.cos(turn + 2 * math.pi * i / corners),
                 cy + radius * math.sin(turn + 2 * math.pi * i / corners))
                for i in range(corners)
            ]
            draw.polygon(points, fill=colour)
        else:
            end = (rng.uniform(0, width), rng.uniform(0, height))
            draw.line(((cx, cy), end), fill=colour, width=max(1, scale // 80))


def _draw_caption(image: Image.Image, prompt: str) -> None:
    width, height = image.size
    font = ImageFont.load_default(size=max(10, min(width, height) // 18))
    small = ImageFont.load_default(size=max(8, min(width, height) // 40))
    margin = max(6, min(width, height) // 30)
    lines = _wrap(prompt.strip(), font, width - 4 * margin, max_lines=3)

    draw = ImageDraw.Draw(image, "RGBA")
    line_height = font.getbbox("Ag")[3] + margin // 3
    box_top = height - margin - len(lines) * line_height - margin
    draw.rounded_rectangle(
        (margin, box_top, width - margin, height - margin), radius=margin, fill=(0, 0, 0, 150)
    )
    for i, line in enumerate(lines):
        draw.text((2 * margin, box_top + margin // 2 + i * line_height), line, font=font, fill=(255, 255, 255))
    # Say plainly that this is the offline stand-in, not a model's work.
    draw.text((margin, margin), "pixelflow local preview", font=small, fill=(255, 255, 255, 200))


def _wrap(text: str, font, max_width: float, *, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        while font.getlength(word) > max_width and len(word) > 1:  # a word wider than the box is cut
            cut = len(word)
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > max_width:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines or [""]


def _decode_job(job_id: str):
    """``(request, started_at, delay)`` from a job id, or None if it is not one of ours."""
    if not isinstance(job_id, str) or not job_id.startswith(JOB_PREFIX):
        return None
    encoded = job_id[len(JOB_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        job = json.loads(raw)
        req = GenerationRequest(
            prompt=str(job["p"]),
            width=int(job["w"]),
            height=int(job["h"]),
            style=job.get("s"),
            negative_prompt=job.get("n"),
        )
        started_at, delay = float(job["t"]), float(job.get("d", 0.0))
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    if not (MIN_SIDE <= req.width <= MAX_SIDE and MIN_SIDE <= req.height <= MAX_SIDE):
        return None  # a forged id must not make us allocate a huge canvas
    return req, started_at, delay
