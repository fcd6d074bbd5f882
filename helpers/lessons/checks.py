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

A student who is stuck climbs a ladder of hints: ``first_hint``, then the
exercise's further ``hints``, each closer to the answer. A step is climbed only
when a check fails on code that differs from every earlier failed attempt (the
code is fingerprinted), so re-running a cell never gives away more, and the same
failing code prints the same thing every time (a notebook run twice, or a cell
that shows a wrong solution on purpose). "Not solved yet" never climbs. After
the last step (or ``REVEAL_AFTER`` different failed attempts) the failure says
how to see a reference solution on purpose: ``reveal(key)`` puts one in a new
cell. ``HintLadder`` and ``fingerprint`` serve any checker, not only ``check``.
"""

from __future__ import annotations

import ast
import hashlib
import html
import importlib
import inspect
import operator
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

__all__ = ["check"]

_SHOWN_CHARS = 200
_COLOURS = {"passed": "#2e7d32", "not solved": "#8d6e00"}
REVEAL_AFTER = 3  # different failed attempts after which a reference may be revealed


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

    ``hints`` are the ladder's steps after ``first_hint``, from a nudge to
    nearly the answer; ``reference`` is a solution that passes, shown by
    ``reveal(key)`` only after enough different failed attempts. Every
    exercise made is remembered by its key, so ``reveal`` can find it.
    """

    key: str
    title: str
    cases: Sequence[Case] | Callable[[], Sequence[Case]]
    first_hint: str
    mistakes: Sequence[Mistake] = ()
    compare: Callable[[Any, Any], bool] = operator.eq
    call: Callable[[Callable[..., Any], Case], Any] | None = None
    time_limit: float = 2.0
    hints: Sequence[str] = ()
    reference: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        register(self)

    @property
    def ladder(self) -> HintLadder:
        """The exercise's hint ladder: ``first_hint``, then ``hints``."""
        return HintLadder(self.key, (self.first_hint, *self.hints))


_EXERCISES: dict[str, Any] = {}  # key -> an Exercise, or a lab (helpers.lessons.labs.Lab)


def register(item: Any) -> None:
    """Remember an exercise or a lab by its key, for ``reveal``."""
    _EXERCISES[item.key] = item


@dataclass
class CheckResult:
    """What ``check`` found; its repr (text) and HTML show it to the student."""

    exercise: Exercise
    status: str
    details: list[str] = field(default_factory=list)
    hint: str = ""  # the recognised mistake's own hint, else the ladder's step (or first hint)
    case: Case | None = None
    rung: Rung | None = None  # the ladder's step, for a failed attempt

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def message(self) -> str:
        lines = list(self.details)
        if self.hint and (self.rung is None or self.hint != self.rung.hint):
            lines.append(f"Hint: {self.hint}")
        if self.rung is not None:
            lines.extend(self.rung.lines(can_reveal=self.exercise.reference is not None))
        return "\n".join(lines)

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


