"""Reference solutions of notebook 04's exercises, checked by tests/test_exercises_04.py."""

from __future__ import annotations

import struct


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def answer_count(message: bytes) -> int:
    _id, _flags, _questions, answers, _authority, _additional = struct.unpack("!6H", message[:12])
    return answers


def reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def read_name(message: bytes, offset: int) -> str:
    labels = []
    while True:
        length = message[offset]
        if length == 0:
            return ".".join(labels) + "."
        if length >= 0xC0:
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        labels.append(message[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length
