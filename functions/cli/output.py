"""How the CLI talks: results on stdout (a table, or JSON with --json), progress on stderr.

Progress is drawn with rich only when stderr is a terminal; otherwise each event is one plain
line, so CI logs stay readable.
"""

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class Output:
    """The streams of one command run."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        """Draw bars and spinners (stderr is a terminal)."""
        return self.err.is_terminal

    def note(self, message: str) -> None:
        """A progress or status line on stderr (plain text, never markup from data)."""
        self.err.print(message, markup=False)

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def line(self, message: str) -> None:
        """A result line on stdout (as it is when piped: rich would expand tabs and wrap)."""
        if self.out.is_terminal:
            self.out.print(message, markup=False)
        else:
            sys.stdout.write(message + "\n")
            sys.stdout.flush()

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Aligned columns on a terminal; tab-separated lines (never wrapped) when piped or logged."""
        if not self.out.is_terminal:
            for row in (columns, *rows):
                self.line("\t".join("" if value is None else str(value) for value in row))
            return
        table = Table(*columns, box=None, pad_edge=False, header_style="bold")
        for row in rows:
            table.add_row(*("" if value is None else str(value) for value in row))
        self.out.print(table)


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"
