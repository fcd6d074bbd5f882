"""Starting, watching and ending a program's process: the parts that differ by platform.

* **One spawning thread.** Linux sends the parent-death signal when the
  *thread* that started a child ends, not the process, so every program is
  started from one thread that lives as long as the kernel (``Spawner``).
* **No fork-only tricks** (``spawn_plan``): POSIX gets a new session (its own
  process group: ``stop`` ends everything the program started, and the
  kernel's own Ctrl-C never reaches it) and the side channel as an inherited
  file descriptor; Windows gets a new process group (Ctrl-Break reaches it
  alone) and the channel as an inheritable handle listed in the start-up
  information. Every program's standard input is the read end of one pipe the
  kernel holds: the launcher's watchdog (``helpers.run.launcher``).
* **Output read at once** (``OutputCapture``): standard output and error share
  one pipe, as in a terminal, read by a thread as soon as anything arrives (a
  full pipe would block the program); at most ``OUTPUT_KEPT`` bytes of each
  end are kept. The same thread reads the side channel's lines.
* **Idle, judged by the system** (``threads_asleep``): on Linux every thread of
  the program asleep and nothing unread means it has printed all it will until
  something wakes it; elsewhere a quiet period stands in.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.run import launcher

OUTPUT_KEPT = 64 * 1024  # bytes kept from each end of a long output


class Spawner:
    """Starts every program from one thread that lives as long as the kernel.

    Linux sends the parent-death signal when the *thread* that started a child
    ends, not the process: a program started from a short-lived thread (a
    widget's callback, a test's worker) would be killed with that thread.
    """

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, make: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="helpers-program-spawner", daemon=True
                )
                self._thread.start()
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._requests.put((make, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value

    def _serve(self) -> None:
        while True:
            make, answer = self._requests.get()
            try:
                answer.put((True, make()))
            except BaseException as error:
                answer.put((False, error))


_spawner = Spawner()
_watch_read, _watch_write = -1, -1  # the pipe every program's stdin reads: its end = our end
_watch_lock = threading.Lock()


def _watch_pipe_read_end() -> int:
    """The read end of the kernel's watchdog pipe (made once; the write end stays open)."""
    global _watch_read, _watch_write
    with _watch_lock:
        if _watch_read < 0:
            _watch_read, _watch_write = os.pipe()
            os.set_inheritable(_watch_read, False)
            os.set_inheritable(_watch_write, False)
        return _watch_read


@dataclass(frozen=True)
class SpawnPlan:
    """How one platform starts a program: Popen options and the side channel's name."""

    popen: dict[str, Any]
    env: dict[str, str]
    child_end: int  # the side channel's end for the child (fd or handle)


def spawn_plan(platform: str, ready_write: int, parent_death: str = "signal") -> SpawnPlan:
    """Popen options for ``platform`` ("linux", "darwin", "win32"); no fork-only tricks.

    POSIX: a new session (its own process group, so ``stop`` ends everything it
    started, and the kernel's Ctrl-C never reaches it) and the channel passed as
    an inherited file descriptor. Windows: a new process group (so Ctrl-Break
    reaches it alone) and the channel passed as an inheritable handle listed in
    the start-up information. Both: Python unbuffered, UTF-8 output, the guard
    launcher first.
    """
    env = {
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        launcher.PARENT_PID: str(os.getpid()),
        launcher.PARENT_DEATH: parent_death,
    }
    popen: dict[str, Any]
    if platform == "win32":
        import msvcrt  # Windows only

        handle = msvcrt.get_osfhandle(ready_write)  # type: ignore[attr-defined]
        os.set_handle_inheritable(handle, True)  # type: ignore[attr-defined]
        startupinfo = subprocess.STARTUPINFO()  # type: ignore[attr-defined]
        startupinfo.lpAttributeList = {"handle_list": [handle]}
        env[launcher.READY_HANDLE] = str(handle)
        popen = {
            "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP,  # type: ignore[attr-defined]
            "startupinfo": startupinfo,
            "close_fds": True,
        }
        return SpawnPlan(popen, env, handle)
    env[launcher.READY_FD] = str(ready_write)
    popen = {"start_new_session": True, "pass_fds": (ready_write,), "close_fds": True}
    return SpawnPlan(popen, env, ready_write)


