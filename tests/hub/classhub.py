"""The class hub of deploy/, started for a test, and the course repository its students pull.

The hub is started the way the README starts it, by ``deploy/hub.sh``, with
the shipped configuration plus the test overlay
(deploy/jupyterhub_config_test.py), on free loopback ports given on the
command line, with its state in a temporary folder. Students' homes are made
before they log in, holding what a student's own Jupyter settings would: the
app exposed to the page (the browser checks read the notebook model), no
announcements pop-up, no language servers or terminals, and the project's
kernel start-up (tools/kernel_startup.py), so their kernels run under the same
audit as every kernel the project starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from browser.lab import cleared_copy, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROXY = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_SCRIPT = DEPLOY / "hub.sh"
TEST_CONFIG = DEPLOY / "jupyterhub_config_test.py"


def missing_reason() -> str | None:
    """Why a hub cannot start here (no Node.js, or its proxy not installed), or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed: the hub's proxy (configurable-http-proxy) needs it"
    if not PROXY.exists() and shutil.which("configurable-http-proxy") is None:
        return "the hub's proxy is not installed: run make hub-install (npm ci in deploy/)"
    if shutil.which("git") is None:
        return "git is not installed: nbgitpuller needs it to give students the course"
    return None


def course_repository(folder: Path, notebooks: Path) -> Path:
    """A git repository ``folder/course`` holding the notebooks with their outputs cleared.

    What the students pull with nbgitpuller: the course as the teacher
    publishes it, with every output removed, so what a student's browser
    shows can only come from the student's own kernel.
    """
    repo = folder / "course"
    target = repo / "notebooks"
    shutil.copytree(notebooks, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for nb in target.glob("*.ipynb"):
        cleared_copy(nb, nb)
    git = ["git", "-C", str(repo), "-c", "user.name=teacher", "-c", "user.email=teacher@course"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the course"], check=True)
    return repo


def pull_link(hub_url: str, repo_url: str, notebook_path: str, branch: str = "main") -> str:
    """The nbgitpuller link a teacher sends: log in, start the server, pull, open a notebook.

    ``notebook_path`` is relative to the student's home, beginning with the
    repository's folder name (nbgitpuller clones into it).
    """
    query = urllib.parse.urlencode(
        {"repo": repo_url, "urlpath": f"lab/tree/{notebook_path}", "branch": branch}
    )
    return f"{hub_url}/hub/user-redirect/git-pull?{query}"


def prepare_home(home: Path, startup_file: Path) -> None:
    """A student's home before their first login, with the settings a browser check needs."""
    config = home / ".jupyter"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}),
        encoding="utf-8",
    )
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {"expose_app_in_browser": True},
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_lsp": False},
                    "terminals_enabled": False,
                },
            }
        ),
        encoding="utf-8",
    )
    startup = home / ".ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(startup_file, startup / f"00-{startup_file.name}")


class ClassHub:
    """The hub of deploy/ on 127.0.0.1, for one test; a context manager.

    ``url`` is the proxy's address (what students open), ``api_url`` the
    hub's own API as its spawned servers know it, ``password`` the test
    login's, ``homes`` the folder of the students' homes.
    """

    def __init__(self, base: Path, start_timeout: float = 120.0) -> None:
        self.base = base
        self.state = base / "state"
        self.homes = self.state / "homes"
        self.start_timeout = start_timeout
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    def command(self) -> list[str]:
        return [
            "sh",
            str(HUB_SCRIPT),
            f"--JupyterHub.bind_url={self.url}",
            f"--JupyterHub.hub_port={self.hub_port}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.proxy_api_port}",
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            COURSE_ENV=sys.prefix,
            COURSE_HUB_STATE=str(self.state),
            COURSE_HUB_CONFIG=str(TEST_CONFIG),
            COURSE_HUB_TEST_PASSWORD=self.password,
        )
        return env

    def __enter__(self) -> ClassHub:
        self.homes.mkdir(parents=True, exist_ok=True)
        self._log = open(self.base / "hub.log", "wb")  # noqa: SIM115 (closed in __exit__)
        self.proc = subprocess.Popen(
            self.command(),
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the hub and its proxy: one group to end at the close
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"the hub exited with {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/hub/api/", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the hub did not answer within {self.start_timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the hub stops its servers, services and proxy
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        path = self.base / "hub.log"
        if not path.exists():
            return ""
        text = path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
