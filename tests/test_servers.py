"""helpers.run.servers: background servers start, answer, replace each other and always stop."""

from __future__ import annotations

import asyncio
import selectors
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_checking import ask, server_threads

from helpers.run.listeners import open_listener, status_line
from helpers.run.registry import register_server, running_servers, stop_all, stop_server
from helpers.run.reverse_client import ask_reverse
from helpers.run.servers import serve, serve_datagrams, serve_each
from helpers.run.stoppable import ServerStopped

# every test: all servers stopped afterwards, no server thread left (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_servers_left")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reverse_server(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            data = conn.recv(1024)
            conn.sendall(data[::-1])


def test_serve_answers_records_and_stops(capfd):
    port = free_port()
    server = serve("reverse", reverse_server, port=port)
    assert capfd.readouterr().out == f"reverse server on 127.0.0.1:{port}\n"
    assert server.address == ("127.0.0.1", port)
    assert ask(server.address, b"hello") == b"olleh"
    server.events.wait_for("close")
    kinds = [e.kind for e in server.events.events]
    assert kinds == ["socket", "bind", "listen", "accept", "recv", "send", "close"]
    sent = [e for e in server.events.events if e.kind == "send"][0]
    assert sent.data == b"olleh" and sent.nbytes == 5 and sent.peer.startswith("127.0.0.1:")
    assert running_servers() == [server]
    server.stop()
    assert repr(server) == f"reverse server on 127.0.0.1:{port} (stopped)"
    assert running_servers() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1).close()


def test_rerun_replaces_the_server_even_with_a_silent_client():
    port = free_port()
    old = serve("reverse", reverse_server, port=port)
    old_thread = server_threads()[0]
    silent = socket.create_connection(old.address, timeout=2)
    old.events.wait_for("accept")  # the old server is now blocked in recv()

    new = serve("reverse", lambda listener: reverse_server_upper(listener), port=port)
    assert new.port == port and new.busy_port is None
    assert not old_thread.is_alive()
    assert silent.recv(10) == b""  # the silent client was hung up on, not left waiting
    silent.close()
    assert ask(new.address, b"abc") == b"CBA"


def reverse_server_upper(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(conn.recv(1024)[::-1].upper())


def test_port_held_by_another_process_falls_back(capfd):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import socket, sys\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                "print(s.getsockname()[1], flush=True); sys.stdin.read()\n"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        busy = int(holder.stdout.readline())
        server = serve("reverse", reverse_server, port=busy)
        assert server.port != busy and server.busy_port == busy
        out = capfd.readouterr().out
        assert out == f"reverse server on 127.0.0.1:{server.port} ({busy} was busy)\n"
        assert ask(server.address, b"xyz") == b"zyx"
    finally:
        holder.stdin.close()
        holder.wait(timeout=5)


def test_open_listener_is_plain_for_asyncio_with_nodelay_and_falls_back():
    holder, free = open_listener("127.0.0.1", 0)
    with holder:
        asked = holder.getsockname()[1]
        assert free is None and holder.proto == socket.IPPROTO_TCP
        listener, busy_port = open_listener("127.0.0.1", asked, backlog=5)
    assert busy_port == asked and listener.getsockname()[1] != asked
    assert type(listener) is socket.socket  # no tracker: a plain socket asyncio can serve
    assert status_line("mail sink", listener.getsockname(), busy_port) == (
        f"mail sink on 127.0.0.1:{listener.getsockname()[1]} ({asked} was busy)"
    )

    async def accepted_nodelay() -> list[int]:
        seen = []

        async def handle(reader, writer):
            seen.append(
                writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            )
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*listener.getsockname()[:2]), 2
            )
            await asyncio.wait_for(reader.read(), 2)
            writer.close()
        return seen

    # asyncio sets TCP_NODELAY only when the listener's proto is IPPROTO_TCP.
    assert [bool(flag) for flag in asyncio.run(accepted_nodelay())] == [True]


def test_hundred_clients_at_once_per_connection_handler():
    def handler(conn, addr):
        conn.sendall(conn.recv(1024)[::-1])

    server = serve_each("reverse", handler, port=0)
    messages = [f"client {i:03d}".encode() for i in range(100)]
    barrier = threading.Barrier(100, timeout=5)

    def client(message: bytes) -> bytes:
        barrier.wait()
        with socket.create_connection(server.address, timeout=5) as c:
            c.sendall(message)
            return c.recv(1024)

    with ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(client, messages))
    assert answers == [m[::-1] for m in messages]
    server.events.wait_for("close", count=100)


