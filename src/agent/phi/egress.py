"""The egress boundary (phi.md §1): every outbound payload passes through :func:`egress`.

Usage (checkin client, outboxes, log shipper, evidence upload, ...)::

    from agent.phi.egress import EgressError, egress

    try:
        body = egress(payload, kind="incident")
    except EgressError:
        return  # keep the payload queued; it is retried later, never sent unscrubbed

* Every string value is scrubbed, recursively through msgspec Structs, dicts, lists and tuples
  (one native call for all strings of the payload). Map keys and field names are kept: they are
  schema, not data.
* A value whose key or field name is or ends with a secret name (``password``, ``token``,
  ``api_key``, ...; case, ``_`` and ``-`` ignored) becomes ``[SECRET-REDACTED]``, whatever it holds.
* A value whose key or field name names a PHI category (the closed list
  :data:`agent.phi.rules.PHI_KEYS`: ``ssn``, ``dob``, ``first_name``, ``phone``, ...; case and
  separators ignored, so ``firstName`` and ``First-Name`` too) becomes that category's token
  (``[SSN-REDACTED-h8]``), whatever it holds: a string, a number, or a container (hashed as its
  JSON). ``None`` and booleans stay (they hold no value).
* Scrubbing is idempotent: redaction tokens already in a string (``[TAG-REDACTED-h8]``) are kept as
  they are and only the text around them is scanned, so a payload scrubbed where it was built (and
  queued) comes out of the send-time pass unchanged.
* A Struct may name **verbatim** fields in a ``__phi_verbatim__`` class variable: bytes that are
  signed (evidence ``signed_data``, signatures, hashes). They were scrubbed before signing, where
  they were built; here they are scrubbed again only to *check*: if that would change a byte the
  payload is refused (:class:`VerbatimChanged`), never rewritten.
* Numbers, booleans, None and ``msgspec.UNSET`` pass unchanged. Any other type, a cycle, or any
  error while scrubbing raises :class:`EgressError` (fail closed) after logging
  ``phi.egress_failed`` with the payload kind only, never the payload.

The result is a new object where anything changed (a Struct whose strings are all clean is
returned as it is); the input is not modified.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeVar

import msgspec

from agent.log import get_logger, has_secrets, redact
from agent.phi.rules import PHI_KEY_TAGS, SECRET_KEY_SUFFIXES, TAG_INDEX, normalise_key
from agent.phi.scrubber import Scrubber
from agent.phi.tokens import SECRET_TOKEN

T = TypeVar("T")

_log = get_logger("phi")
_SCALARS: Final = (int, float, bool, type(None), msgspec.UnsetType)
_SECRET_SUFFIXES: Final = tuple(s.replace("_", "") for s in SECRET_KEY_SUFFIXES)
_MAX_DEPTH: Final = 64


class EgressError(Exception):
    """Scrubbing an outbound payload failed: do not send it, keep it queued."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or f"PHI scrubbing failed for a {kind!r} payload; it was not sent")
        self.kind = kind


class VerbatimChanged(EgressError):
    """A signed (verbatim) field would change when scrubbed: the payload is refused, not rewritten."""

    def __init__(self, kind: str, field: str) -> None:
        super().__init__(kind, f"the {kind!r} payload's signed field {field!r} would change when "
                         "scrubbed; it was not sent")
        self.field = field


def is_secret_key(key: object) -> bool:
    """Whether a map key names a secret (phi.md §4, structured data)."""
    if not isinstance(key, str):
        return False
    norm = key.lower().replace("_", "").replace("-", "")
    return norm.endswith(_SECRET_SUFFIXES)


def phi_key_tag(key: object) -> str | None:
    """The category (tag) that a map key or field name names (:data:`PHI_KEYS`), or None.
    ``SECRET`` for the secret names of that list and for every :func:`is_secret_key`."""
    if not isinstance(key, str):
        return None
    try:
        return _KEY_TAGS[key]
    except KeyError:
        pass
    tag = "SECRET" if is_secret_key(key) else PHI_KEY_TAGS.get(normalise_key(key))
    if len(_KEY_TAGS) < _KEY_TAGS_MAX:  # payloads reuse a small set of keys: remember them
        _KEY_TAGS[key] = tag
    return tag


#: :func:`phi_key_tag` per key seen (bounded: keys from untrusted data do not grow it for ever).
_KEY_TAGS: dict[str, str | None] = {}
_KEY_TAGS_MAX: Final = 4096


def _keyed_value(value: object, tag: str, scrubber: Scrubber) -> object:
    """The value of a key that names ``tag``: its token whatever it holds (None, booleans and
    tokens already there stay; a secret key's value is always ``[SECRET-REDACTED]``)."""
    if tag == "SECRET":
        return SECRET_TOKEN
    if value is None or isinstance(value, bool | msgspec.UnsetType):
        return value
    if isinstance(value, str):
        if _TOKEN.fullmatch(value):
            return value
        text = value
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = msgspec.json.encode(value).decode("utf-8", "surrogatepass")
    return scrubber.tokenizer.token(TAG_INDEX[tag], text)


_TOKEN: Final = re.compile(r"\[[A-Z][A-Z-]{1,20}-REDACTED(?:-[0-9a-f]{8})?\]")
_TOKEN_MARK: Final = "-REDACTED"  # noqa: S105 - the redaction marker, not a password


def _fields(obj: msgspec.Struct) -> tuple[tuple[str, str], ...]:
    """(attribute, wire name) of a Struct's fields, cached per class."""
    cls = type(obj)
    cached: tuple[tuple[str, str], ...] | None = _FIELDS.get(cls)
    if cached is None:
        cached = tuple(zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True))
        _FIELDS[cls] = cached
    return cached


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


