"""The README's generated tables: ``python -m infra.readme_tables routes|settings`` (make routes-table, settings-table).

A script, not a runtime module: it imports the app (to read the routes it serves), which no
module the app itself imports may do.
"""

import sys
from collections.abc import Callable


def routes_table() -> str:
    """Every route the app serves: method, path, whether it needs a token, and its summary."""
    from app import app
    from functions.api.routing import operations

    lines = ["| method | path | auth | what it does |", "| --- | --- | --- | --- |"]
    for op in sorted(operations(app), key=lambda op: (op.tag, op.path, op.method)):
        lines.append(f"| {op.method} | `{op.path}` | {'bearer' if op.auth else 'no'} | {op.summary} |")
    return "\n".join(lines)


def settings_table() -> str:
    """Every setting pixelflow reads: its variable, its default and its sentence."""
    from functions.settings import SETTINGS

    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(empty)"
        lines.append(f"| `{setting.env}` | {default} | {setting.doc} |")
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {"routes": routes_table, "settings": settings_table}


def main(argv) -> int:
    if len(argv) != 1 or argv[0] not in TABLES:
        sys.stderr.write(f"usage: python -m infra.readme_tables {{{'|'.join(TABLES)}}}\n")
        return 2
    sys.stdout.write(TABLES[argv[0]]() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
