"""Counting a JPEG's scans from its bytes, before any decoder sees them.

A progressive JPEG is a sequence of scans, and libjpeg walks every block of the picture once per
scan, however little data the scan holds. A file of a few megabytes can carry tens of thousands of
near-empty scans and keep one decode busy for minutes, in C code that Python cannot interrupt. So
the scans are counted first, by walking the marker segments, and a file with too many is refused.
"""

from __future__ import annotations

import re

# Baseline JPEGs have 1 scan; libjpeg's default progressive script has 10 (6 for greyscale), and
# encoders that optimise their scripts stay in the tens. Decoders that bound scans at all do so in
# the low hundreds; 100 leaves real files a wide margin and caps a decode at 100 passes over the blocks.
MAX_SCANS = 100

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
# Inside entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker
# (0xD0-0xD7); anything else, after any number of 0xFF fill bytes, is the next marker.
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xff\xd0-\xd7]")
# Markers that stand alone, without a length field: TEM and RSTn (SOI and EOI are handled apart).
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def count_scans(data: bytes, *, stop_after: int | None = None) -> int:
    """The number of SOS segments of the first picture in ``data`` (up to its EOI).

    Walks marker segments by their length fields, so an embedded EXIF thumbnail (inside APP1)
    is never counted; the entropy-coded data after each SOS is skipped with one regular-expression
    search (C speed). Stops counting at ``stop_after + 1``. Damaged structure ends the walk with
    the count so far: the decoder rejects what it cannot read.
    """
    if data[:2] != b"\xff\xd8":
        return 0
    scans, pos, end = 0, 2, len(data)
    while pos + 1 < end:
        if data[pos] != 0xFF:
            return scans  # garbage between segments: libjpeg warns and resyncs, the decode decides
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            return scans
        if marker == _SOI or marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > end:
            return scans
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == _SOS:
            scans += 1
            if stop_after is not None and scans > stop_after:
                return scans
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return scans
            pos = found.start()
    return scans
