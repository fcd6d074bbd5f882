"""Figures a test prints for people: written past pytest's capture, so they always show."""

from __future__ import annotations

import pytest


def report(request: pytest.FixtureRequest, lines: list[str]) -> None:
    """Write ``lines`` to the terminal even while pytest captures output (plain print if not)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)
