"""Notebook 06's exercises: the reference solutions pass, typical wrong answers get their hint."""

from __future__ import annotations

import struct

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.exercises_06 import IPV4_CHECKSUM, UDP_HEADER
from helpers.lessons.solutions import exercises_06 as reference
from helpers.wire.packets import internet_checksum, udp_header

EXERCISES = {
    "ipv4_checksum": (IPV4_CHECKSUM, reference.ipv4_checksum),
    "udp_header": (UDP_HEADER, reference.udp_header),
}


test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests(EXERCISES)
)


def test_reference_checksums_agree_with_the_helper() -> None:
    for case in IPV4_CHECKSUM.cases():
        header = case.args[0]
        assert len(header) == 20 and header[10:12] == b"\x00\x00"
        assert case.expected == internet_checksum(header)
        full = header[:10] + struct.pack("!H", case.expected) + header[12:]
        assert internet_checksum(full) == 0
    # the helper's example checksum for the lesson's packet
    assert IPV4_CHECKSUM.cases()[0].expected == 0x2A88


# ---- IPv4 checksum: wrong answers ----


def checksum_without_fold(header: bytes) -> int:
    return ~sum(struct.unpack("!10H", header)) & 0xFFFF


def checksum_folded_once(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksum_little_endian(header: bytes) -> int:
    total = sum(struct.unpack("<10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def checksum_not_complemented(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum_of_bytes(header: bytes) -> int:
    return ~sum(header) & 0xFFFF


def checksum_as_bytes(header: bytes) -> bytes:
    return struct.pack("!H", reference.ipv4_checksum(header))


@pytest.mark.parametrize(
    ("wrong", "hint_text", "case_label"),
    [
        (checksum_without_fold, "Fold the carry", "the 'ПАЛИНДРОМ' packet"),
        (checksum_folded_once, "Fold again", "a sum that carries twice"),
        (checksum_little_endian, "Wrong byte order", "the 'ПАЛИНДРОМ' packet"),
        (checksum_not_complemented, "one's complement", "the 'ПАЛИНДРОМ' packet"),
        (checksum_of_bytes, "not single bytes", "the 'ПАЛИНДРОМ' packet"),
        (checksum_as_bytes, "as an int", "the 'ПАЛИНДРОМ' packet"),
    ],
)
def test_checksum_mistakes_get_their_hint(wrong, hint_text: str, case_label: str) -> None:
    result = assert_gets_hint(IPV4_CHECKSUM, wrong, hint_text, "failed")
    assert result.case is not None and result.case.label == case_label
    assert f"Hint: {result.hint}" in repr(result)


# ---- UDP header: wrong answers ----


def udp_little_endian(message: str, src_port: int, dst_port: int) -> bytes:
    return struct.pack("<HHHH", src_port, dst_port, 8 + len(message.encode()), 0)


def udp_without_header_length(message: str, src_port: int, dst_port: int) -> bytes:
    return struct.pack("!HHHH", src_port, dst_port, len(message.encode()), 0)


def udp_length_in_characters(message: str, src_port: int, dst_port: int) -> bytes:
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(message), 0)


def udp_with_message(message: str, src_port: int, dst_port: int) -> bytes:
    return reference.udp_header(message, src_port, dst_port) + message.encode()


def udp_with_str(message: str, src_port: int, dst_port: int) -> bytes:
    return struct.pack("!HH", src_port, dst_port) + message


def udp_three_fields(message: str, src_port: int, dst_port: int) -> bytes:
    return struct.pack("!HHH", src_port, dst_port, 8 + len(message.encode()))


@pytest.mark.parametrize(
    ("wrong", "hint_text"),
    [
        (udp_little_endian, "Wrong byte order"),
        (udp_without_header_length, "counts the 8 header bytes"),
        (udp_length_in_characters, "Count bytes, not characters"),
        (udp_with_message, "without the message"),
        (udp_with_str, "Encode the text first"),
        (udp_three_fields, "exactly 8 bytes"),
    ],
)
def test_udp_mistakes_get_their_hint(wrong, hint_text: str) -> None:
    assert_gets_hint(UDP_HEADER, wrong, hint_text)


def test_udp_cases_agree_with_the_helper() -> None:
    for case in UDP_HEADER.cases():
        text, src, dst = case.args
        assert case.expected == udp_header(text.encode(), src_port=src, dst_port=dst)
