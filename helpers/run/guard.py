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

How: a ``sys.addaudithook`` hook, installed once per process and doing nothing
while the guard is off. Audit hooks cannot be removed, so "off" is a flag. The
hook raises (it does not warn) so that any later hook, such as the test
harness's own, only sees what the guard let through.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

__all__ = ["NetworkGuardError", "disable_guard", "enable_guard"]

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

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


# The own name is read once, here: calling gethostname() from inside the hook
# would raise an audit event of its own.
_state = {"installed": False, "enabled": False, "own_name": socket.gethostname().lower()}


def is_loopback_target(host: Any) -> bool:
    """True when ``host`` (a name or an IP literal, str or bytes) stays on this machine.

    Allowed: IPv4 127.0.0.0/8 (also in the short forms the resolver accepts,
    such as "127.1"), ::1, IPv4-mapped ::ffff:127.x.y.z, the names in
    ``LOCAL_NAMES`` and this machine's own name. Everything else is refused,
    including "" and 0.0.0.0 (every interface) and "<broadcast>".
    """
    if isinstance(host, bytes | bytearray):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(host, str) or not host:
        return False
    name = host.lower()
    if name in LOCAL_NAMES or name == _state["own_name"]:
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return _legacy_ipv4_is_loopback(name)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _legacy_ipv4_is_loopback(name: str) -> bool:
    """ "127.1" or "0x7f.1": numeric forms the C resolver accepts without any look-up."""
    if not name or not all(c in "0123456789abcdefx." for c in name):
        return False
    try:
        packed = socket.inet_aton(name)
    except OSError:
        return False
    return packed[0] == 127


def _refuse(action: str, target: Any) -> NetworkGuardError:
    host = target[0] if isinstance(target, tuple) and target else target
    if host in ("", b"", "0.0.0.0", "::", None) and action == "bind":
        return NetworkGuardError(f"bind to {target!r} refused: {_ALL_INTERFACES}. {_WHY}")
    return NetworkGuardError(f"{action} {target!r} refused. {_WHY}")


def _check_address(action: str, sock: Any, address: Any) -> None:
    """Socket addresses: AF_UNIX paths pass, (host, port, ...) tuples need a loopback host."""
    if address is None or isinstance(address, str | bytes | bytearray):
        return  # sendmsg on a connected socket, or an AF_UNIX path
    if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback_target(host):
        raise _refuse(action, address)


def _check_name(action: str, host: Any) -> None:
    if not is_loopback_target(host):
        raise _refuse("look-up of" if _is_ip_literal(host) else action, host)


def _is_ip_literal(host: Any) -> bool:
    try:
        ipaddress.ip_address(host.decode("ascii") if isinstance(host, bytes) else host)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


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


def _hook(event: str, args: tuple) -> None:
    # Runs for every audited event in the process: keep the common path short.
    if not _state["enabled"]:
        return
    check = _CHECKS.get(event)
    if check is not None:
        check(args)


def install_guard_hook() -> None:
    """Install the audit hook once per process (idempotent); the guard stays off."""
    if _state["installed"]:
        return
    sys.addaudithook(_hook)
    _state["installed"] = True


def enable_guard() -> None:
    """Refuse every address and name outside loopback from now on (see the module doc)."""
    install_guard_hook()
    _state["enabled"] = True


def disable_guard() -> None:
    """Switch the guard off on purpose: cells may reach the real network again."""
    _state["enabled"] = False


def guard_enabled() -> bool:
    return _state["enabled"]
