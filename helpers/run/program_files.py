"""Where a kernel keeps the programs its student wrote: one folder per kernel.

``%%program NAME.py`` (or ``save_program``) writes the cell into
``programs/kernel-<pid>/`` beside the notebooks, so two kernels running the same
notebook (a class on one hub, the course's own tests) never overwrite each
other's file. The path is never printed, since it differs from kernel to kernel,
and the line that is printed is always the same (unlike ``%%writefile``, which
says "Writing" the first time and "Overwriting" after). The folder is removed
when the kernel exits, and folders of kernels that were killed are removed by
the next kernel; only folders carrying this module's marker file are removed,
so nothing the course did not write is deleted.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import threading
from pathlib import Path

MARKER = ".course-programs"  # marks a folder this module made (and may remove)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.py$")


_folder: Path | None = None
_folder_lock = threading.Lock()


def programs_base() -> Path:
    """``programs/`` beside the notebooks (``COURSE_PROGRAMS_DIR`` overrides it)."""
    if os.environ.get("COURSE_PROGRAMS_DIR"):
        return Path(os.environ["COURSE_PROGRAMS_DIR"])
    here = Path.cwd()
    return (here.parent if here.name == "notebooks" else here) / "programs"


def program_folder() -> Path:
    """This kernel's own folder of programs, made on first use and removed at exit."""
    global _folder
    with _folder_lock:
        if _folder is None:
            base = programs_base()
            _remove_folders_of_dead_kernels(base)
            folder = base / f"kernel-{os.getpid()}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / MARKER).write_text(
                "made by helpers.run.programs; removed at exit\n", encoding="utf-8"
            )
            atexit.register(_remove_folder, folder)
            _folder = folder
        return _folder


def _remove_folder(folder: Path) -> None:
    if (folder / MARKER).exists():
        shutil.rmtree(folder, ignore_errors=True)


def _remove_folders_of_dead_kernels(base: Path) -> None:
    """Folders left by kernels that were killed: only ours (marked), only of dead PIDs."""
    if not base.is_dir():
        return
    for folder in base.glob("kernel-*"):
        pid = folder.name.removeprefix("kernel-")
        if pid.isdigit() and not _alive(int(pid)):
            _remove_folder(folder)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # no cheap check: leave the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def program_path(filename: str) -> Path:
    """The saved program ``filename`` (a plain file name ending in .py)."""
    if not _NAME.match(filename):
        raise ValueError(
            f"{filename!r} is not a program name: use a plain file name ending in .py, "
            "such as 'reverse_server.py'"
        )
    return program_folder() / filename


def save_program(filename: str, source: str) -> Path:
    """Save ``source`` as this kernel's program ``filename``; print one fixed line."""
    path = program_path(filename)
    path.write_text(source if source.endswith("\n") else source + "\n", encoding="utf-8")
    print(f"program {filename} saved")
    return path


def program_magic(line: str, cell: str) -> None:
    """``%%program NAME.py``: save the cell as the program NAME.py (nothing runs yet)."""
    filename = line.strip()
    if not filename:
        print("usage: %%program NAME.py  (the cell below the line is the program)")
        return
    save_program(filename, cell)
