"""helpers.services.mailsink: the local SMTP sink stores exactly what it accepts, and only that."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import os
import smtplib
import socket
import ssl
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from smtp_checking import RawSMTP

from helpers.run.registry import running_servers, stop_all
from helpers.services import mailstore
from helpers.services.mailsink import MailSink, start_mail_sink
from helpers.services.mailstore import MailStore, ReceivedMail, from_disk, to_disk

TIMEOUT = 5
HELLO = "student.local"
LETTER = b"From: a@mail.ru\r\nTo: rnd@onego.ru\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    stop_all()
    assert not [t for t in threading.enumerate() if t.name.startswith("helpers-server-")]


@pytest.fixture
def sink():
    return start_mail_sink("test")


def client(sink: MailSink, host: str = "127.0.0.1") -> smtplib.SMTP:
    return smtplib.SMTP(host, sink.port, local_hostname=HELLO, timeout=TIMEOUT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_ok(sink: MailSink) -> None:
    """A plain delivery that must still work after whatever a test did to the sink."""
    before = len(sink.messages)
    with client(sink) as c:
        assert c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER) == {}
    assert len(sink.messages) == before + 1


# -- starting, stopping, the status line -------------------------------------


def test_one_status_line_and_nothing_else_printed(capfd):
    sink = start_mail_sink("quiet", tls=True, users={"u": "p"})
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
        c.starttls(context=ssl.create_default_context(cadata=sink.ca_pem))
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("u", "wrong")
        c.login("u", "p")
    raw = RawSMTP(sink.address)
    raw.send(b"BOGUS\r\n")
    raw.send(b"DATA\r\n")
    raw.close()
    sink.wait_for(1)
    sink.stop()
    out, err = capfd.readouterr()
    assert out == f"quiet sink on 127.0.0.1:{sink.port}\n"
    assert err == ""


def test_port_zero_asked_port_busy_port_and_rerun_replaces(capfd):
    port = free_port()
    first = start_mail_sink("same", port)
    assert first.port == port and first.busy_port is None
    second = start_mail_sink("same", port)  # a re-run: the old one must let go of the port
    assert not first.running and second.running and second.port == port
    assert running_servers().count(second) == 1 and first not in running_servers()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        third = start_mail_sink("other", busy)
        assert third.port != busy and third.busy_port == busy
    lines = capfd.readouterr().out.splitlines()
    assert lines == [
        f"same sink on 127.0.0.1:{port}",
        f"same sink on 127.0.0.1:{port}",
        f"other sink on 127.0.0.1:{third.port} ({busy} was busy)",
    ]
    send_ok(second)
    send_ok(third)


def test_stop_frees_the_port_and_is_idempotent():
    sink = start_mail_sink("stopper")
    port = sink.port
    sink.stop()
    sink.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    again = MailSink("stopper", port).start()
    assert again.port == port and again.busy_port is None
    send_ok(again)


def test_sessions_have_tcp_nodelay(sink):
    # Without it each multi-line reply (EHLO) waits about 40 ms for the client's delayed ACK.
    raw = RawSMTP(sink.address)
    assert raw.code(b"EHLO x\r\n") == 250
    [protocol] = sink._controller.sessions
    server_side = protocol.transport.get_extra_info("socket")
    assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    raw.close()


def test_starting_opens_no_session(sink):
    # Nothing connects to the sink to see that it is ready: its first session is a client's.
    assert sink.transcripts == []
    assert not [e for e in sink.events if e.kind in ("connect", "reply", "command")]


def test_stop_closes_open_sessions():
    sink = start_mail_sink("open")
    raw = RawSMTP(sink.address)
    raw.send(b"EHLO x\r\n")
    sink.stop()
    assert raw.file.readline() == b""  # the sink hung up instead of leaving the client hanging
    raw.close()
    assert sink.transcripts[0].lines[-1] == ("--", "connection closed")


# -- storing ----------------------------------------------------------------


def test_accepted_means_stored_at_once(sink):
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru", "RND2@ONEGO.RU"], LETTER)
        # no wait_for: the 250 after DATA came only once the message was stored
        assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail.raw == LETTER
    assert (mail.mail_from, mail.rcpt_tos) == ("a@mail.ru", ("rnd@onego.ru", "RND2@ONEGO.RU"))
    assert mail.peer.startswith("127.0.0.1:") and abs(mail.time - time.time()) < 5
    assert mail.message["Subject"] == "hi" and mail.body == "hello\n"
    assert not mail.tls and mail.login is None


def test_500_messages_from_10_concurrent_clients_stored_exactly(sink):
    def one_client(number: int) -> list[bytes]:
        sent = []
        with client(sink) as c:
            for i in range(50):
                body = f"client {number} message {i} ".encode() * (1 + (number * 50 + i) % 40)
                raw = b"Subject: %d/%d\r\n\r\n" % (number, i) + body + b"\r\n"
                c.sendmail(f"c{number}@mail.ru", ["rnd@onego.ru"], raw)
                sent.append(raw)
        return sent

    with ThreadPoolExecutor(10) as pool:
        sent = [raw for batch in pool.map(one_client, range(10)) for raw in batch]
    stored = sink.wait_for(500)
    assert len(stored) == 500
    assert sorted(m.raw for m in stored) == sorted(sent)
    assert sum(len(m.raw) for m in stored) == sum(map(len, sent))
    assert len(sink.transcripts) == 10


def test_maildir_kept_across_stop_and_start(tmp_path):
    folder = tmp_path / "Maildir"
    sink = start_mail_sink("kept", maildir=folder)
    cp1251 = "Привет".encode("cp1251")
    header = b"Subject: 8bit\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n"
    letters = [LETTER, header + cp1251 + b"\r\n", b"Subject: dots\r\n\r\n.x\r\n"]
    with client(sink) as c:
        for raw in letters:
            c.sendmail("a@mail.ru", ["rnd@onego.ru"], raw)
    before = sink.messages
    sink.stop()
    assert len(list((folder / "new").iterdir())) == 3

    again = start_mail_sink("kept", maildir=folder)  # as after a kernel restart
    after = again.messages
    assert [m.raw for m in after] == letters
    assert [(m.mail_from, m.rcpt_tos, m.peer, m.time) for m in after] == [
        (m.mail_from, m.rcpt_tos, m.peer, m.time) for m in before
    ]
    assert after[1].body == "Привет\n"
    send_ok(again)
    again.stop()
    again.start()  # the same object started again reads the folder again
    assert len(again.messages) == 4
    again.clear()
    assert again.messages == [] and list((folder / "new").iterdir()) == []


def test_maildir_file_format_round_trip():
    mail = ReceivedMail(
        "ю@onego.ru", ("rnd@onego.ru",), "127.0.0.1:1", 1.5, LETTER, ("SMTPUTF8",), "student", True
    )
    data = to_disk(mail)
    assert data.startswith("Return-Path: <ю@onego.ru>\n".encode()) and b"\r\n" not in data
    assert from_disk(data) == mail
    with pytest.raises(ValueError):
        from_disk(b"Subject: not ours\n\nbody\n")


def test_maildir_in_an_existing_empty_folder(tmp_path):
    store = MailStore(tmp_path)
    store.add(ReceivedMail("a@mail.ru", ("rnd@onego.ru",), "127.0.0.1:1", 1.0, LETTER))
    assert [m.raw for m in MailStore(tmp_path)] == [LETTER]


def test_foreign_messages_in_the_maildir_are_skipped(tmp_path):
    import mailbox

    box = mailbox.Maildir(tmp_path / "m", create=True)
    box.add(b"Subject: from another program\n\nhi\n")
    assert len(MailStore(tmp_path / "m")) == 0


def test_storage_failure_answers_451_and_stores_nothing(sink):
    def broken(mail):
        raise OSError("disk full")

    sink.mailbox.add = broken
    with client(sink) as c, pytest.raises(smtplib.SMTPDataError) as caught:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
    assert caught.value.smtp_code == 451
    assert sink.messages == [] and isinstance(sink.errors[0], OSError)
    with pytest.raises(OSError):
        sink.raise_errors()


def maildir_files(folder) -> list[str]:
    return sorted(p.name for sub in ("tmp", "new", "cur") for p in (folder / sub).glob("*"))


def test_maildir_write_failing_halfway_answers_451_and_leaves_no_partial_file(
    tmp_path, monkeypatch
):
    folder = tmp_path / "Maildir"
    sink = start_mail_sink("disk", maildir=folder)
    real_write = mailstore._write_all

    def disk_full(fd, data):
        real_write(fd, data[: len(data) // 2])  # half of it reached the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mailstore, "_write_all", disk_full)
    raw = RawSMTP(sink.address)
    raw.send(b"EHLO x\r\n")
    assert raw.code(b"MAIL FROM:<a@mail.ru>\r\n") == 250
    assert raw.code(b"RCPT TO:<rnd@onego.ru>\r\n") == 250
    assert raw.code(b"DATA\r\n") == 354
    reply = raw.send(LETTER + b".\r\n")[-1]
    assert reply.startswith(b"451 ") and b"not stored" in reply  # never 250
    assert sink.messages == [] and maildir_files(folder) == []
    assert isinstance(sink.errors[0], OSError) and sink.errors[0].errno == 28
    monkeypatch.setattr(mailstore, "_write_all", real_write)
    # The 451 ended the transaction: the same session starts the next one, no RSET needed.
    assert raw.code(b"MAIL FROM:<a@mail.ru>\r\n") == 250
    assert raw.code(b"RCPT TO:<rnd@onego.ru>\r\n") == 250
    assert raw.code(b"DATA\r\n") == 354
    assert raw.send(LETTER + b".\r\n")[-1].startswith(b"250 ")
    raw.close()
    assert [m.raw for m in sink.messages] == [LETTER] and len(maildir_files(folder)) == 1
    sink.stop()
    assert [m.raw for m in MailStore(folder)] == [LETTER]  # what a restarted kernel finds


def test_maildir_gone_answers_451_and_the_sink_keeps_serving(tmp_path):
    import shutil

    folder = tmp_path / "Maildir"
    sink = start_mail_sink("gone", maildir=folder)
    shutil.rmtree(folder / "new")
    (folder / "new").write_bytes(b"")  # a file where the folder was: every delivery fails
    with client(sink) as c:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
        assert caught.value.smtp_code == 451
        assert sink.messages == [] and list((folder / "tmp").iterdir()) == []
        (folder / "new").unlink()
        (folder / "new").mkdir()
        assert c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER) == {}  # same connection
    assert len(sink.messages) == 1 and len(list((folder / "new").iterdir())) == 1
    assert "S: 451 4.3.0 local error: message not stored" in str(sink.transcripts[0])


def test_wait_for_times_out_instead_of_hanging(sink):
    with pytest.raises(TimeoutError, match="waited 0.1 s for 1 message.s. in the mailbox, found 0"):
        sink.wait_for(1, timeout=0.1)


# -- faults, relaying, size --------------------------------------------------


def test_refused_recipient_550_and_partial_refusal(sink):
    with sink.faults(refuse_recipients={"Ghost@onego.ru"}):
        with client(sink) as c:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
                c.sendmail("a@mail.ru", ["ghost@onego.ru"], LETTER)
            assert caught.value.recipients["ghost@onego.ru"][0] == 550
            refused = c.sendmail("a@mail.ru", ["ghost@onego.ru", "rnd@onego.ru"], LETTER)
    assert refused == {"ghost@onego.ru": (550, b"5.1.1 <ghost@onego.ru>: no such user here")}
    assert [m.rcpt_tos for m in sink.messages] == [("rnd@onego.ru",)]
    assert sink.active_faults.refuse_recipients == frozenset()  # the with block restored them


def test_refused_sender_553(sink):
    sink.faults(refuse_senders={"spam@mail.ru"})
    with client(sink) as c, pytest.raises(smtplib.SMTPSenderRefused) as caught:
        c.sendmail("spam@mail.ru", ["rnd@onego.ru"], LETTER)
    assert caught.value.smtp_code == 553
    sink.faults()
    send_ok(sink)
    assert len(sink.messages) == 1


def test_temporary_failure_451(sink):
    with sink.faults(temporary_failure=True), client(sink) as c:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
    assert caught.value.smtp_code == 451 and sink.messages == []
    send_ok(sink)


def test_drop_after_data_disconnects_and_stores_nothing(sink):
    with sink.faults(drop_after_data=True), client(sink) as c:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
    assert sink.messages == []
    assert "250" not in str(sink.transcripts[0]).split("C: .")[1]
    send_ok(sink)


def test_size_limit_552_declared_and_undeclared(sink):
    big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 30
    with sink.faults(size_limit=1000):
        with client(sink) as c:
            c.ehlo()
            assert c.esmtp_features["size"] == "1000"
            with pytest.raises(smtplib.SMTPSenderRefused) as declared:
                c.sendmail("a@mail.ru", ["rnd@onego.ru"], big)  # smtplib sends SIZE=...
            assert declared.value.smtp_code == 552
            c.rset()
            assert c.mail("a@mail.ru")[0] == 250  # no SIZE: the server learns it in DATA
            assert c.rcpt("rnd@onego.ru")[0] == 250
            assert c.data(big)[0] == 552
    assert sink.messages == []
    send_ok(sink)


def test_never_relays_but_takes_postmaster(sink):
    with client(sink) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            c.sendmail("a@onego.ru", ["someone@gmail.com"], LETTER)
        code, text = caught.value.recipients["someone@gmail.com"]
        assert code == 550 and b"relay" in text
        assert c.sendmail("a@mail.ru", ["Postmaster"], LETTER) == {}
        assert c.sendmail("a@mail.ru", ["info@EXAMPLE.com"], LETTER) == {}
    assert [m.rcpt_tos for m in sink.messages] == [("Postmaster",), ("info@EXAMPLE.com",)]


# -- TLS and AUTH --------------------------------------------------------------


def test_starttls_checks_host_name_and_auth_only_over_tls():
    sink = start_mail_sink("tls", tls=True, users={"student": "secret"})
    trusting = ssl.create_default_context(cadata=sink.ca_pem)
    assert trusting.check_hostname and trusting.verify_mode == ssl.CERT_REQUIRED
    with client(sink, "localhost") as c:
        c.ehlo()
        assert c.has_extn("starttls") and not c.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            c.login("student", "secret")
        assert c.starttls(context=trusting)[0] == 220
        c.ehlo()
        assert c.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        assert not c.has_extn("starttls")
        assert c.login("student", "secret")[0] == 235
        c.sendmail("student@mail.ru", ["rnd@onego.ru"], LETTER)
    mail = sink.messages[0]
    assert mail.tls and mail.login == "student"
    text = str(sink.transcripts[0])
    assert "-- TLS started" in text and "AUTH PLAIN ********" in text and "secret" not in text
    assert not [e for e in sink.events if b"secret" in e.data or "c2VjcmV0" in e.note]


def test_auth_login_and_wrong_password():
    sink = start_mail_sink("tls", tls=True, users={"student": "secret"})
    context = ssl.create_default_context(cadata=sink.ca_pem)
    with client(sink) as c:  # 127.0.0.1 is in the certificate too
        c.starttls(context=context)
        c.ehlo()
        c.user, c.password = "student", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            c.auth("LOGIN", c.auth_login)
        assert caught.value.smtp_code == 535
        c.password = "secret"
        assert c.auth("LOGIN", c.auth_login)[0] == 235
    assert "[AUTH response hidden]" in str(sink.transcripts[0])


def test_certificate_is_checked_for_real():
    sink = start_mail_sink("tls", tls=True)
    with client(sink) as c, pytest.raises(ssl.SSLCertVerificationError):
        c.starttls(context=ssl.create_default_context())  # the system CAs do not know it
    trusting = ssl.create_default_context(cadata=sink.ca_pem)
    with socket.create_connection(sink.address, timeout=TIMEOUT) as sock:
        raw = sock.makefile("rb")
        raw.readline()
        sock.sendall(b"EHLO x\r\n")
        while raw.readline()[3:4] == b"-":
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert raw.readline().startswith(b"220")
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            trusting.wrap_socket(sock, server_hostname="www.onego.ru")
    send_ok(sink)
    assert sink.errors == []  # a client refusing the certificate is no error of the sink
    assert len([e for e in sink.events if e.kind == "tls-failed"]) == 2


def test_without_tls_no_starttls_and_no_ca(sink):
    with client(sink) as c:
        c.ehlo()
        assert not c.has_extn("starttls") and not c.has_extn("auth")
        assert c.has_extn("smtputf8") and c.has_extn("8bitmime") and c.has_extn("size")
    with pytest.raises(RuntimeError, match="tls=True"):
        _ = sink.ca_pem


# -- what clients get wrong ---------------------------------------------------


def test_malformed_commands_get_errors_and_the_sink_keeps_serving(sink):
    raw = RawSMTP(sink.address)
    assert raw.greeting == [b"220 mail.onego.ru ESMTP course mail sink"]
    assert raw.code(b"MAIL FROM:<a@mail.ru>\r\n") == 503  # before HELO
    assert raw.code(b"HELO\r\n") == 501
    assert raw.code(b"EHLO x\r\n") == 250
    assert raw.code(b"MAIL FROM:<<bad>>\r\n") in (501, 553)
    assert raw.code(b"RCPT TO:<rnd@onego.ru>\r\n") == 503  # no MAIL yet
    assert raw.code(b"DATA\r\n") == 503
    assert raw.code(b"\xff\xfe\r\n") == 500
    assert raw.code(b"X" * 2000 + b"\r\n") == 500
    assert raw.code(b"NOOP\r\n") == 250  # still in step after the over-long line
    raw.close()
    text = str(sink.transcripts[0])
    assert "C: \\xff\\xfe" in text and "[over-long line, cut]" in text
    send_ok(sink)


def test_bare_lf(sink):
    raw = RawSMTP(sink.address)
    assert raw.code(b"EHLO x\n") == 250  # commands: bare LF is tolerated
    assert raw.code(b"MAIL FROM:<a@mail.ru>\n") == 250
    assert raw.code(b"RCPT TO:<rnd@onego.ru>\n") == 250
    assert raw.code(b"DATA\n") == 354
    # A message that ends with LF.LF never ends: only CRLF.CRLF does (no smuggling).
    raw.sock.sendall(b"Subject: lf\n\nbody\n.\n")
    raw.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        raw.file.readline()
    raw.close()
    # Bare LF inside a message that ends properly is kept as sent.
    lf_inside = b"Subject: mixed\r\n\r\none\ntwo\r\n"
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], lf_inside)
    assert [m.raw for m in sink.messages] == [lf_inside]


def test_8bit_data_and_non_ascii_address(sink):
    cp1251 = b"Subject: 8bit\r\n\r\n" + "Привет, Python!".encode("cp1251") + b"\r\n"
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], cp1251, mail_options=["BODY=8BITMIME"])
        message = EmailMessage()
        message["From"] = "студент@mail.ru"
        message["To"] = "лектор@onego.ru"
        message["Subject"] = "Тема"
        message.set_content("Текст")
        c.send_message(message)  # asks for SMTPUTF8 by itself
    first, second = sink.wait_for(2)
    assert first.raw == cp1251 and "BODY=8BITMIME" in first.mail_options
    assert second.mail_from == "студент@mail.ru" and second.rcpt_tos == ("лектор@onego.ru",)
    assert "SMTPUTF8" in second.mail_options
    assert second.subject == "Тема" and second.body == "Текст\n"


def test_client_disconnecting_mid_data_stores_nothing(sink):
    raw = RawSMTP(sink.address)
    raw.send(b"EHLO x\r\n")
    raw.send(b"MAIL FROM:<a@mail.ru>\r\n")
    raw.send(b"RCPT TO:<rnd@onego.ru>\r\n")
    assert raw.code(b"DATA\r\n") == 354
    raw.sock.sendall(b"Subject: cut\r\n\r\nhalf a mess")
    raw.close()
    sink.events.wait_for("close")
    assert sink.messages == []
    assert "-- incomplete message discarded" in str(sink.transcripts[0])
    send_ok(sink)


def test_transcript_reads_the_same_everywhere(sink):
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
    assert str(sink.last_transcript()) == "\n".join(
        [
            "-- connection opened",
            "S: 220 mail.onego.ru ESMTP course mail sink",
            "C: ehlo student.local",
            "S: 250-mail.onego.ru",
            "S: 250-SIZE 10485760",
            "S: 250-8BITMIME",
            "S: 250-SMTPUTF8",
            "S: 250-PIPELINING",
            "S: 250-ENHANCEDSTATUSCODES",
            "S: 250 HELP",
            f"C: mail FROM:<a@mail.ru> size={len(LETTER)}",
            "S: 250 2.1.0 OK",
            "C: rcpt TO:<rnd@onego.ru>",
            "S: 250 2.1.5 OK",
            "C: data",
            "S: 354 End data with <CR><LF>.<CR><LF>",
            f"C: [message data: {len(LETTER)} bytes in 5 lines]",
            "C: .",
            "S: 250 2.0.0 OK: message stored",
            "C: QUIT",
            "S: 221 2.0.0 Bye",
            "-- connection closed",
        ]
    )
    assert sink.messages[0].transcript == str(sink.transcripts[0])


def test_last_transcript_waits_for_the_close(sink):
    with pytest.raises(LookupError):
        sink.last_transcript()
    raw = RawSMTP(sink.address)
    with pytest.raises(TimeoutError, match="still open"):
        sink.last_transcript(timeout=0.1)
    raw.send(b"QUIT\r\n")
    raw.close()
    transcript = sink.last_transcript()
    assert transcript.closed and transcript.lines[-1] == ("--", "connection closed")


def test_clear_empties_mailbox_transcripts_and_events(sink):
    send_ok(sink)
    sink.events.wait_for("close")
    sink.clear()
    assert sink.messages == [] and sink.transcripts == [] and len(sink.events) == 0
    assert "mailbox" in str(sink.mailbox)


# -- the Maildir: standard, private, byte-exact, never deleting what is not the sink's ---


def deliver(sink: MailSink, raw: bytes) -> None:
    """Send ``raw`` as one message, byte for byte (dot-stuffed here, nothing else changed)."""
    lines = raw.split(b"\r\n")[:-1]  # raw ends with CRLF
    stuffed = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)
    session = RawSMTP(sink.address)
    session.send(b"EHLO x\r\n")
    assert session.code(b"MAIL FROM:<a@mail.ru>\r\n") == 250
    assert session.code(b"RCPT TO:<rnd@onego.ru>\r\n") == 250
    assert session.code(b"DATA\r\n") == 354
    assert session.send(stuffed + b".\r\n")[-1].startswith(b"250 ")
    session.close()


def test_clear_deletes_only_the_sinks_own_messages(tmp_path):
    import mailbox

    folder = tmp_path / "Maildir"
    theirs = mailbox.Maildir(folder, create=True)
    their_key = theirs.add(b"From: friend@example.org\nSubject: keep me\n\nmine\n")
    sink = start_mail_sink("mine", maildir=folder)
    other_kernel = MailStore(folder)  # another kernel's sink on the same folder
    other_kernel.add(ReceivedMail("b@mail.ru", ("rnd@onego.ru",), "127.0.0.1:2", 2.0, LETTER))
    send_ok(sink)
    assert len(maildir_files(folder)) == 3
    sink.clear()
    assert sink.messages == []
    assert theirs.get_bytes(their_key).endswith(b"\n\nmine\n")  # someone's mail is still there
    assert maildir_files(folder) == [their_key]  # and the sink's, from both kernels, are gone


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_maildir_folders_and_files_are_private(tmp_path):
    old_umask = os.umask(0o022)
    try:
        store = MailStore(tmp_path / "Maildir")
        store.add(ReceivedMail("a@mail.ru", ("rnd@onego.ru",), "127.0.0.1:1", 1.0, LETTER))
    finally:
        os.umask(old_umask)
    folder = tmp_path / "Maildir"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}
    assert modes == {"Maildir": 0o700, "tmp": 0o700, "new": 0o700, "cur": 0o700}
    [stored] = (folder / "new").iterdir()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_the_envelope_is_in_standard_trace_headers(tmp_path):
    folder = tmp_path / "Maildir"
    sink = start_mail_sink("trace", maildir=folder)
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru", "Postmaster"], LETTER)
    [stored] = (folder / "new").iterdir()
    data = stored.read_bytes()
    assert b"X-MailSink" not in data
    header, _, body = data.partition(b"\n\n")
    lines = header.split(b"\n")
    assert lines[:3] == [
        b"Return-Path: <a@mail.ru>",
        b"Delivered-To: rnd@onego.ru",
        b"Delivered-To: Postmaster",
    ]
    assert lines[3].startswith(b"Received: from [127.0.0.1] (127.0.0.1:")
    assert b" by mail.onego.ru (course mail sink) with ESMTP id " in lines[3]
    assert lines[4:] == [b"From: a@mail.ru", b"To: rnd@onego.ru", b"Subject: hi"]
    assert body == b"hello\n"  # the file has the platform-neutral LF line ends of a Maildir
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Return-Path"] == "<a@mail.ru>" and parsed["Subject"] == "hi"
    assert parsed.get_all("Delivered-To") == ["rnd@onego.ru", "Postmaster"]
    [mail] = MailStore(folder).messages
    assert (mail.mail_from, mail.rcpt_tos, mail.raw) == (
        "a@mail.ru",
        ("rnd@onego.ru", "Postmaster"),
        LETTER,
    )


# Any text, and what aiosmtpd makes of bytes that are not UTF-8 (surrogate escapes).
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.binary(max_size=12).map(
    lambda b: b.decode("utf-8", "surrogateescape")
)


# The autouse fixture only stops servers afterwards: it holds nothing an example could share.
ANY_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@ANY_FIXTURE
@given(
    raw=st.binary(max_size=600),
    peer=st.sampled_from(["127.0.0.1:50000", "[::1]:25", ""]) | ODD_TEXT,
    mail_from=ODD_TEXT,
    rcpt_tos=st.lists(ODD_TEXT, max_size=3).map(tuple),
    options=st.lists(ODD_TEXT, max_size=3).map(tuple),
    login=st.none() | ODD_TEXT,
    tls=st.booleans(),
    micros=st.integers(0, 2**41),
)
def test_a_reopened_store_returns_every_message_byte_for_byte(
    raw, peer, mail_from, rcpt_tos, options, login, tls, micros
):
    import tempfile

    mail = ReceivedMail(mail_from, rcpt_tos, peer, micros / 1e6, raw, options, login, tls)
    with tempfile.TemporaryDirectory() as folder:
        MailStore(folder).add(mail)
        [again] = MailStore(folder).messages
    assert again == mail


@settings(ANY_FIXTURE, max_examples=40)
@given(lines=st.lists(st.binary(max_size=200).filter(lambda b: b"\r\n" not in b), max_size=8))
def test_what_arrived_after_data_is_what_a_reopened_store_returns(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("Maildir")
    sink = start_mail_sink("exact", maildir=folder, quiet=True)
    raw = b"".join(line + b"\r\n" for line in lines)  # bare LF and CR inside lines included
    deliver(sink, raw)
    assert sink.messages[0].raw == raw
    sink.stop()
    assert [m.raw for m in MailStore(folder)] == [raw]


def test_a_malformed_record_is_skipped_and_recorded(tmp_path):
    folder = tmp_path / "Maildir"
    store = MailStore(folder)
    store.add(ReceivedMail("a@mail.ru", ("rnd@onego.ru",), "127.0.0.1:1", 1.0, LETTER))
    [good] = (folder / "new").iterdir()
    broken = folder / "new" / good.name.replace(good.name.split(".")[0], "17", 1)
    broken.write_bytes(b"Return-Path: <a@mail.ru>\nSubject: no Received line\n\nx\n")
    legacy = folder / "cur" / "1.M1P1Q1.old:2,S"  # the course's earlier format, with wrong types
    legacy.write_bytes(b'X-MailSink-Envelope: {"mail_from": "a", "rcpt_tos": 5}\nSubject: x\n\n')
    sink = start_mail_sink("broken", maildir=folder)  # no TypeError at start
    assert [m.raw for m in sink.messages] == [LETTER]
    skipped = [e.note for e in sink.events if e.kind == "skip"]
    assert len(skipped) == 2
    assert skipped[0].startswith(f"new/{broken.name}: not read, ValueError: ")
    assert skipped[1].startswith(f"cur/{legacy.name}: not read, ValueError: ")
    send_ok(sink)


def test_the_courses_earlier_maildir_files_are_still_read_and_cleared(tmp_path):
    folder = tmp_path / "Maildir"
    (folder / "new").mkdir(parents=True)
    envelope = (
        b'X-MailSink-Envelope: {"mail_from": "a@mail.ru", "rcpt_tos": ["rnd@onego.ru"], '
        b'"peer": "127.0.0.1:1", "time": 1.5, "mail_options": [], "login": null, "tls": false}\n'
    )
    (folder / "new" / "1.M1P1Q1.host").write_bytes(envelope + LETTER.replace(b"\r\n", b"\n"))
    store = MailStore(folder)
    assert [(m.mail_from, m.time, m.raw) for m in store] == [("a@mail.ru", 1.5, LETTER)]
    store.clear()
    assert maildir_files(folder) == []


# -- logging stays scoped to the sink ------------------------------------------------


def asyncio_error_from_this_thread(message: str) -> None:
    """What a student's own asyncio code logs when a callback fails in its loop."""
    loop = asyncio.new_event_loop()
    try:
        loop.call_exception_handler({"message": message})
    finally:
        loop.close()


