"""Reference solution of notebook 01's exercise (``exercises_01.PLACE_PROTOCOLS``)."""

from __future__ import annotations


def layer_of(protocol: str) -> int:
    layers = {
        "Ethernet": 2,
        "PPP": 2,
        "ATM": 2,
        "IP": 3,
        "TCP": 4,
        "UDP": 4,
        "HTTP": 7,
        "FTP": 7,
        "SMTP": 7,
        "NNTP": 7,
        "POP3": 7,
        "IMAP": 7,
    }
    return layers[protocol]
