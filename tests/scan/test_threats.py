"""Threat evaluation with an injected clock (healing.md §2.5 "Threat detection and self-heal", §2.6):
security_event_critical, ransomware_indicator, brute_force_detected, persisted state, the archive."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.fakeclock import FakeClock

from agent.phi.egress import EgressError
from agent.scan import threats as threats_mod
from agent.scan.model import HostResult
from agent.scan.threats import (
    ARCHIVE_DIR,
    ARCHIVE_PATH,
    EVENT_IDS,
    EVENT_PRIORITY,
    NETWORK_HOST,
    STATE_FILE,
    Collection,
    SecEvent,
    SecurityArchive,
    ThreatDetector,
    normalize_source,
    parse_events,
    parse_shadow_count,
)

T0 = 1_763_900_000
SRC = "203.0.113.7"


def ev(eid: int, rid: int, t: int, ip: str = "", msg: str = "m") -> dict[str, Any]:
    return {"event_id": eid, "record_id": rid, "time": t, "source_ip": ip, "message": msg}


def collect(
    det: ThreatDetector, host: str, events: list[dict[str, Any]] | None = None, vss: int | None = None
) -> list[Any]:
    """One host scan's records through a fresh collection (as the scanner feeds them)."""
    col = det.collection(host)
    if events is not None:
        for i in range(0, max(len(events), 1), 8):
            assert (
                col.evaluators["security_event_critical"]({"total": len(events), "events": events[i : i + 8]})
                == []
            )
    if vss is not None:
        assert (
            col.evaluators["ransomware_indicator"]({"vss": {"count": vss, "newest": 0, "scheduled": True}})
            == []
        )
    return det.observe(col, label="SRV")


def failures(n: int, start: int, step: int, rid0: int, ip: str = SRC) -> list[dict[str, Any]]:
    return [ev(4625, rid0 + i, start + i * step, ip) for i in range(n)]


# --- parsing -------------------------------------------------------------------------------------


def test_priority_table_covers_the_collected_ids() -> None:
    script = (Path(threats_mod.__file__).parent / "scripts" / "windows_scan.ps1").read_text()
    line = next(ln for ln in script.splitlines() if ln.startswith("$script:MspSecIds"))
    ids = {int(x) for x in line.split("=", 1)[1].split(",")}
    assert ids == set(EVENT_IDS)
    assert {e for e, (p, _) in EVENT_PRIORITY.items() if p <= 2} >= {1102, 4719}
    assert EVENT_PRIORITY[4625][0] > 2 and EVENT_PRIORITY[4740][0] > 2


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"error": "UnauthorizedAccessException"},
        {"events": "x"},
        {"events": [1]},
        {"events": [{"event_id": 1102, "record_id": 1}]},  # no time
        {"events": [{"event_id": "1102", "record_id": 1, "time": T0}]},
        {"events": [{"event_id": 1102, "record_id": -1, "time": T0}]},
        {"events": [{"event_id": True, "record_id": 1, "time": T0}]},
        {"events": [{"event_id": 1102, "record_id": 1, "time": T0, "message": 5}]},
    ],
)
def test_garbage_event_records_are_unknown(data: dict[str, Any], tmp_path: Path) -> None:
    assert parse_events(data) is None
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    col = det.collection("h1")
    assert col.evaluators["security_event_critical"](data) is None
    assert det.observe(col, label="SRV") == []
    assert det.cursors == {} and not (tmp_path / STATE_FILE).exists()


def test_event_parsing_accepts_empty_and_unwrapped() -> None:
    assert parse_events({"events": []}) == []
    assert parse_events({"events": None}) is None
    one = parse_events({"events": ev(1102, 7, T0, msg="x" * 5000)})
    assert one is not None and one[0].event_id == 1102 and len(one[0].message) == 2048


def test_one_bad_chunk_makes_the_whole_collection_unknown(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    col = det.collection("h1")
    assert col.evaluators["security_event_critical"]({"events": [ev(1102, 1, T0)]}) == []
    assert col.evaluators["security_event_critical"]({"events": [{"bad": 1}]}) is None
    assert col.evaluators["security_event_critical"]({"events": [ev(4719, 2, T0)]}) is None
    assert det.observe(col, label="SRV") == []
    assert det.cursors == {}


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"error": "X"},
        {"vss": {"error": "CimException"}},
        {"vss": {"count": "0"}},
        {"vss": {"count": -1}},
        {"vss": {"count": False}},
        {"vss": 0},
    ],
)
def test_garbage_shadow_records_are_unknown(data: dict[str, Any]) -> None:
    assert parse_shadow_count(data) is None


