"""PHI scrubbing vs the Go daemon's scrubber (go-baseline.md §1).

Both sides scrub the same bytes in the same run: the text fields of the developer corpus
(one text per line, scrubbed line by line; Python uses ``scrub_many``, one native call per
batch) and a large concatenation of them (one text: 100 MB, 8 MB in quick mode). Rows:
native and reference scrubbers, and the native scanner alone (spans, no tokens) to show what
building the tokens in Python costs. The daemon scans with one thread (the like-for-like
figure against the single-threaded Go scrubber); the standalone ``scrub`` command may split inputs
of 512 KiB and more over two threads, reported in separate rows (they need a free core).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from common import ROOT, SHARED, Row, run_go, time_ns

sys.path.insert(0, str(ROOT / "src"))

from agent.phi import make_scrubber
from agent.phi.scrubber import ReferenceScanner

CORPUS = SHARED / "corpus" / "phi-dev.jsonl"
WORK = ROOT / "build" / "bench" / "phi"
KEY = bytes(range(32))


def _inputs(big_mb: int) -> tuple[list[str], Path, str, Path]:
    with CORPUS.open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    texts = [t for t in texts if "\n" not in t and "\r" not in t]
    WORK.mkdir(parents=True, exist_ok=True)
    lines_file = WORK / "corpus_lines.txt"
    lines_file.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    block = "\n".join(texts) + "\n"
    big = block * max(1, (big_mb * 1_000_000) // len(block.encode()))
    big_file = WORK / f"big_{big_mb}mb.txt"
    big_file.write_text(big, encoding="utf-8")
    return texts, lines_file, big, big_file


def rows(quick: bool) -> list[Row]:
    big_mb = 8 if quick else 100
    texts, lines_file, big, big_file = _inputs(big_mb)
    lines_mb = sum(len(t.encode()) for t in texts) / 1e6
    big_size = len(big.encode()) / 1e6
    go = run_go("phi", "-lines", str(lines_file), "-big", str(big_file),
                "-min-time", "1s" if quick else "3s")
    go_lines = go["phi_scrub_corpus_lines"]["ns_per_op"]
    go_big = go["phi_scrub_big_text"]["ns_per_op"]

    native = make_scrubber(key=KEY)
    reference = make_scrubber(key=KEY, pure=True)
    min_time = 0.5 if quick else 2.0
    out: list[Row] = []
    if native.implementation == "native":
        from agent.phi import native_scan

        spans_only = native.scanner.find_spans_many
        # One thread: what the daemon runs (runtime.md §1), the like-for-like figure against Go.
        native_scan.set_parallel(False)
        out += [
            Row("phi corpus lines: native scrub_many", time_ns(lambda: native.scrub_many(texts),
                min_time=min_time), go_lines, lines_mb, "20k lines, 1 thread (daemon)"),
            Row("phi corpus lines: native spans only", time_ns(lambda: spans_only(texts),
                min_time=min_time), go_lines, lines_mb, "no tokens, 1 thread"),
            Row(f"phi {big_mb} MB text: native scrub", time_ns(lambda: native.scrub(big),
                min_time=min_time, repeat=3), go_big, big_size, "one text, 1 thread (daemon)"),
        ]
        # Two threads: what the standalone `scrub` command uses (needs a free core).
        native_scan.set_parallel(True)
        out += [
            Row("phi corpus lines: native scrub_many x2", time_ns(
                lambda: native.scrub_many(texts), min_time=min_time), go_lines, lines_mb,
                "2 threads (scrub command)"),
            Row(f"phi {big_mb} MB text: native scrub x2", time_ns(lambda: native.scrub(big),
                min_time=min_time, repeat=3), go_big, big_size, "2 threads (scrub command)"),
        ]
        native_scan.set_parallel(False)
    else:
        print(f"[phi] native scrubber not in use ({native.implementation})", file=sys.stderr)
    out += [
        Row("phi corpus lines: reference scrub_many", time_ns(lambda: reference.scrub_many(texts),
            min_time=min_time, repeat=3), go_lines, lines_mb, "pure Python re"),
        Row(f"phi {big_mb} MB text: reference scrub", time_ns(lambda: reference.scrub(big),
            min_time=0.0, repeat=1), go_big, big_size, "one text"),
    ]
    assert isinstance(reference.scanner, ReferenceScanner)
    return out
