"""A class on the course's JupyterHub: five students run the same notebooks at the same time.

The hub is the one deploy/ ships, started by the README's command
(``deploy/hub.sh``), with deploy/jupyterhub_config_test.py swapping only the
login (DummyAuthenticator) and the spawner (SimpleLocalProcessSpawner); the
first test checks that nothing else differs. On 127.0.0.1, with five students,
each in a browser context of their own in headless Chromium:

1. each opens the teacher's nbgitpuller link: logs in, the hub starts their
   server, nbgitpuller pulls the course (a local git repository holding the
   notebooks with their outputs cleared) into their home, and JupyterLab opens
   the chapter's-pair notebook;
2. all run it with Run All at the same time, then open the first SMTP
   notebook and run it the same way: no error output, every widget drawn;
3. each student's kernels report the ports of their servers and mail sinks,
   and send one letter, signed with their name, to their own lesson sink and
   to a Maildir sink in their home: every reported port is held by that
   student's own processes, no port by two students, and no sink or Maildir
   holds another student's letter;
4. each logs out (the shipped configuration stops the server on logout), and
   then no process of that student is left.

The shipped idle culler must be running beside them.

Both notebooks are picked through the notebook index (tools/nbindex.py) by
their titles, not by file name. Printed per student, never asserted: the
hub's own spawn time, the time from the link to an idle kernel, Run All per
notebook, and the resident memory of the single-user server, each kernel and
the student's programs. Waits are on events (pages, kernel state, processes),
each with a generous limit; nothing is judged by speed.

Skips on a laptop without Chromium, Node.js (or the proxy: make hub-install)
or git, with the reason; with CI=true it fails instead.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbindex
import pytest
from browser import chromium
from hub import classhub, processes
from hub.classhub import ClassHub, course_repository, prepare_home, pull_link
from hub.students import Student
from reporting import report
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

REPO = Path(__file__).resolve().parents[1]
CLASS = [f"student{n}" for n in range(1, 6)]
STEP_LIMIT = 900.0  # one step of the whole class (a hang detector; each wait inside has its own)
GONE_LIMIT = 120.0  # for a logged-out student's processes to end
PAIR = next(e for e in nbindex.NOTEBOOKS if "chapter's pair" in e.title.lower())
SMTP = next(e for e in nbindex.NOTEBOOKS if "SMTP" in e.title)

PAIR_PROBE = """
import json as _json, os as _os
print(_json.dumps({"reverse": server.port, "program": server.pid, "kernel": _os.getpid()}))
"""
SMTP_PROBE = """
import json as _json, os as _os, smtplib as _smtplib
_me = _os.environ["JUPYTERHUB_USER"]
_box = helpers.start_mail_sink(
    "class-check", maildir=_os.path.join(_os.environ["HOME"], "Maildir"), quiet=True
)
for _port in (sink.port, _box.port):
    with _smtplib.SMTP("127.0.0.1", _port, local_hostname="student.local", timeout=30) as _c:
        _c.sendmail(f"{_me}@class.check", ["rnd@onego.ru"],
                    f"Subject: from {_me}\\r\\n\\r\\nsent by {_me}\\r\\n".encode())
