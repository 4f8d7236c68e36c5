"""The Prometheus textfile: figures from the status document, no names, written atomically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.runtime.promfile import FILE_NAME, render, textfile_path, write

STATUS = {
    "version": "1.0.0", "pid": 4242, "state": "running", "degraded_reason": "",
    "state_dir": "/var/lib/msp", "written_at": "2026-05-20T15:00:00Z",
    "process": {"rss_bytes": 52367360, "uptime_s": 12.5, "gc_counts": [1, 2, 3]},
    "supervisor": {"loop_lag_s": 0.002, "jobs": {"checkin": {"runs": 3}}},
    "checkin": {"attempts": 5, "successes": 4, "failures": 1, "breaker": "open",
                "last_error_kind": "connect", "appliance_id": "clinic-a-52:54:00:AB:CD:EF",
                "trust_alert": "", "tls_pin_alert": "tls pin mismatch: x", "last_success_s_ago": None,
                "targets": {"windows": 2}},
    "evidence": {"head_seq": 7, "spool": {"pending": 2, "pending_bytes": 2748},
                 "last_error": "HTTP 500 from evidence-host.clinic.local"},
    "reports": {"telemetry": {"pending": 1}, "reports": {"pending": 0}},
    "scan": {"scans": 9, "incidents": 3, "per_host": {"pc-01.clinic.local": {"scans": 1}},
             "scheduler": {"hosts": 4, "ownership": "all"}},
    "healing": {"healed": 2, "escalated": 1, "l2": {"budget": {"spent_usd_today": 0.25}}},
    "logship": {"shipped_lines": 100, "has_cursor": True},
    "orders": {"executed": 3, "nonce_store": {"records": 8}},
}


def _values(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def test_figures_only() -> None:
    text = render(STATUS)
    v = _values(text)
    assert v["msp_agent_up"] == 1 and v['msp_agent_state{state="running"}'] == 1
    assert v['msp_agent_state{state="stopped"}'] == 0
    assert v['msp_agent_checkin_breaker{state="open"}'] == 1
    assert v["msp_agent_checkin_tls_pin_alert"] == 1 and v["msp_agent_checkin_trust_alert"] == 0
    assert v["msp_agent_checkin_failures"] == 1 and v["msp_agent_checkin_successes"] == 4
    assert v["msp_agent_evidence_spool_pending"] == 2 and v["msp_agent_evidence_head_seq"] == 7
    assert v["msp_agent_reports_telemetry_pending"] == 1
    assert v["msp_agent_scan_scans"] == 9 and v["msp_agent_scan_scheduler_hosts"] == 4
    assert v["msp_agent_healing_healed"] == 2
    assert v["msp_agent_healing_l2_budget_spent_usd_today"] == 0.25
    assert v["msp_agent_logship_has_cursor"] == 1 and v["msp_agent_loop_lag_seconds"] == 0.002
    assert v["msp_agent_status_written_timestamp_seconds"] == 1779289200
    # No names, ids or free text: host names, the appliance id, errors, job names.
    for leak in ("pc-01", "clinic", "AB:CD", "connect", "checkin_jobs", "500", "/var/lib"):
        assert leak not in text, leak
    # The exposition format: every sample has a TYPE line and a valid metric name.
    names = {line.split(" ")[2] for line in text.splitlines() if line.startswith("# TYPE")}
    for line in text.splitlines():
        if not line.startswith("#"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            assert name in names and re.fullmatch(r"[a-z_][a-z0-9_]*", name)


def test_path_from_the_config_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    base = "site_id: s\napi_key: key-abcdefgh-1234\n"
    default = parse_config(base, environ={}).config.metrics_textfile
    assert textfile_path(default, tmp_path) == tmp_path / "run" / FILE_NAME
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path / "rt"))
    assert textfile_path(default, tmp_path) == tmp_path / "rt" / FILE_NAME
    off = parse_config(base + 'metrics_textfile: ""\n', environ={}).config.metrics_textfile
    assert textfile_path(off, tmp_path) is None
    given = parse_config(base + "metrics_textfile: /srv/ne/agent.prom\n", environ={}).config
    assert textfile_path(given.metrics_textfile, tmp_path) == Path("/srv/ne/agent.prom")
    for bad in ("relative.prom", "/srv/ne/agent.txt"):
        with pytest.raises(Exception, match="metrics_textfile"):
            parse_config(base + f"metrics_textfile: {bad}\n", environ={})


def test_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / FILE_NAME
    write(path, STATUS)
    first = path.read_text()
    assert first == render(STATUS)
    write(path, {**STATUS, "checkin": {**STATUS["checkin"], "failures": 2}})
    assert "msp_agent_checkin_failures 2" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == [FILE_NAME]  # no temp files left


def test_write_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.runtime.promfile import write_configured

    monkeypatch.delenv("RUNTIME_DIRECTORY", raising=False)
    assert write_configured("", tmp_path, STATUS) is None
    assert not (tmp_path / "run").exists()
    path = write_configured(None, tmp_path, STATUS)
    assert path == tmp_path / "run" / FILE_NAME and path.read_text() == render(STATUS)
