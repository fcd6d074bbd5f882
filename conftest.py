"""Session set-up for every pytest run here: the project's kernel start-up and cell timeout.

At the repository's top so that it applies to every item, nbval's notebook
cells included, whatever paths pytest is given (`pytest notebooks --nbval`
alone too). At configure time, before nbval or any test starts a kernel:

- IPYTHONDIR points at a throw-away profile that runs tools/kernel_startup.py
  (``nbexec.STARTUP_FILE``, the one start-up of every kernel the project
  starts), and COURSE_NETAUDIT_LOG names the session's record. Kernels inherit
  both through the environment. An nbval cell fails as soon as the record grows
  while it runs; anything recorded outside nbval's cells (another test's
  kernel) fails the session at the end.
- nbval's cell timeout becomes ``nbexec.CELL_TIMEOUT`` (COURSE_CELL_TIMEOUT),
  the one the harness and the browser test use, unless --nbval-cell-timeout is
  given: nbval's own default, 2000 s, would let a hung cell hold a run for half
  an hour.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import nbexec  # tools/, on sys.path through pyproject's pythonpath
import pytest
from hypothesis import HealthCheck, settings

# Property tests must hold on a busy 2-core machine (a class hub, a CI box): judge
# what the code does, never how fast Hypothesis can draw examples. Registered here,
# at the top, so that every @given test in the suite runs under it.
settings.register_profile(
    "course",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
settings.load_profile("course")


class AuditRecord:
    """A record file written by the kernels' audit hook, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()
        self.offset = 0

    def new_entries(self) -> list[dict]:
        with self.path.open("rb") as file:
            file.seek(self.offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]


def describe(entries: list[dict]) -> str:
    return "\n".join(
        f"  {e.get('event')} {e.get('target')} (pid {e.get('pid')})"
        + "".join(f"\n      at {frame}" for frame in e.get("stack", [])[:4])
        for e in entries
    )


NBVAL_CELL_TIMEOUT = "--nbval-cell-timeout"


def _option_given(config: pytest.Config, option: str) -> bool:
    """Whether ``option`` was set on the command line, in PYTEST_ADDOPTS or in addopts."""
    args = [
        *config.invocation_params.args,
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.getini("addopts"),
    ]
    return any(arg == option or arg.startswith(option + "=") for arg in args)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "nbval_cell_timeout") and not _option_given(
        config, NBVAL_CELL_TIMEOUT
    ):
        config.option.nbval_cell_timeout = nbexec.CELL_TIMEOUT
    workdir = Path(tempfile.mkdtemp(prefix="course-tests-"))
    ipython_dir = nbexec.install_startup(workdir / "ipython")
    record = AuditRecord(workdir / "netaudit-session.jsonl")
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    os.environ["COURSE_NETAUDIT_LOG"] = str(record.path)
    # The programs a notebook starts run the same start-up as its kernel.
    os.environ["COURSE_PROGRAM_STARTUP"] = str(nbexec.STARTUP_FILE)
    os.environ["COURSE_PROGRAMS_DIR"] = str(workdir / "programs")
    config.stash[_workdir] = workdir
    config.stash[_record] = record


_workdir = pytest.StashKey[Path]()
_record = pytest.StashKey[AuditRecord]()


def pytest_unconfigure(config: pytest.Config) -> None:
    workdir = config.stash.get(_workdir, None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _is_nbval_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        return (yield)
    finally:
        if _is_nbval_cell(item):
            entries = item.config.stash[_record].new_entries()
            if entries:
                pytest.fail(
                    "the cell reached outside loopback (blocked by the kernel start-up):\n"
                    + describe(entries),
                    pytrace=False,
                )


def pytest_collection_finish(session: pytest.Session) -> None:
    # nbval asked for but no notebook collected would make `make test` pass vacuously
    option = session.config.option
    if getattr(option, "nbval", False) and not (option.keyword or option.markexpr):
        if not any(_is_nbval_cell(item) for item in session.items):
            raise pytest.UsageError("--nbval given but no notebook cells were collected")


def pytest_sessionfinish(session: pytest.Session) -> None:
    record = session.config.stash.get(_record, None)
    if record is None:
        return
    entries = record.new_entries()
    if entries:
        message = "kernels started by the tests reached outside loopback:\n" + describe(entries)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def audit_ipython_dir() -> Path:
    """The IPYTHONDIR every test kernel uses (its profile runs the kernel start-up)."""
    return Path(os.environ["IPYTHONDIR"])


@pytest.fixture
def kernel_env(tmp_path: Path, audit_ipython_dir: Path):
    """Make environments for kernels whose audit records this test checks itself.

    ``kernel_env(name)`` returns an environment with its own record file; the
    records are returned by ``kernel_env.entries()``.
    """

    class KernelEnv:
        def __init__(self) -> None:
            self.records: list[Path] = []

        def __call__(self, name: str) -> dict[str, str]:
            path = tmp_path / f"netaudit-{name}.jsonl"
            path.touch()
            self.records.append(path)
            return {
                **os.environ,
                "IPYTHONDIR": str(audit_ipython_dir),
                "COURSE_NETAUDIT_LOG": str(path),
            }

        def entries(self) -> list[dict]:
            return [
                json.loads(line)
                for path in self.records
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]

        def assert_offline(self) -> None:
            entries = self.entries()
            assert not entries, (
                "a kernel reached outside loopback (blocked by the kernel start-up):\n"
                + describe(entries)
            )

    return KernelEnv()
