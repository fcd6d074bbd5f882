"""The first code a student's program runs: ``python -m helpers.run.launcher PROGRAM ARGS``.

``helpers.run.programs`` starts every program of a lesson through this module,
so that before the student's first line runs:

* **the guard is on** (``helpers.run.guard``), as in the notebook: a program
  cannot reach an address outside loopback either, and says why;
* **it dies with the kernel.** The program's standard input is a pipe the
  kernel holds and never writes to; a thread here waits for its end, which comes
  when the kernel exits or is killed, and then ends the program's whole process
  group. On Linux the kernel's death also sends SIGKILL at once (a parent-death
  signal, set here rather than in ``preexec_fn``, which is unsafe in a process
  with threads). The program itself reads no standard input (it gets
  ``os.devnull``);
* **readiness is reported on a side channel**, never by connecting to the
  program (a probe would appear in the program's own "received from" prints):
  ``socket.listen`` is wrapped to write ``listening HOST PORT`` to the channel
  after the real call, binding a datagram socket writes ``bound HOST PORT``, and
  a bind that finds its address in use writes ``in-use HOST PORT`` (so the
  kernel can fall back to a free port when another kernel won a race for it);
* **a start-up file runs first** when ``COURSE_PROGRAM_STARTUP`` names one,
  before the guard, in the order a kernel runs its own start-up files;
* **tracebacks show the student's lines only**: frames of the standard library
  or of this launcher are left out, so what the student reads is their own
  program, the same on every machine.

The channel is a file descriptor on POSIX (``COURSE_READY_FD``) and an
inheritable handle on Windows (``COURSE_READY_HANDLE``); each message is one
line of ASCII.
"""

from __future__ import annotations

import builtins
import errno
import os
import signal
import socket
import sys
import threading
import types
from collections.abc import Callable

# typing.TYPE_CHECKING without importing typing, a few ms of every program's start-up
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

READY_FD = "COURSE_READY_FD"
READY_HANDLE = "COURSE_READY_HANDLE"
PARENT_PID = "COURSE_PARENT_PID"
PARENT_DEATH = "COURSE_PARENT_DEATH"  # "signal" (Linux default) or "pipe": the watchdog only
STARTUP = "COURSE_PROGRAM_STARTUP"  # a file to run first, as IPython runs its start-up files
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def open_channel(environ: dict[str, str] | None = None) -> TextIO | None:
    """The side channel to the kernel, as a line-buffered text file (None if absent)."""
    environ = os.environ if environ is None else environ
    if READY_FD in environ:
        fd = int(environ[READY_FD])
    elif READY_HANDLE in environ:
        import msvcrt  # Windows only

        fd = msvcrt.open_osfhandle(int(environ[READY_HANDLE]), os.O_WRONLY)  # type: ignore[attr-defined]
    else:
        return None
    return os.fdopen(fd, "w", buffering=1, encoding="ascii")


def die_with_parent_signal() -> bool:
    """Linux: ask for SIGKILL when the kernel's spawning thread ends. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return False
    # The kernel may have died between our fork and the prctl: then nobody will
    # send the signal, and our parent is already someone else.
    expected = os.environ.get(PARENT_PID)
    if expected and os.getppid() != int(expected):
        os._exit(1)
    return True


def end_process_group() -> None:
    """End this program and anything it started (called when the kernel is gone)."""
    # Only a group of its own (``start_new_session``): a launcher run by hand
    # inside someone else's group must not end that group.
    if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
        try:
            os.killpg(os.getpid(), signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


def watch_parent(read_fd: int, on_gone: Callable[[], None] = end_process_group) -> threading.Thread:
    """Wait in a daemon thread for the end of the kernel's pipe, then call ``on_gone``.

    The kernel never writes to the pipe, so the read returns only when every
    copy of its write end is closed: the kernel exited, or was killed.
    """

    def wait() -> None:
        try:
            while os.read(read_fd, 1024):
                pass
        except OSError:
            pass
        on_gone()

    thread = threading.Thread(target=wait, name="course-watchdog", daemon=True)
    thread.start()
    return thread


def take_stdin_for_watchdog() -> int:
    """Move the kernel's pipe off fd 0, and give the program ``os.devnull`` as its stdin."""
    pipe_fd = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the program
    return pipe_fd


def report_readiness(channel: TextIO) -> None:
    """Wrap ``listen`` and datagram ``bind`` so each reports its address on ``channel``."""
    lock = threading.Lock()
    original_listen = socket.socket.listen
    original_bind = socket.socket.bind

    def say(kind: str, host: Any, port: Any) -> None:
        with lock:
            try:
                channel.write(f"{kind} {host} {port}\n")
            except (OSError, ValueError):
                pass  # the kernel stopped listening: nothing to tell

    def tell(kind: str, sock: socket.socket) -> None:
        try:
            address = sock.getsockname()
        except OSError:
            return
        say(kind, *((address[0], address[1]) if isinstance(address, tuple) else (address, 0)))

    def listen(self: socket.socket, *args: Any) -> None:
        original_listen(self, *args)
        tell("listening", self)

    def bind(self: socket.socket, address: Any) -> None:
        try:
            original_bind(self, address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE and isinstance(address, tuple):
                say("in-use", address[0], address[1])
            raise
        if self.type == socket.SOCK_DGRAM:
            tell("bound", self)

    listen.__doc__ = original_listen.__doc__
    bind.__doc__ = original_bind.__doc__
    socket.socket.listen = listen  # type: ignore[method-assign]
    socket.socket.bind = bind  # type: ignore[method-assign]


def print_traceback(error: BaseException, filename: str, stream: TextIO) -> None:
    """Python's own traceback, with only the frames of the student's file."""
    import traceback  # here, not at the top: most programs never need it

    shown = traceback.TracebackException.from_exception(error)
    seen: set[int] = set()
    pending = [shown]
    while pending:
        part = pending.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        part.stack = traceback.StackSummary.from_list(
            [frame for frame in part.stack if frame.filename == filename]
        )
        pending += [p for p in (part.__cause__, part.__context__) if p is not None]
    stream.write("".join(shown.format()))
    stream.flush()


def run_startup_file(path: str) -> None:
    """Run ``path`` (if given) before the guard, as a kernel runs its start-up files.

    Whoever runs the notebooks can so give a program the same process set-up
    as the kernel that started it (an audit hook of their own, say).
    """
    if path:
        with open(path, encoding="utf-8") as file:
            exec(compile(file.read(), path, "exec"), {"__name__": "__startup__"})


def run(path: str, args: list[str]) -> int:
    """Run the program at ``path`` as ``__main__`` with ``sys.argv = [name, *args]``."""
    folder, filename = os.path.split(os.path.abspath(path))
    with open(path, "rb") as file:
        source = file.read()
    os.chdir(folder)  # so tracebacks find the source lines by the short name
    sys.argv = [filename, *args]
    sys.path[0] = folder
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    try:
        exec(compile(source, filename, "exec"), main.__dict__)
    except SystemExit:
        raise
    except KeyboardInterrupt as error:
        print_traceback(error, filename, sys.stderr)
        return 130  # what a shell reports for a program ended by Ctrl-C
    except BaseException as error:
        print_traceback(error, filename, sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -m helpers.run.launcher PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    if os.environ.get(PARENT_DEATH, "signal") == "signal":
        die_with_parent_signal()
    watch_parent(take_stdin_for_watchdog())
    run_startup_file(os.environ.get(STARTUP, ""))

    from helpers.run.guard import enable_guard

    enable_guard()
    channel = open_channel()
    if channel is not None:
        report_readiness(channel)
        channel.write("started\n")
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
