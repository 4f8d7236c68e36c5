"""Structured logging: one JSON object per line on stdout (runtime.md §7).

Usage::

    from agent.log import get_logger
    log = get_logger("checkin")
    log.info("checkin.ok", "checked in", duration_ms=12)

Every line carries ``ts``, ``level``, ``component``, ``event`` and ``msg``, then the event's
fields. A final filter replaces every registered secret value (:func:`register_secret`) with
``[SECRET-REDACTED]``; secrets should never be passed to the logger in the first place, the
filter is the last line of defence. Repeated identical warnings are rate-limited.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from agent.timefmt import format_rfc3339

REDACTED = "[SECRET-REDACTED]"
_ROOT = "agent"
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}
_SYSLOG_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
_MIN_SECRET_LEN = 4  # shorter values would redact ordinary text


class _Secrets:
    """The set of secret values the final filter removes from every line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            merged = set(self._values)
            merged.update(v for v in values if v and len(v) >= _MIN_SECRET_LEN)
            # Longest first, so a secret containing another is replaced whole.
            self._values = tuple(sorted(merged, key=len, reverse=True))

    @property
    def values(self) -> tuple[str, ...]:
        return self._values

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text


_SECRETS = _Secrets()


def register_secret(*values: str | None) -> None:
    """Register secret values (API keys, passwords) that must never appear in a log line."""
    _SECRETS.add(v for v in values if v)


def has_secrets() -> bool:
    """Whether any secret value is registered."""
    return bool(_SECRETS.values)


def redact(text: str) -> str:
    """Apply the secret filter to ``text`` (also used for status and error strings)."""
    return _SECRETS.scrub(text)


def mask(value: str | None) -> str:
    """Mask a secret for display: only its last 4 characters remain (runtime.md §8)."""
    if not value:
        return ""
    if len(value) <= 8:
        return "****"
    return "****" + value[-4:]


_BARE = re.compile(r"[^\s\"'=\\]+")
_TEXT_ENC = msgspec.json.Encoder(enc_hook=str)


