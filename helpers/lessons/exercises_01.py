"""Notebook 01's exercise: protocols on their OSI layers.

    import helpers
    def layer_of(protocol):
        raise NotImplementedError
    helpers.check(PLACE_PROTOCOLS, layer_of)
    # -> not solved yet: Protocols on their OSI layers
    # -> Hint: ...

Each typical mistake (a layer counted from the top, a name instead of a number,
a protocol put one layer off) is recognised from the wrong answer it leads to,
so the hint names the real slip.
"""

from __future__ import annotations

from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_01 as reference

# ---- protocols on their layers ----

PROTOCOL_LAYERS: dict[str, int] = {
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
_LAYER_CASES = [Case((name,), layer, name) for name, layer in PROTOCOL_LAYERS.items()]


def _counted_from_top(case: Case, got: Any) -> bool:
    return got == 8 - case.expected and case.expected != 4


PLACE_PROTOCOLS = Exercise(
    key="01.place_protocols",
    title="Protocols on their OSI layers",
    cases=_LAYER_CASES,
    first_hint=(
        "Return the layer's number, 1 (physical) to 7 (application). Ask what the protocol "
        "does: move frames inside one network, route packets between networks, carry data "
        "between two programs, or serve one kind of application?"
    ),
    hints=(
        (
            "Sort the twelve into four groups first: the ones that move frames inside one "
            "network (Ethernet, PPP, ATM), the one that routes packets between networks, the "
            "two that carry data between two programs (the ones sockets offer), and the six "
            "that each serve one kind of application (web, files, mail, news)."
        ),
        (
            "Give each group its layer: frames inside one network 2, routing between networks "
            "3, program to program 4, an application's own protocol 7. Write a dict from each "
            "name to its number, layers = {'Ethernet': 2, ...}, and return layers[protocol]."
        ),
    ),
    reference=reference.layer_of,
    mistakes=[
        Mistake(
            "Return the layer's number as an int (1 to 7), not its name.",
            lambda case, got: isinstance(got, str),
        ),
        Mistake(
            "The layers are numbered from the bottom: physical is 1, application is 7.",
            _counted_from_top,
        ),
        Mistake(
            "Ethernet, PPP and ATM turn bits into frames and handle errors inside one "
            "physical network: the data link layer, 2. The physical layer (1) only "
            "carries the bits.",
            lambda case, got: case.expected == 2 and got == 1,
        ),
        Mistake(
            "IP routes packets from node to node across networks: the network layer, 3. "
            "Ports and connections (TCP, UDP) are one layer up.",
            lambda case, got: case.expected == 3 and got == 4,
        ),
        Mistake(
            "TCP and UDP carry data between two programs (address and port at each "
            "end): the transport layer, 4, where sockets sit. Routing between nodes (IP) "
            "is layer 3.",
            lambda case, got: case.expected == 4 and got == 3,
        ),
        Mistake(
            "HTTP, FTP, SMTP, NNTP, POP3 and IMAP each serve one kind of application: "
            "layer 7, even though they travel over TCP.",
            lambda case, got: case.expected == 7 and got in (4, 5, 6),
        ),
        Mistake(
            "Every protocol of the cases needs an answer: add the one this case names, "
            "spelled as shown.",
            lambda case, got: isinstance(got, KeyError),
        ),
    ],
)
