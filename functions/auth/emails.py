"""E-mail addresses as account keys: one account per address, compared case-insensitively."""

import unicodedata

from functions.errors import InvalidInput

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit minus the angle brackets
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321

# Legal only inside quoted local parts or domain literals, which we do not accept.
_FORBIDDEN = frozenset('"(),:;<>[\\]')


def normalise_email(raw):
    """Return the address stripped and lower-cased, or raise InvalidInput(field="email")."""
    if not isinstance(raw, str):
        raise _invalid("E-mail address must be a string.")
    # lower(), not casefold(): casefold would merge distinct addresses (ß -> ss).
    # Lower first: the limits must hold for what is stored.
    address = raw.strip().lower()
    if not address:
        raise _invalid("E-mail address is required.")
    if len(address) > MAX_EMAIL_LENGTH:
        raise _invalid(f"E-mail address must be at most {MAX_EMAIL_LENGTH} characters long.")
    if any(_is_forbidden(char) for char in address):
        raise _invalid("E-mail address must not contain spaces, control characters or quotes.")
    if address.count("@") != 1:
        raise _invalid("E-mail address must contain exactly one '@'.")
    local, domain = address.split("@")
    if not local:
        raise _invalid("E-mail address needs a name before the '@'.")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise _invalid(
            f"The part before the '@' must be at most {MAX_LOCAL_PART_LENGTH} characters long."
        )
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise _invalid("E-mail address needs a domain such as example.com after the '@'.")
    return address


def _is_forbidden(char):
    # Category C covers control, format (zero-width, bidi overrides), surrogate and unassigned.
    return char.isspace() or unicodedata.category(char).startswith("C") or char in _FORBIDDEN


def _invalid(message):
    return InvalidInput(message, field="email")
