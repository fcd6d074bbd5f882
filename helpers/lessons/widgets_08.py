"""Notebook 08's "Try it" widgets: a mailbox viewer and a compose form, both on a MailSink.

    mailbox_viewer(sink)  # messages; headers, body, raw source, transcript
    compose_widget(sink)  # from, to, subject, body, charset -> Send

The views are pure functions (a ``ReceivedMail`` in, HTML out) and sending is
``send_composed`` (fields in, a one-line outcome out), so tests check them
without a browser. ipywidgets is imported inside the widget functions because
``import helpers`` must stay light. Neither widget shows times or client ports,
so what the notebook stores is the same on every run.
"""

from __future__ import annotations

import html
import smtplib
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from helpers.services.mailstore import ReceivedMail

CHARSETS = ("utf-8", "windows-1251", "koi8-r", "us-ascii")
TABS = ("Headers", "Body", "Raw source", "Transcript")
HELLO = "student.local"
_PRE = '<pre style="white-space:pre-wrap;margin:4px 0">{}</pre>'


def message_label(number: int, mail: ReceivedMail) -> str:
    """One line per message for the list: number, sender, recipients, subject, size."""
    subject = mail.subject or "(no subject)"
    recipients = ", ".join(mail.rcpt_tos)
    return f"{number}: {mail.mail_from} -> {recipients}: {subject} ({len(mail.raw)} bytes)"


def headers_html(mail: ReceivedMail) -> str:
    """The envelope, the trace headers the sink added, then every header of the message."""
    envelope = [
        ("MAIL FROM", mail.mail_from),
        ("RCPT TO", ", ".join(mail.rcpt_tos)),
        ("TLS", "yes" if mail.tls else "no"),
        ("AUTH", mail.login or "-"),
    ]
    rows = [(f"<i>{html.escape(k)}</i>", html.escape(v)) for k, v in envelope]
    trace = [line.partition(":") for line in mail.trace.split("\n") if ":" in line]
    rows += [(f"<u>{html.escape(k)}</u>", html.escape(v.strip())) for k, _, v in trace]
    rows += [(html.escape(k), html.escape(str(v))) for k, v in mail.message.items()]
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:12px;vertical-align:top">{k}</th>'
        f'<td style="text-align:left">{v}</td></tr>'
        for k, v in rows
    )
    return (
        f"<table>{cells}</table><p><i>italic</i>: the envelope, not part of the message; "
        "<u>underlined</u>: trace headers the sink added on delivery</p>"
    )


def body_html(mail: ReceivedMail) -> str:
    """The text a reader sees, decoded with the charset the message declares."""
    part = mail.message.get_body(preferencelist=("plain", "html"))
    charset = part.get_content_charset() if part is not None else None
    attachments = [a.get_filename() or "(no name)" for a in mail.message.iter_attachments()]
    note = f"decoded from {charset}" if charset else "no charset declared"
    if attachments:
        note += "; attached: " + ", ".join(attachments)
    return f"<p>{html.escape(note)}</p>" + _PRE.format(html.escape(mail.body))


def raw_html(mail: ReceivedMail) -> str:
    """The bytes as they arrived; bytes outside ASCII shown as escapes (\\xcf)."""
    text = mail.raw.decode("ascii", "backslashreplace").replace("\r\n", "\n")
    return f"<p>{len(mail.raw)} bytes, line ends CRLF</p>" + _PRE.format(html.escape(text))


def transcript_html(mail: ReceivedMail) -> str:
    """The SMTP session that delivered the message, as the server saw it."""
    return _PRE.format(html.escape(mail.transcript))


def mail_views(mail: ReceivedMail) -> dict[str, str]:
    """The four tabs of the viewer for one message, as HTML."""
    views = (headers_html, body_html, raw_html, transcript_html)
    return {tab: view(mail) for tab, view in zip(TABS, views, strict=True)}


def mailbox_viewer(sink: Any) -> Any:
    """A list of the sink's messages and, for the one picked, four tabs of detail.

    Press Refresh after sending more mail: the list is read from the mailbox
    then (a widget must not be changed from the sink's own thread).
    """
    import ipywidgets as widgets

    picker = widgets.Select(rows=6, layout=widgets.Layout(width="100%"))
    tabs = widgets.Tab(children=[widgets.HTML() for _ in TABS])
    for index, title in enumerate(TABS):
        tabs.set_title(index, title)
    refresh = widgets.Button(description="Refresh")
    status = widgets.HTML()
    mails: list[ReceivedMail] = []

    def show(_: Any = None) -> None:
        if picker.index is None or not mails:
            for child in tabs.children:
                child.value = "<p>(no message picked)</p>"
            return
        for child, value in zip(
            tabs.children, mail_views(mails[picker.index]).values(), strict=True
        ):
            child.value = value

    def reload(_: Any = None) -> None:
        mails[:] = sink.messages
        status.value = f"<p>{len(mails)} message(s) in the {html.escape(sink.name)} sink</p>"
        picker.options = [message_label(n, m) for n, m in enumerate(mails)]
        picker.index = len(mails) - 1 if mails else None
        show()

    reload()
    picker.observe(show, names="index")
    refresh.on_click(reload)
    return widgets.VBox([widgets.HBox([refresh, status]), picker, tabs])


def send_composed(port: int, sender: str, to: str, subject: str, body: str, charset: str) -> str:
    """Build the letter with EmailMessage and send it to 127.0.0.1:port; say what happened.

    Every outcome is a line of text, never an exception: a refused recipient,
    a body the charset cannot encode, a sink that is not running.
    """
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body, charset=charset)
    except (ValueError, LookupError, UnicodeError, IndexError) as error:
        return f"not sent, the letter cannot be built: {type(error).__name__}: {error}"
    recipients = [address for _, address in getaddresses([to]) if address]
    if not recipients:
        return "not sent: no recipient address in To"
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            refused = client.send_message(message)
    except ConnectionRefusedError:
        return (
            f"not sent: nothing listens on port {port}; the sink is stopped "
            "(run the cell that starts it again)"
        )
    except (smtplib.SMTPException, OSError) as error:
        return f"not sent: {type(error).__name__}: {error}"
    accepted = [r for r in recipients if r not in refused]
    outcome = f"sent to {', '.join(accepted)}"
    if refused:
        outcome += "; refused: " + ", ".join(f"{r} ({code})" for r, (code, _) in refused.items())
    return outcome


def compose_widget(sink: Any) -> Any:
    """From, To, Subject, body and charset; Send builds the letter and sends it to the sink."""
    import ipywidgets as widgets

    wide = widgets.Layout(width="36em")
    sender = widgets.Text(
        value=str(Address("Student", addr_spec="student@mail.ru")), description="From:", layout=wide
    )
    to = widgets.Text(
        value=str(Address("Lecturer", addr_spec="rnd@onego.ru")), description="To:", layout=wide
    )
    subject = widgets.Text(value="Привет из курса", description="Subject:", layout=wide)
    body = widgets.Textarea(
        value="Здравствуйте! Я изучаю Python.",
        description="Body:",
        layout=widgets.Layout(width="36em", height="6em"),
    )
    charset = widgets.Dropdown(options=CHARSETS, value="utf-8", description="Charset:")
    send = widgets.Button(description="Send", button_style="primary")
    outcome = widgets.HTML()

    def on_send(_: Any = None) -> None:
        result = send_composed(
            sink.port, sender.value, to.value, subject.value, body.value, charset.value
        )
        outcome.value = f"<p>{html.escape(result)}</p>"

    send.on_click(on_send)
    return widgets.VBox([sender, to, subject, body, widgets.HBox([charset, send]), outcome])
