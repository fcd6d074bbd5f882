"""Whether a process has really ended, as the tests of programs and their kernels ask it.

pytest puts tests/ on sys.path, so ``from process_checking import process_gone`` works
from any test module.
"""

from __future__ import annotations

import time
from pathlib import Path


def _thread_states(pid: int) -> list[str] | None:
    """The state letter of each thread of ``pid`` (None when no such process is left)."""
    states = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return None
    for task in tasks:
        try:
            stat = (task / "stat").read_text(encoding="ascii", errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue  # that thread ended while we looked
        states.append(stat.rsplit(")", 1)[1].split()[0])
    return states


def process_gone(pid: int, within: float = 10.0) -> bool:
    """True once process ``pid`` and every thread of it have ended (a zombie counts as gone).

    The first thread alone is not enough: when a program with a second thread is
    killed, the first thread can already show as a zombie while the second is still
    closing the files they share, the program's listening socket among them.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = _thread_states(pid)
        if states is None or all(state in "ZX" for state in states):
            return True
        time.sleep(0.05)
    return False
