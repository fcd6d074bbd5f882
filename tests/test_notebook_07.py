"""Notebook 07 run in a kernel with a twist, for what its stored outputs cannot show.

- Without netbase (no /etc/services, no /etc/protocols) it runs to its end. CI
  has netbase, so the stored outputs show the tables; here the kernel's socket
  functions raise exactly what CPython raises when the files are missing, and
  the notebook must explain the error and carry on.
- It hands no course name to the system resolver (the offline promise) except
  the one look-up it shows being refused. The guard refuses every such call, so
  the audit records of the other tests never see one; here every call of the
  socket module's look-up functions is recorded before the guard is asked.
- It stores no machine's host name: with ``gethostname`` answering a name of the
  test's own, that name appears in no output; the cell shows a property of it.
"""

from __future__ import annotations

import asyncio

import nbexec
import nbformat
import nbindex
import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = nbindex.NOTEBOOK_DIR / "07_dns_and_services.ipynb"

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


RECORD_LOOKUPS = """
import socket

system_lookups = []


def _recorded(function):
    def lookup(*args, **kwargs):
        system_lookups.append((function.__name__, str(args[0] if args else kwargs)))
        return function(*args, **kwargs)
    return lookup


for _name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getaddrinfo",
              "getnameinfo", "getfqdn"):
    setattr(socket, _name, _recorded(getattr(socket, _name)))
"""

MARKED_HOST_NAME = """
import socket

socket.gethostname = lambda: "marked-host-4bx7.example"
"""

SHOW_COURSE_LOOKUPS = """
print("course names asked of the system:",
      [call for call in system_lookups if "onego" in call[1] or "195.161.136.4" in call[1]])
"""


def run_with(kernel_env, name: str, first: str, last: str = "", data: bool = False) -> str:
    """Run the notebook with a cell of ``first`` in front (and ``last`` after); its stream
    text (and, with ``data``, every rich output's text too)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(first))
    if last:
        nb.cells.append(nbformat.v4.new_code_cell(last))
    session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=NOTEBOOK.parent, env=kernel_env(name)))
    kernel_env.assert_offline()
    assert session.error is None, nbexec.error_text(session.error)
    return "\n".join(
        output.get("text", "")
        if output.output_type == "stream"
        else "\n".join(str(value) for value in output.get("data", {}).values())
        for cell in session.runs[0].nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if data or output.output_type == "stream"
    )


def test_runs_to_its_end_without_the_services_database(kernel_env) -> None:
    text = run_with(kernel_env, "no-netbase", WITHOUT_NETBASE)
    assert "OSError: service/proto not found" in text
    assert "OSError: port/proto not found (install netbase)" in text
    assert "tcp: OSError: protocol not found (install netbase)" in text
    assert "using 25" in text  # the fallback port of the smtp service


def test_no_course_name_reaches_the_system_resolver(kernel_env) -> None:
    text = run_with(kernel_env, "lookups", RECORD_LOOKUPS, SHOW_COURSE_LOOKUPS)
    # the one deliberate call, refused by the guard in front of the student
    assert "NetworkGuardError: name look-up of 'www.onego.ru' refused" in text
    assert "course names asked of the system: [('gethostbyname', 'www.onego.ru')]" in text


def test_no_output_holds_the_machines_host_name(kernel_env) -> None:
    text = run_with(kernel_env, "host-name", MARKED_HOST_NAME, data=True)
    assert "marked-host-4bx7" not in text
    assert "socket.gethostname() gave a str; empty: False" in text
    # what the lesson states instead of asserting it: the hand-built bytes, the reply's id
    assert "30 bytes, as build_query gives: True" in text
    assert "(the query's: True)" in text