def test_raising_server_function_is_recorded_quietly_and_keeps_serving(capfd):
    def fragile(listener):
        while True:
            conn, _ = listener.accept()
            data = conn.recv(1024)
            if data == b"boom":
                raise ValueError("cannot reverse boom")
            conn.sendall(data[::-1])
            conn.close()

    server = serve("fragile", fragile, port=0)
    assert ask(server.address, b"boom") == b""  # a clean close, not a hang or a reset
    assert ask(server.address, b"ok") == b"ko"
    error = server.events.wait_for("error")[0]
    assert error.note == "ValueError: cannot reverse boom"
    assert error.peer.startswith("127.0.0.1:")
    assert [e.kind for e in server.events.events].count("restart") == 1
    assert isinstance(server.errors[0], ValueError)
    with pytest.raises(ValueError, match="cannot reverse boom"):
        server.raise_errors()
    server.stop()
    captured = capfd.readouterr()
    assert captured.out == f"fragile server on 127.0.0.1:{server.port}\n"
    assert captured.err == ""


def test_raising_handler_closes_its_connection_and_others_are_served(capfd):
    def handler(conn, addr):
        data = conn.recv(1024)
        if data == b"boom":
            raise KeyError(data)
        conn.sendall(data[::-1])

    server = serve_each("fragile", handler, port=0)
    assert ask(server.address, b"boom") == b""
    assert ask(server.address, b"fine") == b"enif"
    assert server.events.wait_for("error")[0].note == "KeyError: b'boom'"
    server.stop()
    assert capfd.readouterr().err == ""


def test_function_failing_twice_before_any_client_is_not_restarted_forever():
    def broken(listener):
        raise NameError("name 'conn' is not defined")

    server = serve("broken", broken, port=0)
    server.events.wait_for(lambda e: e.kind == "stop", timeout=2)
    assert [e.kind for e in server.events.events] == [
        "socket",
        "bind",
        "listen",
        "error",
        "restart",
        "error",
        "stop",
    ]
    assert not server.running and running_servers() == []
    for _ in range(20):
        if not server_threads():
            break
        time.sleep(0.05)
    assert not server_threads()


def test_except_exception_in_lesson_code_does_not_swallow_stop():
    def stubborn(listener):
        while True:
            try:
                conn, _ = listener.accept()
                conn.recv(1024)
            except Exception:
                pass

    assert issubclass(ServerStopped, BaseException)
    assert not issubclass(ServerStopped, Exception)
    server = serve("stubborn", stubborn, port=0)
    silent = socket.create_connection(server.address, timeout=2)
    server.events.wait_for("accept")
    server.stop(timeout=1)
    assert not server_threads()
    assert "error" not in [e.kind for e in server.events.events]
    silent.close()


def test_lesson_timeouts_are_honoured():
    accept_timed_out = threading.Event()

    def patient(listener):
        listener.settimeout(0.15)
        assert listener.gettimeout() == 0.15
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                accept_timed_out.set()
                continue
            with conn:
                conn.settimeout(0.15)
                try:
                    conn.recv(10)
                except TimeoutError:
                    conn.sendall(b"timed out")

    server = serve("patient", patient, port=0)
    assert accept_timed_out.wait(2)
    with socket.create_connection(server.address, timeout=2) as silent:
        assert silent.recv(100) == b"timed out"


def test_shutdown_by_the_lesson_code_is_recorded():
    def half_close(listener):
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"bye")
                conn.shutdown(socket.SHUT_WR)
                conn.recv(10)

    server = serve("half", half_close, port=0)
    with socket.create_connection(server.address, timeout=2) as c:
        assert c.recv(10) == b"bye" and c.recv(10) == b""
    server.events.wait_for("close")
    assert [(e.kind, e.note) for e in server.events.events][4:] == [
        ("send", ""),
        ("shutdown", "SHUT_WR"),
        ("recv", "end of stream: the peer closed"),
        ("close", ""),
    ]


def test_makefile_and_selectors_paths_are_tracked_and_stoppable():
    def line_server(listener):
        while True:
            conn, _ = listener.accept()
            with conn, conn.makefile("rwb") as stream:
                line = stream.readline()
                stream.write(line[::-1].strip() + b"\n")
                stream.flush()

    server = serve("lines", line_server, port=0)
    with socket.create_connection(server.address, timeout=2) as c:
        c.sendall(b"abc\n")
        assert c.makefile("rb").readline() == b"cba\n"
    recv = server.events.wait_for("recv")[0]
    assert recv.data == b"abc\n"
    server.stop()

    def selector_server(listener):
        listener.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ)
                else:
                    data = key.fileobj.recv(1024)
                    if data:
                        key.fileobj.sendall(data[::-1])
                    else:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()

    server = serve("selectors", selector_server, port=0)
    assert ask(server.address, b"non-blocking") == b"gnikcolb-non"
    idle = socket.create_connection(server.address, timeout=2)
    server.events.wait_for("accept", count=2)
    server.stop(timeout=1)
    assert not server_threads()
    idle.close()


