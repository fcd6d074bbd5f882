"""Notebook 06's exercises: an IPv4 header checksum and a UDP header.

    import helpers
    def ipv4_checksum(header):
        raise NotImplementedError
    helpers.check(IPV4_CHECKSUM, ipv4_checksum)
    # -> not solved yet: The IPv4 header checksum
    # -> Hint: ...

Each typical mistake (a carry not folded back, words read in the wrong byte
order, a length in characters) is recognised by recomputing the wrong answer it
leads to, so the hint names the real slip.
"""

from __future__ import annotations

import struct
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_06 as reference
from helpers.wire.packets import PROTOCOL_TCP, PROTOCOL_UDP, internet_checksum, ipv4_header

# ---- 1. the IPv4 header checksum ----


def _unchecked_header(
    payload_length: int,
    protocol: int,
    ttl: int,
    identification: int,
    src_ip: str = "127.0.0.1",
    dst_ip: str = "127.0.0.1",
) -> bytes:
    header = ipv4_header(
        payload_length,
        src_ip=src_ip,
        dst_ip=dst_ip,
        protocol=protocol,
        ttl=ttl,
        identification=identification,
    )
    return header[:10] + b"\x00\x00" + header[12:]


def _checksum_cases() -> list[Case]:
    headers = [
        ("the 'ПАЛИНДРОМ' packet", _unchecked_header(38, PROTOCOL_TCP, 64, 0x1234)),
        ("an empty TCP segment", _unchecked_header(20, PROTOCOL_TCP, 64, 0x1234)),
        ("a UDP datagram, TTL 1", _unchecked_header(12, PROTOCOL_UDP, 1, 7, "127.0.0.2")),
        # its words add up to 0x1ffff: the first fold gives 0x10000, which carries again
        ("a sum that carries twice", _unchecked_header(38, PROTOCOL_TCP, 64, 15549)),
    ]
    return [Case((header,), internet_checksum(header), label) for label, header in headers]


def _word_sum(header: bytes, order: str = "!") -> int:
    return sum(struct.unpack(f"{order}{len(header) // 2}H", header))


def _without_fold(case: Case, got: Any) -> bool:
    total = _word_sum(case.args[0])
    return got in {~total & 0xFFFF, ~total, 0xFFFF - total, (0xFFFF - total) & 0xFFFF}


def _folded_once(case: Case, got: Any) -> bool:
    total = _word_sum(case.args[0])
    once = (total & 0xFFFF) + (total >> 16)
    return once > 0xFFFF and got in {~once & 0xFFFF, 0xFFFF - once}


def _byte_swapped(case: Case, got: Any) -> bool:
    return (
        isinstance(got, int)
        and got == int.from_bytes(case.expected.to_bytes(2, "big"), "little") != case.expected
    )


def _not_complemented(case: Case, got: Any) -> bool:
    return got == 0xFFFF - case.expected


def _summed_bytes(case: Case, got: Any) -> bool:
    total = sum(case.args[0])
    return got in {total, ~total & 0xFFFF, 0xFFFF - total}


IPV4_CHECKSUM = Exercise(
    key="06.ipv4_checksum",
    title="The IPv4 header checksum",
    cases=_checksum_cases,
    first_hint=(
        "Read the 20 bytes as ten 16-bit words in network byte order "
        "(struct.unpack('!10H', header)), add them up, fold whatever grew above 16 bits "
        "back into the low 16 bits, and return the one's complement of the result as an int."
    ),
    hints=(
        (
            "total = sum(struct.unpack('!10H', header)). That total can be larger than 0xFFFF: "
            "the bits above the low 16 are the carry, and they go back in."
        ),
        (
            "`while total > 0xFFFF: total = (total & 0xFFFF) + (total >> 16)`, then return "
            "~total & 0xFFFF."
        ),
    ),
    reference=reference.ipv4_checksum,
    mistakes=[
        Mistake(
            "Return the checksum as an int (0 to 0xFFFF); struct.pack turns it into "
            "bytes only when it goes into the header.",
            lambda case, got: isinstance(got, bytes | bytearray),
        ),
        Mistake(
            "Fold the carry: ten 16-bit words add up to more than 16 bits. Add what "
            "lies above bit 16 back into the low bits, "
            "total = (total & 0xFFFF) + (total >> 16), before taking ~total & 0xFFFF.",
            _without_fold,
        ),
        Mistake(
            "Fold again: adding the carry back can itself carry (0xffff + 1 = 0x10000). "
            "Use `while total > 0xFFFF:`, not `if`.",
            _folded_once,
        ),
        Mistake(
            "Wrong byte order: the words are big-endian (network byte order). Use "
            "struct.unpack('!10H', ...) or '>10H'; '<' or no prefix reads them "
            "little-endian on most machines and gives the checksum with its bytes swapped.",
            _byte_swapped,
        ),
        Mistake(
            "Take the one's complement at the end: ~total & 0xFFFF (0xFFFF - total is "
            "the same for a 16-bit total). A receiver adds the checksum to the same "
            "words and expects 0xFFFF.",
            _not_complemented,
        ),
        Mistake(
            "Add 16-bit words, not single bytes: two bytes form one word, "
            "struct.unpack('!10H', header) gives all ten.",
            _summed_bytes,
        ),
    ],
)


