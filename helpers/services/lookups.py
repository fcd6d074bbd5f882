"""Look-ups of the course's names, asked of the course's name server and nothing else.

    resolve("www.onego.ru")
    # -> ['195.161.136.4']
    resolve("onego.ru", "MX")
    # -> ['10 mail.onego.ru.']
    course_gethostbyname("mail.onego.ru")
    # -> '127.0.0.1'
    course_gethostbyaddr("195.161.136.4")
    # -> ('www.onego.ru', [], ['195.161.136.4'])

``socket.gethostbyname`` and friends ask the servers the machine is configured
with (/etc/resolv.conf, /etc/hosts), which know nothing of the course's server;
and a course name must never reach them (the offline promise). These functions
ask only the name server of ``helpers.start_name_server()`` on 127.0.0.1, start
it quietly if it is not running, and give up within about two seconds.

For code that needs dnspython's full answers (the mail notebook's MX step):
``course_resolver().resolve("onego.ru", "MX")``. Call ``course_resolver()``
again after the name server is restarted: its port changes.
"""

from __future__ import annotations

import ipaddress
import socket
import time

import dns.exception
import dns.resolver
import dns.reversename

from helpers.services.nameserver import name_server
from helpers.wire.dnswire import DNSWireError, parse_header

__all__ = ["course_resolver", "resolve"]

# One try fills the whole lifetime: the server is on this machine and answers in
# milliseconds, and a second try after a slow first one (a machine busy with other
# kernels) would only put the same question twice into the server's event log.
TIMEOUT = 2.0  # one try
LIFETIME = 2.0  # all tries together


def course_resolver(timeout: float = TIMEOUT, lifetime: float = LIFETIME) -> dns.resolver.Resolver:
    """A dnspython Resolver that asks only the course's name server.

    ``configure=False`` keeps /etc/resolv.conf (the machine's own servers) out;
    no cache, so an edited zone is seen at once.
    """
    server = name_server()
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.port = server.port
    resolver.timeout = timeout
    resolver.lifetime = lifetime
    return resolver


def resolve(name: str, rdtype: str = "A", timeout: float = TIMEOUT) -> list[str]:
    """The answers for ``name`` and ``rdtype`` as zone-file text, through dnspython.

    A: ``['195.161.136.4']``; MX: ``['10 mail.onego.ru.']``; PTR: ``['www.onego.ru.']``.
    Raises dnspython's own errors: ``dns.resolver.NXDOMAIN`` (no such name),
    ``dns.resolver.NoAnswer`` (the name has no record of that type),
    ``dns.resolver.NoNameservers`` (the server refused, e.g. a name outside
    onego.ru), ``dns.resolver.LifetimeTimeout`` (no answer in time).
    """
    answer = course_resolver(timeout, max(timeout, LIFETIME)).resolve(name, rdtype, search=False)
    return [rdata.to_text() for rdata in answer]


def course_gethostbyname(name: str) -> str:
    """Like ``socket.gethostbyname``, for course names: the first IPv4 address.

    Raises ``socket.gaierror`` as the real one does, so code written for it
    (an ``smtplib.SMTP`` subclass's ``_get_socket``) keeps its error handling.
    """
    try:
        return resolve(name, "A")[0]
    except dns.exception.DNSException as exc:
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: {exc}") from None


def course_gethostbyaddr(host: str) -> tuple[str, list[str], list[str]]:
    """Like ``socket.gethostbyaddr``: ``(name, aliases, addresses)`` for a name or an address.

    A name is first turned into its address (A record), then the address back
    into its name (PTR record): the chapter's
    ``gethostbyaddr('www.onego.ru')`` and ``gethostbyaddr('195.161.136.4')`` both give
    ``('www.onego.ru', [], ['195.161.136.4'])``. No PTR record: ``socket.herror``,
    as from the real function.
    """
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        address = course_gethostbyname(host)
    pointer = dns.reversename.from_address(address)
    try:
        names = resolve(pointer.to_text(), "PTR")
    except dns.exception.DNSException:
        raise socket.herror(1, f"Unknown host: no PTR record for {address}") from None
    return names[0].rstrip("."), [], [address]


def send_query(query: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send a DNS query (bytes) to the course's name server over UDP; return the reply bytes.

    Waits at most ``timeout`` seconds for a datagram whose id matches the
    query's (a late reply to an earlier question is skipped); then TimeoutError.
    """
    server = name_server()
    query_id = parse_header(query).id
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(query, server.address)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from the name server within {timeout} s")
            sock.settimeout(remaining)
            try:
                reply, _ = sock.recvfrom(65535)
            except TimeoutError:
                raise TimeoutError(f"no reply from the name server within {timeout} s") from None
            try:
                if parse_header(reply).id == query_id:
                    return reply
            except DNSWireError:
                continue
