"""The Prometheus textfile-collector file (node_exporter's ``--collector.textfile.directory``
convention: ``*.prom``, replaced atomically), written by the runtime alongside ``status.json``.

It carries the status document's figures only — checkin, breaker, outboxes, evidence, scan,
healing, log shipping, orders, the process — flattened to gauges named
``msp_agent_<section>_<field>``; strings become labelled ``1`` gauges only for a few known
states (daemon state, breaker). No host names, ids, errors or other free text ever appear: the
status document holds none in its figures, and only numbers and booleans are copied.

The file's path is the ``metrics_textfile`` config key: unset, ``msp_agent.prom`` in the runtime
directory; empty, no file.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from agent.proc import runtime_dir
from agent.state.atomic import atomic_write, ensure_dir
from agent.timefmt import parse_rfc3339

FILE_NAME: Final = "msp_agent.prom"
PREFIX: Final = "msp_agent"
#: The status sections whose figures are exported (the others hold names and settings).
SECTIONS: Final = ("process", "checkin", "orders", "evidence", "reports", "scan", "healing",
                   "logship", "state_file")
#: Nested maps whose keys are names (jobs, tasks, hosts): never flattened into metric names.
SKIP: Final = frozenset({"supervisor", "config", "server_keys", "jobs", "tasks", "targets",
                         "hosts_by_name"})
STATES: Final = ("starting", "running", "stopping", "stopped")
BREAKER: Final = ("closed", "half_open", "open")
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")
_FIELD = re.compile(r"[a-z][a-z0-9_]*")


def textfile_path(setting: str | None, state_dir: Path) -> Path | None:
    """Where to write: the configured path, the runtime directory's default, or None (off)."""
    if setting is None:
        return runtime_dir(state_dir) / FILE_NAME
    return Path(setting) if setting else None


@functools.lru_cache(maxsize=1024)
def _name(*parts: str) -> str:
    # Cached: the same few hundred names are rendered at every status change.
    return _NAME_BAD.sub("_", "_".join((PREFIX, *parts))).lower()


@functools.lru_cache(maxsize=4096)
def _is_field(key: str) -> bool:
    return _FIELD.fullmatch(key) is not None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _flatten(doc: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, float]]:
    # A map keyed by anything but field names (host names, addresses, job names such as
    # "heal-worker-0") is skipped whole: its keys must never become metric names.
    if not all(isinstance(k, str) and _is_field(k) for k in doc):
        return
    for key, value in doc.items():
        if key in SKIP:
            continue
        if isinstance(value, Mapping):
            yield from _flatten(value, (*path, key))
            continue
        number = _number(value)
        if number is not None:
            yield _name(*path, key), number


def _fmt(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render(doc: Mapping[str, Any]) -> str:
    """The text exposition of one status document (one gauge family per name, sorted)."""
    metrics: dict[str, list[tuple[str, float]]] = {}

    def add(name: str, value: float, labels: str = "") -> None:
        metrics.setdefault(name, []).append((labels, value))

    add(_name("up"), 1.0)
    state = doc.get("state")
    for s in STATES:
        add(_name("state"), 1.0 if state == s else 0.0, f'{{state="{s}"}}')
    written = doc.get("written_at")
    if isinstance(written, str):
        with contextlib.suppress(ValueError):
            add(_name("status_written_timestamp_seconds"), parse_rfc3339(written).timestamp())
    add(_name("degraded"), 1.0 if doc.get("degraded_reason") else 0.0)
    sup = doc.get("supervisor")
    if isinstance(sup, Mapping) and _number(sup.get("loop_lag_s")) is not None:
        add(_name("loop_lag_seconds"), float(sup["loop_lag_s"]))
    checkin = doc.get("checkin")
    if isinstance(checkin, Mapping):
        for b in BREAKER:
            add(_name("checkin_breaker"), 1.0 if checkin.get("breaker") == b else 0.0,
                f'{{state="{b}"}}')
        for alert in ("trust_alert", "tls_pin_alert", "clock_alert"):
            add(_name("checkin", alert), 1.0 if checkin.get(alert) else 0.0)
    for section in SECTIONS:
        value = doc.get(section)
        if isinstance(value, Mapping):
            for name, number in _flatten(value, (section,)):
                add(name, number)
    lines = []
    for name in sorted(metrics):
        lines.append(f"# TYPE {name} gauge")
        lines += [f"{name}{labels} {_fmt(v)}" for labels, v in metrics[name]]
    return "\n".join(lines) + "\n"


def write(path: Path, doc: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically (node_exporter never reads a half-written file), not fsynced
    (volatile, like ``status.json``). Blocking: call it where ``status.json`` is written, from a
    worker thread."""
    ensure_dir(path.parent, 0o750)
    atomic_write(path, render(doc).encode("ascii", "replace"), 0o644, durable=False)


def write_configured(setting: str | None, state_dir: Path, doc: Mapping[str, Any]) -> Path | None:
    """The one call the runtime makes where it writes ``status.json`` (same document, same
    thread): writes the file ``metrics_textfile`` names (or the default); None when it is off.
    Raises OSError like the status write (the caller logs it)."""
    path = textfile_path(setting, state_dir)
    if path is not None:
        write(path, doc)
    return path
