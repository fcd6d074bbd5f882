"""Every notebook, run in JupyterLab in headless Chromium as a student runs it.

One JupyterLab for the module (127.0.0.1, a random token, Jupyter and IPython
folders in a temporary directory, kernels running the project's kernel
start-up, tools/kernel_startup.py) serves copies of notebooks/ with their
outputs cleared; one Chromium opens a new page per notebook. For each notebook
(found by glob, so a new one is covered without new code) the test clicks the
first cell, chooses Run > Run All Cells, sees the prompts turn to [*] or
numbers, waits until the kernel is idle (no cell may run longer than the cell
timeout nbval and the harness use, COURSE_CELL_TIMEOUT) and then asserts:

- every non-empty code cell ran (Run All did not stop early);
- no error output, except in cells tagged ``raises-exception``;
- the kernel stayed on loopback;
- every widget output is drawn as a widget, not as its text fallback;
- the widgets respond. A code cell declares what to try in its metadata::

      "browser_check": {"fill": {"Message": "ПАЛИНДРОМ"}, "click": "Send",
                        "expect_text": "МОРДНИЛАП"}

  (keys and matching rules: ``Interaction`` in tests/browser/notebook.py; a
  list of such objects is run in order). ``expect_text`` must be absent before
  and present in that cell's output afterwards. A notebook with widgets and no
  declaration gets a generic check: its buttons (clicked), sliders (one step)
  and dropdowns (next option) are used in turn until one changes its cell's
  output without adding an error line such as "ConnectionRefusedError: ..."
  (slider readouts do not count); none doing so fails the test.

Then the kernel is shut down. A screenshot per notebook (showing the checked
widget) goes to $COURSE_SCREENSHOTS, or to a pytest temporary folder; the
folder and the seconds per notebook are printed at the end of the module.

Without Chromium or Playwright the test skips with the reason on a student's
laptop, and fails when CI=true. The hang detector of Run All is also tested
without a browser, on scripted snapshots and a clock of its own (the last tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from browser import notebook
from browser.chromium import missing_reason
from browser.notebook import NotebookCheckError, NotebookDriver, NotebookRun, check_notebook
from browser.run import browser_session
from reporting import report

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("COURSE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def timings(request: pytest.FixtureRequest, screenshots: Path):
    """Collects each notebook's times; printed past pytest's capture when the module ends."""
    runs: list[NotebookRun] = []
    yield runs
    if not runs:
        return
    lines = [f"browser runs (screenshots in {screenshots}):"]
    for r in runs:
        lines.append(
            f"  {r.name:32} {r.total_seconds:6.1f} s  (open {r.open_seconds:.1f} s, "
            f"run all {r.run_seconds:.1f} s, {r.widget_outputs} widget outputs)"
        )
        lines += [f"      used {checked}" for checked in r.interactions]
    report(request, lines)


@pytest.fixture(scope="module")
def lab_and_context():
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser test, but: {reason}", pytrace=False)
        pytest.skip(reason)
    with browser_session(NOTEBOOK_DIR) as pair:
        yield pair


@pytest.mark.browser
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_browser(
    name: str,
    lab_and_context,
    screenshots: Path,
    timings: list[NotebookRun],
    record_property,
) -> None:
    lab, context = lab_and_context
    failure = None
    try:
        run = check_notebook(lab, context, name, screenshots)
    except NotebookCheckError as e:
        failure = str(e)
    if failure:
        # The message names the notebook and the cell; the driver's traceback adds nothing.
        pytest.fail(f"{failure}\n(screenshots: {screenshots})", pytrace=False)
    timings.append(run)
    record_property("browser_seconds", round(run.total_seconds, 2))
    assert run.screenshot is not None and run.screenshot.stat().st_size > 0


# --- the hang detector of Run All, on scripted snapshots ---------------------------------------


class ScriptedClock:
    """Stands in for the driver's ``time``: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedPage:
    """A page whose notebook snapshot is ``script(seconds since start)``."""

    def __init__(self, clock: ScriptedClock, script: Callable[[float], dict[str, Any]]) -> None:
        self.clock = clock
        self.script = script

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        pass

    def evaluate(self, js: str, path: str) -> dict[str, Any]:
        assert self.clock.now < 3600, "the driver neither returned nor failed in an hour"
        return self.script(self.clock.now)


def code_cell(index: int, prompt: str) -> dict[str, Any]:
    count = int(prompt[1:-2]) if prompt[1:-2].isdigit() else None
    head = f"step({index})"
    return {"type": "code", "index": index, "head": head, "prompt": prompt, "count": count}


def run_all_of(cells: int, seconds_per_cell: float, hung_at: int | None = None):
    """Run All of ``cells`` cells, each taking ``seconds_per_cell``; ``hung_at`` never ends."""

    def script(now: float) -> dict[str, Any]:
        finished = min(cells, int(now // seconds_per_cell))
        if hung_at is not None:
            finished = min(finished, hung_at)
        prompts = [f"[{i + 1}]:" if i < finished else "[*]:" for i in range(cells)]
        kernel = "busy" if finished < cells else "idle"
        return {"kernel": kernel, "cells": [code_cell(i, p) for i, p in enumerate(prompts)]}

    return script


def wait_finished(script, cell_timeout: float, monkeypatch) -> tuple[dict[str, Any], float]:
    clock = ScriptedClock()
    monkeypatch.setattr(notebook, "time", clock)
    lab = SimpleNamespace(notebooks_dir=Path("notebooks"), cell_timeout=cell_timeout)
    driver = NotebookDriver(lab, ScriptedPage(clock, script), "scripted.ipynb")
    return driver.wait_finished(), clock.now


def test_a_long_run_all_passes_while_every_cell_ends_within_the_cell_timeout(monkeypatch):
    # ten cells of 50 s each: 500 s in all, far over one cell timeout of 60 s
    snap, seconds = wait_finished(run_all_of(10, 50.0), 60.0, monkeypatch)
    assert seconds >= 500
    assert [c["count"] for c in snap["cells"]] == list(range(1, 11))


def test_a_cell_running_past_the_cell_timeout_fails_run_all(monkeypatch):
    with pytest.raises(NotebookCheckError) as failure:
        wait_finished(run_all_of(10, 5.0, hung_at=3), 60.0, monkeypatch)
    message = str(failure.value)
    assert "cell 3 ('step(3)') still running after 60 s without progress" in message
    assert "COURSE_CELL_TIMEOUT" in message


def test_a_busy_kernel_with_no_cell_running_fails_after_the_cell_timeout(monkeypatch):
    def script(now: float) -> dict[str, Any]:
        return {"kernel": "busy", "cells": [code_cell(0, "[1]:")]}

    with pytest.raises(NotebookCheckError, match="no cell running after 60 s"):
        wait_finished(script, 60.0, monkeypatch)
