"""Counting a JPEG's scans from its bytes, before any decoder sees them.

A progressive JPEG is a sequence of scans, and libjpeg walks every block of the picture once per
scan, however little data the scan holds. A file of a few megabytes can carry tens of thousands of
near-empty scans and keep one decode busy for minutes, in C code that Python cannot interrupt. So
the scans are counted first, by walking the marker segments, and a file with too many is refused.
The walk also stops at too many segments of any kind: a million empty comment segments take
Pillow's own header parser (a Python loop) seconds, so the walk runs before it and bounds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Baseline JPEGs have 1 scan; libjpeg's default progressive script has 10 (6 for greyscale), and
# encoders that optimise their scripts stay in the tens. Decoders that bound scans at all do so in
# the low hundreds; 100 leaves real files a wide margin and caps a decode at 100 passes over the blocks.
MAX_SCANS = 100
# Segments of every kind (APPn, DQT, DHT, SOS, COM ...): real files have a few dozen, a 100-scan
# progressive file with a Huffman table before each scan about 220.
MAX_SEGMENTS = 1000

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
# Inside entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker
# (0xD0-0xD7); anything else, after any number of 0xFF fill bytes, is the next marker.
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xff\xd0-\xd7]")
# Between segments libjpeg skips any garbage up to the next 0xFF that starts a marker (its
# next_marker()), and so must the walk: stopping there would let one junk byte hide every scan.
_RESYNC = re.compile(rb"\xff+[^\x00\xff]")
# Markers that stand alone, without a length field: TEM and RSTn (SOI and EOI are handled apart).
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class Structure:
    """What the marker walk saw: SOS segments and segments of any kind (both up to just past their limit)."""

    scans: int
    segments: int

    @property
    def within_limits(self) -> bool:
        return self.scans <= MAX_SCANS and self.segments <= MAX_SEGMENTS


def count_scans(data: bytes) -> int:
    """The number of SOS segments of the first picture in ``data`` (up to its EOI), without limits."""
    return walk(data, max_scans=None, max_segments=None).scans


def walk(data: bytes, *, max_scans: int | None = MAX_SCANS, max_segments: int | None = MAX_SEGMENTS) -> Structure:
    """Walk the first picture's marker segments (up to its EOI), stopping once a limit is passed.

    Segments are skipped by their length fields, so an embedded EXIF thumbnail (inside APP1) is
    never counted; the entropy-coded data after each SOS is skipped with one regular-expression
    search (C speed). Garbage between segments is skipped to the next marker, as libjpeg skips
    it; a truncated segment ends the walk with what was seen so far (the decoder rejects it).
    """
    scans = segments = 0
    if data[:2] != b"\xff\xd8":
        return Structure(0, 0)
    pos, end = 2, len(data)
    while pos + 1 < end:
        if (max_scans is not None and scans > max_scans) or (max_segments is not None and segments > max_segments):
            break
        if data[pos] != 0xFF:
            found = _RESYNC.search(data, pos)  # garbage between segments: resync as libjpeg does
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            break
        segments += 1
        if marker == _SOI or marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > end:
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == _SOS:
            scans += 1
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
    return Structure(scans, segments)
