"""Unicode folding ahead of both scanners (issue 17): the scanners match ASCII rules on the
folded text, and the spans are mapped back to the original text.

A text that is not ASCII is folded character by character with the generated table
:mod:`agent.phi._fold_table` (pinned to one Unicode version; the running interpreter's
``unicodedata`` is never read): digits of any script become ASCII digits (``１２３`` is ``123``),
space separators a space (NBSP), dashes ``-`` (en dash), format characters and combining marks
are removed (zero-width spaces), letters with an ASCII base become that letter (``José`` is
``Jose``), and other letters ``x``/``X`` (so words of any script stay words). Both scanners scan
the same folded text, so they find the same spans; a span covers the original characters
(including the removed ones it ends before), so ``Patient: José Núñez`` becomes
``Patient: [NAME-REDACTED-…]``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Final

Span = tuple[int, int, int]


class _Table(dict[int, "str | None"]):
    """``str.translate`` table: the fold of a code point, looked up in RANGES once. RANGES (half
    a MiB) is imported at the first non-ASCII character, never for ASCII-only traffic."""

    _ranges: Sequence[tuple[int, int, str]] = ()
    _firsts: list[int] = []

    def __missing__(self, cp: int) -> str | None:
        if not self._ranges:
            from agent.phi._fold_table import RANGES

            _Table._ranges = RANGES
            _Table._firsts = [a for a, _, _ in RANGES]
        ranges = self._ranges
        i = bisect_right(self._firsts, cp) - 1
        if i >= 0 and cp <= ranges[i][1]:
            f = ranges[i][2]
            value: str | None = f if f else None  # None: removed
        else:
            value = chr(cp)
        self[cp] = value
        return value


_TABLE: Final = _Table()


def fold(text: str) -> tuple[str, list[int] | None]:
    """``text`` folded, and where each folded character comes from (None: the same offsets);
    ASCII text is returned as it is."""
    if text.isascii():
        return text, None
    folded = text.translate(_TABLE)
    if len(folded) == len(text):
        return folded, None
    table = _TABLE
    origin = [i for i, ch in enumerate(text) if ch.isascii() or table[ord(ch)] is not None]
    return folded, origin


def fold_value(value: str) -> str:
    """``value`` folded (for hashing numeric values: ``１２３`` hashes as ``123``)."""
    return value if value.isascii() else value.translate(_TABLE)


def unfold_spans(spans: Sequence[Span], origin: list[int] | None, size: int) -> list[Span]:
    """Spans of the folded text as spans of the original text of ``size`` characters: from the
    first character's origin to the next kept character's (or the end)."""
    if origin is None:
        return list(spans)
    n = len(origin)
    return [(tag, origin[a], origin[b] if b < n else size) for tag, a, b in spans]
