"""A private JupyterLab server for the browser test: loopback only, token, throwaway dirs.

Why a server of its own: the test must see what a student sees on a fresh
install, not what a developer's ``~/.jupyter`` or ``~/.local`` (a stray
``python3`` kernelspec, an old workspace, news pop-ups) would add. Every
Jupyter and IPython directory therefore points into one temporary folder,
while ``sys.prefix`` stays on the search path, so the prebuilt widgets
labextension (``<venv>/share/jupyter/labextensions``) is still found.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import nbformat

# Pop-ups that would cover the notebook in a fresh profile.
_DISABLED_EXTENSIONS = {"@jupyterlab/apputils-extension:announcements": True}


def free_port() -> int:
    """Ask the system for a free loopback port (the server retries if it is taken meanwhile)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cleared_copy(src: Path, dst: Path) -> None:
    """Write ``src`` to ``dst`` with every output and execution count removed.

    What the browser then shows can only have come from the kernel it ran in.
    Cell metadata (tags such as ``raises-exception``, ``browser_check``) is kept.
    """
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, dst)


class JupyterLab:
    """One JupyterLab process serving cleared copies of the course's notebooks.

    Use as a context manager; ``url(path)`` gives the address of a notebook
    (relative to the copied folder), ``shutdown_kernels()`` stops every kernel
    the browser started, so each notebook begins in a fresh one. Its kernels
    run ``startup_file`` (the project's kernel start-up, tools/kernel_startup.py)
    before their first cell; ``cell_timeout`` is how long the driver lets one
    cell of a Run All run before it calls the cell hung.
    """

    def __init__(
        self,
        notebooks_dir: Path,
        startup_file: Path,
        cell_timeout: float,
        start_timeout: float = 60.0,
    ) -> None:
        self.notebooks_dir = Path(notebooks_dir)
        self.startup_file = Path(startup_file)
        self.cell_timeout = cell_timeout
        self.start_timeout = start_timeout
        self.token = secrets.token_hex(24)
        self.base: Path | None = None
        self.root: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._audit_offset = 0

    # ---- life cycle -------------------------------------------------------
    def __enter__(self) -> JupyterLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="course-lab-"))
        self.root = self.base / "root"
        self._prepare_dirs()
        self._copy_notebooks()
        self._launch()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.shutdown_kernels()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    # ---- set-up -----------------------------------------------------------
    def _dir(self, name: str) -> Path:
        assert self.base is not None
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _prepare_dirs(self) -> None:
        config = self._dir("config")
        (config / "labconfig").mkdir()
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": _DISABLED_EXTENSIONS}), encoding="utf-8"
        )
        # Language servers and terminals are not part of the course: not starting
        # them saves CPU on a shared two-core machine.
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {"jupyter_lsp": False},
                        "terminals_enabled": False,
                    }
                }
            ),
            encoding="utf-8",
        )
        self._dir("data")
        self._dir("runtime")
        startup = self._dir("ipython") / "profile_default" / "startup"
        startup.mkdir(parents=True)
        shutil.copyfile(self.startup_file, startup / f"00-{self.startup_file.name}")

    def _copy_notebooks(self) -> None:
        """Copy the whole notebooks folder (pictures and data files travel along)."""
        assert self.root is not None
        dst = self.root / self.notebooks_dir.name
        shutil.copytree(
            self.notebooks_dir, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
        )
        for nb in dst.glob("*.ipynb"):
            cleared_copy(nb, nb)

    def env(self) -> dict[str, str]:
        assert self.base is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PLATFORM_DIRS"}
        }
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            IPYTHONDIR=str(self.base / "ipython"),
            # Where the kernel start-up's audit hook records any address outside
            # loopback (it blocks them either way); read back by audit_entries().
            COURSE_NETAUDIT_LOG=str(self.base / "netaudit.jsonl"),
            COURSE_PROGRAM_STARTUP=str(self.startup_file),
            PYTHONUNBUFFERED="1",
        )
        return env

    def audit_entries(self) -> list[dict[str, Any]]:
        """What the kernels' audit hook recorded since the last call (empty: stayed on loopback)."""
        assert self.base is not None
        path = self.base / "netaudit.jsonl"
        if not path.exists():
            return []
        with path.open("rb") as f:
            f.seek(self._audit_offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._audit_offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _launch(self) -> None:
        assert self.base is not None and self.root is not None
        self._log_file = open(self.base / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={free_port()}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                # The PyPI-backed extension manager would query the network.
                "--LabApp.extension_manager=readonly",
                # CI and containers run as root; Jupyter refuses that unless told.
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            ],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_timeout
        info = self.base / "runtime" / f"jpserver-{self.proc.pid}.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            if info.exists():
                try:
                    self.port = int(json.loads(info.read_text(encoding="utf-8"))["port"])
                except (ValueError, KeyError):
                    pass  # written but not yet complete
                else:
                    try:
                        self.api("GET", "/api/status", timeout=2)
                        return
                    except OSError:
                        pass
            time.sleep(0.2)
        raise RuntimeError(
            f"JupyterLab did not answer within {self.start_timeout:.0f} s:\n{self.log_tail()}"
        )

    # ---- use --------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        if self.base is None or not (self.base / "server.log").exists():
            return ""
        text = (self.base / "server.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, notebook: str, workspace: str) -> str:
        """Address of a notebook in its own workspace.

        A workspace per notebook: a shared one would reopen the previous
        notebook's tab, and with it start a kernel for it again.
        """
        path = urllib.parse.quote(f"{self.notebooks_dir.name}/{notebook}")
        tree = f"/lab/workspaces/{urllib.parse.quote(workspace, safe='')}/tree/{path}"
        return f"{self.origin}{tree}?token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        req = urllib.request.Request(
            self.origin + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every session and kernel, so the next notebook starts from nothing."""
        for session in self.api("GET", "/api/sessions"):
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=15)
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
        for kernel in self.api("GET", "/api/kernels"):
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=15)
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise
