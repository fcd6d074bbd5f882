"""helpers.run.guard: with the guard on nothing leaves loopback; off, the hook stays out of the way.

Every refusal here happens in the audit hook, before the operation runs, so no
test ever sends a packet or a query outside this machine. 192.0.2.0/24 is
TEST-NET-1, reserved for documentation, in case anything did slip through.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from helpers.run import guard
from helpers.run.guard import (
    NetworkGuardError,
    disable_guard,
    enable_guard,
    guard_enabled,
    is_loopback_target,
)

OUTSIDE = ("192.0.2.1", 80)


@pytest.fixture
def guarded():
    enable_guard()
    yield
    disable_guard()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "127.255.255.254",
        b"127.0.0.1",
        "::1",
        "0:0:0:0:0:0:0:1",
        "::1%lo",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "127.1",
        "localhost",
        "LOCALHOST",
        "localhost.localdomain",
        "ip6-localhost",
        b"localhost",
        socket.gethostname(),
    ],
)
def test_loopback_targets_are_allowed(host):
    assert is_loopback_target(host)


@pytest.mark.parametrize(
    "host",
    [
        "192.0.2.1",
        "195.161.136.4",
        "10.0.0.1",
        "8.8.8.8",
        "::",
        "0.0.0.0",
        "",
        b"",
        None,
        "::ffff:192.0.2.1",
        "2001:db8::1",
        "www.onego.ru",
        "mail.onego.ru",
        "localhost.",
        "localhost.onego.ru",
        "<broadcast>",
        "128.0.0.1",
        "126.255.255.255",
        "0x7f.example",
        "127.0.0.1%anything",
        "127.0.0.1%lo",
        "lo",
        b"\xff\xfe",
        2130706433,
    ],
)
def test_everything_else_is_refused(host):
    assert not is_loopback_target(host)


def test_connect_outside_is_refused_before_anything_leaves(guarded):
    with socket.socket() as s:
        with pytest.raises(NetworkGuardError) as caught:
            s.connect(OUTSIDE)
    message = str(caught.value)
    assert message.startswith(
        "connect to ('192.0.2.1', 80) refused: 192.0.2.1 is not a loopback address. "
        "The course runs offline"
    )
    assert "helpers.disable_guard()" in message and "www.onego.ru" in message
    assert isinstance(caught.value, OSError)
    with pytest.raises(NetworkGuardError, match="look-up of '192.0.2.1' refused"):
        socket.create_connection(OUTSIDE, timeout=1)


def test_datagrams_outside_are_refused(guarded):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(NetworkGuardError, match="datagram to"):
            s.sendto(b"x", OUTSIDE)
        with pytest.raises(NetworkGuardError, match="message to"):
            s.sendmsg([b"x"], [], 0, OUTSIDE)
        with pytest.raises(NetworkGuardError, match="datagram to"):
            s.sendto(b"x", ("<broadcast>", 9))


def test_outside_names_are_never_looked_up(guarded):
    with pytest.raises(NetworkGuardError, match="name look-up of 'www.onego.ru'"):
        socket.getaddrinfo("www.onego.ru", 80)
    with pytest.raises(NetworkGuardError, match="name look-up of 'www.onego.ru'"):
        socket.gethostbyname("www.onego.ru")
    with pytest.raises(NetworkGuardError, match="reverse look-up of 'www.onego.ru'"):
        socket.gethostbyaddr("www.onego.ru")
    with pytest.raises(NetworkGuardError, match="look-up of '195.161.136.4'"):
        socket.gethostbyaddr("195.161.136.4")
    with pytest.raises(NetworkGuardError, match="look-up of '195.161.136.4'"):
        socket.getnameinfo(("195.161.136.4", 25), 0)


def test_every_lookup_function_is_covered(guarded):
    with pytest.raises(NetworkGuardError, match="name look-up of 'mail.onego.ru'"):
        socket.gethostbyname_ex("mail.onego.ru")
    with pytest.raises(NetworkGuardError, match="name look-up of 'mail.onego.ru'"):
        socket.create_connection(("mail.onego.ru", 25), timeout=1)


def test_getfqdn_of_a_course_name_asks_nobody(guarded, monkeypatch):
    # getfqdn() swallows the refusal of its look-up and hands the name back unchanged;
    # the spy proves the refusal came from the guard, not from an offline resolver.
    refusals = []
    real_gethostbyaddr = socket.gethostbyaddr

    def spy(name):
        try:
            return real_gethostbyaddr(name)
        except OSError as error:
            refusals.append(type(error))
            raise

    monkeypatch.setattr(socket, "gethostbyaddr", spy)
    assert socket.getfqdn("www.onego.ru") == "www.onego.ru"
    assert refusals == [NetworkGuardError]


def test_binding_every_interface_is_refused_with_the_reason(guarded):
    for host in ("", "0.0.0.0"):
        with socket.socket() as s, pytest.raises(NetworkGuardError) as caught:
            s.bind((host, 0))
        assert "every network interface" in str(caught.value)
        assert "bind to '127.0.0.1' instead" in str(caught.value)


def test_loopback_and_unix_sockets_work_with_the_guard_on(guarded, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=1) as client:
            conn, _ = server.accept()
            with conn:
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
    assert socket.getaddrinfo("localhost", 80, socket.AF_INET)[0][4] == ("127.0.0.1", 80)
    assert socket.getaddrinfo(None, 80)  # port only: asks nobody
    if hasattr(socket, "AF_UNIX"):
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(tmp_path / "course.sock"))


def test_switching_off_and_on(guarded):
    # The hook's own decision, called directly: no real connect is attempted.
    with socket.socket() as s:
        with pytest.raises(NetworkGuardError):
            guard._hook("socket.connect", (s, OUTSIDE))
        disable_guard()
        assert not guard_enabled()
        guard._hook("socket.connect", (s, OUTSIDE))
        guard._hook("socket.getaddrinfo", ("www.onego.ru", 80, 0, 0, 0))
        enable_guard()
        assert guard_enabled()
        with pytest.raises(NetworkGuardError):
            guard._hook("socket.getaddrinfo", ("www.onego.ru", 80, 0, 0, 0))
    disable_guard()
    with socket.create_server(("127.0.0.1", 0)) as server:
        socket.create_connection(server.getsockname(), timeout=1).close()


def test_a_later_audit_hook_sees_only_what_the_guard_let_through():
    script = (
        "import socket, sys\n"
        "from helpers.run.guard import install_guard_hook, enable_guard, NetworkGuardError\n"
        "install_guard_hook(); install_guard_hook()\n"
        "seen = []\n"
        "sys.addaudithook(lambda e, a: seen.append(a[1]) if e == 'socket.connect' else None)\n"
        "enable_guard()\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('192.0.2.1', 80))\n"
        "except NetworkGuardError:\n"
        "    pass\n"
        "listener = socket.create_server(('127.0.0.1', 0))\n"
        "socket.create_connection(listener.getsockname(), timeout=1).close()\n"
        "print([a[0] for a in seen])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out == "['127.0.0.1']\n"


# -- host names are judged by their addresses, from the hosts file, never by DNS ------

OWN = "student-box.invalid"  # .invalid (RFC 6761): no resolver anywhere knows it


@pytest.fixture
def hosts(guarded, monkeypatch):
    """Simulate this machine's own name and hosts file (read when the guard was enabled)."""

    def use(table: dict[str, tuple[str, ...]]) -> None:
        monkeypatch.setitem(guard._state, "own_name", OWN)
        monkeypatch.setitem(guard._state, "hosts", table)

    return use


