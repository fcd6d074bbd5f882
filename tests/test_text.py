"""helpers.wire.text: reversing by clusters keeps letters whole, for any str and any bytes."""

from __future__ import annotations

import unicodedata
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from helpers.wire import text as text_module
from helpers.wire.text import reverse_text, reverse_utf8, split_clusters

# Every code point, lone surrogates (category Cs) included.
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=60)
marks = st.characters(categories=("Mn", "Mc", "Me"))
# Base letters that never join their neighbour: letters of any script.
bases = st.characters(categories=("Lu", "Ll", "Lo", "Nd"))


def test_the_chapters_word() -> None:
    assert reverse_text("ПАЛИНДРОМ") == "МОРДНИЛАП"
    assert reverse_utf8("ПАЛИНДРОМ".encode()) == "МОРДНИЛАП".encode()


def test_combining_mark_stays_on_its_letter() -> None:
    # "Й" written as "И" + COMBINING BREVE, "é" as "e" + COMBINING ACUTE
    assert reverse_text("ЙОГ".replace("Й", "И\u0306")) == "ГОИ\u0306"
    assert reverse_text("cafe\u0301!") == "!e\u0301fac"
    # naive code point reversal puts the accent on the wrong letter
    assert "cafe\u0301!"[::-1] == "!\u0301efac"


def test_emoji_sequences_stay_whole() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    flag = "\U0001f1f7\U0001f1fa"
    thumbs = "\U0001f44d\U0001f3fd"
    assert reverse_text(f"a{family}b{flag}c{thumbs}") == f"{thumbs}c{flag}b{family}a"


def test_crlf_is_one_cluster() -> None:
    assert reverse_text("a\r\nb") == "b\r\na"


def test_surrogates_are_kept_and_a_pair_keeps_its_order() -> None:
    pair = "\ud83d\ude00"  # U+1F600 as a UTF-16 pair held in a str
    assert reverse_text(f"a{pair}b") == f"b{pair}a"
    assert reverse_text("a\udc80b\ud800") == "\ud800b\udc80a"


def test_invalid_utf8_becomes_replacement_characters() -> None:
    reply = reverse_utf8(b"ab\xff\xd0")
    assert reply.decode("utf-8") == "\ufffd\ufffdba"


def test_naive_byte_reversal_breaks_cyrillic() -> None:
    # The point the notebook makes: the chapter's reversal of bytes is invalid UTF-8.
    data = "ПАЛИНДРОМ".encode()
    try:
        data[::-1].decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("reversed UTF-8 bytes of Cyrillic decoded cleanly")


@given(any_text)
def test_clusters_rebuild_the_text(text: str) -> None:
    assert "".join(split_clusters(text)) == text


@given(any_text)
def test_reverse_is_reversal_of_clusters_for_any_str(text: str) -> None:
    reversed_text = reverse_text(text)
    assert Counter(reversed_text) == Counter(text)
    position = len(text)
    for cluster in split_clusters(text):
        assert reversed_text[position - len(cluster) : position] == cluster
        position -= len(cluster)
    assert position == 0


@given(
    st.text(
        st.sampled_from("aЙ\u0306\u200d\r\n\U0001f1f7\U0001f1fa\ud83d\ude00\U0001f468"), max_size=30
    )
    | any_text
)
def test_the_fast_path_agrees_with_splitting(text: str) -> None:
    # reverse_text slices when nothing joins; it must give what splitting gives.
    assert reverse_text(text) == "".join(reversed(split_clusters(text)))


def test_combining_marks_are_only_in_the_planes_scanned() -> None:
    everywhere = {
        cp for cp in range(0x110000) if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")
    }
    scanned = {cp for plane in text_module._MARK_PLANES for cp in plane}
    assert everywhere and everywhere <= scanned


def _mark_pairs(text: str) -> Counter[tuple[str, str]]:
    """(code point, combining mark after it) pairs, for marks that have a base."""

    def is_mark(c: str) -> bool:
        return unicodedata.category(c) in ("Mn", "Mc", "Me")

    return Counter(
        (text[i - 1], text[i])
        for i in range(1, len(text))
        if is_mark(text[i]) and not is_mark(text[i - 1])
    )


@given(any_text)
def test_every_mark_keeps_the_code_point_before_it(text: str) -> None:
    reversed_pairs = _mark_pairs(reverse_text(text))
    for pair, count in _mark_pairs(text).items():
        assert reversed_pairs[pair] >= count, pair


@given(st.lists(st.tuples(bases, st.lists(marks, max_size=3)), max_size=20))
def test_reversing_twice_gives_whole_cluster_text_back(letters: list) -> None:
    text = "".join(base + "".join(ms) for base, ms in letters)
    assert reverse_text(reverse_text(text)) == text
    assert len(split_clusters(text)) == len(letters)


@given(st.binary(max_size=200))
def test_reverse_utf8_never_raises_and_answers_valid_utf8(data: bytes) -> None:
    reply = reverse_utf8(data)
    reply.decode("utf-8")  # raises if the reply were not valid UTF-8


@given(st.text(max_size=60))
def test_reverse_utf8_matches_reverse_text_for_valid_text(text: str) -> None:
    encoded = text.encode("utf-8", errors="surrogatepass")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # not valid UTF-8 then; covered by the binary test
    assert reverse_utf8(encoded) == reverse_text(text).encode("utf-8")


def test_a_megabyte_is_reversed_whole() -> None:
    """Its speed is a benchmark figure (tools/bench.py), not a test."""
    data = ("ПАЛИНДРОМ " * 60_000).encode()[: 1 << 20]
    reply = reverse_utf8(data)
    assert len(reply) >= len(data) - 3  # a cut final letter becomes U+FFFD
