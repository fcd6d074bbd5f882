"""The course's certificate authority, made on the spot, and the TLS contexts around it.

A real mail server proves its name with a certificate signed by an authority
the client already trusts. Offline there is no such authority, so the course
makes one (with trustme) the first time TLS is asked for, and hands its
certificate to the clients that should trust it::

    import ssl
    server_context = mail_server_context()          # for the sink
    client_context = ssl.create_default_context(cadata=course_ca_pem())
    client_context.check_hostname, client_context.verify_mode == ssl.CERT_REQUIRED
    # -> (True, True)

The client context above checks the certificate *and* the host name, exactly as
against a real server; nothing here switches a check off. The authority lives
only in this process's memory (nothing is written to disk), is made once per
process (about 80 ms, mostly importing cryptography) and never for a sink that
does not offer STARTTLS, which keeps an ordinary sink's start-up fast.

These certificates are for this course's loopback stand-ins only: like trustme
itself says, never use them for anything real.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

MAIL_HOST_NAMES: tuple[str, ...] = ("mail.onego.ru", "localhost", "127.0.0.1")
"""The names the mail sink's certificate is valid for."""

_lock = threading.Lock()
_made: dict[str, Any] = {}


def course_ca() -> Any:
    """The course's ``trustme.CA``, made on first use and then kept for the process.

    Kept, so that a client context built before a sink cell was re-run still
    trusts the new sink: every certificate of the process comes from this CA.
    """
    with _lock:
        if "ca" not in _made:
            import trustme  # imported here: it pulls in cryptography (~70 ms)

            _made["ca"] = trustme.CA(organization_name="Python network course (offline)")
        return _made["ca"]


def course_ca_pem() -> str:
    """The CA certificate in PEM form: what a client passes as ``cadata=``."""
    return course_ca().cert_pem.bytes().decode("ascii")


def mail_server_context(names: tuple[str, ...] = MAIL_HOST_NAMES) -> ssl.SSLContext:
    """A server-side context whose certificate is valid for ``names``.

    The leaf certificate is issued once per set of names and reused. The context
    does not ask clients for certificates (``Purpose.CLIENT_AUTH`` leaves
    ``verify_mode`` at ``CERT_NONE``), which is what a mail server does and what
    aiosmtpd expects.
    """
    key = "cert:" + ",".join(names)
    ca = course_ca()
    with _lock:
        if key not in _made:
            _made[key] = ca.issue_cert(*names)
        cert = _made[key]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
