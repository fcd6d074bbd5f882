"""Hygiene of a stored notebook: what a reader sees must be what a clean run produces.

Each check takes the notebook's path and its parsed content and returns a list
of problems in plain words (empty when all is well). The tests run every check
on every notebook in notebooks/; ``nbtool.py check`` prints the same list for
an author.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import nbindex

RAISES_TAG = "raises-exception"

# Seconds a cell may wait on purpose (a timeout shown, a pause): its metadata
# "deliberate_wait"; bench.py subtracts it.
MAX_WAIT = 0.5

EMOJI = re.compile("[\U0001f000-\U0001faff\ufe0f]")


def _local_path_patterns() -> list[re.Pattern[str]]:
    """Folders that belong to one machine: homes, interpreters, temporary folders, this checkout."""
    fixed = [
        r"(?<![\w.])/home/[^/\s'\"]+",
        r"(?<![\w.])/root\b",
        r"(?<![\w.])/Users/[^/\s'\"]+",
        r"(?i)\b[a-z]:\\(users|windows|program files)",
        r"(?<![\w.])/tmp\b",
        r"(?<![\w.])/var/folders/",
        r"(?<![\w.])/private/var/",
        r"(?i)\\appdata\\",
        r"(?i)\bsite-packages\b",
        r"(?i)\bdist-packages\b",
        r"(?<![\w.])/usr/(local/)?lib/python\d",
        r"(?<![\w.])/opt/homebrew\b",
        r"\.venv\b",
        r"\.pyenv\b",
        r"(?i)\bconda\b[/\\]",
    ]
    machine = {
        sys.prefix,
        sys.base_prefix,
        str(nbindex.ROOT),
        tempfile.gettempdir(),
        str(Path.home()),
    }
    return [re.compile(p) for p in fixed] + [
        re.compile(re.escape(m)) for m in sorted(machine) if len(m) > 1
    ]


LOCAL_PATHS = _local_path_patterns()


def code_cells(nb: nbformat.NotebookNode) -> Iterator[tuple[int, nbformat.NotebookNode]]:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            yield index, cell


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _where(index: int, cell: nbformat.NotebookNode) -> str:
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else "(empty)"
    return f"cell {index} ({first[:60]!r})"


def check_kernelspec(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    spec = nb.metadata.get("kernelspec", {})
    if spec.get("name") != "python3" or spec.get("language", "python") != "python":
        return [f"kernelspec is {spec!r}; it must be the python3 kernel (nbtool.py run sets it)"]
    return []


def check_executed_in_order(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """Stored as one clean run top to bottom: counts 1..n, nothing unexecuted, no stale outputs."""
    problems = []
    expected = 0
    for index, cell in code_cells(nb):
        if not cell.source.strip():
            continue
        expected += 1
        if cell.get("execution_count") != expected:
            problems.append(
                f"{_where(index, cell)} has execution count {cell.get('execution_count')}, "
                f"expected {expected}"
            )
    if expected == 0:
        problems.append("no code cells")
    if problems:
        problems.append("re-run it with: .venv/bin/python tools/nbtool.py run " + path.name)
    return problems


def _leaked_traceback(text: str) -> bool:
    """A traceback printed as text, other than a student's program's own.

    A program run by ``helpers.start_program`` / ``run_program`` shows only the
    frames of its own file, named without a folder (``File "server.py"``); a
    traceback leaked by a background thread or a logger names library files by
    their full path.
    """
    if "Traceback (most recent call last)" not in text:
        return False
    files = re.findall(r'^\s*File "([^"]*)"', text, re.M)
    return not files or any("/" in name or "\\" in name for name in files)


def check_no_unexpected_errors(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """Errors shown on purpose are caught and printed, or the cell is tagged raises-exception."""
    problems = []
    for index, cell in code_cells(nb):
        tagged = RAISES_TAG in tags(cell)
        if re.search(r"^\s*#\s*NBVAL_RAISES_EXCEPTION\s*$", cell.source, re.M) and not tagged:
            problems.append(
                f"{_where(index, cell)} has the NBVAL_RAISES_EXCEPTION comment but not the "
                f"'{RAISES_TAG}' tag, so JupyterLab's Run All would stop there"
            )
        if tagged:
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(
                    f"{_where(index, cell)} stores an error ({output.get('ename')}: "
                    f"{output.get('evalue')}); catch and print it, or tag the cell '{RAISES_TAG}'"
                )
            elif _leaked_traceback("".join(_strings(output.get("text", "")))):
                problems.append(
                    f"{_where(index, cell)} shows a traceback printed as text (often a background "
                    "thread or a logger); record it in an EventLog instead"
                )
    return problems


def check_no_local_paths(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    problems = []
    for index, cell in code_cells(nb):
        for output in cell.get("outputs", []):
            for text in _strings(output):
                for pattern in LOCAL_PATHS:
                    found = pattern.search(text)
                    if found:
                        start = max(found.start() - 30, 0)
                        problems.append(
                            f"{_where(index, cell)} shows a local path: "
                            f"...{text[start : found.end() + 30]!r}..."
                        )
                        break
    return problems


def check_navigation(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    entry = nbindex.entry_for(path)
    if entry is None:
        return [f"{path.name} is not in the list of notebooks (NOTEBOOKS in tools/nbindex.py)"]
    problems = []
    found = nbindex.generated_cells(nb)
    expected = nbindex.expected_sources(entry, path.parent)
    for part, source in expected.items():
        where = found.get(part, [])
        if len(where) != 1:
            problems.append(f"{len(where)} '{part}' cells, expected exactly one")
        elif nb.cells[where[0]].source != source:
            problems.append(f"the '{part}' cell does not match the list of notebooks")
    for part in set(found) - set(expected):
        problems.append(f"an unexpected generated '{part}' cell")
    if nb.cells and nb.cells[0].get("metadata", {}).get(nbindex.GENERATED) != nbindex.NAV_TOP:
        problems.append("the first cell is not the navigation bar")
    if nb.cells and nb.cells[-1].get("metadata", {}).get(nbindex.GENERATED) != nbindex.NAV_BOTTOM:
        problems.append("the last cell is not the navigation bar")
    if problems:
        problems.append("regenerate it with: .venv/bin/python tools/nbtool.py nav")
    return problems


def check_skeleton(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """The parts of the notebook skeleton that can be checked without judgement."""
    problems = []
    first_code = True
    for index, cell in enumerate(nb.cells):
        if EMOJI.search(cell.source) or any(
            EMOJI.search(t) for o in cell.get("outputs", []) for t in _strings(o)
        ):
            problems.append(f"{_where(index, cell)} contains an emoji (the course uses none)")
        if cell.cell_type != "code":
            continue
        if not cell.source.strip():
            problems.append(f"cell {index} is an empty code cell")
            continue
        if index == 0 or nb.cells[index - 1].cell_type != "markdown":
            problems.append(
                f"{_where(index, cell)} is not preceded by a markdown cell saying what to look for"
            )
        if first_code:
            first_code = False
            if not re.search(r"^import helpers\b", cell.source, re.M) or (
                "helpers.enable_guard()" not in cell.source
            ):
                problems.append(
                    f"the first code cell must `import helpers` and call helpers.enable_guard() "
                    f"({_where(index, cell)})"
                )
    return problems


NBVAL_COMMENT = re.compile(r"#\s*NBVAL_\w+", re.I)
MACHINERY_PROSE = re.compile(r"\bnbval\b|sanitiz|stored outputs?\b|NBVAL_", re.I)
MAX_CELLS = 70  # a notebook over this is two topics; the map aims at about 60


def check_markers(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """No test machinery in the student's view.

    nbval's markers are cell tags (``nbval-ignore-output``, ``raises-exception``),
    a deliberate wait is the cell's ``deliberate_wait`` metadata (seconds), and
    no prose speaks of nbval, stored outputs or sanitizing.
    """
    problems = []
    for index, cell in enumerate(nb.cells):
        where = _where(index, cell)
        if cell.cell_type == "markdown":
            if cell.metadata.get("generated"):
                continue
            found = MACHINERY_PROSE.search(cell.source)
            if found:
                problems.append(f"{where} speaks of test machinery ({found.group(0)!r})")
            continue
        if cell.cell_type != "code":
            continue
        if NBVAL_COMMENT.search(cell.source):
            problems.append(
                f"{where} has an NBVAL comment in its code: use the cell tag "
                "'nbval-ignore-output' or 'raises-exception' instead"
            )
        if "deliberate wait" in cell.source.lower():
            problems.append(
                f"{where} marks a deliberate wait in its code: put the seconds in the "
                "cell's metadata instead ({'deliberate_wait': 0.5})"
            )
        wait = cell.metadata.get("deliberate_wait", 0)
        if not isinstance(wait, (int, float)) or wait < 0:
            problems.append(f"{where}: deliberate_wait must be a number of seconds, not {wait!r}")
        elif wait > MAX_WAIT:
            problems.append(
                f"{where} waits {wait} s on purpose; keep each wait at or under {MAX_WAIT} s"
            )
        lines = cell.source.rstrip().splitlines()
        last = lines[-1].split("#", 1)[0].rstrip() if lines else ""
        if last.endswith(";"):
            problems.append(
                f"{where} ends with ';': nbval shows the value anyway, assign it instead (_ = ...)"
            )
    return problems


def check_size(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """At most ``MAX_CELLS`` cells: a longer notebook holds two topics."""
    if len(nb.cells) > MAX_CELLS:
        return [f"{len(nb.cells)} cells; split it (at most {MAX_CELLS}, about 60 is the aim)"]
    return []


def deliberate_wait(cell: nbformat.NotebookNode) -> float:
    """Seconds a cell waits on purpose (its ``deliberate_wait`` metadata)."""
    return float(cell.metadata.get("deliberate_wait", 0))


CHECKS: dict[str, Callable[[Path, nbformat.NotebookNode], list[str]]] = {
    "kernelspec": check_kernelspec,
    "executed_in_order": check_executed_in_order,
    "no_unexpected_errors": check_no_unexpected_errors,
    "no_local_paths": check_no_local_paths,
    "navigation": check_navigation,
    "skeleton": check_skeleton,
    "markers": check_markers,
    "size": check_size,
}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def check_notebook(path: Path) -> dict[str, list[str]]:
    """Check name -> problems, for every check (a notebook that cannot be read fails them all)."""
    try:
        nb = read(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable notebook is a problem to report
        return {name: [f"cannot read {path.name}: {exc}"] for name in CHECKS}
    return {name: check(path, nb) for name, check in CHECKS.items()}
