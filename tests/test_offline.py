"""Offline, proven twice: the kernels' audit start-up, and the loopback-only network namespace.

The start-up's hook (tools/kernel_startup.py, ``nbexec.STARTUP_FILE``) is tested
in a fresh interpreter (cheap), then shown to be loaded by the kernels the
harness starts, by the kernels nbval starts and by the authors' kernels
(``nbtool.py run``, bench), which block the same way without a record.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbexec
import nbformat
import pytest

STARTUP_FILE = nbexec.STARTUP_FILE
# TEST-NET-1 (RFC 5737): never routed, so nothing leaves even if a check were wrong
OUTSIDE = "192.0.2.1"


def run_with_startup(body: str, record: Path | None, tmp_path: Path) -> dict:
    """Run ``body`` in a fresh interpreter after the start-up file; it fills ``result``.

    ``record`` None: COURSE_NETAUDIT_LOG is not set, as in an author's kernel.
    """
    script = (
        textwrap.dedent(
            f"""
        import json, runpy, socket, sys
        runpy.run_path({str(STARTUP_FILE)!r})
        result = {{}}

        def attempt(name, action):
            try:
                action()
                result[name] = "ok"
            except OSError as error:
                result[name] = type(error).__name__ + ": " + str(error)
        """
        )
        + textwrap.dedent(body)
        + "\nprint(json.dumps(result))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COURSE_NETAUDIT_LOG"}
    if record is not None:
        env["COURSE_NETAUDIT_LOG"] = str(record)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def entries(record: Path) -> list[dict]:
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_audit_hook_lets_loopback_through(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    result = run_with_startup(
        f"""
        listener = socket.socket()
        attempt("bind 127.0.0.1", lambda: listener.bind(("127.0.0.1", 0)))
        listener.listen()
        client = socket.socket()
        client.settimeout(2)
        attempt("connect 127.0.0.1", lambda: client.connect(listener.getsockname()))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attempt("sendto 127.0.0.2", lambda: udp.sendto(b"x", ("127.0.0.2", 9)))
        attempt("getaddrinfo localhost", lambda: socket.getaddrinfo("localhost", 80))
        attempt("getaddrinfo ::1", lambda: socket.getaddrinfo("::1", 80))
        attempt("getaddrinfo None", lambda: socket.getaddrinfo(None, 80))
        attempt("getaddrinfo own name", lambda: socket.getaddrinfo(socket.gethostname(), None))
        attempt("gethostbyname 127.0.0.1", lambda: socket.gethostbyname("127.0.0.1"))
        attempt("getnameinfo", lambda: socket.getnameinfo(("127.0.0.1", 80), 0))
        if hasattr(socket, "AF_UNIX"):
            unix = socket.socket(socket.AF_UNIX)
            attempt("bind AF_UNIX", lambda: unix.bind({str(tmp_path / "sock")!r}))
        """,
        record,
        tmp_path,
    )
    assert all(outcome == "ok" for outcome in result.values()), result
    assert not entries(record)


def test_audit_hook_blocks_and_records_everything_else(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    result = run_with_startup(
        f"""
        sock = socket.socket()
        sock.settimeout(0.5)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attempt("connect", lambda: sock.connect(({OUTSIDE!r}, 80)))
        attempt("connect_ex", lambda: sock.connect_ex(({OUTSIDE!r}, 80)))
        attempt("connect by name", lambda: sock.connect(("www.onego.ru", 80)))
        attempt("sendto by name", lambda: udp.sendto(b"x", 0, ("mail.onego.ru", 9)))
        attempt("not an address", lambda: sock.connect(("127.0.0.1%anything", 80)))
        attempt("sendto", lambda: udp.sendto(b"x", ({OUTSIDE!r}, 9)))
        attempt("bind all interfaces", lambda: socket.socket().bind(("", 0)))
        attempt("bind 0.0.0.0", lambda: socket.socket().bind(("0.0.0.0", 0)))
        attempt("getaddrinfo", lambda: socket.getaddrinfo("www.onego.ru", 80))
        attempt("gethostbyname", lambda: socket.gethostbyname("www.onego.ru"))
        attempt("gethostbyname_ex", lambda: socket.gethostbyname_ex("mail.onego.ru"))
        attempt("gethostbyaddr", lambda: socket.gethostbyaddr("195.161.136.4"))
        attempt("getnameinfo", lambda: socket.getnameinfo(({OUTSIDE!r}, 80), 0))
        attempt("mapped IPv6", lambda: socket.getaddrinfo("::ffff:{OUTSIDE}", 80))
        """,
        record,
        tmp_path,
    )
    refused = {
        name: outcome
        for name, outcome in result.items()
        if outcome.startswith("PermissionError: kernel start-up")
    }
    assert refused == result, f"let through: {set(result) - set(refused)}"
    recorded = entries(record)
    assert len(recorded) == len(result)
    # Socket calls are stopped before the C call, which would resolve a name first.
    assert {e["event"] for e in recorded} == {
        "socket.connect (before the C call)",
        "socket.connect_ex (before the C call)",
        "socket.sendto (before the C call)",
        "socket.bind (before the C call)",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
    }
    assert all(e["stack"] and e["pid"] for e in recorded)


def test_without_a_record_the_hook_still_blocks_and_writes_nothing(tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    result = run_with_startup(
        f"""
        attempt("connect", lambda: socket.socket().connect(({OUTSIDE!r}, 80)))
        attempt("getaddrinfo", lambda: socket.getaddrinfo("www.onego.ru", 80))
        listener = socket.socket()
        attempt("bind 127.0.0.1", lambda: listener.bind(("127.0.0.1", 0)))
        """,
        None,
        tmp_path,
    )
    assert result["connect"].startswith("PermissionError: kernel start-up")
    assert result["getaddrinfo"].startswith("PermissionError: kernel start-up")
    assert result["bind 127.0.0.1"] == "ok"
    assert set(tmp_path.iterdir()) == before  # no record file appeared


def test_guard_refusals_happen_first_and_are_not_recorded(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    result = run_with_startup(
        """
        import helpers
        helpers.enable_guard()
        attempt("guarded", lambda: socket.getaddrinfo("www.onego.ru", 80))
        helpers.disable_guard()
        attempt("unguarded", lambda: socket.getaddrinfo("www.onego.ru", 80))
        """,
        record,
        tmp_path,
    )
    assert result["guarded"].startswith("NetworkGuardError")
    assert result["unguarded"].startswith("PermissionError: kernel start-up")
    assert [e["event"] for e in entries(record)] == ["socket.getaddrinfo"]


PROBE = f"""\
import socket
try:
    socket.getaddrinfo({OUTSIDE!r}, 80)
