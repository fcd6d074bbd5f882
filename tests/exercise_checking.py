"""What the tests of every notebook's exercises share (tests/test_exercises_0N.py).

Each notebook's exercises are tested the same three ways: the reference
solution (shipped in ``helpers.lessons.solutions``, the one ``reveal`` shows)
passes, the stored unsolved state says "not solved yet" with the first hint and
no step of the hint ladder, and every typical wrong answer gets the hint
written for it, with the ladder's step beside it. The hint is named by a piece
of its text, so a test fails if no hint or several hints contain it, or if the
wrong answer gets any other hint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from helpers.lessons.checks import CheckResult, Exercise, check


def hint_of(exercise: Exercise, text: str) -> str:
    """The hint of ``exercise`` that contains ``text`` (fails if none or several do)."""
    found = [m.hint for m in exercise.mistakes if text in m.hint]
    assert len(found) == 1, f"{len(found)} hints of {exercise.key} contain {text!r}"
    return found[0]


def assert_passes(exercise: Exercise, solution: Callable[..., Any]) -> CheckResult:
    """Check a solution that must pass; the failure message is the check's own."""
    result = check(exercise, solution)
    assert result.status == "passed", result.message
    return result


def assert_unsolved(exercise: Exercise) -> CheckResult:
    """The stored state (the body raises NotImplementedError): "not solved yet" + first hint."""

    def unsolved(*args: Any) -> Any:
        raise NotImplementedError

    result = check(exercise, unsolved)
    assert result.status == "not solved", repr(result)
    assert result.hint == exercise.first_hint and result.rung is None
    assert repr(result) == f"not solved yet: {exercise.title}\nHint: {exercise.first_hint}"
    return result


def assert_gets_hint(
    exercise: Exercise,
    solution: Callable[..., Any],
    hint_text: str,
    status: str | tuple[str, ...] = ("failed", "error"),
) -> CheckResult:
    """Check a wrong solution: it ends with ``status`` and the hint containing ``hint_text``."""
    result = check(exercise, solution)
    allowed = (status,) if isinstance(status, str) else status
    assert result.status in allowed, repr(result)
    assert result.hint == hint_of(exercise, hint_text), repr(result)
    assert result.rung is not None and result.rung.key == exercise.key, repr(result)
    assert f"Hint: {result.hint}\nHint {result.rung.step} of " in repr(result)
    return result


def standard_tests(exercises: dict[str, tuple[Exercise, Callable[..., Any]]]) -> tuple[Any, Any]:
    """The two tests every notebook's exercises get, parametrized by name over ``exercises``.

    ``test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint =
    standard_tests(EXERCISES)`` in a test module: the reference passes without printing
    anything (a checker's own server starts quietly) and is the one the exercise names for
    ``reveal``, and the stored unsolved state says "not solved yet" with the first hint.
    """

    @pytest.mark.parametrize("name", exercises)
    def test_reference_solution_passes(name: str, capfd: pytest.CaptureFixture[str]) -> None:
        exercise, solution = exercises[name]
        assert exercise.reference is solution
        assert_passes(exercise, solution)
        assert capfd.readouterr() == ("", "")

    @pytest.mark.parametrize("name", exercises)
    def test_unsolved_says_not_solved_yet_with_the_first_hint(name: str) -> None:
        assert_unsolved(exercises[name][0])

    return test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint
