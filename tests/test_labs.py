"""Labs: every reference program passes, the stored stub is "not solved yet", and the
typical wrong program gets its own hint (proven by running it)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from helpers.lessons import checks, lab_02, lab_03, lab_04, lab_05, lab_09
from helpers.lessons.labs import Lab, check_lab
from helpers.run.program_files import save_program

LABS = {lab.key: lab for lab in (lab_02.LAB, lab_03.LAB, lab_04.LAB, lab_05.LAB, lab_09.LAB)}


@pytest.fixture(autouse=True)
def fresh_ladders(capsys) -> Iterator[None]:
    checks.forget_attempts()
    yield
    checks.forget_attempts()


def save(lab: Lab, source: str) -> None:
    save_program(lab.program, source)


@pytest.mark.parametrize("key", LABS)
def test_the_reference_program_passes(key: str) -> None:
    lab = LABS[key]
    save(lab, lab.reference_program())
    result = check_lab(lab)
    assert result.passed, repr(result)
    assert repr(result).startswith(f"passed: {lab.title}")


@pytest.mark.parametrize("key", LABS)
def test_the_stub_is_not_solved_yet_and_climbs_nothing(key: str) -> None:
    lab = LABS[key]
    save(lab, lab.stub)
    result = check_lab(lab)
    assert repr(result) == f"not solved yet: {lab.title}\nHint: {lab.first_hint}"
    assert lab.ladder.failed_attempts == 0


@pytest.mark.parametrize("key", LABS)
def test_the_stub_runs_and_every_hint_is_helpful_text(key: str) -> None:
    lab = LABS[key]
    compile(lab.stub, lab.program, "exec")
    assert len(lab.hints) >= 2 and all(len(h) > 40 for h in (lab.first_hint, *lab.hints))


CHAPTER_SERVER_V1 = """\
import socket, sys
PORT = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", PORT))
srv.listen(1)
while True:
    sock, addr = srv.accept()
    while True:
        pal = sock.recv(1024)
        if not pal:
            break
        sock.send(pal.decode("utf-8")[::-1].encode("utf-8"))
    sock.close()
