"""Evidence submission, per-site chain, duplicate 500, age rules, delivery probe (evidence.md §4, §6)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from agent.central import CentralCommand
from agent.central.evidence import chain_hash
from agent.protocol.evidence import decode_evidence_receipt, evidence_submit_path, evidence_verify_path

from .conftest import EVIDENCE_KEY, SITE, Api, FakeClock, load_shared, sample_request

VECTORS = load_shared("vectors/evidence.json")
ZERO = "0" * 64


def bundle(i: int) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(VECTORS["bundles"][i]["submit_body"])
    return body


async def submit(api: Api, key: str, body: dict[str, Any], site: str = SITE) -> Any:
    return await api.post(evidence_submit_path(site), body, key=key)


def test_server_chain_hash_vector() -> None:
    ex = VECTORS["server_chain_example"]
    bundle_hash, prev, pos = ex["input_text"].split(":")
    assert chain_hash(bundle_hash, prev, int(pos)) == ex["expected_current_hash"]


async def test_chain_of_vector_bundles(api: Api, key: str, cc: CentralCommand) -> None:
    receipts = []
    for i in range(3):
        reply = await submit(api, key, bundle(i))
        assert reply.status == 200, reply.body
        receipts.append(decode_evidence_receipt(reply.body))
    assert [r.chain_position for r in receipts] == [1, 2, 3]
    assert receipts[0].prev_hash == ZERO
    for prev, cur in itertools.pairwise(receipts):
        assert cur.prev_hash == prev.bundle_hash
    for r in receipts:
        assert r.current_hash == chain_hash(r.bundle_hash, r.prev_hash, r.chain_position)
    stored = cc.evidence(SITE)
    assert [e["bundle_id"] for e in stored] == [b["bundle_id"] for b in VECTORS["bundles"]]
    assert all(e["hash_matches"] for e in stored)


async def test_duplicate_is_409_by_default(api: Api, key: str, cc: CentralCommand) -> None:
    assert (await submit(api, key, bundle(0))).status == 200
    reply = await submit(api, key, bundle(0))
    assert reply.status == 409 and reply.json()["chain_position"] == 1
    assert len(cc.evidence(SITE)) == 1


async def test_duplicate_is_500_in_quirk_mode(api: Api, key: str, cc: CentralCommand) -> None:
    cc.evidence_duplicate_status = 500
    assert (await submit(api, key, bundle(0))).status == 200
    reply = await submit(api, key, bundle(0))
    assert reply.status == 500 and reply.body == b"Internal Server Error"
    # same bundle_hash under a new id within 15 minutes: also the dedup path
    same_hash = bundle(0)
    same_hash["bundle_id"] = "00000000-0000-4000-8000-000000000001"
    assert (await submit(api, key, same_hash)).status == 500
    assert len(cc.evidence(SITE)) == 1


async def test_probe(api: Api, key: str) -> None:
    b = bundle(0)
    reply = await api.request("GET", evidence_verify_path(SITE, b["bundle_id"]))
    assert reply.status == 404
    await submit(api, key, b)
    reply = await api.request("GET", evidence_verify_path(SITE, b["bundle_id"]))  # no auth needed
    assert reply.status == 200
    data = reply.json()
    assert data["bundle_hash"] == b["bundle_hash"] and data["chain_position"] == 1 and data["verified"]


async def test_age_rules(api: Api, key: str, clock: FakeClock) -> None:
    clock.advance(3600 + 181)  # bundle 0 was checked 3 minutes before the start
    reply = await submit(api, key, bundle(0))
    assert reply.status == 400
    assert reply.json()["detail"].startswith("Evidence timestamp too far from server time (")
    clock.now -= 2 * 3600
    reply = await submit(api, key, bundle(2))
    assert reply.status == 400 and reply.json() == {"detail": "Evidence timestamp is in the future"}


async def test_bad_signature_and_missing_signature(api: Api, key: str) -> None:
    b = bundle(0)
    b["signed_data"] = b["signed_data"].replace("linux_firewall", "linux_firewalX")
    reply = await submit(api, key, b)
    assert reply.status == 401
    assert reply.json()["detail"].startswith("Evidence signature verification failed")
    b = bundle(0)
    b["agent_signature"] = ""
    reply = await submit(api, key, b)
    assert reply.status == 401
    assert reply.json()["detail"].startswith("Evidence submission requires agent_signature")


async def test_hash_taken_as_sent(api: Api, key: str, cc: CentralCommand) -> None:
    b = bundle(0)
    b["bundle_hash"] = "f" * 64
    reply = await submit(api, key, b)
    assert reply.status == 200 and reply.json()["bundle_hash"] == "f" * 64
    assert cc.evidence(SITE)[0]["hash_matches"] is False


async def test_site_checks_and_validation(api: Api, key: str, cc: CentralCommand) -> None:
    cc.create_site("other-site")
    reply = await submit(api, key, bundle(0), site="other-site")
    assert reply.status == 403
    b = bundle(0)
    del b["checks"]
    assert (await submit(api, key, b)).status == 422
    reply = await api.post(evidence_submit_path(SITE), bundle(0))
    assert reply.status == 401


async def test_network_bundle_not_stored(api: Api, key: str, cc: CentralCommand) -> None:
    reply = await submit(api, key, copy.deepcopy(VECTORS["network_bundle_example"]["submit_body"]))
    assert reply.status == 200
    data = reply.json()
    assert data["chain_position"] == 0 and data["ots_status"] == "skipped" and data["current_hash"] == ""
    assert cc.evidence(SITE) == []


async def test_peer_bundle_hashes_and_witness(api: Api, known: str, cc: CentralCommand) -> None:
    # the sample appliance (evidence key = EVIDENCE_KEY) submits a bundle; a sibling is asked to witness it
    await submit(api, known, bundle(0))
    sibling = sample_request()
    sibling["mac_address"] = "52:54:00:00:00:02"
    sibling["all_mac_addresses"] = ["52:54:00:00:00:02"]
    sibling["agent_public_key"] = "11" * 32
    del sibling["heartbeat_signature"]
    peers = (await api.checkin(sibling, key=known)).json()["peer_bundle_hashes"]
    assert peers == [
        {
            "bundle_id": VECTORS["bundles"][0]["bundle_id"],
            "bundle_hash": VECTORS["bundles"][0]["bundle_hash"],
            "source_appliance": f"{SITE}-52:54:00:AB:CD:EF",
            "source_public_key": EVIDENCE_KEY.public_hex,
        }
    ]
    h = peers[0]["bundle_hash"]
    sibling["witness_attestations"] = [
        {
            "bundle_id": peers[0]["bundle_id"],
            "bundle_hash": h,
            "witness_signature": EVIDENCE_KEY.sign(h.encode()).hex(),
            "witness_public_key": "11" * 32,
            "source_appliance": peers[0]["source_appliance"],
        }
    ]
    assert (await api.checkin(sibling, key=known)).json()["peer_bundle_hashes"] == []
    [att] = cc.witness_attestations(SITE)
    assert att["witness_appliance"] == f"{SITE}-52:54:00:00:00:02"
