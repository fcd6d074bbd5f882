"""One small table type for everything the course shows as a table.

Example::

    >>> from helpers.tables import Table
    >>> print(Table(["port", "service"], [(25, "smtp"), (80, "http")]))
    port  service
    ----  -------
    25    smtp
    80    http

JupyterLab shows ``_repr_html_`` (inline styles only, so the notebook renders
the same on any viewer); ``str()`` and ``repr()`` give aligned text, which is what
nbval compares and what a terminal shows.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

_CELL_STYLE = (
    "text-align:left; padding:2px 8px; font-family:monospace; vertical-align:top; white-space:pre"
)
_HEAD_STYLE = _CELL_STYLE + "; border-bottom:1px solid #999"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class Table:
    """Columns and rows of values; renders as HTML in JupyterLab and as text elsewhere.

    ``rows`` keeps the values as given (tests and pictures read them); the
    renderings turn each value into ``str`` (``None`` shows as an empty cell).
    """

    def __init__(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = ""):
        self.columns: list[str] = [str(c) for c in columns]
        self.rows: list[tuple[Any, ...]] = [tuple(row) for row in rows]
        self.caption = caption
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {row!r} has {len(row)} values for {len(self.columns)} columns"
                )

    def column(self, name: str) -> list[Any]:
        """The values of one column, top to bottom."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        cells = [[_text(v) for v in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in cells:
            widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        lines = [self.caption] if self.caption else []
        lines.append(line(self.columns))
        lines.append(line(["-" * w for w in widths]))
        lines.extend(line(row) for row in cells)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = ['<table style="border-collapse:collapse">']
        if self.caption:
            parts.append(
                f'<caption style="text-align:left; font-weight:bold">'
                f"{html.escape(self.caption)}</caption>"
            )
        head = "".join(f'<th style="{_HEAD_STYLE}">{html.escape(c)}</th>' for c in self.columns)
        parts.append(f"<thead><tr>{head}</tr></thead><tbody>")
        for row in self.rows:
            body = "".join(
                f'<td style="{_CELL_STYLE}">{html.escape(_text(v))}</td>' for v in row
            )
            parts.append(f"<tr>{body}</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)