"""

WRONG_02 = {
    "a reply per portion": (
        CHAPTER_SERVER_V1,
        "join the portions before you decode",
    ),
    "the chapter's port, not the argument": (
        lab_02.LAB.reference_program().replace(
            "port = int(sys.argv[1]) if len(sys.argv) > 1 else 33333", "port = 33333"
        ),
        "int(sys.argv[1])",
    ),
    "no try/except per client": (
        lab_02.LAB.reference_program().replace(
            "            try:\n                serve_one(sock, addr)\n"
            "            except OSError as error:  # reset, timed out: this client only\n"
            '                print(f"client {addr[0]}:{addr[1]}:", type(error).__name__)\n',
            "            serve_one(sock, addr)\n",
        ),
        "Catch OSError around each client's exchange",
    ),
    "bytes reversed": (
        lab_02.LAB.reference_program().replace(
            'lap = data.decode("utf-8", errors="replace")[::-1]\n'
            '    sock.sendall(lap.encode("utf-8"))',
            "sock.sendall(data[::-1])",
        ),
        "Reverse the text, not its UTF-8 bytes",
    ),
}


@pytest.mark.parametrize("mistake", WRONG_02)
def test_a_typical_wrong_server_gets_its_hint(mistake: str) -> None:
    source, hint = WRONG_02[mistake]
    assert source != lab_02.LAB.reference_program()
    save(lab_02.LAB, source)
    result = check_lab(lab_02.LAB)
    assert result.status == "failed", repr(result)
    assert hint in repr(result)


def test_a_one_at_a_time_server_fails_the_many_clients_lab() -> None:
    save(lab_04.LAB, lab_02.LAB.reference_program())
    result = check_lab(lab_04.LAB)
    assert result.status == "failed"
    assert "Stuck on the held client" in repr(result)


def test_a_pinger_without_retries_and_one_without_a_timeout_get_their_hints() -> None:
    reference = lab_05.LAB.reference_program()
    once = reference.replace("for _ in range(tries):", "for _ in range(1):")
    save(lab_05.LAB, once)
    assert "send the same ping again" in repr(check_lab(lab_05.LAB))
    no_timeout = reference.replace("        sock.settimeout(timeout)\n", "")
    save(lab_05.LAB, no_timeout)
    shown = repr(check_lab(lab_05.LAB))
    assert "did not finish normally" in shown and "settimeout" in shown


def test_a_pinger_that_counts_loss_over_replies_gets_its_hint() -> None:
    wrong = lab_05.LAB.reference_program().replace(
        "loss = (count - received) / count * 100", "loss = (count - received) / received * 100"
    )
    save(lab_05.LAB, wrong)
    assert "Loss is the lost pings over the pings sent" in repr(check_lab(lab_05.LAB))


def test_a_framed_client_that_trusts_one_recv_gets_its_hint() -> None:
    wrong = lab_03.LAB.reference_program().replace(
        '(size,) = struct.unpack("!I", recv_exactly(sock, 4))\n'
        '            print(recv_exactly(sock, size).decode("utf-8"))',
        '(size,) = struct.unpack("!I", sock.recv(4))\n'
        '            print(sock.recv(size).decode("utf-8"))',
    )
    assert wrong != lab_03.LAB.reference_program()
    save(lab_03.LAB, wrong)
    assert "recv(4) may return fewer than 4 bytes" in repr(check_lab(lab_03.LAB))


def test_a_framed_client_that_counts_letters_gets_its_hint() -> None:
    wrong = lab_03.LAB.reference_program().replace(
        'sock.sendall(struct.pack("!I", len(body)) + body)',
        'sock.sendall(struct.pack("!I", len(word)) + body)',
    )
    assert wrong != lab_03.LAB.reference_program()
    save(lab_03.LAB, wrong)
    assert "UTF-8" in repr(check_lab(lab_03.LAB))


def test_the_ladder_climbs_per_different_program_and_then_reveal_gives_the_reference(
    monkeypatch,
) -> None:
    lab = lab_02.LAB
    shown = []
    for number in range(3):
        save(lab, CHAPTER_SERVER_V1 + f"# attempt {number}\n")
        shown.append(repr(check_lab(lab)))
    assert [re.search(r"Hint (\d) of 3", s)[1] for s in shown] == ["1", "2", "3"]
    save(lab, CHAPTER_SERVER_V1 + "# attempt 0\n")
    assert repr(check_lab(lab)) == shown[0]  # the same program, the same message
    assert 'reveal("02.lab")' in shown[-1]

    class Shell:
        cells: list[str] = []

        def set_next_input(self, text: str, replace: bool = False) -> None:
            self.cells.append(text)

    shell = Shell()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    checks.reveal("02.lab")
    (cell,) = shell.cells
    assert cell.startswith("%%program lab_server.py\n")
    save(lab, cell.split("\n", 1)[1])
    assert check_lab(lab).passed


def test_reveal_refuses_before_enough_attempts(capsys) -> None:
    checks.reveal("05.lab")
    assert capsys.readouterr().out.startswith("Not yet: 3 more different failed attempts at 05.lab")


@pytest.mark.parametrize(
    ("mistake", "change", "hint"),
    [
        (
            "no dot-stuffing",
            ('sock.sendall(dot_stuff(LETTER) + b".\\r\\n")', 'sock.sendall(LETTER + b".\\r\\n")'),
            "Dot-stuff the letter",
        ),
        (
            "a UTF-8 body",
            ('BODY.encode("cp1251")', 'BODY.encode("utf-8")'),
            "encode its body with 'cp1251'",
        ),
        (
            "the letter ended with a bare newline",
            (
                'sock.sendall(dot_stuff(LETTER) + b".\\r\\n")',
                'sock.sendall(dot_stuff(LETTER) + b".\\n")',
            ),
            "End every line with \\r\\n",
        ),
    ],
)
def test_a_typical_wrong_smtp_client_gets_its_hint(mistake, change, hint) -> None:
    reference = lab_09.LAB.reference_program()
    wrong = reference.replace(*change)
    assert wrong != reference, mistake
    save(lab_09.LAB, wrong)
    result = check_lab(lab_09.LAB)
    assert result.status == "failed", repr(result)
    assert hint in repr(result)


def test_the_smtp_labs_letter_is_the_one_its_stub_and_reference_spell_out() -> None:
    spelled = {}
    for source in (lab_09.STUB, lab_09.LAB.reference_program()):
        namespace: dict = {}
        exec(source.split("# Connect to")[0] if source is lab_09.STUB else source, namespace)
        spelled[source is lab_09.STUB] = namespace["LETTER"]
    assert spelled[True] == spelled[False] == lab_09.LETTER
