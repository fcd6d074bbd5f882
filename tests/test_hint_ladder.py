"""The hint ladder and reveal: help that grows with each different failed attempt.

A step is climbed only when a check fails on code unlike every earlier failed
attempt; the same code always shows what it showed the first time; "not solved
yet" never climbs and prints what it always printed. ``reveal`` refuses until
enough different attempts have failed, then puts a reference that passes into
a new cell (a fake IPython shell stands in for the notebook here).
"""

from __future__ import annotations

import importlib
import inspect
import json
import linecache
import pkgutil
import re
import textwrap
from pathlib import Path
from typing import Any

import IPython
import pytest

import helpers.lessons
from helpers.lessons import checks
from helpers.lessons.checks import (
    REVEAL_AFTER,
    Case,
    Exercise,
    HintLadder,
    Mistake,
    check,
    code_fingerprint,
    fingerprint,
    forget_attempts,
    reference_source,
    reveal,
    source_fingerprint,
)
from helpers.lessons.exercises_06 import IPV4_CHECKSUM


@pytest.fixture(autouse=True)
def fresh_ladders():
    forget_attempts()
    yield
    forget_attempts()


def shout(word: str) -> str:
    return word.upper() + "!"


TOY = Exercise(
    key="toy.shout",
    title="Shout a word",
    cases=[Case(("hi",), "HI!", "short"), Case(("привет",), "ПРИВЕТ!", "Cyrillic")],
    first_hint="Make it upper case, then add an exclamation mark.",
    hints=("str.upper() gives the capitals.", "Return word.upper() plus '!'."),
    mistakes=[
        Mistake("Add the '!' at the end.", lambda case, got: got == case.expected[:-1]),
    ],
    reference=shout,
)


# Wrong attempts, each a different piece of code.
def no_mark(word):
    return word.upper()


def lower_case(word):
    return word.lower() + "!"


def doubled(word):
    return word.upper() + "!!"


def title_case(word):
    return word.title() + "!"


def unsolved(word):
    raise NotImplementedError


# ---- climbing ---------------------------------------------------------------------------


def test_each_different_failing_code_climbs_one_step_and_the_last_offers_reveal() -> None:
    steps = [check(TOY, wrong).rung for wrong in (lower_case, doubled, title_case)]
    assert [(r.attempt, r.step, r.steps) for r in steps] == [(1, 1, 3), (2, 2, 3), (3, 3, 3)]
    assert [r.hint for r in steps] == [TOY.first_hint, *TOY.hints]
    assert [r.reveal_ready for r in steps] == [False, False, True]
    last = repr(check(TOY, title_case))
    assert last.endswith(
        f"Hint 3 of 3: {TOY.hints[1]}\n"
        'Still stuck? helpers.lessons.checks.reveal("toy.shout") puts a reference solution '
        "in a new cell below, to compare with yours."
    )


def test_the_ladder_stays_on_its_last_step_after_it() -> None:
    for wrong in (lower_case, doubled, title_case):
        check(TOY, wrong)
    fourth = check(TOY, no_mark).rung
    assert (fourth.attempt, fourth.step) == (4, 3) and fourth.reveal_ready


def test_the_same_failing_code_prints_exactly_what_it_printed_first() -> None:
    first = check(TOY, lower_case)
    again = check(TOY, lower_case)
    assert repr(again) == repr(first) and again._repr_html_() == first._repr_html_()
    assert TOY.ladder.failed_attempts == 1
    # Other attempts later do not change what the first code shows, reveal line included.
    check(TOY, doubled)
    check(TOY, title_case)
    assert repr(check(TOY, lower_case)) == repr(first)
    assert "reveal" not in repr(first)


def test_a_recognised_mistake_keeps_its_own_hint_beside_the_ladders_step() -> None:
    check(TOY, lower_case)
    result = check(TOY, no_mark)
    assert result.status == "failed" and result.hint == "Add the '!' at the end."
    assert repr(result).endswith(f"Hint: Add the '!' at the end.\nHint 2 of 3: {TOY.hints[0]}")


def test_an_unrecognised_failure_shows_only_the_ladders_step() -> None:
    check(TOY, lower_case)
    result = check(TOY, doubled)
    assert result.hint == TOY.hints[0]
    assert "\nHint: " not in repr(result)
    assert repr(result).endswith(f"\nHint 2 of 3: {TOY.hints[0]}")


def test_a_raising_solution_climbs_too() -> None:
    def broken(word):
        return word.shout()

    result = check(TOY, broken)
    assert result.status == "error" and result.rung is not None and result.rung.step == 1


def test_not_solved_yet_prints_as_it_always_did_and_never_climbs() -> None:
    expected = f"not solved yet: {TOY.title}\nHint: {TOY.first_hint}"
    for _ in range(3):
        result = check(TOY, unsolved)
        assert repr(result) == expected and result.rung is None
    assert TOY.ladder.failed_attempts == 0
    check(TOY, lower_case)
    assert repr(check(TOY, unsolved)) == expected  # nor after a failed attempt
    assert check(TOY, doubled).rung.step == 2


