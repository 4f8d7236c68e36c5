"""Journal entries → one log-ingest batch (runtime.md §7.3 step 2-3, central-api.md §7.6).

Each message is cut to 64 KiB first (bounding the scrub cost), then **all messages of the batch
and the host name go through the egress boundary in one** ``scrub_many`` **call** (PHI, known
secret values, fail closed), then each message is cut to
8192 bytes at a character boundary (cutting before scrubbing could leave half a PHI value
unscrubbed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent.phi.csvstream import CsvStream
from agent.phi.egress import egress
from agent.phi.scrubber import Scrubber
from agent.protocol.logs import LogEntry, LogIngest
from agent.timefmt import format_rfc3339_ns

PRE_SCRUB_CHARS = 64 * 1024
MAX_MSG_BYTES = 8192
MAX_UNIT = 128
MAX_BOOT = 64


@dataclass
class Built:
    ingest: LogIngest
    skipped: int


def realtime(value: Any) -> str | None:
    """``__REALTIME_TIMESTAMP`` (microseconds, as a string) → RFC 3339 UTC with fraction."""
    try:
        us = int(value)
    except (TypeError, ValueError):
        return None
    if us <= 0:
        return None
    try:
        return format_rfc3339_ns(us * 1000, fraction=6)
    except (OverflowError, OSError, ValueError):
        return None


def message(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", "replace")  # journald's byte-array MESSAGE
    return None


def priority(value: Any) -> int:
    try:
        p = int(value)
    except (TypeError, ValueError):
        return 6
    return p if 0 <= p <= 7 else 6


def cut_bytes(text: str, limit: int = MAX_MSG_BYTES) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


def build(entries: Sequence[dict[str, Any]], *, site_id: str, hostname: str,
          scrubber: Scrubber) -> Built:
    """One batch from raw journal entries; raises whatever the scrubber raises (fail closed)."""
    keep: list[tuple[str, str, int, str | None]] = []
    texts: list[str] = []
    skipped = 0
    for e in entries:
        ts = realtime(e.get("__REALTIME_TIMESTAMP"))
        msg = message(e.get("MESSAGE"))
        if ts is None or msg is None:
            skipped += 1
            continue
        unit = e.get("_SYSTEMD_UNIT") or e.get("SYSLOG_IDENTIFIER") or "unknown"
        boot = e.get("_BOOT_ID")
        keep.append((ts, str(unit)[:MAX_UNIT], priority(e.get("PRIORITY")),
                     str(boot)[:MAX_BOOT] if isinstance(boot, str) and boot else None))
        texts.append(msg[:PRE_SCRUB_CHARS])
    # A CSV header naming PHI columns holds for the rows that follow it in this batch.
    texts = CsvStream(scrubber).stage(texts)
    texts.append(hostname)
    scrubbed = egress(texts, kind="logs", scrubber=scrubber)  # one native call per batch
    batch = [LogEntry(ts=ts, unit=unit, pri=pri, msg=cut_bytes(m), boot=boot)
             for (ts, unit, pri, boot), m in zip(keep, scrubbed, strict=False)]
    return Built(LogIngest(site_id=site_id, hostname=scrubbed[-1], batch=batch), skipped)
