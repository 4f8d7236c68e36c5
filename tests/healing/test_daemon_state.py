"""``daemon_state.json`` (runtime.md §3.2, §3.3; healing.md §4.4–§4.6, §6.1): the Go format, restart
survival of cooldowns/suspensions/schedule, Go adoption (plaintext credentials, Go heal journal),
corruption and kill -9."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Install, run_agent

from agent.config import load_config
from agent.events import CheckinSucceeded
from agent.exec import Target
from agent.scan.linux import EVALUATORS
from agent.state import load_or_create
from agent.state.daemon_state import (
    STATE_NAME,
    DaemonStateFile,
    StateFormatError,
    decode,
    encode,
    format_rfc3339_ns,
    parse_rfc3339_ns,
)
from agent.wiring import Options, Wired, build

from .fakes import MemorySink

PASSWORD = "Go-plaintext-Pa55word!"
SUDO = "Go-sudo-S3cret-value"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUtZ29kYWVtb24ta2V5\n"
    "-----END OPENSSH PRIVATE KEY-----"
)

GO_STATE = {
    "linux_targets": [
        {
            "hostname": "10.0.0.5",
            "port": 22,
            "username": "msp",
            "password": PASSWORD,
            "sudo_password": SUDO,
            "label": "db",
        },
        {"hostname": "10.0.0.6", "port": 2222, "username": "root", "private_key": KEY, "label": ""},
    ],
    "l2_mode": "manual",
    "subscription_status": "past_due",
    "cooldowns": {
        "10.0.0.5:linux_firewall": {
            "last_seen": "2026-11-23T17:19:21.123456789Z",
            "count": 2,
            "cooldown_dur": 600000000000,
        },
        "dc01:firewall_status": {
            "last_seen": "2026-11-23T12:19:21.5-05:00",
            "count": 3,
            "cooldown_dur": 3600000000000,
        },
    },
    "last_successful_scan": {"10.0.0.5": "2026-11-23t17:00:00z", "dc01": "2026-11-23 17:05:00.25+00:00"},
    "saved_at": "2026-11-23T17:19:22.000000001Z",
    "future_go_key": {"kept": [1, 2, 3]},
}


# --- the format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2026-11-23T17:19:21.123456789Z", 1795454361_123456789),
        ("2026-11-23T17:19:21Z", 1795454361_000000000),
        ("2026-11-23t17:19:21.5z", 1795454361_500000000),
        ("2026-11-23 17:19:21.1234567891234Z", 1795454361_123456789),  # > 9 digits: truncated
        ("2026-11-23T12:19:21.000000001-05:00", 1795454361_000000001),
        ("2026-11-24T02:49:21+09:30", 1795454361_000000000),
    ],
)
def test_any_rfc3339_form_is_read(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


@pytest.mark.parametrize("bad", ["", "2026-11-23", "2026-11-23T17:19:21", "2026-13-01T00:00:00Z", 17, None])
def test_bad_timestamps_are_rejected(bad: Any) -> None:
    with pytest.raises(StateFormatError):
        parse_rfc3339_ns(bad)


def test_written_in_utc_with_nanoseconds() -> None:
    assert format_rfc3339_ns(1795454361_000000001) == "2026-11-23T17:19:21.000000001Z"
    assert (
        format_rfc3339_ns(parse_rfc3339_ns("2026-11-23T12:19:21.5-05:00")) == "2026-11-23T17:19:21.500000000Z"
    )


def test_go_file_round_trip_keeps_values_types_and_unknown_keys() -> None:
    raw = json.dumps({**GO_STATE, "agent_ext": {"schema": 1, "from_a_newer_agent": "x"}}).encode()
    st = decode(raw)
    out = json.loads(encode(st))
    assert out["cooldowns"]["10.0.0.5:linux_firewall"] == {
        "last_seen": "2026-11-23T17:19:21.123456789Z",
        "count": 2,
        "cooldown_dur": 600000000000,
    }
    assert out["cooldowns"]["dc01:firewall_status"]["last_seen"] == "2026-11-23T17:19:21.500000000Z"
    assert isinstance(out["cooldowns"]["dc01:firewall_status"]["cooldown_dur"], int)
    assert out["last_successful_scan"] == {
        "10.0.0.5": "2026-11-23T17:00:00.000000000Z",
        "dc01": "2026-11-23T17:05:00.250000000Z",
    }
    assert out["saved_at"] == "2026-11-23T17:19:22.000000001Z"
    assert (out["l2_mode"], out["subscription_status"]) == ("manual", "past_due")
    assert out["future_go_key"] == {"kept": [1, 2, 3]}  # a Go rollback keeps what it knows
    assert out["agent_ext"]["from_a_newer_agent"] == "x"
    # secrets are never written, even when the document still holds them
    assert [sorted(t) for t in out["linux_targets"]] == [["hostname", "label", "port", "username"]] * 2
    assert PASSWORD not in json.dumps(out) and SUDO not in json.dumps(out)
    assert decode(encode(decode(encode(st)))) == decode(encode(st))  # stable


def test_go_nil_maps_are_accepted() -> None:
    st = decode(
        b'{"linux_targets": null, "cooldowns": null, "last_successful_scan": null, '
        b'"l2_mode": "", "subscription_status": "", "saved_at": "0001-01-01T00:00:00Z"}'
    )
    assert st.cooldowns == {} and st.linux_targets == [] and st.ext is None


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"cooldowns": []}',
        b'{"cooldowns": {"h:c": {"last_seen": "yesterday", "count": 1}}}',
        b'{"linux_targets": "x"}',
        b'{"cooldowns": {"h:c": {"last_seen": "2026-11-23T17:19:21Z", "count": true}}}',
    ],
)
def test_malformed_documents_are_rejected(raw: bytes) -> None:
    with pytest.raises(StateFormatError):
        decode(raw)


def test_save_is_0600_and_leaves_no_temp_files(tmp_path: Path) -> None:
    f = DaemonStateFile(tmp_path)
    st = decode(json.dumps(GO_STATE).encode())
    f.save(st)
    assert (tmp_path / STATE_NAME).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_NAME]
    assert decode((tmp_path / STATE_NAME).read_bytes()).cooldowns == st.cooldowns


_KILL_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from agent.state.daemon_state import DaemonStateFile, DaemonState, GoCooldown
    f = DaemonStateFile(Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        st = DaemonState(cooldowns={f"host{i}:linux_firewall": GoCooldown(n * 10**9 + i, n, 6 * 10**11)
                                    for i in range(200)})
        f.save(st)
""")


