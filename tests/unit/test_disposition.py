"""Content-Disposition for downloads (RFC 6266 / RFC 8187): ASCII on the wire, exact name for browsers."""

import re
import urllib.parse

import pytest

from functions.adapters.disposition import attachment_disposition


def _parts(header):
    fallback = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=UTF-8\'\'(\S+)', header)
    assert fallback, header
    return fallback.group(1), urllib.parse.unquote(fallback.group(2), errors="strict")


@pytest.mark.parametrize("name, fallback", [
    ("фото.jpg", "download.jpg"),
    ("写真.png", "download.png"),
    ("🎉 party.webp", "_ party.webp"),
    ('say "cheese".jpg', "say _cheese_.jpg"),
    ("a;b.jpg", "a_b.jpg"),
    ("back\\slash.jpg", "back_slash.jpg"),
    ("café.jpg", "cafe.jpg"),
    ("50%.png", "50_.png"),
    ("plain.jpg", "plain.jpg"),
])
def test_given_a_name_then_the_header_is_ascii_with_a_safe_fallback_and_the_exact_name(name, fallback):
    header = attachment_disposition(name)
    assert header.isascii()
    assert _parts(header) == (fallback, name)


@pytest.mark.parametrize("name, exact", [
    ("line\r\nbreak.jpg", "linebreak.jpg"),
    ("\u202egpj.exe", "gpj.exe"),
    ("", "download"),
    ("   ", "download"),
])
def test_given_control_or_format_characters_then_they_are_dropped(name, exact):
    assert _parts(attachment_disposition(name))[1] == exact


def test_given_a_very_long_name_then_it_is_cut_keeping_the_extension():
    _, exact = _parts(attachment_disposition("я" * 1000 + ".jpg"))
    assert len(exact) == 200 and exact.endswith("я.jpg")
