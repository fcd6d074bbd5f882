"""Memory stays bounded under abuse: each bound of the helpers, held by what it keeps.

A local user on a shared JupyterHub can reach another student's kernel's ports,
so nothing a client sends may make a kernel keep more and more of it. Each test
here measures memory (``tracemalloc``) or the size of what is kept, never time:
on a loaded machine times say little, sizes say exactly what is kept.
"""

from __future__ import annotations

import socket
import threading
import tracemalloc
from collections.abc import Iterator

import pytest
from smtp_checking import RawSMTP

from helpers.run.registry import stop_all
from helpers.services import mailsink, smtp_transcript
from helpers.services.mailsink import start_mail_sink
from helpers.services.smtp_transcript import (
    COMMANDS_PER_SESSION,
    TRANSCRIPT_HEAD,
    TRANSCRIPT_TAIL,
    SessionTranscript,
)
from helpers.show import events as events_module
from helpers.show.events import EVENT_DATA_KEPT, EVENTS_KEPT, EventLog, preview

MB = 1024 * 1024
TIMEOUT = 10


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    yield
    stop_all()


@pytest.fixture
def traced() -> Iterator[None]:
    """Python's allocations traced for the test (every thread's, the sink's included)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def hung_up(raw: RawSMTP) -> bool:
    """True once the server has closed: an EOF, or a reset when it left input unread."""
    try:
        return raw.file.readline() == b""
    except ConnectionResetError:
        return True


def stream_without_end(sock: socket.socket, total: int, sent: list[int]) -> None:
    """Send ``total`` bytes of one line that never ends (no CRLF), as fast as taken."""
    chunk = b"x" * (64 * 1024)
    try:
        while sent[0] < total:
            sock.sendall(chunk)
            sent[0] += len(chunk)
    except OSError:  # the server hung up: what it is supposed to do
        pass


# -- the mail sink ----------------------------------------------------------------


def test_a_data_line_that_never_ends_is_cut_at_the_size_limit(traced):
    limit = 1 * MB
    sink = start_mail_sink("bounds", size_limit=limit, quiet=True)
    raw = RawSMTP(sink.address, TIMEOUT)
    raw.code(b"EHLO x\r\n")
    assert raw.code(b"MAIL FROM:<a@mail.ru>\r\n") == 250
    assert raw.code(b"RCPT TO:<rnd@onego.ru>\r\n") == 250
    assert raw.code(b"DATA\r\n") == 354
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    sent = [0]
    sender = threading.Thread(target=stream_without_end, args=(raw.sock, 24 * MB, sent))
    sender.start()
    try:
        reply = raw.file.readline()  # read while the client still sends, as a client would
    except OSError as error:
        reply = repr(error).encode()
    sender.join(TIMEOUT * 3)
    _, peak = tracemalloc.get_traced_memory()
    # Before the fix aiosmtpd kept every piece of the line: the peak grew with what was sent.
    assert peak - before < limit + 2 * MB, f"{(peak - before) / MB:.1f} MB for {sent[0] / MB} MB"
    assert reply.startswith(b"552 5.3.4 "), reply
    assert hung_up(raw)  # and the connection is closed
    raw.close()
    sink.events.wait_for("close", timeout=TIMEOUT)
    assert sent[0] < 24 * MB and sink.messages == []
    text = str(sink.transcripts[0])
    assert "S: 552 5.3.4 " in text and "-- incomplete message discarded" in text


def test_pipelined_commands_end_at_the_command_limit_with_421():
    sink = start_mail_sink("bounds", quiet=True)
    raw = RawSMTP(sink.address, TIMEOUT)
    flood = b"NOOP\r\n" * (COMMANDS_PER_SESSION * 2)

    def send() -> None:
        try:
            raw.sock.sendall(flood)
        except OSError:  # the server hung up
            pass

    sender = threading.Thread(target=send)
    sender.start()
    replies = [raw.file.readline() for _ in range(COMMANDS_PER_SESSION + 1)]
    sender.join(TIMEOUT)
    assert set(replies[:-1]) == {b"250 2.0.0 OK\r\n"}
    assert replies[-1].startswith(b"421 4.7.0 "), replies[-1]
    assert hung_up(raw)
    raw.close()
    transcript = sink.last_transcript(timeout=TIMEOUT)
    assert len(transcript._lines) <= TRANSCRIPT_HEAD + 2 * TRANSCRIPT_TAIL
    assert transcript.lines[-2][1].startswith("421 4.7.0 ")


def test_a_long_session_keeps_its_head_and_tail_with_a_count():
    events = EventLog("t")
    transcript = SessionTranscript(1, "127.0.0.1:1", events)
    transcript.note("connect", "connection opened")
    for _ in range(100_000):
        transcript.client(b"NOOP\r\n")
        transcript.server(b"250 OK")
    transcript.note("close", "connection closed")
    kept = transcript._lines
    assert len(kept) <= TRANSCRIPT_HEAD + 2 * TRANSCRIPT_TAIL
    lines = transcript.lines
    total = 200_002
    skipped = total - TRANSCRIPT_HEAD - TRANSCRIPT_TAIL
    assert len(lines) == TRANSCRIPT_HEAD + 1 + TRANSCRIPT_TAIL
    assert lines[0] == ("--", "connection opened") and lines[1] == ("C", "NOOP")
    assert lines[TRANSCRIPT_HEAD] == ("--", f"{skipped:,} lines not kept")
    assert lines[-1] == ("--", "connection closed") and lines[-2] == ("S", "250 OK")
    assert f"\n-- {skipped:,} lines not kept\n" in str(transcript)


def test_a_session_of_ordinary_length_is_kept_whole():
    transcript = SessionTranscript(1, "127.0.0.1:1", EventLog("t"))
    for number in range(TRANSCRIPT_HEAD + TRANSCRIPT_TAIL):
        transcript.client(b"NOOP %d\r\n" % number)
    assert [text for _, text in transcript.lines] == [
        f"NOOP {n}" for n in range(TRANSCRIPT_HEAD + TRANSCRIPT_TAIL)
    ]
    assert "not kept" not in str(transcript)


def test_the_bounds_have_their_documented_values():
    assert COMMANDS_PER_SESSION == 10_000 and EVENTS_KEPT == 10_000
    assert TRANSCRIPT_HEAD == TRANSCRIPT_TAIL == 100 and EVENT_DATA_KEPT == 256
    for name in ("COMMANDS_PER_SESSION", "TRANSCRIPT_HEAD", "TRANSCRIPT_TAIL"):
        assert name in smtp_transcript.__doc__
    for name in ("EVENTS_KEPT", "EVENT_DATA_KEPT"):
        assert name in events_module.__doc__
    for name in ("SIZE_LIMIT", "COMMANDS_PER_SESSION", "EVENTS_KEPT"):
        assert name in mailsink.__doc__


# -- the event log ----------------------------------------------------------------


def test_an_event_keeps_a_preview_and_the_exact_size(traced):
    log = EventLog("reverse server")
    payload = ("ПАЛИНДРОМ " * (1024 * 1024)).encode()  # about 19 MB of two-byte letters
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(5):
        log.record("recv", ("127.0.0.1", 5), bytearray(payload))  # a fresh copy, as sockets give
    after, _ = tracemalloc.get_traced_memory()
    assert after - before < 64 * 1024, f"{(after - before) / MB:.1f} MB kept for 5 events"
    [event, *_] = log.events
    assert event.nbytes == len(payload) and len(event.data) <= EVENT_DATA_KEPT
    assert payload.startswith(event.data)
    event.data.decode("utf-8")  # cut between characters, never inside one
    row = log.table().rows[0]
    assert row[4] == len(payload) and row[5] == preview(payload)


def test_an_event_log_keeps_the_newest_events_and_says_how_many_went(traced):
    log = EventLog("reverse server")
    before, _ = tracemalloc.get_traced_memory()
    for number in range(EVENTS_KEPT + 15_000):
        log.record("recv", ("127.0.0.1", 5), b"%d" % number + b"." * 300)
    after, _ = tracemalloc.get_traced_memory()
    assert len(log) == EVENTS_KEPT and log.dropped == 15_000
    assert log.events[0].data.startswith(b"15000.")
    per_event = (after - before) / EVENTS_KEPT
    assert per_event < EVENT_DATA_KEPT + 600, f"{per_event:.0f} bytes per event kept"
    table = log.table()
    assert len(table) == EVENTS_KEPT
    assert table.caption == "reverse server events (… 15,000 earlier events not kept)"
    log.clear()
    assert log.dropped == 0 and log.table().caption == "reverse server events"


def test_a_short_log_reads_exactly_as_before():
    log = EventLog("reverse server")
    log.record("recv", ("127.0.0.1", 5), b"x" * 41)
    log.record("send", ("127.0.0.1", 5), b"y" * 40)
    rows = log.table().rows
    assert [row[4:6] for row in rows] == [
        (41, repr("x" * 40) + "..."),
        (40, repr("y" * 40)),
    ]
    assert log.table().caption == "reverse server events"
