"""The scrubber: a scanner (native or reference) plus a tokenizer (key and hash mode)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from agent.phi.fold import fold, unfold_spans
from agent.phi.rules import TAGS
from agent.phi.tokens import Tokenizer

if TYPE_CHECKING:
    from agent.phi.reference import Span


class Scanner(Protocol):
    """Finds the spans of phi.md; both implementations return the same spans."""

    name: str

    def find_spans(self, text: str) -> Sequence[Span]: ...

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]: ...


class ReferenceScanner:
    """The pure-Python scanner (:mod:`agent.phi.reference`, imported when this scanner is made:
    a daemon on the native scanner never loads it)."""

    name = "reference"

    def __init__(self) -> None:
        from agent.phi.reference import find_spans

        self._find = find_spans

    def find_spans(self, text: str) -> Sequence[Span]:
        return self._find(text)

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]:
        find = self._find
        return [find(t) for t in texts]


class Scrubber:
    """``scrub``/``scrub_many``/``find``/``contains_phi`` over one scanner and one key."""

    __slots__ = ("_render_many", "scanner", "tokenizer")

    def __init__(self, scanner: Scanner, tokenizer: Tokenizer) -> None:
        self.scanner = scanner
        self.tokenizer = tokenizer
        # A scanner that also renders (the native one) builds the output itself; the tokenizer
        # only supplies the hashes.
        self._render_many: Callable[[Sequence[str], Tokenizer], list[str]] | None = getattr(
            scanner, "scrub_many", None)

    @property
    def implementation(self) -> str:
        return self.scanner.name

    def scrub(self, text: str) -> str:
        return self.scrub_many((text,))[0]

    def scrub_many(self, texts: Sequence[str]) -> list[str]:
        # Texts that Unicode folding changes (agent.phi.fold) are scanned folded, whatever the
        # scanner, and rendered here; the others go the scanner's own way.
        folded = [(i, *fold(t)) for i, t in enumerate(texts) if not t.isascii()]
        folded = [(i, f, origin) for i, f, origin in folded if f != texts[i]]
        if folded:
            out = self._scrub_plain(texts)
            render = self.tokenizer.render
            found = self.scanner.find_spans_many([f for _, f, _ in folded])
            for (i, _, origin), spans in zip(folded, found, strict=True):
                if spans:
                    text = texts[i]
                    out[i] = render(text, unfold_spans(spans, origin, len(text)))
                else:
                    out[i] = texts[i]
            return out
        return self._scrub_plain(texts)

    def _scrub_plain(self, texts: Sequence[str]) -> list[str]:
        if self._render_many is not None:
            return self._render_many(texts, self.tokenizer)
        render = self.tokenizer.render
        return [
            render(t, s) if s else t
            for t, s in zip(texts, self.scanner.find_spans_many(texts), strict=True)
        ]

    def spans(self, text: str) -> list[Span]:
        """The spans of ``text`` (character offsets), found on its folded form."""
        folded, origin = fold(text)
        return unfold_spans(self.scanner.find_spans(folded), origin, len(text))

    def find(self, text: str) -> list[tuple[str, int, int]]:
        return [(TAGS[tag], start, end) for tag, start, end in self.spans(text)]

    def contains_phi(self, text: str) -> bool:
        return bool(self.spans(text))
