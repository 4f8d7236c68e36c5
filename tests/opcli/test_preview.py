"""``preview``: the next checkin and every outbox after the Uplink's scrubbing; nothing sent,
nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from agent.outbox import kinds
from agent.state import load_or_create

from .conftest import Cli

API_KEY = "sk-live-preview-0123456789abcdef"
SSN = "123-45-6789"


def _tree(state: Path) -> dict[str, str]:
    return {str(p.relative_to(state)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(state.rglob("*")) if p.is_file()}


def _setup(cli: Cli) -> Path:
    load_or_create(cli.state)
    cfg = cli.tmp / "config.yaml"
    # A port nothing listens on: the preview must not connect anyway.
    cfg.write_text(f"site_id: clinic-a\napi_key: {API_KEY}\napi_endpoint: http://127.0.0.1:9\n"
                   f"state_dir: {cli.state}\n")
    logs = cli.state / kinds.LOG_DIR
    logs.mkdir(mode=0o700)
    batch = {"site_id": "clinic-a", "hostname": "appliance-01", "batch": [
        {"ts": "2026-05-20T15:00:00Z", "unit": "x.service", "pri": 6,
         "msg": f"patient SSN {SSN} called; token {API_KEY}"}]}
    (logs / f"{1:020d}-batch.json").write_text(json.dumps(
        {"cursor": "c", "lines": 1, "full": False, "body": batch}))
    reports = cli.state / kinds.REPORT_DIR
    reports.mkdir(mode=0o700)
    for n in range(1, 5):
        (reports / f"{n:020d}-incident.json").write_text(json.dumps(
            {"site_id": "clinic-a", "host_id": f"pc-0{n}", "incident_type": "linux_firewall",
             "severity": "high", "check_type": "linux_firewall"}))
    return cfg


def test_preview_shows_scrubbed_items_and_the_checkin(cli: Cli) -> None:
    cfg = _setup(cli)
    before = _tree(cli.state)
    r = cli("preview", "--config", str(cfg), "--json", "--limit", "2")
    assert r.returncode == 0, r.stderr
    assert SSN not in r.stdout and API_KEY not in r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["source"].startswith("built from the state directory")
    chk = doc["checkin"]
    assert chk["status"] == "would_send" and chk["path"] == "/api/appliances/checkin"
    assert chk["body"]["site_id"] == "clinic-a" and chk["body"]["agent_identity_public_key"]
    by_queue = {q["directory"]: q for q in doc["outboxes"]}
    [log_item] = by_queue[kinds.LOG_DIR]["items"]
    assert log_item["status"] == "would_send" and log_item["scrubbed"] is True
    msg = log_item["body"]["batch"][0]["msg"]
    assert msg.startswith("patient SSN ") and "[SECRET-REDACTED]" in msg
    reports = by_queue[kinds.REPORT_DIR]
    assert reports["pending"] == 4 and len(reports["items"]) == 2
    assert reports["items"][0]["path"] == "/incidents"
    assert reports["items"][0]["body"]["host_id"] == "pc-01"
    assert _tree(cli.state) == before  # nothing written, nothing removed

    text = cli("preview", "--config", str(cfg), "--limit", "1")
    assert text.returncode == 0
    assert "built from the state directory" in text.stdout
    assert "next checkin: POST /api/appliances/checkin" in text.stdout
    assert "report_outbox/): 4 pending" in text.stdout and "... 3 more (--limit)" in text.stdout
    assert SSN not in text.stdout


def test_an_item_that_would_be_refused_is_reported(cli: Cli) -> None:
    cfg = _setup(cli)
    bad = cli.state / kinds.REPORT_DIR / f"{9:020d}-incident.json"
    bad.write_text('{"site_id": 1}')
    r = cli("preview", "--config", str(cfg), "--no-checkin", "--limit", "0", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert "checkin" not in doc
    items = {i["file"]: i for q in doc["outboxes"] for i in q["items"]}
    assert items[bad.name]["status"] == "undecodable"


def test_without_a_config_the_outboxes_are_still_shown(cli: Cli) -> None:
    _setup(cli)
    doc = cli.json("preview")
    assert doc["checkin"]["status"] == "unavailable"
    assert sum(q["pending"] for q in doc["outboxes"]) == 5
