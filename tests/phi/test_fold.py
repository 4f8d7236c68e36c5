"""Unicode folding ahead of both scanners (issue 17 item 1)."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from tests.phi.conftest import assert_scrubbed

from agent.phi import _fold_table
from agent.phi.fold import fold, unfold_spans
from agent.phi.scrubber import Scrubber

ROOT = Path(__file__).resolve().parents[2]

UNICODE_FORMS = [
    ("Patient: José Núñez", ["José", "Núñez", "é Núñez"], ["Patient: "]),
    ("Patient: Álvaro Peña", ["Álvaro", "Peña"], ["Patient: "]),
    ("Dr. Björk Olsén signed", ["Björk", "Olsén"], ["Dr. ", " signed"]),
    ("from jörg.müller@klinik.de today", ["jörg", "müller", "klinik"], ["from ", " today"]),
    ("SSN １２３-４５-６７８９", ["６７８９", "１２３"], ["SSN "]),
    ("id 123\u200b-45-6789 x", ["6789", "\u200b"], ["id ", " x"]),
    ("id 123\u201345\u20136789 x", ["6789"], ["id ", " x"]),
    ("id 123\u00a045\u00a06789 x", ["6789"], ["id ", " x"]),
    ("Phone: ５５５-１２３-４５６７", ["４５６７"], ["Phone: "]),
    ("Patient: 山田 太郎", ["山田", "太郎"], ["Patient: "]),
]


@pytest.mark.parametrize(("text", "gone", "kept"), UNICODE_FORMS)
def test_unicode_forms(scrubber: Scrubber, text: str, gone: list[str], kept: list[str]) -> None:
    out = scrubber.scrub(text)
    assert_scrubbed(out, gone, kept)
    assert scrubber.scrub_many(["x", text, "DC01"]) == ["x", out, "DC01"]


def test_same_hash_as_ascii(scrubber: Scrubber) -> None:
    assert scrubber.scrub("SSN １２３-４５-６７８９") == scrubber.scrub("SSN 123-45-6789")


@pytest.mark.parametrize("text", ["café au lait on WS-NURSE-01", "Ünïcödé only", "→ 10.0.0.1",
                                  "日本語のログ 12345", "naïve résumé"])
def test_benign_unicode_unchanged(scrubber: Scrubber, text: str) -> None:
    assert scrubber.scrub(text) == text


def test_find_offsets_in_original(scrubber: Scrubber) -> None:
    text = "a 123\u200b-45-6789\u200b b"
    [(tag, start, end)] = scrubber.find(text)
    assert tag == "SSN" and text[start:end] == "123\u200b-45-6789\u200b"


def test_fold_keeps_ascii_and_maps_back() -> None:
    assert fold("plain") == ("plain", None)
    folded, origin = fold("x\u200by")
    assert folded == "xy" and origin == [0, 2]
    assert unfold_spans([(0, 0, 1)], origin, 3) == [(0, 0, 2)]


def test_table_pinned_and_generated() -> None:
    assert _fold_table.UNICODE_VERSION == "14.0.0"
    if unicodedata.unidata_version != _fold_table.UNICODE_VERSION:
        pytest.skip("the interpreter's Unicode version differs from the pinned one")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_unicode_fold.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