def test_stop_all_leaves_no_listener_and_no_thread():
    servers = [serve_each(f"s{i}", lambda conn, addr: conn.recv(10), port=0) for i in range(3)]
    silent = [socket.create_connection(s.address, timeout=2) for s in servers]
    for s in servers:
        s.events.wait_for("accept")
    stop_all()
    assert not server_threads() and running_servers() == []
    for s in servers:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(s.address, timeout=1).close()
    for c in silent:
        c.close()
    assert stop_server("s0") is False


def test_datagram_server_answers_and_drops_on_purpose():
    server = serve_datagrams(
        "udp-reverse",
        lambda data, addr: data[::-1],
        port=0,
        drop=lambda data, addr: data == b"lost",
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1)
        client.sendto(b"lost", server.address)
        client.sendto(b"abc", server.address)
        assert client.recvfrom(100) == (b"cba", server.address)
    assert [e.kind for e in server.events.wait_for(lambda e: e.kind != "bind", count=4)] == [
        "recv",
        "drop",
        "recv",
        "send",
    ]


def test_a_datagram_reply_in_hand_is_already_in_the_log():
    server = serve_datagrams("udp-echo", lambda data, addr: data, port=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1)
        for number in range(1, 31):
            client.sendto(b"x", server.address)
            client.recvfrom(100)
            sends = [e for e in server.events.events if e.kind == "send"]
            assert len(sends) == number  # no wait_for: a cell shows the log right away


