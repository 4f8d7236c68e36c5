"""The inputs both sides of a comparison read: the same bytes for Python and for the Go baseline
(go-baseline.md: a comparison is only valid on the same input, in the same run)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from bench.common import SHARED

SAMPLES = SHARED / "samples"
CORPUS = SHARED / "corpus" / "phi-dev.jsonl"
#: The samples' clock and identity (samples/README.md).
NOW = "2026-05-20T15:00:00Z"
SITE_ID = "lakeside-pediatrics"
APPLIANCE_ID = "lakeside-pediatrics-52:54:00:AB:CD:EF"
#: PHI: one log line with four matches, one without any (go-baseline.md §1 reference points).
PHI_HIT = "Patient John, SSN 123-45-6789, MRN: 00123456, call 555-123-4567 or mail j.doe@example.com"
PHI_CLEAN = "scan round finished: 12 hosts, 3 findings, duration 412 ms on appliance-01 (all ok)"
#: How many lines of the developer corpus the line-by-line PHI benchmark scrubs.
PHI_LINES = 2000


def compact(name: str) -> bytes:
    """A sample as sent on the wire: compact JSON, keys in file order, UTF-8."""
    data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@cache
def phi_lines() -> tuple[str, ...]:
    """The first :data:`PHI_LINES` single-line texts of the developer corpus."""
    out: list[str] = []
    with CORPUS.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            if "\n" not in text and "\r" not in text:
                out.append(text)
            if len(out) == PHI_LINES:
                break
    return tuple(out)


def write_phi_lines(path: Path) -> Path:
    path.write_text("".join(t + "\n" for t in phi_lines()), encoding="utf-8")
    return path


def response_orders() -> list[dict[str, Any]]:
    """The 20 signed orders of the large sample response (admin, fleet and healing forms)."""
    orders: list[dict[str, Any]] = json.loads(compact("checkin_response_large.json"))["pending_orders"]
    return orders


def server_keys() -> list[str]:
    keys: list[str] = json.loads(compact("checkin_response_large.json"))["server_public_keys"]
    return keys
