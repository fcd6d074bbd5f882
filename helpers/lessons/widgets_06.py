"""Notebook 06's views: one message wrapped layer by layer, a rebuilt connection, its pcap file.

    from helpers.lessons.widgets_06 import encapsulation_table
    print(encapsulation_table("ПАЛИНДРОМ"))

The views are pure functions (a message or segments in, a Table or HTML out) so
tests can check them without a browser; ``encapsulation_widget`` only wires one
to ipywidgets, which is imported inside it because ``import helpers`` must stay
light.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from helpers.show.hexviews import hexview
from helpers.show.tables import Table
from helpers.wire.handshake import Segment
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


def segments_table(segments: Sequence[Segment], title: str = "") -> Table:
    """One row per rebuilt segment: direction, flags, numbers, data and the call behind it.

    The data column decodes UTF-8 text (with its size), because a row of escaped
    bytes would hide the message the lesson follows.
    """
    rows = []
    for number, segment in enumerate(segments, 1):
        arrow = "->" if segment.sender == "client" else "<-"
        try:
            data = repr(segment.payload.decode("utf-8")) if segment.payload else ""
        except UnicodeDecodeError:
            data = f"{len(segment.payload)} bytes, not UTF-8"
        rows.append(
            (
                number,
                f"client {arrow} server",
                segment.flag_names,
                segment.seq,
                segment.ack if segment.ack or segment.flag_names != "SYN" else "",
                len(segment.payload),
                data,
                segment.cause,
            )
        )
    return Table(
        ["#", "direction", "flags", "seq", "ack", "bytes", "data", "sent because of"],
        rows,
        caption=title or f"{len(rows)} segments, rebuilt from the recorded socket calls",
    )


class PcapDownload:
    """A pcap file as a download link in JupyterLab, and a one-line description as text.

    The link holds the file itself (a data: URL), so it works on a shared hub
    too: the file lands in the student's browser, next to their Wireshark.
    """

    def __init__(self, data: bytes, filename: str, packets: int) -> None:
        self.data = bytes(data)
        self.filename = filename
        self.packets = packets

    def __repr__(self) -> str:
        return f"{self.filename}: {self.packets} packets, {len(self.data)} bytes (pcap, raw IPv4)"

    def _repr_html_(self) -> str:
        encoded = base64.b64encode(self.data).decode("ascii")
        name = html.escape(self.filename, quote=True)
        return (
            f'<a download="{name}" href="data:application/vnd.tcpdump.pcap;base64,{encoded}">'
            f"Download {html.escape(self.filename)}</a> ({self.packets} packets, "
            f"{len(self.data)} bytes): open it in Wireshark"
        )


def pcap_download(data: bytes, filename: str, packets: int) -> PcapDownload:
    """Offer the pcap bytes ``data`` (``packets`` records) as ``filename``."""
    return PcapDownload(data, filename, packets)
