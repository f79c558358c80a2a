"""Download links for files with any name: they complete, and the browser sees the exact name.

Through the production storage adapter and the real moto server; the name is read back from
the Content-Disposition header the storage answers with, as a browser reads it (RFC 6266:
``filename*`` wins over the ASCII ``filename`` fallback).
"""

import re
import urllib.parse
import uuid

import pytest
import requests

from functions import wiring

NAMES = [
    "фото.jpg",
    "写真 2026.png",
    "🎉 party 🎂.webp",
    'my "best" shot.jpg',
    "a;b=c.jpg",
    "back\\slash.jpg",
    "café déjà vu.jpeg",
    "100% done, (final).gif",
    "plain.jpg",
]


def browser_filename(header: str) -> str:
    """The name a browser saves under: ``filename*`` (RFC 8187) if present, else ``filename``."""
    extended = re.search(r"filename\*=([^;]+)", header)
    if extended:
        charset, _, encoded = extended.group(1).strip().split("'", 2)
        assert charset.lower() == "utf-8"
        return urllib.parse.unquote(encoded, encoding="utf-8", errors="strict")
    return re.search(r'filename="([^"]*)"', header).group(1)


@pytest.mark.parametrize("name", NAMES)
def test_given_a_file_name_when_downloading_through_a_presigned_link_then_it_completes_with_that_name(stack, name):
    storage = wiring.storage()
    key = f"originals/test-downloads/{uuid.uuid4()}.bin"
    storage.put(key, b"pixels" * 100, content_type="image/jpeg")

    url = storage.presigned_get(key, expires_in=60, download_name=name)
    answer = requests.get(url, timeout=10)

    assert answer.status_code == 200 and answer.content == b"pixels" * 100
    header = answer.headers["Content-Disposition"]
    assert header.isascii() and header.startswith("attachment;")
    assert browser_filename(header) == name
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert fallback.isascii() and not set(fallback) & set('"\\;')