def asyncio_error_from_the_sink(sink: MailSink, message: str) -> None:
    done = threading.Event()

    def fail() -> None:
        sink._controller.loop.call_exception_handler({"message": message})
        done.set()

    sink._controller.loop.call_soon_threadsafe(fail)
    assert done.wait(TIMEOUT)


def test_after_a_sink_stops_the_students_asyncio_errors_reach_the_cell(caplog):
    logger = logging.getLogger("asyncio")
    before = (logger.propagate, logger.level, list(logger.handlers), list(logger.filters))
    sink = start_mail_sink("scoped", quiet=True)
    sink.stop()
    assert (logger.propagate, logger.level, logger.handlers, logger.filters) == before
    with caplog.at_level(logging.ERROR):
        asyncio_error_from_this_thread("the student's own error")
    assert [r.getMessage() for r in caplog.records] == ["the student's own error"]
    assert not [e for e in sink.events if "student" in e.note]


def test_while_a_sink_runs_only_its_own_asyncio_records_go_to_its_log(caplog, capfd):
    sink = start_mail_sink("scoped", quiet=True)
    with caplog.at_level(logging.ERROR):
        asyncio_error_from_the_sink(sink, "the sink's error")
        asyncio_error_from_this_thread("the student's own error")
    assert [r.getMessage() for r in caplog.records] == ["the student's own error"]
    notes = [e.note for e in sink.events if e.kind == "log"]
    assert notes == ["ERROR: the sink's error"]
    sink.stop()
    assert "the sink's error" not in capfd.readouterr().err


