"""Notebook 02: a server cell edited and re-run in the same kernel serves the new code.

The re-runnable promise (ARCHITECTURE.md): the kernel runs the notebook's cells up to the server and
its client, then the server cell edited to upper-case instead of reversing, then
the same client cell again; the reply must change.
"""

from __future__ import annotations

import asyncio

import nbexec
import nbformat
import nbindex
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "02_the_chapters_pair.ipynb"
REVERSE = 'conn.sendall(reverse_utf8(b"".join(chunks)))'
UPPER = 'conn.sendall(b"".join(chunks).decode("utf-8").upper().encode("utf-8"))'


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def test_edited_server_cell_changes_the_reply(kernel_env) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    server_at = next(i for i, c in enumerate(code) if "def reverse_server(listener)" in c.source)
    client_at = next(i for i, c in enumerate(code) if 'print("received:"' in c.source)
    assert server_at < client_at and REVERSE in code[server_at].source
    server, client = code[server_at], code[client_at]
    edited = nbformat.v4.new_code_cell(server.source.replace(REVERSE, UPPER))
    run = nbformat.v4.new_notebook()
    # the cells up to the client, the edited server, the client again; then the
    # client with a lower-case word, to be sure the answer is the edited code's
    run.cells = [nbformat.from_dict(c) for c in code[: client_at + 1]] + [
        edited,
        nbformat.from_dict(client),
        nbformat.v4.new_code_cell(client.source.replace('"ПАЛИНДРОМ"', '"палиндром"')),
    ]
    session = asyncio.run(
        nbexec.run_in_one_kernel(run, cwd=NOTEBOOK.parent, env=kernel_env("edit"), timeout=30)
    )
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    cells = session.runs[0].nb.cells
    first, status, second, lower = (stdout_of(cells[i]) for i in (client_at, -3, -2, -1))
    assert first == "received: МОРДНИЛАП\n"
    assert status.startswith("reverse server on 127.0.0.1:")  # one server, replaced
    assert second == "received: ПАЛИНДРОМ\n"
    assert lower == "received: ПАЛИНДРОМ\n"
