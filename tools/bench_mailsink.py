"""Benchmark the mail sink: throughput against a bare aiosmtpd Controller, and start-up time.

    .venv/bin/python tools/bench_mailsink.py [--clients 10] [--messages 100] [--rounds 10]

Throughput: the same smtplib workload (each client one connection, sending its
messages one after another, all clients at once in threads) into the sink and
into a bare aiosmtpd ``Controller`` whose handler only appends the message to a
list, in the same process and run, rounds alternating (ABBA order, so neither side
always runs first); the best round of each is compared, because on a shared
machine the slower rounds measure the neighbours, not the server. The sink does
more per message (transcript, events, mailbox, relay and fault checks), so the
target is a ratio of at least 0.9.

The server thread's CPU time per message is printed too: unlike wall-clock
rates it hardly moves when other programs load the machine.

Start-up: ``MailSink(...).start()`` until it answers, without TLS (the CA is made
only when TLS is asked for). The first start in the process also imports
aiosmtpd; it is shown apart from the median of the later ones (target <= 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import smtplib
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HELLO = "bench.local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def letter(client: int, number: int) -> bytes:
    body = f"client {client} message {number} ".encode() * 8
    return b"From: a@mail.ru\r\nTo: rnd@onego.ru\r\nSubject: bench\r\n\r\n" + body + b"\r\n"


def workload(port: int, clients: int, messages: int) -> float:
    """Seconds to deliver clients x messages."""

    def one(client: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=10) as smtp:
            for number in range(messages):
                smtp.sendmail("a@mail.ru", ["rnd@onego.ru"], letter(client, number))

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))
    return time.perf_counter() - started


def loop_cpu(loop: asyncio.AbstractEventLoop) -> float:
    """CPU seconds used so far by the thread that runs ``loop`` (the server's thread)."""
    result: list[float] = []
    done = threading.Event()

    def read() -> None:
        result.append(time.thread_time())
        done.set()

    loop.call_soon_threadsafe(read)
    done.wait(5)
    return result[0]


def measured(
    loop: asyncio.AbstractEventLoop, port: int, clients: int, messages: int
) -> tuple[float, float]:
    """(wall seconds, server CPU seconds) for one workload."""
    cpu_before = loop_cpu(loop)
    seconds = workload(port, clients, messages)
    return seconds, loop_cpu(loop) - cpu_before


class ListHandler:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        self.messages.append(envelope.original_content)
        return "250 OK"


def run_bare(clients: int, messages: int) -> tuple[float, float]:
    from aiosmtpd.controller import Controller

    handler = ListHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), server_hostname="mail.onego.ru"
    )
    controller.start()
    try:
        result = measured(controller.loop, controller.port, clients, messages)
    finally:
        controller.stop()
    assert len(handler.messages) == clients * messages
    return result


def run_sink(clients: int, messages: int) -> tuple[float, float]:
    from helpers.services.mailsink import MailSink

    with contextlib.redirect_stdout(io.StringIO()):
        sink = MailSink("bench").start()
    try:
        result = measured(sink._controller.loop, sink.port, clients, messages)
        assert len(sink.wait_for(clients * messages, timeout=10)) == clients * messages
    finally:
        sink.stop()
    return result


def start_up_times(count: int) -> tuple[float, list[float]]:
    """(first start including imports, later starts), in seconds."""
    times = []
    for _ in range(count + 1):
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            from helpers.services.mailsink import MailSink

            sink = MailSink("bench").start()
        times.append(time.perf_counter() - started)
        with smtplib.SMTP("127.0.0.1", sink.port, local_hostname=HELLO, timeout=5) as smtp:
            assert smtp.noop()[0] == 250
        sink.stop()
    return times[0], times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100, help="per client")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    first, later = start_up_times(10)
    total = args.clients * args.messages
    bare, sink = [], []
    for round_number in range(args.rounds):
        if round_number % 2 == 0:
            bare.append(run_bare(args.clients, args.messages))
            sink.append(run_sink(args.clients, args.messages))
        else:
            sink.append(run_sink(args.clients, args.messages))
            bare.append(run_bare(args.clients, args.messages))
    bare_rate = total / min(wall for wall, _ in bare)
    sink_rate = total / min(wall for wall, _ in sink)
    ratio = sink_rate / bare_rate
    bare_cpu = min(cpu for _, cpu in bare) / total * 1e6
    sink_cpu = min(cpu for _, cpu in sink) / total * 1e6
    startup = statistics.median(later)

    print(f"workload: {args.clients} clients x {args.messages} messages, {args.rounds} rounds")
    print(f"bare aiosmtpd Controller: {bare_rate:8.0f} messages/s (best round)")
    print(f"mail sink:                {sink_rate:8.0f} messages/s (best round)")
    print(f"ratio sink/bare:          {ratio:8.2f}   (target >= 0.90)")
    print(f"server CPU per message:   {bare_cpu:8.0f} us bare, {sink_cpu:.0f} us sink (best round)")
    print(f"sink start-up, first:     {first * 1000:8.1f} ms (includes importing aiosmtpd)")
    print(f"sink start-up, median:    {startup * 1000:8.1f} ms (target <= 50 ms)")
    return 0 if ratio >= 0.9 and startup <= 0.050 else 1


if __name__ == "__main__":
    sys.exit(main())
