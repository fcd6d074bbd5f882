"""The program runner: the student's server and client as real, separate processes.

Every test here starts real programs through ``helpers.run.launcher`` and talks
to them over loopback; none judges speed. Waits are on events (the program's
readiness, its exit, its process disappearing), with generous limits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_checking import process_gone

from helpers.run import launcher, processes, program_files, programs
from helpers.run.program_files import program_magic, save_program
from helpers.run.programs import ProgramFailed, run_program, start_program

ROOT = Path(__file__).resolve().parent.parent

# The chapter's pair, as notebook 02 has the student write it: a reply per portion.
CHAPTER_SERVER = """\
import socket
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 33333

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind((HOST, PORT))
srv.listen(1)
while True:
    print("Слушаю порт", PORT)
    sock, addr = srv.accept()
    while True:
        pal = sock.recv(1024)
        if not pal:
            break
        text = pal.decode("utf-8")
        print("Получено от %s:%s:" % addr, text)
        lap = text[::-1].encode("utf-8")
        print("Отправлено %s:%s:" % addr, lap.decode("utf-8"))
        sock.send(lap)
    sock.close()
"""

CHAPTER_CLIENT = """\
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.connect(("127.0.0.1", int(sys.argv[1])))
sock.send("ПАЛИНДРОМ".encode("utf-8"))
result = sock.recv(1024)
sock.close()
print("Получено:", result.decode("utf-8"))
"""


def port_is_free(port: int) -> bool:
    """True when no socket listens on 127.0.0.1:``port`` (the program's listener is gone).

    Read from the system's table of TCP sockets, not by binding: on a busy test run
    another test's client may get the same number as its own ephemeral port, which
    would make a bind fail although nothing listens there.
    """
    table = Path("/proc/net/tcp")
    if not table.exists():  # not Linux: binding is the only way to ask
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True
    listening = "0A"
    for line in table.read_text(encoding="ascii").splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == listening:
            return False
    return True


@pytest.fixture
def chapter_pair(capsys: pytest.CaptureFixture[str]) -> Iterator[programs.Program]:
    save_program("reverse_server.py", CHAPTER_SERVER)
    save_program("reverse_client.py", CHAPTER_CLIENT)
    server = start_program("reverse_server.py", port=0)
    capsys.readouterr()
    yield server
    server.stop()


# -- the chapter's pair -------------------------------------------------------------


def test_the_chapters_client_gets_the_reversed_word_from_the_chapters_server(chapter_pair):
    reply = run_program("reverse_client.py", chapter_pair.port)
    assert reply.returncode == 0
    assert reply.text == "Получено: МОРДНИЛАП\n"
    shown = chapter_pair.output()
    lines = shown.text.splitlines()
    assert lines[0] == f"Слушаю порт {chapter_pair.port}"
    assert lines[1].startswith("Получено от 127.0.0.1:") and lines[1].endswith(": ПАЛИНДРОМ")
    assert lines[2].startswith("Отправлено 127.0.0.1:") and lines[2].endswith(": МОРДНИЛАП")
    assert lines[3] == f"Слушаю порт {chapter_pair.port}"
    assert shown.returncode is None and chapter_pair.running


def test_output_after_a_client_always_holds_the_servers_answer_to_it(chapter_pair):
    for round_number in range(1, 6):
        run_program("reverse_client.py", chapter_pair.port)
        text = chapter_pair.output().text
        assert text.count("Отправлено") == round_number
        assert text.endswith(f"Слушаю порт {chapter_pair.port}\n")


def test_readiness_never_connects_to_the_program(chapter_pair):
    # A probe connection would show as a "received from" line before any client.
    assert chapter_pair.output().text == f"Слушаю порт {chapter_pair.port}\n"


def test_output_keeps_only_the_last_lines_when_asked(chapter_pair):
    run_program("reverse_client.py", chapter_pair.port)
    assert chapter_pair.output(last=1).text == f"Слушаю порт {chapter_pair.port}\n"
    assert chapter_pair.output(last=0).text == ""


# -- stopping, replacing, dying with the kernel ---------------------------------------


def test_stop_is_ctrl_c_and_leaves_no_process_and_a_free_port(chapter_pair):
    pid, port = chapter_pair.pid, chapter_pair.port
    chapter_pair.stop()
    assert process_gone(pid)
    assert port_is_free(port)
    shown = chapter_pair.output()
    assert "KeyboardInterrupt" in shown.text
    assert 'File "reverse_server.py", line 12, in <module>' in shown.text
    assert repr(shown).endswith("[reverse_server was stopped]")
    assert not chapter_pair.running
    chapter_pair.stop()  # a second stop does nothing


def test_an_edited_program_run_again_replaces_the_old_one(capsys):
    save_program("reverse_server.py", CHAPTER_SERVER)
    save_program("reverse_client.py", CHAPTER_CLIENT)
    first = start_program("reverse_server.py", port=0)
    save_program("reverse_server.py", CHAPTER_SERVER.replace("text[::-1]", "text.lower()"))
    second = start_program("reverse_server.py", port=0)
    try:
        assert process_gone(first.pid) and not first.running
        assert run_program("reverse_client.py", second.port).text == "Получено: палиндром\n"
    finally:
        second.stop()


def test_a_program_that_ignores_stop_is_killed(capsys):
    save_program("stubborn.py", STUBBORN)
    server = start_program("stubborn.py", port=0)
    server.stop()
    assert process_gone(server.pid)
    assert server.process.returncode == -signal.SIGKILL


STUBBORN = """\
import socket, sys
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    try:
        srv.accept()
    except KeyboardInterrupt:
        print("not stopping")
"""

KERNEL = """\
import os, sys, time
sys.path.insert(0, {root!r})
os.environ["COURSE_PROGRAMS_DIR"] = {folder!r}
from helpers.run.program_files import save_program
from helpers.run.programs import Program
save_program("server.py", {source!r})
program = Program("server.py", port=0, parent_death={mode!r})
program.start(quiet=True)
print(program.pid, program.port, flush=True)
if {exit_normally!r}:
    sys.exit(0)
time.sleep(600)
"""


@pytest.mark.parametrize(
    ("mode", "how"),
    [
        ("signal", "kill -9"),  # Linux: the parent-death signal
        ("pipe", "kill -9"),  # the watchdog pipe alone, as on macOS and Windows
        ("signal", "exit"),
    ],
)
def test_programs_die_with_their_kernel(tmp_path: Path, mode: str, how: str) -> None:
    script = KERNEL.format(
        root=str(ROOT),
        folder=str(tmp_path),
        source=STUBBORN,
        mode=mode,
        exit_normally=how == "exit",
    )
    kernel = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert kernel.stdout.readline() == "program server.py saved\n"  # type: ignore[union-attr]
        pid, port = (int(word) for word in kernel.stdout.readline().split())  # type: ignore[union-attr]
        if how == "kill -9":
            kernel.kill()
        kernel.wait(30)
        assert process_gone(pid), f"program {pid} outlived its kernel ({mode}, {how})"
        assert port_is_free(port)
    finally:
        if kernel.poll() is None:
            kernel.kill()
        kernel.wait()
    assert not any(tmp_path.glob("kernel-*")) or how == "kill -9"


# -- what goes wrong, reported ------------------------------------------------------


def test_address_already_in_use_is_the_programs_own_error(chapter_pair, capsys):
    with pytest.raises(ProgramFailed) as failure:
        start_program("reverse_server.py", port=chapter_pair.port, name="second", fallback=False)
    message = str(failure.value)
    assert message.startswith("reverse_server.py exited with code 1 before it opened its port")
    assert 'File "reverse_server.py", line 8, in <module>' in message
    assert "OSError: [Errno 98] Address already in use" in message
    assert capsys.readouterr().out == ""  # no status line for a program that failed


def test_a_busy_port_falls_back_with_the_usual_status_line(capsys):
    save_program("reverse_server.py", CHAPTER_SERVER)
    capsys.readouterr()
    with socket.create_server(("127.0.0.1", 0)) as holder:
        busy = holder.getsockname()[1]
        server = start_program("reverse_server.py", port=busy)
        try:
            line = capsys.readouterr().out
            assert line == f"reverse_server program on 127.0.0.1:{server.port} ({busy} was busy)\n"
            assert server.port != busy
            assert server.output().text == f"Слушаю порт {server.port}\n"
        finally:
            server.stop()


def test_a_program_that_never_listens_is_reported_with_its_output(capsys):
    save_program("sleeper.py", "import time\nprint('thinking')\ntime.sleep(600)\n")
    with pytest.raises(ProgramFailed, match="did not open its port within 2 s") as failure:
        start_program("sleeper.py", port=0)
    assert failure.value.output.startswith("thinking\n")
    assert "KeyboardInterrupt" in failure.value.output  # interrupted, as Ctrl-C would


def test_a_crashing_program_shows_only_its_own_traceback(capsys):
    save_program("crasher.py", "import socket\nsocket.socket().connect(('127.0.0.1', 1))\n")
    with pytest.raises(ProgramFailed) as failure:
        start_program("crasher.py", port=0)
    output = failure.value.output
    assert output.splitlines()[1] == '  File "crasher.py", line 2, in <module>'
    assert output.rstrip().endswith("ConnectionRefusedError: [Errno 111] Connection refused")
    assert "launcher" not in output and "socket.py" not in output and "/" not in output


def test_a_server_that_dies_later_shows_its_traceback_on_demand(chapter_pair):
    with socket.create_connection(chapter_pair.address, timeout=5) as sock:
        sock.sendall("Я".encode()[:1])  # half a letter: decode() fails in the server
        assert sock.recv(1024) == b""
    shown = chapter_pair.output()
    assert shown.returncode == 1
    assert "UnicodeDecodeError" in shown.text and 'File "reverse_server.py"' in shown.text
    assert repr(shown).endswith("[reverse_server exited with code 1]")
    assert not chapter_pair.running


def test_the_guard_is_on_inside_a_program(capsys):
    save_program("outside.py", "import socket\nsocket.create_connection(('192.0.2.1', 80), 1)\n")
    result = run_program("outside.py")
    assert result.returncode == 1
    assert "NetworkGuardError: name look-up of '192.0.2.1' refused" in result.text
    assert "192.0.2.1 is not a loopback address" in result.text


def test_a_client_that_does_not_finish_is_interrupted(capsys):
    save_program("waiter.py", "import time\nprint('waiting', flush=True)\ntime.sleep(600)\n")
    result = run_program("waiter.py", timeout=0.5)
    assert result.text.startswith("waiting\nTraceback")
    assert '  File "waiter.py", line 3, in <module>' in result.text
    assert repr(result).endswith("[waiter was interrupted after 0.5 s: it had not finished]")


def test_a_long_output_is_kept_within_bounds(capsys):
    save_program("chatty.py", "for n in range(200_000):\n    print(n)\n")
    result = run_program("chatty.py", timeout=60)
    assert result.returncode == 0
    assert len(result.text) <= 2 * processes.OUTPUT_KEPT + 100
    assert result.text.startswith("0\n1\n") and result.text.endswith("199999\n")
    assert "bytes of output not kept" in result.text


def test_the_program_reads_no_standard_input(capsys):
    save_program("reader.py", "import sys\nprint(repr(sys.stdin.read()))\n")
    assert run_program("reader.py").text == "''\n"


# -- saving ---------------------------------------------------------------------------


def test_saving_prints_the_same_line_every_time(capsys):
    program_magic("greeting.py", "print('hello')\n")
    program_magic("greeting.py", "print('hello again')\n")
    assert capsys.readouterr().out == "program greeting.py saved\nprogram greeting.py saved\n"
    assert run_program("greeting.py").text == "hello again\n"


@pytest.mark.parametrize("name", ["../evil.py", "server", "/tmp/x.py", ".hidden.py", "a b.py"])
def test_only_plain_program_names_are_accepted(name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        program_files.program_path(name)


def test_each_kernel_has_its_own_folder_and_removes_only_its_own(tmp_path: Path) -> None:
    stale = tmp_path / "kernel-999999999"
    stale.mkdir()
    (stale / program_files.MARKER).write_text("", encoding="utf-8")
    foreign = tmp_path / "kernel-999999998"
    foreign.mkdir()  # no marker: not ours
    script = (
        f"import os, sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"os.environ['COURSE_PROGRAMS_DIR'] = {str(tmp_path)!r}; "
        "from helpers.run.program_files import save_program; "
        "print(save_program('same.py', 'print(os.getpid())').parent.name)"
    )
    folders = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    assert folders[0] != folders[1] and all(f.startswith("kernel-") for f in folders)
    assert not stale.exists() and foreign.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name]  # both removed at exit


def test_programs_sit_beside_the_notebooks_unless_told(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COURSE_PROGRAMS_DIR", raising=False)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert program_files.programs_base() == tmp_path / "programs"
    monkeypatch.setenv("COURSE_PROGRAMS_DIR", str(tmp_path / "elsewhere"))
    assert program_files.programs_base() == tmp_path / "elsewhere"


# -- other platforms' paths -------------------------------------------------------------


class FakeStartupInfo:
    lpAttributeList: dict[str, list[int]] | None = None


def test_windows_gets_a_process_group_and_an_inherited_handle(monkeypatch) -> None:
    inheritable: list[tuple[int, bool]] = []
    fake_msvcrt = type(sys)("msvcrt")
    fake_msvcrt.get_osfhandle = lambda fd: 1000 + fd  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "msvcrt", fake_msvcrt)
    monkeypatch.setattr(subprocess, "STARTUPINFO", FakeStartupInfo, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    monkeypatch.setattr(
        os, "set_handle_inheritable", lambda h, on: inheritable.append((h, on)), raising=False
    )
    plan = processes.spawn_plan("win32", ready_write=7)
    assert plan.popen["creationflags"] == 0x200
    assert plan.popen["startupinfo"].lpAttributeList == {"handle_list": [1007]}
    assert "start_new_session" not in plan.popen and "pass_fds" not in plan.popen
    assert plan.env[launcher.READY_HANDLE] == "1007" and launcher.READY_FD not in plan.env
    assert inheritable == [(1007, True)]
    assert plan.env["PYTHONUNBUFFERED"] == "1" and plan.env["PYTHONIOENCODING"] == "utf-8"


def test_the_launcher_opens_a_windows_handle_as_its_channel(monkeypatch, tmp_path: Path) -> None:
    target = os.open(tmp_path / "channel", os.O_WRONLY | os.O_CREAT)
    fake_msvcrt = type(sys)("msvcrt")
    fake_msvcrt.open_osfhandle = lambda handle, flags: target if handle == 1007 else -1  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "msvcrt", fake_msvcrt)
    channel = launcher.open_channel({launcher.READY_HANDLE: "1007"})
    assert channel is not None
    channel.write("started\n")
    channel.close()
    assert (tmp_path / "channel").read_text(encoding="ascii") == "started\n"


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_posix_gets_a_new_session_and_an_inherited_descriptor(platform: str) -> None:
    plan = processes.spawn_plan(platform, ready_write=7, parent_death="pipe")
    assert plan.popen == {"start_new_session": True, "pass_fds": (7,), "close_fds": True}
    assert plan.env[launcher.READY_FD] == "7" and plan.env[launcher.PARENT_DEATH] == "pipe"


def test_the_parent_death_signal_is_linux_only(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert launcher.die_with_parent_signal() is False


def test_without_a_view_of_threads_idle_means_a_quiet_pipe(chapter_pair, monkeypatch):
    monkeypatch.setattr(programs, "threads_asleep", lambda pid: None)  # as on macOS, Windows
    run_program("reverse_client.py", chapter_pair.port)
    assert chapter_pair.output().text.count("Отправлено") == 1


def test_the_watchdog_calls_back_when_the_kernels_pipe_ends() -> None:
    read_end, write_end = os.pipe()
    called: list[bool] = []
    thread = launcher.watch_parent(read_end, lambda: called.append(True))
    os.close(write_end)
    thread.join(10)
    os.close(read_end)
    assert called == [True]


def test_tracebacks_keep_the_chain_but_only_the_programs_frames(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        try:
            {}["missing"]
        except KeyError as error:
            raise ValueError("bad") from error
        """
    )
    path = tmp_path / "chain.py"
    path.write_text(source, encoding="utf-8")
    read_end, write_end = os.pipe()  # the kernel's pipe: held open while it runs
    try:
        result = subprocess.run(
            [sys.executable, "-m", "helpers.run.launcher", str(path)],
            capture_output=True,
            text=True,
            stdin=read_end,
            env={**os.environ, launcher.PARENT_DEATH: "pipe"},
            cwd=ROOT,
            start_new_session=True,
            timeout=60,
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.returncode == 1
    assert "KeyError: 'missing'" in result.stderr and "ValueError: bad" in result.stderr
    assert "direct cause" in result.stderr
    assert result.stderr.count('File "chain.py"') == 2


def test_a_port_taken_between_the_look_and_the_bind_falls_back(capsys, monkeypatch) -> None:
    save_program("reverse_server.py", CHAPTER_SERVER)
    capsys.readouterr()
    with socket.create_server(("127.0.0.1", 0)) as holder:
        raced = holder.getsockname()[1]
        # As if the port were free when looked at, and another kernel bound it just after.
        monkeypatch.setattr(programs.Program, "_choose_port", lambda self: (raced, None))
        server = start_program("reverse_server.py", port=raced)
        try:
            assert capsys.readouterr().out == (
                f"reverse_server program on 127.0.0.1:{server.port} ({raced} was busy)\n"
            )
            assert server.output().text == f"Слушаю порт {server.port}\n"  # the retry's only
        finally:
            server.stop()