def test_datagram_handler_error_is_recorded_and_server_keeps_answering(capfd):
    def handler(data, addr):
        return data.decode("ascii").upper().encode()

    server = serve_datagrams("udp-upper", handler, port=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(1)
        client.sendto("ж".encode(), server.address)
        client.sendto(b"ok", server.address)
        assert client.recvfrom(100)[0] == b"OK"
    assert server.events.wait_for("error")[0].note.startswith("UnicodeDecodeError")
    server.stop()
    assert capfd.readouterr().err == ""


def test_a_function_called_instead_of_passed_is_explained():
    with pytest.raises(TypeError, match="without calling it"):
        serve("reverse", None, port=0)


def test_no_thread_for_a_connection_is_recorded_not_printed(capfd, monkeypatch):
    server = serve_each("reverse", lambda conn, addr: conn.sendall(conn.recv(1024)[::-1]), port=0)
    capfd.readouterr()
    real_start = threading.Thread.start

    def start(thread):
        if thread.name.endswith("-connection"):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with socket.create_connection(server.address, timeout=2) as client:
        try:  # closed at once (cleanly or with a reset), not left hanging until the timeout
            assert client.recv(16) == b""
        except ConnectionResetError:
            pass
    monkeypatch.undo()
    assert server.events.wait_for("error")[0].note == "RuntimeError: can't start new thread"
    assert ask(server.address, b"abc") == b"cba"  # the accept loop kept going
    server.stop()
    assert capfd.readouterr() == ("", "")


def test_an_error_escaping_a_helper_thread_is_recorded_not_printed(capfd):
    server = serve("reverse", reverse_server, port=0)
    capfd.readouterr()

    def broken_runner():
        raise MemoryError("no room")

    server._start_thread(broken_runner, suffix="-extra")
    assert server.events.wait_for("error")[0].note == "MemoryError: no room"
    server.stop()
    assert capfd.readouterr() == ("", "")


def test_stop_all_stops_the_others_when_one_stop_fails():
    stopped = []

    class Failing:
        def stop(self):
            raise OSError("cannot stop")

    class Fine:
        def stop(self):
            stopped.append(self)

    fine = Fine()
    register_server("failing", Failing())
    register_server("fine", fine)
    with pytest.raises(OSError, match="cannot stop"):
        stop_all()
    assert stopped == [fine] and running_servers() == []


def test_whatever_registers_a_server_is_stopped_at_exit():
    script = (
        "import sys\n"
        "from helpers.run.registry import register_server\n"
        "class Server:\n"
        "    def stop(self): print('stopped', 'helpers.run.servers' in sys.modules)\n"
        "register_server('plain', Server())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert (done.stdout, done.stderr) == ("stopped False\n", "")


# -- a stopped server stays stopped, even for lesson code that catches everything ------


def test_a_catch_all_loop_after_stop_backs_off_instead_of_spinning(capfd):
    """Calls on a stopped server's sockets keep failing, each later one after a longer sleep."""
    finished = threading.Event()

    def stubborn(listener):
        while not finished.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except:  # noqa: E722 - the lesson code's catch-all, on purpose
                pass

    server = serve("stubborn", stubborn, port=0)
    server.stop(timeout=0.3)
    out = capfd.readouterr().out
    assert "1 thread(s) still running 0.3 s after stop" in out  # said in the stopping cell
    assert "restart the kernel" in out
    time.sleep(1.5)  # the loop keeps calling accept(); count how often it got to
    refused = sum(server._tracker._refusals.values())
    finished.set()
    # Without a back-off a loop like this one calls accept() millions of times a second.
    assert 2 <= refused <= 12, refused


def test_a_quiet_server_keeps_its_still_running_note_instead_of_printing_it(capfd):
    finished = threading.Event()

    def stubborn(listener):
        while not finished.is_set():
            try:
                listener.accept()[0].close()
            except:  # noqa: E722 - the lesson code's catch-all, on purpose
                pass

    server = serve("stubborn-quietly", stubborn, port=0, quiet=True)
    try:
        server.stop(timeout=0.3)
        assert capfd.readouterr().out == ""
        assert "1 thread(s) still running 0.3 s after stop" in server.stuck_note
        assert any(e.kind == "error" for e in server.events.events)
    finally:
        finished.set()


def test_stop_all_stops_the_servers_side_by_side():
    """Three stops that each wait for the others can only finish if they run at once."""
    meeting = threading.Barrier(3, timeout=10)

    class Slow:
        stuck_note = ""

        def stop(self):
            meeting.wait()

    for name in ("slow-1", "slow-2", "slow-3"):
        register_server(name, Slow())
    stop_all()
    assert not meeting.broken
    assert meeting.n_waiting == 0


def test_ask_reverse_bounds_the_whole_exchange_not_each_call():
    """A reply trickled a byte at a time takes longer than the timeout: TimeoutError."""

    def trickle(conn, _address):
        while conn.recv(1024):
            pass
        for byte in "МОРДНИЛАП".encode():
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    server = serve_each("trickle", trickle, port=0)
    with pytest.raises(TimeoutError, match="within 1.0 s"):
        ask_reverse(server.address, "ПАЛИНДРОМ", timeout=1.0)


# -- a whole UDP server: the lesson's own recvfrom/sendto loop, run by serve(protocol="udp") --


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_reverse_loop(sock: socket.socket) -> None:
    while True:
        data, addr = sock.recvfrom(65535)
        sock.sendto(data[::-1], addr)


def udp_ask(address: tuple[str, int], data: bytes, timeout: float = 5.0) -> bytes:
    """One datagram out, one back; the reply must come from the server's own address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(timeout)
        client.sendto(data, address)
        reply, sender = client.recvfrom(65535)
        assert sender == address
        return reply


def udp_port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        try:
            again.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_a_whole_udp_server_answers_records_and_stops(capfd):
    port = free_udp_port()
    server = serve("udp-reverse", udp_reverse_loop, port=port, protocol="udp")
    assert capfd.readouterr() == (f"udp-reverse server on 127.0.0.1:{port}\n", "")
    assert server.protocol == "udp" and server.address == ("127.0.0.1", port)
    assert running_servers() == [server]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"hello", server.address)
        assert client.recvfrom(100) == (b"olleh", server.address)
        client_peer = f"127.0.0.1:{client.getsockname()[1]}"
    # No wait: the reply in hand is already in the log, as a cell shows it.
    events = server.events.events
    assert [e.kind for e in events] == ["socket", "bind", "recv", "send"]
    assert [(e.peer, e.data) for e in events[2:]] == [
        (client_peer, b"hello"),
        (client_peer, b"olleh"),
    ]
    assert events[0].note == "AF_INET, SOCK_DGRAM" and events[1].peer == f"127.0.0.1:{port}"
    assert not udp_port_is_free(port)
    server.stop()
    assert repr(server) == f"udp-reverse server on 127.0.0.1:{port} (stopped)"
    assert [e.kind for e in server.events.events][-1] == "stop"
    assert running_servers() == [] and udp_port_is_free(port)
    assert capfd.readouterr() == ("", "")


def test_rerun_replaces_a_whole_udp_server_blocked_in_recvfrom():
    port = free_udp_port()
    waiting = threading.Event()

    def reverse_and_say_when_waiting(sock):
        while True:
            waiting.set()
            data, addr = sock.recvfrom(65535)
            sock.sendto(data[::-1], addr)

    old = serve("udp-reverse", reverse_and_say_when_waiting, port=port, protocol="udp")
    (old_thread,) = server_threads()
    assert waiting.wait(10)

    def reverse_upper(sock):
        while True:
            data, addr = sock.recvfrom(65535)
            sock.sendto(data[::-1].upper(), addr)

    new = serve("udp-reverse", reverse_upper, port=port, protocol="udp")
    assert new.port == port and new.busy_port is None
    assert not old_thread.is_alive() and not old.running and new.running
    assert udp_ask(new.address, b"abc") == b"CBA"  # the edited loop answers on the same port
    # The old loop never saw the datagram that woke it to stop.
    assert [e.kind for e in old.events.events] == ["socket", "bind", "stop"]
    assert running_servers() == [new]


def test_stop_wakes_a_whole_udp_server_blocked_in_recvfrom_and_frees_the_port(monkeypatch):
    # With a 30 s wait slice only stop()'s wake-up datagram can end the loop within
    # stop()'s 2 s; a loop still running then is recorded as an error.
    monkeypatch.setattr("helpers.run.stoppable.SLICE", 30.0)
    waiting = threading.Event()
    handed_over = []

    def loop(sock):
        while True:
            waiting.set()
            data, addr = sock.recvfrom(65535)
            handed_over.append(data)

    server = serve("udp-wake", loop, port=0, protocol="udp", quiet=True)
    assert waiting.wait(10)
    server.stop(timeout=2.0)
    assert [e.kind for e in server.events.events] == ["socket", "bind", "stop"]
    assert handed_over == [] and server.errors == []
    assert not server_threads() and udp_port_is_free(server.port)


def test_a_whole_udp_server_that_raises_is_recorded_restarted_and_keeps_answering(capfd):
    def ascii_only(sock):
        while True:
            data, addr = sock.recvfrom(65535)
            sock.sendto(data.decode("ascii")[::-1].encode("ascii"), addr)  # raises on "ж"

    server = serve("udp-ascii", ascii_only, port=0, protocol="udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto("ж".encode(), server.address)
        client_peer = f"127.0.0.1:{client.getsockname()[1]}"
        server.events.wait_for("restart", timeout=10)
    (error,) = [e for e in server.events.events if e.kind == "error"]
    assert error.peer == client_peer  # the sender of the datagram the loop failed on
    assert error.note.startswith("UnicodeDecodeError: 'ascii' codec can't decode")
    assert udp_ask(server.address, b"ok") == b"ko"  # restarted on the same socket
    with pytest.raises(UnicodeDecodeError):
        server.raise_errors()
    kinds = [e.kind for e in server.events.events]
    assert kinds == ["socket", "bind", "recv", "error", "restart", "recv", "send"]
    server.stop()
    assert capfd.readouterr() == (f"udp-ascii server on 127.0.0.1:{server.port}\n", "")


def test_a_whole_udp_server_failing_twice_before_a_datagram_is_not_restarted_forever():
    def broken(sock):
        raise NameError("name 'addr' is not defined")

    server = serve("udp-broken", broken, port=0, protocol="udp", quiet=True)
    stop = server.events.wait_for("stop", timeout=10)[0]
    assert [e.kind for e in server.events.events] == [
        "socket",
        "bind",
        "error",
        "restart",
        "error",
        "stop",
    ]
    assert "failed again before receiving a datagram" in stop.note
    assert not server.running and running_servers() == []
    assert udp_port_is_free(server.port)


def test_a_catch_all_udp_loop_does_not_swallow_stop():
    caught = []

    def stubborn(sock):
        while True:
            try:
                data, addr = sock.recvfrom(65535)
                sock.sendto(data.decode("ascii").encode(), addr)
            except Exception as error:
                caught.append(error)

    server = serve("udp-stubborn", stubborn, port=0, protocol="udp", quiet=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto("ж".encode(), server.address)
    assert udp_ask(server.address, b"ok") == b"ok"
    server.stop(timeout=2.0)
    assert [type(error) for error in caught] == [UnicodeDecodeError]
    assert server.errors == [] and not server_threads()


def test_serve_refuses_a_protocol_it_does_not_run():
    with pytest.raises(ValueError, match="serve_unix"):
        serve("reverse", reverse_server, port=0, protocol="unix")
    with pytest.raises(ValueError, match="'tcp', 'udp'"):
        serve("reverse", reverse_server, port=0, protocol="UDP ")
    assert running_servers() == []