def test_a_check_that_cannot_prepare_its_cases_does_not_climb() -> None:
    def no_server():
        raise ConnectionRefusedError("refused")

    broken = Exercise("toy.unprepared", "Unprepared", no_server, "first", hints=("a", "b"))
    result = check(broken, lower_case)
    assert result.status == "error" and result.rung is None
    assert broken.ladder.failed_attempts == 0


def test_a_passing_check_shows_no_step() -> None:
    check(TOY, lower_case)
    result = check(TOY, shout)
    assert result.passed and result.rung is None and "Hint" not in repr(result)


# ---- the ladder for any checker ------------------------------------------------------------


def test_a_ladder_keyed_by_program_source_serves_another_checker() -> None:
    ladder = HintLadder("lab.echo", ["nudge", "closer", "closer still", "nearly"])
    program = "import socket\nprint('v1')\n"
    first = ladder.climb(source_fingerprint(program))
    assert ladder.climb(source_fingerprint(program + "   \n")) == first  # trailing blanks
    second = ladder.climb(source_fingerprint(program.replace("v1", "v2")))
    third = ladder.climb(source_fingerprint(program.replace("v1", "v3")))
    assert [r.step for r in (first, second, third)] == [1, 2, 3]
    # four steps, but REVEAL_AFTER different attempts are enough to offer a reference
    assert REVEAL_AFTER == 3 and third.reveal_ready and not second.reveal_ready
    assert HintLadder("lab.echo", ["other"]).failed_attempts == 3  # memory is per key
    ladder.forget()
    assert ladder.failed_attempts == 0


def test_a_short_ladder_offers_reveal_at_its_last_step() -> None:
    ladder = HintLadder("lab.short", ["only", "last"])
    assert ladder.attempts_needed == 2
    assert [ladder.climb(f).reveal_ready for f in ("a", "b")] == [False, True]
    assert ladder.climb("a").lines() == ["Hint 1 of 2: only"]
    with pytest.raises(ValueError):
        HintLadder("lab.empty", [])


# ---- fingerprints ----------------------------------------------------------------------------

SOURCE = textwrap.dedent(
    """
    def reverse_word(word):
        letters = [c for c in word if c not in {"-", " ", "'"}]
        swap = lambda s: s[::-1]
        return swap("".join(letters))
    """
)


def compiled(source: str, filename: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["reverse_word"]


def test_the_same_code_compiled_under_other_names_and_lines_has_one_fingerprint() -> None:
    one = compiled(SOURCE, "<cell one>")
    two = compiled("\n\n\n" + SOURCE, "/tmp/another_kernel/4242.py")
    assert fingerprint(one).startswith("code:")  # no source to read: the code is used
    assert fingerprint(one) == fingerprint(two)
    assert code_fingerprint(one.__code__) == code_fingerprint(two.__code__)
    changed = compiled(SOURCE.replace("s[::-1]", "s[::1]"), "<cell one>")
    assert fingerprint(changed) != fingerprint(one)
    renamed = compiled(SOURCE.replace('"-", ', ""), "<cell one>")
    assert fingerprint(renamed) != fingerprint(one)


def test_a_cells_source_is_read_as_ipython_registers_it() -> None:
    # IPython keeps each cell's text in linecache under the cell's own file name.
    fingerprints = []
    for cell in ("<ipython-input-1-aaaa>", "<ipython-input-7-aaaa>"):
        linecache.cache[cell] = (len(SOURCE), None, SOURCE.splitlines(True), cell)
        try:
            fingerprints.append(fingerprint(compiled(SOURCE, cell)))
        finally:
            del linecache.cache[cell]
    assert fingerprints[0] == fingerprints[1] == source_fingerprint(SOURCE)


def test_functions_of_this_module_are_fingerprinted_by_their_source() -> None:
    assert fingerprint(shout) == source_fingerprint(inspect.getsource(shout))
    assert fingerprint(shout) != fingerprint(lower_case)
    assert fingerprint(str.upper) == fingerprint(str.upper)  # no source, no code: its name


# ---- reveal ---------------------------------------------------------------------------------


class FakeShell:
    """Stands in for IPython's shell: records what would go into a new cell."""

    def __init__(self) -> None:
        self.cells: list[tuple[str, bool]] = []

    def set_next_input(self, text: str, replace: bool = False) -> None:
        self.cells.append((text, replace))


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> FakeShell:
    fake = FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: fake)
    return fake


def test_reveal_refuses_until_enough_different_attempts_have_failed(shell, capsys) -> None:
    reveal("toy.shout")
    assert capsys.readouterr().out == (
        "Not yet: 3 more different failed attempts at toy.shout first "
        "(each check of changed code that still fails shows the next hint).\n"
    )
    check(TOY, lower_case)
    check(TOY, lower_case)  # the same code again is not another attempt
    check(TOY, unsolved)  # nor is the stored state
    check(TOY, doubled)
    reveal(TOY)
    assert capsys.readouterr().out.startswith("Not yet: 1 more different failed attempt at ")
    assert shell.cells == []


