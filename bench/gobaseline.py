"""Runs the Go baseline (``bench/go/``) once on the Python benchmarks' inputs.

:func:`measure` returns ``{op: result}`` for every operation of ``bench/go/gobench`` (checkin
codec, PHI, order verification) and Ed25519 verification (per signature), each result as the
Go program printed it: ``mirrors`` (what of the daemon it reproduces), ``ns_min``,
``ns_median`` (wall, per operation), ``cpu_ns`` (user + system per operation), ``rounds``,
``n`` (operations per round), ``bytes``.
Each row is per operation of the Go program: per checkin body, per order, per signature, per line
(the single-line PHI rows) or per run over the corpus lines (``phi.scrub_lines``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import SHARED, run_go
from bench.inputs import PHI_CLEAN, PHI_HIT, write_phi_lines

Items = Sequence[tuple[bytes, bytes, bytes]]  # (public key, message, signature)


def write_ed25519_items(items: Items, path: Path) -> Path:
    """The file format of ``bench/go/ed25519``: key, signature, length (LE u32), message."""
    with path.open("wb") as f:
        for pk, msg, sig in items:
            f.write(pk + sig + struct.pack("<I", len(msg)) + msg)
    return path


def measure(work: Path, *, mode: str, ed25519_items: Items = ()) -> dict[str, dict[str, Any]]:
    """``mode``: ``smoke`` (one call per operation), ``quick`` or ``full``."""
    timing = {"smoke": ["-smoke"], "quick": ["-time", "200ms"], "full": ["-time", "1s"]}[mode]
    work.mkdir(parents=True, exist_ok=True)
    lines = write_phi_lines(work / "phi_lines.txt")
    extra = []
    if ed25519_items:
        extra = ["-ed25519", str(write_ed25519_items(ed25519_items, work / "ed25519_items.bin"))]
    return run_go("gobench", "-shared", str(SHARED.resolve()), "-lines", str(lines),
                  "-hit", PHI_HIT, "-clean", PHI_CLEAN, *extra, *timing)


def merge_best(results: dict[str, dict[str, Any]], again: dict[str, dict[str, Any]]) -> None:
    """Fold a second run into ``results`` in place: the lower of each time, both runs' rounds."""
    for op, res in results.items():
        other = again.get(op)
        if other is None:
            continue
        for key in ("ns_min", "ns_median", "cpu_ns"):
            res[key] = min(res[key], other[key])
        res["rounds"] += other["rounds"]
        res["runs"] = res.get("runs", 1) + 1