def test_kill9_while_saving_leaves_a_complete_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(tmp_path)], env=env)
    path = tmp_path / STATE_NAME
    try:
        deadline = time.monotonic() + 30
        seen = 0
        while seen < 3:  # let it overwrite the file a few times, then kill it mid-loop
            assert proc.poll() is None and time.monotonic() < deadline
            if path.exists():
                seen = max(seen, next(iter(decode(path.read_bytes()).cooldowns.values())).count)
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    st = decode(path.read_bytes())  # the old or the new version, never partial
    counts = {c.count for c in st.cooldowns.values()}
    assert len(st.cooldowns) == 200 and len(counts) == 1 and counts.pop() >= 3


# --- the component: restart, adoption, corruption -------------------------------------------------------


class RawLog(logging.Handler):
    """Log records before the secret filter: proves secrets are not passed to the logger at all."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', {})!r}" for r in self.records)

    def events(self) -> list[str]:
        return [getattr(r, "event", "") for r in self.records]


@pytest.fixture
def rawlog() -> Iterator[RawLog]:
    h = RawLog()
    root = logging.getLogger("agent")
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(h)
    yield h
    root.removeHandler(h)
    root.setLevel(old)


def _state(tmp_path: Path, name: str = "state") -> Path:
    state = tmp_path / name
    state.mkdir(mode=0o700)
    return state


class Restarted:
    """One process's agent as the root builds it, seen through what these tests look at."""

    def __init__(self, w: Wired) -> None:
        self.w = w
        self.pipeline = w.healing.pipeline
        self.engine = w.rules.engine
        self.scheduler = w.scan.scheduler
        self.daemon_state = w.state_file.persistence
        self.checkin = w.checkin
        self.shared = w.site
        self.adoption = w.adoption
        self.journal = w.healing.journal

    def targets(self) -> list[tuple[Target, Any]]:
        return self.w.scan.targets()

    def credential_for(self, host: str) -> tuple[Target, Any] | None:
        return self.w.healing.credential_for(host)

    async def replay(self) -> None:
        await self.w.healing.replay()

    async def heal_pending(self) -> list[Any]:
        return await self.w.healing.heal_pending()

    def flush(self) -> None:
        for comp in self.w.components:
            comp.flush()

    async def close(self) -> None:
        await self.w.close()