except OSError as error:
    print(type(error).__name__)
"""


def test_harness_kernels_run_the_audit_startup(kernel_env) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
    session = asyncio.run(
        nbexec.run_in_one_kernel(nb, cwd=Path.cwd(), env=kernel_env("probe"), timeout=30)
    )
    assert session.error is None
    assert session.runs[0].nb.cells[0].outputs[0]["text"] == "PermissionError\n"
    assert [e["event"] for e in kernel_env.entries()] == ["socket.getaddrinfo"]


def test_authors_kernels_run_the_same_startup_and_block_without_a_record(monkeypatch) -> None:
    # nbtool.py run, bench.py and bench_browser.py start their kernels this way
    monkeypatch.delenv("COURSE_NETAUDIT_LOG", raising=False)
    with nbexec.kernel_environment() as env:
        (startup,) = (Path(env["IPYTHONDIR"]) / "profile_default" / "startup").iterdir()
        assert startup.read_bytes() == STARTUP_FILE.read_bytes()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)])
        session = asyncio.run(nbexec.run_in_one_kernel(nb, cwd=Path.cwd(), env=env))
    assert "COURSE_NETAUDIT_LOG" not in env
    assert session.error is None
    assert session.runs[0].nb.cells[0].outputs[0]["text"] == "PermissionError\n"


def test_test_kernels_profile_runs_only_the_one_startup(audit_ipython_dir: Path) -> None:
    (startup,) = (audit_ipython_dir / "profile_default" / "startup").iterdir()
    assert startup.read_bytes() == STARTUP_FILE.read_bytes()


def test_nbval_kernels_run_the_audit_startup(tmp_path: Path, monkeypatch) -> None:
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

    record = tmp_path / "record.jsonl"
    # only the record moves; IPYTHONDIR stays the session's, which nbval's kernels inherit
    monkeypatch.setenv("COURSE_NETAUDIT_LOG", str(record))
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME, cwd=str(tmp_path))
    try:
        kernel.await_idle(kernel.execute_cell_input(PROBE, allow_stdin=False), timeout=30)
    finally:
        kernel.stop()
    assert [e["event"] for e in entries(record)] == ["socket.getaddrinfo"]


def _only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def test_ci_runs_in_a_loopback_only_network_namespace() -> None:
    """make test runs pytest under `unshare -n` where it can (root on Linux): CI must."""
    if os.environ.get("CI", "").lower() not in ("true", "1", "yes"):
        if not _only_loopback():
            pytest.skip("not in a loopback-only namespace (make test does that as root on Linux)")
    assert sys.platform == "linux"
    assert _only_loopback(), f"interfaces present: {socket.if_nameindex()}"
    with socket.create_server(("127.0.0.1", 0)) as server:  # and loopback is up
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
