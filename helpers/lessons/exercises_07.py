"""Notebook 07's exercises: DNS names, headers and record data by hand, with automatic checks.

Each is data (cases, a first hint, hints for the usual mistakes); the notebook
stores the student's functions unsolved and checks them with
``helpers.check(exercises_07.ENCODE_NAME, encode_name)``. Expected names and
addresses come from the course's tested reference (``helpers.wire.dnswire``), so the
exercises and the lesson can never disagree.
"""

from __future__ import annotations

import struct
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_07 as reference
from helpers.wire.dnswire import build_header, encode_name, reverse_pointer


def _is_bytes(got: Any) -> bool:
    return isinstance(got, bytes | bytearray)


# --- 1. a name in label format ---

_NAMES = ["www.onego.ru", "onego.ru.", "mail.onego.ru", "4.136.161.195.in-addr.arpa"]


def _dotted(case: Case, got: Any) -> bool:
    name = case.args[0].rstrip(".")
    return _is_bytes(got) and bytes(got).rstrip(b"\x00").endswith(name.encode())


def _digit_lengths(case: Case, got: Any) -> bool:
    labels = case.args[0].rstrip(".").split(".")
    as_digits = "".join(f"{len(label)}{label}" for label in labels)
    return _is_bytes(got) and bytes(got).startswith(as_digits.encode())


def _empty_label_for_final_dot(case: Case, got: Any) -> bool:
    return _is_bytes(got) and bytes(got) == encode_name(case.args[0]) + b"\x00"


ENCODE_NAME = Exercise(
    key="07.encode_name",
    title="Encode a name in DNS label format",
    cases=[Case((name,), encode_name(name), name) for name in _NAMES],
    first_hint=(
        "Split the name on dots; for each label add one byte holding its length "
        "(bytes([len(raw)])), then the label's ASCII bytes; finish with a zero byte."
    ),
    hints=(
        (
            "Strip a final dot (name.rstrip('.')), then go over name.split('.'): each label "
            "becomes its length byte followed by its bytes, bytes([len(raw)]) + raw with raw = "
            "label.encode('ascii')."
        ),
        (
            "Collect them in out = b'' (out += bytes([len(raw)]) + raw inside the loop) and "
            "return out + b'\\x00'."
        ),
    ),
    reference=reference.encode_name,
    mistakes=[
        Mistake(
            "Return bytes, not str: encode each label with .encode('ascii').",
            lambda case, got: isinstance(got, str),
        ),
        Mistake(
            "The name ends with a zero byte (the empty root label): add b'\\x00' at the end.",
            lambda case, got: _is_bytes(got) and bytes(got) + b"\x00" == case.expected,
        ),
        Mistake(
            "A final dot only says the name is complete; it adds no empty label of its "
            "own. Strip it before splitting (name.rstrip('.')).",
            _empty_label_for_final_dot,
        ),
        Mistake(
            "The length is one byte whose VALUE is the length (bytes([3]) is b'\\x03'), "
            "not the digit '3' written as text.",
            _digit_lengths,
        ),
        Mistake(
            "There are no dots on the wire: each label is preceded by its length instead.",
            _dotted,
        ),
    ],
)


# --- 2. the answer count in a header ---


def _message(qid: int, flags: int, counts: tuple[int, int, int, int], label: str) -> Case:
    header = build_header(qid, flags, *counts)
    return Case((header + b"\x05onego\x02ru\x00\x00\x0f\x00\x01",), counts[1], label)


_COUNT_CASES = [
    _message(0x1234, 0x8500, (1, 1, 0, 1), "MX reply: one answer"),
    _message(0x0007, 0x8500, (1, 2, 0, 0), "CNAME + A: two answers"),
    _message(0x00FF, 0x8503, (1, 0, 0, 0), "NXDOMAIN: no answer"),
    _message(0xBEEF, 0x8180, (1, 258, 0, 3), "258 answers"),
]


def _field(case: Case, start: int, fmt: str = "!H") -> int:
    return struct.unpack_from(fmt, case.args[0], start)[0]


ANSWER_COUNT = Exercise(
    key="07.answer_count",
    title="Read the answer count from a header",
    cases=_COUNT_CASES,
    first_hint=(
        "The header is six 16-bit numbers in network byte order: id, flags, then the "
        "question, answer, authority and additional counts. Which two bytes hold the "
        "answer count?"
    ),
    hints=(
        (
            "Count in bytes: the id is bytes 0-1, the flags 2-3, the question count 4-5; the "
            "answer count is the next pair."
        ),
        (
            "struct.unpack('!H', message[6:8]) gives a tuple of one number: take its [0]. Or "
            "unpack all six numbers with struct.unpack('!6H', message[:12]) and return the "
            "fourth."
        ),
    ),
    reference=reference.answer_count,
    mistakes=[
        Mistake(
            "DNS numbers are big-endian (network order): use '!H' (or '>H'), not '<H' or 'H'.",
            lambda case, got: got == _field(case, 6, "<H") != case.expected,
        ),
        Mistake(
            "That is the question count (bytes 4-5). The answer count comes next, bytes 6-7.",
            lambda case, got: got == _field(case, 4) != case.expected,
        ),
        Mistake(
            "That is the additional count (bytes 10-11); the answer count is bytes 6-7.",
            lambda case, got: got == _field(case, 10) != case.expected,
        ),
        Mistake(
            "The count is two bytes, not one: a reply may carry more than 255 answers.",
            lambda case, got: got != case.expected and got in case.args[0][6:8],
        ),
        Mistake(
            "Return the number itself (an int), not the tuple that struct.unpack gives.",
            lambda case, got: isinstance(got, tuple),
        ),
    ],
)


