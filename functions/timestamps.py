"""How the API writes times."""

import datetime


def iso(value: datetime.datetime) -> str:
    """A timestamp as the API writes it: UTC, ISO 8601, with a Z."""
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
