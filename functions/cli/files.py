"""Local files: expand folders, tell images by their content, hash them."""

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from functions.imaging.source import sniff  # the server's own rule: the content decides, never the name

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
                 "avif": "image/avif", "heic": "image/heic"}
HEAD_BYTES = 4096  # enough for every signature sniff() reads (AVIF's ftyp box is the longest)


def expand(paths: Iterable[str], recursive: bool) -> list[Path]:
    """Files named, and the files in folders named (their sub-folders too with ``recursive``), sorted, once each.

    Hidden files inside folders (.DS_Store and the like) are left out; a file named explicitly never is.
    """
    found: list[Path] = []
    seen = set()

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            walker = sorted(path.rglob("*")) if recursive else sorted(path.iterdir())
            for child in walker:
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden:
                    add(child)
        else:
            add(path)
    return found


def image_type(path: Path) -> str | None:
    """jpeg, png, webp, gif or avif when the file starts like one, else None."""
    with open(path, "rb") as handle:
        return sniff(handle.read(HEAD_BYTES))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