def _component(tmp_path: Path, state: Path, sink: MemorySink | None = None) -> Restarted:
    """A fresh process's view of ``state`` (a new agent from the root: a restart)."""
    cfg_path = tmp_path / f"config-{state.name}.yaml"
    cfg_path.write_text(
        f"site_id: clinic-state\napi_key: {'k' * 40}\napi_endpoint: http://127.0.0.1:9\n"
        f"state_dir: {state}\npoll_interval: 60\nhealing_dry_run: true\n"
    )
    watched = tmp_path / "watched.conf"
    if not watched.exists():
        watched.write_text("x\n")
        watched.chmod(0o666)
    params = {"perm_files": [str(watched)], "sshd_config": str(tmp_path / "absent")}
    w = build(load_config(cfg_path, environ={}).config, cfg_path, load_or_create(state),
              Options(sink=sink or MemorySink(), appliance_params=params, own_mac="AABBCCDDEEFF"))
    w.site.directives.disabled_checks = frozenset(
        c for c in EVALUATORS if c != "linux_file_permissions"
    )
    return Restarted(w)


async def _scan_and_handle(comp: Restarted) -> list[str]:
    """One forced scan of the appliance itself, then the heal queue."""
    await comp.replay()
    comp.scheduler.set_targets([(Target.local(), None)])
    comp.scheduler.force()
    await comp.scheduler.run_round()
    return [r.stage for r in await comp.heal_pending()]


async def test_cooldown_suspension_and_schedule_survive_a_restart(tmp_path: Path) -> None:
    state = _state(tmp_path)
    first = _component(tmp_path, state)
    assert await _scan_and_handle(first) == ["dry_run"]  # passes dedup, would heal
    now = time.time()
    first.pipeline.suspended["10.0.0.9:linux_firewall"] = (now + 3600, "not_applicable")
    first.pipeline.failures["10.0.0.9:linux_ssh_config"] = [now - 30, now - 20, now - 10]
    first.pipeline.heals_ok["10.0.0.9:linux_ntp_sync"] = [now - 5]
    first.engine.cooldowns["L1-TEST:10.0.0.9"] = now - 1
    due = next(iter(first.scheduler.hosts.values())).next_due - first.scheduler.clock()
    assert due > 120  # a full or early-rescan interval, not a start-up spread
    first.flush()
    await first.close()
    doc = json.loads((state / STATE_NAME).read_text())
    entry = doc["cooldowns"]["localhost:linux_file_permissions"]
    assert entry["count"] == 1 and entry["cooldown_dur"] == 600 * 10**9
    assert entry["last_seen"].endswith("Z") and len(entry["last_seen"]) == len(
        "2026-11-23T17:19:21.123456789Z"
    )
    assert doc["agent_ext"]["schema"] == 1 and "adopted_from_go_at" not in doc["agent_ext"]

    control = tmp_path / "control"
    shutil.copytree(state, control)
    (control / STATE_NAME).unlink()

    second = _component(tmp_path, state)
    assert await _scan_and_handle(second) == ["suppressed"]  # the dedup cooldown survived
    assert second.pipeline._blocked("10.0.0.9:linux_firewall", "10.0.0.9") == "not_applicable"
    assert second.pipeline._blocked("10.0.0.9:linux_ssh_config", "10.0.0.9") == "exhausted"
    assert len(second.pipeline.heals_ok["10.0.0.9:linux_ntp_sync"]) == 1
    assert second.engine.cooldowns["L1-TEST:10.0.0.9"] == pytest.approx(now - 1, abs=1e-3)
    await second.close()

    third = _component(tmp_path, state)  # the schedule: the host is not due at start-up
    third.scheduler.set_targets(third.targets())
    left = next(iter(third.scheduler.hosts.values())).next_due - third.scheduler.clock()
    assert left > 60  # beyond the first-scan spread: the persisted due time was used
    await third.close()

    fresh = _component(tmp_path, control)  # same state without daemon_state.json: not suppressed
    assert await _scan_and_handle(fresh) == ["dry_run"]
    assert fresh.pipeline._blocked("10.0.0.9:linux_firewall", "10.0.0.9") is None
    await fresh.close()