def spawn(
    path: Path, args: Sequence[str], parent_death: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``path`` through the launcher; the process and the channel's read end."""
    ready_read, ready_write = os.pipe()
    plan = spawn_plan(sys.platform, ready_write, parent_death)
    try:
        process = _spawner.run(
            lambda: subprocess.Popen(
                [sys.executable, "-u", "-m", "helpers.run.launcher", str(path), *args],
                stdin=_watch_pipe_read_end(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=str(path.parent),
                env={**os.environ, **plan.env},
                **plan.popen,
            )
        )
    except BaseException:
        os.close(ready_read)
        raise
    finally:
        os.close(ready_write)
    return process, ready_read


# -- a running program's output --------------------------------------------------------


class OutputCapture:
    """Reads a program's output pipe and its side channel in one thread.

    The pipe is read as soon as anything arrives (a full pipe would block the
    program). At most ``OUTPUT_KEPT`` bytes from each end are kept.
    """

    def __init__(self, output_fd: int, channel_fd: int, name: str) -> None:
        self.lock = threading.Lock()
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.last_output = time.monotonic()
        self.messages: list[str] = []
        self.changed = threading.Condition(self.lock)
        self.output_done = False
        self.channel_done = False
        self._output_fd = output_fd
        self._channel_fd = channel_fd
        self._partial = b""
        self.thread = threading.Thread(
            target=self._read, name=f"helpers-program-{name}", daemon=True
        )
        self.thread.start()

    def _read(self) -> None:
        open_fds = {self._output_fd, self._channel_fd}
        while open_fds:
            try:
                ready, _, _ = select.select(list(open_fds), [], [], 0.5)
            except (OSError, ValueError):
                break
            for fd in ready:
                with self.lock:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        data = b""
                    if fd == self._output_fd:
                        self._keep(data)
                        self.output_done = self.output_done or not data
                    else:
                        self._message(data)
                        self.channel_done = self.channel_done or not data
                    self.changed.notify_all()
                if not data:
                    open_fds.discard(fd)
        with self.lock:
            self.output_done = self.channel_done = True
            self.changed.notify_all()

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        self.last_output = time.monotonic()
        room = OUTPUT_KEPT - len(self.head)
        self.head += data[:room]
        rest = data[room:] if room > 0 else data
        if rest:
            self.tail += rest
            if len(self.tail) > OUTPUT_KEPT:
                cut = len(self.tail) - OUTPUT_KEPT
                self.dropped += cut
                del self.tail[:cut]

    def _message(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self.messages += [line.decode("ascii", "replace") for line in lines]

    def unread_bytes(self) -> int:
        """Bytes in the output pipe not yet read (0 where the platform cannot say)."""
        try:
            import fcntl
            import termios

            buffer = bytearray(4)
            fcntl.ioctl(self._output_fd, termios.FIONREAD, buffer)
            return int.from_bytes(buffer, sys.byteorder)
        except (ImportError, OSError, AttributeError):
            return 0

    def text(self) -> str:
        with self.lock:
            data = bytes(self.head)
            if self.dropped:
                data += f"\n[... {self.dropped} bytes of output not kept ...]\n".encode()
            data += bytes(self.tail)
        return data.decode("utf-8", "replace")

    def close(self) -> None:
        self.thread.join(2.0)
        try:
            os.close(self._channel_fd)  # the output pipe is the Popen object's to close
        except OSError:
            pass


def threads_asleep(pid: int) -> bool | None:
    """True if every thread of ``pid`` sleeps (waits for I/O or a timer); None if unknown."""
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():
        return None
    try:
        for task in tasks.iterdir():
            stat = (task / "stat").read_text(encoding="ascii", errors="replace")
            state = stat.rsplit(")", 1)[1].split()[0]
            if state != "S":
                return False
    except (OSError, IndexError):
        return None
    return True


def interrupt(process: subprocess.Popen[bytes]) -> None:
    """What Ctrl-C in a terminal does: SIGINT to the program's process group."""
    try:
        if sys.platform == "win32":
            process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            os.killpg(process.pid, signal.SIGINT)
    except OSError:
        pass


def kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
