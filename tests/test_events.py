"""helpers.show.events and .tables, helpers.run.logroute: recording from threads, waiting,
rendering, routed loggers."""

from __future__ import annotations

import logging
import threading

import pytest

from helpers.run.logroute import route_logger
from helpers.show.events import Event, EventLog, format_peer, preview
from helpers.show.tables import Table


def test_record_keeps_order_peer_and_relative_time():
    log = EventLog("demo")
    first = log.record("accept", ("127.0.0.1", 54321))
    log.record("recv", "127.0.0.1:54321", b"hello", note="greeting", actor="client")
    events = log.events
    assert events[0] is first and len(log) == 2
    expected = Event(events[1].t, "recv", "127.0.0.1:54321", b"hello", "greeting", "client")
    assert events[1] == expected
    assert 0 <= events[0].t <= events[1].t < 1
    assert events[1].nbytes == 5 and events[0].nbytes == 0
    events.clear()  # a copy: the log keeps its events
    assert len(log.events) == 2
    log.clear()
    assert log.events == [] and list(log) == []


def test_peers_are_formatted_the_same_everywhere():
    assert format_peer(("127.0.0.1", 33333)) == "127.0.0.1:33333"
    assert format_peer(("::1", 33333, 0, 0)) == "[::1]:33333"
    assert format_peer("/tmp/x.sock") == "/tmp/x.sock"
    assert format_peer("") == "unnamed unix socket"
    assert format_peer(None) is None


def test_recording_from_many_threads_loses_nothing():
    log = EventLog()

    def worker(n: int) -> None:
        for i in range(200):
            log.record("send", data=bytes([n, i % 256]))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 1600
    times = [e.t for e in log.events]
    assert times == sorted(times)


def test_an_event_slow_to_prepare_does_not_land_out_of_time_order():
    log = EventLog()
    other_recorded = threading.Event()

    class SlowData:
        def __bytes__(self) -> bytes:  # another thread records while this one prepares
            threading.Thread(target=lambda: (log.record("recv"), other_recorded.set())).start()
            assert other_recorded.wait(2)
            return b"late"

    log.record("send", data=SlowData())
    assert [e.kind for e in log.events] == ["recv", "send"]
    times = [e.t for e in log.events]
    assert times == sorted(times)


def test_wait_for_returns_when_the_event_arrives_and_times_out_otherwise():
    log = EventLog("reverse")
    timer = threading.Timer(0.05, log.record, args=("close",))
    timer.start()
    found = log.wait_for("close", timeout=2)
    assert [e.kind for e in found] == ["close"]
    log.record("recv", data=b"ab")
    assert log.wait_for(lambda e: e.nbytes == 2)[0].data == b"ab"
    with pytest.raises(
        TimeoutError,
        match=r"waited 0.05 s for 2 'close' event\(s\) in the "
        r"reverse log, found 1",
    ):
        log.wait_for("close", count=2, timeout=0.05)


def test_log_renders_as_text_and_html_table():
    log = EventLog("reverse")
    log.record("recv", ("127.0.0.1", 5), b"<b>" + b"x" * 50, note="a & b")
    log.record("close", ("127.0.0.1", 5))
    table = log.table()
    assert table.columns == ["time", "actor", "event", "peer", "bytes", "data", "note"]
    assert table.rows[0][1:5] == ("server", "recv", "127.0.0.1:5", 53)
    assert table.rows[0][5] == repr("<b>" + "x" * 37) + "..."
    assert table.rows[1][4:6] == ("", "")
    assert table.rows[0][0].startswith("+0.0") and table.rows[0][0].endswith(" s")
    text = str(log)
    assert text.splitlines()[0] == "reverse events"
    assert text.splitlines()[1].split() == table.columns
    assert repr(log) == text
    html = log._repr_html_()
    assert "&lt;b&gt;" in html and "a &amp; b" in html and "<b>" not in html


def test_preview_is_short():
    assert preview(b"") == ""
    assert preview(b"abc") == "'abc'"
    assert preview(bytes(100), limit=2) == "'\\x00\\x00'..."


