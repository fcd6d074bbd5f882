"""Notebook 00 run in a kernel: what its machine-dependent output must show everywhere.

The environment check's table differs from machine to machine, so nbval does not
compare it; this test runs the notebook and checks what holds on every machine:
every status is one of three words, loopback TCP works (the greeting program
needed it) and every problem comes with a fix. It also checks the program the
notebook starts: it answered its client, and its output shows that client.
"""

from __future__ import annotations

import asyncio
import json

import nbexec
import nbformat
import nbindex
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "00_start_here.ipynb"

PROBE = """
import json
print(json.dumps({
    "statuses": report.statuses,
    "problems without a fix": [f.check for f in report.problems if not f.fix],
}))
"""


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


def test_the_environment_check_and_the_greeter_hold_on_any_machine(kernel_env) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    session = asyncio.run(
        nbexec.run_in_one_kernel(nb, cwd=NOTEBOOK.parent, env=kernel_env("start-here"))
    )
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    cells = session.runs[0].nb.cells
    probe = json.loads(text_of(cells[-1]))
    assert set(probe["statuses"].values()) <= {"ok", "warning", "problem"}
    assert probe["statuses"]["loopback TCP"] == "ok"
    assert probe["problems without a fix"] == []
    doctor = next(c for c in cells if c.source.startswith("report = helpers.doctor()"))
    assert "nbval-ignore-output" in doctor.metadata.get("tags", [])
    assert text_of(doctor).startswith("environment check")
    client = next(c for c in cells if c.source.startswith("with socket.create_connection"))
    output = next(c for c in cells if c.source.strip() == "greeter.output()")
    assert text_of(client).strip() == "Hello from a program on your own machine."
    lines = text_of(output).splitlines()
    assert lines[0].startswith("listening on port ") and lines[1].startswith("greeted 127.0.0.1:")
