"""Notebook 04 without netbase (no /etc/services, no /etc/protocols): it runs to its end.

CI has netbase, so the stored outputs show the tables; here the kernel's socket
functions raise exactly what CPython raises when the files are missing, and the
notebook must explain the error and carry on (the issue's proof for item 2).
"""

from __future__ import annotations

import asyncio

import nbexec
import nbformat
import nbindex
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "04_dns_and_services.ipynb"

WITHOUT_NETBASE = """
import socket

def _missing(message):
    def lookup(*args):
        raise OSError(message)
    return lookup

socket.getservbyname = _missing("service/proto not found")
socket.getservbyport = _missing("port/proto not found")
socket.getprotobyname = _missing("protocol not found")
"""


def test_runs_to_its_end_without_the_services_database(kernel_env) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(WITHOUT_NETBASE))
    session = asyncio.run(
        nbexec.run_in_one_kernel(nb, cwd=NOTEBOOK.parent, env=kernel_env("no-netbase"))
    )
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    text = "\n".join(
        output.get("text", "")
        for cell in session.runs[0].nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    assert "OSError: service/proto not found" in text
    assert "OSError: port/proto not found (install netbase)" in text
    assert "tcp: OSError: protocol not found (install netbase)" in text
    assert "using 25" in text  # the fallback port of the smtp service
