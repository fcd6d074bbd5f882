"""Notebook 06's widgets: one message wrapped layer by layer, as a table and as you type.

    from helpers.lessons.widgets_06 import encapsulation_table
    print(encapsulation_table("ПАЛИНДРОМ"))

The view is a pure function (message in, a Table out) so tests can check it
without a browser; ``encapsulation_widget`` only wires it to ipywidgets, which is
imported inside it because ``import helpers`` must stay light.
"""

from __future__ import annotations

import html
from typing import Any

from helpers.show.hexviews import hexview
from helpers.show.tables import Table
from helpers.wire.packets import ETHERNET_MIN_FRAME, encapsulate

# One Ethernet frame carries at most 1500 bytes of IP packet (the MTU): 1460 of
# message after the IPv4 and TCP headers. Longer messages TCP splits into segments.
MAX_MESSAGE_BYTES = 1460


def encapsulation_table(message: str) -> Table:
    """Each wrapping of ``message``: its size, what its header adds and its checksum."""
    wrapped = encapsulate(message)
    padding = len(wrapped.frame) - 14 - len(wrapped.packet)
    rows = [
        ("7 Application", "text", f"{len(message)} characters", "", ""),
        ("6 Presentation", "UTF-8 bytes", f"{len(wrapped.message)} bytes", "", ""),
        ("5 Session", "the connection", "no bytes of its own", "", ""),
        (
            "4 Transport",
            "TCP segment",
            f"{len(wrapped.segment)} bytes",
            "20-byte header",
            f"0x{int.from_bytes(wrapped.segment[16:18], 'big'):04x} over pseudo-header + segment",
        ),
        (
            "3 Network",
            "IPv4 packet",
            f"{len(wrapped.packet)} bytes",
            "20-byte header",
            f"0x{int.from_bytes(wrapped.packet[10:12], 'big'):04x} over the header only",
        ),
        (
            "2 Data link",
            "Ethernet II frame",
            f"{len(wrapped.frame)} bytes",
            "14-byte header"
            + (f" + {padding} bytes padding to {ETHERNET_MIN_FRAME}" if padding else ""),
            "FCS (CRC-32) added by the card, not shown",
        ),
        (
            "1 Physical",
            "bits",
            f"{len(wrapped.frame) + 12} bytes",
            "8-byte preamble and SFD (+ the 4-byte FCS)",
            "",
        ),
    ]
    return Table(
        ["layer", "unit", "size", "adds", "checksum"],
        rows,
        caption=f"{message!r} wrapped for 127.0.0.1:54321 -> 127.0.0.1:33333",
        wrap=("adds", "checksum"),
        wrap_width=22,
    )


def _too_long(message: str) -> str | None:
    size = len(message.encode("utf-8"))
    if size <= MAX_MESSAGE_BYTES:
        return None
    return (
        f"{size} bytes do not fit into one Ethernet frame (at most {MAX_MESSAGE_BYTES} "
        "bytes of message after the IPv4 and TCP headers); TCP would split them into "
        "several segments."
    )


def encapsulation_widget(message: str = "ПАЛИНДРОМ") -> Any:
    """Type a message and watch every layer change: sizes, checksums, the coloured bytes."""
    import ipywidgets as widgets

    box = widgets.Text(
        value=message,
        description="Message:",
        continuous_update=True,
        layout=widgets.Layout(width="32em"),
    )
    sizes = widgets.HTML()
    view = widgets.HTML()

    def show(_change: dict | None = None) -> None:
        problem = _too_long(box.value)
        if problem:
            sizes.value = f"<b>{html.escape(problem)}</b>"
            view.value = ""
            return
        sizes.value = encapsulation_table(box.value)._repr_html_()
        view.value = hexview(encapsulate(box.value).frame, title="Ethernet II frame")._repr_html_()

    show()
    box.observe(show, names="value")
    return widgets.VBox([box, sizes, view])