def text_value(value: Any) -> str:
    """A field value in the text format: no Python reprs (``None``, ``['a']``, ``True``).

    Plain words stay bare; text with spaces, quotes or ``=`` is JSON-quoted; ``None`` is ``-``;
    booleans are ``true``/``false``; lists and maps are compact JSON.
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else _TEXT_ENC.encode(value).decode()
    if isinstance(value, bytes | bytearray):
        return text_value(bytes(value).decode("utf-8", "replace"))
    try:
        return _TEXT_ENC.encode(value).decode("utf-8", "replace")
    except (TypeError, ValueError, OverflowError):
        return text_value(str(value))


class _Formatter(logging.Formatter):
    def __init__(self, fmt: str, journald: bool) -> None:
        super().__init__()
        self.text = fmt == "text"
        self.journald = journald
        self._enc = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, "info")
        ts_text = format_rfc3339(record.created, fraction=3)
        component = getattr(record, "component", record.name.removeprefix(_ROOT + "."))
        event = getattr(record, "event", "log")
        fields: dict[str, Any] = getattr(record, "fields", {})
        exc = None
        if record.exc_info:
            exc = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        msg = record.getMessage()
        if self.text:
            extra = " ".join(f"{k}={text_value(v)}" for k, v in fields.items())
            line = f"{ts_text} {level.upper():7} {component} {event}: {msg}"
            if extra:
                line += " " + extra
            if exc:
                line += " | " + exc.replace("\n", " | ")
        else:
            obj: dict[str, Any] = {
                "ts": ts_text,
                "level": level,
                "component": component,
                "event": event,
                "msg": msg,
            }
            for key, value in fields.items():
                if key not in obj:
                    obj[key] = value
            if exc:
                obj["exc"] = exc
            line = self._enc.encode(obj).decode("utf-8", "replace")
        line = _SECRETS.scrub(line)
        if self.journald:
            line = f"<{_SYSLOG_PRIORITY[level]}>{line}"
        return line


class _StdoutHandler(logging.Handler):
    """Writes each line to whatever ``sys.stdout`` (or ``sys.stderr``, for CLI commands whose
    stdout is their output) is at emit time, flushed at once."""

    stream_name = "stdout"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr if self.stream_name == "stderr" else sys.stdout
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


#: The fields that name what a warning is about (distinct values are distinct warnings).
_IDENTITY_FIELDS: Final = ("host", "check_type", "order_id", "order_type", "kind", "reason",
                           "error_kind", "verdict", "key", "file", "path", "step", "status")
_LIMIT_KEYS: Final = 1024


class EventLogger:
    """Thin wrapper over a stdlib logger that takes an event name and fields."""

    __slots__ = ("_last", "_logger", "component")

    def __init__(self, component: str) -> None:
        self.component = component
        self._logger = logging.getLogger(f"{_ROOT}.{component}")
        self._last: dict[tuple[str, ...], list[float]] = {}

    def _log(self, level: int, event: str, msg: str, exc: bool, fields: dict[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        self._logger.log(
            level,
            msg,
            exc_info=exc,
            extra={"component": self.component, "event": event, "fields": fields},
            stacklevel=3,
        )

    def debug(self, event: str, msg: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, msg, False, fields)

    def info(self, event: str, msg: str, **fields: Any) -> None:
        self._log(logging.INFO, event, msg, False, fields)

    def warning(self, event: str, msg: str, **fields: Any) -> None:
        """Warning, emitted at most once a minute per distinct failure: the event, its message and
        the fields that say *what* failed (host, check type, order, kind, reason, …) — so four
        different order rejections give four lines, the same one repeated gives one (with
        ``repeated`` on the next line after the minute)."""
        key = (event, msg, *(str(fields.get(f, "")) for f in _IDENTITY_FIELDS))
        now = time.monotonic()
        if len(self._last) > _LIMIT_KEYS:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < 60.0}
        slot = self._last.get(key)
        if slot is not None and now - slot[0] < 60.0:
            slot[1] += 1
            return
        if slot is not None and slot[1]:
            fields = {**fields, "repeated": int(slot[1])}
        self._last[key] = [now, 0]
        self._log(logging.WARNING, event, msg, False, fields)

    def error(self, event: str, msg: str, exc: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, event, msg, exc, fields)

    def critical(self, event: str, msg: str, exc: bool = False, **fields: Any) -> None:
        self._log(logging.CRITICAL, event, msg, exc, fields)


def get_logger(component: str) -> EventLogger:
    """The logger of one component (``checkin``, ``phi``, ``orders``, ...)."""
    return EventLogger(component)


def parse_level(name: str) -> int:
    """``DEBUG``/``INFO``/``WARNING``/``WARN``/``ERROR`` (any case) to a logging level."""
    table = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
             "WARN": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}
    try:
        return table[name.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}") from None


#: ``warnings.formatwarning``'s first line: ``<file>:<line>: <Category>: <message>``.
_WARNING_LINE = re.compile(r"(?P<source>.+?:\d+): (?P<category>\w+): (?P<message>.*)", re.DOTALL)
WARNINGS_LOGGER = "py.warnings"


class _WarningRecords(logging.Filter):
    """Turns a ``py.warnings`` record (``logging.captureWarnings``) into one of ours: component
    ``python``, event ``python.warning``, the category and source as fields, one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "event", None) is not None:
            return True
        text = record.getMessage()
        m = _WARNING_LINE.match(text)
        fields: dict[str, Any] = {}
        if m is not None:
            # formatwarning appends the offending source line after the message (indented).
            message = m.group("message").split("\n  ")[0]
            fields = {"category": m.group("category"), "source": m.group("source")}
        else:
            message = text
        record.msg = " ".join(message.split())
        record.args = None
        record.component = "python"
        record.event = "python.warning"
        record.fields = fields
        return True


def configure(level: str = "INFO", fmt: str = "json", stream: str = "stdout") -> None:
    """Configure the ``agent`` logger tree; safe to call again (SIGHUP reload).

    ``stream``: ``stdout`` (the daemon) or ``stderr`` (operator commands, whose stdout is their
    output).

    Third-party warnings (the ``warnings`` module: asyncssh's CryptographyDeprecationWarning, …)
    are captured (:func:`logging.captureWarnings`) and written by the same handler, in the same
    format, instead of raw to stderr.
    """
    root = logging.getLogger(_ROOT)
    root.setLevel(parse_level(level))
    root.propagate = False
    journald = bool(os.environ.get("JOURNAL_STREAM")) and fmt == "json"
    handler = next((h for h in root.handlers if isinstance(h, _StdoutHandler)), None)
    if handler is None:
        handler = _StdoutHandler()
        root.addHandler(handler)
    handler.setFormatter(_Formatter(fmt, journald))
    handler.stream_name = "stderr" if stream == "stderr" else "stdout"
    logging.captureWarnings(True)
    pyw = logging.getLogger(WARNINGS_LOGGER)
    pyw.propagate = False
    pyw.setLevel(logging.WARNING)
    if handler not in pyw.handlers:
        pyw.handlers = [h for h in pyw.handlers if not isinstance(h, _StdoutHandler)]
        pyw.addHandler(handler)
    if not any(isinstance(f, _WarningRecords) for f in pyw.filters):
        pyw.addFilter(_WarningRecords())
