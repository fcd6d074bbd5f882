"""Labs: a whole program the student writes, checked against live course servers.

An exercise asks for one function; a lab asks for a program, saved with
``%%program NAME.py`` and run as its own process (``helpers.run.programs``),
the way the chapter's server and client run. ``check_lab(lab)`` runs the
student's program through the lab's ``examine`` steps, each a behaviour a
real client or server would meet (a reply, a long message, a client that
vanishes), and shows the first one that fails with a hint::

    from helpers.lessons.lab_02 import LAB
    check_lab(LAB)     # not solved yet / failed + hint / passed

The result looks like an exercise's (``helpers.lessons.checks.CheckResult``)
and the help is the same: a ladder of hints climbed one step per different
failed program (fingerprinted by its source text), and, after enough tries,
``helpers.lessons.checks.reveal(key)`` puts the reference program in a new
cell. A stored notebook holds the lab's stub, which is "not solved yet".
Every step judges behaviour, never speed, and has its own time limit, so a
slow class hub passes a right program and a wrong one never hangs the check.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from helpers.lessons.checks import CheckResult, HintLadder, register, source_fingerprint
from helpers.run.program_files import program_path
from helpers.run.programs import Program, ProgramFailed

__all__ = ["Failure", "Lab", "check_lab"]


class Failure(Exception):
    """A lab step that failed: what was seen, and the hint for that mistake (if known)."""

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(eq=False)
class Lab:
    """A lab: the program's name, its stub, the steps that examine it, hints, a reference.

    ``examine(lab)`` runs the steps against the saved program and returns the
    names of the steps passed; it raises ``Failure`` at the first that fails.
    ``reference`` names a file in ``helpers/lessons/solutions/``: a program
    that passes, shown only by ``reveal``.
    """

    key: str
    title: str
    program: str
    stub: str
    first_hint: str
    examine: Callable[[Lab], list[str]]
    hints: Sequence[str] = ()
    reference: str | None = None
    steps: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        register(self)

    @property
    def ladder(self) -> HintLadder:
        return HintLadder(self.key, (self.first_hint, *self.hints))

    def reference_program(self) -> str:
        """The reference program's source (as its file holds it)."""
        if self.reference is None:
            raise ValueError(f"{self.key} has no reference program")
        files = importlib.resources.files("helpers.lessons.solutions")
        return files.joinpath(self.reference).read_text(encoding="utf-8")

    def reveal_source(self) -> str:
        """The reference as a cell: ``%%program`` and the program, ready to save and compare."""
        return (
            f"%%program {self.program}\n"
            f"# A reference program for {self.key}: compare it with yours.\n"
            + self.reference_program()
        )


def check_lab(lab: Lab) -> CheckResult:
    """Examine the student's saved program; never raises, never hangs.

    "Not solved yet" (with the first hint) while the program is the stored
    stub or not saved at all; the ladder stays put then.
    """
    path = program_path(lab.program)
    if not path.exists():
        return CheckResult(lab, "not solved", hint=lab.first_hint)  # type: ignore[arg-type]
    source = path.read_text(encoding="utf-8")
    if source_fingerprint(source) == source_fingerprint(lab.stub):
        return CheckResult(lab, "not solved", hint=lab.first_hint)  # type: ignore[arg-type]
    try:
        passed = lab.examine(lab)
    except Failure as failure:
        result = CheckResult(lab, "failed", [failure.detail], failure.hint or lab.first_hint)  # type: ignore[arg-type]
    except Exception as error:  # the checker itself met something it did not expect
        detail = f"the check could not finish: {type(error).__name__}: {error}"
        result = CheckResult(lab, "error", [detail], lab.first_hint)  # type: ignore[arg-type]
    else:
        return CheckResult(lab, "passed", [f"{step}: yes" for step in passed])  # type: ignore[arg-type]
    result.rung = lab.ladder.climb(source_fingerprint(source))
    if result.hint == lab.first_hint:
        result.hint = result.rung.hint
    return result


# -- what the labs' steps share ------------------------------------------------------------


@contextlib.contextmanager
def running(lab: Lab, *args: Any, port: int = 0) -> Iterator[Program]:
    """The student's server program, started quietly on a free port and stopped after."""
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet):
            program = Program(lab.program, args, port=port, name=f"lab {lab.key}")
            program.start(quiet=True)
    except ProgramFailed as failed:
        raise Failure(
            f"your program did not start serving: {failed.args[0].splitlines()[0]}\n"
            + last_lines(failed.output),
            _hint_from_output(failed.output),
        ) from None
    try:
        yield program
    finally:
        program.stop()


def last_lines(text: str, count: int = 6) -> str:
    """The last ``count`` lines a program printed, indented, for a failure's details."""
    lines = text.rstrip().splitlines()[-count:]
    return "\n".join(f"    {line}" for line in lines) if lines else "    (it printed nothing)"


def _hint_from_output(output: str) -> str:
    """A hint for the usual reasons a server program does not start."""
    if "NetworkGuardError" in output and "every network interface" in output:
        return (
            'Bind to 127.0.0.1, not to "": the course\'s guard refuses every-interface addresses.'
        )
    if "Address already in use" in output:
        return "Bind to the port given as the program's first argument: int(sys.argv[1])."
    if "did not open its port" in output or not output.strip():
        return "A server calls socket(), bind() and then listen() before its accept() loop."
    if "IndexError" in output and "argv" in output:
        return "The port comes as the first argument: int(sys.argv[1])."
    return ""


def program_output_note(program: Program, count: int = 6) -> str:
    """The last lines a program printed, indented, for a failure's details."""
    return last_lines(program.output(wait=1.0).text, count)
