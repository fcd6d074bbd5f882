"""The UDP lesson: loss pattern, ping statistics, and its reverse servers under abuse.

The servers under test are the notebook's own loops (``udp_reverse_server`` and
``lossy_reverse_server``, read from its cells), run by ``serve(protocol="udp")``
as the notebook runs them; ``serve_datagrams``, which the course's own checks
use, is tested with a handler of its own.
"""

from __future__ import annotations

import ast
import errno
import functools
import math
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import nbformat
import nbindex
import pytest
from hypothesis import given
from hypothesis import strategies as st
from notebook_cells import python_source

from helpers.run.servers import BackgroundServer, serve, serve_datagrams
from helpers.wire.text import reverse_text
from helpers.wire.udp import LossPattern, PingStats, ping_stats

# --- LossPattern -------------------------------------------------------------------------------


def test_loss_pattern_same_seed_same_losses() -> None:
    first = LossPattern(seed=4, rate=0.3).lost(range(1, 1001))
    second = LossPattern(seed=4, rate=0.3).lost(range(1, 1001))
    assert first == second
    assert first, "a 30% rate over 1000 datagrams must drop some"


def test_loss_pattern_depends_on_number_not_on_order() -> None:
    loss = LossPattern(seed=4, rate=0.3)
    forwards = {n: loss.drops(n) for n in range(1, 201)}
    backwards = {n: loss.drops(n) for n in reversed(range(1, 201))}
    assert forwards == backwards


def test_loss_pattern_is_the_same_in_another_interpreter() -> None:
    # A fresh process with another hash seed: the pattern must not lean on hash().
    code = (
        "from helpers.wire.udp import LossPattern; print(LossPattern(4, 0.3).lost(range(1, 101)))"
    )
    env = {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(LossPattern(4, 0.3).lost(range(1, 101)))


def test_loss_pattern_known_values() -> None:
    # Pinned: the notebook's stored output depends on exactly these losses.
    assert LossPattern(seed=4, rate=0.3).lost(range(1, 11)) == [6, 8]
    assert LossPattern(seed=2, rate=0.3).lost(range(1, 11)) == [5, 6]


def test_loss_pattern_seeds_differ() -> None:
    patterns = {tuple(LossPattern(seed, 0.3).lost(range(1, 101))) for seed in range(20)}
    assert len(patterns) == 20


def test_loss_pattern_rate_is_roughly_kept() -> None:
    lost = LossPattern(seed=1, rate=0.25).lost(range(10_000))
    assert 2250 < len(lost) < 2750


def test_loss_pattern_extremes() -> None:
    assert LossPattern(seed=1, rate=0.0).lost(range(1000)) == []
    assert LossPattern(seed=1, rate=1.0).lost(range(1000)) == list(range(1000))


@pytest.mark.parametrize("rate", [-0.1, 1.5, math.nan])
def test_loss_pattern_rejects_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        LossPattern(seed=1, rate=rate)


# --- ping_stats --------------------------------------------------------------------------------


def test_ping_stats_counts_lost_against_sent() -> None:
    stats = ping_stats([0.012, None, 0.008, 0.010])
    assert (stats.sent, stats.received, stats.lost) == (4, 3, 1)
    assert stats.loss_percent == 25.0
    assert (stats.min, stats.max) == (0.008, 0.012)
    assert stats.avg == pytest.approx(0.010)


def test_ping_stats_all_lost_has_no_times() -> None:
    stats = ping_stats([None, None])
    assert stats == PingStats(sent=2, received=0, min=None, avg=None, max=None)
    assert stats.loss_percent == 100.0
    assert str(stats) == "2 sent, 0 received, 100% loss; no round trips"


def test_ping_stats_nothing_sent() -> None:
    stats = ping_stats([])
    assert (stats.sent, stats.loss_percent) == (0, 0.0)
    assert str(stats) == "0 sent, 0 received, 0% loss; no round trips"


def test_ping_stats_text_uses_milliseconds() -> None:
    text = str(ping_stats([0.0004, None, 0.0002]))
    assert text == (
        "3 sent, 2 received, 33% loss; round trip min 0.200 ms, avg 0.300 ms, max 0.400 ms"
    )


rtt_lists = st.lists(
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=10.0, allow_nan=False)), max_size=50
)


@given(rtt_lists)
def test_ping_stats_properties(rtts: list[float | None]) -> None:
    stats = ping_stats(rtts)
    assert stats.sent == len(rtts)
    assert stats.received + stats.lost == stats.sent
    assert 0.0 <= stats.loss_percent <= 100.0
    if stats.received:
        assert stats.min is not None and stats.avg is not None and stats.max is not None
        assert stats.min <= stats.avg * (1 + 1e-12) and stats.avg <= stats.max * (1 + 1e-12)
    else:
        assert stats.min is stats.avg is stats.max is None


