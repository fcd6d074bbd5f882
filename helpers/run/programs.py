"""The student's programs, run as real programs: saved to a file, started, shown, stopped.

The chapter's server and client are two programs, each with its own ``print``s.
A lesson keeps them whole in a cell and runs them as separate processes::

    %reload_ext helpers                     # the %%program cell magic

    %%program reverse_server.py             # the cell holds the whole program
    import socket, sys
    ...

    server = helpers.start_program("reverse_server.py")  # reverse_server program on 127.0.0.1:33333
    helpers.run_program("reverse_client.py", server.port)  # runs to the end; shows its output
    server.output()                         # what the server printed so far
    server.stop()                           # as Ctrl-C would: the port is free again

Why each part is as it is:

* **Saved per kernel.** ``%%program`` (or ``save_program``) writes into a folder
  of this kernel's own (``programs/kernel-<pid>/`` beside the notebooks), so
  two kernels running the same notebook never overwrite each other's file. The
  path is never printed: it differs from kernel to kernel. The folder is
  removed when the kernel exits; nothing else is ever deleted.
* **Started through ``helpers.run.launcher``**, which switches the guard on in
  the program, makes it die with the kernel (even a killed one), and reports
  on a side channel when the program calls ``listen()``: readiness never comes
  from connecting to the program, which would show in its own prints.
* **A port for every kernel.** A server program takes its port as its first
  argument. ``start_program`` passes the asked one (the chapter's 33333) when it
  is free and a free one otherwise, and prints the status line every course
  server prints, fallback included.
* **One service contract** (``helpers.run.service``): a name, the status line,
  events, ``stop()``; running the cell again replaces the program of the same
  name, so an edited program is the one that answers.
* **Output captured, shown on demand.** Standard output and error go into one
  pipe, as in a terminal (the program runs unbuffered, so the order is kept).
  ``output()`` first waits until the program is idle (every thread asleep and
  nothing unread) or has exited, so a cell shows the same lines every time.
* **Never a hang.** A program that does not open its port within
  ``READY_WAIT`` seconds of starting, or exits first, is reported with its own
  output; a client program that does not finish in time is interrupted.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helpers.run.listeners import claim_port
from helpers.run.processes import (
    OutputCapture,
    free_port,
    interrupt,
    kill_group,
    spawn,
    threads_asleep,
)
from helpers.run.program_files import program_path
from helpers.run.service import Service

__all__ = ["ProgramFailed", "run_program", "start_program"]

CHAPTER_PORT = 33333
START_WAIT = 30.0  # for the interpreter to start (generous: a busy class hub is slow)
READY_WAIT = 2.0  # then for the program to call listen()
STOP_WAIT = 1.0  # after Ctrl-C, before the program is killed
CLIENT_TIMEOUT = 10.0  # a client program's default time to finish
IDLE_WAIT = 5.0  # output() waits at most this long for the program to fall idle
QUIET_PERIOD = 0.3  # where threads cannot be inspected: idle = no output for this long
IDLE_CHECKS, IDLE_INTERVAL = 3, 0.005  # idle this many checks in a row, this far apart


class _PortTaken(Exception):
    """The program's bind found the asked port taken after all (raced by another kernel)."""


