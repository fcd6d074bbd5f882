"""Notebook 06's widgets: the pure view, and the widget reacting to a change of value."""

from __future__ import annotations

from helpers.lessons.widgets_06 import MAX_MESSAGE_BYTES, encapsulation_table, encapsulation_widget


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
