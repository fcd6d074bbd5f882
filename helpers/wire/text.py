"""Reverse text safely: by what a reader sees as a letter, not by byte or code point.

The chapter's server reversed the bytes it received. For ASCII that looks right;
for "ПАЛИНДРОМ" in UTF-8 (two bytes a letter) it swaps the bytes inside every
letter and produces invalid UTF-8. Reversing code points is better but still
moves an accent away from its letter ("é" written as "e" + U+0301). So
"reverse" here means: split the text into clusters, reverse their order, keep
each cluster intact.

>>> reverse_text("ПАЛИНДРОМ")
'МОРДНИЛАП'
>>> reverse_utf8("ПАЛИНДРОМ".encode())
b'\\xd0\\x9c\\xd0\\x9e\\xd0\\xa0\\xd0\\x94\\xd0\\x9d\\xd0\\x98\\xd0\\x9b\\xd0\\x90\\xd0\\x9f'

A cluster ("grapheme-ish", a deliberate subset of Unicode's UAX #29) is:

- a code point followed by its combining marks (categories Mn, Mc, Me:
  accents, the breve of "Й" written as "И" + U+0306, variation selectors),
  emoji skin-tone modifiers, tag characters and ZERO WIDTH JOINER; a joiner
  also takes the pictograph after it, so an emoji family stays one picture;
- a pair of regional indicators (one flag);
- CR LF (one line break), with any marks after it;
- a high surrogate followed by a low surrogate (a UTF-16 pair that a str can
  hold after ``decode("utf-16", "surrogatepass")``): kept together and in
  order, so reversing never turns a valid pair into an invalid one;
- any other single code point, including a lone surrogate: it is kept as it
  is, as a cluster of its own. Nothing is dropped or replaced in a str.

Not joined (this is not a full UAX #29): Hangul jamo sequences, Indic
conjuncts, prepended marks. A combining mark at the very start of a text has
no base letter; it starts a cluster of its own. Because clusters can re-form
differently once reordered (a leading mark, "\\n\\r" becoming CR LF, an odd run
of flags), reversing twice gives the original text back only for text made of
whole clusters; every cluster itself is always preserved.

For bytes from the network, ``reverse_utf8`` decodes UTF-8 with
``errors="replace"``: each invalid sequence becomes U+FFFD (shown as a
replacement character) instead of an exception that would kill a server. The
decoded text then holds no surrogates, so encoding the result never fails.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["reverse_text", "reverse_utf8", "split_clusters"]

_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me"})
# Extended_Pictographic, approximated by the blocks that hold emoji.
_PICTOGRAPHS = "\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
# Emoji modifiers (skin tones) and tag characters extend a cluster like marks.
_OTHER_EXTENDERS = "\u200c\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f"
_REGIONAL = "\U0001f1e6-\U0001f1ff"


def _ranges(code_points: list[int]) -> str:
    """A regex character-class body for sorted code points, merged into ranges."""
    parts: list[str] = []
    start = prev = code_points[0]
    for cp in code_points[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(
            re.escape(chr(start))
            if start == prev
            else f"{re.escape(chr(start))}-{re.escape(chr(prev))}"
        )
        start = prev = cp
    return "".join(parts)


# Combining marks live in planes 0, 1 and 14 only (plane 14: variation
# selectors 17-256); planes 2-3 hold CJK ideographs, 15-16 private use, the rest
# is unassigned. A test checks this against a scan of every code point.
_MARK_PLANES = (range(0x20000), range(0xE0000, 0xF0000))


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The cluster pattern, and one that finds any code point that can join another.

    Built on first use (about 15 ms to scan the planes that hold marks), so
    importing the module stays cheap; re.findall then does the splitting in C.
    """
    marks = [
        cp
        for plane in _MARK_PLANES
        for cp in plane
        if unicodedata.category(chr(cp)) in _MARK_CATEGORIES
    ]
    extend = f"[{_ranges(marks)}{_OTHER_EXTENDERS}]"
    tail = f"(?:{extend}|\u200d[{_PICTOGRAPHS}]?)*"
    cluster = re.compile(
        f"\r\n{tail}|[{_REGIONAL}][{_REGIONAL}]{tail}|[\ud800-\udbff][\udc00-\udfff]{tail}|.{tail}",
        re.DOTALL,
    )
    # Without any of these, every code point is a cluster of its own.
    joining = re.compile(f"[{_ranges(marks)}{_OTHER_EXTENDERS}\u200d{_REGIONAL}\ud800-\udfff\r]")
    return cluster, joining


def split_clusters(text: str) -> list[str]:
    """Split ``text`` into the clusters described in the module docstring.

    ``"".join(split_clusters(text)) == text`` always holds.
    """
    return _patterns()[0].findall(text)


def reverse_text(text: str) -> str:
    """Reverse the order of the clusters of ``text``, keeping each cluster intact.

    Never raises for any str, lone surrogates included (they stay as they are).
    Text in which nothing joins (most text: no marks, joiners, flags, surrogates
    or CR) is reversed by slicing, which is many times faster than splitting.
    """
    joining = _patterns()[1]
    # The distinct code points are few even in a long text: checking those is
    # several times faster than searching the whole text with the pattern.
    if not any(joining.match(c) for c in set(text)):
        return text[::-1]
    return "".join(reversed(split_clusters(text)))


def reverse_utf8(data: bytes) -> bytes:
    """Decode UTF-8, reverse by clusters, encode UTF-8: the reverse server's reply.

    Invalid UTF-8 does not raise: each bad sequence becomes U+FFFD, so a client
    that sends garbage gets a visible answer and the server keeps running.
    """
    return reverse_text(data.decode("utf-8", errors="replace")).encode("utf-8")
