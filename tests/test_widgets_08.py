"""Notebook 08's widgets: the pure views, sending from the form, and the widgets reacting."""

from __future__ import annotations

import pytest

from helpers.lessons.widgets_08 import (
    TABS,
    compose_widget,
    mail_views,
    mailbox_viewer,
    message_label,
    send_composed,
)
from helpers.run.registry import stop_all
from helpers.services.mailsink import start_mail_sink

STUDENT = "Student <student@mail.ru>"
LECTURER = "Lecturer <rnd@onego.ru>"


@pytest.fixture
def sink():
    sink = start_mail_sink("widgets")
    yield sink
    stop_all()


def test_send_composed_in_each_charset_and_the_views(sink) -> None:
    for charset in ("utf-8", "windows-1251", "koi8-r"):
        assert send_composed(sink.port, STUDENT, LECTURER, "Привет", "Изучаю Python.", charset) == (
            "sent to rnd@onego.ru"
        )
    mails = sink.wait_for(3)
    assert [m.message.get_content_charset() for m in mails] == ["utf-8", "windows-1251", "koi8-r"]
    views = mail_views(mails[1])
    assert list(views) == list(TABS)
    assert "student@mail.ru" in views["Headers"] and "Привет" in views["Headers"]
    assert "decoded from windows-1251" in views["Body"] and "Изучаю Python." in views["Body"]
    assert "charset=&quot;windows-1251&quot;" in views["Raw source"]
    assert "S: 250 2.0.0 OK: message stored" in views["Transcript"]
    assert (
        "<u>Return-Path</u>" in views["Headers"] and "&lt;student@mail.ru&gt;" in views["Headers"]
    )
    assert "<u>Received</u>" in views["Headers"]
    assert message_label(1, mails[1]).startswith("1: student@mail.ru -> rnd@onego.ru: Привет (")


def test_send_composed_says_what_went_wrong(sink) -> None:
    with sink.faults(refuse_recipients={"ghost@onego.ru"}):
        partly = send_composed(
            sink.port, STUDENT, "rnd@onego.ru, ghost@onego.ru", "s", "b", "utf-8"
        )
        none = send_composed(sink.port, STUDENT, "ghost@onego.ru", "s", "b", "utf-8")
    assert partly == "sent to rnd@onego.ru; refused: ghost@onego.ru (550)"
    assert none.startswith("not sent: SMTPRecipientsRefused")
    assert send_composed(sink.port, STUDENT, LECTURER, "s", "Привет", "us-ascii").startswith(
        "not sent, the letter cannot be built"
    )
    assert send_composed(sink.port, STUDENT, "", "s", "b", "utf-8") == (
        "not sent: no recipient address in To"
    )
    port = sink.port
    sink.stop()
    assert send_composed(port, STUDENT, LECTURER, "s", "b", "utf-8") == (
        f"not sent: nothing listens on port {port}; the sink is stopped "
        "(run the cell that starts it again)"
    )


def test_raw_source_escapes_8bit_bytes(sink) -> None:
    import smtplib

    raw = b"Subject: 8bit\r\n\r\n" + "Привет".encode("cp1251") + b"\r\n"
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="x", timeout=5) as client:
        client.sendmail("a@mail.ru", ["rnd@onego.ru"], raw)
    views = mail_views(sink.wait_for(1)[0])
    assert "\\xcf\\xf0\\xe8\\xe2\\xe5\\xf2" in views["Raw source"]
    assert "no charset declared" in views["Body"]


def test_viewer_lists_messages_and_follows_the_pick(sink) -> None:
    viewer = mailbox_viewer(sink)
    (refresh, status), picker, tabs = viewer.children[0].children, *viewer.children[1:]
    assert picker.options == () and "0 message(s)" in status.value
    assert tabs.children[0].value == "<p>(no message picked)</p>"
    send_composed(sink.port, STUDENT, LECTURER, "first", "one", "utf-8")
    send_composed(sink.port, STUDENT, LECTURER, "second", "two", "koi8-r")
    refresh.click()
    assert len(picker.options) == 2 and picker.index == 1
    assert "two" in tabs.children[1].value and "koi8-r" in tabs.children[1].value
    picker.index = 0
    assert "one" in tabs.children[1].value
    assert [tabs.get_title(i) for i in range(4)] == list(TABS)


def test_compose_widget_sends_to_the_sink(sink) -> None:
    form = compose_widget(sink)
    sender, to, subject, body, (charset, send), outcome = form.children[:4] + (
        tuple(form.children[4].children),
        form.children[5],
    )
    charset.value = "koi8-r"
    subject.value = "Из формы"
    send.click()
    assert outcome.value == "<p>sent to rnd@onego.ru</p>"
    mail = sink.wait_for(1)[0]
    assert mail.subject == "Из формы" and mail.message.get_content_charset() == "koi8-r"
    assert mail.body == "Здравствуйте! Я изучаю Python.\n"
