"""The other platforms, simulated on CI's Linux: Windows and macOS differ in ways a test can fake.

Windows Python has no AF_UNIX, no SIGALRM/setitimer and no recvmsg; it has
SO_EXCLUSIVEADDRUSE (SO_REUSEADDR there lets a second socket share a busy port),
reports a busy port as WSAEADDRINUSE (10048) or WSAEACCES (10013), an earlier
ICMP "port unreachable" as ConnectionResetError (10054) from the next recvfrom,
and a UDP read into a too small buffer as OSError WSAEMSGSIZE (10040) instead of
truncating. macOS limits an AF_UNIX path to 104 bytes and keeps its temporary
folder deep under /var/folders, and refuses a sendto in a UDP burst with ENOBUFS.
Each test takes away or fakes one of these and checks that the helpers (and the
notebook cells that depend on them) still work or say clearly what differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import signal
import smtplib
import socket
import ssl
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

import helpers
from helpers.lessons import checks as exercises
from helpers.lessons import envcheck
from helpers.lessons.architectures import ARCHITECTURES
from helpers.lessons.checks import Case, Exercise, check
from helpers.run import listeners as _tracking
from helpers.run import servers
from helpers.run.listeners import bind_with_fallback, claim_port, open_datagram_socket
from helpers.run.registry import running_servers
from helpers.run.reverse_client import ask_reverse
from helpers.run.stoppable import SLICE
from helpers.services.mailsink import MailSink
from helpers.services.nameserver import NameServer
from helpers.services.tls_ca import course_ca_pem

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
HAS_AF_UNIX = hasattr(socket, "AF_UNIX")


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    helpers.stop_all()


def cell_source(notebook: str, marker: str) -> str:
    """The one code cell of ``notebook`` whose source contains ``marker``."""
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    [source] = [c.source for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return source


def run_cells(namespace: dict[str, Any], *sources: str) -> str:
    """Run notebook cell sources in one namespace, as a kernel would; what they print."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for source in sources:
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102 (the course's own cells)
    return out.getvalue()


# -- no SIGALRM / setitimer (Windows), or a check outside the main thread ------------


def _reverse(text: str) -> str:
    return text[::-1]


def _forever(text: str) -> str:
    while True:
        time.sleep(0.01)


REVERSE = Exercise(
    key="platform-reverse",
    title="reverse",
    cases=[Case(("abc",), "cba")],
    first_hint="slice it",
    time_limit=0.3,
)


@pytest.mark.parametrize("missing", ["setitimer", "SIGALRM"])
def test_without_an_alarm_check_still_passes_and_stops_a_runaway(monkeypatch, missing):
    monkeypatch.delattr(signal, missing)
    if missing == "SIGALRM":  # Windows has neither; the check looks for setitimer
        monkeypatch.delattr(signal, "setitimer")
    assert not exercises._can_alarm()
    assert check(REVERSE, _reverse).status == "passed"
    result = check(REVERSE, _forever)
    assert result.status == "timeout"
    assert any("restart the kernel" in line for line in result.details)


# -- no AF_UNIX (Windows) ----------------------------------------------------------


def test_without_af_unix_serve_unix_says_why(monkeypatch):
    monkeypatch.delattr(socket, "AF_UNIX", raising=False)
    monkeypatch.setattr(_tracking, "UNIX_SOCKETS", False)
    with pytest.raises(OSError, match="no socket.AF_UNIX .Windows.: use TCP on 127.0.0.1"):
        servers.serve_unix("reverse-unix", lambda listener: None)
    assert running_servers() == []


def test_without_af_unix_the_guard_still_tells_loopback_from_the_world(monkeypatch):
    monkeypatch.delattr(socket, "AF_UNIX", raising=False)
    helpers.enable_guard()
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            with socket.create_connection(server.getsockname(), timeout=2):
                pass
        with socket.socket() as sock, pytest.raises(helpers.NetworkGuardError):
            sock.connect(("192.0.2.1", 80))
    finally:
        helpers.disable_guard()


def test_without_af_unix_the_notebook_cells_print_a_note(monkeypatch):
    monkeypatch.delattr(socket, "AF_UNIX", raising=False)
    monkeypatch.setattr(helpers, "UNIX_SOCKETS", False, raising=False)
    out = run_cells(
        {"socket": socket, "helpers": helpers},
        cell_source("01_osi_and_sockets.ipynb", 'if hasattr(socket, "AF_UNIX")'),
        cell_source("03_tcp_streams.ipynb", "helpers.serve_unix("),
    )
    assert out == (
        "This Python has no socket.AF_UNIX (Windows), so there is no path demo here.\n"
        "This Python has no socket.AF_UNIX (Windows): the TCP pair above is the one to use.\n"
    )
    shown = eval(
        cell_source("03_tcp_streams.ipynb", "unix_server.events if"),  # noqa: S307
        {"helpers": helpers},
    )
    assert shown == "no AF_UNIX on this platform"


# -- AF_UNIX path length (macOS: 104 bytes, a deep temporary folder) ----------------


@pytest.mark.skipif(not HAS_AF_UNIX, reason="this Python has no AF_UNIX")
def test_a_long_temporary_folder_still_gives_a_socket_path_that_binds(tmp_path, monkeypatch):
    deep = tmp_path / ("T" * 90)  # like macOS's /var/folders/xx/.../T/, only deeper
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    server = servers.serve_unix(
        "reverse-unix", lambda listener: listener.accept(), filename="reverse.sock"
    )
    folder = os.path.dirname(server.address)
    assert len(os.fsencode(server.address)) <= _tracking.MAX_SOCKET_PATH
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        client.connect(server.address)
    server.stop()
    assert not os.path.exists(folder)
    assert list(deep.iterdir()) == []  # the too-long attempt left nothing behind


@pytest.mark.skipif(not HAS_AF_UNIX, reason="this Python has no AF_UNIX")
def test_a_filename_too_long_for_any_folder_is_refused_with_the_limit():
    with pytest.raises(OSError, match="at most 100 bytes"):
        servers.serve_unix("reverse-unix", lambda listener: None, filename="s" * 120)
    assert running_servers() == []


def test_the_usual_macos_temporary_folder_fits():
    macos_tmp = "/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/netcourse-abcdefgh"
    assert len(os.path.join(macos_tmp, "reverse.sock")) <= _tracking.MAX_SOCKET_PATH < 104


# -- ports: SO_EXCLUSIVEADDRUSE and Windows' error numbers --------------------------


class RecordingSocket:
    def __init__(self) -> None:
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options.append((level, option, value))


EXCLUSIVE = -5  # Windows' SO_EXCLUSIVEADDRUSE is ~SO_REUSEADDR, a negative number


@pytest.mark.parametrize("reuse_address", [True, False])
def test_where_exclusive_ports_exist_they_replace_reuse_address(monkeypatch, reuse_address):
    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", EXCLUSIVE, raising=False)
    sock = RecordingSocket()
    claim_port(sock, reuse_address=reuse_address)  # type: ignore[arg-type]
    assert sock.options == [(socket.SOL_SOCKET, EXCLUSIVE, 1)]


def test_without_exclusive_ports_only_tcp_reuses_the_address(monkeypatch):
    monkeypatch.delattr(socket, "SO_EXCLUSIVEADDRUSE", raising=False)
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)  # Windows has none; never needed
    tcp, udp = RecordingSocket(), RecordingSocket()
    claim_port(tcp, reuse_address=True)  # type: ignore[arg-type]
    claim_port(udp, reuse_address=False)  # type: ignore[arg-type]
    assert tcp.options == [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)]
    assert udp.options == []


