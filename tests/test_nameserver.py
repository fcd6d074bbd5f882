"""The course's name server over real loopback sockets: the chapter's answers, and abuse."""

from __future__ import annotations

import random
import socket
import struct
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.zone
import pytest

from helpers.run import registry as _registry
from helpers.services.dns_answers import UDP_SIZE, Zone
from helpers.services.lookups import (
    course_gethostbyaddr,
    course_gethostbyname,
    course_resolver,
    resolve,
    send_query,
)
from helpers.services.nameserver import COURSE_ZONE, NameServer, name_server, start_name_server
from helpers.wire.dnswire import build_query, parse_header, parse_message, record_text


def ask(server: NameServer, query: bytes, timeout: float = 2.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, server.address)
        return sock.recvfrom(65535)[0]


def answers(
    server: NameServer, name: str, rdtype: str = "A", timeout: float = 2.0
) -> tuple[str, list[str]]:
    reply = parse_message(ask(server, build_query(name, rdtype, query_id=0x0404), timeout))
    assert reply.header.id == 0x0404 and reply.header.qr
    return reply.header.rcode_name, [f"{r.type} {record_text(r)}" for r in reply.answers]


@pytest.fixture
def server():
    server = NameServer().start()
    yield server
    server.stop()


@pytest.fixture
def registered():
    """The registered course name server, as the look-up helpers use it."""
    server = start_name_server(quiet=True)
    yield server
    _registry.stop_server("name")


# --- the chapter's answers ---


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("www.onego.ru", "A", ["A 195.161.136.4"]),
        ("4.136.161.195.in-addr.arpa", "PTR", ["PTR www.onego.ru."]),
        ("rnd.onego.ru", "A", ["A 127.0.0.1"]),
        ("rnd.onego.ru", "AAAA", ["AAAA ::1"]),
        ("onego.ru", "MX", ["MX 10 mail.onego.ru."]),
        ("mail.onego.ru", "A", ["A 127.0.0.1"]),
        ("MAIL.Onego.RU.", "A", ["A 127.0.0.1"]),
        ("smtp.onego.ru", "A", ["CNAME mail.onego.ru.", "A 127.0.0.1"]),
        ("onego.ru", "TXT", ['TXT "v=spf1 mx -all"']),
    ],
)
def test_zone_answers(server: NameServer, name: str, rdtype: str, expected: list[str]) -> None:
    assert answers(server, name, rdtype) == ("NOERROR", expected)


def test_mx_reply_carries_the_exchange_address_as_additional(server: NameServer) -> None:
    reply = parse_message(ask(server, build_query("onego.ru", "MX")))
    assert [(r.name, r.data) for r in reply.additional] == [("mail.onego.ru.", "127.0.0.1")]
    assert reply.header.aa and not reply.header.ra


def test_unknown_name_in_the_zone_is_nxdomain(server: NameServer) -> None:
    assert answers(server, "nope.onego.ru") == ("NXDOMAIN", [])
    assert answers(server, "5.136.161.195.in-addr.arpa", "PTR") == ("NXDOMAIN", [])
    assert answers(server, "1.0.0.127.in-addr.arpa", "PTR") == ("NXDOMAIN", [])


def test_existing_name_without_that_type_is_an_empty_answer(server: NameServer) -> None:
    assert answers(server, "www.onego.ru", "AAAA") == ("NOERROR", [])
    # a name with records only below it exists too
    assert answers(server, "136.161.195.in-addr.arpa", "PTR") == ("NOERROR", [])


def test_names_outside_the_course_zones_are_refused(server: NameServer) -> None:
    assert answers(server, "python.org") == ("REFUSED", [])
    # reverse names outside the course's own networks: not "no such name", REFUSED
    assert answers(server, "9.9.9.9.in-addr.arpa", "PTR") == ("REFUSED", [])
    assert answers(server, "4.137.161.195.in-addr.arpa", "PTR") == ("REFUSED", [])
    assert answers(server, "in-addr.arpa", "SOA") == ("REFUSED", [])


def test_an_edited_zone_is_served() -> None:
    zone = (*COURSE_ZONE, ("pop.onego.ru.", "A", "127.0.0.2"))
    server = NameServer(zone).start()
    try:
        assert answers(server, "pop.onego.ru") == ("NOERROR", ["A 127.0.0.2"])
    finally:
        server.stop()


