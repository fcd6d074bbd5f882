"""Notebook 07's "Try it" widget: ask the course's name server, see the bytes both ways.

    from helpers.lessons.widgets_07 import lookup, lookup_widget
    query, reply = lookup("onego.ru", "MX")     # the hand-built query, the raw reply
    lookup_widget()

The query is built by ``helpers.wire.dnswire.build_query`` (the same bytes the
notebook builds with ``struct``) and sent with ``helpers.services.lookups.send_query`` to the
course's name server only. A name that is not ASCII (``почта.onego.ru``) is asked in
its IDNA form (``xn--80a1acny.onego.ru``), and the widget says so; one the ``idna``
codec cannot write is explained, not shown as a raw ``UnicodeError``. The views are
pure functions (bytes in, HTML out), so tests check them without a browser;
ipywidgets is imported inside ``lookup_widget`` because ``import helpers`` must stay
light.
"""

from __future__ import annotations

import html
import itertools
from typing import Any

from helpers.wire.dnswire import (
    DNSWireError,
    build_query,
    message_parts,
    parse_message,
    record_text,
    reverse_pointer,
)

TYPES = ("A", "AAAA", "MX", "PTR", "TXT")
BYTES_PER_ROW = 8  # narrow rows, so query and reply fit side by side
_COLOURS = {
    "header": "#cfe2ff",
    "question": "#d1e7dd",
    "answer": "#ffe5b4",
    "authority": "#e2d9f3",
    "additional": "#f8d7da",
}


class NotADNSName(ValueError):
    """A name that cannot go on the wire, with the reason in the lesson's words."""


def wire_name(name: str) -> str:
    """The name as DNS carries it: ASCII as it is, any other in IDNA ("xn--" labels).

    Labels on the wire are ASCII, so ``почта.onego.ru`` goes out as
    ``xn--80a1acny.onego.ru`` (Python's ``idna`` codec, as ``socket`` uses it).
    """
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError as error:
        reason = str(error.__cause__ or error)
        raise NotADNSName(
            f"{name!r} is not ASCII, so it must go on the wire in IDNA form (xn-- labels), "
            f"and Python's idna codec cannot write it: {reason}"
        ) from None


def idna_labels(name: str) -> list[tuple[str, str]]:
    """Each label that is not ASCII, with its IDNA form: [("почта", "xn--80a1acny")]."""
    return [
        (label, label.encode("idna").decode("ascii"))
        for label in name.strip().rstrip(".").split(".")
        if label and not label.isascii()
    ]


def question_name(name: str, rdtype: str) -> str:
    """The name the query asks: IDNA for a non-ASCII name; for PTR, an address typed in
    becomes its in-addr.arpa (or ip6.arpa) name."""
    name = name.strip()
    if rdtype == "PTR":
        try:
            return reverse_pointer(name)
        except ValueError:
            pass
    return wire_name(name)


def idna_html(name: str) -> str:
    """For a non-ASCII name, a line saying what went on the wire instead; else nothing."""
    name = name.strip()
    if name.isascii():
        return ""
    labels = ", ".join(
        f"{html.escape(label)} &rarr; <code>{html.escape(ace)}</code>"
        for label, ace in idna_labels(name)
    )
    return (
        f"<p><b>An international name.</b> DNS labels on the wire are ASCII, so "
        f"{html.escape(name)} was asked as <code>{html.escape(wire_name(name))}</code> "
        f'(IDNA: {labels}, as <code>label.encode("idna")</code> gives).</p>'
    )


def lookup(name: str, rdtype: str = "A", query_id: int = 0x0404) -> tuple[bytes, bytes]:
    """Build the query by hand, send it to the course's name server, return both as bytes."""
    from helpers.services.lookups import send_query

    query = build_query(question_name(name, rdtype), rdtype, query_id=query_id)
    return query, send_query(query)


def _owners(message: bytes) -> list[str]:
    """The part ("header", "question", ...) each byte belongs to, byte by byte."""
    try:
        parts = message_parts(message)
    except DNSWireError:
        parts = []
    owner = [""] * len(message)
    for part, start, end in parts:
        owner[start:end] = [part] * (end - start)
    return owner


