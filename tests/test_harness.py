"""Every notebook in notebooks/, run the way students run it, under the audit hook.

- twice in one kernel: Run All, then Run All again in the same kernel; the
  second run's outputs equal the first's after sanitizing (promise 2);
- several kernels at once (COURSE_KERNELS, 4 by default, 10 in `make test-heavy`)
  run the same notebook, as on a shared JupyterHub; every one matches the
  stored outputs after sanitizing (promise 6);
- in both, no kernel reaches outside loopback (promise 1): each kernel writes
  its own audit record, which must stay empty.

Outputs are compared with nbval's rules (tools/nbcompare.py). Cells tagged
raises-exception may fail; any other error fails the test. Each cell has
``nbexec.CELL_TIMEOUT`` seconds (COURSE_CELL_TIMEOUT), the timeout nbval and
the browser test use too; the last tests here check that they do.
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


def _read(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - a half-written notebook fails its own tests only
        pytest.fail(f"cannot read {path.name}: {exc}", pytrace=False)


def _failure(label: str, session: nbexec.KernelSession) -> str:
    return f"{label}: {nbexec.error_text(session.error)}" if session.error else ""


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_twice_in_one_kernel(path: Path, kernel_env) -> None:
    nb = _read(path)
    session = asyncio.run(
        nbexec.run_in_one_kernel(
            nb,
            cwd=path.parent,
            env=kernel_env("twice"),
            runs=2,
            timeout=nbexec.CELL_TIMEOUT,
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


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_kernels_at_once(path: Path, kernel_env) -> None:
    nb = _read(path)
    sessions = asyncio.run(
        nbexec.run_in_many_kernels(
            nb,
            KERNELS,
            cwd=path.parent,
            envs=[kernel_env(f"kernel{i}") for i in range(KERNELS)],
            timeout=nbexec.CELL_TIMEOUT,
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


# --- the one cell timeout ----------------------------------------------------------------------


def test_cell_timeout_is_60_s_unless_course_cell_timeout_says_otherwise() -> None:
    assert nbexec.cell_timeout({}) == 60.0
    assert nbexec.cell_timeout({"COURSE_CELL_TIMEOUT": " "}) == 60.0
    assert nbexec.cell_timeout({"COURSE_CELL_TIMEOUT": "120"}) == 120.0
    assert nbexec.cell_timeout({"COURSE_CELL_TIMEOUT": "2.5"}) == 2.5
    for bad in ("soon", "0", "-5", "nan", "inf"):
        with pytest.raises(ValueError, match="COURSE_CELL_TIMEOUT"):
            nbexec.cell_timeout({"COURSE_CELL_TIMEOUT": bad})


def test_the_module_value_is_read_from_the_environment() -> None:
    assert nbexec.CELL_TIMEOUT == nbexec.cell_timeout(os.environ)


def test_nbval_gets_the_shared_cell_timeout(pytestconfig: pytest.Config) -> None:
    if not hasattr(pytestconfig.option, "nbval_cell_timeout"):
        pytest.skip("nbval is not loaded in this session")
    given = [*pytestconfig.invocation_params.args, os.environ.get("PYTEST_ADDOPTS", "")]
    if any("--nbval-cell-timeout" in arg for arg in given):
        pytest.skip("--nbval-cell-timeout given: an explicit value wins on purpose")
    assert pytestconfig.option.nbval_cell_timeout == nbexec.CELL_TIMEOUT


def test_notebook_runs_default_to_the_shared_cell_timeout() -> None:
    import inspect

    for function in (nbexec.new_client, nbexec.run_in_one_kernel, nbexec.run_in_many_kernels):
        default = inspect.signature(function).parameters["timeout"].default
        assert default == nbexec.CELL_TIMEOUT, function.__name__


def test_the_browser_test_gets_the_shared_cell_timeout() -> None:
    from browser.run import kernel_settings

    assert kernel_settings() == (nbexec.STARTUP_FILE, nbexec.CELL_TIMEOUT)