# --- the notebook's UDP servers, run by helpers.serve(protocol="udp"), under abuse --------------

NOTEBOOK_05 = nbindex.NOTEBOOK_DIR / "05_udp.ipynb"


@functools.cache
def _cell_defining(name: str) -> ast.Module:
    """The imports and the ``def name`` of the notebook cell that defines ``name``.

    Only these run in a test: the cell's own start of the server does not.
    """
    nb = nbformat.read(NOTEBOOK_05, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        body = ast.parse(python_source(cell)).body
        if any(isinstance(node, ast.FunctionDef) and node.name == name for node in body):
            kept = [
                node
                for node in body
                if isinstance(node, ast.Import | ast.ImportFrom)
                or (isinstance(node, ast.FunctionDef) and node.name == name)
            ]
            return ast.Module(body=kept, type_ignores=[])
    raise LookupError(f"no cell of {NOTEBOOK_05.name} defines {name}")


def notebook_function(name: str, **names: Any) -> Callable[..., Any]:
    """The function ``name`` exactly as notebook 05 writes it (``names``: what it uses)."""
    namespace: dict[str, Any] = {"socket": socket, **names}
    exec(compile(_cell_defining(name), f"{NOTEBOOK_05.name}: {name}", "exec"), namespace)
    return namespace[name]


def reverse_datagram(data: bytes, addr: tuple[str, int]) -> bytes:
    """A handler for serve_datagrams: the reversed text, as the notebook's loop replies."""
    text = data.decode("utf-8", errors="replace")
    return reverse_text(text).encode("utf-8")


def ask(address: tuple[str, int], data: bytes, timeout: float = 1.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        client.sendto(data, address)
        return client.recvfrom(65535)[0]


def wait_until_quiet(server: BackgroundServer, quiet: float = 0.1, limit: float = 5.0) -> None:
    """Wait until the server has worked through its queue (no new event for `quiet` s)."""
    deadline = time.monotonic() + limit
    seen = -1
    while len(server.events) != seen:
        assert time.monotonic() < deadline, "the server never went quiet"
        seen = len(server.events)
        time.sleep(quiet)


@pytest.fixture
def udp_reverse_server(start_server) -> BackgroundServer:
    """The notebook's UDP reverse server (its own loop) on a free port.

    ``start_server`` (tests/conftest.py) checks its one status line and, after
    the test, that it stopped, printed nothing and recorded no error.
    """
    loop = notebook_function("udp_reverse_server")
    return start_server(lambda: serve("test-udp-reverse", loop, port=0, protocol="udp"))


def test_reverse_server_answers(udp_reverse_server: BackgroundServer) -> None:
    assert ask(udp_reverse_server.address, "ПАЛИНДРОМ".encode()) == "МОРДНИЛАП".encode()
    events = udp_reverse_server.events.events
    assert [event.kind for event in events] == ["socket", "bind", "recv", "send"]
    assert [event.data for event in events[2:]] == ["ПАЛИНДРОМ".encode(), "МОРДНИЛАП".encode()]


def test_reverse_server_keeps_answering_after_a_flood(udp_reverse_server: BackgroundServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flooder:
        flooder.settimeout(1.0)
        for number in range(1000):
            flooder.sendto(f"flood {number}".encode(), udp_reverse_server.address)
        # Some are answered, some dropped by a full buffer (how many depends on the
        # system's buffer sizes and on scheduling); the flooder never reads its
        # replies, so its own buffer overflows too. Only "some" is a property.
        udp_reverse_server.events.wait_for("send", count=1, timeout=2.0)
    wait_until_quiet(udp_reverse_server)
    flood_received = [e for e in udp_reverse_server.events if e.kind == "recv"]
    assert 0 < len(flood_received) <= 1000
    assert ask(udp_reverse_server.address, b"still there?") == b"?ereht llits"


def test_reverse_server_survives_garbage_and_oversize(udp_reverse_server: BackgroundServer) -> None:
    rng = random.Random(3)
    garbage = [b"", b"\xff\xfe\xfd", b"\xd0", bytes(rng.randrange(256) for _ in range(5000))]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        for data in garbage:
            sender.sendto(data, udp_reverse_server.address)
        sender.sendto(bytes(65507), udp_reverse_server.address)
        with pytest.raises(OSError) as too_big:
            sender.sendto(bytes(65508), udp_reverse_server.address)
        assert too_big.value.errno == errno.EMSGSIZE
    assert ask(udp_reverse_server.address, b"abc") == b"cba"
    assert ask(udp_reverse_server.address, bytes(65507)) == bytes(65507)


def test_handler_errors_are_recorded_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    def fragile(data: bytes, addr: tuple[str, int]) -> bytes:
        return data.decode("ascii")[::-1].encode("ascii")  # raises on non-ASCII

    server = serve_datagrams("test-udp-fragile", fragile, port=0)
    try:
        for _ in range(3):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.sendto("ПАЛИНДРОМ".encode(), server.address)
        server.events.wait_for("error", count=3, timeout=2.0)
        assert ask(server.address, b"ok") == b"ko"
        assert all(isinstance(error, UnicodeDecodeError) for error in server.errors)
    finally:
        server.stop()
    out, err = capfd.readouterr()
    assert out == f"test-udp-fragile server on 127.0.0.1:{server.port}\n"
    assert err == ""


def test_a_reply_too_big_to_send_is_an_error_and_the_loop_starts_again(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # 30,000 bytes that are not UTF-8 decode to 30,000 replacement characters: a
    # 90,000-byte reply, more than a datagram holds, so the notebook's sendto raises.
    loop = notebook_function("udp_reverse_server")
    server = serve("test-udp-reverse-big", loop, port=0, protocol="udp")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"\xff" * 30_000, server.address)
            peer = f"127.0.0.1:{sender.getsockname()[1]}"
            server.events.wait_for("restart", timeout=10)
        assert ask(server.address, b"abc") == b"cba"
        (error,) = [event for event in server.events if event.kind == "error"]
        assert error.peer == peer and error.note.startswith("OSError")
        assert [type(e) for e in server.errors] == [OSError]
        assert server.errors[0].errno == errno.EMSGSIZE
        kinds = [event.kind for event in server.events]
        # The reply is recorded as it goes; the failed sendto follows it as the error.
        assert kinds[2:] == ["recv", "send", "error", "restart", "recv", "send"]
    finally:
        server.stop()
    out, err = capfd.readouterr()
    assert out == f"test-udp-reverse-big server on 127.0.0.1:{server.port}\n" and err == ""


def test_a_loop_that_catches_its_errors_answers_garbage_and_records_none(start_server) -> None:
    def careful(sock: socket.socket) -> None:
        while True:
            data, addr = sock.recvfrom(65535)
            try:
                reply = data.decode("ascii")[::-1].encode("ascii")
            except UnicodeDecodeError:
                reply = b"not ascii"
            sock.sendto(reply, addr)

    server = start_server(lambda: serve("test-udp-careful", careful, port=0, protocol="udp"))
    rng = random.Random(5)
    garbage = bytes(rng.randrange(128, 256) for _ in range(5000))
    assert ask(server.address, garbage) == b"not ascii"
    assert ask(server.address, b"\xd0") == b"not ascii"
    assert ask(server.address, b"a" * 65507) == b"a" * 65507
    assert ask(server.address, b"") == b""
    assert ask(server.address, b"abc") == b"cba"


def test_lossy_server_drops_exactly_the_pattern(start_server) -> None:
    loss = LossPattern(seed=4, rate=0.3)
    loop = notebook_function("lossy_reverse_server", loss=loss, reverse_text=reverse_text)
    server = start_server(lambda: serve("test-udp-lossy", loop, port=0, protocol="udp"))
    pings = [f"ping {number}".encode() for number in range(1, 21)]
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(10)
        for ping in [*pings, b"done"]:
            client.sendto(ping, server.address)
        # One socket to one socket on loopback keeps the order, and the loop answers
        # in turn: once "done" is answered, every ping has been answered or dropped.
        while (reply := client.recvfrom(65535)[0]) != b"enod":
            replies.append(reply)
    lost = [number for number, ping in enumerate(pings, start=1) if ping[::-1] not in replies]
    assert lost == loss.lost(range(1, 21)) and lost
    assert replies == [ping[::-1] for ping in pings if ping[::-1] in replies]
    received = [event.data for event in server.events if event.kind == "recv"]
    sent = [event.data for event in server.events if event.kind == "send"]
    assert received == [*pings, b"done"] and sent == [*replies, b"enod"]


def test_stop_wakes_a_datagram_server_at_once(monkeypatch):
    # With a 30 s receive slice, only the wake-up datagram can end the thread within stop()'s 2 s.
    monkeypatch.setattr("helpers.run.listeners.SLICE", 30.0)
    server = serve_datagrams("udp-wake", lambda data, address: data, port=0)
    server.stop(timeout=2.0)
    assert not [e for e in server.events.events if e.kind == "error"]
    assert not [t for t in threading.enumerate() if t.name.startswith("helpers-server-udp-wake")]
