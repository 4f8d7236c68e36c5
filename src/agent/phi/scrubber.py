"""The scrubber: a scanner (native or reference) plus a tokenizer (key and hash mode)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from agent.phi import reference
from agent.phi.reference import Span
from agent.phi.rules import TAGS
from agent.phi.tokens import Tokenizer


class Scanner(Protocol):
    """Finds the spans of phi.md; both implementations return the same spans."""

    name: str

    def find_spans(self, text: str) -> Sequence[Span]: ...

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]: ...


class ReferenceScanner:
    """The pure-Python scanner (:mod:`agent.phi.reference`)."""

    name = "reference"

    def find_spans(self, text: str) -> Sequence[Span]:
        return reference.find_spans(text)

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]:
        find = reference.find_spans
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
        if self._render_many is not None:
            return self._render_many((text,), self.tokenizer)[0]
        return self.tokenizer.render(text, self.scanner.find_spans(text))

    def scrub_many(self, texts: Sequence[str]) -> list[str]:
        if self._render_many is not None:
            return self._render_many(texts, self.tokenizer)
        render = self.tokenizer.render
        return [
            render(t, s) if s else t
            for t, s in zip(texts, self.scanner.find_spans_many(texts), strict=True)
        ]

    def find(self, text: str) -> list[tuple[str, int, int]]:
        return [(TAGS[tag], start, end) for tag, start, end in self.scanner.find_spans(text)]

    def contains_phi(self, text: str) -> bool:
        return bool(self.scanner.find_spans(text))
