"""The network guard: with it on, nothing in this kernel reaches outside loopback.

The first cell of every notebook calls ``helpers.enable_guard()``. From then on a
connect, datagram, bind or name look-up whose address or name is not loopback
raises ``NetworkGuardError`` before anything leaves the machine::

    import socket, helpers
    helpers.enable_guard()
    socket.create_connection(("www.onego.ru", 80), timeout=1)
    # raises NetworkGuardError: name look-up of 'www.onego.ru' refused: ...

Why: the source chapter's addresses and names belong to real people and hosts,
and the course promises to run offline. Course names (www.onego.ru, ...) are
answered by the course's own name server through the helpers, never by the
system resolver.

What passes: IP literals on loopback (127.0.0.0/8, ::1), and local names
(``localhost`` and its variants, this machine's own name) whose addresses in the
hosts file are all loopback. A host is judged by its addresses, not its
spelling, and without asking DNS: in a Docker or Kubernetes container the
machine's own name stands for its network address, so binding it is refused.
Every other name is refused without a look-up; a course name gets a pointer to
the course's name server.

What it covers: this Python process, the kernel, whatever library opens its
sockets. It does not reach other processes: curl, ping, or a program started
with subprocess or from a terminal run without it.

How: two parts, installed once per process and doing nothing while the guard
is off. CPython resolves a host name inside ``connect``, ``connect_ex``,
``bind``, ``sendto`` and ``sendmsg`` (in C) before it raises their audit event,
so those methods of ``socket.socket`` are wrapped: the host is judged first, and
a local name is handed to the C call as its address, so nothing is looked up.
Then a ``sys.addaudithook`` hook judges every socket call and look-up function
(getaddrinfo, gethostbyname, ...), whose audit events come before any look-up.
Audit hooks cannot be removed, so "off" is a flag. The guard raises (it does
not warn) so that any later hook, such as the tests' own, only sees what the
guard let through.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

from helpers.wire.hosts import parse_hosts

# typing.TYPE_CHECKING without importing typing, a few ms of every program's start-up
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["NetworkGuardError", "disable_guard", "enable_guard"]

# RFC 6761: these names are loopback whatever a resolver says; the hosts file may
# list them, and when it does not, these are their addresses.
LOCAL_NAMES: dict[str, tuple[str, ...]] = {
    "localhost": ("127.0.0.1", "::1"),
    "localhost.localdomain": ("127.0.0.1", "::1"),
    "ip6-localhost": ("::1",),
    "ip6-loopback": ("::1",),
}
COURSE_DOMAIN = "onego.ru"  # the course's own names, answered by its name server only

_WHY = (
    "The course runs offline: no cell may reach outside loopback (127.0.0.0/8, ::1, "
    "localhost), because the addresses in the source belong to real people and hosts. "
    "Course names such as www.onego.ru are answered by the course's own name server "
    "through the helpers. To reach the network on purpose, call helpers.disable_guard() first."
)
_ALL_INTERFACES = (
    "'' and 0.0.0.0 (or ::) mean every network interface, which would expose the server "
    "to the whole network; bind to '127.0.0.1' instead"
)


class NetworkGuardError(OSError):
    """An address or name outside loopback was refused by the course's network guard."""


class _Refused(Exception):
    """Why a host is not loopback; turned into a NetworkGuardError by the caller."""


def hosts_file_path() -> str:
    """Where this platform keeps its hosts file."""
    if sys.platform == "win32":
        root = os.environ.get("SystemRoot", r"C:\Windows")
        return os.path.join(root, "System32", "drivers", "etc", "hosts")
    return "/etc/hosts"


def _read_hosts() -> dict[str, tuple[str, ...]]:
    try:
        with open(hosts_file_path(), encoding="utf-8", errors="replace") as file:
            return parse_hosts(file.read())
    except OSError:
        return {}


# Read once, here and when the guard is switched on: reading a file or calling
# gethostname() from inside the hook would raise audit events of its own.
_state: dict[str, Any] = {
    "installed": False,
    "enabled": False,
    "own_name": socket.gethostname().lower(),
    "hosts": _read_hosts(),
}