def test_sources() -> None:
    assert normalize_source("203.0.113.7") == SRC
    assert normalize_source("::ffff:203.0.113.7") == SRC
    assert normalize_source("fe80::1%12") == "fe80::1"
    for bad in ("", "-", "127.0.0.1", "::1", "0.0.0.0", "WORKSTATION7"):
        assert normalize_source(bad) is None, bad


# --- security_event_critical ---------------------------------------------------------------------


def test_critical_events_one_finding_per_event_id(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    out = collect(
        det,
        "dc1",
        [
            ev(1102, 10, T0 - 50),
            ev(4740, 11, T0 - 40),
            ev(4719, 12, T0 - 30),
            ev(1102, 13, T0 - 20),
            ev(4625, 14, T0 - 10, SRC),
        ],
    )
    crit = sorted(
        (f for f in out if f.check_type == "security_event_critical"), key=lambda f: f.discriminator
    )
    assert [f.discriminator for f in crit] == ["1102", "4719"]
    f = crit[0]
    assert (f.host, f.severity, f.hipaa_control, f.source, f.platform, f.label) == (
        "dc1",
        "critical",
        "164.312(b)",
        "threat",
        "windows",
        "SRV",
    )
    assert f.details["event_id"] == 1102 and f.details["count"] == 2 and f.details["record_id"] == 13
    assert "Security log cleared" in f.actual
    assert det.cursors["dc1"] == (T0 - 10, 14)


def test_cursor_skips_old_events_and_is_a_scan_parameter(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert det.collection("dc1").params == {}
    assert collect(det, "dc1", [ev(1102, 10, T0)])
    assert det.collection("dc1").params == {"security_since": str(T0)}
    # the script returns events at the cursor second again: deduplicated by record id
    assert collect(det, "dc1", [ev(1102, 10, T0)]) == []
    out = collect(det, "dc1", [ev(1102, 10, T0), ev(1102, 11, T0)])
    assert [f.details["record_id"] for f in out] == [11]
    assert collect(det, "dc1", []) == []  # nothing new
    assert det.cursors["dc1"] == (T0, 11)


def test_restart_does_not_realert(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert collect(det, "dc1", [ev(1102, 10, T0)], vss=3)
    path = tmp_path / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = ThreatDetector(tmp_path, clock=FakeClock(T0 + 60))
    assert again.collection("dc1").params == {"security_since": str(T0)}
    assert collect(again, "dc1", [ev(1102, 10, T0)]) == []
    assert again.shadow == {"dc1": 3}


def test_unreadable_state_starts_empty(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert det.cursors == {} and det.shadow == {}
    (tmp_path / STATE_FILE).write_text(
        json.dumps({"cursors": {"a": [1, 2], "b": "x", "c": [1, -2]}, "shadow": {"a": 2, "b": True}})
    )
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert det.cursors == {"a": (1, 2)} and det.shadow == {"a": 2}


# --- ransomware_indicator ------------------------------------------------------------------------


def _ransom(out: list[Any]) -> list[Any]:
    return [f for f in out if f.check_type == "ransomware_indicator"]


def test_shadow_copies_dropping_to_zero(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    det = ThreatDetector(tmp_path, clock=clock)
    assert _ransom(collect(det, "fs1", vss=0)) == []  # first sight: no previous count
    assert _ransom(collect(det, "fs1", vss=0)) == []  # 0 -> 0
    assert _ransom(collect(det, "fs1", vss=4)) == []
    (f,) = _ransom(collect(det, "fs1", vss=0))
    assert (f.host, f.severity, f.hipaa_control, f.details) == (
        "fs1",
        "critical",
        "164.308(a)(6)(ii)",
        {"previous_count": 4, "count": 0},
    )
    assert _ransom(collect(det, "fs2", vss=2)) == []  # per host
    # back up and down again within 30 min: rate-limited; fs2 is not
    clock.t += 1799
    assert _ransom(collect(det, "fs1", vss=1)) == []
    assert _ransom(collect(det, "fs1", vss=0)) == []
    assert len(_ransom(collect(det, "fs2", vss=0))) == 1
    clock.t += 1
    assert _ransom(collect(det, "fs1", vss=2)) == []
    assert len(_ransom(collect(det, "fs1", vss=0))) == 1


def test_unknown_shadow_record_keeps_the_previous_count(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "fs1", vss=5)
    col = det.collection("fs1")
    assert col.evaluators["ransomware_indicator"]({"vss": {"error": "CimException"}}) is None
    assert det.observe(col, label="SRV") == []
    assert det.shadow == {"fs1": 5}
    assert len(_ransom(collect(det, "fs1", vss=0))) == 1


def test_ransomware_state_survives_restart(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    det = ThreatDetector(tmp_path, clock=clock)
    collect(det, "fs1", vss=6)
    det = ThreatDetector(tmp_path, clock=clock)
    assert len(_ransom(collect(det, "fs1", vss=0))) == 1
    collect(det, "fs1", vss=6)
    clock.t += 600
    det = ThreatDetector(tmp_path, clock=clock)  # the rate limit survives too
    assert _ransom(collect(det, "fs1", vss=0)) == []


# --- brute_force_detected ------------------------------------------------------------------------


def _brute(out: list[Any]) -> list[Any]:
    return [f for f in out if f.check_type == "brute_force_detected"]


def test_cross_host_threshold_exactly_ten(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert _brute(collect(det, "ws1", failures(5, T0, 30, 100))) == []
    assert _brute(collect(det, "ws2", failures(4, T0 + 200, 30, 100))) == []  # 9 on 2 hosts
    (f,) = _brute(collect(det, "ws2", failures(1, T0 + 590, 1, 200)))  # the 10th, within 10 min
    assert (f.host, f.platform, f.label, f.severity, f.discriminator) == (
        NETWORK_HOST,
        "network",
        "",
        "critical",
        SRC,
    )
    assert f.details == {"source_ip": SRC, "failures": 10, "hosts": ["ws1", "ws2"], "window_s": 600}
    assert f.hipaa_control == "164.312(d)" and f.source == "threat"


def test_cross_host_needs_the_ten_minute_window(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "ws1", failures(5, T0, 1, 100))
    assert _brute(collect(det, "ws2", failures(5, T0 + 601, 1, 100))) == []  # 10 over 10 min + 1 s


@pytest.mark.parametrize(("last", "alerts"), [(T0 + 600, True), (T0 + 601, False)])
def test_cross_host_window_boundary(tmp_path: Path, last: int, alerts: bool) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "ws1", failures(1, T0, 1, 100))
    out = _brute(collect(det, "ws2", [*failures(8, T0 + 300, 1, 100), *failures(1, last, 1, 200)]))
    assert len(out) == int(alerts)


def test_ten_on_one_host_is_not_cross_host(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert _brute(collect(det, "ws1", failures(19, T0, 10, 100))) == []  # 19 in 3 min on one host


def test_single_host_threshold_exactly_twenty_in_five_minutes(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    (f,) = _brute(collect(det, "ws1", failures(20, T0, 15, 100)))  # 20 within 285 s
    assert (f.host, f.severity, f.discriminator, f.platform, f.label) == (
        "ws1",
        "high",
        SRC,
        "windows",
        "SRV",
    )
    assert f.details["failures"] == 20 and f.details["hosts"] == ["ws1"] and f.details["window_s"] == 300
    other = ThreatDetector(tmp_path / "x", clock=FakeClock(T0))
    assert _brute(collect(other, "ws1", failures(20, T0, 16, 100))) == []  # 20 over 304 s


def test_one_finding_per_source_cross_host_preferred(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "ws1", failures(1, T0, 1, 1))
    out = _brute(
        collect(det, "ws2", failures(25, T0 + 10, 2, 100) + failures(20, T0 + 10, 2, 500, "198.51.100.9"))
    )
    assert sorted((f.host, f.discriminator, f.severity) for f in out) == [
        ("network", SRC, "critical"),
        ("ws2", "198.51.100.9", "high"),
    ]


def test_local_sources_are_not_counted(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    evs = failures(10, T0, 1, 100, "-") + failures(10, T0, 1, 200, "127.0.0.1") + failures(10, T0, 1, 300, "")
    assert _brute(collect(det, "ws1", evs)) == []
    assert det.failures == {}


def test_old_burst_is_not_reraised(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    assert len(_brute(collect(det, "ws1", failures(20, T0, 1, 100)))) == 1
    assert _brute(collect(det, "ws1", [ev(1102, 500, T0 + 30)])) == []  # no new failure from it
    assert _brute(collect(det, "ws1", failures(1, T0 + 2000, 1, 600))) == []  # the burst is long over


def test_brute_force_window_survives_restart(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "ws1", failures(6, T0, 5, 100))
    det = ThreatDetector(tmp_path, clock=FakeClock(T0 + 120))
    (f,) = _brute(collect(det, "ws2", failures(4, T0 + 60, 5, 100)))
    assert f.host == NETWORK_HOST and f.details["failures"] == 10


def test_finish_splits_host_and_cross_host_findings(tmp_path: Path) -> None:
    det = ThreatDetector(tmp_path, clock=FakeClock(T0))
    collect(det, "ws1", failures(5, T0, 1, 100))
    col = det.collection("ws2")
    col.evaluators["security_event_critical"](
        {"events": [ev(1102, 1, T0 + 2), *failures(5, T0 + 10, 1, 100)]}
    )
    res = HostResult(
        host="ws2",
        platform="windows",
        status="complete",
        checks={"security_event_critical": "pass", "ransomware_indicator": "unknown"},
    )
    det.finish(res, col, label="WS")
    assert [f.check_type for f in res.findings] == ["security_event_critical"]
    assert res.checks == {"security_event_critical": "drift", "ransomware_indicator": "unknown"}
    (p,) = det.take_pending()
    assert p.host == NETWORK_HOST and p.check_type == "brute_force_detected"
    assert det.take_pending() == []


# --- archive -------------------------------------------------------------------------------------

PHI_MSG = "Account locked out at the workstation of patient John Smith SSN 123-45-6789"


def _archive(tmp_path: Path) -> SecurityArchive:
    return SecurityArchive(tmp_path, site_id=lambda: "clinic", source_host="appliance-1", clock=FakeClock(T0))


def test_archive_scrubs_before_queueing_and_caps_requests(tmp_path: Path) -> None:
    arch = _archive(tmp_path)
    evs = [SecEvent(4740, i, T0 + i, "", PHI_MSG) for i in range(600)]
    assert arch.enqueue("ws1", evs) == 600
    files = sorted((tmp_path / ARCHIVE_DIR).iterdir())
    assert len(files) == 2
    bodies = [json.loads(p.read_bytes()) for p in files]
    assert [len(b["events"]) for b in bodies] == [500, 100]
    raw = b"".join(p.read_bytes() for p in files)
    assert b"123-45-6789" not in raw and b"John Smith" not in raw
    e = bodies[0]["events"][0]
    assert bodies[0]["site_id"] == "clinic"
    assert (
        e["event_id"] == 4740
        and e["timestamp"] == "2025-11-23T12:13:20Z"
        and e["source_host"] == "appliance-1"
    )
    assert e["hostname"] == "ws1" and "REDACTED" in e["message"]
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in files)


def test_archive_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(payload: Any, *, kind: str, scrubber: Any = None) -> Any:
        raise EgressError(kind)

    monkeypatch.setattr(threats_mod, "egress", boom)
    arch = _archive(tmp_path)
    assert arch.enqueue("ws1", [SecEvent(1102, 1, T0, "", PHI_MSG)]) == 0
    assert arch.pending() == 0 and arch.status()["unscrubbable"] == 1


async def test_archive_drain_posts_and_keeps_on_failure(tmp_path: Path) -> None:
    arch = _archive(tmp_path)
    arch.enqueue("ws1", [SecEvent(1102, 1, T0, "", "cleared")])
    sent: list[tuple[str, bytes]] = []
    status = [503]

    async def post(path: str, body: bytes) -> tuple[int, bytes]:
        sent.append((path, body))
        return status[0], b"{}"

    assert await arch.drain(post) == 0 and arch.pending() == 1  # transient: kept
    status[0] = 200
    assert await arch.drain(post, force=True) == 1 and arch.pending() == 0
    assert [p for p, _ in sent] == [ARCHIVE_PATH, ARCHIVE_PATH]
    assert json.loads(sent[-1][1])["events"][0]["event_id"] == 1102


def test_detector_archives_only_new_events(tmp_path: Path) -> None:
    arch = _archive(tmp_path / "a")
    det = ThreatDetector(tmp_path, clock=FakeClock(T0), archive=arch)
    collect(det, "ws1", [ev(1102, 1, T0), ev(4625, 2, T0, SRC)])
    collect(det, "ws1", [ev(1102, 1, T0), ev(4625, 2, T0, SRC), ev(4740, 3, T0 + 1)])
    col = Collection("ws1", {})
    col.evaluators["security_event_critical"]({"events": [{"broken": True}]})
    det.observe(col, label="WS")
    bodies = [json.loads(p.read_bytes()) for p in sorted((tmp_path / "a" / ARCHIVE_DIR).iterdir())]
    assert [[e["event_id"] for e in b["events"]] for b in bodies] == [[1102, 4625], [4740]]
