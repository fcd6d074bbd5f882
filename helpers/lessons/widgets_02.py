"""Notebook 02's "Try it" widget: type text, send it to the running reverse server.

    from helpers.lessons.widgets_02 import reply_html
    "МОРДНИЛАП" in reply_html("ПАЛИНДРОМ", "МОРДНИЛАП")
    # -> True

Each press of "Send" is one real exchange with the server the notebook started
(``helpers.ask_reverse``); the reply is shown with both byte counts, and the
server's event log below grows by what the server recorded. The views are
pure functions (text in, HTML out) so tests check them without a browser;
ipywidgets is imported inside ``reverse_widget`` because ``import helpers``
must stay light.
"""

from __future__ import annotations

import html
from typing import Any

from helpers.run.reverse_client import ask_reverse
from helpers.show.events import EventLog
from helpers.show.tables import Table

__all__ = ["error_html", "events_html", "output_html", "reply_html", "reverse_widget"]

LOG_ROWS = 12  # the newest events shown; the whole log stays in server.events


def reply_html(sent: str, reply: str) -> str:
    """The text sent and the reply, with their sizes in characters and UTF-8 bytes."""

    def row(label: str, text: str) -> str:
        size = f"{len(text)} characters, {len(text.encode('utf-8', 'surrogatepass'))} bytes"
        return (
            f"<tr><td><b>{label}</b></td><td><code>{html.escape(text)}</code></td>"
            f'<td style="color:#666">{size}</td></tr>'
        )

    return f"<table>{row('sent', sent)}{row('reply', reply)}</table>"


def error_html(error: BaseException) -> str:
    return (
        f'<p style="color:#c62828"><b>{html.escape(type(error).__name__)}</b>: '
        f"{html.escape(str(error))} (is the server cell above still running?)</p>"
    )


def events_html(log: EventLog, rows: int = LOG_ROWS) -> str:
    """The newest ``rows`` events of ``log`` as an HTML table, with the total count."""
    table = log.table()
    newest = Table(table.columns, table.rows[-rows:], table.caption)
    note = (
        f"<p style='color:#666'>last {len(newest)} of {len(table)} events "
        f"in the {html.escape(log.name)} log</p>"
    )
    return note + newest._repr_html_()


def output_html(server: Any, lines: int = LOG_ROWS) -> str:
    """The last ``lines`` a server program printed, as a terminal shows them."""
    shown = server.output(last=lines)
    return (
        f"<p style='color:#666'>the last lines {html.escape(server.name)} printed</p>"
        f"<pre>{html.escape(repr(shown))}</pre>"
    )


def reverse_widget(server: Any, text: str = "ПАЛИНДРОМ") -> Any:
    """Text box, Send button, the reply, and what the server printed (or its event log).

    A server program (``helpers.start_program``) shows its own prints; a server
    run in the kernel (``helpers.serve``) shows its event log.
    """
    import ipywidgets as widgets

    box = widgets.Text(value=text, description="Message:")
    send = widgets.Button(description="Send", button_style="primary")
    reply = widgets.HTML(value="")
    log = widgets.HTML(value="<i>Press Send: what the server did appears here.</i>")

    def on_send(_button: Any) -> None:
        try:
            reply.value = reply_html(box.value, ask_reverse(server.address, box.value))
        except OSError as error:
            reply.value = error_html(error)
        log.value = output_html(server) if hasattr(server, "output") else events_html(server.events)

    send.on_click(on_send)
    return widgets.VBox([widgets.HBox([box, send]), reply, log])
