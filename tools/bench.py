"""How long the notebooks take, and how much of it is the course's own overhead (printed only).

    .venv/bin/python tools/bench.py [NOTEBOOK ...]

For each notebook: its time from kernel start to shutdown, the time its cells
wait on purpose (each cell's "deliberate_wait" metadata, in seconds), and the overhead =
time - floor - deliberate waits, where the floor is a bare kernel's start, one
cell and shutdown. Then the slowest cell, the total, what `import helpers`
costs in a fresh interpreter, how long a student's server program takes from
``start_program`` to its port open, and the same notebooks run in JupyterLab in headless
Chromium (Run All from the menu, widgets used) beside their kernel-only time.
Targets: overhead <= 1 s per notebook, no cell over 2 s, no deliberate wait over 0.5 s.
Notebooks run one at a time.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_browser
import nbcheck
import nbexec
import nbformat
import nbindex
from nbtool import _resolve

REPEATS = 3
TARGET_OVERHEAD, TARGET_CELL = 1.0, 2.0


def kernel_floor(env: dict[str, str]) -> float:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    times = []
    for _ in range(REPEATS):
        session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=nbindex.NOTEBOOK_DIR, env=env))
        if session.error:
            raise SystemExit(f"a bare kernel failed: {session.error}")
        times.append(session.seconds)
    return statistics.median(times)


def import_time() -> float:
    code = "import time; t = time.perf_counter(); import helpers; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        )
        for _ in range(REPEATS)
    ]
    return min(runs)


def program_startup() -> list[float]:
    """Seconds from ``start_program`` to the program's port open (listen() reported), per run.

    The chapter's server, saved in a throw-away folder; what a student waits for
    after running a server cell (target 0.3 s).
    """
    import contextlib
    import io
    import os
    import tempfile

    os.environ.setdefault("COURSE_PROGRAMS_DIR", tempfile.mkdtemp(prefix="bench-programs-"))
    from helpers.run.program_files import save_program
    from helpers.run.programs import start_program

    source = (
        "import socket, sys\n"
        "srv = socket.socket()\n"
        "srv.bind(('127.0.0.1', int(sys.argv[1])))\n"
        "srv.listen(1)\n"
        "while True:\n"
        "    srv.accept()[0].close()\n"
    )
    times = []
    with contextlib.redirect_stdout(io.StringIO()):
        save_program("bench_server.py", source)
        for _ in range(REPEATS * 3):
            started = time.perf_counter()
            program = start_program("bench_server.py", port=0)
            times.append(time.perf_counter() - started)
            program.stop()
    return times


def reverse_megabyte() -> float:
    from helpers.wire.text import reverse_utf8

    data = ("ПАЛИНДРОМ " * 60_000).encode()[: 1 << 20]
    runs = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        reverse_utf8(data)
        runs.append(time.perf_counter() - started)
    return min(runs)


def compile_helpers() -> None:
    """Write the helpers' byte-code first, as a student's first import does.

    With ``PYTHONDONTWRITEBYTECODE`` set (some machines set it), nothing else
    would, and every kernel and every program would compile the helpers from
    source again: figures that no student sees.
    """
    import compileall

    import helpers

    compileall.compile_dir(Path(helpers.__file__).parent, quiet=1)


def main(argv: list[str]) -> int:
    paths = _resolve(argv)
    compile_helpers()
    with nbexec.kernel_environment() as env:
        floor = kernel_floor(env)
        print(f"floor (bare kernel: start, one cell, shutdown; median of {REPEATS}): {floor:.2f} s")
        print()
        header = f"{'notebook':<26} {'time':>7} {'waits':>7} {'overhead':>9}  slowest cell"
        print(header)
        print("-" * len(header))
        total = 0.0
        kernel_seconds: dict[str, float] = {}
        slowest_overall: tuple[float, str] = (0.0, "")
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            started = time.perf_counter()
            session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=path.parent, env=env))
            total += time.perf_counter() - started
            if session.error:
                print(f"{path.stem:<26} FAILED: {nbexec.error_text(session.error)[:200]}")
                continue
            waits = sum(nbcheck.deliberate_wait(c) for c in nb.cells if c.cell_type == "code")
            overhead = session.seconds - floor - waits
            kernel_seconds[path.name] = session.seconds
            index, seconds = max(
                session.runs[0].cell_seconds.items(), key=lambda kv: kv[1], default=(-1, 0.0)
            )
            first_line = nb.cells[index].source.strip().splitlines()[0][:40] if index >= 0 else ""
            flags = []
            if overhead > TARGET_OVERHEAD:
                flags.append("overhead over target")
            if seconds > TARGET_CELL:
                flags.append("cell over 2 s")
            print(
                f"{path.stem:<26} {session.seconds:>6.2f}s {waits:>6.2f}s {overhead:>8.2f}s  "
                f"cell {index} {seconds:.2f} s {first_line!r}"
                + (f"  <- {', '.join(flags)}" if flags else "")
            )
            slowest_overall = max(slowest_overall, (seconds, f"{path.stem} cell {index}"))
    print()
    print(f"slowest cell: {slowest_overall[1]} ({slowest_overall[0]:.2f} s)")
    print(f"total: {total:.1f} s for {len(paths)} notebook(s)")
    print(f"import helpers in a fresh interpreter: {import_time() * 1000:.0f} ms (target 50 ms)")
    print(f"reverse_utf8 of 1 MiB of Cyrillic text: {reverse_megabyte() * 1000:.0f} ms")
    startups = program_startup()
    print(
        f"a server program from start_program to its port open: median "
        f"{statistics.median(startups) * 1000:.0f} ms, max {max(startups) * 1000:.0f} ms "
        f"over {len(startups)} runs (target 300 ms)"
    )
    print_browser_column(paths, kernel_seconds)
    return 0


def print_browser_column(paths: list, kernel_seconds: dict[str, float]) -> None:
    browser = bench_browser.browser_times(paths)
    print()
    if browser.skipped:
        print(f"browser: not measured ({browser.skipped})")
        return
    header = f"{'notebook':<26} {'kernel':>7} {'browser':>8} {'run all':>8}"
    print(header)
    print("-" * len(header))
    for path in paths:
        kernel = kernel_seconds.get(path.name)
        seconds = browser.seconds.get(path.name)
        run_all = browser.run_all_seconds.get(path.name)
        cells = [f"{v:>6.2f}s" if v is not None else "-" for v in (kernel, seconds, run_all)]
        failed = "  <- browser check FAILED" if path.name in browser.failures else ""
        print(f"{path.stem:<26} {cells[0]:>7} {cells[1]:>8} {cells[2]:>8}{failed}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
