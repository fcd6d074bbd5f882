"""Measure what abusive clients cost a kernel in memory: the sink's and a server's bounds.

    .venv/bin/python tools/bench_memory.py

On a shared JupyterHub any local user can reach another student's kernel's
ports, so what a client sends must not make the kernel keep more and more of
it. Three abuses, each against a fresh service in this process:

* one line of 120 MB after DATA that never ends (the mail sink cuts it at its
  size limit, 10 MiB, with 552 and closes the connection);
* 200,000 NOOPs pipelined in one session (the sink answers 10,000 commands,
  then 421, and keeps the transcript's head and tail);
* 5 x 10 MB through notebook 02's reverse server (its event log keeps a preview
  of each recv and send, with the exact size, and the newest 10,000 events).

For each it prints Python's memory (``tracemalloc``, every thread's
allocations): the peak growth while it ran, and what is still kept once the
clients are gone and the service still runs (what a cell would go on holding).
It asserts nothing: run it before and after a change and compare.
"""

from __future__ import annotations

import contextlib
import gc
import io
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MB = 1024 * 1024
TIMEOUT = 30.0
SETTLE = 0.3  # seconds for a service's threads to finish with a closed connection


def measured(scenario: Callable[[], tuple[str, Callable[[], None]]]) -> tuple[float, float, str]:
    """(peak growth MB, kept growth MB, what happened) for one scenario.

    The scenario runs its clients and returns a description and a function that
    stops its service; "kept" is measured before that function is called.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        said, stop = scenario()
        time.sleep(SETTLE)  # a closed session's last callbacks run in the service's thread
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stop()
    return (peak - before) / MB, (kept - before) / MB, said


def quietly(start: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return start()


def read_reply(file: Any) -> bytes:
    """One whole (possibly multi-line) SMTP reply; its last line, or b"" at EOF."""
    while True:
        line = file.readline()
        if not line or line[3:4] != b"-":
            return line.rstrip(b"\r\n")


def data_line_that_never_ends(total: int = 120 * MB) -> tuple[str, Callable[[], None]]:
    from helpers.services.mailsink import MailSink

    sink = quietly(lambda: MailSink("bench-memory").start())
    sock = socket.create_connection(sink.address, timeout=TIMEOUT)
    file = sock.makefile("rb")
    read_reply(file)
    for command in (b"EHLO x", b"MAIL FROM:<a@mail.ru>", b"RCPT TO:<rnd@onego.ru>", b"DATA"):
        sock.sendall(command + b"\r\n")
        read_reply(file)
    chunk = b"x" * (64 * 1024)
    sent = 0
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # the sink hung up
        pass
    reply = read_reply(file).decode("ascii", "replace")
    file.close()
    sock.close()
    sink.events.wait_for("close", timeout=TIMEOUT)
    said = f"{sent / MB:.0f} MB sent of {total / MB:.0f}; reply {reply[:40]!r}"
    return said, sink.stop


def pipelined_noops(count: int = 200_000) -> tuple[str, Callable[[], None]]:
    from helpers.services.mailsink import MailSink

    sink = quietly(lambda: MailSink("bench-memory").start())
    sock = socket.create_connection(sink.address, timeout=TIMEOUT)
    file = sock.makefile("rb")
    read_reply(file)

    def send() -> None:
        try:
            sock.sendall(b"NOOP\r\n" * count)
        except OSError:  # the sink hung up
            pass

    sender = threading.Thread(target=send)
    sender.start()
    replies, last = 0, b""
    try:
        while line := file.readline():
            replies, last = replies + 1, line.rstrip(b"\r\n")
    except ConnectionResetError:  # closed with NOOPs still unread: a reset, not an EOF
        pass
    sender.join(TIMEOUT)
    file.close()
    sock.close()
    transcript = sink.last_transcript(timeout=TIMEOUT)
    said = (
        f"{replies:,} replies, the last {last.decode()[:32]!r}; "
        f"transcript shows {len(transcript.lines):,} lines"
    )
    return said, sink.stop


def reverse_server(listener: socket.socket) -> None:
    """Notebook 02's reverse server, as a student runs it."""
    from helpers.wire.text import reverse_utf8

    while True:
        conn, _addr = listener.accept()
        with conn:
            conn.settimeout(2.0)
            try:
                chunks = []
                while chunk := conn.recv(1024):
                    chunks.append(chunk)
                conn.sendall(reverse_utf8(b"".join(chunks)))
            except OSError:
                pass


def through_a_reverse_server(
    clients: int = 5, size: int = 10 * MB
) -> tuple[str, Callable[[], None]]:
    from helpers.run.servers import serve

    server = quietly(lambda: serve("bench-memory", reverse_server, port=0))
    text = b"ab" * (size // 2)
    for _ in range(clients):
        with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
            sock.sendall(text)
            sock.shutdown(socket.SHUT_WR)
            got = 0
            while chunk := sock.recv(65536):
                got += len(chunk)
        assert got == size, got
    deadline = time.monotonic() + TIMEOUT
    while sum(e.kind == "close" for e in server.events) < clients:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    events = server.events.events
    moved = sum(e.nbytes for e in events if e.kind in ("recv", "send"))
    data_kept = sum(len(e.data) for e in events)
    said = (
        f"{len(events):,} events kept ({getattr(server.events, 'dropped', 0):,} dropped), "
        f"their nbytes {moved / MB:.1f} MB, their data kept {data_kept / MB:.1f} MB; "
        "10 MB of the rest is the server function's last `chunks`, bound while it waits"
    )
    return said, server.stop


def main() -> int:
    import helpers.run.servers
    import helpers.services.mailsink  # noqa: F401  (imported before measuring, not counted)

    print("memory growth (Python's, tracemalloc): peak while it ran, kept afterwards")
    for title, scenario in (
        ("a 120 MB DATA line", data_line_that_never_ends),
        ("200,000 pipelined NOOPs", pipelined_noops),
        ("5 x 10 MB through a reverse server", through_a_reverse_server),
    ):
        peak, kept, said = measured(scenario)
        print(f"{title + ':':36} peak {peak:+8.1f} MB, kept {kept:+8.1f} MB   ({said})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