def _literal_is_loopback(text: str) -> bool | None:
    """For an IP literal, whether it is loopback; None when ``text`` is not a literal.

    "127.1" and "0x7f.1" are literals too (the C resolver reads them without a
    look-up). "127.0.0.1%anything" is not a literal: the C call would hand it
    to the resolver as a name.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if not text or not all(c in "0123456789abcdefx." for c in text):
            return None
        try:
            return socket.inet_aton(text)[0] == 127
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _is_course_name(name: str) -> bool:
    return name == COURSE_DOMAIN or name.endswith("." + COURSE_DOMAIN)


def loopback_addresses(host: Any) -> tuple[str, ...]:
    """The loopback addresses ``host`` stands for, found without asking DNS.

    An IP literal stands for itself. A local name (``localhost`` and its
    variants, and this machine's own name) stands for what the hosts file lists
    for it, never what DNS says; ``localhost`` names are loopback by definition
    when the file lists nothing. Any other name is refused without a look-up.
    Raises ``_Refused`` with the reason when ``host`` is not loopback (a local
    name listed with a network address is not: in a container, the machine's
    own name is usually its network address).
    """
    if isinstance(host, bytes | bytearray):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            raise _Refused(f"{host!r} is not a host name") from None
    if not isinstance(host, str) or not host:
        raise _Refused("it names no host")
    # A trailing dot is kept: "localhost." is an absolute DNS name, which a C
    # look-up may send to DNS rather than find in the hosts file.
    name = host.lower()
    literal = _literal_is_loopback(name)
    if literal is not None:
        if literal:
            return (host,)
        raise _Refused(f"{host} is not a loopback address")
    if name in LOCAL_NAMES or name == _state["own_name"]:
        listed = _state["hosts"].get(name) or LOCAL_NAMES.get(name, ())
        outside = [a for a in listed if not _literal_is_loopback(a.lower())]
        if not listed:
            raise _Refused(f"{host} is not in the hosts file, and only DNS could say its address")
        if outside:
            raise _Refused(
                f"{host} stands for {', '.join(outside)} in the hosts file: a network "
                "interface, not loopback; use '127.0.0.1'"
            )
        return listed
    if _is_course_name(name):
        raise _Refused(
            f"{host} is one of the course's names: its address comes from the course's "
            f"name server (helpers.resolve({host!r})), never from this machine's resolver"
        )
    raise _Refused(f"{host} is a name outside this machine; it is not looked up")


def is_loopback_target(host: Any) -> bool:
    """True when ``host`` (a name or an IP literal, str or bytes) stays on this machine.

    See ``loopback_addresses``: IPv4 127.0.0.0/8 (also in the short forms the
    resolver accepts, such as "127.1"), ::1, IPv4-mapped ::ffff:127.x.y.z, and
    local names whose hosts-file addresses are all loopback. Everything else is
    refused, including "" and 0.0.0.0 (every interface) and "<broadcast>".
    """
    try:
        loopback_addresses(host)
    except _Refused:
        return False
    return True


def _refuse(action: str, target: Any, reason: str) -> NetworkGuardError:
    host = target[0] if isinstance(target, tuple) and target else target
    if host in ("", b"", "0.0.0.0", "::", None) and action == "bind":
        return NetworkGuardError(f"bind to {target!r} refused: {_ALL_INTERFACES}. {_WHY}")
    return NetworkGuardError(f"{action} {target!r} refused: {reason}. {_WHY}")


def _check_address(action: str, sock: Any, address: Any) -> None:
    """Socket addresses: AF_UNIX paths pass, (host, port, ...) tuples need a loopback host."""
    if address is None or isinstance(address, str | bytes | bytearray):
        return  # sendmsg on a connected socket, or an AF_UNIX path
    if getattr(sock, "family", None) not in _INET:
        return
    host = address[0] if isinstance(address, tuple) and address else address
    try:
        loopback_addresses(host)
    except _Refused as refused:
        raise _refuse(action, address, str(refused)) from None


def _check_name(action: str, host: Any) -> None:
    try:
        loopback_addresses(host)
    except _Refused as refused:
        raise _refuse(action, host, str(refused)) from None


def _on_getaddrinfo(args: tuple) -> None:
    host = args[0]
    # getaddrinfo(None, port) asks nobody: it returns the wildcard or loopback
    # address, and the bind or connect that follows is checked on its own.
    if host is not None:
        _check_name("name look-up of", host)


def _on_getnameinfo(args: tuple) -> None:
    sockaddr = args[0]
    host = sockaddr[0] if isinstance(sockaddr, tuple) and sockaddr else sockaddr
    _check_name("reverse look-up of", host)


_CHECKS = {
    "socket.connect": lambda args: _check_address("connect to", args[0], args[1]),
    "socket.sendto": lambda args: _check_address("datagram to", args[0], args[1]),
    "socket.sendmsg": lambda args: _check_address("message to", args[0], args[1]),
    "socket.bind": lambda args: _check_address("bind", args[0], args[1]),
    "socket.getaddrinfo": _on_getaddrinfo,
    "socket.gethostbyname": lambda args: _check_name("name look-up of", args[0]),
    "socket.gethostbyaddr": lambda args: _check_name("reverse look-up of", args[0]),
    "socket.getnameinfo": _on_getnameinfo,
}

_INET = (socket.AF_INET, socket.AF_INET6)


# -- before the C call ---------------------------------------------------------------
# CPython resolves a host name inside connect, connect_ex, bind, sendto and sendmsg
# (in C) before it raises their audit event: by the time the hook above sees the
# call, the name has already gone to the system resolver (and, online, a course
# name to the real DNS). So these methods of socket.socket are wrapped: with the
# guard on, the host is judged here first, and a local name is replaced by its
# loopback address from the hosts file, so the C call never looks anything up.


def _resolved(action: str, sock: Any, address: Any) -> Any:
    """``address`` with its host judged and, for a local name, replaced by an address."""
    if (
        not _state["enabled"]
        or getattr(sock, "family", None) not in _INET
        or not isinstance(address, tuple)
        or not address
        or not isinstance(address[0], str | bytes | bytearray)
    ):
        return address
    host = address[0]
    try:
        addresses = loopback_addresses(host)
    except _Refused as refused:
        raise _refuse(action, address, str(refused)) from None
    if addresses == (host,):
        return address  # an IP literal: nothing to look up
    want_v6 = sock.family == socket.AF_INET6
    fitting = [a for a in addresses if (":" in a) == want_v6]
    if not fitting:
        kind = "IPv6" if want_v6 else "IPv4"
        raise _refuse(action, address, f"{host} has no {kind} address in the hosts file")
    return (fitting[0], *address[1:])


def _wrap(name: str, action: str, where: int | None) -> None:
    """Replace ``socket.socket.<name>`` by one that resolves its address argument first.

    ``where`` is the position of the address among the positional arguments
    (None: the last one, as for sendto's two forms).
    """
    original = getattr(socket.socket, name)

    def guarded(self: socket.socket, *args: Any) -> Any:
        if _state["enabled"] and args:
            index = len(args) - 1 if where is None else where
            if index < len(args):
                args = (*args[:index], _resolved(action, self, args[index]), *args[index + 1 :])
        return original(self, *args)

    guarded.__name__ = guarded.__qualname__ = name
    guarded.__doc__ = original.__doc__
    setattr(socket.socket, name, guarded)


def _wrap_socket_methods() -> None:
    _wrap("connect", "connect to", 0)
    _wrap("connect_ex", "connect to", 0)
    _wrap("bind", "bind", 0)
    _wrap("sendto", "datagram to", None)
    if hasattr(socket.socket, "sendmsg"):  # Windows has none
        _wrap("sendmsg", "message to", 3)


def _hook(event: str, args: tuple) -> None:
    # Runs for every audited event in the process: keep the common path short.
    if not _state["enabled"]:
        return
    check = _CHECKS.get(event)
    if check is not None:
        check(args)


def install_guard_hook() -> None:
    """Install the audit hook and the socket wrappers once per process; the guard stays off."""
    if _state["installed"]:
        return
    _wrap_socket_methods()
    sys.addaudithook(_hook)
    _state["installed"] = True


def enable_guard() -> None:
    """Refuse every address and name outside loopback from now on (see the module doc)."""
    install_guard_hook()
    _state["hosts"] = _read_hosts()  # as the hosts file is now, read outside the hook
    _state["enabled"] = True


def disable_guard() -> None:
    """Switch the guard off on purpose: cells may reach the real network again."""
    _state["enabled"] = False


def guard_enabled() -> bool:
    return _state["enabled"]
