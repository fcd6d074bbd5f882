"""Exercise checks: one mechanism for every notebook.

An exercise is data: cases, a first hint, and hints for typical mistakes::

    REVERSE = Exercise(
        key="02.reverse",
        title="Reverse a word",
        cases=[Case(("abc",), "cba", "Latin"), Case(("ПАЛИНДРОМ",), "МОРДНИЛАП", "Cyrillic")],
        first_hint="Slicing with a step of -1 reverses a sequence.",
        mistakes=[Mistake("Decode the bytes before reversing them.",
                          lambda case, got: isinstance(got, bytes))],
    )

    def reverse_word(word):
        raise NotImplementedError   # the stored, unsolved state

    helpers.check(REVERSE, reverse_word)    # shows "not solved yet" and the first hint

``check`` never raises: whatever the solution does (returns a wrong value,
raises, loops forever) becomes a ``CheckResult`` that the cell displays.
"""

from __future__ import annotations

import html
import operator
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["check"]

_SHOWN_CHARS = 200
_COLOURS = {"passed": "#2e7d32", "not solved": "#8d6e00"}


@dataclass(frozen=True)
class Case:
    """One call of the solution: ``solution(*args)`` should give ``expected``."""

    args: tuple[Any, ...]
    expected: Any
    label: str = ""


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer and the hint for it.

    ``matches(case, got)`` recognises it; ``got`` is the returned value, or the
    exception the solution raised, so a hint can answer either.
    """

    hint: str
    matches: Callable[[Case, Any], bool]


@dataclass(frozen=True)
class Exercise:
    """An exercise: its cases (a list, or a function making them), hints and rules.

    ``call(solution, case)`` runs a solution its own way (for instance against a
    live local server) and returns what to compare; by default the solution is
    called with ``case.args``. ``time_limit`` is in seconds, per case.
    """

    key: str
    title: str
    cases: Sequence[Case] | Callable[[], Sequence[Case]]
    first_hint: str
    mistakes: Sequence[Mistake] = ()
    compare: Callable[[Any, Any], bool] = operator.eq
    call: Callable[[Callable[..., Any], Case], Any] | None = None
    time_limit: float = 2.0


@dataclass
class CheckResult:
    """What ``check`` found; its repr (text) and HTML show it to the student."""

    exercise: Exercise
    status: str
    details: list[str] = field(default_factory=list)
    hint: str = ""
    case: Case | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def message(self) -> str:
        return "\n".join(self.details + ([f"Hint: {self.hint}"] if self.hint else []))

    def __repr__(self) -> str:
        head = "not solved yet" if self.status == "not solved" else self.status
        return f"{head}: {self.exercise.title}" + (f"\n{self.message}" if self.message else "")

    def _repr_html_(self) -> str:
        colour = _COLOURS.get(self.status, "#c62828")
        head, _, rest = repr(self).partition("\n")
        pre = '<pre style="margin:4px 0 0 0; white-space:pre-wrap">'
        body = f"{pre}{html.escape(rest)}</pre>" if rest else ""
        return (
            f'<div style="border-left:4px solid {colour}; padding:2px 8px">'
            f'<b style="color:{colour}">{html.escape(head)}</b>{body}</div>'
        )


class _TimeLimit(BaseException):
    """Raised by the alarm; BaseException so that ``except Exception`` cannot catch it."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def _describe(solution: Callable[..., Any], case: Case) -> str:
    name = getattr(solution, "__name__", "solution")
    call = f"{name}({', '.join(_shown(a) for a in case.args)})"
    return f"case {case.label!r}: {call}" if case.label else f"case {call}"


REARM = 0.05  # seconds between alarms once the limit has passed
_OWN_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # helpers/


def _run_in_main_thread(work: Callable[[], Any], limit: float) -> Any:
    """Interrupt ``work`` after ``limit`` seconds with SIGALRM, keeping any outer timer.

    A solution may loop around ``try: ... except: pass``, which swallows the
    alarm's exception. So the alarm also traces the solution's frames that are
    running at that moment (not the course's own, whose cleanup must run, and
    not frames called later): at the first line that runs while the alarm's
    exception is being handled, which is the handler's own ``pass``, it is
    raised again, and an exception raised inside an ``except`` clause leaves the
    loop. The alarm repeats every ``REARM`` seconds until the work gives up, and
    work that swallowed an alarm and returned anyway still counts as out of time.
    """
    fired = done = False
    previous_trace = sys.gettrace()

    def raise_again(frame: Any, event: str, arg: Any) -> Any:
        if done or event == "call":
            return None  # a frame called from here on runs untraced
        if event == "line" and isinstance(sys.exc_info()[1], _TimeLimit):
            raise _TimeLimit
        return raise_again

    def on_alarm(signum: int, frame: Any) -> None:
        nonlocal fired
        if done:
            return
        fired = True
        sys.settrace(raise_again)
        while frame is not None and frame.f_code is not _run_in_main_thread.__code__:
            if not frame.f_code.co_filename.startswith(_OWN_CODE):
                frame.f_trace, frame.f_trace_lines = raise_again, True
            frame = frame.f_back
        raise _TimeLimit

    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, limit, REARM)
    try:
        value = work()
        if fired:
            raise _TimeLimit
        return value
    finally:
        done = True  # from here on an alarm or a trace event does nothing
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.settrace(previous_trace)
        finally:  # even if the alarm fired just as the work ended
            signal.signal(signal.SIGALRM, previous)
            if outer_delay:
                remaining = max(outer_delay - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, remaining, outer_interval)