def test_the_name_server_claims_its_port_the_same_way(monkeypatch):
    claimed = []
    monkeypatch.setattr(
        "helpers.services.nameserver.claim_port",
        lambda sock, reuse_address: claimed.append((sock.type, reuse_address)),
    )
    NameServer(port=0).start(quiet=True).stop()
    assert claimed == [(socket.SOCK_DGRAM, False)]


@pytest.mark.parametrize("number", [errno.EADDRINUSE, 10048, 10013])
def test_a_busy_port_in_windows_words_falls_back_to_a_free_one(number):
    asked = []

    def open_at(port: int) -> str:
        asked.append(port)
        if port:
            raise OSError(number, "Only one usage of each socket address is normally permitted")
        return "bound"

    assert bind_with_fallback(open_at, 33333) == ("bound", 33333)
    assert asked == [33333, 0]


def test_another_bind_error_is_not_taken_for_a_busy_port():
    def open_at(port: int) -> str:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    with pytest.raises(OSError, match="Cannot assign"):
        bind_with_fallback(open_at, 33333)


# -- UDP on Windows: ConnectionResetError from recvfrom, WSAEMSGSIZE from a short read --


class ResetOnce(socket.socket):
    """A datagram socket whose first recvfrom reports an earlier ICMP, as Windows does."""

    resets = 1

    def recvfrom(self, *args: Any) -> Any:
        if self.resets:
            self.resets -= 1
            raise ConnectionResetError(10054, "An existing connection was forcibly closed")
        return super().recvfrom(*args)


