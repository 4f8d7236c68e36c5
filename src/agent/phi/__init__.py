"""PHI scrubbing (phi.md): everything that leaves the appliance passes through here.

Two scanners find the same spans: the native one (C, ``csrc/phi_scan.c``) when the extension
is built, the reference one (pure Python, :mod:`agent.phi.reference`) otherwise.
:data:`IMPLEMENTATION` says which one is in use (``"native"`` or ``"reference"``).

Outbound payloads go through :func:`agent.phi.egress.egress` only; the functions here are the
building blocks and the API for text (``python -m agent scrub``)::

    scrub(text) -> str
    scrub_many(texts) -> list[str]          # one native call per batch
    find(text) -> list[(tag, start, end)]   # character offsets
    contains_phi(text) -> bool

Tokens are keyed: call :func:`configure` at start-up with ``phi_hash_key``/``phi_hash_mode``
from the config (or the state directory for the site-local key); until then a random
per-process key is used, so tokens are safe but not correlatable across restarts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from agent import native
from agent.phi.scrubber import ReferenceScanner, Scanner, Scrubber
from agent.phi.tokens import HashMode, Tokenizer, parse_hex_key

__all__ = [
    "IMPLEMENTATION",
    "Scrubber",
    "configure",
    "contains_phi",
    "default_scrubber",
    "find",
    "make_scrubber",
    "scanner",
    "scrub",
    "scrub_many",
]


def scanner(pure: bool = False) -> Scanner:
    """The native scanner when built and enabled (and ``pure`` is false), else the reference."""
    if native.NATIVE and not pure:
        from agent.phi.native_scan import NativeScanner

        return NativeScanner()
    return ReferenceScanner()


_SCANNER: Scanner = scanner()
IMPLEMENTATION: str = _SCANNER.name
_DEFAULT = Scrubber(_SCANNER, Tokenizer(secrets.token_bytes(32)))


def make_scrubber(
    *,
    key: bytes | None = None,
    mode: HashMode = "hmac",
    pure: bool = False,
) -> Scrubber:
    """A scrubber with its own key and mode (a random key when ``key`` is None)."""
    scan = ReferenceScanner() if pure else _SCANNER
    return Scrubber(scan, Tokenizer(key if key is not None else secrets.token_bytes(32), mode))


def configure(
    *,
    hash_key_hex: str | None = None,
    hash_mode: HashMode = "hmac",
    site_key: bytes | None = None,
) -> None:
    """Set the process-wide key and mode (phi.md §2): ``phi_hash_key`` from the config when set,
    else the appliance's ``phi_hash.key`` (``site_key``, loaded by :mod:`agent.state.keys`), else a
    random per-process key."""
    global _DEFAULT
    if hash_key_hex:
        key = parse_hex_key(hash_key_hex)
    elif site_key is not None:
        key = site_key
    else:
        key = secrets.token_bytes(32)
    _DEFAULT = Scrubber(_SCANNER, Tokenizer(key, hash_mode))


def default_scrubber() -> Scrubber:
    """The process-wide scrubber (set by :func:`configure`)."""
    return _DEFAULT


def scrub(text: str) -> str:
    return _DEFAULT.scrub(text)


def scrub_many(texts: Sequence[str]) -> list[str]:
    return _DEFAULT.scrub_many(texts)


def find(text: str) -> list[tuple[str, int, int]]:
    return _DEFAULT.find(text)


def contains_phi(text: str) -> bool:
    return _DEFAULT.contains_phi(text)