def _run_in_thread(work: Callable[[], Any], limit: float) -> Any:
    """Where SIGALRM is unavailable: run in a daemon thread, abandon it after ``limit``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="helpers-exercise", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise _TimeLimit
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _run_limited(work: Callable[[], Any], limit: float) -> Any:
    if _can_alarm():
        return _run_in_main_thread(work, limit)
    return _run_in_thread(work, limit)


def _hint_for(exercise: Exercise, case: Case, got: Any) -> str:
    for mistake in exercise.mistakes:
        try:
            if mistake.matches(case, got):
                return mistake.hint
        except Exception:  # a matcher that does not fit this answer simply does not match
            continue
    return exercise.first_hint


def _same(exercise: Exercise, got: Any, expected: Any) -> bool:
    try:
        return bool(exercise.compare(got, expected))
    except Exception:
        return False


def _judge(
    exercise: Exercise,
    solution: Callable[..., Any],
    case: Case,
    run: Callable[[Callable[..., Any], Case], Any],
) -> CheckResult | None:
    """Run one case and judge it: None when it passes, else what the student sees."""
    where = _describe(solution, case)
    try:
        got = run(solution, case)
    except NotImplementedError:
        return CheckResult(exercise, "not solved", hint=exercise.first_hint)
    except SystemExit as error:  # sys.exit() in a solution must not end the check (or kernel)
        details = [where, f"called sys.exit({error.code!r}); a function returns its answer"]
        return CheckResult(exercise, "error", details, exercise.first_hint, case)
    except Exception as error:
        details = [where, f"raised {type(error).__name__}: {error}"]
        return CheckResult(exercise, "error", details, _hint_for(exercise, case, error), case)
    if not _same(exercise, got, case.expected):
        details = [where, f"expected: {_shown(case.expected)}", f"got:      {_shown(got)}"]
        return CheckResult(exercise, "failed", details, _hint_for(exercise, case, got), case)
    return None


def check(exercise: Exercise, solution: Callable[..., Any]) -> CheckResult:
    """Run ``solution`` against every case of ``exercise``; never raises.

    Stops at the first case that does not pass and says which one, what was
    expected, what came back and the hint that fits.
    """
    try:
        cases = list(exercise.cases() if callable(exercise.cases) else exercise.cases)
    except Exception as error:
        return CheckResult(
            exercise,
            "error",
            [f"the exercise could not prepare its cases: {type(error).__name__}: {error}"],
            hint="Run the cells above this one first (they start what the exercise needs).",
        )
    run = exercise.call or (lambda function, case: function(*case.args))
    threaded = not _can_alarm()
    for case in cases:
        try:
            # Judging runs inside the limit too: the value a solution returns may
            # compare or print itself forever (an __eq__ or __repr__ of its own).
            verdict = _run_limited(
                lambda c=case: _judge(exercise, solution, c, run), exercise.time_limit
            )
        except _TimeLimit:
            details = [
                _describe(solution, case),
                f"still running after {exercise.time_limit} s, so it was stopped.",
            ]
            if threaded:
                details.append(
                    "It could only be abandoned, not stopped, and may still be running: "
                    "restart the kernel (Kernel > Restart Kernel) to end it."
                )
            return CheckResult(
                exercise,
                "timeout",
                details,
                "Look for a loop whose condition never becomes false.",
                case,
            )
        except Exception as error:  # the answer's own __repr__ or __eq__ failed
            details = [
                _describe(solution, case),
                f"its answer could not be compared or shown: {type(error).__name__}: {error}",
            ]
            return CheckResult(exercise, "error", details, exercise.first_hint, case)
        if verdict is not None:
            return verdict
    summary = "the case gives" if len(cases) == 1 else f"all {len(cases)} cases give"
    return CheckResult(exercise, "passed", [f"{summary} the expected answer."])
