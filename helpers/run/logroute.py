"""A background thread's log records routed into an event log, so that it never prints.

aiosmtpd's ``mail.log`` and asyncio's logger have no handler of their own: a
warning from a server's thread would fall back to ``logging.lastResort`` and be
written to stderr, into whichever cell runs at that moment.

Those loggers are shared with the student's own code, though: the asyncio
lesson's errors must still reach the cell. So a route takes only the records
made in one thread (the service's), only while it is installed, and changes
nothing else about the logger::

    route = route_logger("asyncio", sink.events, thread=loop_thread)
    ...                      # the sink's asyncio records are events; others go on as before
    route.remove()           # on stop: the logger is exactly as it was

A route is a filter on the logger: it records the thread's records (at or
above ``level``) as "log" events and stops them there, so they reach no
handler; every other record passes on unchanged. A filter sees the records
logged on that logger itself, which is where asyncio and aiosmtpd log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from helpers.show.events import EventLog

__all__ = ["LogRoute", "route_logger"]


class LogRoute(logging.Filter):
    """One thread's records of one logger, turned into "log" events (see the module doc)."""

    def __init__(
        self,
        logger_name: str,
        event_log: EventLog,
        thread: threading.Thread,
        level: int = logging.WARNING,
        actor: str = "server",
        keep: Callable[[logging.LogRecord], bool] | None = None,
    ) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger_name)
        self.event_log = event_log
        self.thread = thread
        self.level = level
        self.actor = actor
        self.keep = keep  # False for a record of the thread not worth an event (noise)

    def filter(self, record: logging.LogRecord) -> bool:
        """False (stop here) for the thread's records, True (go on) for everyone else's."""
        ident = self.thread.ident  # None until the thread starts
        if ident is None or record.thread != ident:
            return True
        try:
            if record.levelno >= self.level and (self.keep is None or self.keep(record)):
                note = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    error = record.exc_info[1]
                    note = f"{note} ({type(error).__name__}: {error})"
                self.event_log.record("log", note=f"{record.levelname}: {note}", actor=self.actor)
        except Exception:  # a filter must never raise into the library that logs
            pass
        return False

    def remove(self) -> None:
        """Take the route away; the logger is as it was before. Safe to call twice."""
        self.logger.removeFilter(self)


def route_logger(
    logger_name: str,
    event_log: EventLog,
    level: int = logging.WARNING,
    actor: str = "server",
    *,
    thread: threading.Thread | None = None,
    keep: Callable[[logging.LogRecord], bool] | None = None,
) -> LogRoute:
    """Send ``thread``'s records of a logger (``mail.log``, ``asyncio``, ...) into ``event_log``.

    ``thread`` defaults to the calling thread; it may be given before it is
    started (its records are recognised once it runs). Records below
    ``level``, and those ``keep`` says no to, are dropped silently: from a
    background thread they would only print into a cell. The logger's level,
    handlers and propagation are left alone. Call ``remove()`` on the returned
    route when the thread's work ends.
    """
    route = LogRoute(
        logger_name, event_log, thread or threading.current_thread(), level, actor, keep
    )
    route.logger.addFilter(route)
    return route
