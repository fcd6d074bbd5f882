"""Execute notebooks in fresh kernels of this environment, as JupyterLab would.

Shared by ``nbtool.py run`` (authors), ``bench.py`` and the test harness, so a
notebook is always executed the same way: the ``python3`` kernel of the
interpreter running this code (never a stray kernelspec of the same name in the
user's Jupyter folders), the notebook's folder as working directory, a clean
IPython profile that runs only the course's kernel start-up, and a timeout per cell.

It also holds the two kernel settings every notebook run in the project shares
(nbval through conftest.py, the harness, the browser test, nbtool, bench):
``STARTUP_FILE`` and ``CELL_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from traitlets import default

KERNEL_NAME = "python3"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL_NAME}

# The one start-up file of every kernel the project starts (what it does, and why
# in that order, is in its docstring).
STARTUP_FILE = Path(__file__).resolve().with_name("kernel_startup.py")


def cell_timeout(environ: Mapping[str, str]) -> float:
    """Seconds one cell may run: COURSE_CELL_TIMEOUT if set, else 60.

    A hang detector, never a speed judge: a cell taking a second on a laptop
    may take ten on a busy 2-core class server running four kernels at once,
    and must still pass there. Every notebook run in the project uses this
    value: nbval (conftest.py passes it as --nbval-cell-timeout), the harness,
    the browser test (per cell of its Run All), ``nbtool.py run`` and bench.
    """
    text = environ.get("COURSE_CELL_TIMEOUT", "").strip()
    if not text:
        return 60.0
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"COURSE_CELL_TIMEOUT must be a number of seconds above 0, not {text!r}")
    return seconds


CELL_TIMEOUT = cell_timeout(os.environ)


class CurrentEnvKernelSpecManager(KernelSpecManager):
    """Resolves ``python3`` to ipykernel of the running interpreter, whatever is installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name == KERNEL_NAME:
            return KernelSpec(
                resource_dir=ipykernel.kernelspec.RESOURCES,
                **ipykernel.kernelspec.get_kernel_dict(),
            )
        return super().get_kernel_spec(kernel_name)


class CurrentEnvKernelManager(AsyncKernelManager):
    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self) -> KernelSpecManager:
        return CurrentEnvKernelSpecManager(data_dir=self.data_dir)


def install_startup(ipython_dir: Path) -> Path:
    """Make the default profile of ``ipython_dir`` run ``STARTUP_FILE``, and nothing else.

    A student's own ~/.ipython start-up scripts must not leak into stored or
    compared outputs, hence a profile of our own rather than the user's.
    """
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STARTUP_FILE, startup / f"00-{STARTUP_FILE.name}")
    return ipython_dir


@contextmanager
def ipython_dir() -> Iterator[Path]:
    """A throw-away IPYTHONDIR whose default profile runs the kernel start-up."""
    path = Path(tempfile.mkdtemp(prefix="course-ipython-"))
    try:
        yield install_startup(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def kernel_environment() -> Iterator[dict[str, str]]:
    """This process's environment, with IPYTHONDIR pointing at a fresh ``ipython_dir()``."""
    with ipython_dir() as path:
        yield {
            **os.environ,
            "IPYTHONDIR": str(path),
            # the programs a notebook starts run the same start-up as its kernel
            "COURSE_PROGRAM_STARTUP": str(STARTUP_FILE),
        }


@dataclass
class Run:
    """One execution of a notebook's cells in a kernel."""

    nb: nbformat.NotebookNode
    cell_seconds: dict[int, float] = field(default_factory=dict)  # cell index -> seconds


@dataclass
class KernelSession:
    """A notebook executed ``len(runs)`` times in one kernel; ``error`` if a run failed."""

    runs: list[Run]
    seconds: float  # kernel start to shutdown
    error: BaseException | None = None


def new_client(
    nb: nbformat.NotebookNode, *, cwd: Path, timeout: float = CELL_TIMEOUT
) -> NotebookClient:
    return NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        kernel_manager_class=CurrentEnvKernelManager,
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,  # timestamps in cell metadata would change the file on every run
        coalesce_streams=True,
    )


async def run_in_one_kernel(
    nb: nbformat.NotebookNode,
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    runs: int = 1,
    timeout: float = CELL_TIMEOUT,
    skip: Sequence[int] = (),
) -> KernelSession:
    """Execute all cells ``runs`` times, one run after the other, in ONE fresh kernel.

    Each run works on its own copy of ``nb``; execution counts go on from run
    to run as they would in JupyterLab. Cells whose indexes are in ``skip`` are
    not executed (nbval's NBVAL_SKIP). Errors are returned, not raised, so that
    a caller running several kernels at once sees every result.
    """
    client = new_client(copy.deepcopy(nb), cwd=cwd, timeout=timeout)
    done: list[Run] = []
    started = time.perf_counter()
    error: BaseException | None = None
    try:
        async with client.async_setup_kernel(
            env=dict(env if env is not None else os.environ),
            stderr=subprocess.DEVNULL,  # the kernel's own warnings, as nbval does
        ):
            reply = await client.async_wait_for_reply(await ensure_async(client.kc.kernel_info()))
            language_info = reply["content"]["language_info"] if reply else None
            count = 0
            for _ in range(runs):
                run = Run(copy.deepcopy(nb))
                run.nb.metadata.pop("widgets", None)  # stale widget state of an older run
                if language_info:
                    run.nb.metadata["language_info"] = language_info
                client.nb = run.nb
                client.reset_execution_trackers()
                done.append(run)
                for index, cell in enumerate(run.nb.cells):
                    if cell.cell_type != "code" or not cell.source.strip() or index in skip:
                        continue
                    count += 1
                    cell_started = time.perf_counter()
                    await client.async_execute_cell(cell, index, execution_count=count)
                    run.cell_seconds[index] = time.perf_counter() - cell_started
                client.set_widgets_metadata()
    except Exception as exc:  # noqa: BLE001 - reported to the caller with the runs so far
        error = exc
    return KernelSession(done, time.perf_counter() - started, error)


async def run_in_many_kernels(
    nb: nbformat.NotebookNode,
    kernels: int,
    *,
    cwd: Path,
    envs: Sequence[Mapping[str, str]],
    timeout: float = CELL_TIMEOUT,
    skip: Sequence[int] = (),
) -> list[KernelSession]:
    """The same notebook in ``kernels`` kernels at the same time (one env per kernel)."""
    return list(
        await asyncio.gather(
            *(
                run_in_one_kernel(nb, cwd=cwd, env=envs[i], timeout=timeout, skip=skip)
                for i in range(kernels)
            )
        )
    )


def error_text(error: BaseException) -> str:
    """A cell error as nbclient reports it, without ANSI colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(error))
