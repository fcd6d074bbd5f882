"""Notebook 02's lab: the chapter's reverse server as a whole program, from socket() up.

The student saves ``lab_server.py``; ``check_lab(LAB)`` starts it on a free
port (given as its first argument, as ``start_program`` does) and plays the
clients a real server meets: the chapter's word, a message longer than one
portion whose boundary cuts a letter, clients that vanish mid-message or
send nothing, and then an ordinary client again, which must still be served.
"""

from __future__ import annotations

import socket
import struct

from helpers.lessons.labs import Failure, Lab, program_output_note, running

__all__ = ["LAB"]

TIMEOUT = 10.0  # per client: generous, a busy class hub is slow; a right server needs far less
WORD = "ПАЛИНДРОМ"
LONG = "a" + "ПАЛИНДРОМ" * 220  # 3961 bytes: letters start at odd offsets, portions end even

STUB = """\
# lab_server.py PORT: the chapter's reverse server, from socket() up
import socket
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 33333

# Your server: socket(), bind(("127.0.0.1", PORT)), listen(), then the accept() loop.
# Read each client's whole message (until recv() returns b""), reply with it reversed,
# close the connection, and survive a client that vanishes.
"""


def exchange(address: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload``, say "that is all", read the reply to the end."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        return reply


def _ask(program, text: str, what: str) -> str:
    try:
        reply = exchange(program.address, text.encode("utf-8"))
    except TimeoutError:
        raise Failure(
            f"{what}: no reply within {TIMEOUT:g} s after the client's shutdown(SHUT_WR).",
            'Reply once recv() returns b"" (the client\'s shutdown), then close the connection.',
        ) from None
    except OSError as error:
        printed = program_output_note(program)
        hint = "Read the traceback above: a server must not die on one client."
        if "UnicodeDecodeError" in printed:
            hint = (
                'Read until recv() returns b"" and join the portions before you decode: '
                "a 1024-byte portion may end in the middle of a letter."
            )
        raise Failure(
            f"{what}: the connection failed ({type(error).__name__}); your program printed:\n"
            + printed,
            hint,
        ) from None
    return reply.decode("utf-8", errors="replace")


def _expect(program, text: str, what: str) -> None:
    got = _ask(program, text, what)
    if got == text[::-1]:
        return
    shown = got if len(got) < 60 else got[:60] + "..."
    hint = ""
    if not got:
        hint = "Send the reply with sendall() before closing the connection."
    elif got == text.encode("utf-8")[::-1].decode("utf-8", errors="replace"):
        hint = "Reverse the text, not its UTF-8 bytes: decode, reverse, encode."
    elif "\ufffd" in got or len(got) != len(text):
        hint = (
            'Read until recv() returns b"" and join the portions before you decode and '
            "reverse: a portion may end in the middle of a letter."
        )
    elif sorted(got) == sorted(text):
        hint = "Reverse the whole message, not each portion recv() returns."
    raise Failure(f"{what}: sent {len(text)} letters, got back {shown!r}", hint)


def _vanish(address: tuple[str, int], payload: bytes) -> None:
    """A client that sends ``payload`` and disappears with a reset (no goodbye)."""
    sock = socket.create_connection(address, timeout=TIMEOUT)
    try:
        if payload:
            sock.sendall(payload)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()


def examine(lab: Lab) -> list[str]:
    passed = []
    with running(lab) as program:
        if program.port != program.given_port:
            raise Failure(
                f"your program was given port {program.given_port} but listens on {program.port}.",
                "Bind to the port given as the program's first argument: int(sys.argv[1]).",
            )
        passed.append("listens on the port it is given")
        _expect(program, WORD, "the chapter's word")
        passed.append("reverses the chapter's word")
        _expect(program, LONG, f"a message of {len(LONG.encode())} bytes")
        passed.append("reverses a message longer than one portion")
        _vanish(program.address, "ПАЛИН".encode()[:5])
        _vanish(program.address, b"")
        try:
            _expect(program, "кот", "a client after two that vanished")
        except Failure:
            if program.running:
                raise
        if not program.running:
            raise Failure(
                "your program ended after clients vanished; it printed:\n"
                + program_output_note(program),
                "Catch OSError around each client's exchange, close that connection and "
                "go back to accept() for the next client.",
            )
        passed.append("survives clients that vanish")
        _expect(program, "", "an empty message")
        passed.append("answers an empty message with an empty reply")
    return passed


LAB = Lab(
    key="02.lab",
    title="The chapter's server, from socket() up",
    program="lab_server.py",
    stub=STUB,
    first_hint=(
        "Start from the chapter's server in section 1 and make the changes of version 2: "
        'read to b"", then reply once with sendall(), and catch OSError per client.'
    ),
    hints=(
        "The port is int(sys.argv[1]); bind(('127.0.0.1', port)), listen() once, then "
        "loop: accept(), serve that client inside try/except OSError, close it.",
        "Inside the loop: data = b''; while chunk := sock.recv(1024): data += chunk; then "
        "sock.sendall(data.decode('utf-8', errors='replace')[::-1].encode('utf-8')).",
    ),
    reference="lab_02_server.py",
    examine=examine,
)
