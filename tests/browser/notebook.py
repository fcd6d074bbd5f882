"""Run one notebook in JupyterLab the way a student does, and check what the page shows.

The steps: open the notebook, click a cell (Run All is flaky without focus),
Run > Run All Cells from the menu, see the prompts turn to ``[*]`` or numbers,
wait until the kernel is idle and nothing is queued, then check:

- every non-empty code cell has an execution count (Run All did not stop early);
- no cell has an error output unless it is tagged ``raises-exception``;
- every widget output is drawn as a widget (``.jupyter-widgets`` in its DOM),
  not as its text fallback or "Error displaying widget";
- the widgets respond: each cell's ``browser_check`` metadata is carried out
  (see ``Interaction``); a notebook with widgets and no declared check gets
  the generic one: its buttons, sliders and dropdowns are used one at a time
  until one changes the text of its cell's output without showing an error.

What the kernel produced is read from the notebook model in the page
(``window.jupyterapp``, exposed by the server's ``expose_app_in_browser``), what
the student sees from the DOM of each cell: an error and a stderr print look
alike on screen, but only the model tells them apart.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .lab import JupyterLab

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

OPEN_TIMEOUT = 90.0
RENDER_TIMEOUT = 30.0
INTERACTION_TIMEOUT = 15.0
# The generic check tries controls that may rightly do nothing (Refresh with
# nothing new): a short wait each, since every cell's work stays under 2 s.
GENERIC_CHANGE_TIMEOUT = 4.0
POLL = 0.25
VIEWPORT = {"width": 1400, "height": 1000}
# A widget reporting a failure names the exception: a change that adds such a
# line is the widget failing, not working.
_ERROR_LINE = re.compile(r"\b[A-Z]\w*(Error|Exception|Refused)\b")

# One snapshot of the notebook: per cell its model (type, source emptiness,
# tags, metadata, execution count, outputs) and its DOM (prompt text, whether
# each output is drawn as a widget, and the visible text of the output area).
_SNAPSHOT_JS = (
    """
