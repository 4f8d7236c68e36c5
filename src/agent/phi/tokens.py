"""Redaction tokens (phi.md §2) and the hash key.

``[<TAG>-REDACTED-<h8>]`` where ``h8`` is the first 8 hex characters of
HMAC-SHA256(key, ``<tag>:<normalised value>``) in ``hmac`` mode (default), or of plain
SHA-256 of the exact matched text in ``sha256`` mode (the Go daemon's tokens). Secrets become
``[SECRET-REDACTED]``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Final, Literal

from agent.phi.fold import fold_value
from agent.phi.rules import NUMERIC_TAGS, TAGS

HashMode = Literal["hmac", "sha256"]
HASH_MODES: Final[tuple[str, ...]] = ("hmac", "sha256")
SECRET_TOKEN: Final = "[SECRET-REDACTED]"  # noqa: S105 - the redaction marker
_NON_DIGITS: Final = re.compile(r"[^0-9]", re.ASCII)
_CACHE_MAX: Final = 8192
_NO_H8: Final = b"00000000"


def normalise(tag: str, value: str) -> str:
    """The value as hashed in ``hmac`` mode: digits only for numeric tags (of any script, as
    folded: ``１２３`` is ``123``), email lowercased."""
    if tag in NUMERIC_TAGS:
        return _NON_DIGITS.sub("", fold_value(value))
    if tag == "EMAIL":
        return value.lower()
    return value


class Tokenizer:
    """Turns (tag, value) into a token; one instance per key and mode."""

    __slots__ = ("_cache", "_h8_cache", "key", "mode")

    def __init__(self, key: bytes, mode: HashMode = "hmac") -> None:
        if mode not in HASH_MODES:
            raise ValueError(f"unknown phi hash mode {mode!r}")
        if not key:
            raise ValueError("phi hash key must not be empty")
        self.key = key
        self.mode: HashMode = mode
        self._cache: dict[tuple[int, str], str] = {}
        self._h8_cache: tuple[dict[bytes, bytes], ...] = tuple({} for _ in TAGS)

    def h8(self, tag: str, value: str) -> str:
        if self.mode == "sha256":
            return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        msg = f"{tag}:{normalise(tag, value)}".encode("utf-8", "surrogatepass")
        return hmac.digest(self.key, msg, "sha256").hex()[:8]

    def token(self, tag_index: int, value: str) -> str:
        key = (tag_index, value)
        tok = self._cache.get(key)
        if tok is None:
            tag = TAGS[tag_index]
            tok = SECRET_TOKEN if tag == "SECRET" else f"[{tag}-REDACTED-{self.h8(tag, value)}]"
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = tok
        return tok

    def h8_spans(self, buf: bytes, flat: Sequence[int]) -> bytes:
        """The ``h8`` of every span ``flat[3k:3k+3]`` = (tag index, start, end) of the UTF-8
        ``buf``, concatenated: 8 ASCII bytes each (``00000000`` for secrets, whose tokens carry
        no hash). For the native renderer."""
        caches = self._h8_cache
        it = iter(flat)
        found = [caches[tag].get(buf[a:b]) for tag, a, b in zip(it, it, it, strict=True)]
        if None in found:
            for k, h8 in enumerate(found):
                if h8 is None:
                    tag, a, b = flat[3 * k : 3 * k + 3]
                    found[k] = self._h8_miss(tag, buf[a:b])
        return b"".join(found)  # type: ignore[arg-type]  # no None left

    def _h8_miss(self, tag_index: int, value: bytes) -> bytes:
        tag = TAGS[tag_index]
        if tag == "SECRET":
            return _NO_H8  # never cached: secret values are not kept
        h8 = self.h8(tag, value.decode("utf-8", "surrogatepass")).encode("ascii")
        cache = self._h8_cache[tag_index]
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[value] = h8
        return h8

    def render(self, text: str, spans: Sequence[tuple[int, int, int]]) -> str:
        """``text`` with every ``(tag index, start, end)`` span replaced by its token."""
        if not spans:
            return text
        parts: list[str] = []
        last = 0
        token = self.token
        for tag, start, end in spans:
            parts.append(text[last:start])
            parts.append(token(tag, text[start:end]))
            last = end
        parts.append(text[last:])
        return "".join(parts)


def parse_hex_key(value: str) -> bytes:
    """A ``phi_hash_key`` from the config (hex, at least 16 bytes)."""
    key = bytes.fromhex(value.strip())
    if len(key) < 16:
        raise ValueError("phi_hash_key must be at least 16 bytes (32 hex characters)")
    return key


