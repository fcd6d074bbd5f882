"""Libraries' loggers routed into an event log, so that no background thread prints.

aiosmtpd's ``mail.log`` and asyncio's logger have no handler of their own: a
warning from a server's thread would fall back to ``logging.lastResort`` and be
written to stderr, into whichever cell runs at that moment.
"""

from __future__ import annotations

import logging

from helpers.show.events import EventLog

__all__ = ["route_logger"]


class _EventLogHandler(logging.Handler):
    """Records a library's log messages as "log" events instead of printing them."""

    def __init__(self, event_log: EventLog, actor: str):
        super().__init__()
        self.event_log = event_log
        self.actor = actor

    def emit(self, record: logging.LogRecord) -> None:
        try:
            note = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                note = f"{note} ({type(error).__name__}: {error})"
            self.event_log.record("log", note=f"{record.levelname}: {note}", actor=self.actor)
        except Exception:  # a handler must never raise into the library that logs
            pass


def route_logger(
    logger_name: str,
    event_log: EventLog,
    level: int | None = None,
    actor: str = "server",
) -> logging.Handler:
    """Send a library's logger (``mail.log``, ``asyncio``, ...) into ``event_log``.

    Without this, a logger with no handler falls back to ``logging.lastResort``,
    which writes warnings and tracebacks to stderr from the library's thread,
    i.e. into a random cell. Routing replaces an earlier route of the same
    logger (re-running a cell must not duplicate events) and stops propagation
    to the root logger. Returns the handler, so a caller can remove it.
    """
    logger = logging.getLogger(logger_name)
    for handler in list(logger.handlers):
        if isinstance(handler, _EventLogHandler):
            logger.removeHandler(handler)
    handler = _EventLogHandler(event_log, actor)
    logger.addHandler(handler)
    logger.propagate = False
    if level is not None:
        logger.setLevel(level)
    return handler