# --- a real server: idle timeout, PIPELINING, enhanced codes, AUTH without TLS, trace ---


def test_the_idle_timeout_is_five_minutes_by_default():
    from helpers.services.mailsink import IDLE_TIMEOUT, MailSink

    assert IDLE_TIMEOUT == 300.0
    sink = MailSink()
    assert sink.idle_timeout == IDLE_TIMEOUT and sink._smtp_settings()["timeout"] == 300.0


def test_a_silent_session_is_closed_after_the_idle_timeout():
    sink = start_mail_sink("idle", idle_timeout=0.3, quiet=True)
    try:
        with socket.create_connection(("127.0.0.1", sink.port), timeout=30) as sock:
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"220 ")
            sock.sendall(b"NOOP\r\n")
            assert reader.readline() == b"250 2.0.0 OK\r\n"
            assert reader.readline() == b""  # the server closed it; the socket's own 30 s never ran
        transcript = sink.last_transcript(timeout=5)
        assert transcript.lines[-1] == ("--", "connection closed")
    finally:
        sink.stop()


def test_ehlo_announces_pipelining_and_enhanced_status_codes(sink):
    with client(sink) as c:
        code, _ = c.ehlo()
        assert code == 250
        assert c.has_extn("pipelining") and c.has_extn("enhancedstatuscodes")
        assert not c.has_extn("auth")  # no TLS: no AUTH announced


