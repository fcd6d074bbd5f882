"""Notebook 01 run in a kernel: the cells whose output depends on the machine.

nbval does not compare them (they carry the nbval-ignore-output tag), so this
test runs the notebook and checks what must hold on every machine: the IPv6
exchange either worked, with a socket address of four parts, or says that IPv6
is off; the constants every platform has are listed.
"""

from __future__ import annotations

import asyncio
import re

import nbexec
import nbformat
import nbindex
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "01_osi_and_sockets.ipynb"

PROBE = "print(len(peer), peer[0], peer[2:])"


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
    )


def run_notebook(kernel_env) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    ipv6 = next(i for i, c in enumerate(nb.cells) if "socket.AF_INET6, (" in c.source)
    nb.cells.insert(ipv6 + 1, nbformat.v4.new_code_cell(PROBE))
    session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=NOTEBOOK.parent, env=kernel_env("01")))
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    return session.runs[0].nb.cells


def tagged(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    return [c for c in cells if "nbval-ignore-output" in c.metadata.get("tags", [])]


def test_the_machine_dependent_cells_show_what_holds_everywhere(kernel_env) -> None:
    cells = run_notebook(kernel_env)
    only_two_cells_are_not_compared(cells)
    ipv6_socket_address_has_four_parts_or_ipv6_is_off(cells)
    the_constants_every_platform_has_are_listed(cells)


def only_two_cells_are_not_compared(cells: list[nbformat.NotebookNode]) -> None:
    sources = [c.source for c in tagged(cells)]
    assert len(sources) == 2
    assert "AF_INET6" in sources[0] and "startswith(prefix)" in sources[1]


def ipv6_socket_address_has_four_parts_or_ipv6_is_off(cells: list[nbformat.NotebookNode]) -> None:
    ipv6 = tagged(cells)[0]
    index = next(i for i, c in enumerate(cells) if c is ipv6)
    shown = text_of(ipv6)
    if shown.startswith("No IPv6 loopback here"):
        return
    assert re.fullmatch(
        r"server got: ПАЛИНДРОМ\n"
        r"the peer's socket address has four parts: \('::1', \d+, 0, 0\)\n",
        shown,
    ), shown
    assert text_of(cells[index + 1]) == "4 ::1 (0, 0)\n"


def the_constants_every_platform_has_are_listed(cells: list[nbformat.NotebookNode]) -> None:
    listed = {
        line.split(" ", 1)[0]: set(line.split(": ", 1)[1].split(", "))
        for line in text_of(tagged(cells)[1]).splitlines()
    }
    assert {"AF_INET", "AF_INET6"} <= listed["AF_*"]
    assert {"SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW"} <= listed["SOCK_*"]
    assert {"IPPROTO_IP", "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_ICMP"} <= listed["IPPROTO_*"]
