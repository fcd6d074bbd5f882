"""Notebook 03's exercises, checked by ``helpers.check`` against live local servers.

1. ``recv_exactly(sock, n)``: read exactly n bytes from a stream that delivers
   them in pieces (a server sends pauses between them), no more, and raise
   EOFError if the peer closes first.
2. ``reverse_prefixed(address, text)``: a client of a length-prefixed reverse
   server (4-byte big-endian length, then the UTF-8 bytes; the reply comes back
   framed the same way, and the connection stays open).
3. ``fixed_reverse_server(listener)``: the reverse server with ``send`` where it
   needs ``sendall``. The check runs the student's server on a listener with a
   small send buffer and asks for a long reply, so ``send`` really does return
   short and a send-only server really fails.

The servers these checks talk to are started on first use (on free ports,
without a status line: they are the checker's, not the lesson's).
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_03 as reference
from helpers.run.servers import BackgroundServer, serve, serve_each
from helpers.wire.framing import FramingError, PrefixedDecoder, frame_prefixed
from helpers.wire.text import reverse_text, reverse_utf8

__all__ = ["EXERCISES", "PREFIXED_CLIENT", "RECV_EXACTLY", "SENDALL_SERVER"]

WORD = "ПАЛИНДРОМ"
_servers: dict[str, BackgroundServer] = {}


def _ensure(name: str, handler: Any) -> BackgroundServer:
    """The checker's own server ``name``, started silently if it is not running."""
    server = _servers.get(name)
    if server is None or not server.running:
        server = serve_each(name, handler, port=0, quiet=True)
        _servers[name] = server
    return server


class _Placeholder:
    """An argument shown by name in the check's report ("sock", "listener")."""

    def __init__(self, shown: str, value: Any):
        self.shown = shown
        self.value = value

    def __repr__(self) -> str:
        return self.shown


# --- 1. recv_exactly ---------------------------------------------------------

_PAL = WORD.encode("utf-8")
# script name -> pieces the server sends, each followed by a short pause
_SCRIPTS: dict[str, list[bytes]] = {
    "pieces": [_PAL[:3], _PAL[3:8], _PAL[8:]],
    "two messages": [_PAL + b"TCP!"],
    "short": [_PAL[:10]],
    "nothing": [],
}
_PAUSE = 0.03


def _play(conn: socket.socket, _addr: Any) -> None:
    """Send the pieces of the script the client names, then wait for it to hang up.

    The "short" script closes right after its pieces: the client then meets the
    end of the stream before it has all the bytes it wants.
    """
    conn.settimeout(2.0)
    request = b""
    while not request.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            return
        request += chunk
    script = request.strip().decode("ascii", errors="replace")
    for piece in _SCRIPTS.get(script, []):
        conn.sendall(piece)
        time.sleep(_PAUSE)
    if script != "short":
        while conn.recv(1024):  # until the client closes
            pass


def _call_recv_exactly(solution: Any, case: Case) -> Any:
    sock_arg, n = case.args
    server = _ensure("exercise-03-pieces", _play)
    with socket.create_connection(server.address, timeout=1.0) as sock:
        sock.sendall(sock_arg.value.encode("ascii") + b"\n")
        try:
            return solution(sock, n)
        except EOFError:
            return "EOFError raised"


def _recv_cases() -> list[Case]:
    return [
        Case((_Placeholder("sock", "pieces"), 18), _PAL, "18 bytes arriving in 3 pieces"),
        Case(
            (_Placeholder("sock", "two messages"), 18), _PAL, "18 bytes followed at once by 4 more"
        ),
        Case(
            (_Placeholder("sock", "short"), 18),
            "EOFError raised",
            "the peer closes after 10 of 18 bytes",
        ),
        Case((_Placeholder("sock", "nothing"), 0), b"", "zero bytes"),
    ]


def _shorter(case: Case, got: Any) -> bool:
    return (
        isinstance(got, bytes)
        and isinstance(case.expected, bytes)
        and len(got) < len(case.expected)
    )


def _longer(case: Case, got: Any) -> bool:
    return (
        isinstance(got, bytes)
        and isinstance(case.expected, bytes)
        and len(got) > len(case.expected)
    )


def _partial_at_end(case: Case, got: Any) -> bool:
    return case.expected == "EOFError raised" and isinstance(got, bytes)


RECV_EXACTLY = Exercise(
    key="03.recv_exactly",
    title="Read exactly n bytes: recv_exactly(sock, n)",
    cases=_recv_cases,
    call=_call_recv_exactly,
    first_hint=(
        "recv(k) returns whatever has arrived, between 1 and k bytes. Loop: while you "
        "have fewer than n bytes, call sock.recv(n - len(data)) and append; if recv "
        "returns b'', the peer has closed: raise EOFError."
    ),
    hints=(
        (
            "Keep what has arrived in data = b'' and loop `while len(data) < n:`; each recv "
            "adds what has come so far, which may be less than you asked for."
        ),
        (
            "In the loop: chunk = sock.recv(n - len(data)); if not chunk, raise EOFError(...); "
            "otherwise data += chunk. After the loop return data (for n == 0 the loop never "
            "runs and b'' comes back)."
        ),
    ),
    reference=reference.recv_exactly,
    mistakes=[
        Mistake(
            "Return bytes (keep what recv gives you; do not decode it).",
            lambda case, got: isinstance(got, str) and got != "EOFError raised",
        ),
        Mistake(
            "One recv() is not enough: it returns only what has arrived so far. Keep "
            "calling recv until you have n bytes.",
            _shorter,
        ),
        Mistake(
            "Ask recv for at most n - len(data) bytes: asking for more takes bytes "
            "that belong to the next message.",
            _longer,
        ),
        Mistake(
            "recv returned b'' (the peer closed) before n bytes arrived: raise "
            "EOFError instead of returning what you have.",
            _partial_at_end,
        ),
    ],
)


# --- 2. a length-prefixed client -------------------------------------------

_PREFIX_LIMIT = 1 << 20


def _reverse_prefixed(conn: socket.socket, _addr: Any) -> None:
    """Framed requests in, framed reversed replies out, until the client closes.

    A bad prefix is answered with a framed "ERROR: ..." that shows the four
    bytes received, so the check can tell which mistake made them. A long reply
    goes out in two parts with a pause: one recv() cannot take it all.
    """
    # Longer than any check's time limit: a client that waits for the server
    # to close must meet the time limit, not a close that lets it pass.
    conn.settimeout(30.0)
    decoder = PrefixedDecoder(max_size=_PREFIX_LIMIT)
    while chunk := conn.recv(65536):
        try:
            messages = decoder.feed(chunk)
            while messages:
                for message in messages:
                    _send_slowly(conn, frame_prefixed(reverse_utf8(message)))
                messages = decoder.feed(b"")  # raises for a bad prefix after them
        except FramingError:
            prefix = decoder.pending[:4]
            conn.sendall(
                frame_prefixed(
                    f"ERROR: the prefix {prefix!r} announces {int.from_bytes(prefix, 'big')} "
                    f"bytes".encode()
                )
            )
            return


def _send_slowly(conn: socket.socket, reply: bytes) -> None:
    half = len(reply) // 2 if len(reply) > 4096 else len(reply)
    conn.sendall(reply[:half])
    if half < len(reply):
        time.sleep(0.05)
        conn.sendall(reply[half:])


_TEXTS = [
    ("Cyrillic", WORD),
    ("Latin", "hello"),
    ("empty", ""),
    ("about 114 kB", "ПАЛИНДРОМ " * 6000),
]


def _prefixed_cases() -> list[Case]:
    server = _ensure("exercise-03-prefixed", _reverse_prefixed)
    return [Case((server.address, text), reverse_text(text), label) for label, text in _TEXTS]


def _little_endian(case: Case, got: Any) -> bool:
    length = len(case.args[1].encode("utf-8"))
    return isinstance(got, str) and repr(struct.pack("<I", length)) in got


def _no_prefix(case: Case, got: Any) -> bool:
    return (
        isinstance(got, str)
        and got.startswith("ERROR")
        and repr(case.args[1].encode("utf-8")[:4]) in got
    )


def _counted_characters(case: Case, got: Any) -> bool:
    text = case.args[1]
    cut = text.encode("utf-8")[: len(text)]
    return len(text) != len(text.encode()) and got == reverse_utf8(cut).decode()


def _partial_reply(case: Case, got: Any) -> bool:
    return (
        isinstance(got, str)
        and len(got) < len(case.expected)
        and case.expected.startswith(got.rstrip("\ufffd"))
    )


def _kept_prefix(case: Case, got: Any) -> bool:
    return isinstance(got, str) and got.startswith("\x00")


