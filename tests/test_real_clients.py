"""Clients written elsewhere against the course's servers: dig, host, nslookup, swaks.

The course's servers must behave like real ones, since students use these
tools against them from a terminal. Each test runs the real program over
loopback. On a laptop without one of them the test is skipped with the reason;
in CI (CI=true, where .ci/run installs dnsutils, swaks and libnet-ssleay-perl)
a missing tool fails.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers.services.mailsink import MailSink, start_mail_sink
from helpers.services.nameserver import NameServer
from helpers.services.tls_ca import course_ca_pem

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 30  # seconds for one client run; only reached when something is wrong


def need(tool: str) -> str:
    """The tool's path; skip without it, except in CI, where it must be there."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is not installed, and CI must run it (see .ci/run)")
        pytest.skip(f"{tool} is not installed here (Debian/Ubuntu: dnsutils, swaks)")
    return path


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def dns_server():
    server = NameServer(name="real-clients-dns").start(quiet=True)
    yield server
    server.stop()


def dig(server: NameServer, *args: str) -> str:
    result = run(need("dig"), "@127.0.0.1", "-p", str(server.port), "+time=3", "+tries=2", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "malformed" not in result.stdout.lower(), result.stdout
    return result.stdout


def status(output: str) -> str:
    match = re.search(r"status: (\w+)", output)
    assert match, output
    return match.group(1)


def flags(output: str) -> set[str]:
    match = re.search(r";; flags: ([a-z ]+);", output)
    assert match, output
    return set(match.group(1).split())


def section(output: str, name: str) -> list[list[str]]:
    """The records of one section of dig's output, each split into its fields."""
    match = re.search(rf";; {name} SECTION:\n(.*?)(?:\n\n|\Z)", output, re.DOTALL)
    return [line.split() for line in match.group(1).splitlines()] if match else []


# --- dig, over UDP and TCP ---


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (("www.onego.ru", "A"), ["www.onego.ru.", "A", "195.161.136.4"]),
        (("-x", "195.161.136.4"), ["4.136.161.195.in-addr.arpa.", "PTR", "www.onego.ru."]),
        (("onego.ru", "MX"), ["onego.ru.", "MX", "10", "mail.onego.ru."]),
        (("onego.ru", "SOA"), ["onego.ru.", "SOA", "ns.onego.ru.", "hostmaster.onego.ru."]),
    ],
)
def test_dig_gets_the_zone_over_udp_and_tcp(dns_server, transport, question, expected):
    output = dig(dns_server, transport, *question)
    assert status(output) == "NOERROR" and "aa" in flags(output)
    (record,) = section(output, "ANSWER")
    assert [record[0], *record[3:]][: len(expected)] == expected
    assert record[2] == "IN"


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig_nxdomain_carries_the_soa(dns_server, transport):
    output = dig(dns_server, transport, "nope.onego.ru", "A")
    assert status(output) == "NXDOMAIN" and not section(output, "ANSWER")
    authority = section(output, "AUTHORITY")
    assert [(r[0], r[3]) for r in authority] == [("onego.ru.", "SOA")]


def test_dig_chaos_question_is_refused_not_answered_with_in_data(dns_server):
    output = dig(dns_server, "CH", "TXT", "version.bind")
    assert status(output) == "REFUSED" and not section(output, "ANSWER")


def test_dig_adflag_is_not_echoed(dns_server):
    output = dig(dns_server, "+adflag", "+cdflag", "www.onego.ru")
    assert status(output) == "NOERROR"
    assert not {"ad", "cd"} & flags(output) and {"qr", "aa"} <= flags(output)


def test_dig_edns_gets_an_opt_record_back(dns_server):
    output = dig(dns_server, "+edns=0", "www.onego.ru")
    assert re.search(r"; EDNS: version: 0, flags:;? ?\w*;? udp: \d+", output), output
    later = dig(dns_server, "+edns=1", "+noednsnegotiation", "www.onego.ru")
    assert status(later) == "BADVERS"


def test_dig_reverse_names_outside_the_course_networks_are_refused(dns_server):
    assert status(dig(dns_server, "-x", "8.8.8.8")) == "REFUSED"
    assert status(dig(dns_server, "python.org")) == "REFUSED"