def test_a_bad_zone_row_is_named() -> None:
    with pytest.raises(ValueError, match="bad zone row .*'A', 'not-an-address'"):
        NameServer((("x.onego.ru.", "A", "not-an-address"),))


# --- look-ups through dnspython and the socket-like helpers ---


def test_resolve_through_dnspython(registered: NameServer) -> None:
    assert resolve("www.onego.ru") == ["195.161.136.4"]
    assert resolve("onego.ru", "MX") == ["10 mail.onego.ru."]
    assert resolve("4.136.161.195.in-addr.arpa", "PTR") == ["www.onego.ru."]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolve("nope.onego.ru")
    with pytest.raises(dns.resolver.NoAnswer):
        resolve("mail.onego.ru", "MX")


def test_course_resolver_finds_the_mail_exchange(registered: NameServer) -> None:
    resolver = course_resolver()
    assert (resolver.nameservers, resolver.port) == (["127.0.0.1"], registered.port)
    (mx,) = resolver.resolve("onego.ru", "MX")
    assert (mx.preference, mx.exchange.to_text()) == (10, "mail.onego.ru.")
    address = resolver.resolve(mx.exchange, "A")[0].address
    assert address == course_gethostbyname("mail.onego.ru") == "127.0.0.1"


def test_gethostbyaddr_triple_for_the_name_and_the_address(registered: NameServer) -> None:
    triple = ("www.onego.ru", [], ["195.161.136.4"])
    assert course_gethostbyaddr("www.onego.ru") == triple
    assert course_gethostbyaddr("195.161.136.4") == triple


def test_socket_like_errors(registered: NameServer) -> None:
    with pytest.raises(socket.gaierror, match="nope.onego.ru"):
        course_gethostbyname("nope.onego.ru")
    with pytest.raises(socket.herror, match="no PTR record for 127.0.0.1"):
        course_gethostbyaddr("mail.onego.ru")


def test_lookups_start_the_server_quietly_when_none_runs(capfd) -> None:
    _registry.stop_server("name")
    try:
        assert resolve("www.onego.ru") == ["195.161.136.4"]
        assert name_server().running
    finally:
        _registry.stop_server("name")
    assert capfd.readouterr() == ("", "")


def test_send_query_returns_the_matching_reply(registered: NameServer) -> None:
    reply = send_query(build_query("www.onego.ru", query_id=77))
    assert parse_header(reply).id == 77
    assert parse_message(reply).answers[0].data == "195.161.136.4"


def test_the_course_resolver_asks_once_so_the_log_shows_each_question_once(
    registered: NameServer,
) -> None:
    resolver = course_resolver()
    assert resolver.timeout == resolver.lifetime <= 2.0
    registered.events.clear()
    assert resolve("www.onego.ru") == ["195.161.136.4"]
    assert [e.kind for e in registered.events.events] == ["query", "reply"]


def test_a_silent_server_gives_a_timeout_not_a_hang(registered: NameServer) -> None:
    resolver = course_resolver(timeout=0.2, lifetime=0.4)
    registered.stop()
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("www.onego.ru")


# --- abuse ---


def test_garbage_is_recorded_and_ignored_then_queries_are_answered(server, capfd) -> None:
    rng = random.Random(6)
    garbage = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))) for _ in range(200)]
    garbage += [
        b"\x12\x34\x01",  # a truncated header
        struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0),  # one question announced, none sent
        build_query("www.onego.ru")[:-3],  # the question cut off
        ask(server, build_query("www.onego.ru", query_id=5)),  # a reply, not a query
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in garbage:
            sock.sendto(datagram, server.address)
    unknown_type = parse_message(ask(server, build_query("www.onego.ru", 65280, query_id=9)))
    assert (unknown_type.header.rcode_name, unknown_type.answers) == ("NOERROR", [])
    assert answers(server, "www.onego.ru") == ("NOERROR", ["A 195.161.136.4"])
    ignored = server.events.wait_for("ignored", count=4, timeout=5)
    assert any(e.data == b"\x12\x34\x01" for e in ignored)
    assert all(e.note.startswith("not a DNS query") for e in ignored)
    assert server.errors == [] and server.running
    assert capfd.readouterr() == ("", "")


