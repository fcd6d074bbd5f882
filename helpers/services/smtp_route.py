"""The route to mail.onego.ru: smtplib, with the host name resolved by the course's name server.

``smtplib.SMTP("mail.onego.ru", port)`` would hand the name to the system
resolver, which must never see a course name (online it finds the real host;
offline its error differs from machine to machine). ``CourseSMTP`` changes
only where the address comes from::

    with CourseSMTP("mail.onego.ru", sink.port, local_hostname="student.local") as client:
        client.starttls(context=ssl.create_default_context(cadata=sink.ca_pem))

Everything else is smtplib's own. The client keeps the *name* mail.onego.ru
(smtplib remembers it in ``connect()``), so ``starttls`` checks the server's
certificate against that name, exactly as it would against the real server;
the address it connects to is the course's answer (127.0.0.1). The port is the
sink's: DNS tells where mail for a domain goes (MX) and a host's address (A),
never a port.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
from collections.abc import Callable

__all__ = ["CourseSMTP"]

TIMEOUT = 5.0


def _course_address(name: str) -> str:
    from helpers.services.lookups import course_gethostbyname  # dnspython, loaded on first use

    return course_gethostbyname(name)


class CourseSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose ``_get_socket`` asks the course's name server for the address.

    ``resolve`` (a function: name -> IPv4 address) replaces the course's name
    server, for tests; an IP address is used as it is. Unlike smtplib, the
    timeout has a short default, so a missing server fails within seconds.
    """

    def __init__(
        self,
        host: str = "",
        port: int = 0,
        local_hostname: str | None = None,
        timeout: float = TIMEOUT,
        source_address: tuple[str, int] | None = None,
        *,
        resolve: Callable[[str], str] | None = None,
    ):
        self._resolve = resolve or _course_address
        super().__init__(host, port, local_hostname, timeout, source_address)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        address = host if _is_ip_address(host) else self._resolve(host)
        if address != host and self.debuglevel > 0:
            self._print_debug("resolved:", host, "->", address, "by the course's name server")
        return socket.create_connection((address, port), timeout, self.source_address)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
