"""Execute notebooks in fresh kernels of this environment, as JupyterLab would.

Shared by ``nbtool.py run`` (authors), ``bench.py`` and the test harness, so a
notebook is always executed the same way: the ``python3`` kernel of the
interpreter running this code (never a stray kernelspec of the same name in the
user's Jupyter folders), the notebook's folder as working directory, a clean
IPython profile with only the start-up files we give it, and a timeout per cell.
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
DEFAULT_CELL_TIMEOUT = 60

# Authors' kernels get the guard's hook ready (switched off) and nothing else:
# the same order of audit hooks as in the tests, without the tests' own hook.
GUARD_STARTUP = """\
def _course_startup():
    import importlib.util
    if importlib.util.find_spec("helpers.guard") is not None:
        from helpers.guard import install_guard_hook
        install_guard_hook()
_course_startup()
del _course_startup
"""


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


@contextmanager
def ipython_dir(startup_files: Mapping[str, str]) -> Iterator[Path]:
    """A throw-away IPYTHONDIR whose default profile runs exactly ``startup_files``.

    A student's own ~/.ipython start-up scripts must not leak into stored or
    compared outputs.
    """
    path = Path(tempfile.mkdtemp(prefix="course-ipython-"))
    try:
        startup = path / "profile_default" / "startup"
        startup.mkdir(parents=True)
        for name, text in startup_files.items():
            (startup / name).write_text(text, encoding="utf-8")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


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
    nb: nbformat.NotebookNode, *, cwd: Path, timeout: float = DEFAULT_CELL_TIMEOUT
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
    timeout: float = DEFAULT_CELL_TIMEOUT,
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
    timeout: float = DEFAULT_CELL_TIMEOUT,
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
