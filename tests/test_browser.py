"""Every notebook, run in JupyterLab in headless Chromium as a student runs it.

One JupyterLab for the module (127.0.0.1, a random token, Jupyter and IPython
folders in a temporary directory, kernels under the harness's network audit
from tests/kernel_startup) serves copies of notebooks/ with their outputs
cleared; one Chromium opens a new page per notebook. For each notebook
(found by glob, so a new one is covered without new code) the test clicks the
first cell, chooses Run > Run All Cells, sees the prompts turn to [*] or
numbers, waits until the kernel is idle and then asserts:

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
laptop, and fails when CI=true.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser.chromium import missing_reason
from browser.notebook import NotebookCheckError, NotebookRun, check_notebook
from browser.run import browser_session

pytestmark = pytest.mark.browser

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
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


@pytest.fixture(scope="module")
def lab_and_context():
    reason = missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the browser test, but: {reason}", pytrace=False)
        pytest.skip(reason)
    with browser_session(NOTEBOOK_DIR) as pair:
        yield pair


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