def test_a_datagram_server_survives_windows_connection_reset(monkeypatch):
    def opening(host: str, port: int) -> socket.socket:
        plain = open_datagram_socket(host, port)
        sock = ResetOnce(plain.family, plain.type, plain.proto, fileno=plain.detach())
        sock.settimeout(SLICE)
        return sock

    monkeypatch.setattr(servers, "open_datagram_socket", opening)
    with contextlib.redirect_stdout(io.StringIO()):
        server = servers.serve_datagrams("udp-reset", lambda data, addr: data[::-1], port=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2)
        client.sendto(b"abc", server.address)
        assert client.recvfrom(100)[0] == b"cba"
    assert server.errors == []


def _windows_short_read(monkeypatch) -> None:
    """recv/recvfrom of a datagram bigger than the buffer: the datagram is gone, OSError."""
    real_recv, real_recvfrom = socket.socket.recv, socket.socket.recvfrom

    def recv(self, bufsize, flags=0):
        data = real_recv(self, 65535, flags)
        if self.type == socket.SOCK_DGRAM and len(data) > bufsize:
            raise OSError(
                10040,
                "A message sent on a datagram socket was larger than the internal message buffer",
            )
        return data

    def recvfrom(self, bufsize, flags=0):
        data, address = real_recvfrom(self, 65535, flags)
        if self.type == socket.SOCK_DGRAM and len(data) > bufsize:
            raise OSError(10040, "A message sent on a datagram socket was larger")
        return data, address

    monkeypatch.setattr(socket.socket, "recv", recv)
    monkeypatch.setattr(socket.socket, "recvfrom", recvfrom)


def test_notebook_05_short_reads_degrade_on_windows(monkeypatch):
    _windows_short_read(monkeypatch)
    monkeypatch.setattr(
        socket.socket,
        "recvmsg",
        property(lambda self: (_ for _ in ()).throw(AttributeError("recvmsg"))),
    )
    out = run_cells(
        {"socket": socket},
        cell_source("05_udp.ipynb", "MAX_UDP_PAYLOAD = "),
        cell_source("05_udp.ipynb", "def udp_pair()"),
        cell_source("05_udp.ipynb", 'print("recv(10):"'),
        cell_source("05_udp.ipynb", 'hasattr(receiver, "recvmsg")'),
    )
    assert "OSError: [Errno 10040] A message sent on a datagram socket was larger" in out
    assert "recv(100): b'next'\n" in out
    assert out.endswith("no recvmsg on this platform\n")


def test_notebook_05_no_reply_reads_as_connection_reset_on_windows(monkeypatch):
    def recvfrom(self, bufsize, flags=0):
        raise ConnectionResetError(10054, "An existing connection was forcibly closed")

    monkeypatch.setattr(socket.socket, "recvfrom", recvfrom)
    out = run_cells({"socket": socket}, cell_source("05_udp.ipynb", "anyone there?"))
    assert out.endswith("ConnectionResetError: no reply within 0.2 s\n")