print(_json.dumps({
    "sink": sink.port, "box": _box.port, "kernel": _os.getpid(),
    "letters": len(sink.messages),
    "signed": sorted(m.mail_from for m in sink.messages if m.mail_from.endswith("@class.check")),
}))
"""


# --- the shipped configuration and the test overlay ---------------------------------------------


def load_config(path: Path) -> Config:
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def flatten(config: Config, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in config.items():
        if isinstance(value, Config):
            flat.update(flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


# NativeAuthenticator, imported by the shipped configuration, still asks the locale the old way.
@pytest.mark.filterwarnings("ignore:'locale.getdefaultlocale':DeprecationWarning")
def test_the_test_overlay_swaps_only_the_login_and_the_spawner(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_HUB_STATE", str(tmp_path))
    shipped = flatten(load_config(classhub.DEPLOY / "jupyterhub_config.py"))
    tested = flatten(load_config(classhub.TEST_CONFIG))

    assert shipped[("JupyterHub", "authenticator_class")] == "native"
    assert shipped[("JupyterHub", "spawner_class")] == "systemd"
    assert "dummy" not in repr(shipped).lower() and "simple" not in repr(shipped).lower()
    assert shipped[("JupyterHub", "shutdown_on_logout")] is True
    (culler,) = shipped[("JupyterHub", "services")]
    assert "jupyterhub_idle_culler" in culler["command"]
    for limit in ("mem_limit", "mem_guarantee", "cpu_limit"):
        assert shipped[("Spawner", limit)]

    swapped = {("JupyterHub", "authenticator_class"), ("JupyterHub", "spawner_class")}
    test_sections = {"DummyAuthenticator", "SimpleLocalProcessSpawner"}
    assert tested[("JupyterHub", "authenticator_class")] == "dummy"
    assert tested[("JupyterHub", "spawner_class")] == "simple"
    changed = {key for key in shipped if tested.get(key) != shipped[key]}
    added = {key for key in tested if key not in shipped}
    assert changed == swapped
    assert {key[0] for key in added} <= test_sections
    # The test's spawner passes the shipped server options on, adding only --allow-root.
    passed_on = tested[("SimpleLocalProcessSpawner", "args")]
    assert [a for a in passed_on if a != "--allow-root"] == shipped[("Spawner", "args")]


# --- the class -----------------------------------------------------------------------------------


def together(students: list[Student], step: Callable[[Student], Any], what: str) -> list[Any]:
    """Every student does ``step`` at the same time; fails naming each student who failed."""
    futures = [student.do(step) for student in students]
    results, failures = [], []
    for student, future in zip(students, futures, strict=True):
        try:
            results.append(future.result(timeout=STEP_LIMIT))
        except Exception as error:  # noqa: BLE001 - reported per student below
            results.append(None)
            failures.append(f"{student.user}: {type(error).__name__}: {error}")
    if failures:
        pytest.fail(f"{what} failed for {len(failures)} student(s):\n" + "\n".join(failures))
    return results


def wait_gone(hub: ClassHub, user: str) -> list[str]:
    """Wait until no process of ``user`` is left; what is still there after GONE_LIMIT."""
    deadline = time.monotonic() + GONE_LIMIT
    while True:
        left = processes.by_student([user], hub.api_url)[user].all
        if not left or time.monotonic() > deadline:
            return [f"{p.pid} {' '.join(p.cmdline())[:100]}" for p in left if p.is_running()]
        time.sleep(0.5)


def maildir_senders(home: Path) -> list[str]:
    """The 'sent by ...' line of every letter in the student's Maildir, read from disk."""
    box = home / "Maildir"
    files = [f for sub in ("new", "cur") for f in (box / sub).glob("*") if f.is_file()]
    found = []
    for letter in files:
        match = re.search(rb"sent by (\S+)", letter.read_bytes())
        found.append(match.group(1).decode() if match else f"(unsigned: {letter.name})")
    return sorted(found)


def spawn_seconds(hub: ClassHub) -> dict[str, float]:
    """The hub's own figure per student: 'User NAME took S seconds to start'."""
    text = (hub.base / "hub.log").read_text(encoding="utf-8", errors="replace")
    return {m[1]: float(m[2]) for m in re.finditer(r"User (\S+) took ([\d.]+) seconds", text)}


@pytest.fixture
def class_hub(tmp_path: Path):
    reasons = [r for r in (chromium.missing_reason(), classhub.missing_reason()) if r]
    if reasons:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the class hub test, but: {'; '.join(reasons)}", pytrace=False)
        pytest.skip("; ".join(reasons))
    with ClassHub(tmp_path / "hub") as hub:
        yield hub
    processes.kill_all(CLASS, hub.api_url)  # only after a failure is anything left


