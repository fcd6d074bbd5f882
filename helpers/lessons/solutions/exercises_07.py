"""Reference solutions of notebook 07's exercises (``exercises_07.EXERCISES``)."""

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


def txt_strings(rdata: bytes) -> list[str]:
    strings = []
    position = 0
    while position < len(rdata):
        length = rdata[position]
        strings.append(rdata[position + 1 : position + 1 + length].decode("utf-8"))
        position += 1 + length
    return strings
