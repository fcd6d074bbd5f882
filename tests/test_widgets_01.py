"""Notebook 01's widgets: the pure views, and the layer explorer reacting to a change of value."""

from __future__ import annotations

import pytest

from helpers.lessons.widgets_01 import layer_card, layer_explorer
from helpers.wire.layers import LAYERS
from helpers.wire.packets import encapsulate, ethernet_fcs


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_layer_card_shows_every_part(layer) -> None:
    card = layer_card(layer, "ПАЛИНДРОМ")
    assert f"{layer.number}. {layer.name} layer" in card
    for part in ("What it does", "Protocols", "Python", "The message here"):
        assert part in card


def test_layer_cards_show_the_message_at_each_layer() -> None:
    wrapped = encapsulate("ПАЛИНДРОМ")
    assert "d0 9f d0 90" in layer_card("Presentation")
    assert "TCP segment" in layer_card("Transport") and "title=" in layer_card("Transport")
    assert "IPv4 packet" in layer_card("Network")
    assert "Ethernet II frame" in layer_card("Data link")
    physical = layer_card("Physical")
    assert ethernet_fcs(wrapped.frame).hex(" ") in physical
    assert "55 55 55 55 55 55 55 d5" in physical
    assert "01000000 00000000" in physical  # 0x02 sent least significant bit first
    assert "&lt;script&gt;" in layer_card("Application", "<script>")


def test_layer_explorer_follows_the_picked_layer() -> None:
    explorer = layer_explorer()
    picker, card = explorer.children
    assert picker.value == "Transport" and "4. Transport layer" in card.value
    picker.value = "Network"
    assert "3. Network layer" in card.value
    assert picker.options[0] == "Application" and picker.options[-1] == "Physical"


def test_explorer_text_form_is_a_box() -> None:
    assert layer_explorer()._repr_mimebundle_()["text/plain"].startswith("VBox(")


def test_models_table_puts_the_socket_api_between_program_and_kernel() -> None:
    from helpers.lessons.widgets_01 import models_table

    table = models_table()
    osi = table.column("OSI layer")
    assert osi.index("the socket API") == osi.index("Session") + 1 == osi.index("Transport") - 1
    done_by = dict(zip(osi, table.column("done by"), strict=True))
    assert {done_by[name] for name in ("Application", "Presentation", "Session")} == {"the program"}
    assert done_by["Transport"] == done_by["Network"] == "the operating system"
    tcp_ip = [layer for layer in table.column("TCP/IP layer") if layer]
    assert list(dict.fromkeys(tcp_ip)) == ["Application", "Transport", "Internet", "Link"]


def test_sockets_are_not_placed_in_the_session_row() -> None:
    session = next(layer for layer in LAYERS if layer.name == "Session")
    assert not any(call in " ".join(session.python) for call in ("connect", "accept", "close"))
    assert "Sockets work here" in next(layer for layer in LAYERS if layer.number == 4).description
