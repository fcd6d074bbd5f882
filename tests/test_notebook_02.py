"""Notebook 02: the chapter's pair as the student writes it, run as real programs.

- The notebook's own server and client programs (its ``%%program`` cells)
  interoperate as separate processes: the chapter's client gets the word reversed.
- A server program edited and re-run in the same kernel serves the new code (the
  re-runnable promise of ARCHITECTURE.md).
- When the kernel shuts down, no program it started is left running.
"""

from __future__ import annotations

import asyncio

import nbexec
import nbformat
import nbindex
import pytest
from process_checking import process_gone

from helpers.run.program_files import save_program
from helpers.run.programs import run_program, start_program

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "02_the_chapters_pair.ipynb"
REVERSE = "lap = text[::-1]"
LOWER = "lap = text.lower()"


def code_cells() -> list[nbformat.NotebookNode]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def first_index(cells: list[nbformat.NotebookNode], start: str) -> int:
    return next(i for i, c in enumerate(cells) if c.source.startswith(start))


def program_source(cell: nbformat.NotebookNode) -> str:
    return cell.source.split("\n", 1)[1]  # the cell without its %%program line


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


def test_the_notebooks_programs_interoperate_as_processes(capsys) -> None:
    cells = code_cells()
    server = cells[first_index(cells, "%%program reverse_server.py")]
    client = cells[first_index(cells, "%%program reverse_client.py")]
    save_program("nb02_server.py", program_source(server))
    save_program("nb02_client.py", program_source(client))
    running = start_program("nb02_server.py", port=0)
    try:
        reply = run_program("nb02_client.py", running.port)
        assert reply.returncode == 0 and reply.text == "Получено: МОРДНИЛАП\n"
        shown = running.output().text.splitlines()
        assert shown[1].startswith("Получено от 127.0.0.1:") and shown[1].endswith("ПАЛИНДРОМ")
    finally:
        running.stop()


def test_an_edited_server_program_changes_the_reply_and_the_kernel_leaves_none(
    kernel_env,
) -> None:
    cells = code_cells()
    server_at = first_index(cells, "%%program reverse_server.py")
    start_at = first_index(cells, 'server = helpers.start_program("reverse_server.py")')
    client_at = first_index(cells, 'helpers.run_program("reverse_client.py", server.port)')
    assert server_at < start_at < client_at and REVERSE in cells[server_at].source
    edited = nbformat.v4.new_code_cell(cells[server_at].source.replace(REVERSE, LOWER))
    run = nbformat.v4.new_notebook()
    run.cells = [nbformat.from_dict(c) for c in cells[: client_at + 1]] + [
        edited,
        nbformat.from_dict(cells[start_at]),
        nbformat.from_dict(cells[client_at]),
        nbformat.v4.new_code_cell("print(server.pid)"),
    ]
    session = asyncio.run(
        nbexec.run_in_one_kernel(run, cwd=NOTEBOOK.parent, env=kernel_env("edit"), timeout=60)
    )
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    done = session.runs[0].nb.cells
    first, status, second, pid = (stdout_of(done[i]) for i in (client_at, -3, -2, -1))
    assert first == "Получено: МОРДНИЛАП"
    assert status.startswith("reverse_server program on 127.0.0.1:")  # one program, replaced
    assert second == "Получено: палиндром"
    assert process_gone(int(pid)), "the kernel shut down, but its server program is still running"
