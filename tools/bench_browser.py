"""The browser column of the benchmark: each notebook's time in JupyterLab in headless Chromium.

    .venv/bin/python tools/bench_browser.py [NOTEBOOK ...]

prints, per notebook, the kernel-only time (a fresh kernel, no browser, as
tools/bench.py measures it) beside the browser run's time (page opened, Run
All, every check of tests/test_browser.py, kernel shut down) and its Run All
part. ``browser_times()`` is what tools/bench.py calls for its own table.

The browser runs in a child process (``python -m tests.browser.run --json``):
Playwright's synchronous API refuses to run where an asyncio loop has run or
runs, and a crashed browser cannot take the benchmark down with it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbexec
import nbformat
from nbtool import _resolve

REPO = Path(__file__).resolve().parent.parent
NO_BROWSER = 3  # tests/browser/run.py's exit status when Chromium or Playwright is missing


@dataclass
class BrowserTimes:
    """Seconds per notebook file name; ``skipped`` says why there are none."""

    seconds: dict[str, float] = field(default_factory=dict)
    run_all_seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None


def browser_times(paths: list[Path], timeout: float = 1800) -> BrowserTimes:
    """Run the notebooks (one folder) through the browser test's driver; never raises for them."""
    if not paths:
        return BrowserTimes()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.browser.run", "--json", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode == NO_BROWSER:
        return BrowserTimes(skipped=proc.stderr.strip())
    try:
        rows = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        return BrowserTimes(skipped=f"the browser run broke (exit {proc.returncode}): {tail}")
    times = BrowserTimes()
    for row in rows:
        times.seconds[row["notebook"]] = row["browser_s"]
        times.run_all_seconds[row["notebook"]] = row["run_all_s"]
        if row["error"]:
            times.failures[row["notebook"]] = row["error"]
    return times


def kernel_seconds(paths: list[Path]) -> dict[str, float | None]:
    """Kernel-only time per notebook, measured as tools/bench.py does (None: the run failed)."""
    result: dict[str, float | None] = {}
    with nbexec.kernel_environment() as env:
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=path.parent, env=env))
            result[path.name] = None if session.error else session.seconds
    return result


def main(argv: list[str]) -> int:
    paths = _resolve(argv)
    kernel = kernel_seconds(paths)
    browser = browser_times(paths)
    header = f"{'notebook':<26} {'kernel':>8} {'browser':>8} {'run all':>8}"
    print(header)
    print("-" * len(header))
    for path in paths:
        k = kernel[path.name]
        b = browser.seconds.get(path.name)
        r = browser.run_all_seconds.get(path.name)
        cells = [f"{k:7.2f}s" if k is not None else "  FAILED", f"{b:7.2f}s" if b else "       -"]
        cells.append(f"{r:7.2f}s" if r else "       -")
        note = "  <- browser check FAILED" if path.name in browser.failures else ""
        print(f"{path.stem:<26} {' '.join(cells)}{note}")
    if browser.skipped:
        print(f"\nno browser column: {browser.skipped}")
    for error in browser.failures.values():
        print(f"\n{error}")
    return 1 if browser.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
