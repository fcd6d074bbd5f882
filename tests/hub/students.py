"""One student of the class, in a thread of their own, driving their own browser context.

Playwright's synchronous API belongs to the thread that started it, so each
student gets a thread with its own Playwright, browser and context (one
context per student: cookies, and so logins, never mix). The test hands each
student a step at a time (``Student.do``) and waits for all of them, so five
students run the same step at the same time, as a class does.

A notebook is run and checked by the browser test's own driver
(tests/browser/notebook.py): click a cell, Run > Run All Cells, wait on the
kernel and the prompts, then no error outputs and every widget drawn.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from browser import chromium
from browser.notebook import POLL, VIEWPORT, NotebookDriver

from .classhub import ClassHub

T = TypeVar("T")

# Hang detectors, generous for five students starting at once on a busy two-core machine:
# a server start (the shipped spawner's own limit), and a page with JupyterLab and a kernel.
SPAWN_LIMIT = 300.0
OPEN_LIMIT = 300.0

# The kernel of an open notebook runs ``code`` for a probe; its printed text comes back.
_EXECUTE_JS = """
async ([path, code]) => {
  const panel = Array.from(window.jupyterapp.shell.widgets('main')).find(
    w => w.context && w.context.path === path);
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false});
  let text = '';
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') text += msg.content.text;
    if (t === 'error') text += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue + '\\n';
  };
  await future.done;
  return text;
}
"""

_READY_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app) return false;
  const p = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path);
  if (!p || !p.context.isReady) return false;
  const k = p.sessionContext.session && p.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && p.content.widgets.length > 0;
}
"""


class StudentLab:
    """What NotebookDriver needs of a JupyterLab, for one student's server behind the hub."""

    def __init__(self, hub: ClassHub, user: str, folder: str, cell_timeout: float) -> None:
        self.hub = hub
        self.user = user
        self.folder = folder  # the notebooks' folder, relative to the student's home
        self.notebooks_dir = Path(folder)
        self.cell_timeout = cell_timeout

    def url(self, notebook: str, workspace: str) -> str:
        tree = f"lab/workspaces/{workspace}/tree/{self.folder}/{notebook}"
        return f"{self.hub.url}/user/{self.user}/{tree}"

    def log_tail(self, lines: int = 40) -> str:
        return self.hub.log_tail(lines)


@dataclass
class Figures:
    """What one student's run measured (printed by the test, never asserted)."""

    link_to_lab: float = 0.0  # from opening the class link to the notebook's kernel idle
    run_all: dict[str, float] = field(default_factory=dict)


class Student:
    """A student: a name, a thread, a browser context, and the pages of their notebooks."""

    def __init__(self, user: str, hub: ClassHub, folder: str, cell_timeout: float) -> None:
        self.user = user
        self.hub = hub
        self.lab = StudentLab(hub, user, folder, cell_timeout)
        self.figures = Figures()
        self.drivers: dict[str, NotebookDriver] = {}
        self._failure: BaseException | None = None  # the browser could not start
        self._lock = threading.Lock()
        self._steps: queue.Queue[tuple[Callable[[Student], Any], Future[Any]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._serve, name=f"student-{user}", daemon=True)
        self._thread.start()

    # ---- the thread ---------------------------------------------------------------------------
    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = chromium.launch(playwright)
                try:
                    self.context = browser.new_context(viewport=VIEWPORT)
                    while (item := self._steps.get()) is not None:
                        step, future = item
                        if future.set_running_or_notify_cancel():
                            try:
                                future.set_result(step(self))
                            except BaseException as error:  # noqa: BLE001 - for the test
                                future.set_exception(error)
                finally:
                    browser.close()
        except BaseException as error:  # noqa: BLE001 - no browser: every step fails with it
            with self._lock:
                self._failure = error
                while not self._steps.empty():
                    item = self._steps.get_nowait()
                    if item is not None:
                        item[1].set_exception(error)

    def do(self, step: Callable[[Student], T]) -> Future[T]:
        """Run ``step(self)`` in this student's thread; the future holds its result."""
        future: Future[T] = Future()
        with self._lock:
            if self._failure is not None:
                future.set_exception(self._failure)
            else:
                self._steps.put((step, future))
        return future

    def close(self, timeout: float = 60.0) -> None:
        self._steps.put(None)
        self._thread.join(timeout)

    # ---- steps (run in the student's thread) --------------------------------------------------
    def path(self, notebook: str) -> str:
        return f"{self.lab.folder}/{notebook}"

    def driver(self, notebook: str, page: Any) -> NotebookDriver:
        driver = NotebookDriver(self.lab, page, notebook)
        driver.path = self.path(notebook)  # the notebook as the student's server names it
        self.drivers[notebook] = driver
        return driver

    def follow_link(self, link: str, notebook: str) -> None:
        """Open the teacher's link, log in when asked, wait for the notebook it opens.

        The hub starts the server, nbgitpuller pulls the course into the
        student's home, and JupyterLab opens ``notebook`` with a kernel.
        """
        started = time.monotonic()
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        page.goto(link, timeout=OPEN_LIMIT * 1000)
        page.fill("#username_input", self.user)
        page.fill("#password_input", self.hub.password)
        page.click("#login_submit")
        page.wait_for_url(
            re.compile(rf"/user/{re.escape(self.user)}/lab/"), timeout=SPAWN_LIMIT * 1000
        )
        self._wait_ready(self.driver(notebook, page))
        self.figures.link_to_lab = time.monotonic() - started

    def open_notebook(self, notebook: str) -> None:
        """Open another notebook of the pulled course in a page (and a workspace) of its own."""
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        driver = self.driver(notebook, page)
        page.goto(self.lab.url(notebook, f"hub-{Path(notebook).stem}"), timeout=OPEN_LIMIT * 1000)
        self._wait_ready(driver)

    def _wait_ready(self, driver: NotebookDriver) -> None:
        deadline = time.monotonic() + OPEN_LIMIT
        while not driver.page.evaluate(_READY_JS, driver.path):
            if time.monotonic() > deadline:
                raise driver.fail(f"not open with an idle kernel within {OPEN_LIMIT:.0f} s")
            time.sleep(POLL)

    def run_all(self, notebook: str) -> float:
        """Run All as the student does; fails on an error output or a widget not drawn."""
        driver = self.drivers[notebook]
        started = time.monotonic()
        driver.run_all()
        snap = driver.wait_finished()
        seconds = time.monotonic() - started
        driver.check_outputs(snap)
        driver.wait_widgets_drawn()
        self.figures.run_all[notebook] = seconds
        return seconds

    def execute(self, notebook: str, code: str) -> str:
        """Run ``code`` in the kernel of an open notebook; its printed text."""
        driver = self.drivers[notebook]
        return driver.page.evaluate(_EXECUTE_JS, [driver.path, code])

    def probe(self, notebook: str, code: str) -> dict[str, Any]:
        """Run ``code``, which prints one JSON object as its last line, and return the object."""
        text = self.execute(notebook, code)
        if "ERROR " in text or not text.strip():
            raise AssertionError(f"{self.user}: the probe in {notebook} failed:\n{text}")
        return json.loads(text.strip().splitlines()[-1])

    def log_out(self) -> None:
        """Log out of the hub (the shipped configuration then stops the student's server)."""
        for driver in self.drivers.values():
            driver.page.close()
        page = self.context.new_page()
        page.goto(f"{self.hub.url}/hub/logout", timeout=OPEN_LIMIT * 1000)
        page.wait_for_url(re.compile(r"/hub/login"), timeout=OPEN_LIMIT * 1000)
        page.close()