PREFIXED_CLIENT = Exercise(
    key="03.prefixed_client",
    title="A client that frames with a length prefix: reverse_prefixed(address, text)",
    cases=_prefixed_cases,
    first_hint=(
        "Send struct.pack('!I', len(data)) + data, where data is the text's UTF-8 bytes. "
        "The reply starts with such a prefix too: read its 4 bytes, then exactly as many "
        "bytes as they announce (your recv_exactly), and decode them. The server keeps the "
        "connection open, so reading until it closes would wait forever."
    ),
    hints=(
        (
            "Two halves. Sending: one sendall of the 4-byte prefix followed by the data. "
            "Receiving: two reads with your recv_exactly, first the 4 prefix bytes, then as "
            "many bytes as they announce."
        ),
        (
            "data = text.encode('utf-8'); in `with socket.create_connection(address, "
            "timeout=2.0) as sock:` call sock.sendall(struct.pack('!I', len(data)) + data), "
            "then (length,) = struct.unpack('!I', recv_exactly(sock, 4)) and return "
            "recv_exactly(sock, length) decoded as UTF-8."
        ),
    ),
    reference=reference.reverse_prefixed,
    mistakes=[
        Mistake(
            "Decode the reply: return str, not bytes.",
            lambda case, got: isinstance(got, bytes) and len(got) == len(case.expected.encode()),
        ),
        Mistake(
            "The prefix is in network byte order (big-endian): struct.pack('!I', n). "
            "'<I' (or 'I' on most machines) puts the bytes the other way round.",
            _little_endian,
        ),
        Mistake(
            "Send the length first: 4 bytes, struct.pack('!I', len(data)), then the "
            "data. Without it the server reads your first 4 bytes as a length.",
            _no_prefix,
        ),
        Mistake(
            "The prefix counts bytes, not characters: use len(text.encode('utf-8')). "
            "Cyrillic letters take 2 bytes each in UTF-8.",
            _counted_characters,
        ),
        Mistake("Leave the 4 prefix bytes out of the text you return.", _kept_prefix),
        Mistake(
            "One recv() got only part of the reply: read exactly the number of bytes "
            "the prefix announces (loop, as in recv_exactly).",
            _partial_reply,
        ),
        Mistake(
            "sendall takes bytes: encode the text first, text.encode('utf-8').",
            lambda case, got: isinstance(got, TypeError),
        ),
    ],
    time_limit=3.0,
)


# --- 3. send vs sendall ----------------------------------------------------

_SMALL_BUFFER = 8192
_LONG = "ПАЛИНДРОМ " * 30_000  # 570,000 bytes: far more than a small send buffer holds


def _verdict(reply: bytes, expected: bytes) -> str:
    if reply == expected:
        return f"the whole reversed reply ({len(expected)} bytes)"
    if len(reply) < len(expected) and expected.startswith(reply):
        return "a reply cut short"
    return "a different reply"


def _ask_with_small_buffers(address: Any, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SMALL_BUFFER)
        sock.settimeout(2.0)
        sock.connect(address)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _call_server(solution: Any, case: Case) -> str:
    data = case.args[0].value.encode("utf-8")

    def with_small_send_buffer(listener: socket.socket) -> Any:
        # Accepted connections inherit the listener's buffer sizes: a send()
        # of a long reply then really returns after a part of it.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SMALL_BUFFER)
        return solution(listener)

    server = serve("exercise-03-sendall", with_small_send_buffer, port=0, quiet=True)
    try:
        reply = _ask_with_small_buffers(server.address, data)
    except OSError as error:
        reply = None
        failure = error
    finally:
        server.stop()
    if server.errors:
        raise server.errors[0]  # NotImplementedError: "not solved yet"; others reported
    if reply is None:
        return f"no reply ({type(failure).__name__})"
    return _verdict(reply, reverse_utf8(data))


def _server_cases() -> list[Case]:
    return [
        Case(
            (_Placeholder("listener", WORD),),
            f"the whole reversed reply ({len(WORD.encode())} bytes)",
            "a short message",
        ),
        Case(
            (_Placeholder("listener", _LONG),),
            f"the whole reversed reply ({len(_LONG.encode())} bytes)",
            f"{len(_LONG.encode())} bytes, small send buffer",
        ),
    ]


SENDALL_SERVER = Exercise(
    key="03.sendall_server",
    title="Fix a server that uses send() where it needs sendall()",
    cases=_server_cases,
    call=_call_server,
    first_hint=(
        "Copy hasty_reverse_server from the cell above into fixed_reverse_server and change "
        "the one call that may send less than it is given."
    ),
    hints=(
        (
            "The call that replies is conn.send(...). send() returns how many bytes it handed "
            "over, which can be fewer than the reply holds when the socket's send buffer is "
            "small: the rest is simply never sent."
        ),
        (
            "Replace conn.send(...) with conn.sendall(...), which loops until every byte is "
            "sent. Keep the rest of the server as it is: accept, read until recv() returns b'', "
            "reply with reverse_utf8 of everything read, close."
        ),
    ),
    reference=reference.fixed_reverse_server,
    mistakes=[
        Mistake(
            "send() hands the kernel only what fits in the socket's send buffer and "
            "returns that count; the rest is never sent. sendall() loops until every "
            "byte is sent.",
            lambda case, got: got == "a reply cut short",
        ),
        Mistake(
            "Reply with reverse_utf8(message), where message is everything "
            "received until recv() returned b''.",
            lambda case, got: got == "a different reply",
        ),
        Mistake(
            "The server did not answer in time: read until recv() returns b'', then "
            "reply and close the connection.",
            lambda case, got: isinstance(got, str) and got.startswith("no reply"),
        ),
    ],
    time_limit=5.0,
)

EXERCISES = (RECV_EXACTLY, PREFIXED_CLIENT, SENDALL_SERVER)
