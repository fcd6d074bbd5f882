"""Refresh the course's notebooks: navigation, stored outputs, and a hygiene report.

    .venv/bin/python tools/nbtool.py nav                   # navigation + contents everywhere
    .venv/bin/python tools/nbtool.py run [NOTEBOOK ...]    # nav, then re-execute and store outputs
                                                           # (NOTEBOOK: a path, a name or "02")
    .venv/bin/python tools/nbtool.py check [NOTEBOOK ...]  # the hygiene tests' findings

``run`` executes each notebook top to bottom in a clean kernel (the python3
kernel of this environment, cwd notebooks/, a timeout per cell) and writes it
back with its outputs. With no NOTEBOOK it runs every notebook of the list that
exists. A notebook whose run fails is left as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import nbcheck
import nbexec
import nbformat
import nbindex


def _write_if_changed(path: Path, nb: nbformat.NotebookNode) -> bool:
    text = nbformat.writes(nb) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def refresh_navigation(notebook_dir: Path = nbindex.NOTEBOOK_DIR) -> list[str]:
    """Regenerate every generated cell and the README's contents; return what changed."""
    changed = []
    for entry in nbindex.NOTEBOOKS:
        path = notebook_dir / entry.filename
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        nbindex.apply_navigation(nb, entry, notebook_dir)
        if _write_if_changed(path, nb):
            changed.append(path.name)
    if nbindex.README.is_file():
        text = nbindex.README.read_text(encoding="utf-8")
        if nbindex.README_START in text:
            new = nbindex.apply_readme_contents(text, notebook_dir)
            if new != text:
                nbindex.README.write_text(new, encoding="utf-8")
                changed.append(nbindex.README.name)
    return changed


def _resolve(names: list[str]) -> list[Path]:
    if not names:
        return [nbindex.NOTEBOOK_DIR / e.filename for e in nbindex.NOTEBOOKS if nbindex.exists(e)]
    paths = []
    for name in names:
        path = Path(name)
        if not path.is_file():
            # "02", "02_the_chapters_pair" or "notebooks/02_the_chapters_pair.ipynb"
            # all name one notebook
            matches = sorted(nbindex.NOTEBOOK_DIR.glob(f"{path.stem}*.ipynb"))
            if len(matches) != 1:
                found = [m.name for m in matches]
                raise SystemExit(f"no single notebook matches {name!r}: {found}")
            path = matches[0]
        paths.append(path.resolve())
    return paths


def run_notebook(path: Path, timeout: float) -> bool:
    """Execute ``path`` in a clean kernel and store the outputs; False (file untouched) on error."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(nbexec.KERNELSPEC)
    with nbexec.kernel_environment() as env:
        session = asyncio.run(
            nbexec.run_in_one_kernel(nb, cwd=path.parent, env=env, timeout=timeout)
        )
    if session.error is not None:
        print(f"{path.name}: FAILED, file left unchanged\n{nbexec.error_text(session.error)}")
        return False
    executed = session.runs[0].nb
    for cell in executed.cells:
        cell.get("metadata", {}).pop("execution", None)
    _write_if_changed(path, executed)
    slowest = max(session.runs[0].cell_seconds.items(), key=lambda kv: kv[1], default=(None, 0))
    print(
        f"{path.name}: executed in {session.seconds:.1f} s "
        f"(slowest cell {slowest[0]}: {slowest[1]:.2f} s)"
    )
    return True


def report(paths: list[Path]) -> bool:
    clean = True
    for path in paths:
        for check, problems in nbcheck.check_notebook(path).items():
            for problem in problems:
                clean = False
                print(f"{path.name}: {check}: {problem}")
    return clean


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("nav", help="regenerate navigation, the contents in 00 and README")
    run = commands.add_parser("run", help="nav, then re-execute notebooks and store outputs")
    run.add_argument("notebooks", nargs="*")
    run.add_argument(
        "--timeout",
        type=float,
        default=nbexec.CELL_TIMEOUT,
        help=f"seconds per cell (default {nbexec.CELL_TIMEOUT:g}, set by COURSE_CELL_TIMEOUT)",
    )
    check = commands.add_parser("check", help="print the hygiene tests' findings")
    check.add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)

    if args.command == "check":
        return 0 if report(_resolve(args.notebooks)) else 1
    changed = refresh_navigation()
    if changed:
        print("navigation refreshed:", ", ".join(changed))
    if args.command == "nav":
        return 0
    paths = _resolve(args.notebooks)
    started = time.perf_counter()
    ok = all([run_notebook(path, args.timeout) for path in paths])
    print(f"{len(paths)} notebook(s) in {time.perf_counter() - started:.1f} s")
    clean = report(paths)
    return 0 if ok and clean else 1


if __name__ == "__main__":
    sys.exit(main())