@pytest.mark.browser
@pytest.mark.timeout(1200)  # a hang detector: the class takes about 3 minutes on two cores
def test_a_class_of_five_on_one_hub(class_hub: ClassHub, tmp_path: Path, request) -> None:
    hub = class_hub
    started = time.monotonic()
    course = course_repository(tmp_path / "teacher", REPO / "notebooks")
    link = pull_link(hub.url, course.as_uri(), f"course/notebooks/{PAIR.filename}")
    for user in CLASS:
        prepare_home(hub.homes / user, REPO / "tools" / "kernel_startup.py")
    cell_timeout = float(os.environ.get("COURSE_CELL_TIMEOUT", "60"))
    students = [Student(user, hub, "course/notebooks", cell_timeout) for user in CLASS]
    try:
        together(students, lambda s: s.follow_link(link, PAIR.filename), "the class link")
        together(students, lambda s: s.run_all(PAIR.filename), f"Run All of {PAIR.label}")
        together(students, lambda s: s.open_notebook(SMTP.filename), f"opening {SMTP.label}")
        together(students, lambda s: s.run_all(SMTP.filename), f"Run All of {SMTP.label}")
        pair = together(students, lambda s: s.probe(PAIR.filename, PAIR_PROBE), "the pair probe")
        mail = together(students, lambda s: s.probe(SMTP.filename, SMTP_PROBE), "the mail probe")

        assert processes.service_running("idle-culler", hub.api_url), "no idle culler"
        seen = processes.by_student(CLASS, hub.api_url)
        owners: dict[int, str] = {}
        rows = []
        for user, p, m in zip(CLASS, pair, mail, strict=True):
            procs = seen[user]
            ports = procs.listening_ports()
            assert procs.server, f"{user}: no single-user server process found"
            # each student's servers listen on ports held by that student's own processes
            assert ports.get(p["reverse"]) == p["program"], f"{user}: reverse server {p}, {ports}"
            for name in ("sink", "box"):
                assert ports.get(m[name]) == m["kernel"], f"{user}: {name} {m}, {ports}"
            for port in ports:
                assert port not in owners, f"port {port} held by {owners.get(port)} and {user}"
                owners[port] = user
            # no sink or Maildir holds another student's letter
            assert m["signed"] == [f"{user}@class.check"], f"{user}'s sink holds {m['signed']}"
            assert maildir_senders(hub.homes / user) == [user]
            kernels = {k.pid: processes.rss_mb([k]) for k in procs.kernels}
            rows.append(
                (
                    user,
                    processes.rss_mb(procs.server),
                    kernels.get(p["kernel"], 0.0),
                    kernels.get(m["kernel"], 0.0),
                    processes.rss_mb(procs.others),
                    processes.rss_mb(procs.all),
                )
            )
        # the same notebook left the same number of letters in every student's lesson sink
        assert len({m["letters"] for m in mail}) == 1, [m["letters"] for m in mail]
        on_33333 = [user for user, p in zip(CLASS, pair, strict=True) if p["reverse"] == 33333]
        assert len(on_33333) <= 1, on_33333

        together(students, lambda s: s.log_out(), "logging out")
        for user in CLASS:
            assert wait_gone(hub, user) == [], f"{user}'s processes outlived the logout"
    finally:
        for student in students:
            student.close()

    spawn = spawn_seconds(hub)
    lines = [
        f"class hub: {len(CLASS)} students, {PAIR.label} and {SMTP.label} run at once "
        f"({time.monotonic() - started:.0f} s in all)",
        f"  {'student':10} {'spawn s':>7} {'link->lab s':>11} "
        f"{'run all ' + PAIR.number + ' s':>12} {'run all ' + SMTP.number + ' s':>12} "
        f"{'server MB':>9} {'kernel ' + PAIR.number + ' MB':>12} "
        f"{'kernel ' + SMTP.number + ' MB':>12} {'programs MB':>11} {'all MB':>7}",
    ]
    for student, (user, server, k_pair, k_smtp, others, total) in zip(students, rows, strict=True):
        f = student.figures
        lines.append(
            f"  {user:10} {spawn.get(user, float('nan')):7.1f} {f.link_to_lab:11.1f} "
            f"{f.run_all[PAIR.filename]:12.1f} {f.run_all[SMTP.filename]:12.1f} "
            f"{server:9.0f} {k_pair:12.0f} {k_smtp:12.0f} {others:11.0f} {total:7.0f}"
        )
    report(request, lines)