#: What a verbatim field holds when it is crypto material this agent produced: hex of 16 bytes
#: or more, or standard base64 of 30 bytes or more. A rule can match by chance inside such text
#: (``bed4…`` looks like a bed's hostname): the field is then sent unchanged, not refused.
_KEY_MATERIAL = re.compile(r"[0-9A-Fa-f]{32,}|[A-Za-z0-9+/]{40,}={0,2}")


def _key_material(value: object) -> bool:
    return isinstance(value, str) and _KEY_MATERIAL.fullmatch(value) is not None


def _verbatim(obj: msgspec.Struct) -> frozenset[str]:
    names: frozenset[str] = getattr(type(obj), "__phi_verbatim__", frozenset())
    return names


def _collect(obj: object, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("payload nested too deeply")
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, msgspec.Struct):
        for attr, wire in _fields(obj):
            if phi_key_tag(wire) is None:
                _collect(getattr(obj, attr), out, depth + 1)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if phi_key_tag(key) is None:
                _collect(value, out, depth + 1)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _collect(item, out, depth + 1)
    elif not isinstance(obj, _SCALARS):
        raise TypeError(f"cannot scrub a {type(obj).__name__}")


def _rebuild(obj: Any, scrubbed: Iterator[str], kind: str, scrubber: Scrubber) -> Any:
    if isinstance(obj, str):
        return next(scrubbed)
    if isinstance(obj, msgspec.Struct):
        verbatim = _verbatim(obj)
        changes: dict[str, Any] = {}
        for attr, wire in _fields(obj):
            value = getattr(obj, attr)
            tag = phi_key_tag(wire)
            if tag is not None:
                if tag == "SECRET" and not isinstance(value, str):
                    continue  # a typed field keeps its type: only strings can carry a secret
                keyed = _keyed_value(value, tag, scrubber)
                if keyed != value:
                    if attr in verbatim:
                        raise VerbatimChanged(kind, attr)
                    changes[attr] = keyed
                continue
            new = _rebuild(value, scrubbed, kind, scrubber)
            if new is not value and new != value:
                if attr in verbatim:
                    if _key_material(value):
                        continue  # a key, signature or hash encoding: it carries no PHI
                    raise VerbatimChanged(kind, attr)
                changes[attr] = new
        return msgspec.structs.replace(obj, **changes) if changes else obj
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            tag = phi_key_tag(key)
            out[key] = (_rebuild(value, scrubbed, kind, scrubber) if tag is None
                        else _keyed_value(value, tag, scrubber))
        return out
    if isinstance(obj, list):
        return [_rebuild(item, scrubbed, kind, scrubber) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_rebuild(item, scrubbed, kind, scrubber) for item in obj)
    return obj


def scrub_strings(strings: Sequence[str], scrubber: Scrubber) -> list[str]:
    """``scrubber.scrub_many`` that leaves redaction tokens alone (idempotent): a string holding
    tokens is scanned piecewise, the text between the tokens, in the same single batch."""
    if not any(_TOKEN_MARK in s for s in strings):
        return scrubber.scrub_many(strings)
    batch: list[str] = []
    plan: list[list[str | int]] = []  # per string: tokens as str, scanned pieces as batch index
    for s in strings:
        if _TOKEN_MARK not in s:
            plan.append([len(batch)])
            batch.append(s)
            continue
        parts: list[str | int] = []
        pos = 0
        for m in _TOKEN.finditer(s):
            if m.start() > pos:
                parts.append(len(batch))
                batch.append(s[pos:m.start()])
            parts.append(m.group(0))
            pos = m.end()
        if pos < len(s) or not parts:
            parts.append(len(batch))
            batch.append(s[pos:])
        plan.append(parts)
    done = scrubber.scrub_many(batch)
    return ["".join(p if isinstance(p, str) else done[p] for p in parts) for parts in plan]


def _without_known_secrets(strings: list[str]) -> list[str]:
    """Registered secret values (the API key, target passwords: :func:`agent.log.register_secret`)
    become ``[SECRET-REDACTED]`` wherever they appear, even where no label gives them away."""
    return [redact(s) for s in strings] if has_secrets() else strings


def scrub_payload(payload: T, scrubber: Scrubber, *, kind: str = "payload") -> T:
    """The scrubbed copy of ``payload``; raises on unsupported types or a changed verbatim
    field (no logging)."""
    strings: list[str] = []
    _collect(payload, strings, 0)
    clean = _without_known_secrets(scrub_strings(strings, scrubber))
    result: T = _rebuild(payload, iter(clean), kind, scrubber)
    return result


def egress(payload: T, *, kind: str, scrubber: Scrubber | None = None) -> T:
    """Scrub an outbound payload (str, or dicts/lists/tuples of them); fail closed.

    ``kind`` names the payload in the error log (``"checkin"``, ``"incident"``, ...).
    ``scrubber`` defaults to the process-wide one (:func:`agent.phi.configure`).
    """
    if scrubber is None:
        from agent.phi import default_scrubber

        scrubber = default_scrubber()
    try:
        return scrub_payload(payload, scrubber, kind=kind)
    except VerbatimChanged as exc:
        _log.error("phi.egress_verbatim_changed", "outbound payload refused: scrubbing would "
                   "change signed bytes", kind=kind, field=exc.field)
        raise
    except Exception:  # noqa: BLE001 - any failure keeps the payload queued
        _log.error("phi.egress_failed", "outbound payload not sent: PHI scrubbing failed",
                   kind=kind)
        raise EgressError(kind) from None
