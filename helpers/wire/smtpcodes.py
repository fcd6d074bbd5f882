"""SMTP's enhanced status codes (RFC 3463, RFC 2034): ``250 OK`` becomes ``250 2.1.0 OK``.

A reply's three digits say *whether* it worked; the enhanced code after them
says *what* happened, in a form a program can sort: ``5.1.1`` bad mailbox,
``5.7.1`` refused by policy (relaying), ``5.3.4`` message too big. A server
that advertises ENHANCEDSTATUSCODES puts one on every reply except the
greeting and the answer to HELO or EHLO (RFC 2034 §3), and never on the 3xx
replies (``354``, ``334``), which ask for more rather than report::

    >>> enhance(b"250 OK", "MAIL")
    b'250 2.1.0 OK'
    >>> enhance(b"503 Error: need MAIL command", "RCPT")
    b'503 5.5.1 Error: need MAIL command'
    >>> enhance(b"550 5.7.1 relay access denied", "RCPT")   # has one already
    b'550 5.7.1 relay access denied'

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import re

__all__ = ["enhance", "has_enhanced_code"]

_REPLY = re.compile(rb"^([245])(\d\d)([ -]?)(.*)$", re.DOTALL)
_ENHANCED = re.compile(rb"^[245]\.\d{1,3}\.\d{1,3}(?: |$)")

# (command, reply code) first, then the reply code alone: RFC 3463 and the
# IANA registry of RFC 5248, as the common servers use them.
_BY_COMMAND: dict[tuple[str, str], str] = {
    ("MAIL", "250"): "2.1.0",
    ("RCPT", "250"): "2.1.5",
    ("RCPT", "550"): "5.1.1",
    ("RCPT", "553"): "5.1.3",
    ("MAIL", "553"): "5.1.7",
    ("MAIL", "552"): "5.3.4",
    ("DATA", "552"): "5.3.4",
    ("DATA", "554"): "5.6.0",
}
_BY_CODE: dict[str, str] = {
    "211": "2.0.0",
    "214": "2.0.0",
    "220": "2.0.0",
    "221": "2.0.0",
    "235": "2.7.0",
    "250": "2.0.0",
    "251": "2.1.5",
    "252": "2.5.0",
    "421": "4.7.0",
    "450": "4.2.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "534": "5.7.9",
    "535": "5.7.8",
    "538": "5.7.11",
    "550": "5.7.1",
    "551": "5.1.6",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.0.0",
    "555": "5.5.4",
}
WITHOUT_CODES = frozenset({"", "HELO", "EHLO"})  # the greeting and the hello replies


def has_enhanced_code(line: bytes) -> bool:
    """True if the reply line carries an enhanced code after its three digits."""
    match = _REPLY.match(line)
    return bool(match and _ENHANCED.match(match.group(4)))


def enhance(line: bytes, command: str) -> bytes:
    """``line`` (a reply, no CRLF) with an enhanced code, if it should have one.

    ``command`` is the verb the reply answers (``"MAIL"``, ``"DATA"`` ...; ``""``
    before any, for the greeting). Lines that already carry a code, 3xx lines,
    the greeting and the hello replies are returned as they are.
    """
    command = command.upper()
    if command in WITHOUT_CODES:
        return line
    match = _REPLY.match(line)
    if match is None:
        return line
    first, rest, separator, text = match.groups()
    if _ENHANCED.match(text):
        return line
    code = (first + rest).decode("ascii")
    enhanced = _BY_COMMAND.get((command, code)) or _BY_CODE.get(code) or f"{code[0]}.0.0"
    separator = separator or b" "
    return b"%s%s%s%s" % (
        code.encode("ascii"),
        separator,
        enhanced.encode("ascii"),
        b" " + text if text else b"",
    )
