"""Notebook 01's widgets: the pure views, and the widgets reacting to a change of value."""

from __future__ import annotations

import pytest

from helpers.lessons.widgets_01 import (
    MAX_MESSAGE_BYTES,
    encapsulation_table,
    encapsulation_widget,
    layer_card,
    layer_explorer,
)
from helpers.wire.layers import LAYERS
from helpers.wire.packets import encapsulate, ethernet_fcs


def test_encapsulation_table_lengths_and_checksums() -> None:
    table = encapsulation_table("ПАЛИНДРОМ")
    assert table.column("size") == [
        "9 characters",
        "18 bytes",
        "no bytes of its own",
        "38 bytes",
        "58 bytes",
        "72 bytes",
        "84 bytes",
    ]
    checksums = table.column("checksum")
    assert checksums[3].startswith("0x3eed ") and checksums[4].startswith("0x2a88 ")
    padded = encapsulation_table("")
    assert padded.column("size")[5] == "60 bytes"
    assert "6 bytes padding to 60" in padded.column("adds")[5]


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


def test_encapsulation_widget_updates_every_layer() -> None:
    widget = encapsulation_widget()
    box, sizes, view = widget.children
    assert "38 bytes" in sizes.value and "0x3eed" in sizes.value
    box.value = "x"
    assert "21 bytes" in sizes.value and "padding to 60" in sizes.value
    assert "&#x27;x&#x27;" in view.value
    box.value = "Ж" * (MAX_MESSAGE_BYTES // 2 + 1)
    assert "do not fit into one Ethernet frame" in sizes.value and view.value == ""
    box.value = "Ж" * (MAX_MESSAGE_BYTES // 2)
    assert "1500 bytes" in sizes.value  # the whole IPv4 packet: exactly the Ethernet MTU


def test_widget_text_form_is_deterministic() -> None:
    first = encapsulation_widget()._repr_mimebundle_()["text/plain"]
    second = encapsulation_widget()._repr_mimebundle_()["text/plain"]
    assert first == second
    assert layer_explorer()._repr_mimebundle_()["text/plain"].startswith("VBox(")
