"""Notebook 05's "Try it" widget: ping a lossy UDP server, with a timeout and retries.

Three sliders (loss rate, timeout, retries) and a Ping button. Each press sends
ten numbered pings, for real, over UDP to a lossy echo server of the widget's
own, and shows for each ping how many tries it took and its round trip, or
that it was lost; then the totals, and how long the client spent waiting for
replies that never came. What it teaches: a timeout turns silence into a
decision, retries buy back lost pings, and both cost waiting time.

The server's losses are seeded per (ping, try), so the same settings lose the
same tries on every run; the views are pure functions (data in, HTML out),
tested without a browser. ipywidgets is imported inside ``ping_widget``
because ``import helpers`` must stay light.
"""

from __future__ import annotations

import contextlib
import html
import io
import socket
import time
from dataclasses import dataclass
from typing import Any

from helpers.run.servers import BackgroundServer, serve_datagrams
from helpers.wire.udp import LossPattern

__all__ = ["PingResult", "ping_with_retries", "results_html", "ping_widget"]

COUNT = 10  # pings per press
SEED = 4  # the lesson's seed: the same tries are lost for the same settings
MAX_TRIES = 4  # try numbers per ping in the loss pattern's numbering


@dataclass(frozen=True)
class PingResult:
    """One ping: its number, how many tries were sent, the round trip (None = lost), time waited."""

    number: int
    tries: int
    rtt: float | None
    waited: float  # seconds spent in timeouts


def loss_key(number: int, attempt: int) -> int:
    """The datagram number the loss pattern judges: one per (ping, try)."""
    return number * MAX_TRIES + attempt


def lossy_echo(rate: float) -> BackgroundServer:
    """An echo server that drops the tries the seeded pattern picks at ``rate``."""
    pattern = LossPattern(SEED, rate)

    def drop(data: bytes, addr: Any) -> bool:
        words = data.split()
        if len(words) == 4 and words[1].isdigit() and words[3].isdigit():
            return pattern.drops(loss_key(int(words[1]), int(words[3])))
        return False

    with contextlib.redirect_stdout(io.StringIO()):
        return serve_datagrams(
            "ping-widget", lambda data, addr: data, port=0, drop=drop, quiet=True
        )


def ping_with_retries(
    address: tuple[str, int], timeout: float, retries: int, count: int = COUNT
) -> list[PingResult]:
    """Send ``count`` numbered pings, each up to ``1 + retries`` times; wait ``timeout`` per try."""
    results = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for number in range(1, count + 1):
            waited, rtt, tries = 0.0, None, 0
            for attempt in range(1, retries + 2):
                tries = attempt
                message = f"ping {number} try {attempt}".encode()
                start = time.perf_counter()
                sock.sendto(message, address)
                try:
                    while sock.recvfrom(65535)[0].split()[:2] != message.split()[:2]:
                        pass  # a late echo of an earlier ping
                    rtt = time.perf_counter() - start
                    break
                except TimeoutError:
                    waited += timeout
            results.append(PingResult(number, tries, rtt, waited))
    return results


def results_html(results: list[PingResult]) -> str:
    """One row per ping, then the totals: sent, received, loss, time spent waiting."""
    rows = []
    for result in results:
        outcome = "lost" if result.rtt is None else f"{result.rtt * 1000:.2f} ms"
        colour = "#c62828" if result.rtt is None else ("#8d6e00" if result.tries > 1 else "#2e7d32")
        rows.append(
            f"<tr><td>ping {result.number}</td><td>{result.tries} "
            f"{'try' if result.tries == 1 else 'tries'}</td>"
            f'<td style="color:{colour}">{html.escape(outcome)}</td></tr>'
        )
    received = sum(r.rtt is not None for r in results)
    sent = len(results)
    waited = sum(r.waited for r in results)
    datagrams = sum(r.tries for r in results)
    summary = (
        f"<p><b>{sent} sent, {received} received, {(sent - received) / sent * 100:g}% loss</b>; "
        f"{datagrams} datagrams for {sent} pings; {waited:.2f} s spent waiting in timeouts</p>"
    )
    return summary + "<table>" + "".join(rows) + "</table>"


def ping_widget() -> Any:
    """Loss rate, timeout and retries in; each ping's tries and round trip, and the totals, out."""
    import ipywidgets as widgets

    rate = widgets.FloatSlider(value=0.3, min=0.0, max=0.6, step=0.1, description="loss rate")
    timeout = widgets.FloatSlider(
        value=0.1, min=0.05, max=0.3, step=0.05, description="timeout (s)"
    )
    retries = widgets.IntSlider(value=1, min=0, max=2, description="retries")
    button = widgets.Button(description="Ping", button_style="primary")
    shown = widgets.HTML(value="<i>Press Ping: ten pings go out.</i>")

    def on_ping(_button: Any) -> None:
        server = lossy_echo(rate.value)
        try:
            results = ping_with_retries(server.address, timeout.value, retries.value)
        finally:
            server.stop()
        shown.value = results_html(results)

    button.on_click(on_ping)
    return widgets.VBox([widgets.HBox([rate, timeout, retries]), button, shown])