def test_pipelined_commands_are_answered_in_order_with_enhanced_codes(sink):
    commands = (
        b"EHLO student.local\r\n"
        b"MAIL FROM:<a@mail.ru>\r\n"
        b"RCPT TO:<rnd@onego.ru>\r\n"
        b"RCPT TO:<someone@python.org>\r\n"
        b"DATA\r\n"
    )
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 mail.onego.ru")
        sock.sendall(commands)  # all at once: the client does not wait between them
        ehlo = []
        while not (line := reader.readline()).startswith(b"250 "):
            ehlo.append(line)
        replies = [reader.readline() for _ in range(4)]
        sock.sendall(b"Subject: pipelined\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        replies += [reader.readline(), reader.readline()]
    assert b"250-PIPELINING\r\n" in ehlo
    assert replies == [
        b"250 2.1.0 OK\r\n",
        b"250 2.1.5 OK\r\n",
        b"550 5.7.1 <someone@python.org>: relay access denied\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.0.0 OK: message stored\r\n",
        b"221 2.0.0 Bye\r\n",
    ]
    assert sink.wait_for(1)[0].subject == "pipelined"


def test_aiosmtpd_replies_get_enhanced_codes_too(sink):
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b"HELO student.local\r\nRCPT TO:<rnd@onego.ru>\r\nFOO\r\nQUIT\r\n")
        replies = [reader.readline() for _ in range(4)]
    assert replies[0].startswith(b"250 mail.onego.ru")  # HELO's reply has none (RFC 2034)
    assert [r[:10] for r in replies[1:]] == [b"503 5.5.1 ", b"500 5.5.2 ", b"221 2.0.0 "]