def test_a_flood_does_not_stop_the_server(server: NameServer) -> None:
    rng = random.Random(1000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(1000):
            if n % 2:
                sock.sendto(build_query("www.onego.ru", "A", query_id=n), server.address)
            else:
                sock.sendto(rng.randbytes(rng.randrange(1, 60)), server.address)
    # Some of the thousand are dropped by the full socket buffer, and so may be
    # the next query: ask again, as every DNS client does, until it is answered.
    deadline = time.monotonic() + 10
    while True:
        try:
            reply = answers(server, "onego.ru", "MX", timeout=0.5)
            break
        except TimeoutError:
            assert time.monotonic() < deadline, "no answer within 10 s after the flood"
    assert reply == ("NOERROR", ["MX 10 mail.onego.ru."])
    replies = server.events.wait_for("reply", count=2)
    assert len(replies) >= 2
    assert server.errors == []


def test_an_internal_error_is_answered_with_servfail(server: NameServer, capfd) -> None:
    def broken(request, transport):
        raise RuntimeError("zone lost")

    server.resolver.answer = broken
    reply = parse_message(ask(server, build_query("www.onego.ru", query_id=3)))
    assert (reply.header.id, reply.header.rcode_name, reply.answers) == (3, "SERVFAIL", [])
    assert [type(e) for e in server.errors] == [RuntimeError]
    (error,) = server.events.wait_for("error")
    assert "SERVFAIL" in error.note and "zone lost" in error.note
    with pytest.raises(RuntimeError, match="zone lost"):
        server.raise_errors()
    assert capfd.readouterr() == ("", "")


# --- starting and stopping ---


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_stop_closes_the_socket_and_frees_the_port() -> None:
    server = NameServer().start()
    assert not _port_is_free(server.port)
    server.stop()
    assert _port_is_free(server.port)
    assert not any(thread.is_alive() for thread in server._threads)
    server.stop()  # twice is harmless
    assert [e.kind for e in server.events.events].count("stop") == 1


def test_stop_before_start_does_not_deadlock() -> None:
    server = NameServer()
    server.stop()
    assert _port_is_free(server.port)
    with pytest.raises(RuntimeError, match="already stopped"):
        server.start()


def test_rerun_replaces_the_old_server_and_prints_one_status_line(capfd) -> None:
    first = start_name_server()
    second = start_name_server()
    try:
        assert not first.running and second.running
        assert _port_is_free(first.port) or first.port == second.port
        assert [s for s in _registry.running_servers() if isinstance(s, NameServer)] == [second]
        out, err = capfd.readouterr()
        assert (
            out
            == f"name server on 127.0.0.1:{first.port}\nname server on 127.0.0.1:{second.port}\n"
        )
        assert err == ""
    finally:
        _registry.stop_server("name")
    assert not second.running


def test_a_busy_port_falls_back_to_a_free_one(capfd) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        busy = holder.getsockname()[1]
        server = start_name_server(port=busy)
        try:
            assert server.port != busy
            assert answers(server, "www.onego.ru") == ("NOERROR", ["A 195.161.136.4"])
        finally:
            _registry.stop_server("name")
    out, _ = capfd.readouterr()
    assert out == f"name server on 127.0.0.1:{server.port} ({busy} was busy)\n"


# --- a real name server: TCP, SOA, EDNS, truncation, classes, flags ---


def udp(server: NameServer, query: dns.message.Message) -> dns.message.Message:
    return dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2, ignore_trailing=False)


def tcp(server: NameServer, query: dns.message.Message) -> dns.message.Message:
    return dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=2)


def soa_names(reply: dns.message.Message) -> list[tuple[str, int]]:
    return [(str(r.name), r.ttl) for r in reply.authority if r.rdtype == dns.rdatatype.SOA]


def test_tcp_answers_on_the_same_port_number(server: NameServer) -> None:
    reply = tcp(server, dns.message.make_query("www.onego.ru", "A"))
    assert [str(rr) for rrset in reply.answer for rr in rrset] == ["195.161.136.4"]
    assert reply.flags & dns.flags.AA
    kinds = [(e.kind, e.note) for e in server.events.events]
    assert ("query", "www.onego.ru. A (tcp)") in kinds
    assert ("bind", "udp and tcp") in kinds


def test_dnspython_resolver_with_tcp(server: NameServer) -> None:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], server.port, 3
    answer = resolver.resolve("onego.ru", "MX", tcp=True)
    assert [a.to_text() for a in answer] == ["10 mail.onego.ru."]


