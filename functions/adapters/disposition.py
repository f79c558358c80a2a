"""``Content-Disposition: attachment`` for any file name, as RFC 6266 asks.

Header values are ASCII on the wire: a raw UTF-8 name makes some servers stall (moto) and
others send a malformed header (S3). So the header carries an ASCII fallback in
``filename="..."`` for old clients and the exact name in ``filename*=UTF-8''...``
(RFC 8187 percent-encoding), which every current browser prefers.
"""

import os
import re
import unicodedata
from urllib.parse import quote

# RFC 8187 attr-char: what may stand unencoded in filename*.
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"
# What the fallback keeps: printable ASCII that needs no escaping inside a quoted string and
# that clients which split on ';' or treat '\\' as a path separator cannot misread.
_FALLBACK_UNSAFE = re.compile(r'[^A-Za-z0-9 !#$&\'()*+,\-.=@\[\]^_`{}~]')
MAX_NAME_CHARS = 200


def attachment_disposition(filename: str) -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` for ``filename``."""
    name = _clean(filename) or "download"
    return f'attachment; filename="{_ascii_fallback(name)}"; filename*=UTF-8\'\'{quote(name, safe=_ATTR_CHAR_SAFE)}'


def _clean(filename: str) -> str:
    # Control and format characters (newlines, bidi overrides) have no place in a saved file's name.
    kept = "".join(char for char in str(filename) if not unicodedata.category(char).startswith("C")).strip()
    if len(kept) <= MAX_NAME_CHARS:
        return kept
    stem, extension = os.path.splitext(kept)
    extension = extension[:16]  # a long cut keeps the extension, which tells the browser the type
    return stem[:MAX_NAME_CHARS - len(extension)] + extension


def _ascii_fallback(name: str) -> str:
    # Accents drop to their base letter (é -> e); anything else without an ASCII form becomes '_'.
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_name = "".join(char for char in decomposed if not unicodedata.combining(char))
    fallback = _FALLBACK_UNSAFE.sub("_", ascii_name)
    stem, extension = os.path.splitext(fallback)
    if not stem.strip("_ ."):
        # Nothing readable is left (a Cyrillic or CJK name): keep the extension at least.
        return "download" + (extension if _FALLBACK_UNSAFE.search(extension) is None else "")
    return fallback