async def test_expired_entries_are_pruned_on_load(tmp_path: Path) -> None:
    state = _state(tmp_path)
    old = format_rfc3339_ns(time.time_ns() - 3 * 3600 * 10**9)
    recent = format_rfc3339_ns(time.time_ns() - 60 * 10**9)
    yesterday = format_rfc3339_ns(time.time_ns() - 25 * 3600 * 10**9)
    (state / STATE_NAME).write_text(
        json.dumps(
            {
                "cooldowns": {
                    "a:linux_firewall": {"last_seen": old, "count": 1, "cooldown_dur": 600 * 10**9},
                    "b:linux_firewall": {"last_seen": recent, "count": 3, "cooldown_dur": 3600 * 10**9},
                },
                "agent_ext": {
                    "schema": 1,
                    "suspensions": {"c:x": {"until": recent, "reason": "recurring_drift"}},
                    "exhaustion": {"d:x": [yesterday], "e:x": [old]},
                    "discriminators": {"b:linux_firewall": ["eth0"]},
                },
            }
        )
    )
    comp = _component(tmp_path, state)
    p = comp.pipeline
    assert set(p.dedup) == {"b:linux_firewall"}  # idle for 2 h: pruned (§4.4)
    assert p.dedup["b:linux_firewall"].window == 3600 and p.dedup["b:linux_firewall"].discriminators == {
        "eth0"
    }
    assert p.suspended == {}  # suspension over
    assert set(p.failures) == {"e:x"}  # failures count over 24 h (§4.5)
    await comp.close()


