"""Binder builds a working course: binder/ holds the lock, netbase and a postBuild that installs it.

repo2docker installs binder/requirements.txt, the packages of binder/apt.txt,
the Python of binder/runtime.txt, then runs binder/postBuild in the
repository. The last test runs that postBuild, unchanged, in a fresh virtual
environment over a copy of the course's package, and imports ``helpers``
from another folder. The test runs offline (a loopback-only namespace): the
lock's packages, which repo2docker would download, are taken from the
environment the tests run in, put on the fresh environment's path without its
own install of the course; everything the postBuild itself does is real.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


def requirement_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_binder_installs_the_lock_itself():
    assert requirement_lines(BINDER / "requirements.txt") == ["-r ../requirements.txt"]
    lock = (BINDER / ".." / "requirements.txt").resolve()
    assert lock == REPO / "requirements.txt"
    assert "uv pip compile --universal" in lock.read_text(encoding="utf-8")


def test_binder_has_the_services_database_and_the_locks_python():
    assert "netbase" in requirement_lines(BINDER / "apt.txt")  # /etc/services: getservbyname
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    version = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert version, runtime
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    oldest = re.fullmatch(r">=(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert oldest and tuple(map(int, version.groups())) >= tuple(map(int, oldest.groups()))
    assert "--python-version 3.11" in (REPO / "Makefile").read_text(encoding="utf-8")


def test_postbuild_installs_the_course_in_a_fresh_environment(tmp_path):
    # The repository as repo2docker sees it (only what building the package reads).
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, repo / name)
    for folder in ("helpers", "binder"):
        shutil.copytree(REPO / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))

    # A fresh environment, without pip or setuptools of its own: the lock's come from the path.
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A plain path line: the .pth files there (the tests' own install of the course) stay unread.
    Path(fresh_site, "lock-packages.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )

    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    build = subprocess.run(
        ["bash", str(repo / "binder" / "postBuild")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import helpers, helpers.wire.text as t; print(helpers.__file__); "
            "print(t.reverse_text('ПАЛИНДРОМ'))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    where, reversed_word = check.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(repo), where
    assert reversed_word == "МОРДНИЛАП"
