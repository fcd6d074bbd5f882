"""Notebook 01's widgets: the seven layers as a table, OSI beside TCP/IP, the layer explorer.

    from helpers.lessons.widgets_01 import layers_table
    print(layers_table())

The views are pure functions (a layer in, HTML or a Table out) so tests can check
them without a browser; ``layer_explorer`` only wires them to ipywidgets, which
is imported inside it because ``import helpers`` must stay light.
"""

from __future__ import annotations

import html
from typing import Any

from helpers.show.hexviews import hexview
from helpers.show.tables import Table
from helpers.wire.layers import LAYERS, Layer, layer_named
from helpers.wire.packets import Encapsulation, encapsulate, ethernet_fcs

PREAMBLE_AND_SFD = bytes([0x55] * 7 + [0xD5])
LAYERS_WRAP_WIDTH = 30  # characters per line of the layers table's text columns


def _bits_on_the_wire(data: bytes) -> str:
    """Ethernet sends each byte least significant bit first."""
    return " ".join(f"{byte:08b}"[::-1] for byte in data)


def _sample_html(layer: Layer, wrapped: Encapsulation, text: str) -> str:
    if layer.number == 7:
        return f"<code>{html.escape(repr(text))}</code> (a str of {len(text)} characters)"
    if layer.number == 6:
        return (
            f"<code>{html.escape(wrapped.message.hex(' ') or '(no bytes)')}</code> "
            f"({len(wrapped.message)} bytes of UTF-8)"
        )
    if layer.number == 5:
        return html.escape(layer.data)
    if layer.number == 4:
        return hexview(wrapped.segment, "tcp", "TCP segment", legend_open=False)._repr_html_()
    if layer.number == 3:
        return hexview(wrapped.packet, "ipv4", "IPv4 packet", legend_open=False)._repr_html_()
    if layer.number == 2:
        return hexview(wrapped.frame, title="Ethernet II frame", legend_open=False)._repr_html_()
    fcs = ethernet_fcs(wrapped.frame)
    on_wire = len(PREAMBLE_AND_SFD) + len(wrapped.frame) + len(fcs)
    return (
        f"{on_wire} bytes go out: preamble and start-of-frame delimiter "
        f"<code>{PREAMBLE_AND_SFD.hex(' ')}</code>, the {len(wrapped.frame)}-byte frame, "
        f"the frame check sequence <code>{fcs.hex(' ')}</code> (CRC-32).<br>"
        "Each byte leaves least significant bit first; the frame starts with<br>"
        f"<code>{_bits_on_the_wire(wrapped.frame[:6])} ...</code>"
    )


def layer_card(layer: Layer | str, message: str = "ПАЛИНДРОМ") -> str:
    """HTML for one layer: what it does, its protocols, the Python there, and ``message`` there."""
    layer = layer_named(layer) if isinstance(layer, str) else layer
    wrapped = encapsulate(message)
    rows = [
        ("What it does", html.escape(layer.description)),
        ("Protocols", html.escape(", ".join(layer.protocols))),
        ("Python", html.escape(", ".join(layer.python))),
        ("The message here", html.escape(layer.data)),
    ]
    body = "".join(
        f'<tr><th style="text-align:left;vertical-align:top;padding-right:12px">'
        f'{name}</th><td style="text-align:left">{value}</td></tr>'
        for name, value in rows
    )
    return (
        f"<h4>{layer.number}. {html.escape(layer.name)} layer</h4>"
        f"<table>{body}</table>"
        f'<div style="margin-top:6px">{_sample_html(layer, wrapped, message)}</div>'
    )


def layer_explorer(message: str = "ПАЛИНДРОМ", layer: str = "Transport") -> Any:
    """Pick a layer, see its description, protocols, Python modules and ``message`` there."""
    import ipywidgets as widgets

    picker = widgets.ToggleButtons(
        options=[item.name for item in reversed(LAYERS)],
        value=layer_named(layer).name,
        description="Layer:",
    )
    card = widgets.HTML(value=layer_card(picker.value, message))

    def show(change: dict) -> None:
        card.value = layer_card(change["new"], message)

    picker.observe(show, names="value")
    return widgets.VBox([picker, card])


def layers_table() -> Table:
    """The seven layers, top (application) first as they are usually drawn, as a Table."""
    rows = [
        (
            layer.number,
            layer.name,
            layer.description,
            ", ".join(layer.protocols),
            ", ".join(layer.python),
        )
        for layer in reversed(LAYERS)
    ]
    # Folded, the three text columns keep the table about 110 characters wide
    # instead of 236, so it fits a notebook page without a scroll bar.
    return Table(
        ["#", "layer", "what it does", "protocols", "Python"],
        rows,
        caption="The OSI model, as the source chapter describes it",
        wrap=("what it does", "protocols", "Python"),
        wrap_width=LAYERS_WRAP_WIDTH,
    )


SOCKET_API_ROW = ("", "the socket API", "", "socket, bind, connect, send, recv, close", "")


def models_table() -> Table:
    """OSI's seven layers beside TCP/IP's four, with who does each layer's work.

    A row for the socket API sits where it really is: between the program's
    layers and the operating system's, which is the line the lessons cross.
    """
    rows: list[tuple[object, ...]] = []
    for layer in reversed(LAYERS):
        if layer.number == 4:
            rows.append(SOCKET_API_ROW)
        rows.append(
            (layer.number, layer.name, layer.tcp_ip, ", ".join(layer.protocols), layer.runs_in)
        )
    return Table(
        ["#", "OSI layer", "TCP/IP layer", "protocols", "done by"],
        rows,
        caption="The OSI model beside the TCP/IP model (RFC 1122)",
        wrap=("protocols",),
        wrap_width=LAYERS_WRAP_WIDTH,
    )
