"""How the CLI lays out listings and records: plain tab-separated lines in a pipe, rich tables at a terminal that never
cut an ID or a key (:meth:`kvcli.cli.state.Output.print_table` and ``print_fields`` call these)."""

from __future__ import annotations

from typing import IO

# columns that are never wrapped nor cut (identifiers a user copies): other columns give way first, and when even
# that does not fit the terminal the rows are shown as key/value records instead
KEEP_WHOLE = frozenset({"ID", "Name", "Key", "Resource ID", "Service ID", "Number"})


def _plain_field(text: str) -> str:
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _visible(text: str) -> str:
    """At a terminal: control characters shown escaped instead of acting."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _write_plain(out: IO[str], rows: list[list[str]]) -> None:
    for row in rows:
        out.write("\t".join(_plain_field(c) for c in row) + "\n")
    out.flush()


def _table_width(columns: list[str], rows: list[list[str]], whole: set[int]) -> int:
    """The narrowest table (as _box_table draws it) that wraps neither a header nor a column in ``whole``, and any
    other column only between words."""
    from rich.cells import cell_len

    need = 2 * len(columns) - 1  # rich keeps one padding cell after the last column
    for i, col in enumerate(columns):
        cells = [_visible(r[i]) for r in rows]
        if i in whole:
            need += max(cell_len(c) for c in [col, *cells])
        else:
            need += max([cell_len(col)] + [cell_len(w) for c in cells for w in c.split()])
    return need


def _column_widths(columns: list[str], rows: list[list[str]], whole: set[int], room: int) -> list[int]:
    """Each column's width: its widest cell, less what the others than ``whole`` give way (widest first, never
    below their header or their longest word) until the table fits ``room``."""
    from rich.cells import cell_len

    widths = [max(cell_len(c) for c in [col, *(_visible(r[i]) for r in rows)]) for i, col in enumerate(columns)]
    floors = [w if i in whole else _table_width([columns[i]], [[r[i]] for r in rows], set()) + 0
              for i, w in enumerate(widths)]  # fmt: skip
    excess = sum(widths) + 2 * len(columns) - 1 - room
    while excess > 0:
        give = [i for i, w in enumerate(widths) if w > floors[i]]
        if not give:
            break
        i = max(give, key=lambda j: widths[j])
        widths[i] -= 1
        excess -= 1
    return widths


def _box_table(columns: list[str], rows: list[list[str]], title: str | None, whole: set[int], room: int):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # a rule under the header and no vertical borders: two spaces between columns (one padding, one blank
    # border), nothing at the edges; _table_width counts the same
    table = Table(title=title, show_lines=False, header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, padding=(0, 1, 0, 0))  # fmt: skip
    for i, (col, width) in enumerate(zip(columns, _column_widths(columns, rows, whole, room), strict=True)):
        # a fixed width each: wrapped (between words only, as the width is at least the longest word) or whole
        table.add_column(col, no_wrap=i in whole, overflow="fold", width=width)
    for row in rows:
        table.add_row(*(Text(_visible(c)) for c in row))
    return table