async def test_go_state_is_adopted_and_plaintext_credentials_sealed(tmp_path: Path, rawlog: RawLog) -> None:
    state = _state(tmp_path)
    now_ns = time.time_ns()
    go = json.loads(json.dumps(GO_STATE))
    go["cooldowns"]["localhost:linux_file_permissions"] = {
        "last_seen": format_rfc3339_ns(now_ns - 10**9),
        "count": 1,
        "cooldown_dur": 600 * 10**9,
    }
    (state / STATE_NAME).write_text(json.dumps(go))
    comp = _component(tmp_path, state)

    raw = (state / STATE_NAME).read_bytes()
    for secret in (PASSWORD, SUDO, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUtZ29kYWVtb24ta2V5"):
        assert secret.encode() not in raw
        assert secret not in rawlog.text()
        assert not any(secret.encode() in p.read_bytes() for p in state.rglob("*") if p.is_file())
    doc = json.loads(raw)
    assert [t["hostname"] for t in doc["linux_targets"]] == ["10.0.0.5", "10.0.0.6"]
    assert doc["agent_ext"]["adopted_from_go_at"].endswith("Z")
    assert doc["future_go_key"] == {"kept": [1, 2, 3]}
    assert doc["l2_mode"] == "manual" and doc["subscription_status"] == "past_due"
    assert doc["last_successful_scan"]["10.0.0.5"] == "2026-11-23T17:00:00.000000000Z"
    # the credentials are in the sealed store and in use
    sealed = comp.checkin.sealed.load()
    assert sealed is not None
    by_host = {t.hostname: t for t in sealed.linux_targets}
    assert by_host["10.0.0.5"].password == PASSWORD and by_host["10.0.0.5"].sudo_password == SUDO
    assert by_host["10.0.0.6"].private_key == KEY and by_host["10.0.0.6"].port == 2222
    found = comp.credential_for("10.0.0.5")
    assert found is not None and found[0].port == 22
    assert comp.shared.directives.billing_status == "past_due"  # subscription gate keeps its state
    assert rawlog.events().count("state.adopted_go") == 1
    summary = next(r for r in rawlog.records if getattr(r, "event", "") == "state.adopted_go")
    assert getattr(summary, "fields", {})["credentials_moved"] == 2
    # the Go cooldown is in force
    assert await _scan_and_handle(comp) == ["suppressed"]
    await comp.close()

    rawlog.records.clear()
    again = _component(tmp_path, state)  # our file now: no second adoption
    assert "state.adopted_go" not in rawlog.events()
    assert again.adoption.credentials_moved == 0
    assert (
        json.loads((state / STATE_NAME).read_text())["agent_ext"]["adopted_from_go_at"]
        == doc["agent_ext"]["adopted_from_go_at"]
    )
    await again.close()


async def test_corrupt_file_is_quarantined_and_the_agent_runs(tmp_path: Path, rawlog: RawLog) -> None:
    state = _state(tmp_path)
    (state / STATE_NAME).write_bytes(b'{"cooldowns": {"x": ')
    comp = _component(tmp_path, state)
    corrupt = list(state.glob(f"{STATE_NAME}.corrupt.*"))
    assert len(corrupt) == 1 and corrupt[0].read_bytes() == b'{"cooldowns": {"x": '
    assert "state.daemon_state_corrupt" in rawlog.events()
    assert comp.pipeline.dedup == {}
    assert await _scan_and_handle(comp) == ["dry_run"]  # scanning and healing go on
    comp.flush()
    assert "localhost:linux_file_permissions" in json.loads((state / STATE_NAME).read_text())["cooldowns"]
    await comp.close()


def _go_journal() -> dict[str, Any]:
    return {
        "entries": [
            {
                "id": "heal-1",
                "incident_id": "inc-1",
                "hostname": "10.0.0.5",
                "check_type": "linux_firewall",
                "runbook_id": "RB-LIN-FW-001",
                "status": "started",
                "started_at": "2026-11-23T17:00:00Z",
            },
            {
                "id": "heal-2",
                "incident_id": "inc-2",
                "hostname": "dc01",
                "check_type": "firewall_status",
                "runbook_id": "RB-WIN-SEC-001",
                "status": "phase_complete",
                "platform": "windows",
            },
            {
                "id": "heal-3",
                "incident_id": "inc-3",
                "hostname": "dc01",
                "check_type": "windows_update",
                "runbook_id": "RB-WIN-SVC-006",
                "status": "completed",
            },
        ],
        "saved_at": "2026-11-23T17:01:00.123456789Z",
    }


async def test_go_healing_journal_is_adopted_once(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "healing_journal.json").write_text(json.dumps(_go_journal()))
    sink = MemorySink()
    comp = _component(tmp_path, state, sink)
    assert not (state / "healing_journal.json").exists()
    assert json.loads((state / "healing_journal.json.adopted").read_text()) == _go_journal()
    recs = [json.loads(x) for x in (state / "healing_journal.jsonl").read_text().splitlines()]
    ends = [r for r in recs if r["event"] == "end"]
    assert [e["outcome"] for e in ends] == ["crashed", "crashed"]
    begins = {r["heal_id"]: r for r in recs if r["event"] == "begin"}
    assert sorted(b["check_type"] for b in begins.values()) == ["firewall_status", "linux_firewall"]
    execs = [p["execution"] for k, p in sink.items if k == "execution"]
    assert len(execs) == 2 and all(e["success"] is False for e in execs)
    assert sorted(e["runbook_id"] for e in execs) == ["RB-LIN-FW-001", "RB-WIN-SEC-001"]
    doc = json.loads((state / STATE_NAME).read_text())
    assert doc["agent_ext"]["adopted_from_go_at"]
    await comp.close()

    # A crash after the records but before the rename: the next start does not record them twice.
    shutil.copy(state / "healing_journal.json.adopted", state / "healing_journal.json")
    sink2 = MemorySink()
    again = _component(tmp_path, state, sink2)
    recs2 = [json.loads(x) for x in (state / "healing_journal.jsonl").read_text().splitlines()]
    assert len([r for r in recs2 if r["event"] == "end"]) == 2
    assert sink2.items == [] and not (state / "healing_journal.json").exists()
    assert again.journal.open() == []  # nothing left open for replay
    await again.close()


async def test_saves_are_debounced_and_skipped_when_unchanged(tmp_path: Path) -> None:
    state = _state(tmp_path)
    comp = _component(tmp_path, state)
    ds = comp.daemon_state
    ds.debounce_s = 0.05
    assert ds.save_now() is True and ds.save_now() is False  # nothing changed: no write
    for _ in range(5):
        ds.request_save()
    assert ds._timer is not None
    saves = ds.saves
    comp.pipeline.suspended["h:c"] = (time.time() + 60, "not_applicable")
    for _ in range(5):
        ds.request_save()
    await asyncio.sleep(0.2)  # a loop timer: the 0.05 s debounce timer fires before this one
    assert ds._timer is None and ds._task is not None
    await ds._task
    assert ds.saves == saves + 1  # a burst of requests: one write
    assert "h:c" in json.loads((state / STATE_NAME).read_text())["agent_ext"]["suspensions"]
    comp.w.bus.publish(CheckinSucceeded())  # a successful checkin requests a save too
    assert ds._timer is not None
    await comp.close()


def test_run_once_adopts_a_go_state_directory(install: Install) -> None:
    """The daemon itself (``run --once``): Go state adopted at start-up, secrets sealed and never
    logged, the file rewritten in our format at shutdown."""
    install.state.mkdir(mode=0o700)
    (install.state / STATE_NAME).write_text(json.dumps(GO_STATE))
    (install.state / "healing_journal.json").write_text(json.dumps(_go_journal()))
    r = run_agent("run", "--once", "--config", str(install.config), "--log-level", "DEBUG")
    assert r.returncode == 1, r.stderr  # no Central Command: the checkin failed; adopted anyway
    out = r.stdout + r.stderr
    for secret in (PASSWORD, SUDO, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUtZ29kYWVtb24ta2V5"):
        assert secret not in out
        assert not any(secret.encode() in p.read_bytes() for p in install.state.rglob("*") if p.is_file())
    assert "SECRET-REDACTED" not in out  # not even handed to the logger
    events = [json.loads(line) for line in r.stdout.splitlines()]
    [summary] = [e for e in events if e["event"] == "state.adopted_go"]
    assert summary["credentials_moved"] == 2 and summary["journal_crashed"] == 2
    doc = json.loads((install.state / STATE_NAME).read_text())
    assert doc["agent_ext"]["adopted_from_go_at"] and doc["future_go_key"] == {"kept": [1, 2, 3]}
    assert (install.state / "credentials.sealed").stat().st_mode & 0o777 == 0o600
    assert (install.state / "healing_journal.json.adopted").exists()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        # a complete value: the copy is kept with the value removed
        (
            b'{"linux_targets": [{"hostname": "10.0.0.5", "password": "Go-Pl4in\\"text", '
            b'"private_key": "-----BEGIN KEY-----\\nAAAA"}], "cooldowns": {',
            True,
        ),
        # cut off inside the value: no copy at all
        (b'{"linux_targets": [{"hostname": "10.0.0.5", "sudo_password": "Go-Pl4intext', False),
    ],
)
async def test_corrupt_go_file_never_keeps_plaintext_credentials(
    tmp_path: Path, rawlog: RawLog, raw: bytes, kept: bool
) -> None:
    state = _state(tmp_path)
    (state / STATE_NAME).write_bytes(raw)
    comp = _component(tmp_path, state)
    assert "state.daemon_state_corrupt" in rawlog.events()
    corrupt = list(state.glob(f"{STATE_NAME}.corrupt.*"))
    assert not (state / STATE_NAME).exists() or b"Go-Pl4in" not in (state / STATE_NAME).read_bytes()
    if kept:
        assert len(corrupt) == 1 and corrupt[0].stat().st_mode & 0o777 == 0o600
        body = corrupt[0].read_bytes()
        assert b'"hostname": "10.0.0.5"' in body and body.count(b'"[removed]"') == 2
    else:
        assert corrupt == []
    for f in state.rglob("*"):
        if f.is_file():
            assert b"Go-Pl4in" not in f.read_bytes() and b"AAAA" not in f.read_bytes(), f
    await comp.close()