def test_dig_any_and_axfr_go_over_tcp(dns_server):
    output = dig(dns_server, "onego.ru", "ANY")
    types = {r[3] for r in section(output, "ANSWER")}
    assert {"SOA", "NS", "MX", "TXT"} <= types
    transfer = dig(dns_server, "onego.ru", "AXFR")
    records = [line.split() for line in transfer.splitlines() if line and line[0] != ";"]
    assert records[0][3] == records[-1][3] == "SOA"
    assert ["www.onego.ru.", "A", "195.161.136.4"] in [[r[0], r[3], r[4]] for r in records]


def test_host_and_nslookup_if_present(dns_server):
    for tool in ("host", "nslookup"):
        if shutil.which(tool) is None and os.environ.get("CI") != "true":
            continue  # neither is required of a laptop
        if tool == "host":
            result = run(need("host"), "-p", str(dns_server.port), "www.onego.ru", "127.0.0.1")
        else:
            result = run(need("nslookup"), f"-port={dns_server.port}", "www.onego.ru", "127.0.0.1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "195.161.136.4" in result.stdout, result.stdout


# --- swaks against the mail sink ---


def swaks(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        need("swaks"),
        "--server",
        f"127.0.0.1:{port}",
        "--from",
        "student@mail.ru",
        "--to",
        "rnd@onego.ru",
        "--helo",
        "student.local",
        "--timeout",
        "20",
        *args,
    )


@pytest.fixture
def tls_sink():
    sink = start_mail_sink("swaks", tls=True, users={"student": "secret"}, quiet=True)
    yield sink
    sink.stop()


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "course-ca.pem"
    path.write_text(course_ca_pem(), encoding="ascii")
    return str(path)


def test_swaks_plain_and_pipelined(tls_sink: MailSink):
    plain = swaks(tls_sink.port, "--header", "Subject: plain")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    piped = swaks(tls_sink.port, "--pipeline", "--header", "Subject: piped")
    assert piped.returncode == 0, piped.stdout + piped.stderr
    out = piped.stdout
    assert "<-  250 2.0.0 OK: message stored" in out
    # pipelined: MAIL, RCPT and DATA went out before the first of their replies came back
    assert out.index(" -> DATA") < out.index("<-  250 2.1.0 OK")
    assert plain.stdout.index("<-  250 2.1.0 OK") < plain.stdout.index(" -> DATA")
    subjects = [m.subject for m in tls_sink.wait_for(2)]
    assert subjects == ["plain", "piped"]
    assert not tls_sink.messages[0].tls


def test_swaks_starttls_with_the_course_ca_and_auth(tls_sink: MailSink, ca_file: str):
    result = swaks(
        tls_sink.port,
        "--tls",
        "--tls-verify",
        "--tls-ca-path",
        ca_file,
        "--auth",
        "PLAIN",
        "--auth-user",
        "student",
        "--auth-password",
        "secret",
        "--header",
        "Subject: secured",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0" in result.stdout
    (mail,) = tls_sink.wait_for(1)
    assert (mail.subject, mail.tls, mail.login) == ("secured", True, "student")
    assert " with ESMTPSA id " in mail.trace


def test_swaks_auth_with_a_wrong_password_is_refused(tls_sink: MailSink, ca_file: str):
    result = swaks(
        tls_sink.port,
        "--tls",
        "--tls-ca-path",
        ca_file,
        "--auth-user",
        "student",
        "--auth-password",
        "wrong",
    )
    assert result.returncode != 0 and "535 5.7.8" in result.stdout
    assert tls_sink.messages == []


def test_swaks_auth_without_tls_is_told_tls_is_not_configured():
    sink = start_mail_sink("swaks-plain", quiet=True)
    try:
        result = swaks(sink.port, "--auth", "PLAIN", "--auth-user", "a", "--auth-password", "b")
    finally:
        sink.stop()
    assert result.returncode != 0
    assert "Host did not advertise authentication" in result.stdout + result.stderr


# --- python -m helpers serve, with the real clients ---


class Foreground:
    """``python -m helpers ...`` as a process whose output lines are read with a timeout."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "helpers", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        # Each pipe has one reader for the process's whole life: a second reader
        # (communicate() at the end, say) could take lines the test still waits for.
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_errors, daemon=True)
        self._stderr_reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self.errors.extend(self.process.stderr)

    def line_matching(self, pattern: str) -> re.Match[str]:
        seen = []
        while True:
            line = self.lines.get(timeout=RUN_TIMEOUT)
            if line is None:
                raise AssertionError(f"ended without {pattern!r}: {seen}, {self.stop()}")
            seen.append(line)
            if match := re.search(pattern, line):
                return match

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as a terminal sends it; the exit code and what went to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=RUN_TIMEOUT)
        self._stderr_reader.join(RUN_TIMEOUT)
        if self.process.stdin is not None:
            self.process.stdin.close()
        return self.process.returncode, "".join(self.errors)


def test_serve_dns_from_a_terminal_and_dig_it():
    dig_path = need("dig")
    server = Foreground("serve", "dns", "--port", "0")
    try:
        port = server.line_matching(r"^name server on 127\.0\.0\.1:(\d+)$").group(1)
        server.line_matching("Ctrl-C stops it")
        for transport in ("+notcp", "+tcp"):
            result = run(dig_path, "@127.0.0.1", "-p", port, transport, "+short", "www.onego.ru")
            assert result.stdout.split() == ["195.161.136.4"], result.stdout + result.stderr
        server.line_matching(r"^query 127\.0\.0\.1:\d+: www\.onego\.ru\. A$")
    finally:
        code, stderr = server.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
    server.line_matching(r"^name server stopped$")


def test_serve_mail_with_tls_and_auth_from_a_terminal_and_swaks_it(tmp_path: Path):
    swaks_path = need("swaks")
    maildir = tmp_path / "Maildir"
    server = Foreground(
        "serve",
        "mail",
        "--port",
        "0",
        "--tls",
        "--auth",
        "student:secret",
        "--maildir",
        str(maildir),
    )
    try:
        port = server.line_matching(r"^mail sink on 127\.0\.0\.1:(\d+)$").group(1)
        ca_file = server.line_matching(r"^course CA written to (.+)$").group(1)
        server.line_matching("Ctrl-C stops it")
        result = run(
            swaks_path,
            "--server",
            f"127.0.0.1:{port}",
            "--to",
            "rnd@onego.ru",
            "--from",
            "student@mail.ru",
            "--helo",
            "student.local",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            ca_file,
            "--auth-user",
            "student",
            "--auth-password",
            "secret",
            "--pipeline",
        )
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        code, stderr = server.stop()
    assert code == 0 and "Traceback" not in stderr, stderr
    (stored,) = (maildir / "new").iterdir()
    head = stored.read_text(encoding="utf-8").splitlines()[:3]
    assert head[0] == "Return-Path: <student@mail.ru>" and head[2].startswith("Received: ")
    assert "with ESMTPSA" in head[2]
    assert not Path(ca_file).exists()  # the CA lived as long as the server


def test_serve_refuses_contradictory_options_with_a_clear_error():
    result = run(sys.executable, "-m", "helpers", "serve", "mail", "--auth", "a:b", "--port", "0")
    assert result.returncode == 2 and "--auth needs --tls" in result.stderr
    assert "Traceback" not in result.stderr


def test_talk_types_smtp_by_hand_into_the_sink():
    sink = start_mail_sink("talk", quiet=True)
    try:
        session = (
            "EHLO student.local\nMAIL FROM:<student@mail.ru>\nRCPT TO:<rnd@onego.ru>\nDATA\n"
            "Subject: typed\n\nby hand\n.\nQUIT\n"
        )
        result = subprocess.run(
            [sys.executable, "-m", "helpers", "talk", "127.0.0.1", str(sink.port)],
            input=session,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=RUN_TIMEOUT,
        )
        (mail,) = sink.wait_for(1)
    finally:
        sink.stop()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("220 mail.onego.ru")
    assert "250 2.0.0 OK: message stored" in lines and "221 2.0.0 Bye" in lines
    assert lines[-1] == "-- connection closed by the server"
    assert mail.subject == "typed" and mail.raw.endswith(b"by hand\r\n")