def test_auth_without_tls_says_tls_is_not_configured(sink):
    with client(sink) as c:
        c.ehlo()
        code, text = c.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
    assert code == 502 and b"5.7.0" in text and b"TLS is not configured" in text
    assert "AGFsaWNlAHNlY3JldA" not in str(sink.last_transcript())


def test_a_tls_sink_still_asks_for_starttls_before_auth():
    sink = start_mail_sink("tlsauth", tls=True, users={"alice": "secret"}, quiet=True)
    try:
        with client(sink) as c:
            c.ehlo()
            assert c.has_extn("starttls") and not c.has_extn("auth")
            code, text = c.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
        assert code == 538 and b"5.7.11" in text
    finally:
        sink.stop()


def test_stored_mail_has_return_path_and_received_trace_headers(sink):
    with client(sink) as c:
        c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
    mail = sink.wait_for(1)[0]
    lines = mail.trace.split("\n")
    assert lines[0] == "Return-Path: <a@mail.ru>"
    assert lines[1] == "Delivered-To: rnd@onego.ru"
    assert lines[2].startswith("Received: from [127.0.0.1] (127.0.0.1:")
    assert " by mail.onego.ru (course mail sink) with ESMTP id " in lines[2]
    assert mail.trace == mail.trace  # the same delivery at every read
    assert mail.delivered.endswith(mail.raw) and mail.delivered.startswith(b"Return-Path: <a@")


def test_the_maildir_file_begins_with_the_same_trace(tmp_path):
    sink = start_mail_sink("traced", maildir=tmp_path / "Maildir", quiet=True)
    try:
        with client(sink) as c:
            c.sendmail("a@mail.ru", ["rnd@onego.ru"], LETTER)
        mail = sink.wait_for(1)[0]
        (path,) = (tmp_path / "Maildir" / "new").iterdir()
        on_disk = path.read_bytes().decode("utf-8")
        assert on_disk.startswith(mail.trace + "\n") and path.name == mail.delivery_id
    finally:
        sink.stop()
    again = start_mail_sink("traced", maildir=tmp_path / "Maildir", quiet=True)
    try:
        assert again.messages[0].trace == mail.trace  # read back: the same lines
    finally:
        again.stop()