# ---- the ladder of hints ------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    """Where one failed attempt stands on its exercise's ladder, fixed at its first failure.

    ``attempt`` counts different failed attempts (1 for the first); ``step`` is
    the hint shown (1 = the first hint), ``steps`` how many the ladder has.
    ``reveal_ready`` is True from the attempt that reached the last step or
    ``REVEAL_AFTER`` attempts on: its message says how to see a reference.
    """

    key: str
    attempt: int
    step: int
    steps: int
    hint: str
    reveal_ready: bool

    def lines(self, can_reveal: bool = True) -> list[str]:
        """The lines a failure shows for this step (the reveal line only if there is one)."""
        label = "Hint" if self.steps == 1 else f"Hint {self.step} of {self.steps}"
        lines = [f"{label}: {self.hint}"]
        if self.reveal_ready and can_reveal:
            lines.append(
                f'Still stuck? helpers.lessons.checks.reveal("{self.key}") puts a reference '
                "solution in a new cell below, to compare with yours."
            )
        return lines


_attempts: dict[str, dict[str, Rung]] = {}  # key -> fingerprint -> its rung, per kernel
_attempts_lock = threading.Lock()


class HintLadder:
    """The hints of one exercise, climbed one step per different failed attempt.

    Any checker can use it: ``HintLadder(key, hints).climb(fingerprint)`` for a
    failed attempt whose code has that fingerprint (``fingerprint(function)``,
    or ``source_fingerprint(text)`` for a whole program). A fingerprint seen
    before gets the rung it got the first time, so the same code always shows
    the same thing, and running it again gives nothing more away. What was
    climbed lives as long as the kernel; ladders with the same key share it.
    """

    def __init__(self, key: str, hints: Sequence[str]):
        if not hints:
            raise ValueError("a ladder needs at least one hint")
        self.key = key
        self.hints = tuple(hints)

    @property
    def attempts_needed(self) -> int:
        """Different failed attempts before ``reveal`` shows a reference."""
        return min(len(self.hints), REVEAL_AFTER)

    @property
    def failed_attempts(self) -> int:
        """How many different codes have failed so far (in this kernel)."""
        with _attempts_lock:
            return len(_attempts.get(self.key, {}))

    def climb(self, fingerprint: str) -> Rung:
        """The rung of a failed attempt: the next step for new code, the old one for seen code."""
        with _attempts_lock:
            seen = _attempts.setdefault(self.key, {})
            if fingerprint not in seen:
                attempt = len(seen) + 1
                step = min(attempt, len(self.hints))
                seen[fingerprint] = Rung(
                    key=self.key,
                    attempt=attempt,
                    step=step,
                    steps=len(self.hints),
                    hint=self.hints[step - 1],
                    reveal_ready=attempt >= self.attempts_needed,
                )
            return seen[fingerprint]

    def forget(self) -> None:
        """Start this ladder again from its first step."""
        with _attempts_lock:
            _attempts.pop(self.key, None)


def forget_attempts() -> None:
    """Start every ladder again (a test's clean slate; a kernel restart does the same)."""
    with _attempts_lock:
        _attempts.clear()


# ---- fingerprints of code -------------------------------------------------------------


def source_fingerprint(source: str) -> str:
    """A fingerprint of source text: a program, a cell, a function's ``def``."""
    normalised = "\n".join(line.rstrip() for line in textwrap.dedent(source).strip().splitlines())
    return "source:" + hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def _constant(value: Any) -> Any:
    """A constant as plain data: nested code by its contents, sets in a stable order."""
    if isinstance(value, CodeType):
        return _code_data(value)
    if isinstance(value, tuple):
        return tuple(_constant(item) for item in value)
    if isinstance(value, frozenset):
        return ("frozenset", sorted(repr(_constant(item)) for item in value))
    return (type(value).__name__, repr(value))


def _code_data(code: CodeType) -> tuple[Any, ...]:
    # Everything that makes the code what it is; no file name, no line numbers.
    return (
        code.co_name,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
        code.co_code,
        _constant(code.co_consts),
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
    )


def code_fingerprint(code: CodeType) -> str:
    """A fingerprint of compiled code that ignores where it was compiled.

    The same code in a re-run cell (a new file name, other line numbers) gets
    the same fingerprint; a change to what it does gets another.
    """
    data = repr(_code_data(code)).encode("utf-8", "backslashreplace")
    return "code:" + hashlib.sha256(data).hexdigest()


def fingerprint(solution: Any) -> str:
    """What tells one attempt from another: the solution's source text if it can be read.

    ``inspect.getsource`` reads functions defined in notebook cells too; where
    no source is found (code made by exec), the compiled code is used instead.
    """
    try:
        return source_fingerprint(inspect.getsource(solution))
    except (OSError, TypeError):
        pass
    code = getattr(solution, "__code__", None)
    if isinstance(code, CodeType):
        return code_fingerprint(code)
    name = getattr(solution, "__qualname__", None) or type(solution).__qualname__
    return source_fingerprint(f"{getattr(solution, '__module__', '')}.{name}")


def _climb(exercise: Exercise, solution: Any, result: CheckResult) -> CheckResult:
    """A failed attempt: the ladder's rung goes with the result (never raises)."""
    try:
        result.rung = exercise.ladder.climb(fingerprint(solution))
        if result.hint == exercise.first_hint:  # no mistake recognised: the ladder speaks
            result.hint = result.rung.hint
    except Exception:
        pass  # a check never fails for want of a hint
    return result


# ---- revealing a reference on purpose --------------------------------------------------


def _exercise(key_or_exercise: str | Any) -> Any:
    if not isinstance(key_or_exercise, str):  # an Exercise or a lab
        return key_or_exercise
    key = str(key_or_exercise)
    notebook = key.partition(".")[0]
    if key not in _EXERCISES and re.fullmatch(r"\d\d", notebook):
        kind = "lab" if key.endswith(".lab") else "exercises"
        try:  # its notebook's module may not be imported yet in this kernel
            importlib.import_module(f"helpers.lessons.{kind}_{notebook}")
        except ImportError:
            return None
    return _EXERCISES.get(key)


def _names_used(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def reference_source(exercise: Exercise) -> str:
    """The reference as a cell: a comment, the imports it needs, then the function.

    The imports are the reference module's own, those the function uses, so the
    cell runs as it is; a function of an earlier exercise it calls is named in
    the comment, not given away.
    """
    if exercise.reference is None:
        raise ValueError(f"{exercise.key} has no reference solution")
    function = textwrap.dedent(inspect.getsource(exercise.reference)).strip() + "\n"
    used = _names_used(ast.parse(function))
    module = inspect.getmodule(exercise.reference)
    tree = ast.parse(inspect.getsource(module)) if module is not None else ast.Module([], [])
    imports, earlier = [], []
    for node in tree.body:
        if isinstance(node, ast.Import):
            imports += [
                f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                for a in node.names
                if (a.asname or a.name.split(".")[0]) in used
            ]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imports += [
                f"from {node.module} import {a.name}" + (f" as {a.asname}" if a.asname else "")
                for a in node.names
                if (a.asname or a.name) in used
            ]
        elif isinstance(node, ast.FunctionDef) and node.name in used:
            if node.name != exercise.reference.__name__:
                earlier.append(node.name)
    head = [f"# A reference solution of {exercise.key}: compare it with yours."]
    if earlier:
        head.append(f"# It calls {', '.join(earlier)} from your solution of an earlier exercise.")
    return "\n".join(head + imports) + ("\n\n\n" if imports else "\n") + function


def reveal(key_or_exercise: str | Exercise) -> None:
    """Show a reference solution, on purpose, once enough different attempts have failed.

    In a notebook the reference goes into a new cell below this one (the
    student's own cells are left alone); elsewhere it is printed. Before
    enough attempts it says how many different ones are still needed: the
    ladder's hints come first, and a notebook run top to bottom never reveals.
    """
    exercise = _exercise(key_or_exercise)
    if exercise is None:
        print(f"There is no exercise {key_or_exercise!r}: the key is in its check's message.")
        return
    if exercise.reference is None:
        print(f"{exercise.key} has no reference solution to reveal.")
        return
    ladder = exercise.ladder
    missing = ladder.attempts_needed - ladder.failed_attempts
    if missing > 0:
        attempts = "attempt" if missing == 1 else "attempts"
        print(
            f"Not yet: {missing} more different failed {attempts} at {exercise.key} first "
            "(each check of changed code that still fails shows the next hint)."
        )
        return
    # A lab's reference is a whole program, given as a %%program cell.
    reveal_source = getattr(exercise, "reveal_source", None)
    source = reveal_source() if reveal_source is not None else reference_source(exercise)
    shell = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        pass
    if shell is None:
        print(source, end="")
        return
    shell.set_next_input(source, replace=False)
    print(f"A reference solution of {exercise.key} is in a new cell below: compare it with yours.")


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
    expected, what came back and the hint that fits: the mistake's own when the
    wrong answer is recognised, and the hint ladder's step for this attempt
    (see ``HintLadder``). "Not solved yet" shows the first hint, as it always has.
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
            timeout = CheckResult(
                exercise,
                "timeout",
                details,
                "Look for a loop whose condition never becomes false.",
                case,
            )
            return _climb(exercise, solution, timeout)
        except Exception as error:  # the answer's own __repr__ or __eq__ failed
            details = [
                _describe(solution, case),
                f"its answer could not be compared or shown: {type(error).__name__}: {error}",
            ]
            failure = CheckResult(exercise, "error", details, exercise.first_hint, case)
            return _climb(exercise, solution, failure)
        if verdict is not None and verdict.status == "not solved":
            return verdict  # the stored state: the first hint, and the ladder stays put
        if verdict is not None:
            return _climb(exercise, solution, verdict)
    summary = "the case gives" if len(cases) == 1 else f"all {len(cases)} cases give"
    return CheckResult(exercise, "passed", [f"{summary} the expected answer."])
