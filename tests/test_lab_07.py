"""Notebook 07's lab: the reference resolver passes, the stub is "not solved yet", and the
typical wrong resolvers get their own hints (each proven by running it)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, DNSRecord

from helpers.lessons import checks, lab_07
from helpers.lessons.labs import check_lab
from helpers.run.program_files import save_program

LAB = lab_07.LAB
REFERENCE = LAB.reference_program()


@pytest.fixture(autouse=True)
def fresh_ladders() -> Iterator[None]:
    checks.forget_attempts()
    yield
    checks.forget_attempts()


def wrong(old: str, new: str) -> str:
    """The reference with one mistake put in (the replaced text must be there)."""
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new)


def shown(source: str) -> str:
    save_program(LAB.program, source)
    result = check_lab(LAB)
    assert result.status == "failed", repr(result)
    return repr(result)


def test_the_reference_resolver_passes() -> None:
    save_program(LAB.program, REFERENCE)
    result = check_lab(LAB)
    assert result.passed, repr(result)
    assert "a chain of aliases followed by asking again: yes" in repr(result)
    assert "a reply with another ID skipped: yes" in repr(result)


def test_the_stub_is_not_solved_yet_and_climbs_nothing() -> None:
    save_program(LAB.program, LAB.stub)
    assert repr(check_lab(LAB)) == f"not solved yet: {LAB.title}\nHint: {LAB.first_hint}"
    assert LAB.ladder.failed_attempts == 0
    compile(LAB.stub, LAB.program, "exec")
    assert len(LAB.hints) >= 2 and all(len(h) > 40 for h in (LAB.first_hint, *LAB.hints))


def test_the_lab_is_registered_for_reveal_and_its_cell_saves_the_reference() -> None:
    assert checks._exercise(LAB.key) is LAB
    cell = LAB.reveal_source()
    assert cell.startswith(f"%%program {LAB.program}\n") and "def read_name" in cell


def test_a_resolver_without_a_timeout_gets_the_settimeout_hint() -> None:
    text = shown(wrong("        sock.settimeout(TIMEOUT)\n", ""))
    assert "a server that never answers" in text and "sock.settimeout(TIMEOUT)" in text


def test_a_resolver_that_lets_the_timeout_escape_is_told_to_catch_it() -> None:
    text = shown(
        wrong(
            "            except TimeoutError:\n",
            "            except ZeroDivisionError:\n",
        )
    )
    assert "Catch TimeoutError around recvfrom" in text


def test_a_resolver_that_does_not_follow_pointers_gets_the_pointer_hint() -> None:
    text = shown(wrong("if length >= 0xC0:", "if False:"))
    assert "asking for www.onego.ru" in text and "is not a length but a pointer" in text


def test_a_resolver_that_reads_one_reply_only_is_told_to_ask_again() -> None:
    text = shown(
        wrong(
            "            # the reply ended at an alias whose address it did not carry: "
            "ask for it\n",
            "            return\n",
        )
    )
    assert "a server that answers an alias alone" in text
    assert "smtp.onego.ru is an alias for mail.onego.ru" in text  # the zone's chain, shown
    assert "send a new query for that name" in text


def test_a_resolver_that_ignores_cnames_gets_the_alias_hint() -> None:
    source = wrong(
        "while aliases := [d for o, t, d in answers if o == name and t == TYPE_CNAME]:",
        "while aliases := []:",
    )
    source = source.replace("o == name and t == TYPE_A]", "t == TYPE_A]")  # any A will do
    text = shown(source)
    assert "an alias answered with its target's address: asking for smtp.onego.ru" in text
    assert "smtp.onego.ru has address 127.0.0.1" in text  # what it printed
    assert "The first answer is a CNAME (type 5)" in text


def test_a_resolver_that_does_not_match_the_id_prints_the_forged_address() -> None:
    text = shown(wrong(' and struct.unpack("!H", reply[:2])[0] == query_id', ""))
    assert "127.6.6.6" in text and "accept only a reply that carries it" in text


def test_a_resolver_that_sends_to_the_chapters_port_is_told_where_to_send() -> None:
    text = shown(wrong('("127.0.0.1", port)', '("127.0.0.1", 53)'))
    assert "sent the name server no query" in text and "sock.sendto(query" in text


def test_a_resolver_that_asks_for_the_wrong_type_is_told_so() -> None:
    text = shown(wrong('struct.pack("!HH", TYPE_A, CLASS_IN)', 'struct.pack("!HH", 255, CLASS_IN)'))
    assert "the question 'www.onego.ru. ANY'" in text and "type A (1)" in text


def test_the_alias_only_server_answers_the_cname_and_nothing_more() -> None:
    zone = lab_07.AliasOnlyZone(lab_07.LAB_ZONE)
    reply = zone.answer(DNSRecord.question("alias.onego.ru", "A"))
    assert [QTYPE[rr.rtype] for rr in reply.rr] == ["CNAME"]
    whole = lab_07.Zone(lab_07.LAB_ZONE).answer(DNSRecord.question("alias.onego.ru", "A"))
    assert [QTYPE[rr.rtype] for rr in whole.rr] == ["CNAME", "CNAME", "A"]


def test_the_forging_server_sends_another_id_first_then_the_true_reply() -> None:
    server = lab_07.ForgingServer(lab_07.Zone(lab_07.LAB_ZONE))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            query = DNSRecord.question("www.onego.ru", "A")
            query.header.id = 0xFFFF
            sock.sendto(query.pack(), ("127.0.0.1", server.port))
            first, second = (DNSRecord.parse(sock.recvfrom(512)[0]) for _ in range(2))
    finally:
        server.close()
    assert (first.header.id, str(first.rr[0].rdata)) == (0, lab_07.FORGED_ADDRESS)
    assert (second.header.id, str(second.rr[0].rdata)) == (0xFFFF, "195.161.136.4")
    assert struct.pack("!H", second.header.id) == query.pack()[:2]


def test_expected_lines_follow_the_zone_and_printed_lines_even_out_dots_and_case() -> None:
    assert lab_07.expected_lines(lab_07.LAB_ZONE, "alias.onego.ru") == [
        "alias.onego.ru is an alias for smtp.onego.ru",
        "smtp.onego.ru is an alias for mail.onego.ru",
        "mail.onego.ru has address 127.0.0.1",
    ]
    text = (
        "debug: 46 bytes\nSMTP.onego.ru. is an alias for mail.onego.ru.\n"
        "mail.onego.ru has address 127.0.0.1\n"
    )
    assert lab_07.printed_lines(text) == [
        "smtp.onego.ru is an alias for mail.onego.ru",
        "mail.onego.ru has address 127.0.0.1",
    ]