def hex_html(message: bytes, title: str) -> str:
    """Rows of hex and ASCII, each byte coloured by the part of the message it is in."""
    owners = _owners(message)
    rows = []
    for row in range(0, len(message), BYTES_PER_ROW):
        chunk = message[row : row + BYTES_PER_ROW]
        cells, text = [], []
        for index, byte in enumerate(chunk, start=row):
            colour = _COLOURS.get(owners[index], "#ffffff")
            style = f'style="background:{colour};padding:0 2px"'
            cells.append(f'<span {style} title="{owners[index]}, byte {index}">{byte:02x}</span>')
            char = chr(byte) if 32 < byte < 127 else "."
            text.append(f"<span {style}>{html.escape(char)}</span>")
        rows.append(
            f'<span style="color:#6c757d">{row:04x}</span> '
            + " ".join(cells)
            + "   " * (BYTES_PER_ROW - len(chunk))
            + "  "
            + "".join(text)
        )
    return (
        f"<div><b>{html.escape(title)}</b> ({len(message)} bytes)"
        '<pre style="line-height:1.5;margin:4px 0">' + "\n".join(rows) + "</pre></div>"
    )


def answer_html(reply: bytes) -> str:
    """The reply read by the course's parser: status, flags and every record."""
    try:
        message = parse_message(reply)
    except DNSWireError as error:
        return f"<p><b>not a DNS message:</b> {html.escape(str(error))}</p>"
    header = message.header
    flags = " ".join(f for f in ("qr", "aa", "tc", "rd", "ra") if getattr(header, f))
    rows = [
        (part, r.name, r.type, r.ttl, record_text(r))
        for part, records in (
            ("answer", message.answers),
            ("authority", message.authority),
            ("additional", message.additional),
        )
        for r in records
    ]
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    table = (
        "<table><thead><tr><th>section</th><th>name</th><th>type</th><th>TTL</th>"
        f"<th>data</th></tr></thead><tbody>{cells}</tbody></table>"
        if rows
        else "<p>(no records)</p>"
    )
    return (
        f"<p><b>{html.escape(header.rcode_name)}</b>, id {header.id:#06x}, flags: {flags}; "
        f"{header.ancount} answer(s), {header.nscount} authority, {header.arcount} additional"
        f"</p>{table}"
    )


def legend_html() -> str:
    spans = " ".join(
        f'<span style="background:{colour};padding:0 4px">{part}</span>'
        for part, colour in _COLOURS.items()
    )
    return f"<div>{spans}</div>"


def exchange_html(query: bytes, reply: bytes) -> str:
    """Answer on top, then query and reply bytes side by side, coloured by part."""
    return (
        answer_html(reply)
        + legend_html()
        + '<div style="display:flex;gap:24px;flex-wrap:wrap">'
        + hex_html(query, "query")
        + hex_html(reply, "reply")
        + "</div>"
    )


def lookup_widget(name: str = "www.onego.ru", rdtype: str = "A") -> Any:
    """Type a name, pick a type, press Look up: the answer and both messages' bytes.

    Query ids count up from 1 so the stored notebook output is the same on every
    run; a real client picks them at random (a guessable id is easy to spoof).
    """
    import ipywidgets as widgets

    ids = itertools.count(1)
    # continuous_update=False: look up on Enter (or leaving the box), not on every key
    box = widgets.Text(
        value=name,
        description="Name:",
        continuous_update=False,
        layout=widgets.Layout(width="24em"),
    )
    kind = widgets.Dropdown(options=TYPES, value=rdtype, description="Type:")
    button = widgets.Button(description="Look up")
    view = widgets.HTML()

    def show(_: Any = None) -> None:
        try:
            query, reply = lookup(box.value, kind.value, query_id=next(ids) & 0xFFFF)
        except NotADNSName as error:
            view.value = f"<p><b>Not a name DNS can carry:</b> {html.escape(str(error))}</p>"
            return
        except (OSError, ValueError) as error:
            view.value = f"<p><b>{type(error).__name__}:</b> {html.escape(str(error))}</p>"
            return
        view.value = idna_html(box.value) + exchange_html(query, reply)

    show()
    button.on_click(show)
    box.observe(show, names="value")
    kind.observe(show, names="value")
    return widgets.VBox([widgets.HBox([box, kind, button]), view])
