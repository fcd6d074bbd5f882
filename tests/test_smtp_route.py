"""helpers.services.smtp_route: smtplib reaches mail.onego.ru through the course's name
server only."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest

from helpers.run.guard import disable_guard, enable_guard
from helpers.run.registry import stop_all
from helpers.services.mailsink import start_mail_sink
from helpers.services.smtp_route import CourseSMTP

HELLO = "student.local"
LETTER = b"Subject: routed\r\n\r\nhello\r\n"


@pytest.fixture(autouse=True)
def guarded():
    enable_guard()  # proves the system resolver is never asked for a course name
    yield
    disable_guard()
    stop_all()


@pytest.fixture
def sink():
    return start_mail_sink("route", tls=True, users={"student": "secret"})


def test_name_resolved_by_the_course_name_server_and_checked_by_tls(sink, capfd):
    context = ssl.create_default_context(cadata=sink.ca_pem)
    with CourseSMTP("mail.onego.ru", sink.port, local_hostname=HELLO) as client:
        assert client._host == "mail.onego.ru"  # the name starttls checks the certificate for
        client.starttls(context=context)
        client.ehlo()
        client.login("student", "secret")
        client.sendmail("student@mail.ru", ["rnd@onego.ru"], LETTER)
    mail = sink.wait_for(1)[0]
    assert mail.tls and mail.login == "student" and mail.raw == LETTER
    assert capfd.readouterr().err == ""


def test_plain_smtplib_would_ask_the_system_resolver(sink):
    with pytest.raises(OSError, match="mail.onego.ru"):
        smtplib.SMTP("mail.onego.ru", sink.port, local_hostname=HELLO, timeout=2)


def test_injected_resolver_and_a_certificate_for_another_name(sink):
    asked = []

    def resolve(name: str) -> str:
        asked.append(name)
        return "127.0.0.1"

    context = ssl.create_default_context(cadata=sink.ca_pem)
    with CourseSMTP("www.onego.ru", sink.port, local_hostname=HELLO, resolve=resolve) as client:
        with pytest.raises(ssl.SSLCertVerificationError, match="www.onego.ru"):
            client.starttls(context=context)
    assert asked == ["www.onego.ru"]


def test_ip_address_is_not_looked_up(sink):
    def resolve(name: str) -> str:
        raise AssertionError(f"looked up {name}")

    with CourseSMTP("127.0.0.1", sink.port, local_hostname=HELLO, resolve=resolve) as client:
        assert client.noop()[0] == 250


def test_unknown_name_and_missing_server(sink):
    with pytest.raises(socket.gaierror, match="nosuch.onego.ru"):
        CourseSMTP("nosuch.onego.ru", sink.port, local_hostname=HELLO)
    port = sink.port
    sink.stop()
    with pytest.raises(ConnectionRefusedError):
        CourseSMTP("mail.onego.ru", port, local_hostname=HELLO)


def test_debug_output_says_where_the_address_came_from(sink, capfd):
    client = CourseSMTP(local_hostname=HELLO)
    client.set_debuglevel(1)
    client.connect("mail.onego.ru", sink.port)
    client.quit()
    err = capfd.readouterr().err
    assert err.startswith("resolved: mail.onego.ru -> 127.0.0.1 by the course's name server\n")
    assert "connect: b'mail.onego.ru ESMTP course mail sink'" in err
