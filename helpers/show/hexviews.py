"""A coloured hex view of a frame: each layer's bytes in its own colour, every field named.

    >>> from helpers.show.hexviews import hexview
    >>> view = hexview(encapsulate("ПАЛИНДРОМ").frame)   # doctest: +SKIP

In JupyterLab the view renders as HTML: rows of 16 bytes, a colour per header,
two shades alternating so neighbouring fields stay apart, the field's name and
value in each byte's hover title, and a legend listing every field. ``str()``
gives the same information as text (a marker line under each row of bytes), which
is also what a plain terminal and nbval see.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from helpers.wire.packets import Field, dissect

BYTES_PER_ROW = 16

# protocol -> (two alternating background shades, one-letter marker for text)
_STYLE: dict[str, tuple[tuple[str, str], str]] = {
    "Ethernet II": (("#cfe2ff", "#9ec5fe"), "E"),
    "IPv4": (("#d1e7dd", "#a3cfbb"), "I"),
    "TCP": (("#ffe5b4", "#ffcc80"), "T"),
    "UDP": (("#ffe5b4", "#ffcc80"), "U"),
    "Data": (("#e2d9f3", "#c5b3e6"), "D"),
}
_PADDING_STYLE = (("#e9ecef", "#e9ecef"), "p")


def _style(field: Field) -> tuple[tuple[str, str], str]:
    if field.name == "Padding":
        return _PADDING_STYLE
    return _STYLE.get(field.protocol, (("#f8f9fa", "#f8f9fa"), "?"))


def _byte_range(field: Field) -> str:
    last = field.end - 1
    return str(field.start) if last == field.start else f"{field.start}-{last}"


class HexView:
    """Bytes plus their named fields; renders as HTML in JupyterLab and as text elsewhere."""

    def __init__(
        self, data: bytes, fields: Iterable[Field], title: str = "", legend_open: bool = True
    ) -> None:
        self.data = bytes(data)
        self.legend_open = legend_open
        self.fields = tuple(fields)
        self.title = title or f"{len(self.data)} bytes"
        # byte index -> (field, its position among the fields) for colouring
        self._owner: dict[int, tuple[Field, int]] = {}
        for number, field in enumerate(self.fields):
            for index in range(field.start, field.end):
                self._owner[index] = (field, number)

    def _layer_totals(self) -> list[tuple[str, str, int]]:
        """(marker letter, part name, bytes) for each part, in frame order."""
        totals: dict[tuple[str, str], int] = {}
        for field in self.fields:
            key = (
                _style(field)[1],
                "Ethernet padding" if field.name == "Padding" else field.protocol,
            )
            totals[key] = totals.get(key, 0) + field.size
        return [(marker, name, size) for (marker, name), size in totals.items()]

    def text(self) -> str:
        """Rows of hex with a marker line under each (E Ethernet, I IPv4, T TCP, ...),
        then every field with its byte range and value."""
        lines = [self.title]
        lines.append(
            ", ".join(
                f"{marker} = {name} {size} bytes" for marker, name, size in self._layer_totals()
            )
        )
        for row in range(0, len(self.data), BYTES_PER_ROW):
            chunk = self.data[row : row + BYTES_PER_ROW]
            lines.append(f"{row:04x}  " + " ".join(f"{byte:02x}" for byte in chunk))
            markers = []
            for index in range(row, row + len(chunk)):
                owner = self._owner.get(index)
                markers.append(_style(owner[0])[1] * 2 if owner else "  ")
            lines.append("      " + " ".join(markers).rstrip())
        width = max([len("bytes"), *(len(_byte_range(f)) for f in self.fields)])
        name_width = max([len("field"), *(len(f.name) for f in self.fields)])
        proto_width = max([len("header"), *(len(f.protocol) for f in self.fields)])
        lines.append("")
        lines.append(
            f"{'bytes':<{width}}  {'header':<{proto_width}}  {'field':<{name_width}}  value"
        )
        for field in self.fields:
            lines.append(
                f"{_byte_range(field):<{width}}  {field.protocol:<{proto_width}}  "
                f"{field.name:<{name_width}}  {field.value}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        cell = "padding:1px 3px;color:#000;"
        rows = []
        for row in range(0, len(self.data), BYTES_PER_ROW):
            chunk = self.data[row : row + BYTES_PER_ROW]
            spans = []
            for index, byte in enumerate(chunk, start=row):
                owner = self._owner.get(index)
                if owner is None:
                    spans.append(f'<span style="{cell}">{byte:02x}</span>')
                    continue
                field, number = owner
                shade = _style(field)[0][number % 2]
                title = html.escape(
                    f"{field.protocol}: {field.name} = {field.value} (byte {index}, "
                    f"field bytes {_byte_range(field)})",
                    quote=True,
                )
                spans.append(
                    f'<span style="{cell}background:{shade}" title="{title}">{byte:02x}</span>'
                )
            rows.append(
                f'<div><span style="color:#6c757d;padding-right:8px">{row:04x}</span>'
                + "".join(spans)
                + "</div>"
            )
        td = "padding:1px 10px 1px 0;line-height:1.3"  # JupyterLab's default rows are tall
        legend = []
        for number, field in enumerate(self.fields):
            shade = _style(field)[0][number % 2]
            legend.append(
                "<tr>"
                f'<td style="{td};text-align:right">{_byte_range(field)}</td>'
                f'<td style="{td}"><span style="{cell}background:{shade}">'
                f"{html.escape(field.protocol)}"
                "</span></td>"
                f'<td style="{td}">{html.escape(field.name)}</td>'
                f'<td style="{td}">{html.escape(field.value)}</td>'
                "</tr>"
            )
        shades = {marker: shade for (shade, _), marker in [*_STYLE.values(), _PADDING_STYLE]}
        totals = ", ".join(
            f'<span style="{cell}background:{shades.get(marker, "#f8f9fa")}">'
            f"{html.escape(name)}</span> {size} bytes"
            for marker, name, size in self._layer_totals()
        )
        return (
            '<div class="course-hexview">'
            f"<div><b>{html.escape(self.title)}</b>: {totals}</div>"
            '<div style="font-family:monospace;line-height:1.6;margin:4px 0">'
            + "".join(rows)
            + "</div>"
            f"<details{' open' if self.legend_open else ''}>"
            "<summary>Every field (hover a byte to see its field)</summary>"
            '<table style="font-size:90%"><thead><tr><th>bytes</th><th>header</th>'
            "<th>field</th><th>value</th></tr></thead><tbody>"
            + "".join(legend)
            + "</tbody></table></details></div>"
        )


def hexview(
    data: bytes, first: str = "ethernet", title: str = "", legend_open: bool = True
) -> HexView:
    """Show ``data`` (a frame, or a packet/segment with ``first="ipv4"``/``"tcp"``/``"udp"``)."""
    return HexView(data, dissect(data, first), title, legend_open)
