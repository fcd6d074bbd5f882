"""Time every notebook in JupyterLab in headless Chromium (the benchmark's browser column).

    .venv/bin/python -m tests.browser.run [notebooks/NN_x.ipynb ...] [--json] [--screenshots DIR]

Prints, per notebook, the seconds from opening the page to the end of every
check, and of that the Run All part; a notebook that fails its checks is
reported and makes the exit status 1. ``tools/bench_browser.py`` runs this
with ``--json`` for ``tools/bench.py``, which prints it beside the kernel-only time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import chromium
from .lab import JupyterLab
from .notebook import VIEWPORT, NotebookCheckError, NotebookRun, check_notebook

REPO = Path(__file__).resolve().parents[2]
NO_BROWSER = 3  # exit status when Chromium or Playwright is missing (the reason is on stderr)


def kernel_settings() -> tuple[Path, float]:
    """The start-up file and cell timeout of every kernel the project starts (tools/nbexec.py).

    The browser's kernels share them with nbval's, the harness's and nbtool's,
    so a notebook runs under the same audit and the same hang detection
    everywhere. pytest has tools/ on sys.path (pyproject's pythonpath);
    ``python -m tests.browser.run`` (tools/bench_browser.py) has not.
    """
    tools = str(REPO / "tools")
    if tools not in sys.path:
        sys.path.append(tools)
    import nbexec

    return nbexec.STARTUP_FILE, nbexec.CELL_TIMEOUT


@contextlib.contextmanager
def browser_session(notebooks_dir: Path) -> Iterator[tuple[JupyterLab, Any]]:
    """One JupyterLab (cleared copies of ``notebooks_dir``) and a context of one headless Chromium.

    One context for all notebooks: its HTTP cache spares every new page most
    of JupyterLab's start-up; each notebook still gets a page and workspace of its own.
    """
    from playwright.sync_api import sync_playwright

    startup_file, cell_timeout = kernel_settings()
    with (
        JupyterLab(notebooks_dir, startup_file=startup_file, cell_timeout=cell_timeout) as lab,
        sync_playwright() as p,
    ):
        browser = chromium.launch(p)
        try:
            yield lab, browser.new_context(viewport=VIEWPORT)
        finally:
            browser.close()


def time_notebooks(
    paths: list[Path], screenshots: Path | None = None
) -> list[tuple[NotebookRun, str | None]]:
    """Run each notebook in the browser; returns (timings, failure message or None) per notebook.

    The notebooks must share one folder (the server serves a copy of it).
    """
    paths = [Path(p).resolve() for p in paths]
    folders = {p.parent for p in paths}
    if len(folders) != 1:
        raise ValueError(f"notebooks must be in one folder, got {sorted(map(str, folders))}")
    results: list[tuple[NotebookRun, str | None]] = []
    with browser_session(folders.pop()) as (lab, context):
        for path in paths:
            try:
                results.append((check_notebook(lab, context, path.name, screenshots), None))
            except NotebookCheckError as e:
                results.append((e.run or NotebookRun(name=path.name), str(e)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--screenshots", type=Path, help="save a screenshot per notebook here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks to time", file=sys.stderr)
        return 2
    reason = chromium.missing_reason()
    if reason:
        print(f"no browser run: {reason}", file=sys.stderr)
        return NO_BROWSER
    results = time_notebooks(paths, args.screenshots)
    rows = []
    for run, error in results:
        row = {
            "notebook": run.name,
            "browser_s": round(run.total_seconds, 2),
            "run_all_s": round(run.run_seconds, 2),
            "checked": run.interactions,
            "error": error,
        }
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        header = f"{'notebook':32} {'browser s':>9} {'run all s':>9}"
        print(header)
        for row in rows:
            line = f"{row['notebook']:32} {row['browser_s']:9.2f} {row['run_all_s']:9.2f}"
            print(line + ("  FAILED" if row["error"] else ""))
            for checked in row["checked"]:
                print(f"    used {checked}")
        for row in rows:
            if row["error"]:
                print(f"\n{row['error']}")
    return 1 if any(row["error"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
