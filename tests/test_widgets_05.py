"""Notebook 05's ping widget: real pings against a seeded lossy server; views are pure."""

from __future__ import annotations

from helpers.lessons.widgets_05 import (
    PingResult,
    lossy_echo,
    ping_widget,
    ping_with_retries,
    results_html,
)


def run(rate: float, retries: int, timeout: float = 0.2) -> list[PingResult]:
    server = lossy_echo(rate)
    try:
        return ping_with_retries(server.address, timeout, retries)
    finally:
        server.stop()


def test_without_loss_every_ping_comes_back_on_its_first_try() -> None:
    results = run(0.0, retries=2)
    assert [r.tries for r in results] == [1] * 10
    assert all(r.rtt is not None and r.waited == 0 for r in results)


def test_retries_buy_back_lost_pings_and_cost_waiting() -> None:
    without = run(0.5, retries=0)
    with_two = run(0.5, retries=2)
    lost_without = [r.number for r in without if r.rtt is None]
    lost_with = [r.number for r in with_two if r.rtt is None]
    assert lost_without and set(lost_with) < set(lost_without)
    assert sum(r.waited for r in with_two) > sum(r.waited for r in without) > 0
    assert max(r.tries for r in with_two) == 3


def test_the_same_settings_lose_the_same_tries() -> None:
    first, second = run(0.3, retries=1), run(0.3, retries=1)
    assert [(r.tries, r.rtt is None) for r in first] == [(r.tries, r.rtt is None) for r in second]


def test_the_view_shows_each_ping_and_the_totals() -> None:
    view = results_html([PingResult(1, 1, 0.0004, 0.0), PingResult(2, 3, None, 0.3)])
    assert "2 sent, 1 received, 50% loss" in view
    assert "4 datagrams for 2 pings; 0.30 s spent waiting" in view
    assert "0.40 ms" in view and "3 tries" in view and "lost" in view


def test_a_press_pings_for_real() -> None:
    widget = ping_widget()
    (rate, _timeout, retries), button, shown = (
        widget.children[0].children,
        widget.children[1],
        widget.children[2],
    )
    rate.value, retries.value = 0.0, 0
    button.click()
    assert "10 sent, 10 received, 0% loss" in shown.value