def test_a_hosts_file_is_read_as_names_and_their_addresses():
    from helpers.wire.hosts import parse_hosts

    text = "# comment\n127.0.0.1\tlocalhost Student-Box\n::1 localhost ip6-localhost\n\n"
    assert parse_hosts(text) == {
        "localhost": ("127.0.0.1", "::1"),
        "student-box": ("127.0.0.1",),
        "ip6-localhost": ("::1",),
    }


def test_the_own_name_on_a_container_address_is_refused_with_the_address(hosts):
    """Docker and Kubernetes map the machine's name to its network address."""
    hosts({"localhost": ("127.0.0.1",), OWN: ("172.17.0.2",)})
    with socket.socket() as s, pytest.raises(NetworkGuardError, match="stands for 172.17.0.2"):
        s.bind((OWN, 0))
    with pytest.raises(NetworkGuardError, match="stands for 172.17.0.2"):
        socket.getaddrinfo(OWN, 80)
    assert not is_loopback_target(OWN)


def test_a_local_name_with_loopback_and_network_addresses_is_refused(hosts):
    hosts({OWN: ("127.0.1.1", "10.1.2.3")})
    assert not is_loopback_target(OWN)


def test_the_own_name_missing_from_the_hosts_file_is_refused_without_a_look_up(hosts):
    hosts({"localhost": ("127.0.0.1",)})
    with socket.socket() as s, pytest.raises(NetworkGuardError, match="not in the hosts file"):
        s.connect((OWN, 80))


def test_a_local_name_gets_its_hosts_file_address_without_any_look_up(hosts):
    """No resolver knows OWN (.invalid): the connect works only if the guard resolved it."""
    hosts({OWN: ("127.0.0.1",)})
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.socket() as client:
        client.settimeout(2)
        client.connect((OWN, listener.getsockname()[1]))
        assert client.getpeername() == listener.getsockname()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((OWN, 0))
        assert udp.getsockname()[0] == "127.0.0.1"
        assert udp.sendto(b"x", 0, (OWN, udp.getsockname()[1])) == 1
        assert udp.connect_ex((OWN, udp.getsockname()[1])) == 0


def test_localhost_is_loopback_even_when_the_hosts_file_forgets_it(hosts):
    hosts({})
    assert guard.loopback_addresses("localhost") == ("127.0.0.1", "::1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("localhost", 0))
        assert udp.getsockname()[0] == "127.0.0.1"


def test_a_course_name_is_pointed_to_the_course_name_server(guarded):
    for call in (
        lambda s: s.connect(("www.onego.ru", 80)),
        lambda s: s.connect_ex(("mail.onego.ru", 25)),
        lambda s: s.bind(("rnd.onego.ru", 0)),
    ):
        with socket.socket() as s, pytest.raises(NetworkGuardError) as caught:
            call(s)
        assert "course's name server" in str(caught.value)
        assert "helpers.resolve(" in str(caught.value)


@pytest.mark.skipif(not hasattr(socket.socket, "sendmsg"), reason="Windows has no sendmsg")
def test_sendmsg_and_both_sendto_forms_are_judged_before_the_c_call(guarded):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for send in (
            lambda: udp.sendto(b"x", ("example.org", 9)),
            lambda: udp.sendto(b"x", 0, ("example.org", 9)),
            lambda: udp.sendmsg([b"x"], [], 0, ("example.org", 9)),
        ):
            with pytest.raises(NetworkGuardError, match="is not looked up"):
                send()


def test_with_the_guard_off_names_pass_to_the_c_call_untouched(monkeypatch):
    disable_guard()
    monkeypatch.setitem(guard._state, "hosts", {})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("localhost", 0))  # resolved by the system, as without the course
        assert udp.getsockname()[0].startswith("127.")
