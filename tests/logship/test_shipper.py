"""The log shipper against the local Central Command: batching, truncation after scrubbing, PHI
never reaches the server, cursor moves only after a 200 (at-least-once, no gaps)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.fakeclock import FakeClock

from agent.central import CentralCommand
from agent.logship.batch import build, cut_bytes, realtime
from agent.logship.shipper import INGEST_PATH, LogShipper
from agent.logship.source import CursorRejected, FileSource, JournalctlSource, parse_journal_json
from agent.phi import make_scrubber

SITE = "lakeside-pediatrics"
PHI = "Patient John Smith DOB 03/14/1961 MRN 4471923 SSN 123-45-6789 called"


def entry(i: int, msg: Any = None, **kw: Any) -> dict[str, Any]:
    e = {"__CURSOR": f"s=abc;i={i:x}", "__REALTIME_TIMESTAMP": str(1779289200000000 + i),
         "MESSAGE": msg if msg is not None else f"line {i}", "PRIORITY": "6",
         "_SYSTEMD_UNIT": "msp-agent.service", "_BOOT_ID": "b" * 32}
    e.update(kw)
    return e


def write(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


class Env:
    def __init__(self, cc: CentralCommand, session: aiohttp.ClientSession, key: str,
                 tmp: Path) -> None:
        self.cc, self.session, self.key, self.tmp = cc, session, key, tmp
        self.journal = tmp / "journal.json"
        self.down = False
        self.posts = 0

    def shipper(self, batch_size: int = 500) -> LogShipper:
        return LogShipper(self.tmp / "state", FileSource(self.journal), site_id=SITE,
                          hostname=lambda: "appliance-01", batch_size=batch_size,
                          scrubber=lambda: make_scrubber(key=b"k" * 32))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.posts += 1
        if self.down:
            raise OSError("connection refused")
        async with self.session.post(self.cc.url + path, data=gzip.compress(body), headers={
                "Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                "Content-Encoding": "gzip"}) as r:
            return r.status, await r.read()

    def received(self) -> list[dict[str, Any]]:
        return [e for rec in self.cc.logs(SITE) for e in rec["entries"]]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    cc.create_site(SITE)
    async with aiohttp.ClientSession() as session:
        yield Env(cc, session, cc.create_api_key(SITE), tmp_path)
    await cc.stop()
    cc.close()


def test_entry_conversion() -> None:
    assert realtime("1779289200123456") == "2026-05-20T15:00:00.123456Z"
    assert realtime("nope") is None
    raw = [entry(1, msg=list("héllo".encode())), entry(2, PRIORITY="9", _SYSTEMD_UNIT=None,
                                                     SYSLOG_IDENTIFIER="sshd"),
           entry(3, __REALTIME_TIMESTAMP="x"), entry(4, _SYSTEMD_UNIT=None)]
    built = build(raw, site_id=SITE, hostname="h", scrubber=make_scrubber())
    assert built.skipped == 1
    assert [(e.msg, e.unit, e.pri) for e in built.ingest.batch] == [
        ("héllo", "msp-agent.service", 6), ("line 2", "sshd", 6), ("line 4", "unknown", 6)]
    assert cut_bytes("é" * 5000) == "é" * 4096  # 8192 bytes, at a character boundary


def test_scrub_before_truncation() -> None:
    """A PHI value straddling the 8192-byte cut is scrubbed, not cut in half."""
    msg = "x" * 8180 + " SSN 123-45-6789"
    [e] = build([entry(1, msg)], site_id=SITE, hostname="h", scrubber=make_scrubber()).ingest.batch
    assert "123-45" not in e.msg and len(e.msg.encode()) <= 8192


def test_journalctl_argv_and_output() -> None:
    src = JournalctlSource()
    assert src.argv(None, 500)[-1] == "--since=-5m"
    assert "--after-cursor=s=1" in src.argv("s=1", 500)
    read = parse_journal_json(b'{"MESSAGE":"a","__CURSOR":"c1"}\n\n-- cursor: c1\n')
    assert read.cursor == "c1" and len(read.entries) == 1


async def test_phi_never_reaches_the_server(env: Env) -> None:
    write(env.journal, [entry(0, PHI), entry(1, "plain line")])
    sh = env.shipper()
    assert await sh.tick(env.post) == 2
    got = env.received()
    text = json.dumps(env.cc.logs(SITE))
    for value in ("John Smith", "03/14/1961", "4471923", "123-45-6789"):
        assert value not in text
    assert "REDACTED" in got[0]["msg"] and got[1]["msg"] == "plain line"
    # nothing with PHI was written to disk either
    for p in (env.tmp / "state").rglob("*"):
        if p.is_file():
            assert b"John Smith" not in p.read_bytes()


async def test_cursor_moves_only_after_acceptance_no_gaps(env: Env) -> None:
    write(env.journal, [entry(i) for i in range(0, 25)])
    sh = env.shipper(batch_size=10)
    env.down = True
    assert await sh.tick(env.post) == 0
    assert sh.saved_cursor() is None and sh.queue.pending() == 1  # read, queued, not accepted
    assert await sh.tick(env.post) == 0  # backing off: no new read, no post
    # restart while the server is still down: the queued batch survives
    sh = env.shipper(batch_size=10)
    assert await sh.tick(env.post, force=True) == 0 and sh.queue.pending() == 1
    env.down = False
    assert await sh.tick(env.post, force=True) == 25  # full batches: caught up in one tick
    assert sh.saved_cursor() == "s=abc;i=18"
    write(env.journal, [entry(i) for i in range(0, 40)])
    sh.next_try = 0
    assert await sh.tick(env.post) == 15
    msgs = [e["msg"] for e in env.received()]
    assert msgs == [f"line {i}" for i in range(40)]  # in order, nothing skipped, nothing twice


async def test_refused_batch_is_dead_lettered_and_passed(env: Env) -> None:
    write(env.journal, [entry(i) for i in range(3)])
    env.cc.inject_fault(INGEST_PATH, status=400, body=b'{"detail":"Invalid gzip payload"}')
    sh = env.shipper()
    assert await sh.tick(env.post) == 0
    assert sh.saved_cursor() == "s=abc;i=2" and sh.queue.pending() == 0
    assert len(sh.queue.dead_letters()) == 1


async def test_server_error_keeps_cursor_then_resends_same_batch(env: Env) -> None:
    write(env.journal, [entry(i) for i in range(3)])
    env.cc.inject_fault(INGEST_PATH, status=503, count=2)
    sh = env.shipper()
    assert await sh.tick(env.post) == 0 and sh.saved_cursor() is None
    sh.next_try = 0
    assert await sh.tick(env.post) == 0
    sh.next_try = 0
    assert await sh.tick(env.post) == 3 and sh.saved_cursor() == "s=abc;i=2"
    assert [e["msg"] for e in env.received()] == ["line 0", "line 1", "line 2"]


async def test_failures_back_off_doubling_from_30s(env: Env) -> None:
    write(env.journal, [entry(i) for i in range(3)])
    clock = FakeClock(1_779_289_200.0)
    sh = LogShipper(env.tmp / "state", FileSource(env.journal), site_id=SITE,
                    hostname=lambda: "appliance-01", clock=clock,
                    scrubber=lambda: make_scrubber(key=b"k" * 32))
    env.down = True
    assert await sh.tick(env.post) == 0 and env.posts == 1 and sh.queue.pending() == 1
    assert sh.failures == 1 and sh.next_try == clock.t + 30
    assert await sh.tick(env.post) == 0 and env.posts == 1  # backing off: no read, no post
    clock.t = sh.next_try
    assert await sh.tick(env.post) == 0 and env.posts == 2 and sh.next_try == clock.t + 60
    env.down = False
    clock.t = sh.next_try
    assert await sh.tick(env.post) == 3 and sh.saved_cursor() == "s=abc;i=2"
    assert sh.failures == 0 and sh.status()["last_error"] is None


# --- a damaged cursor (issue: a corrupt logshipper-cursor stopped shipping for good) --------------


@pytest.mark.parametrize("damage", [b"\x00\xff garbage\n", b"s=abc i=3\n", b"x" * 4096])
async def test_damaged_cursor_is_discarded_and_shipping_resumes(env: Env, damage: bytes) -> None:
    write(env.journal, [entry(i) for i in range(10)])
    sh = env.shipper(batch_size=10)
    assert await sh.tick(env.post) == 10
    cursor_file = env.tmp / "state" / "logshipper-cursor"
    saved_at = 1779289200.0 + 5  # when the cursor was saved (the entries' own clock)
    cursor_file.write_bytes(damage)
    os.utime(cursor_file, (saved_at, saved_at))
    write(env.journal, [entry(i) for i in range(10)]
          + [entry(i, __REALTIME_TIMESTAMP=str(int((saved_at + 30) * 1e6) + i)) for i in range(10, 20)])
    sh = env.shipper(batch_size=10)  # a restart reads the damaged file
    sh.next_try = 0
    await sh.tick(env.post, force=True)
    msgs = [e["msg"] for e in env.received()]
    assert set(msgs) >= {f"line {i}" for i in range(20)}  # nothing after the save skipped
    assert sh.cursors_discarded == 1 and sh.saved_cursor() == "s=abc;i=13"
    assert list((env.tmp / "state").glob("logshipper-cursor.corrupt.*"))  # kept, not deleted
    sh.next_try = 0
    assert await sh.tick(env.post, force=True) == 0  # and shipping goes on normally


async def test_cursor_rejected_by_journalctl_resumes_by_time(tmp_path: Path) -> None:
    fake = tmp_path / "journalctl"
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --after-cursor=*) '
        'echo "Failed to seek to cursor: Invalid argument" >&2; exit 1;; esac; done\n'
        "echo '{\"MESSAGE\":\"after\",\"__CURSOR\":\"s=1;i=2\",\"__REALTIME_TIMESTAMP\":\"1\"}'\n"
        "echo '-- cursor: s=1;i=2'\n")
    fake.chmod(0o755)
    src = JournalctlSource(binary=str(fake))
    with pytest.raises(CursorRejected):
        await src.read("s=1;i=1", 10)
    read = await src.read(None, 10, since=1779289200.9)
    assert read.cursor == "s=1;i=2" and read.entries[0]["MESSAGE"] == "after"
    assert src.argv(None, 10, since=1779289200.9)[-1] == "--since=@1779289200"


def _hanging_journalctl(tmp_path: Path) -> tuple[Path, Path]:
    """A journalctl that writes its pid, then hangs."""
    pidfile = tmp_path / "pid"
    fake = tmp_path / "journalctl"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    fake.chmod(0o755)
    return fake, pidfile


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie not yet reaped is gone too
        return f.read().rsplit(")", 1)[1].split()[0] == "Z"


async def test_journalctl_over_its_deadline_is_killed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.logship.source as source

    monkeypatch.setattr(source, "JOURNALCTL_DEADLINE_S", 0.3)
    fake, pidfile = _hanging_journalctl(tmp_path)
    with pytest.raises(OSError, match=r"exceeded its 0\.3 s deadline"):
        await JournalctlSource(binary=str(fake)).read(None, 10)
    assert _gone(int(pidfile.read_text()))


async def test_cancelled_read_kills_journalctl(tmp_path: Path) -> None:
    import asyncio

    fake, pidfile = _hanging_journalctl(tmp_path)
    task = asyncio.ensure_future(JournalctlSource(binary=str(fake)).read(None, 10))
    for _ in range(500):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    pid = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(500):
        if _gone(pid):
            break
        await asyncio.sleep(0.01)
    assert _gone(pid)