# --- 3. an address's in-addr.arpa name ---

_ADDRESSES = [
    ("195.161.136.4", "the chapter's www.onego.ru"),
    ("127.0.0.1", "loopback"),
    ("10.20.30.40", "two-digit octets"),
]


REVERSE_NAME = Exercise(
    key="07.reverse_name",
    title="Turn an IPv4 address into its in-addr.arpa name",
    cases=[Case((address,), reverse_pointer(address), label) for address, label in _ADDRESSES],
    first_hint=(
        "Split the address on dots, reverse the list of octets, join it with dots "
        "and append '.in-addr.arpa.' (with the final dot)."
    ),
    hints=(
        (
            "address.split('.') gives ['195', '161', '136', '4']; reversed(...) (or [::-1]) on "
            "that list turns the octets round."
        ),
        "'.'.join(the reversed list) + '.in-addr.arpa.'",
    ),
    reference=reference.reverse_name,
    mistakes=[
        Mistake(
            "Reverse the order of the octets: DNS names grow more specific to the left, "
            "addresses to the right.",
            lambda case, got: got == case.args[0] + ".in-addr.arpa.",
        ),
        Mistake(
            "Reverse the octets, not the characters: split on '.', reverse that list.",
            lambda case, got: isinstance(got, str) and got.startswith(case.args[0][::-1]),
        ),
        Mistake(
            "The reverse name is absolute: end it with a dot ('...in-addr.arpa.').",
            lambda case, got: got == case.expected[:-1],
        ),
        Mistake(
            "The suffix is 'in-addr.arpa.' (with a hyphen, under arpa).",
            lambda case, got: isinstance(got, str) and got.startswith(case.expected[:-14]),
        ),
    ],
)


# --- 4. the strings of a TXT record ---

# TXT data is a row of "character strings", each prefixed by its length byte,
# the same idea as the labels of a name (but with no zero byte at the end).
_TXT_CASES = [
    Case((b"\x0ev=spf1 mx -all",), ["v=spf1 mx -all"], "onego.ru's one string"),
    Case((b"\x05hello\x06, DNS!",), ["hello", ", DNS!"], "two strings"),
    Case((b"\x00\x02ok",), ["", "ok"], "an empty string first"),
    Case(("\x0cПривет".encode() + b"\x01!",), ["Привет", "!"], "UTF-8 text"),
]


def _kept_length_byte(case: Case, got: Any) -> bool:
    first = got[0] if isinstance(got, list) and got else None
    return isinstance(first, str) and first[:1] == chr(case.args[0][0])


def _first_only(case: Case, got: Any) -> bool:
    return isinstance(got, list) and got == case.expected[:1] != case.expected


TXT_STRINGS = Exercise(
    key="07.txt_strings",
    title="Read the strings of a TXT record",
    cases=_TXT_CASES,
    first_hint=(
        "Start at position 0: the byte there is a length n; the next n bytes are one "
        "string (decode them as UTF-8). Jump past them and repeat until the data ends."
    ),
    hints=(
        (
            "Keep a position, starting at 0, and loop while position < len(rdata); length = "
            "rdata[position] (one byte of bytes is already an int)."
        ),
        (
            "The string is rdata[position + 1 : position + 1 + length].decode('utf-8'): append "
            "it to a list, then position += 1 + length. Return the list when the loop ends."
        ),
    ),
    reference=reference.txt_strings,
    mistakes=[
        Mistake(
            "The first byte is the string's length, not part of the text: skip it.",
            _kept_length_byte,
        ),
        Mistake(
            "A TXT record can hold several strings: after the first, keep reading "
            "length bytes until the end of the data.",
            _first_only,
        ),
        Mistake(
            "Decode each string (bytes.decode('utf-8')): the answer is a list of str.",
            lambda case, got: isinstance(got, list) and any(isinstance(x, bytes) for x in got),
        ),
        Mistake(
            "Return a list of strings, one per character string, not one joined str.",
            lambda case, got: isinstance(got, str),
        ),
    ],
)


EXERCISES = (ENCODE_NAME, ANSWER_COUNT, REVERSE_NAME, TXT_STRINGS)