(path) => {
  // The output's text as shown, less prompts and slider readouts: a readout
  // changes in the page alone, so it must not count as the kernel's answer.
  const visibleText = (area) => {
    if (!area) return '';
    const copy = area.cloneNode(true);
    copy.querySelectorAll('.widget-readout, .jp-OutputPrompt').forEach(e => e.remove());
    copy.style.cssText = 'position: absolute; left: -100000px; top: 0; width: 1200px';
    document.body.appendChild(copy);
    const text = copy.innerText;
    copy.remove();
    return text;
  };
  const app = window.jupyterapp;
  if (!app) return {error: 'window.jupyterapp is missing (expose_app_in_browser off?)'};
  const panel = Array.from(app.shell.widgets('main')).find(
    w => w.context && w.context.path === path);
  if (!panel) return {error: 'no open notebook ' + path};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.map((cell, index) => {
    const json = cell.model.toJSON();
    const source = Array.isArray(json.source) ? json.source.join('') : json.source;
    const out = {
      index, type: json.cell_type, empty: source.trim() === '',
      head: source.split('\\n')[0].slice(0, 80),
      tags: (json.metadata && json.metadata.tags) || [],
      check: (json.metadata && json.metadata.browser_check) || null,
      count: json.execution_count === undefined ? null : json.execution_count,
      prompt: '', outputs: [], text: '',
    };
    if (json.cell_type !== 'code') return out;
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    out.prompt = prompt ? prompt.textContent.trim() : '';
    const children = cell.outputArea ? cell.outputArea.widgets : [];
    out.outputs = (json.outputs || []).map((o, j) => {
      const node = children[j] ? children[j].node : null;
      const text = node ? node.textContent : '';
      return {
        type: o.output_type, ename: o.ename || '', evalue: o.evalue || '',
        widget: !!(o.data && o.data['"""
    + WIDGET_MIME
    + """']),
        drawn: !!(node && node.querySelector('.jupyter-widgets')),
        broken: /Error displaying widget|Loading widget/.test(text),
        text: text.slice(0, 200),
      };
    });
    out.text = visibleText(cell.node.querySelector('.jp-OutputArea'));
    return out;
  });
  return {kernel: kernel ? kernel.status : 'none', cells};
}
"""
)


class NotebookCheckError(AssertionError):
    """A notebook misbehaved in the browser; the message names the notebook and the cell.

    ``run`` holds the times measured up to the failure (for the benchmark).
    """

    run: NotebookRun | None = None


@dataclass
class NotebookRun:
    """What happened to one notebook, with the times a benchmark prints."""

    name: str
    open_seconds: float = 0.0
    run_seconds: float = 0.0
    total_seconds: float = 0.0
    code_cells: int = 0
    widget_outputs: int = 0
    interactions: list[str] = field(default_factory=list)
    screenshot: Path | None = None


@dataclass
class Interaction:
    """A check a notebook declares in a code cell's metadata under ``browser_check``.

    Every key is optional except ``expect_text``; the steps run in this order
    inside that cell's output area, then ``expect_text`` must appear in the
    output's visible text (it must not be there before the steps, so the
    check cannot pass by doing nothing)::

        "browser_check": {
            "fill": {"Message": "ПАЛИНДРОМ"},   # text box (by its label or placeholder) -> text
            "select": {"Layer": "Transport"},   # dropdown (by its label) -> option
            "slide": {"seed": 1},               # slider (by its label) -> steps, < 0 to the left
            "click": "Send",                    # button or toggle button, by its text
            "press": "Enter",                   # a key, sent to the last filled box
            "expect_text": "МОРДНИЛАП"
        }

    Labels match a widget's description with or without a trailing colon.
    The value may also be a list of such objects, carried out one after another.
    """

    fill: dict[str, str] = field(default_factory=dict)
    select: dict[str, str] = field(default_factory=dict)
    slide: dict[str, int] = field(default_factory=dict)
    click: str | None = None
    press: str | None = None
    expect_text: str = ""

    KEYS = frozenset({"fill", "select", "slide", "click", "press", "expect_text"})

    @classmethod
    def parse(cls, raw: Any) -> list[Interaction]:
        items = raw if isinstance(raw, list) else [raw]
        result = []
        for item in items:
            if not isinstance(item, dict) or not item.get("expect_text"):
                raise ValueError(f"browser_check needs an object with 'expect_text', got {item!r}")
            unknown = set(item) - cls.KEYS
            if unknown:
                raise ValueError(f"browser_check has unknown keys {sorted(unknown)}")
            result.append(
                cls(
                    fill=dict(item.get("fill", {})),
                    select=dict(item.get("select", {})),
                    slide={k: int(v) for k, v in item.get("slide", {}).items()},
                    click=item.get("click"),
                    press=item.get("press"),
                    expect_text=str(item["expect_text"]),
                )
            )
        return result

    def describe(self) -> str:
        steps = [f"fill {k!r}={v!r}" for k, v in self.fill.items()]
        steps += [f"select {k!r}={v!r}" for k, v in self.select.items()]
        steps += [f"slide {k!r} by {v}" for k, v in self.slide.items()]
        if self.click:
            steps.append(f"click {self.click!r}")
        if self.press:
            steps.append(f"press {self.press}")
        return ", ".join(steps) + f" -> {self.expect_text!r}"


def _cell_label(cell: dict[str, Any]) -> str:
    return f"cell {cell['index']} ({cell['head']!r})"


class NotebookDriver:
    """Drives one page of JupyterLab through one notebook; raise NotebookCheckError on failure."""

    def __init__(self, lab: JupyterLab, page: Any, name: str) -> None:
        self.lab = lab
        self.page = page
        self.name = name
        self.path = f"{lab.notebooks_dir.name}/{name}"
        self.page_errors: list[str] = []
        self.last_used: int | None = None  # the cell whose widgets were used last (screenshot)
        self.rejected: list[str] = []  # generic uses whose change was an error message
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    # ---- helpers ----------------------------------------------------------
    def fail(self, message: str) -> NotebookCheckError:
        extra = ""
        if self.page_errors:
            extra = "\nerrors in the page:\n  " + "\n  ".join(self.page_errors[-5:])
        return NotebookCheckError(f"{self.name}: {message}{extra}")

    def snapshot(self) -> dict[str, Any]:
        snap = self.page.evaluate(_SNAPSHOT_JS, self.path)
        if "error" in snap:
            raise self.fail(snap["error"])
        return snap

    def code_cells(self, snap: dict[str, Any]) -> list[dict[str, Any]]:
        return [c for c in snap["cells"] if c["type"] == "code"]

    def cell_locator(self, index: int) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(
            index
        )

    # ---- steps ------------------------------------------------------------
    def open(self, workspace: str) -> None:
        self.page.goto(self.lab.url(self.name, workspace), timeout=OPEN_TIMEOUT * 1000)
        deadline = time.monotonic() + OPEN_TIMEOUT
        while True:
            ready = self.page.evaluate(
                """(path) => {
                  const app = window.jupyterapp;
                  if (!app) return false;
                  const p = Array.from(app.shell.widgets('main')).find(
                    w => w.context && w.context.path === path);
                  if (!p || !p.context.isReady) return false;
                  const k = p.sessionContext.session && p.sessionContext.session.kernel;
                  return !!k && k.status === 'idle' && p.content.widgets.length > 0;
                }""",
                self.path,
            )
            if ready:
                return
            if time.monotonic() > deadline:
                raise self.fail(
                    f"the notebook or its kernel was not ready within {OPEN_TIMEOUT:.0f} s\n"
                    f"server log:\n{self.lab.log_tail()}"
                )
            time.sleep(POLL)

    def run_all(self) -> None:
        """Run > Run All Cells, after focusing the first cell; retried once if nothing started."""
        snap = self.snapshot()
        runnable = [c for c in self.code_cells(snap) if not c["empty"]]
        if not runnable:
            raise self.fail("has no code to run")
        first = runnable[0]
        for _attempt in range(2):
            # The prompt column selects the cell; its left edge would fold the input away.
            self.cell_locator(0).locator(".jp-InputArea-prompt").first.click(timeout=10_000)
            menu_bar = self.page.locator("#jp-MainMenu li.lm-MenuBar-item")
            menu_bar.filter(has_text=re.compile(r"^Run$")).click(timeout=10_000)
            items = self.page.locator(".lm-Menu:not(.lm-MenuBar) li.lm-Menu-item")
            items.filter(has_text=re.compile(r"^Run All Cells")).click(timeout=10_000)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                cell = self.snapshot()["cells"][first["index"]]
                if re.fullmatch(r"\[(\*|\d+)\]:", cell["prompt"]):
                    return
                time.sleep(POLL)
        raise self.fail(
            f"Run All Cells did not start: the prompt of {_cell_label(first)} "
            f"never showed [*] or a number (it shows {cell['prompt']!r})"
        )

    def wait_finished(self) -> dict[str, Any]:
        """Wait until the kernel is idle and no prompt shows [*], for a short settle time.

        No budget for the whole Run All, which may take as long as its cells
        need on a busy machine: the hang detector is per cell, as in nbval and
        the harness. Run All fails when nothing moves for ``lab.cell_timeout``
        seconds: the same cell still running (the first ``[*]``; the ones after
        it are queued), or the kernel busy or gone with no cell running.
        """
        limit = self.lab.cell_timeout
        quiet_since: float | None = None
        progress: tuple[Any, ...] | None = None
        moved = time.monotonic()
        while True:
            snap = self.snapshot()
            cells = self.code_cells(snap)
            busy = [c for c in cells if c["prompt"] == "[*]:"]
            now = time.monotonic()
            done = sum(c["count"] is not None for c in cells)
            state = (busy[0]["index"] if busy else None, done, snap["kernel"])
            if state != progress:
                progress, moved = state, now
            if snap["kernel"] == "idle" and not busy:
                quiet_since = quiet_since or now
                if now - quiet_since >= 0.75:
                    return snap
            else:
                quiet_since = None
                if now - moved > limit:
                    where = f"{_cell_label(busy[0])} still running" if busy else "no cell running"
                    raise self.fail(
                        f"{where} after {limit:.0f} s without progress, the cell timeout "
                        f"(COURSE_CELL_TIMEOUT); kernel {snap['kernel']}"
                    )
            time.sleep(POLL)

    def check_outputs(self, snap: dict[str, Any]) -> None:
        problems = []
        for cell in self.code_cells(snap):
            allowed = "raises-exception" in cell["tags"]
            for out in cell["outputs"]:
                if out["type"] == "error" and not allowed:
                    problems.append(
                        f"{_cell_label(cell)} raised {out['ename']}: {out['evalue']} "
                        "(catch and print it, or tag the cell raises-exception)"
                    )
        not_run = [c for c in self.code_cells(snap) if not c["empty"] and c["count"] is None]
        if not_run:
            problems.append(
                f"Run All stopped early: {len(not_run)} code cell(s) never ran, "
                f"the first is {_cell_label(not_run[0])}"
            )
        if problems:
            listed = "".join(f"\n  {problem}" for problem in problems)
            raise self.fail(f"{len(problems)} problem(s) after Run All:{listed}")

    def check_offline(self, when: str) -> None:
        entries = self.lab.audit_entries()
        if entries:
            lines = [f"{e.get('event')} {e.get('target')}" for e in entries[:5]]
            raise self.fail(
                f"the kernel reached outside loopback {when} (blocked by the kernel start-up):\n  "
                + "\n  ".join(lines)
            )

    def wait_widgets_drawn(self) -> dict[str, Any]:
        """Every widget output must turn into widget DOM; returns the final snapshot."""
        deadline = time.monotonic() + RENDER_TIMEOUT
        while True:
            snap = self.snapshot()
            pending = [
                (cell, out)
                for cell in self.code_cells(snap)
                for out in cell["outputs"]
                if out["widget"] and (not out["drawn"] or out["broken"])
            ]
            if not pending:
                return snap
            if time.monotonic() > deadline:
                cell, out = pending[0]
                raise self.fail(
                    f"{len(pending)} widget output(s) not drawn as widgets; "
                    f"{_cell_label(cell)} shows {out['text']!r}"
                )
            time.sleep(POLL)

    def wait_text(
        self, index: int, predicate: Any, what: str, timeout: float = INTERACTION_TIMEOUT
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            cell = self.snapshot()["cells"][index]
            if predicate(cell["text"]):
                return cell["text"]
            if time.monotonic() > deadline:
                raise self.fail(
                    f"{_cell_label(cell)}: {what} within {timeout:.0f} s; "
                    f"its output shows {cell['text'][-300:]!r}"
                )
            time.sleep(POLL / 2)

    def interact(self, cell: dict[str, Any], check: Interaction) -> None:
        self.scroll_to_cell(cell["index"])
        area = self.cell_locator(cell["index"]).locator(".jp-OutputArea")
        label = _cell_label(cell)
        if check.expect_text in self.snapshot()["cells"][cell["index"]]["text"]:
            raise self.fail(
                f"{label}: browser_check expects {check.expect_text!r}, "
                "but it is already shown before the interaction"
            )
        from playwright.sync_api import Error as PlaywrightError

        last_box = None
        try:
            for name, value in check.fill.items():
                last_box = _text_box(self.page, area, name)
                last_box.fill(value, timeout=10_000)
            for name, value in check.select.items():
                dropdown = area.locator(".widget-dropdown", has=_label(self.page, name))
                dropdown.locator("select").select_option(label=value, timeout=10_000)
            for name, steps in check.slide.items():
                slider = area.locator(".widget-slider", has=_label(self.page, name))
                _slide(slider.locator("[role=slider]").first, steps)
            if check.click:
                exact = re.compile(rf"^\s*{re.escape(check.click)}\s*$")
                area.locator("button", has_text=exact).first.click(timeout=10_000)
            if check.press:
                (last_box or area).press(check.press, timeout=10_000)
        except PlaywrightError as e:
            first_line = str(e).splitlines()[0]
            raise self.fail(
                f"{label}: browser_check step failed ({check.describe()}): {first_line}\n"
                f"  buttons there: {area.locator('button').all_inner_texts()}\n"
                f"  labels there: {area.locator('.widget-label').all_inner_texts()}"
            ) from e
        self.wait_text(
            cell["index"],
            lambda text: check.expect_text in text,
            f"{check.expect_text!r} did not appear after {check.describe()}",
        )
        self.last_used = cell["index"]

    def interact_generically(self, cell: dict[str, Any]) -> str | None:
        """Use the cell's controls one at a time; the first that changes its output wins.

        In turn: each plain button (clicked), each slider (one step right),
        each dropdown (its next option). Readouts and input boxes do not count
        as a change: only what the kernel writes back does.
        """
        self.scroll_to_cell(cell["index"])
        area = self.cell_locator(cell["index"]).locator(".jp-OutputArea")
        controls = [
            ("click", area.locator("button.widget-button:not(.widget-toggle-button)")),
            ("slide", area.locator(".widget-slider [role=slider]")),
            ("select", area.locator(".widget-dropdown select")),
        ]
        for action, found in controls:
            for i in range(found.count()):
                control = found.nth(i)
                if not control.is_enabled():
                    continue
                before = self.snapshot()["cells"][cell["index"]]["text"]
                if action == "click":
                    what = f"clicked {control.inner_text().strip()!r}"
                    control.click(timeout=10_000)
                elif action == "slide":
                    what = "moved a slider one step"
                    _slide(control, 1)
                else:
                    options = control.locator("option").all_inner_texts()
                    if len(options) < 2:
                        continue
                    current = control.evaluate("e => e.selectedIndex")
                    choice = options[(current + 1) % len(options)]
                    what = f"selected {choice!r}"
                    control.select_option(label=choice, timeout=10_000)
                try:
                    after = self.wait_text(
                        cell["index"],
                        lambda text, b=before: text != b,
                        "no change",
                        timeout=GENERIC_CHANGE_TIMEOUT,
                    )
                except NotebookCheckError:
                    continue
                new_errors = _errors(after)[len(_errors(before)) :]
                if new_errors:
                    shown = f"{_cell_label(cell)}: {what}, it showed {new_errors[0]!r}"
                    self.rejected.append(shown)
                    continue
                self.last_used = cell["index"]
                return f"{_cell_label(cell)}: {what}, output changed"
        return None

    def interactions(self, snap: dict[str, Any]) -> list[str]:
        done = []
        declared = [c for c in self.code_cells(snap) if c["check"]]
        for cell in declared:
            try:
                checks = Interaction.parse(cell["check"])
            except ValueError as e:
                raise self.fail(f"{_cell_label(cell)}: {e}") from e
            for check in checks:
                self.interact(cell, check)
                done.append(f"{_cell_label(cell)}: {check.describe()}")
        with_widgets = [c for c in self.code_cells(snap) if any(o["widget"] for o in c["outputs"])]
        if declared or not with_widgets:
            return done
        for cell in with_widgets:
            result = self.interact_generically(cell)
            if result:
                return [result]
        shown = "".join(f"\n  {line}" for line in self.rejected)
        raise self.fail(
            "has widgets but no declared browser_check, and no button, slider or dropdown "
            "changed an output without an error: declare one in the widget cell's metadata "
            f"(see tests/browser/notebook.py){shown}"
        )

    def scroll_to_cell(self, index: int) -> None:
        """Bring a cell to the top through the notebook's own scrolling, then let it paint.

        The notebook draws off-screen cells lazily (its windowing): a plain
        scrollIntoView can leave a screenshot blank.
        """
        self.page.evaluate(
            """async ([path, index]) => {
              const p = Array.from(window.jupyterapp.shell.widgets('main')).find(
                w => w.context && w.context.path === path);
              await p.content.scrollToItem(index, 'start');
              for (let i = 0; i < 3; i++) await new Promise(r => requestAnimationFrame(r));
            }""",
            [self.path, index],
        )

    def screenshot(self, folder: Path, focus: int | None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.scroll_to_cell(focus if focus is not None else 0)
        path = folder / (Path(self.name).stem + ".png")
        self.page.screenshot(path=str(path), timeout=30_000)
        return path


def _errors(text: str) -> list[str]:
    """Lines naming an exception ("ConnectionRefusedError: ..."), in order."""
    return [line.strip() for line in text.splitlines() if _ERROR_LINE.search(line)]


def _slide(handle: Any, steps: int) -> None:
    """Move a slider by keyboard, as a student can: focus its handle, press arrows."""
    handle.focus(timeout=10_000)
    key = "ArrowRight" if steps > 0 else "ArrowLeft"
    for _ in range(abs(steps)):
        handle.press(key, timeout=10_000)


def _label(page: Any, name: str) -> Any:
    """A widget's description label, with or without its colon; relative, for ``has=``."""
    name = re.escape(name.strip().rstrip(":"))
    return page.locator(".widget-label", has_text=re.compile(rf"^\s*{name}\s*:?\s*$"))


def _text_box(page: Any, area: Any, name: str) -> Any:
    """A Text or Textarea widget's box, found by its description label or placeholder."""
    boxes = area.locator(".widget-text, .widget-textarea, .widget-password")
    by_label = boxes.filter(has=_label(page, name)).locator("input, textarea")
    by_placeholder = area.locator(f"input[placeholder={name!r}], textarea[placeholder={name!r}]")
    return by_label.or_(by_placeholder).first


def check_notebook(
    lab: JupyterLab, context: Any, name: str, screenshots: Path | None = None
) -> NotebookRun:
    """Open, run and check one notebook in a new page of ``context`` (a Playwright
    BrowserContext); its kernel is shut down afterwards."""
    run = NotebookRun(name=name)
    started = time.monotonic()
    page = context.new_page()
    page.set_default_timeout(30_000)
    driver = NotebookDriver(lab, page, name)
    try:
        driver.open(workspace="check-" + re.sub(r"\W", "-", Path(name).stem))
        run.open_seconds = time.monotonic() - started
        run_started = time.monotonic()
        driver.run_all()
        snap = driver.wait_finished()
        run.run_seconds = time.monotonic() - run_started
        driver.check_offline("while running")
        driver.check_outputs(snap)
        snap = driver.wait_widgets_drawn()
        code = driver.code_cells(snap)
        run.code_cells = len(code)
        run.widget_outputs = sum(o["widget"] for c in code for o in c["outputs"])
        run.interactions = driver.interactions(snap)
        driver.check_offline("while its widgets were used")
        if screenshots is not None:
            run.screenshot = driver.screenshot(screenshots, driver.last_used)
    except NotebookCheckError as e:
        e.run = run
        if screenshots is not None:
            try:
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots / (Path(name).stem + "-FAILED.png")))
            except Exception:  # noqa: BLE001 - the original failure matters more
                pass
        raise
    finally:
        page.close()
        lab.shutdown_kernels()
        run.total_seconds = time.monotonic() - started
    return run
