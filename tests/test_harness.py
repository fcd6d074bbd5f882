"""Every notebook in notebooks/, run the way students run it, under the audit hook.

- twice in one kernel: Run All, then Run All again in the same kernel; the
  second run's outputs equal the first's after sanitizing (promise 2);
- several kernels at once (COURSE_KERNELS, 4 by default, 10 in `make test-heavy`)
  run the same notebook, as on a shared JupyterHub; every one matches the
  stored outputs after sanitizing (promise 6);
- in both, no kernel reaches outside loopback (promise 1): each kernel writes
  its own audit record, which must stay empty.

Outputs are compared with nbval's rules (tools/nbcompare.py). Cells tagged
raises-exception may fail; any other error fails the test.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nbcompare
import nbexec
import nbformat
import nbindex
import pytest

NOTEBOOKS = sorted(nbindex.NOTEBOOK_DIR.glob("*.ipynb"))
KERNELS = int(os.environ.get("COURSE_KERNELS", "4"))
CELL_TIMEOUT = float(os.environ.get("COURSE_CELL_TIMEOUT", "60"))

pytestmark = pytest.mark.notebook


def _read(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - a half-written notebook fails its own tests only
        pytest.fail(f"cannot read {path.name}: {exc}", pytrace=False)


def _failure(label: str, session: nbexec.KernelSession) -> str:
    return f"{label}: {nbexec.error_text(session.error)}" if session.error else ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_twice_in_one_kernel(path: Path, kernel_env) -> None:
    nb = _read(path)
    session = asyncio.run(
        nbexec.run_in_one_kernel(
            nb,
            cwd=path.parent,
            env=kernel_env("twice"),
            runs=2,
            timeout=CELL_TIMEOUT,
            skip=nbcompare.skipped_cells(nb),
        )
    )
    kernel_env.assert_offline()
    run = "first" if len(session.runs) < 2 else "second"
    assert not session.error, _failure(f"{path.name}, {run} run", session)
    first, second = session.runs
    problems = nbcompare.compare_notebooks(
        first.nb, second.nb, nbcompare.load_patterns(), expected_unrun_cells_pass=False
    )
    assert not problems, f"{path.name}: the second run in the same kernel differs:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernels_at_once(path: Path, kernel_env) -> None:
    nb = _read(path)
    sessions = asyncio.run(
        nbexec.run_in_many_kernels(
            nb,
            KERNELS,
            cwd=path.parent,
            envs=[kernel_env(f"kernel{i}") for i in range(KERNELS)],
            timeout=CELL_TIMEOUT,
            skip=nbcompare.skipped_cells(nb),
        )
    )
    kernel_env.assert_offline()
    failures = [_failure(f"kernel {i}", s) for i, s in enumerate(sessions) if s.error]
    assert not failures, f"{path.name}, {KERNELS} kernels at once:\n" + "\n".join(failures)
    patterns = nbcompare.load_patterns()
    differences = [
        f"kernel {i}: {problem}"
        for i, session in enumerate(sessions)
        for problem in nbcompare.compare_notebooks(nb, session.runs[0].nb, patterns)
    ]
    assert not differences, (
        f"{path.name}, {KERNELS} kernels at once, outputs differ from the stored ones:\n"
        + "\n".join(differences)
    )
