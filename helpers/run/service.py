"""The one contract every background service of the course follows.

A lesson starts a server, a name server or a mail sink in a cell, re-runs the
cell, stops it, reads what it did. Whatever the service, that looks the same::

    server = helpers.serve("reverse", reverse_server)   # reverse server on 127.0.0.1:33333
    server.name, server.address, server.port            # what and where
    server.status_line                                  # the one line it printed
    server.events                                       # what it did (an EventLog)
    server.errors, server.raise_errors()                # what went wrong in its threads
    server.running                                      # True until stopped
    server.stop()                                       # idempotent; wakes blocked calls
    server                                              # its repr: the status line

What a subclass brings is only its own work: ``_open()`` binds (with the
fallback of ``helpers.run.listeners``) and starts serving; ``_close()`` wakes
everything blocked and frees the port. The rest is here, once:

* **one status line**, ``<name> <kind> on 127.0.0.1:<port>``, with
  ``(<asked> was busy)`` after a fallback: the same shape everywhere, so one
  sanitize rule covers every service;
* **replace by name**: starting a service stops the one registered under its
  name first (freeing its port), then registers itself
  (``helpers.run.registry``), so a re-run cell never meets "Address already in
  use" and never leaves a second copy running;
* **a quiet start** (``quiet=True``) for the course's own checks, which start
  services the student did not ask for: nothing is printed, at the start or
  at the stop (``self.quiet``);
* **errors recorded, never printed**: ``record_error`` keeps the exception and
  adds an "error" event; a cell raises them with ``raise_errors()``.
"""

from __future__ import annotations

import threading
from typing import Any

from helpers.run.listeners import status_line
from helpers.run.registry import forget, register_server, stop_server
from helpers.show.events import EventLog

__all__ = ["Service"]

STOP_WAIT = 5.0  # at most this long for a stop another thread is doing to finish


class Service:
    """A background service: name, address, status line, events, errors, stop.

    Subclasses set ``kind`` (the word after the name in the status line) and
    implement ``_open`` and ``_close``; ``restartable`` services (the mail sink,
    whose Maildir outlives a stop) may be started again after ``stop()``.
    """

    kind = "server"
    protocol = "tcp"  # what it listens with: "tcp", "udp" or "unix"
    restartable = False

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self.host = host
        self.asked_port = port
        self.port = port  # the asked port until started, then the one really bound
        self.busy_port: int | None = None  # the asked port, when another held it
        self.events = EventLog(f"{name} {self.kind}")
        self.errors: list[BaseException] = []
        self._state = "new"  # new -> running -> stopped (-> running, if restartable)
        self._state_lock = threading.Lock()
        self._stopped_fully = threading.Event()  # set once a stop has freed everything
        self._stopper: int | None = None  # the thread doing that stop
        self.quiet = False  # started quietly: prints nothing, not even at its stop

    # -- what every service shows ----------------------------------------------

    @property
    def address(self) -> Any:
        """``(host, port)``; an AF_UNIX server's socket path."""
        return (self.host, self.port)

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def status_line(self) -> str:
        return status_line(f"{self.name} {self.kind}", self.address, self.busy_port)

    def __repr__(self) -> str:
        return self.status_line + ("" if self.running else f" ({self._state})")

    def raise_errors(self) -> None:
        """Raise the first error the service met, with its traceback, if any."""
        if self.errors:
            raise self.errors[0]

    def record_error(self, error: BaseException, peer: Any = None) -> None:
        """Keep ``error`` for ``raise_errors`` and show it in the event log."""
        self.errors.append(error)
        self.events.record("error", peer, note=f"{type(error).__name__}: {error}")

    # -- the life cycle ------------------------------------------------------------

    def start(self, quiet: bool = False) -> Service:
        """Replace the service of the same name, bind, serve, print the status line.

        ``quiet=True`` prints nothing (for checks that start a service on their own).
        Returns the service, so ``server = Kind(...).start()`` reads naturally.
        """
        with self._state_lock:
            if self._state == "running":
                raise RuntimeError(f"the {self.name} {self.kind} is already running")
            if self._state == "stopped" and not self.restartable:
                raise RuntimeError(
                    f"the {self.name} {self.kind} was already stopped: start a new one"
                )
        stop_server(self.name)  # the previous one frees its port before this one binds
        self.port, self.busy_port = self.asked_port, None
        self.quiet = quiet
        with self._state_lock:
            previous, self._state = self._state, "running"
        try:
            self._open()
        except BaseException:
            with self._state_lock:
                self._state = previous
            raise
        register_server(self.name, self)
        if not self.running:  # its work ended at once (a server function that returned)
            forget(self.name, self)
        if not quiet:
            print(self.status_line)
        return self

    def stop(self) -> None:
        """Stop serving: every blocked call returns, the port is free. Safe to call twice."""
        previous = self._mark_stopped()
        if previous is None:
            # Stopped already, or being stopped by another thread (a server whose
            # function returned stops itself): return once that stop has freed
            # everything, so the caller may count on the port and files being gone.
            if threading.get_ident() != self._stopper:
                self._stopped_fully.wait(STOP_WAIT)
            return
        try:
            if previous == "running":
                self._close()
        finally:
            self._finish()

    def _mark_stopped(self) -> str | None:
        """Move to "stopped"; the state before, or None if it was stopped already."""
        with self._state_lock:
            if self._state == "stopped":
                return None
            previous, self._state = self._state, "stopped"
            self._stopper = threading.get_ident()
            self._stopped_fully.clear()
            return previous

    def _finish(self, note: str = "") -> None:
        """The last step of every stop: record it and leave the registry."""
        self.events.record("stop", note=note)
        forget(self.name, self)
        self._stopped_fully.set()

    # -- what a subclass brings -------------------------------------------------

    def _open(self) -> None:
        """Bind (setting ``port`` and ``busy_port``) and start serving in the background."""
        raise NotImplementedError

    def _close(self) -> None:
        """Wake every blocked call, end the service's threads, free the port."""
        raise NotImplementedError
