"""Notebook 07's exercises: the references pass, typical wrong answers get their own hint."""

from __future__ import annotations

import struct

import pytest
from exercise_checking import assert_passes, assert_unsolved

from helpers.lessons import exercises_07 as ex
from helpers.lessons.checks import check
from helpers.lessons.solutions import exercises_07 as ref


def _hint_of(exercise, solution) -> str:
    result = check(exercise, solution)
    assert not result.passed, f"a wrong answer passed {exercise.key}"
    return result.hint


@pytest.mark.parametrize(
    ("exercise", "solution"),
    [
        (ex.ENCODE_NAME, ref.encode_name),
        (ex.ANSWER_COUNT, ref.answer_count),
        (ex.REVERSE_NAME, ref.reverse_name),
        (ex.TXT_STRINGS, ref.txt_strings),
    ],
)
def test_reference_solutions_pass(exercise, solution) -> None:
    assert_passes(exercise, solution)


def test_every_exercise_is_listed() -> None:
    assert ex.EXERCISES == (ex.ENCODE_NAME, ex.ANSWER_COUNT, ex.REVERSE_NAME, ex.TXT_STRINGS)
    assert len({e.key for e in ex.EXERCISES}) == 4


def test_unsolved_says_not_solved_yet_with_the_first_hint() -> None:
    result = assert_unsolved(ex.ENCODE_NAME)
    assert repr(result).startswith("not solved yet: Encode a name")


# --- encode_name ---


def test_encode_without_the_final_zero() -> None:
    def encode_name(name):
        return ref.encode_name(name)[:-1]

    assert "zero byte" in _hint_of(ex.ENCODE_NAME, encode_name)


def test_encode_with_dots() -> None:
    def encode_name(name):
        return name.encode() + b"\x00"

    assert "no dots on the wire" in _hint_of(ex.ENCODE_NAME, encode_name)


def test_encode_lengths_as_digits() -> None:
    def encode_name(name):
        return "".join(f"{len(x)}{x}" for x in name.split(".")).encode() + b"\x00"

    assert "VALUE is the length" in _hint_of(ex.ENCODE_NAME, encode_name)


def test_encode_final_dot_as_an_empty_label() -> None:
    def encode_name(name):
        return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00"

    assert "final dot" in _hint_of(ex.ENCODE_NAME, encode_name)


def test_encode_returning_str() -> None:
    def encode_name(name):
        return ref.encode_name(name).decode("latin-1")

    assert "Return bytes" in _hint_of(ex.ENCODE_NAME, encode_name)


# --- answer_count ---


def test_count_little_endian() -> None:
    def answer_count(message):
        return struct.unpack("<H", message[6:8])[0]

    assert "big-endian" in _hint_of(ex.ANSWER_COUNT, answer_count)


def test_count_reads_the_question_count() -> None:
    def answer_count(message):
        return struct.unpack("!H", message[4:6])[0]

    assert "question count" in _hint_of(ex.ANSWER_COUNT, answer_count)


def test_count_reads_one_byte() -> None:
    def answer_count(message):
        return message[7]

    assert "two bytes" in _hint_of(ex.ANSWER_COUNT, answer_count)


def test_count_returns_the_tuple() -> None:
    def answer_count(message):
        return struct.unpack("!H", message[6:8])

    assert "not the tuple" in _hint_of(ex.ANSWER_COUNT, answer_count)


# --- reverse_name ---


def test_reverse_not_reversed() -> None:
    def reverse_name(address):
        return address + ".in-addr.arpa."

    assert "order of the octets" in _hint_of(ex.REVERSE_NAME, reverse_name)


def test_reverse_characters() -> None:
    def reverse_name(address):
        return address[::-1] + ".in-addr.arpa."

    assert "not the characters" in _hint_of(ex.REVERSE_NAME, reverse_name)


def test_reverse_without_the_final_dot() -> None:
    def reverse_name(address):
        return ref.reverse_name(address)[:-1]

    assert "end it with a dot" in _hint_of(ex.REVERSE_NAME, reverse_name)


def test_reverse_wrong_suffix() -> None:
    def reverse_name(address):
        return ".".join(reversed(address.split("."))) + ".in.addr.arpa."

    assert "with a hyphen" in _hint_of(ex.REVERSE_NAME, reverse_name)


# --- txt_strings ---


def test_txt_keeps_the_length_byte() -> None:
    def txt_strings(rdata):
        strings, position = [], 0
        while position < len(rdata):
            length = rdata[position]
            strings.append(rdata[position : position + length].decode("utf-8", "replace"))
            position += 1 + length
        return strings

    assert "not part of the text" in _hint_of(ex.TXT_STRINGS, txt_strings)


def test_txt_reads_only_the_first_string() -> None:
    def txt_strings(rdata):
        return [rdata[1 : 1 + rdata[0]].decode()]

    result = check(ex.TXT_STRINGS, txt_strings)
    assert result.case.label == "two strings"
    assert "several strings" in result.hint


def test_txt_returns_bytes() -> None:
    def txt_strings(rdata):
        return [s.encode() for s in ref.txt_strings(rdata)]

    assert "Decode each string" in _hint_of(ex.TXT_STRINGS, txt_strings)


def test_txt_returns_one_str() -> None:
    def txt_strings(rdata):
        return "".join(ref.txt_strings(rdata))

    assert "not one joined str" in _hint_of(ex.TXT_STRINGS, txt_strings)
