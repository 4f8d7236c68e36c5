"""All order vectors through the library API and the ``verify-orders`` CLI; the CLI also works on
any file of that shape (here: one generated with other keys, appliance and clock)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.orders.vectors import VectorFileError, run_vectors

from . import signer

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "orders.json"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "verify-orders", *args],
                          capture_output=True, text=True, timeout=60)


def test_every_shipped_vector_through_the_library() -> None:
    doc = json.loads(VECTORS.read_text())
    results = run_vectors(doc)
    assert len({r.case for r in results}) == len(doc["cases"]) == 37
    assert len(results) == sum(len(c["steps"]) for c in doc["cases"])
    bad = [(r.case, r.step, r.verdict.text, r.expected_verdict) for r in results if not r.ok]
    assert bad == []
    for r in results:  # the completion policy of orders.md §4 as well
        step = doc["cases"][[c["name"] for c in doc["cases"]].index(r.case)]["steps"][r.step - 1]
        assert r.verdict.completion == step["expected_completion"]


def test_every_shipped_vector_through_the_cli() -> None:
    r = _cli(str(VECTORS), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    doc = json.loads(VECTORS.read_text())
    assert len(rows) == sum(len(c["steps"]) for c in doc["cases"])
    assert all(row["ok"] and row["verdict"] == row["expected_verdict"] for row in rows)
    text = _cli(str(VECTORS))
    assert text.returncode == 0 and "39/39 steps as expected (37 cases)" in text.stdout
    assert "PASS nonce_replay#2: reject:replay -> none" in text.stdout


def _generated() -> dict[str, Any]:
    other = "riverside-9-52:54:00:11:22:33"
    k = signer.OTHER_KEY
    now = signer.NOW
    redelivered = signer.admin("sync_rules", key=k, appliance_id=other)
    return {
        "context": {"appliance_id": other, "site_id": "riverside-9", "now": now.isoformat(),
                    "trusted_keys": [k.public_hex]},
        "cases": [
            {"name": "ok", "steps": [{"order": signer.admin("view_logs", {"lines": 5}, key=k,
                                                            appliance_id=other),
                                      "expected_verdict": "accept"}]},
            {"name": "fleet_ok", "steps": [{"order": signer.fleet("nix_gc", key=k, appliance_id=other),
                                            "expected_verdict": "accept",
                                            "expected_completion": "execute"}]},
            {"name": "signed_by_shipped_key", "steps": [{
                "order": signer.admin("view_logs", key=signer.KEY, appliance_id=other),
                "expected_verdict": "reject:bad_signature", "expected_completion": "failure"}]},
            {"name": "targets_shipped_appliance", "steps": [{
                "order": signer.admin("view_logs", key=k), "expected_verdict": "reject:wrong_target"}]},
            {"name": "redelivery", "steps": [
                {"order": redelivered, "expected_verdict": "accept"},
                {"order": redelivered, "expected_verdict": "duplicate"}]},
            {"name": "later_clock", "context": {"now": "2026-05-21T15:00:00Z"}, "steps": [{
                "order": signer.admin("view_logs", key=k, appliance_id=other),
                "expected_verdict": "reject:expired"}]},
        ],
    }


def test_cli_works_for_any_file_of_that_shape(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_generated()))
    r = _cli(str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7/7 steps as expected (6 cases)" in r.stdout
    # The same file with one wrong expectation: exit 1, the failing step is named.
    doc = _generated()
    doc["cases"][0]["steps"][0]["expected_verdict"] = "reject:expired"
    path.write_text(json.dumps(doc))
    r = _cli(str(path), "--quiet")
    assert r.returncode == 1
    assert r.stdout.startswith("FAIL ok#1: accept -> execute  expected reject:expired")


@pytest.mark.parametrize("content", ["not json", json.dumps({"cases": [{"steps": [{}]}]}),
                                     json.dumps({"context": {"now": "x"}, "cases": []}) + "x"])
def test_cli_unusable_file_exits_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert _cli(str(path)).returncode == 2
    assert _cli(str(tmp_path / "missing.json")).returncode == 2


def test_bad_context_is_reported() -> None:
    with pytest.raises(VectorFileError, match="context"):
        run_vectors({"context": {"appliance_id": "a", "now": "yesterday", "trusted_keys": []},
                     "cases": [{"name": "x", "steps": [{"order": {}, "expected_verdict": "accept"}]}]})
