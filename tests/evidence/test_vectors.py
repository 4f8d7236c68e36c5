"""evidence.json reproduced: canonical bytes, signatures, hashes, submit bodies, witness, chain cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from agent.crypto import Ed25519Key
from agent.evidence.bundle import (
    CheckResult,
    ScanResult,
    bundle_hash,
    canonical,
    matrix,
    sign,
    signed_object,
    witness_signature,
)
from agent.evidence.verify import BundleRecord, verify_chain

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
V: dict[str, Any] = json.loads((SHARED / "vectors/evidence.json").read_text())
KEY = Ed25519Key(bytes.fromhex(V["evidence_key"]["seed_hex"]))


def records(indices: list[int]) -> list[BundleRecord]:
    return [BundleRecord(V["bundles"][i]["signed_data"], V["bundles"][i]["agent_signature"],
                         V["bundles"][i]["bundle_hash"], source=str(i)) for i in indices]


def test_key() -> None:
    assert KEY.public_hex == V["evidence_key"]["public_key_hex"]
    assert bytes(range(64, 96)).hex() == V["evidence_key"]["seed_hex"]


@pytest.mark.parametrize("i", [0, 1, 2])
def test_chained_bundle_reproduced(i: int) -> None:
    b = V["bundles"][i]
    assert canonical(b["signed_object"]) == b["signed_data"]
    assert bundle_hash(b["signed_data"]) == b["bundle_hash"]
    bundle = sign(copy.deepcopy(b["signed_object"]), KEY)
    assert bundle.signed_data == b["signed_data"]
    assert bundle.agent_signature == b["agent_signature"]
    assert bundle.bundle_hash == b["bundle_hash"]
    assert json.loads(bundle.body) == b["submit_body"]
    assert list(json.loads(bundle.body)) == list(b["submit_body"])  # key order of the body


def test_chain_links() -> None:
    prev = "0" * 64
    for b in V["bundles"]:
        assert b["signed_object"]["prev_bundle_hash"] == prev
        prev = b["bundle_hash"]


def _scan_from(obj: dict[str, Any]) -> ScanResult:
    results = [CheckResult(c["check"], c["hostname"], c["status"], c.get("expected"),
                           c.get("actual"), c.get("hipaa_control")) for c in obj["checks"]]
    hosts = list(dict.fromkeys(c["hostname"] for c in obj["checks"]))
    return ScanResult(obj["scan_type"], obj["checked_at"], hosts, results)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_built_from_typed_results(i: int) -> None:
    """The scanner's typed input gives exactly the vector's signed object."""
    obj = V["bundles"][i]["signed_object"]
    checks = [c for host in matrix(_scan_from(obj)) for c in host]
    rebuilt = signed_object(bundle_id=obj["bundle_id"], scan_type=obj["scan_type"],
                            site_id=obj["site_id"], checked_at=obj["checked_at"], checks=checks,
                            chain_seq=obj["chain_seq"], prev_bundle_hash=obj["prev_bundle_hash"])
    assert canonical(rebuilt) == V["bundles"][i]["signed_data"]


def test_network_bundle() -> None:
    n = V["network_bundle_example"]
    bundle = sign(copy.deepcopy(n["signed_object"]), KEY)
    assert bundle.signed_data == n["signed_data"]
    assert bundle.agent_signature == n["agent_signature"]
    assert bundle.bundle_hash == n["bundle_hash"]
    assert json.loads(bundle.body) == n["submit_body"]
    assert bundle.chain_seq is None and "chain_seq" not in json.loads(bundle.signed_data)


def test_witness_signature() -> None:
    w = V["witness_example"]
    assert w["peer_bundle_hash"].encode().hex() == w["signed_message_hex"]
    assert witness_signature(KEY, w["peer_bundle_hash"]) == w["witness_signature_hex"]
    assert KEY.public_hex == w["witness_public_key_hex"]


def test_chain_cases() -> None:
    cases = {c["name"]: c for c in V["chain_verification_cases"]}
    r = verify_chain(records([0, 1, 2]), public_keys=[KEY.public_hex])
    assert r.summary() == cases["intact_chain"]["expected"]
    tampered = records([0, 1, 2])
    tampered[1] = BundleRecord(cases["tampered_middle_bundle"]["replacement_signed_data_for_seq_2"],
                               tampered[1].agent_signature, tampered[1].bundle_hash)
    assert verify_chain(tampered, public_keys=[KEY.public_hex]).summary() == \
        cases["tampered_middle_bundle"]["expected"]
    assert verify_chain(records([0, 2]), public_keys=[KEY.public_hex]).summary() == \
        cases["missing_middle_bundle"]["expected"]


def test_duplicate_seq_and_duplicate_keys() -> None:
    b = V["bundles"][1]
    other = json.loads(b["signed_data"])
    other["checked_at"] = "2026-05-20T14:58:31Z"
    sd = canonical(other)
    recs = [*records([0, 1]), BundleRecord(sd, KEY.sign(sd.encode()).hex())]
    assert verify_chain(recs, public_keys=[KEY.public_hex]).error == "duplicate_seq"
    dup = b["signed_data"][:-1] + ',"chain_seq":2}'
    r = verify_chain([*records([0]), BundleRecord(dup, KEY.sign(dup.encode()).hex())],
                     public_keys=[KEY.public_hex])
    assert r.valid and r.head_seq == 1 and r.skipped == 1  # rejected as unparseable
