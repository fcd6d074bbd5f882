"""Notebook 02's "Try it" widget: views are pure, a click is a real exchange.

The clicks go to the notebook's reverse server: as a program (notebook 02's version 2,
its prints shown) and run in the kernel (the shared ``reverse_server`` fixture, its
event log shown).
"""

from __future__ import annotations

import socket

import nbformat
import nbindex
import pytest

from helpers.lessons.widgets_02 import error_html, events_html, reply_html, reverse_widget
from helpers.run.program_files import save_program
from helpers.run.programs import start_program
from helpers.show.events import EventLog


def test_reply_view_shows_text_and_sizes() -> None:
    view = reply_html("ПАЛИНДРОМ", "<МОРДНИЛАП>")
    assert "9 characters, 18 bytes" in view
    assert "&lt;МОРДНИЛАП&gt;" in view  # escaped


def test_events_view_shows_the_newest_rows_and_the_total() -> None:
    log = EventLog("reverse")
    for number in range(20):
        log.record("recv", ("127.0.0.1", 40000 + number), b"x")
    view = events_html(log, rows=5)
    assert "last 5 of 20 events in the reverse log" in view
    assert "127.0.0.1:40019" in view and "127.0.0.1:40014" not in view


def test_error_view_names_the_error() -> None:
    assert "<b>ConnectionRefusedError</b>" in error_html(ConnectionRefusedError("refused"))


def test_initial_state_does_not_depend_on_the_server(reverse_server) -> None:
    widget = reverse_widget(reverse_server)
    (box, button), reply, log = widget.children[0].children, widget.children[1], widget.children[2]
    assert box.value == "ПАЛИНДРОМ" and button.description == "Send"
    assert reply.value == "" and "Press Send" in log.value


def test_click_sends_and_the_log_grows(reverse_server) -> None:
    widget = reverse_widget(reverse_server)
    (box, button), reply, log = widget.children[0].children, widget.children[1], widget.children[2]
    button.click()
    assert "МОРДНИЛАП" in reply.value
    first = log.value
    assert "accept" in first and "close" in first
    box.value = "кот"
    button.click()
    assert "ток" in reply.value and "3 characters, 6 bytes" in reply.value
    assert log.value != first and "last 12 of 13 events" in log.value


def test_click_after_the_server_stopped_shows_the_error(reverse_server) -> None:
    widget = reverse_widget(reverse_server)
    reverse_server.stop()
    widget.children[0].children[1].click()
    assert "ConnectionRefusedError" in widget.children[1].value
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(reverse_server.address, timeout=1).close()


def test_with_a_server_program_the_log_is_what_the_program_printed(capsys) -> None:
    nb = nbformat.read(nbindex.NOTEBOOK_DIR / "02_the_chapters_pair.ipynb", as_version=4)
    (version_2,) = [
        c.source.split("\n", 1)[1]
        for c in nb.cells
        if c.source.startswith("%%program reverse_server.py\n# reverse_server.py, version 2")
    ]
    save_program("widget_server.py", version_2)
    server = start_program("widget_server.py", port=0)
    try:
        widget = reverse_widget(server)
        (box, button), reply, log = (
            widget.children[0].children,
            widget.children[1],
            widget.children[2],
        )
        box.value = "кот"
        button.click()
        assert "ток" in reply.value
        assert "the last lines widget_server printed" in log.value
        assert "Получено от 127.0.0.1:" in log.value and "Отправлено" in log.value
    finally:
        server.stop()
