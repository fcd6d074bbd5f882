"""Hygiene of every stored notebook in notebooks/ (new notebooks are covered with no new code).

The checks themselves live in tools/nbcheck.py so that ``tools/nbtool.py check``
reports exactly what these tests would.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbcheck
import nbcompare
import nbindex
import pytest

NOTEBOOKS = sorted(nbindex.NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.fixture(scope="module")
def findings() -> dict[Path, dict[str, list[str]]]:
    return {path: nbcheck.check_notebook(path) for path in NOTEBOOKS}


@pytest.mark.parametrize("check", sorted(nbcheck.CHECKS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_hygiene(path: Path, check: str, findings) -> None:
    problems = findings[path][check]
    assert not problems, f"{path.name}: {check}:\n  " + "\n  ".join(problems)


def test_start_here_exists() -> None:
    # the harness is parametrised by the files present: an empty folder must not pass
    assert (nbindex.NOTEBOOK_DIR / nbindex.CONTENTS_HOME.filename).is_file()


def test_every_notebook_file_is_in_the_list() -> None:
    listed = {e.filename for e in nbindex.NOTEBOOKS}
    unlisted = [p.name for p in NOTEBOOKS if p.name not in listed]
    assert not unlisted, f"add these to NOTEBOOKS in tools/nbindex.py: {unlisted}"


def test_readme_contents_match_the_list() -> None:
    text = nbindex.README.read_text(encoding="utf-8")
    assert nbindex.README_START in text and nbindex.README_END in text
    assert nbindex.apply_readme_contents(text) == text, "run: .venv/bin/python tools/nbtool.py nav"


# --- the sanitize file ---------------------------------------------------------


def test_sanitize_file_is_ascii_and_well_formed() -> None:
    raw = nbcompare.SANITIZE_FILE.read_bytes()
    assert raw.isascii(), "nbval reads the sanitize file in the locale's encoding: keep it ASCII"
    lines = raw.decode("ascii").splitlines()
    for number, line in enumerate(lines, 1):
        if line.startswith("regex:"):
            assert line.startswith("regex: "), f"line {number}: one space after 'regex:'"
            re.compile(line[len("regex: ") :])
            following = lines[number] if number < len(lines) else ""
            assert following.startswith("replace: ") and following[len("replace: ") :].strip(), (
                f"line {number + 1}: a regex must be followed by 'replace: <visible token>'"
            )
        elif line.startswith("replace:"):
            assert lines[number - 2].startswith("regex: "), f"line {number}: replace without regex"
        else:
            assert not line.strip() or line.startswith("#"), f"line {number}: {line!r}"
    pairs = nbcompare.load_patterns()
    assert len(pairs) == sum(line.startswith("regex: ") for line in lines), "duplicate regex"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("reverse server on 127.0.0.1:33333", "reverse server on 127.0.0.1:45123 (33333 was busy)"),
        ("raddr=('127.0.0.1', 54321)>", "raddr=('127.0.0.1', 60001)>"),
        ("<socket.socket fd=57, family=2>", "<socket.socket fd=63, family=2>"),
        ("+0.003 s  server  accept", "+0.118 s  server  accept"),
        ("round trip 0.21 ms", "round trip 12 ms"),
        ("Date: Tue, 25 Nov 2025 19:08:00 +0000", "Date: Wed, 3 Dec 2025 07:00:59 +0300"),
        ("at 2025-11-25T19:08:00.123456+00:00", "at 2026-01-02 03:04:05"),
        (
            "Message-ID: <176408.1234.5678901234@vm>",
            "Message-ID: <176409.99.1@laptop.local>",
        ),
        ("timed out (127.0.0.1@53535)", "timed out (127.0.0.1@40001)"),
        ("<function f at 0x7f3a2c1b0e00>", "<function f at 0x10a2b3c4d>"),
        ("Thread-3 (serve)", "Thread-12 (serve)"),
        ("[::1]:33333", "[::1]:41000 (33333 was busy)"),
    ],
)
def test_sanitize_rules_make_varying_output_equal(first: str, second: str) -> None:
    patterns = nbcompare.load_patterns()
    assert nbcompare.sanitize(first, patterns) == nbcompare.sanitize(second, patterns)
    assert nbcompare.sanitize(first, patterns) != first, "the token must be visible"


@pytest.mark.parametrize(
    "text",
    [
        "MAIL FROM:<rnd@onego.ru>",
        "ПАЛИНДРОМ -> МОРДНИЛАП",
        "smtp 25/tcp, http 80/tcp",
        "('195.161.136.4', 80)",
        "0x7f000001 is 127.0.0.1",
    ],
)
def test_sanitize_rules_leave_lesson_content_alone(text: str) -> None:
    assert nbcompare.sanitize(text, nbcompare.load_patterns()) == text
