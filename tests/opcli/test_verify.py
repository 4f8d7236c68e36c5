"""``verify order|evidence|state`` as subprocesses (``verify rules`` is in test_rules_runbooks)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.orders import signer

from agent.crypto.keys import Ed25519Key
from agent.evidence.bundle import CHAINED, ZERO_HASH, sign, signed_object
from agent.state import load_or_create

from .conftest import OTHER_PUB, Cli

AT = signer.NOW.isoformat()


def _write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_verify_order_accepts_signed_and_rejects_tampered(cli: Cli) -> None:
    good = signer.admin("force_checkin")
    tampered = signer.admin("disable_healing", {"reason": "maintenance"})
    tampered["signed_payload"] = tampered["signed_payload"].replace("maintenance", "mainten4nce")
    f = _write(cli.tmp / "orders.json", {"pending_orders": [good, tampered]})
    r = cli("verify", "order", f, "--pubkey", signer.KEY.public_hex, "--at", AT)
    assert r.returncode == 1, r.stderr
    first, second, total = r.stdout.splitlines()[:3]
    assert first.startswith(f"OK  {good['order_id']}  force_checkin  accept")
    assert second.startswith(f"BAD {tampered['order_id']}") and "bad_signature" in second
    assert total.startswith("1/2 orders verify")
    one = _write(cli.tmp / "one.json", good)
    doc = cli.json("verify", "order", one, "--pubkey", signer.KEY.public_hex, "--at", AT)
    assert doc["ok"] and doc["orders"][0]["verdict"] == "accept"
    # The recipient is checked when given.
    assert "recipient not checked: appliance, site" in cli(
        "verify", "order", one, "--pubkey", signer.KEY.public_hex, "--at", AT).stdout
    mine = cli("verify", "order", one, "--pubkey", signer.KEY.public_hex, "--at", AT,
               "--appliance-id", signer.APPLIANCE, "--site-id", signer.SITE)
    assert mine.returncode == 0 and "not checked" not in mine.stdout
    other = cli.json("verify", "order", one, "--pubkey", signer.KEY.public_hex, "--at", AT,
                     "--appliance-id", "someone-else", code=1)
    assert other["orders"][0]["reason"] == "wrong_target"
    # Another key, an expired order: failures with their reason.
    assert cli("verify", "order", one, "--pubkey", OTHER_PUB, "--at", AT).returncode == 1
    late = cli("verify", "order", one, "--pubkey", signer.KEY.public_hex, "--json",
               "--at", "2027-01-01T00:00:00Z")
    assert late.returncode == 1 and json.loads(late.stdout)["orders"][0]["reason"] == "expired"


def test_verify_order_unusable_input_exits_2(cli: Cli) -> None:
    one = _write(cli.tmp / "one.json", signer.admin("force_checkin"))
    assert cli("verify", "order", one).returncode == 2  # no key anywhere
    assert cli("verify", "order", one, "--pubkey", "zz").returncode == 2
    (cli.tmp / "junk.json").write_text("{oops")
    assert cli("verify", "order", str(cli.tmp / "junk.json"), "--pubkey",
               signer.KEY.public_hex).returncode == 2
    assert cli("verify", "order", str(cli.tmp / "none.json"), "--pubkey",
               signer.KEY.public_hex).returncode == 2


def _bundle(key: Ed25519Key) -> dict[str, Any]:
    scan_type = sorted(CHAINED)[0]
    obj = signed_object(bundle_id="0190a1b2-0000-7000-8000-000000000001", scan_type=scan_type,
                        site_id="clinic-a", checked_at="2026-05-20T15:00:00Z", checks=[],
                        chain_seq=1, prev_bundle_hash=ZERO_HASH)
    return dict(json.loads(sign(obj, key).body))


def test_verify_evidence_one_bundle(cli: Cli) -> None:
    key = Ed25519Key(b"\x05" * 32)
    doc = _bundle(key)
    f = _write(cli.tmp / "bundle.json", doc)
    r = cli("verify", "evidence", f, "--pubkey", key.public_hex)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK  seq 1  0190a1b2-0000-7000-8000-000000000001  hash ")
    own = cli.json("verify", "evidence", f)  # no key given: the bundle's own, said so
    assert own["ok"] and own["key"] == "self-declared agent_public_key"
    assert cli("verify", "evidence", f, "--pubkey", OTHER_PUB).returncode == 1
    bad_hash = _write(cli.tmp / "h.json", {**doc, "bundle_hash": "0" * 64})
    out = cli.json("verify", "evidence", bad_hash, code=1)
    assert any(p.startswith("hash_mismatch") for p in out["problems"])
    body = _write(cli.tmp / "b.json", {**doc, "site_id": "another-clinic"})
    out = cli.json("verify", "evidence", body, code=1)
    assert out["problems"] == ["body_mismatch: site_id differs from the signed value"]
    forged = _write(cli.tmp / "f.json", {**doc, "signed_data": doc["signed_data"].replace(
        "clinic-a", "clinic-b"), "bundle_hash": None})
    out = cli.json("verify", "evidence", forged, code=1)
    assert any(p.startswith("bad_signature") for p in out["problems"])
    assert cli("verify", "evidence", _write(cli.tmp / "x.json", {"a": 1})).returncode == 2


def test_verify_state(cli: Cli) -> None:
    load_or_create(cli.state)
    (cli.state / "daemon_state.json").write_text("{}")
    (cli.state / "daemon_state.json").chmod(0o600)
    (cli.state / "healing_journal.jsonl").write_text('{"seq":1,"heal_id":"h","event":"begin"}\n')
    (cli.state / "healing_journal.jsonl").chmod(0o600)
    doc = cli.json("verify", "state")
    assert doc["ok"], doc
    names = {c["name"]: c for c in doc["checks"]}
    assert names["identity key"]["status"] == "ok" and names["healing journal"]["status"] == "ok"
    # Break things, one per check: each is reported, and the command exits 1.
    (cli.state / "daemon_state.json").write_text("{garbled")
    (cli.state / "agent.pub").write_text("00" * 32 + "\n")
    os.chmod(cli.state / "phi_hash.key", 0o644)
    with open(cli.state / "healing_journal.jsonl", "a") as fh:
        fh.write("not json\n{\"torn")
    (cli.state / "server_keys.reseed").write_text("{}")
    r = cli("verify", "state")
    assert r.returncode == 1
    text = r.stdout
    assert "FAIL  identity key: agent.pub does not match" in text
    assert "FAIL  secret file permissions: readable by group/other (expected 0600): " \
        "phi_hash.key 0644" in text
    assert "daemon_state.json (JSONDecodeError)" in text
    assert "FAIL  healing journal: 2 lines, 1 damaged, a torn last line" in text
    assert "pins reset-server-keys" in text
    # A public status file in run/ is fine; another private file readable by others warns.
    (cli.state / "run").mkdir()
    (cli.state / "run" / "status.json").write_text("{}")
    (cli.state / "run" / "status.json").chmod(0o640)
    os.chmod(cli.state / "healing_journal.jsonl", 0o644)
    text = cli("verify", "state").stdout
    assert "WARN  other file permissions: readable by group/other (the agent writes 0600): " \
        "healing_journal.jsonl 0644" in text and "status.json" not in text
    # Read-only: nothing was repaired.
    assert (cli.state / "phi_hash.key").stat().st_mode & 0o777 == 0o644
    assert (cli.state / "agent.pub").read_text() == "00" * 32 + "\n"


def test_verify_state_missing_keys_and_directory(cli: Cli) -> None:
    r = cli("verify", "state")
    assert r.returncode == 1 and "run `msp-agent keygen`" in r.stdout
    assert Cli(cli.tmp, cli.tmp / "absent")("verify", "state").returncode == 2
