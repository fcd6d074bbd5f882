"""Compare notebook outputs exactly as nbval 0.11 does, so the harness and nbval agree.

nbval's own functions are reused where they are plain functions (markers,
stream merging, the sanitize file's format); its comparison is a method of a
pytest item, so its rules are restated here: the same keys are skipped, MIME
bundles are flattened per key, every string is sanitized on both sides, and
the order of outputs matters only among outputs of the same key.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import nbformat
from nbval.plugin import (
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    transform_streams_for_comparison,
)

SANITIZE_FILE = Path(__file__).resolve().parent.parent / "tests" / "sanitize.cfg"

# IPyNbFile.skip_compare in nbval 0.11 without --nbdime
SKIP_COMPARE = frozenset(
    {
        "metadata",
        "traceback",
        "prompt_number",
        "output_type",
        "name",
        "execution_count",
        "application/vnd.jupyter.widget-view+json",
        "image/png",
        "image/jpeg",
    }
)

Patterns = dict[str, str]  # regex -> replacement, applied in file order


def load_patterns(path: Path = SANITIZE_FILE) -> Patterns:
    # nbval reads the file in the locale's encoding; the file is kept ASCII.
    return dict(get_sanitize_patterns(path.read_text(encoding="ascii")))


def sanitize(text: Any, patterns: Patterns) -> Any:
    if not isinstance(text, str):
        return text
    for regex, replacement in patterns.items():
        text = re.sub(regex, replacement, text)
    return text


def cell_options(cell: nbformat.NotebookNode) -> dict[str, bool]:
    """nbval's options for a code cell: check, check_exception, skip (comments win over tags)."""
    options: dict[str, bool] = defaultdict(bool, find_metadata_tags(cell.get("metadata", {})))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", True)
    return options


def skipped_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indexes of the code cells nbval does not run."""
    return [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and cell_options(cell)["skip"]
    ]


def comparable(outputs: list, patterns: Patterns) -> dict[str, list]:
    """Key -> sanitized values, the form in which nbval compares a cell's outputs."""
    merged = transform_streams_for_comparison(coalesce_streams(copy.deepcopy(outputs)))
    flat: dict[str, list] = defaultdict(list)
    for output in merged:
        for key, value in output.items():
            if key in SKIP_COMPARE:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIP_COMPARE:
                        flat[mime].append(sanitize(data, patterns))
            else:
                flat[key].append(sanitize(value, patterns))
    return dict(flat)


def _describe(key: str, expected: list, actual: list) -> str:
    if len(expected) != len(actual):
        return f"{key}: {len(expected)} output(s) expected, {len(actual)} produced"
    for left, right in zip(expected, actual, strict=True):
        if left != right:
            if isinstance(left, str) and isinstance(right, str):
                diff = difflib.unified_diff(
                    left.splitlines(), right.splitlines(), "expected", "produced", lineterm="", n=1
                )
                return f"{key} differs:\n" + "\n".join(list(diff)[:40])
            return f"{key} differs:\n  expected {left!r}\n  produced {right!r}"
    return ""


def compare_cell(expected: list, actual: list, patterns: Patterns) -> str:
    """'' when nbval would accept ``actual`` for a cell that stores ``expected``; else why not."""
    left, right = comparable(expected, patterns), comparable(actual, patterns)
    if set(left) != set(right):
        return (
            f"output keys differ: expected {sorted(left)}, produced {sorted(right)}\n"
            + "\n".join(_describe(k, left.get(k, []), right.get(k, [])) for k in left | right)
        )
    for key in left:
        problem = _describe(key, left[key], right[key])
        if problem:
            return problem
    return ""


def compare_notebooks(
    expected: nbformat.NotebookNode,
    actual: nbformat.NotebookNode,
    patterns: Patterns,
    *,
    expected_unrun_cells_pass: bool = True,
) -> list[str]:
    """Every cell where ``actual`` differs from ``expected`` as nbval would judge it.

    Cells nbval skips or does not check (NBVAL_IGNORE_OUTPUT, nbval-skip) are
    left out, and so (like nbval) are cells never executed in ``expected``.
    """
    problems = []
    code_number = -1
    for index, (left, right) in enumerate(zip(expected.cells, actual.cells, strict=True)):
        if left.cell_type != "code":
            continue
        code_number += 1
        options = cell_options(left)
        if options["skip"] or not options["check"]:
            continue
        if expected_unrun_cells_pass and left.get("execution_count") is None:
            continue
        problem = compare_cell(left.get("outputs", []), right.get("outputs", []), patterns)
        if problem:
            first_line = left.source.strip().splitlines()[0] if left.source.strip() else ""
            problems.append(f"Cell {code_number} (cell index {index}, {first_line!r}): {problem}")
    return problems