# ---- 2. a UDP header for a message ----


def _udp_cases() -> list[Case]:
    calls = [
        ("ПАЛИНДРОМ", 54321, 33333, "'ПАЛИНДРОМ' to the course's port"),
        ("", 50000, 33333, "an empty message"),
        ("ping", 40000, 7, "ASCII text"),
        ("Ж" * 700, 65535, 33333, "1400 bytes of Cyrillic"),
    ]
    return [
        Case((text, src, dst), struct.pack("!HHHH", src, dst, 8 + len(text.encode()), 0), label)
        for text, src, dst, label in calls
    ]


def _udp_variant(case: Case, order: str, length: int) -> bytes:
    _, src, dst = case.args
    return struct.pack(f"{order}HHHH", src, dst, length, 0)


def _udp_lengths(case: Case) -> dict[str, int]:
    text = case.args[0]
    return {
        "right": 8 + len(text.encode()),
        "no header": len(text.encode()),
        "characters": 8 + len(text),
        "characters, no header": len(text),
    }


UDP_HEADER = Exercise(
    key="06.udp_header",
    title="A UDP header for a message",
    cases=_udp_cases,
    first_hint=(
        "The UDP header is four unsigned 16-bit numbers in network byte order: source port, "
        "destination port, length, checksum. The length counts the header and the message's "
        "UTF-8 bytes; over IPv4 a checksum of 0 means 'not computed', so use 0."
    ),
    hints=(
        (
            "The length is 8 + len(message.encode('utf-8')): the 8 header bytes plus the "
            "message's bytes (not its characters)."
        ),
        (
            "Return struct.pack('!HHHH', src_port, dst_port, length, 0): '!' for network byte "
            "order, one H for each unsigned 16-bit field."
        ),
    ),
    reference=reference.udp_header,
    mistakes=[
        Mistake(
            "Encode the text first (message.encode('utf-8')): a header is bytes.",
            lambda case, got: isinstance(got, AttributeError | TypeError),
        ),
        Mistake(
            "Return only the 8-byte header, without the message after it.",
            lambda case, got: got == case.expected + case.args[0].encode(),
        ),
        Mistake(
            "Wrong byte order: network byte order is big-endian. Start the struct "
            "format with '!' ('!HHHH'); '<' or no prefix gives little-endian on most "
            "machines, so port 33333 (0x8235) would go out as 0x3582.",
            lambda case, got: (
                got in {_udp_variant(case, "<", n) for n in _udp_lengths(case).values()}
            ),
        ),
        Mistake(
            "The length field counts the 8 header bytes as well as the message.",
            lambda case, got: (
                got
                in {
                    _udp_variant(case, "!", _udp_lengths(case)["no header"]),
                    _udp_variant(case, "!", _udp_lengths(case)["characters, no header"]),
                }
            ),
        ),
        Mistake(
            "Count bytes, not characters: 'ПАЛИНДРОМ' is 9 characters but 18 bytes of "
            "UTF-8, so use len(message.encode('utf-8')).",
            lambda case, got: got == _udp_variant(case, "!", _udp_lengths(case)["characters"]),
        ),
        Mistake(
            "A UDP header is exactly 8 bytes: four 16-bit fields ('!HHHH').",
            lambda case, got: isinstance(got, bytes) and len(got) != 8,
        ),
    ],
)