def test_preview_shows_utf8_as_text_and_anything_else_as_bytes():
    word = "ПАЛИНДРОМ".encode()
    assert preview(word) == "'ПАЛИНДРОМ'"
    assert preview(b"EHLO x\r\n") == "'EHLO x\\r\\n'"  # line ends stay visible
    assert preview(word, limit=5) == "'ПА'..."  # cut inside "Л": back to its start
    assert preview("ПАЛИНДРОМ".encode("cp1251")) == repr("ПАЛИНДРОМ".encode("cp1251"))
    assert preview(b"\xff\xfeok") == "b'\\xff\\xfeok'"


def test_table_aligns_columns_and_checks_rows():
    table = Table(["port", "service"], [(25, "smtp"), (110, None)], caption="services")
    assert str(table) == ("services\nport  service\n----  -------\n25    smtp\n110")
    assert table.rows == [(25, "smtp"), (110, None)] and len(table) == 2
    assert table.column("port") == [25, 110]
    assert "<caption" in table._repr_html_() and "<td" in table._repr_html_()
    assert "<caption" not in Table(["a"], [])._repr_html_()
    with pytest.raises(ValueError, match="has 1 values for 2 columns"):
        Table(["a", "b"], [(1,)])


def test_route_logger_records_the_threads_records_instead_of_printing(capfd):
    log = EventLog("mail")
    logger = logging.getLogger("helpers-test.library")
    logger.setLevel(logging.INFO)
    before = (logger.propagate, logger.level, list(logger.handlers), list(logger.filters))

    def work() -> None:
        logger.debug("below the route's level: dropped, not printed")
        logger.info("connection from %s", "127.0.0.1")
        try:
            raise ConnectionResetError("peer went away")
        except ConnectionResetError:
            logger.exception("session failed")

    worker = threading.Thread(target=work)
    route = route_logger("helpers-test.library", log, logging.INFO, thread=worker)  # before start
    worker.start()
    worker.join()
    assert [e.note for e in log.events] == [
        "INFO: connection from 127.0.0.1",
        "ERROR: session failed (ConnectionResetError: peer went away)",
    ]
    assert all(e.kind == "log" for e in log.events)
    assert capfd.readouterr() == ("", "")
    route.remove()
    route.remove()  # twice is harmless
    assert (logger.propagate, logger.level, logger.handlers, logger.filters) == before
    logger.setLevel(logging.NOTSET)


def test_route_logger_leaves_other_threads_records_alone(caplog):
    log = EventLog("mail")
    logger = logging.getLogger("helpers-test.library")
    route = route_logger("helpers-test.library", log, thread=threading.Thread())
    try:
        logger.warning("from the cell's own thread")
    finally:
        route.remove()
    assert len(log) == 0
    assert [r.getMessage() for r in caplog.records] == ["from the cell's own thread"]


def test_table_wraps_only_the_columns_asked_for():
    rows = [(1, "bits on a wire or through the air", "cable, radio"), (2, "", None)]
    plain = Table(["#", "what", "how"], rows)
    assert len(str(plain).splitlines()) == 2 + len(rows)  # the default folds nothing
    assert "white-space:pre;" in plain._repr_html_() and "max-width" not in plain._repr_html_()

    table = Table(["#", "what", "how"], rows, wrap=("what",), wrap_width=16)
    assert str(table) == (
        "#  what            how\n"
        "-  --------------  ------------\n"
        "1  bits on a wire  cable, radio\n"
        "   or through the\n"
        "   air\n"
        "2"
    )
    html = table._repr_html_()
    assert html.count("white-space:pre-line; overflow-wrap:anywhere; max-width:16ch") == len(rows)
    assert html.count('white-space:pre"') == len(rows) * 2  # the other columns stay one line

    every = Table(["#", "how"], [(1, "cable\nradio waves")], wrap=True, wrap_width=6)
    assert str(every).splitlines()[2:] == ["1  cable", "   radio", "   waves"]
    with pytest.raises(ValueError, match="'why'"):
        Table(["a"], [], wrap=("why",))
