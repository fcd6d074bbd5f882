"""One small table type for everything the course shows as a table.

Example::

    >>> from helpers.show.tables import Table
    >>> print(Table(["port", "service"], [(25, "smtp"), (80, "http")]))
    port  service
    ----  -------
    25    smtp
    80    http

JupyterLab shows ``_repr_html_`` (inline styles only, so the notebook renders
the same on any viewer); ``str()`` and ``repr()`` give aligned text, which is what
nbval compares and what a terminal shows.

Long prose columns (a layer's description) would make a table hundreds of
characters wide; ``wrap=`` names the columns to fold (or ``True`` for all)::

    >>> print(Table(["#", "what"], [(1, "bits on a wire or through the air")],
    ...             wrap=("what",), wrap_width=16))
    #  what
    -  --------------
    1  bits on a wire
       or through the
       air
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Table"]

_CELL_STYLE = (
    "text-align:left; padding:2px 8px; font-family:monospace; vertical-align:top; white-space:pre"
)
_HEAD_STYLE = _CELL_STYLE + "; border-bottom:1px solid #999"
# A wrapped cell folds at spaces like prose and keeps line breaks the text already has;
# a word longer than the column (a bytes repr, say) breaks anywhere, as in the text form.
_WRAPPED_CELL_STYLE = (
    _CELL_STYLE.replace("white-space:pre", "white-space:pre-line") + "; overflow-wrap:anywhere"
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class Table:
    """Columns and rows of values; renders as HTML in JupyterLab and as text elsewhere.

    ``rows`` keeps the values as given (tests and pictures read them); the
    renderings turn each value into ``str`` (``None`` shows as an empty cell).
    """

    def __init__(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        caption: str = "",
        wrap: bool | Iterable[str] = (),
        wrap_width: int = 40,
    ):
        """``wrap`` names the columns whose text folds to ``wrap_width`` characters
        (``True``: every column); by default nothing folds, so a cell is one line."""
        self.columns: list[str] = [str(c) for c in columns]
        self.rows: list[tuple[Any, ...]] = [tuple(row) for row in rows]
        self.caption = caption
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(
                    f"row {row!r} has {len(row)} values for {len(self.columns)} columns"
                )
        if wrap is True or wrap is False:
            self.wrap: tuple[str, ...] = tuple(self.columns) if wrap else ()
        else:
            self.wrap = tuple(str(c) for c in wrap)
            unknown = [c for c in self.wrap if c not in self.columns]
            if unknown:
                raise ValueError(f"wrap names {unknown!r}, which are not among {self.columns!r}")
        if wrap_width < 1:
            raise ValueError(f"wrap_width must be at least 1, not {wrap_width}")
        self.wrap_width = wrap_width

    def column(self, name: str) -> list[Any]:
        """The values of one column, top to bottom."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def _folded(self, column: str, value: Any) -> list[str]:
        """One cell as the text lines it takes: folded if its column wraps, else one line."""
        text = _text(value)
        if column not in self.wrap:
            return [text]
        lines = [
            folded
            for paragraph in text.splitlines()
            for folded in (textwrap.wrap(paragraph, self.wrap_width) or [""])
        ]
        return lines or [""]

    def __str__(self) -> str:
        cells = [
            [self._folded(c, v) for c, v in zip(self.columns, row, strict=True)]
            for row in self.rows
        ]
        widths = [len(c) for c in self.columns]
        for row in cells:
            widths = [max(w, *map(len, v)) for w, v in zip(widths, row, strict=True)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        lines = [self.caption] if self.caption else []
        lines.append(line(self.columns))
        lines.append(line(["-" * w for w in widths]))
        for row in cells:
            height = max(len(v) for v in row)
            for i in range(height):
                lines.append(line([v[i] if i < len(v) else "" for v in row]))
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
        styles = [
            f"{_WRAPPED_CELL_STYLE}; max-width:{self.wrap_width}ch"
            if c in self.wrap
            else _CELL_STYLE
            for c in self.columns
        ]
        for row in self.rows:
            body = "".join(
                f'<td style="{style}">{html.escape(_text(v))}</td>'
                for style, v in zip(styles, row, strict=True)
            )
            parts.append(f"<tr>{body}</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)
