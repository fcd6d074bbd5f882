"""Notebook 01's exercise: the reference solution passes, typical wrong answers get their hint."""

from __future__ import annotations

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.exercises_01 import PLACE_PROTOCOLS
from helpers.lessons.solutions import exercises_01 as reference

EXERCISES = {
    "layer_of": (PLACE_PROTOCOLS, reference.layer_of),
}


test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests(EXERCISES)
)


# ---- protocols on layers: wrong answers ----


def shifted(mapping: dict[str, int]):
    def layer_of(protocol: str) -> int:
        return mapping.get(protocol, reference.layer_of(protocol))

    return layer_of


@pytest.mark.parametrize(
    ("wrong", "hint_text"),
    [
        (shifted({"TCP": 3, "UDP": 3}), "TCP and UDP carry data"),
        (shifted({"IP": 4}), "IP routes packets"),
        (shifted({"Ethernet": 1}), "Ethernet, PPP and ATM"),
        (shifted({"HTTP": 4}), "each serve one kind of application"),
        (lambda protocol: 8 - reference.layer_of(protocol), "numbered from the bottom"),
        (lambda protocol: {2: "Data link"}.get(reference.layer_of(protocol), "x"), "not its name"),
        (lambda protocol: {"Ethernet": 2}[protocol], "Every protocol of the cases"),
    ],
)
def test_layer_mistakes_get_their_hint(wrong, hint_text: str) -> None:
    assert_gets_hint(PLACE_PROTOCOLS, wrong, hint_text)