def test_several_queries_on_one_tcp_connection_are_answered_in_order(server) -> None:
    queries = [dns.message.make_query(n, "A") for n in ("www.onego.ru", "mail.onego.ru", "x.ru")]
    with socket.create_connection(server.address, timeout=2) as sock:
        wires = [q.to_wire() for q in queries]
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))  # all at once
        replies = []
        for _ in queries:
            (length,) = struct.unpack("!H", _recv_exactly(sock, 2))
            replies.append(dns.message.from_wire(_recv_exactly(sock, length)))
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [dns.rcode.to_text(r.rcode()) for r in replies] == ["NOERROR", "NOERROR", "REFUSED"]


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection early"
        data += chunk
    return data


def test_garbage_over_tcp_is_recorded_and_the_connection_closed(server: NameServer) -> None:
    with socket.create_connection(server.address, timeout=2) as sock:
        sock.sendall(struct.pack("!H", 5) + b"hello")
        assert sock.recv(10) == b""
    assert any(e.kind == "ignored" for e in server.events.events)
    assert tcp(server, dns.message.make_query("www.onego.ru", "A")).rcode() == dns.rcode.NOERROR


def test_stop_wakes_a_silent_tcp_client_and_frees_both_ports() -> None:
    server = NameServer().start(quiet=True)
    with socket.create_connection(server.address, timeout=2) as sock:
        tcp(server, dns.message.make_query("www.onego.ru", "A"))  # the server is serving
        server.stop()
        assert sock.recv(10) == b""  # woken and closed, not left to its idle timeout
    assert _port_is_free(server.port)
    with socket.socket() as probe:  # as a server binds: TIME-WAIT of the query aside
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", server.port))


def test_a_busy_tcp_port_moves_both_to_another_number(capfd) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        if not _port_is_free(taken):
            pytest.skip("the UDP port of that number is taken by someone else too")
        server = NameServer(port=taken).start()
        try:
            assert server.busy_port == taken and server.port != taken
            assert capfd.readouterr().out == f"{server.status_line}\n"
            assert f"({taken} was busy)" in server.status_line
            reply = tcp(server, dns.message.make_query("www.onego.ru", "A"))
            assert reply.rcode() == dns.rcode.NOERROR
        finally:
            server.stop()


@pytest.mark.parametrize(
    ("name", "apex"),
    [
        ("nope.onego.ru", "onego.ru."),
        ("9.136.161.195.in-addr.arpa", "136.161.195.in-addr.arpa."),
        ("1.0.0.127.in-addr.arpa", "127.in-addr.arpa."),
    ],
)
def test_nxdomain_carries_the_soa_of_its_zone(server: NameServer, name: str, apex: str) -> None:
    reply = udp(server, dns.message.make_query(name, "PTR" if "arpa" in name else "A"))
    assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer
    soa = server.resolver.soas[apex]
    assert soa_names(reply) == [(apex, min(soa.ttl, soa.rdata.times[-1]))]
    assert reply.flags & dns.flags.AA


def test_nodata_carries_the_soa_too(server: NameServer) -> None:
    reply = udp(server, dns.message.make_query("www.onego.ru", "AAAA"))
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    assert [name for name, _ in soa_names(reply)] == ["onego.ru."]


def test_soa_and_ns_of_each_zone(server: NameServer) -> None:
    for apex in server.resolver.origins:
        soa = udp(server, dns.message.make_query(apex, "SOA"))
        assert [rrset.rdtype for rrset in soa.answer] == [dns.rdatatype.SOA], apex
        ns = udp(server, dns.message.make_query(apex, "NS"))
        targets = [str(rr.target) for rrset in ns.answer for rr in rrset]
        assert targets == ["ns.onego.ru."], apex
        glue = [str(rrset.name) for rrset in ns.additional]
        assert glue == ["ns.onego.ru."], apex


def test_other_classes_are_refused(server: NameServer) -> None:
    for rdclass in ("CH", "HS"):
        query = dns.message.make_query("version.bind", "TXT", rdclass=rdclass)
        reply = udp(server, query)
        assert dns.rcode.to_text(reply.rcode()) == "REFUSED" and not reply.answer
    query = dns.message.make_query("www.onego.ru", "A", rdclass="CH")
    assert dns.rcode.to_text(udp(server, query).rcode()) == "REFUSED"


def test_ad_and_cd_are_not_echoed_rd_is(server: NameServer) -> None:
    query = dns.message.make_query("www.onego.ru", "A")
    query.flags |= dns.flags.AD | dns.flags.CD | dns.flags.RD
    reply = udp(server, query)
    assert not reply.flags & (dns.flags.AD | dns.flags.CD)
    assert reply.flags & dns.flags.RD and not reply.flags & dns.flags.RA


def test_edns_is_answered_with_opt_and_a_later_version_with_badvers(server) -> None:
    query = dns.message.make_query("www.onego.ru", "A", use_edns=0, payload=4096)
    reply = udp(server, query)
    assert reply.edns == 0 and reply.payload == UDP_SIZE
    assert udp(server, dns.message.make_query("www.onego.ru", "A")).edns == -1  # none asked
    later = dns.message.make_query("www.onego.ru", "A", use_edns=1)
    reply = udp(server, later)
    assert reply.rcode() == dns.rcode.BADVERS and reply.edns == 0 and not reply.answer


def _big_zone(count: int = 30) -> tuple[tuple[str, str, str], ...]:
    texts = [("big.onego.ru.", "TXT", f'"line {i:02} {"x" * 40}"') for i in range(count)]
    return (*COURSE_ZONE, *texts)


def test_a_udp_answer_over_512_bytes_is_truncated_and_complete_over_tcp() -> None:
    server = NameServer(_big_zone()).start(quiet=True)
    try:
        query = dns.message.make_query("big.onego.ru", "TXT")
        whole = tcp(server, query)
        assert len(whole.to_wire()) > 512 and len(whole.answer[0]) == 30
        cut = udp(server, query)
        assert cut.flags & dns.flags.TC and not cut.answer
        # a client offering more through EDNS gets more, up to the server's size
        edns = dns.message.make_query("big.onego.ru", "TXT", use_edns=0, payload=4096)
        wire = dns.query.udp(edns, "127.0.0.1", port=server.port, timeout=2)
        assert wire.flags & dns.flags.TC  # 30 * ~50 bytes > UDP_SIZE
        small = NameServer(_big_zone(12), name="small").start(quiet=True)
        try:
            fits = dns.query.udp(
                dns.message.make_query("big.onego.ru", "TXT", use_edns=0, payload=1232),
                "127.0.0.1",
                port=small.port,
                timeout=2,
            )
            plain = udp(small, dns.message.make_query("big.onego.ru", "TXT"))
        finally:
            small.stop()
        assert not fits.flags & dns.flags.TC and len(fits.answer[0]) == 12
        assert plain.flags & dns.flags.TC  # the same answer, without EDNS: over 512
    finally:
        server.stop()


def test_dnspython_retries_a_truncated_answer_over_tcp_and_gets_it_whole() -> None:
    server = NameServer(_big_zone()).start(quiet=True)
    try:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], server.port, 3
        resolver.use_edns(-1)  # no EDNS: the 512-byte limit applies
        answer = resolver.resolve("big.onego.ru", "TXT")
        assert len(answer) == 30
        notes = [e.note for e in server.events.events if e.kind == "reply"]
        assert any("truncated" in n for n in notes)
        assert any(n.endswith("(tcp)") for n in notes)
    finally:
        server.stop()


def test_a_zone_transfer_over_tcp_gives_the_whole_zone(server: NameServer) -> None:
    zone = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", "onego.ru", port=server.port, timeout=2))
    names = sorted(str(name) for name in zone.nodes)
    assert names == ["@", "mail", "ns", "rnd", "smtp", "www"]
    refused = udp(server, dns.message.make_query("onego.ru", "AXFR"))
    assert refused.rcode() == dns.rcode.REFUSED  # a transfer goes over TCP only


def test_zone_errors_name_the_bad_row() -> None:
    outside = ("www.python.org.", "A", "127.0.0.1")
    with pytest.raises(ValueError, match=r"bad zone row \('www.python.org.'.*outside every zone"):
        Zone((*COURSE_ZONE, outside))
    second = ("onego.ru.", "SOA", "ns.onego.ru. other.onego.ru. 2 1 1 1 1")
    with pytest.raises(ValueError, match=r"bad zone row .*other.onego.ru.*second SOA"):
        Zone((*COURSE_ZONE, second))
    with pytest.raises(ValueError, match="no SOA row"):
        Zone((("www.onego.ru.", "A", "195.161.136.4"),))


def test_the_course_zone_is_data_with_an_soa_for_each_of_its_zones() -> None:
    zone = Zone(COURSE_ZONE)
    assert set(zone.origins) == {
        "onego.ru.",
        "136.161.195.in-addr.arpa.",
        "127.in-addr.arpa.",
        "1." + "0." * 31 + "ip6.arpa.",
    }
    assert all(len(row) == 3 and all(isinstance(v, str) for v in row) for row in COURSE_ZONE)
