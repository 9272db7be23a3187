"""Plain-text tables for the CLI's reports (``models list``, ``compare``'s summary): columns
padded to their widest cell in terminal cells (a CJK model name takes two per character),
numbers right-aligned where asked, trailing spaces cut."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TextIO

from rich.cells import cell_len


def write_table(out: TextIO, rows: Sequence[Sequence[str]], *, right: Collection[int] = (), indent: str = "") -> None:
    """Write ``rows`` (the first is the heading), two spaces between columns; the columns
    whose indexes are in ``right`` aligned to the right."""
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = []
        for index, (cell, width) in enumerate(zip(row, widths, strict=True)):
            gap = " " * (width - cell_len(cell))
            cells.append(gap + cell if index in right else cell + gap)
        out.write(indent + "  ".join(cells).rstrip() + "\n")
