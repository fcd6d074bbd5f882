"""What the mail exercises of notebooks 08 and 09 share: the checks' own mail sink.

The checks use a sink of their own (``checker-mail``, started on a free port
without a status line on first use), so the lesson's sink and mailbox stay as
they were. A case names the sink's port as ``PORT``, replaced by the real port
when the check calls the student's function.
"""

from __future__ import annotations

from typing import Any

from helpers.lessons.checks import Case
from helpers.services.mailsink import MailSink

__all__ = ["CHECKER", "FROM", "PORT", "TO", "checker_sink", "received", "with_port"]

CHECKER = "checker-mail"
FROM = "student@mail.ru"
TO = "rnd@onego.ru"
_sinks: dict[str, MailSink] = {}


def checker_sink() -> MailSink:
    """The checks' own sink: started quietly on first use, restarted if it was stopped."""
    sink = _sinks.get(CHECKER)
    if sink is None or not sink.running:
        sink = MailSink(CHECKER).start(quiet=True)
        _sinks[CHECKER] = sink
    return sink


class _Port:
    """Stands for the checker sink's port in a case, shown as ``port`` in reports."""

    def __repr__(self) -> str:
        return "port"


PORT = _Port()


def with_port(case: Case, port: int) -> tuple[Any, ...]:
    """The case's arguments, with ``PORT`` replaced by ``port``."""
    return tuple(port if arg is PORT else arg for arg in case.args)


def received(sink: MailSink) -> Any:
    """The one letter the sink received within half a second, or None."""
    try:
        return sink.wait_for(1, timeout=0.5)[0]
    except TimeoutError:
        return None
