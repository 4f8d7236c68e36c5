"""Replay a fuzz corpus through both PHI scanners; exit 1 on the first difference.

    python fuzz/crosscheck.py DIR [DIR...]

Every file is one input (bytes, decoded as UTF-8 with surrogateescape, so any bytes are a
text). The native and reference scanners must find the same spans (phi.md §6).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent import native
from agent.phi import native_scan
from agent.phi.native_scan import NativeScanner
from agent.phi.reference import find_spans
from agent.phi.tokens import Tokenizer


def main(dirs: list[str]) -> int:
    if not native.NATIVE:
        print(f"native core not in use: {native.STATUS.reason}", file=sys.stderr)
        return 1
    scan = NativeScanner()
    files = [f for d in dirs for f in sorted(Path(d).iterdir()) if f.is_file()]
    texts = [f.read_bytes().decode("utf-8", "surrogateescape") for f in files]
    got = scan.find_spans_many(texts)
    bad = 0
    for f, text, spans in zip(files, texts, got, strict=True):
        want = find_spans(text)
        if list(spans) != want:
            bad += 1
            if bad <= 5:
                print(f"DIFF {f.name}: {text!r}\n  native    {list(spans)}\n  reference {want}")
    # the scrubbed texts too, with the two-thread scan and the value table forced on every input
    native_scan._PARALLEL_MIN = 0
    native_scan.set_parallel(True)
    native_scan._DEDUPE_TABLE = 4
    tok = Tokenizer(bytes(range(32)))
    outs = scan.scrub_many(texts, tok)
    for f, text, out in zip(files, texts, outs, strict=True):
        want_text = tok.render(text, find_spans(text))
        if out != want_text or scan.scrub_many([text], tok)[0] != want_text:
            bad += 1
            if bad <= 5:
                print(f"DIFF (scrub) {f.name}: {text!r}")
    print(f"crosscheck: {len(files)} inputs, {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
