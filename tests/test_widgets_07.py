"""Notebook 07's look-up widget: the views as pure functions, the widget against the server."""

from __future__ import annotations

import re

import pytest

from helpers.lessons.widgets_07 import (
    NotADNSName,
    exchange_html,
    hex_html,
    idna_html,
    idna_labels,
    lookup,
    lookup_widget,
    question_name,
    wire_name,
)
from helpers.run import registry as _registry
from helpers.services.nameserver import start_name_server
from helpers.wire.dnswire import build_query, parse_message


@pytest.fixture(autouse=True)
def name_server():
    server = start_name_server(quiet=True)
    yield server
    _registry.stop_server("name")


def test_question_name_turns_an_address_into_its_reverse_name_for_ptr() -> None:
    assert question_name("195.161.136.4", "PTR") == "4.136.161.195.in-addr.arpa."
    assert question_name(" www.onego.ru ", "A") == "www.onego.ru"
    assert question_name("www.onego.ru", "PTR") == "www.onego.ru"


def test_a_non_ascii_name_goes_on_the_wire_in_idna_form() -> None:
    assert wire_name("www.onego.ru") == "www.onego.ru"
    assert wire_name("почта.onego.ru") == "почта".encode("idna").decode() + ".onego.ru"
    assert wire_name("ПОЧТА.onego.ru") == wire_name("почта.onego.ru")  # IDNA lowers the case
    assert question_name(" почта.onego.ru ", "A").startswith("xn--")
    assert idna_labels("почта.пример.ru") == [
        ("почта", "почта".encode("idna").decode()),
        ("пример", "пример".encode("idna").decode()),
    ]
    assert idna_html("www.onego.ru") == ""
    assert "<code>xn--80a1acny.onego.ru</code>" in idna_html("почта.onego.ru")
    with pytest.raises(NotADNSName, match="idna codec cannot write it: label empty or too long"):
        wire_name("почта..onego.ru")


def test_lookup_sends_the_hand_built_query(name_server) -> None:
    query, reply = lookup("onego.ru", "MX", query_id=9)
    assert query == build_query("onego.ru", "MX", query_id=9)
    answer = parse_message(reply)
    assert answer.header.id == 9 and answer.answers[0].data.exchange == "mail.onego.ru."
    (seen,) = name_server.events.wait_for("query")
    assert seen.data == query


def test_hex_view_colours_each_part_and_counts_bytes() -> None:
    query = build_query("www.onego.ru", "A", query_id=1)
    view = hex_html(query, "query")
    assert f"({len(query)} bytes)" in view
    assert view.count('title="header,') == 12
    assert view.count('title="question,') == len(query) - 12


def test_garbage_is_shown_uncoloured_not_raised() -> None:
    assert "not a DNS message" in exchange_html(b"\x01\x02", b"\x03")


def test_exchange_view_shows_answer_and_both_messages() -> None:
    query, reply = lookup("smtp.onego.ru", "A")
    view = exchange_html(query, reply)
    assert "<b>NOERROR</b>" in view and "flags: qr aa rd;" in view
    assert re.search(r"<td>CNAME</td><td>300</td><td>mail\.onego\.ru\.</td>", view)
    assert "<b>query</b>" in view and "<b>reply</b>" in view


def test_widget_answers_on_every_change() -> None:
    widget = lookup_widget()
    (name, kind, button), view = widget.children[0].children, widget.children[1]
    assert "195.161.136.4" in view.value and "id 0x0001" in view.value
    name.value = "195.161.136.4"
    kind.value = "PTR"
    assert "www.onego.ru." in view.value
    name.value = "nope.onego.ru"
    assert "<b>NXDOMAIN</b>" in view.value
    button.click()
    assert "<b>NXDOMAIN</b>" in view.value
    name.value = "bad..name"
    assert "DNSWireError" in view.value and "empty label" in view.value
    kind.value = "A"
    name.value = "почта.onego.ru"
    assert "An international name." in view.value and "<b>NXDOMAIN</b>" in view.value
    assert "xn--80a1acny" in view.value and "Unicode" not in view.value
    name.value = "ё" * 70 + ".onego.ru"
    assert "Not a name DNS can carry:" in view.value and "too long" in view.value
    assert "UnicodeEncodeError" not in view.value and "UnicodeError" not in view.value


def test_widget_output_is_the_same_on_every_run() -> None:
    assert repr(lookup_widget()) == repr(lookup_widget())
