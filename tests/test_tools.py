"""The notebook tooling itself: navigation, comparison with nbval's rules, hygiene checks.

Synthetic notebooks made here, so the tools are tested without depending on
what the course's notebooks contain at the moment.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbcheck
import nbcompare
import nbexec
import nbformat
import nbindex
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

PATTERNS = nbcompare.load_patterns()
LESSON = nbindex.NOTEBOOKS[2]


def stream(text: str, name: str = "stdout"):
    return new_output("stream", name=name, text=text)


def executed(*sources_and_outputs, tags=None) -> nbformat.NotebookNode:
    """A notebook of (markdown, code) pairs stored as one clean run, with navigation."""
    cells = []
    for count, (source, outputs) in enumerate(sources_and_outputs, 1):
        cells.append(new_markdown_cell("What to look for."))
        cell = new_code_cell(source, execution_count=count, outputs=list(outputs))
        if tags and count in tags:
            cell.metadata["tags"] = tags[count]
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(nbexec.KERNELSPEC)
    nbindex.apply_navigation(nb, LESSON)
    return nb


FIRST = ("import helpers\nhelpers.enable_guard()", [])


def problems(nb: nbformat.NotebookNode, check: str, name: str = LESSON.filename) -> list[str]:
    return nbcheck.CHECKS[check](Path(name), nb)


# --- navigation -------------------------------------------------------------------


def test_navigation_links_the_neighbours_in_the_list() -> None:
    bar = nbindex.nav_source(LESSON)
    assert "(01_osi_and_sockets.ipynb)" in bar and "(03_tcp_streams.ipynb)" in bar
    assert "(00_start_here.ipynb#Contents)" in bar
    assert "Previous" not in nbindex.nav_source(nbindex.NOTEBOOKS[0])
    assert "&rarr;" not in nbindex.nav_source(nbindex.NOTEBOOKS[-1])


def test_navigation_is_replaced_not_duplicated_and_stable() -> None:
    nb = executed(FIRST)
    nb.cells[0].source = "typed by hand"
    nb.cells.insert(3, new_markdown_cell("stray", metadata={nbindex.GENERATED: "nav-top"}))
    assert nbindex.apply_navigation(nb, LESSON)
    assert nbindex.generated_cells(nb) == {"nav-top": [0], "nav-bottom": [len(nb.cells) - 1]}
    assert nb.cells[0].source == nbindex.nav_source(LESSON)
    assert not nbindex.apply_navigation(nb, LESSON), "a second pass must change nothing"
    assert problems(nb, "navigation") == []


def test_contents_mark_missing_notebooks_as_coming(tmp_path: Path) -> None:
    (tmp_path / "00_start_here.ipynb").write_text("{}", encoding="utf-8")
    lines = nbindex.contents_lines("", tmp_path)
    assert lines[0].startswith("- [00 Start here](00_start_here.ipynb): ")
    assert all("(coming)" in line for line in lines[1:])


def test_readme_block_is_replaced_between_markers() -> None:
    text = f"intro\n{nbindex.README_START}\nold\n{nbindex.README_END}\nrest\n"
    new = nbindex.apply_readme_contents(text)
    assert new.startswith("intro\n") and new.endswith(f"{nbindex.README_END}\nrest\n")
    assert "old" not in new and "notebooks/00_start_here.ipynb" in new


# --- comparison with nbval's rules ------------------------------------------------


def test_sanitized_differences_pass_and_real_ones_fail() -> None:
    stored = executed(FIRST, ("serve()", [stream("reverse server on 127.0.0.1:33333\n")]))
    fresh = executed(
        FIRST, ("serve()", [stream("reverse server on 127.0.0.1:45123 (33333 was busy)\n")])
    )
    assert nbcompare.compare_notebooks(stored, fresh, PATTERNS) == []
    fresh.cells[4].outputs = [stream("echo server on 127.0.0.1:33333\n")]
    (problem,) = nbcompare.compare_notebooks(stored, fresh, PATTERNS)
    assert problem.startswith("Cell 1 ") and "stdout differs" in problem


def test_comparison_follows_nbval_markers_and_keys() -> None:
    stored = executed(
        FIRST,
        ("# NBVAL_IGNORE_OUTPUT\nsocket.gethostname()", [stream("vm\n")]),
        ("x", [new_output("execute_result", data={"text/plain": "1"}, execution_count=3)]),
    )
    fresh = copy_with(stored, 4, [stream("laptop\n")])
    assert nbcompare.compare_notebooks(stored, fresh, PATTERNS) == []
    # widget model ids and execution counts are not compared
    fresh = copy_with(
        stored,
        6,
        [
            new_output(
                "execute_result",
                execution_count=9,
                data={
                    "text/plain": "1",
                    "application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                },
            )
        ],
    )
    assert nbcompare.compare_notebooks(stored, fresh, PATTERNS) == []
    fresh = copy_with(stored, 6, [stream("1\n")])
    assert "output keys differ" in nbcompare.compare_notebooks(stored, fresh, PATTERNS)[0]


def test_streams_are_merged_before_comparing() -> None:
    stored = executed(FIRST, ("p()", [stream("a\nb\n")]))
    fresh = copy_with(stored, 4, [stream("a\n"), stream("b\n")])
    assert nbcompare.compare_notebooks(stored, fresh, PATTERNS) == []


def copy_with(nb, index, outputs):
    other = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    other.cells[index].outputs = outputs
    return other


# --- hygiene checks ---------------------------------------------------------------


def test_a_clean_notebook_has_no_problems() -> None:
    nb = executed(FIRST, ("print(1)", [stream("1\n")]))
    for check in nbcheck.CHECKS:
        assert problems(nb, check) == [], check


def test_execution_order_and_unexecuted_cells_are_found() -> None:
    nb = executed(FIRST, ("a = 1", []), ("b = 2", []))
    nb.cells[4].execution_count, nb.cells[6].execution_count = 3, 2
    assert len(problems(nb, "executed_in_order")) == 3  # two cells + how to fix
    nb.cells[4].execution_count = nb.cells[6].execution_count = None
    assert "expected 2" in problems(nb, "executed_in_order")[0]


def test_errors_are_allowed_only_in_tagged_cells() -> None:
    error = new_output("error", ename="ValueError", evalue="bad", traceback=[])
    nb = executed(FIRST, ("raise ValueError('bad')", [error]))
    assert "ValueError: bad" in problems(nb, "no_unexpected_errors")[0]
    nb = executed(FIRST, ("raise ValueError('bad')", [error]), tags={2: ["raises-exception"]})
    assert problems(nb, "no_unexpected_errors") == []
    nb = executed(FIRST, ("# NBVAL_RAISES_EXCEPTION\nraise ValueError('bad')", [error]))
    assert any("tag" in p for p in problems(nb, "no_unexpected_errors"))
    thread = stream("Exception in thread x:\nTraceback (most recent call last):\n", "stderr")
    nb = executed(FIRST, ("serve()", [thread]))
    assert "background thread" in problems(nb, "no_unexpected_errors")[0]


@pytest.mark.parametrize(
    "text",
    [
        "/home/student/course/notebooks",
        "File /root/x.py",
        "/usr/lib/python3.11/socket.py",
        "C:\\Users\\student\\course",
        "/tmp/tmpab12cd34/Maildir",
        "lib/python3.11/site-packages/aiosmtpd",
        str(nbindex.ROOT / "helpers"),
    ],
)
def test_local_paths_in_outputs_are_found(text: str) -> None:
    nb = executed(FIRST, ("show()", [stream(text + "\n")]))
    assert problems(nb, "no_local_paths"), text


def test_skeleton_rules() -> None:
    nb = executed(("import socket", []))
    assert "helpers.enable_guard()" in problems(nb, "skeleton")[0]
    nb = executed(FIRST, ("x = 1", []))
    nb.cells.insert(5, new_code_cell("y = 2", execution_count=3))
    nb.cells.insert(6, new_code_cell(""))
    found = problems(nb, "skeleton")
    assert any("not preceded by a markdown cell" in p for p in found)
    assert any("empty code cell" in p for p in found)
    nb = executed(FIRST, ("print('\U0001f600')", [stream("\U0001f600\n")]))
    assert "emoji" in problems(nb, "skeleton")[0]


def test_waits_are_metadata_and_markers_in_sight_are_problems() -> None:
    nb = executed(FIRST, ("wait()", []), ("x = 1", []))
    nb.cells[4].metadata["deliberate_wait"] = 0.5
    assert problems(nb, "markers") == []
    assert nbcheck.deliberate_wait(nb.cells[4]) == 0.5
    assert nbcheck.deliberate_wait(nb.cells[6]) == 0
    nb.cells[6].metadata["deliberate_wait"] = 2
    assert "keep each wait at or under 0.5 s" in problems(nb, "markers")[0]
    nb = executed(
        FIRST,
        ("# NBVAL_IGNORE_OUTPUT\nprint(1)", []),
        ("sleep(1)  # deliberate wait: 1 s", []),
        ("x;", []),
    )
    found = problems(nb, "markers")
    assert len(found) == 3
    assert (
        "nbval-ignore-output" in found[0] and "metadata" in found[1] and "ends with ';'" in found[2]
    )


def test_prose_about_test_machinery_is_a_problem() -> None:
    nb = executed(FIRST)
    nb.cells[1].source = "The output stored here is sanitized for nbval."
    assert "test machinery" in problems(nb, "markers")[0]


def test_a_notebook_over_seventy_cells_is_too_long() -> None:
    nb = executed(FIRST, *[("x = 1", [])] * 35)  # navigation + 2 x 36 cells
    assert len(nb.cells) > nbcheck.MAX_CELLS and "split it" in problems(nb, "size")[0]
    nb = executed(FIRST, *[("x = 1", [])] * 30)
    assert len(nb.cells) <= nbcheck.MAX_CELLS and problems(nb, "size") == []


def test_notebooks_outside_the_list_are_reported() -> None:
    nb = executed(FIRST)
    assert "not in the list" in problems(nb, "navigation", "07_http.ipynb")[0]


# --- executing ----------------------------------------------------------------------


def test_a_cell_that_changes_on_a_second_run_is_caught(tmp_path: Path, kernel_env) -> None:
    nb = executed(
        ("runs = globals().get('runs', 0) + 1\nprint(runs)", []),
        ("print('same every time')", []),
    )
    session = asyncio.run(
        nbexec.run_in_one_kernel(nb, cwd=tmp_path, env=kernel_env("twice"), runs=2, timeout=30)
    )
    assert session.error is None
    first, second = session.runs
    assert [c.execution_count for c in second.nb.cells if c.cell_type == "code"] == [3, 4]
    (problem,) = nbcompare.compare_notebooks(
        first.nb, second.nb, PATTERNS, expected_unrun_cells_pass=False
    )
    assert problem.startswith("Cell 0 ")
    kernel_env.assert_offline()


def test_an_unexpected_error_is_returned_with_the_runs_so_far(tmp_path: Path, kernel_env) -> None:
    nb = executed(("x = 1", []), ("1 / 0", []), ("print('never')", []))
    session = asyncio.run(
        nbexec.run_in_one_kernel(nb, cwd=tmp_path, env=kernel_env("error"), timeout=30)
    )
    assert "ZeroDivisionError" in nbexec.error_text(session.error)
    assert len(session.runs) == 1