def test_notebook_05_flood_survives_macos_enobufs(monkeypatch):
    real_sendto = socket.socket.sendto
    calls = []

    def sendto(self, data, *args):
        calls.append(1)
        if len(calls) % 3 == 0:  # macOS refuses some sends of a burst outright
            raise OSError(errno.ENOBUFS, "No buffer space available")
        return real_sendto(self, data, *args)

    monkeypatch.setattr(socket.socket, "sendto", sendto)
    namespace: dict[str, Any] = {"socket": socket}
    out = run_cells(namespace, cell_source("05_udp.ipynb", "for _ in range(1000):"))
    assert len(calls) == 1000
    assert 0 < namespace["arrived"] <= 667
    assert out.endswith("were dropped without a word\n")


# -- the services database: where it lives differs ----------------------------------


@pytest.mark.parametrize(
    ("platform", "words"),
    [
        ("linux", "sudo apt-get install netbase"),
        ("win32", r"%SystemRoot%\System32\drivers\etc\services"),
        ("darwin", "/etc/services"),
    ],
)
def test_a_missing_services_file_gets_the_fix_of_its_platform(monkeypatch, platform, words):
    monkeypatch.setattr(envcheck.sys, "platform", platform)

    def getservbyname(name: str, protocol: str) -> int:
        raise OSError("service/proto not found")

    finding = envcheck.check_services(getservbyname)
    assert finding.status == "problem" and words in finding.fix


def test_helpers_keep_one_list_of_busy_errors():
    assert {10013, 10048, errno.EADDRINUSE, errno.EACCES} <= _tracking.BUSY_ERRNOS


# -- text files: UTF-8 on every platform (Windows' locale encoding is cp1252) ---------

ROOT = NOTEBOOKS.parent
TEXT_CALLS = {"open", "read_text", "write_text"}


def _text_calls_without_encoding(path: Path) -> list[str]:
    """Calls of open()/Path.open/read_text/write_text in text mode without encoding=."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in TEXT_CALLS or any(k.arg == "encoding" for k in node.keywords):
            continue
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in {"os", "driver"}
        ):
            continue  # os.open (bytes) and the browser driver's open: not files
        modes = [k.value for k in node.keywords if k.arg == "mode"]
        if name == "open":
            modes += node.args[1:2] if isinstance(func, ast.Name) else node.args[:1]
        if any(isinstance(m, ast.Constant) and "b" in str(m.value) for m in modes):
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}() without encoding=")
    return found


def test_every_text_file_is_read_and_written_as_utf8():
    files = [ROOT / "conftest.py"]
    for folder in ("helpers", "tools", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    problems = [line for path in files for line in _text_calls_without_encoding(path)]
    assert problems == []


# -- asyncio: Windows' default loop is the Proactor ---------------------------------


class NoDefaultLoop(asyncio.DefaultEventLoopPolicy):
    """Stands in for Windows' policy: its loops (Proactor) must not be used by the helpers."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        raise AssertionError("the platform's default loop was used")


@pytest.fixture
def no_default_loop():
    asyncio.set_event_loop_policy(NoDefaultLoop())
    yield
    asyncio.set_event_loop_policy(None)


def test_the_asyncio_server_runs_and_stops_on_a_selector_loop(no_default_loop):
    with contextlib.redirect_stdout(io.StringIO()):
        server = helpers.serve("asyncio-platform", ARCHITECTURES["(e) asyncio"], port=0)
    assert ask_reverse(server.address, "ПАЛИНДРОМ") == "МОРДНИЛАП"
    assert "accept" in {e.kind for e in server.events.events}  # the listener's own accept()
    server.stop()
    assert not server.running and server.errors == []
    # its thread ended within stop(): no "still running" note, on a selector loop too
    assert not [e for e in server.events if e.kind == "error"]


def test_the_mail_sink_runs_on_a_selector_loop(no_default_loop):
    with contextlib.redirect_stdout(io.StringIO()):
        sink = MailSink("platform-sink", tls=True).start()
    try:
        assert isinstance(sink._controller.loop, asyncio.SelectorEventLoop)
        with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="x", timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cadata=course_ca_pem()))
            client.sendmail("a@mail.ru", ["rnd@onego.ru"], b"Subject: hi\r\n\r\nhello\r\n")
        assert len(sink.mailbox) == 1
    finally:
        sink.stop()