class ProgramFailed(RuntimeError):
    """A program that exited, or never opened its port; the message holds its output."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(f"{message}\n{output}".rstrip())
        self.output = output


@dataclass(frozen=True)
class ProgramOutput:
    """What a program printed (stdout and stderr as one stream) and how it ended.

    Its repr is the text itself, so a cell that ends with ``server.output()``
    shows the lines as a terminal would.
    """

    program: str
    text: str
    returncode: int | None
    note: str = ""

    def __str__(self) -> str:
        return repr(self)

    def __repr__(self) -> str:
        ending = f"[{self.program} {self.note}]" if self.note else ""
        if not self.text:
            return ending or f"[{self.program} has printed nothing yet]"
        return self.text.rstrip("\n") + (f"\n{ending}" if ending else "")


# -- the program as a service -------------------------------------------------------


class Program(Service):
    """A student's program running as its own process, on the service contract."""

    kind = "program"

    def __init__(
        self,
        filename: str,
        args: Sequence[str] = (),
        port: int | None = CHAPTER_PORT,
        name: str | None = None,
        fallback: bool = True,
        parent_death: str = "signal",
    ) -> None:
        super().__init__(name or filename.removesuffix(".py"), "127.0.0.1", port or 0)
        self.filename = filename
        self.path = program_path(filename)
        self.args = [str(a) for a in args]
        self.takes_port = port is not None
        self.fallback = fallback
        self.parent_death = parent_death
        self.process: subprocess.Popen[bytes] | None = None
        self.given_port: int | None = None
        self._capture: OutputCapture | None = None

    @property
    def running(self) -> bool:
        return super().running and self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # -- start ----------------------------------------------------------------------

    def _open(self) -> None:
        if not self.path.exists():
            raise FileNotFoundError(
                f"no program {self.filename} in this kernel yet: run its %%program cell first"
            )
        if self.takes_port:
            self.port, self.busy_port = self._choose_port()
        try:
            self._launch()
        except _PortTaken:
            # Another kernel bound the port between our look and the program's bind
            # (a class starting the same notebook at once): fall back, as for a busy port.
            self.port, self.busy_port = free_port(), self.asked_port
            self._launch()

    def _launch(self) -> None:
        self.given_port = self.port  # what the program was told; ``port`` is what it bound
        args = [str(self.port), *self.args] if self.takes_port else list(self.args)
        self.process, channel = spawn(self.path, args, self.parent_death)
        self._capture = OutputCapture(self.process.stdout.fileno(), channel, self.name)  # type: ignore[union-attr]
        self.events.record("start", note=f"{self.filename} {' '.join(args)}".strip())
        try:
            self._wait_until_ready()
        except BaseException:
            self._end_process()
            raise

    def _choose_port(self) -> tuple[int, int | None]:
        """The asked port if nobody holds it (or if told not to fall back), else a free one."""
        if not self.fallback or self.asked_port == 0:
            return (self.asked_port or free_port()), None
        probe = socket.socket()
        try:
            claim_port(probe, reuse_address=False)
            probe.bind(("127.0.0.1", self.asked_port))
            return self.asked_port, None
        except OSError:
            return free_port(), self.asked_port
        finally:
            probe.close()

    def _wait_until_ready(self) -> None:
        """Until the program listens (or binds a datagram socket), exits, or takes too long."""
        capture = self._capture
        assert capture is not None and self.process is not None
        started_by: float | None = None
        with capture.lock:
            deadline = time.monotonic() + START_WAIT
            while True:
                for message in capture.messages:
                    if message == "started" and started_by is None:
                        started_by = time.monotonic() + READY_WAIT
                        deadline = started_by
                    kind, _, rest = message.partition(" ")
                    if kind in ("listening", "bound"):
                        self._now_listening(rest)
                        return
                    if kind == "in-use" and self._may_fall_back(rest):
                        raise _PortTaken
                if capture.channel_done:  # the program exited before it listened
                    break
                if time.monotonic() >= deadline:
                    break
                capture.changed.wait(0.05)
        code = self.process.poll()
        if code is None and not capture.channel_done:
            self._end_process()
            raise ProgramFailed(
                f"{self.filename} did not open its port within {READY_WAIT:g} s "
                "(does it call listen()?); its output:",
                self._final_text(),
            )
        self.process.wait(STOP_WAIT)
        raise ProgramFailed(
            f"{self.filename} exited with code {self.process.returncode} before it opened "
            "its port; its output:",
            self._final_text(),
        )

    def _may_fall_back(self, address: str) -> bool:
        """True if ``address`` is the asked port, chosen as free a moment ago (first try)."""
        chosen = address.rpartition(" ")[2]
        return (
            self.fallback
            and self.takes_port
            and self.busy_port is None
            and self.asked_port != 0
            and chosen == str(self.asked_port)
        )

    def _now_listening(self, rest: str) -> None:
        host, _, port = rest.rpartition(" ")
        if port.isdigit() and int(port):
            self.port = int(port)
            if host:
                self.host = host
        self.events.record("listen", (self.host, self.port))

    def _final_text(self) -> str:
        if self._capture is not None:
            self._capture.thread.join(STOP_WAIT)
            return self._capture.text()
        return ""

    # -- what it printed --------------------------------------------------------------

    def output(self, last: int | None = None, wait: float = IDLE_WAIT) -> ProgramOutput:
        """What the program printed (its ``last`` lines only, if given).

        Waits first, at most ``wait`` seconds, until the program is idle or has
        exited, so that a cell run right after a client shows the server's
        answer to it, the same lines every time.
        """
        if self._capture is None or self.process is None:
            return ProgramOutput(self.name, "", None, "has not started")
        self._wait_idle(wait)
        code = self.process.poll()
        if code is not None:
            self._capture.thread.join(STOP_WAIT)
        text = self._capture.text()
        if last is not None:
            text = "".join(text.splitlines(keepends=True)[-last:]) if last > 0 else ""
        return ProgramOutput(self.name, text, code, self._ending(code))

    def _ending(self, code: int | None) -> str:
        if code is None:
            return ""
        if self._state == "stopped" and self._stopped_by_us:
            return "was stopped"
        return f"exited with code {code}"

    _stopped_by_us = False

    def _wait_idle(self, wait: float) -> None:
        assert self._capture is not None and self.process is not None
        wait_idle(self.process, self._capture, wait)

    # -- stop -----------------------------------------------------------------------------

    def _close(self) -> None:
        # Let it finish what it is doing first (a print, a reply): the Ctrl-C then
        # finds it waiting, and its traceback shows the same line every time.
        if self._capture is not None and self.process is not None:
            self._wait_idle(STOP_WAIT)
        self._stopped_by_us = True
        self._end_process()

    def _end_process(self) -> None:
        """Ctrl-C first (the program's own traceback shows where it was), then kill."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            _ctrl_c_then_kill(process)
        code = process.returncode
        if self._capture is not None:
            self._capture.close()
        if process.stdout is not None:
            process.stdout.close()
        self.events.record("exit", note=f"code {code}")


def _ctrl_c_then_kill(process: subprocess.Popen[bytes]) -> None:
    """What Ctrl-C does in a terminal; a program that outlives it by ``STOP_WAIT`` is killed."""
    interrupt(process)
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.wait()


def wait_idle(process: subprocess.Popen[bytes], capture: OutputCapture, wait: float) -> None:
    """Until the program has exited, or is idle ``IDLE_CHECKS`` checks in a row.

    Idle: every thread asleep (where the system shows threads) or no output for
    ``QUIET_PERIOD`` (elsewhere), and nothing unread in the output pipe.
    """
    deadline = time.monotonic() + wait
    calm = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            capture.thread.join(max(0.0, deadline - time.monotonic()))
            return
        asleep = threads_asleep(process.pid)
        with capture.lock:
            unread = capture.unread_bytes()
            quiet_for = time.monotonic() - capture.last_output
        idle = (asleep if asleep is not None else quiet_for >= QUIET_PERIOD) and not unread
        calm = calm + 1 if idle else 0
        if calm >= IDLE_CHECKS:
            return
        time.sleep(IDLE_INTERVAL)


def wait_started(process: subprocess.Popen[bytes], capture: OutputCapture) -> None:
    """Until the launcher says the student's program begins (or the process ends).

    Time limits count from there: starting Python itself can take seconds on a
    busy machine, and that is not the program's time.
    """
    deadline = time.monotonic() + START_WAIT
    with capture.lock:
        while "started" not in capture.messages and not capture.channel_done:
            if time.monotonic() >= deadline or process.poll() is not None:
                return
            capture.changed.wait(0.05)


# -- the two calls a lesson makes ---------------------------------------------------------


def start_program(
    filename: str,
    *args: Any,
    port: int = CHAPTER_PORT,
    name: str | None = None,
    fallback: bool = True,
    quiet: bool = False,
) -> Program:
    """Start the saved server program ``filename`` with its port as the first argument.

    Replaces the program of the same ``name`` (the file's name without .py), so
    re-running the cell runs the edited program. Returns once the program has
    called ``listen()``; raises ``ProgramFailed``, with the program's output, if
    it exits first or does not listen within ``READY_WAIT`` seconds of starting.
    ``fallback=False`` passes ``port`` even if it is busy (to meet "Address
    already in use" on purpose).
    """
    program = Program(filename, args, port=port, name=name, fallback=fallback)
    program.start(quiet=quiet)
    return program


def run_program(filename: str, *args: Any, timeout: float = CLIENT_TIMEOUT) -> ProgramOutput:
    """Run the saved program ``filename`` with ``args`` to its end and return its output.

    A program still running ``timeout`` seconds after it began (Python's own
    start-up not counted) is interrupted, as Ctrl-C would, once it waits for
    something, so its traceback shows where it was waiting.
    """
    path = program_path(filename)
    if not path.exists():
        raise FileNotFoundError(
            f"no program {filename} in this kernel yet: run its %%program cell first"
        )
    process, channel = spawn(path, [str(a) for a in args], "signal")
    capture = OutputCapture(process.stdout.fileno(), channel, filename)  # type: ignore[union-attr]
    note = ""
    try:
        wait_started(process, capture)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        note = f"was interrupted after {timeout:g} s: it had not finished"
        wait_idle(process, capture, IDLE_WAIT)  # so that Ctrl-C finds it waiting
        _ctrl_c_then_kill(process)
    finally:
        if process.poll() is None:  # the cell itself was interrupted
            kill_group(process)
            process.wait()
        capture.close()
        process.stdout.close()  # type: ignore[union-attr]
    code = process.returncode
    name = filename.removesuffix(".py")
    if not note and code:
        note = f"exited with code {code}"
    return ProgramOutput(name, capture.text(), code, note)
