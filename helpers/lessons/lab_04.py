"""Notebook 04's lab: a server program that serves many clients at once.

The student saves ``lab_many.py``; ``check_lab(LAB)`` starts it on a free port
and runs the one 20-client checker of the notebook against it
(``helpers.lessons.concurrency``): one client is held mid-message, and the
other 19 must be answered meanwhile. A server that serves one client at a time
fails with its own hint, however long the checker waits.
"""

from __future__ import annotations

from helpers.lessons.concurrency import check_concurrency
from helpers.lessons.labs import Failure, Lab, running

__all__ = ["LAB"]

STUB = """\
# lab_many.py PORT: a reverse server that serves many clients at once
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 33333

# Your server: listen on ("127.0.0.1", PORT), then serve every client at the same time
# (a thread per client, or one selectors loop): read to b"", reply reversed, close.
"""


def examine(lab: Lab) -> list[str]:
    with running(lab) as program:
        result = check_concurrency(program.address, clients=20, timeout=5.0, name="your program")
    if not result.passed:
        raise Failure(
            f"{result.served} of {result.clients} clients served, {result.overlapped} of them "
            f"while one client was held mid-message.",
            result.hint,
        )
    return [
        f"all {result.clients} clients served",
        f"{result.overlapped} answered while one client was held mid-message",
    ]


LAB = Lab(
    key="04.lab",
    title="A server program for many clients",
    program="lab_many.py",
    stub=STUB,
    first_hint=(
        "Take design (b) of this notebook: after accept(), start a thread that serves that "
        "client, and go straight back to accept()."
    ),
    hints=(
        "A program has no helpers.serve: make the socket, bind(('127.0.0.1', int(sys.argv[1]))) "
        "and listen(128) yourself, then loop on accept().",
        "threading.Thread(target=serve_one, args=(sock,), daemon=True).start(), where serve_one "
        "reads to b'', replies with sendall() and closes its own socket in a with block.",
    ),
    reference="lab_04_many.py",
    examine=examine,
)
