"""Evidence: offline verification of a signed, hash-chained spool (``verify_chain``: canonical
bytes, SHA-256 chain, every signature in one batch call). The Go daemon has no offline verifier:
no Go row (its signing cost is ``ed25519.Sign`` + SHA-256, go-baseline.md §2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.crypto import Ed25519Key
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.verify import load_dir, verify_chain
from bench.conftest import GoBaseline
from bench.outbox_throughput import scan

pytestmark = pytest.mark.benchmark(group="evidence verify")
SCANS = 100


def test_verify_chain(benchmark: Any, go: GoBaseline, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, Ed25519Key(bytes(range(64, 96))), "bench-site",
                          limits=Limits(min_free_bytes=0))
    for i in range(SCANS):
        store.record_scan(scan(i))
    records, journal, unreadable = load_dir(tmp_path)
    assert records and not unreadable
    assert verify_chain(records, journal=journal).valid
    benchmark(verify_chain, records, journal=journal)
    go.attach(benchmark, None, per_call=len(records), unit="bundle",
              fn=lambda: verify_chain(records, journal=journal))