def test_reveal_after_enough_attempts_puts_a_passing_reference_in_a_new_cell(shell, capsys) -> None:
    wrong = [
        lambda header: 0,
        lambda header: sum(header),
        lambda header: ~sum(header) & 0xFFFF,
    ]
    for attempt in wrong:
        assert check(IPV4_CHECKSUM, attempt).status == "failed"
    assert "reveal(" in repr(check(IPV4_CHECKSUM, wrong[-1]))
    reveal("06.ipv4_checksum")
    assert capsys.readouterr().out == (
        "A reference solution of 06.ipv4_checksum is in a new cell below: compare it with yours.\n"
    )
    [(source, replace)] = shell.cells
    assert replace is False
    namespace: dict[str, Any] = {}
    exec(compile(source, "<revealed cell>", "exec"), namespace)
    assert check(IPV4_CHECKSUM, namespace["ipv4_checksum"]).passed
    assert source.startswith("# A reference solution of 06.ipv4_checksum")
    assert "import struct\n" in source


def test_outside_ipython_reveal_prints_the_source(monkeypatch, capsys) -> None:
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    for wrong in (lower_case, doubled, title_case):
        check(TOY, wrong)
    reveal(TOY)
    printed = capsys.readouterr().out
    assert printed == reference_source(TOY)
    namespace: dict[str, Any] = {}
    exec(printed, namespace)
    assert check(TOY, namespace["shout"]).passed


def test_reveal_of_an_unknown_key_says_so(shell, capsys) -> None:
    reveal("99.nothing")
    assert capsys.readouterr().out.startswith("There is no exercise '99.nothing'")
    assert shell.cells == []


# ---- every exercise of the course ------------------------------------------------------------


def course_exercises() -> list[Exercise]:
    found: dict[str, Exercise] = {}
    for info in pkgutil.iter_modules(helpers.lessons.__path__):
        if info.name.startswith("exercises_"):
            module = importlib.import_module(f"helpers.lessons.{info.name}")
            for value in vars(module).values():
                if isinstance(value, Exercise):
                    found[value.key] = value
    return [found[key] for key in sorted(found)]


EXERCISES = course_exercises()
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_every_exercise_a_notebook_checks_is_among_them() -> None:
    checked = set()
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            for nn, name in re.findall(r"check\(exercises_(\d\d)\.(\w+),", "".join(cell["source"])):
                module = importlib.import_module(f"helpers.lessons.exercises_{nn}")
                checked.add(getattr(module, name).key)
    assert len(checked) >= 10 and checked <= {e.key for e in EXERCISES}


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_every_exercise_has_a_ladder_of_three_steps_or_more(exercise: Exercise) -> None:
    assert len(exercise.hints) >= 2
    steps = [exercise.first_hint, *exercise.hints]
    assert len(set(steps)) == len(steps) and all(len(step) > 20 for step in steps)
    assert exercise.ladder.attempts_needed == REVEAL_AFTER


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_every_exercise_ships_its_reference_and_no_hint_spells_it_out(exercise) -> None:
    reference = exercise.reference
    notebook = exercise.key.partition(".")[0]
    assert reference is not None
    assert reference.__module__ == f"helpers.lessons.solutions.exercises_{notebook}"
    body = [line.strip() for line in inspect.getsource(reference).splitlines()[1:]]
    for hint in (exercise.first_hint, *exercise.hints):
        assert "def " not in hint
        assert not all(line in hint for line in body if line), f"{exercise.key}: {hint}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_every_revealed_cell_runs_and_is_the_tested_reference(exercise, shell, capsys) -> None:
    """The cell compiles to the very code the exercise's tests prove passes."""
    for n in range(REVEAL_AFTER):
        exercise.ladder.climb(f"attempt {n}")
    reveal(exercise.key)
    assert capsys.readouterr().out.startswith(f"A reference solution of {exercise.key} is")
    [(source, _replace)] = shell.cells
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<revealed {exercise.key}>", "exec"), namespace)
    revealed = namespace[exercise.reference.__name__]
    assert code_fingerprint(revealed.__code__) == code_fingerprint(exercise.reference.__code__)


@pytest.mark.parametrize(
    "exercise",
    [e for e in EXERCISES if e.key[:2] in ("01", "06", "07") or e.key == "05.ping_summary"],
    ids=lambda e: e.key,
)
def test_revealed_cells_of_exercises_without_a_server_pass_their_check(
    exercise, shell, capsys
) -> None:
    for n in range(REVEAL_AFTER):
        exercise.ladder.climb(f"attempt {n}")
    reveal(exercise)
    [(source, _replace)] = shell.cells
    namespace: dict[str, Any] = {}
    exec(compile(source, "<revealed>", "exec"), namespace)
    assert check(exercise, namespace[exercise.reference.__name__]).passed


def test_a_revealed_reference_names_what_it_needs_from_an_earlier_exercise() -> None:
    prefixed = checks._exercise("03.prefixed_client")
    assert prefixed is not None
    source = reference_source(prefixed)
    assert "# It calls recv_exactly from your solution of an earlier exercise." in source
    assert "def recv_exactly" not in source  # not given away with this one
    assert "import socket\nimport struct\n" in source
