"""One exit-code contract for every command (runtime.md §8), command by command, as subprocesses:
0 success, 1 failure, 2 usage or configuration error or unusable input, 3 lock held / daemon not
running. The global options are accepted before and after every command, and a bad option after a
command prints that command's usage."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.conftest import Install, run_agent

from agent.central import CentralCommand
from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.state import StateDir, load_or_create

# Every command with the arguments of a harmless invocation (for the option tests).
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("run", "--once"),
    "demo": ("demo",),
    "status": ("status",),
    "keygen": ("keygen", "--show"),
    "check-config": ("check-config",),
    "scrub": ("scrub",),
    "verify-orders": ("verify-orders", "x.json"),
    "evidence export": ("evidence", "export", "x.jsonl"),
    "evidence purge-exported": ("evidence", "purge-exported"),
    "evidence verify": ("evidence", "verify"),
    "version": ("version",),
}


@contextlib.contextmanager
def lock_held(state: Path) -> Iterator[None]:
    """The state directory's lock held (by this process) as a running daemon holds it."""
    held = StateDir(state)
    held.open()
    try:
        yield
    finally:
        held.close()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_bad_option_prints_the_commands_usage_and_exits_2(name: str) -> None:
    r = run_agent(*COMMANDS[name], "--no-such-option")
    assert r.returncode == 2
    assert r.stderr.startswith(f"usage: msp-agent {name} "), r.stderr
    assert f"msp-agent {name}: error: unrecognized arguments: --no-such-option" in r.stderr
    bad = run_agent(*COMMANDS[name], "--log-format", "xml")
    assert bad.returncode == 2 and bad.stderr.startswith(f"usage: msp-agent {name} ")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_global_options_are_accepted_before_and_after_every_command(name: str) -> None:
    from agent.cli import build_parser

    parser = build_parser()
    glob = ["--config", "/c.yaml", "--state-dir", "/s", "--log-level", "debug", "--log-format",
            "text"]
    words = list(COMMANDS[name])
    for argv in (glob + words, words + glob):
        args = parser.parse_args(argv)
        assert (args.config, args.state_dir, args.log_level, args.log_format) == \
            ("/c.yaml", "/s", "DEBUG", "text"), argv


def test_global_options_after_scrub_and_verify_orders_as_subprocesses(tmp_path: Path) -> None:
    r = run_agent("scrub", "--config", str(tmp_path / "none.yaml"), "--state-dir", str(tmp_path),
                  "--log-level", "INFO", "--log-format", "json", input="hello\n")
    assert r.returncode == 0 and r.stdout == "hello\n", r.stderr
    r = run_agent("verify-orders", str(tmp_path / "missing.json"), "--state-dir", str(tmp_path),
                  "--log-level", "INFO")
    assert r.returncode == 2 and "missing.json" in r.stderr and "usage" not in r.stderr


def test_no_command_and_an_unknown_command_exit_2() -> None:
    assert run_agent().returncode == 2
    r = run_agent("no-such-command")
    assert r.returncode == 2 and r.stderr.startswith("usage: msp-agent [-h]")


# --- run --------------------------------------------------------------------------------------

@pytest.fixture
async def central(tmp_path: Path) -> AsyncIterator[tuple[CentralCommand, str]]:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    cc.create_site("test-site")
    yield cc, cc.create_api_key("test-site")
    await cc.stop()
    cc.close()


async def test_run(install: Install, central: tuple[CentralCommand, str]) -> None:
    cc, key = central
    install.write_config(api_key=key, api_endpoint=cc.url)
    r = await asyncio.to_thread(run_agent, "run", "--once", "--config", str(install.config))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr  # the checkin succeeded
    cc.inject_fault("/api/appliances/checkin", status=503, body=b"down")
    r = await asyncio.to_thread(run_agent, "run", "--once", "--config", str(install.config))
    assert r.returncode == 1  # the checkin failed
    assert any(json.loads(line)["event"] == "agent.once_failed" for line in r.stdout.splitlines())
    with lock_held(install.state):
        r = await asyncio.to_thread(run_agent, "run", "--once", "--config", str(install.config))
    assert r.returncode == 3 and "holds the state directory" in r.stderr
    install.config.write_text(f"site_id: s\nstate_dir: {install.state}\npoll_interval: x\n")
    r = await asyncio.to_thread(run_agent, "run", "--once", "--config", str(install.config))
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["msp-agent: config: poll_interval: expected an integer",
                                     "msp-agent: config: api_key: is required and must not be "
                                     "empty"]


# --- status -----------------------------------------------------------------------------------

def test_status_not_running_is_3_even_with_a_broken_config(install: Install) -> None:
    r = run_agent("status", "--config", str(install.config))
    assert r.returncode == 3 and "not running" in r.stdout
    install.config.write_text(install.config.read_text() + "poll_interval: [1]\n")
    r = run_agent("status", "--config", str(install.config))
    assert r.returncode == 3, r.stderr
    assert "WARNING the config file on disk is invalid" in r.stdout


# --- keygen -----------------------------------------------------------------------------------

def test_keygen(install: Install) -> None:
    r = run_agent("keygen", "--config", str(install.config))
    assert r.returncode == 0 and "identity fingerprint" in r.stdout
    with lock_held(install.state):
        r = run_agent("keygen", "--config", str(install.config))
    assert r.returncode == 3 and "stop the service first" in r.stderr
    (install.state / "keys" / "signing.key").write_bytes(b"not a key")
    r = run_agent("keygen", "--show", "--config", str(install.config))
    assert r.returncode == 1 and r.stderr
    install.config.write_text("site_id: s\n")
    assert run_agent("keygen", "--config", str(install.config)).returncode == 2


# --- check-config -----------------------------------------------------------------------------

def test_check_config_reports_every_error_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("site_id: s\napi_key: k-123456789\n")
    assert run_agent("check-config", str(path)).returncode == 0
    path.write_text("site_id: s\npoll_interval: often\nhealing_enabled: maybe\nlog_level: LOUD\n"
                    "api_endpoint: http://example.com\nextra_key: 1\nsite_id: t\n")
    r = run_agent("check-config", "--strict", str(path))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "msp-agent: config: site_id: defined twice (line 7)",
        "msp-agent: config: poll_interval: expected an integer",
        "msp-agent: config: healing_enabled: expected a boolean (true/false, yes/no, on/off, y/n)",
        "msp-agent: config: extra_key: unknown key (--strict)",
        "msp-agent: config: api_key: is required and must not be empty",
        "msp-agent: config: log_level: must be one of DEBUG, INFO, WARNING, WARN, ERROR",
        "msp-agent: config: api_endpoint: must use https:// (http:// only to a loopback address)",
        f"msp-agent: {path}: invalid (7 problems)",
    ]
    assert run_agent("check-config", str(tmp_path / "nope.yaml")).returncode == 2


# --- version, scrub, verify-orders ------------------------------------------------------------

def test_version() -> None:
    assert run_agent("version").returncode == 0


def test_scrub(tmp_path: Path) -> None:
    assert run_agent("scrub", input="plain text\n").returncode == 0
    r = run_agent("scrub", "/nonexistent")
    assert r.returncode == 2 and "No such file or directory" in r.stderr
    r = run_agent("scrub", "--key-file", str(tmp_path / "missing.key"), input="x\n")
    assert r.returncode == 2 and "key file" in r.stderr
    r = run_agent("scrub", "--json", input="not json\n")
    assert r.returncode == 1 and "not valid JSON" in r.stderr
    r = run_agent("scrub", "--json", "--report", input="x\n")
    assert r.returncode == 2


def test_verify_orders(shared: Path, tmp_path: Path) -> None:
    vectors = shared / "vectors" / "orders.json"
    assert run_agent("verify-orders", str(vectors), "-q").returncode == 0
    doc = json.loads(vectors.read_text())
    doc["cases"][0]["steps"][0]["expected_verdict"] = "reject:no-such-verdict"
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(doc))
    assert run_agent("verify-orders", str(wrong), "-q").returncode == 1
    unusable = tmp_path / "unusable.json"
    unusable.write_text("not json")
    assert run_agent("verify-orders", str(unusable)).returncode == 2


# --- evidence export / purge-exported / verify -----------------------------------------------

def test_evidence_tools(install: Install, tmp_path: Path) -> None:
    install.state.mkdir(mode=0o700)
    keys = load_or_create(install.state)
    store = EvidenceStore(install.state, Ed25519Key(bytes(keys.evidence)), "test-site",
                          limits=Limits(min_free_bytes=0))
    store.record_scan(ScanResult("linux", "2026-05-20T15:00:00Z", ["192.168.88.20"],
                                 [CheckResult("linux_firewall", "192.168.88.20", "pass")]))
    cfg = ("--config", str(install.config))
    dest = tmp_path / "export.jsonl"
    assert run_agent("evidence", "purge-exported", *cfg).returncode == 1  # nothing exported yet
    assert run_agent("evidence", "export", str(tmp_path), *cfg).returncode == 2  # a directory
    assert run_agent("evidence", "export", str(dest), *cfg).returncode == 0
    assert run_agent("evidence", "verify", *cfg).returncode == 0
    assert run_agent("evidence", "verify", str(dest), *cfg).returncode == 0
    with lock_held(install.state):
        assert run_agent("evidence", "export", str(dest), *cfg).returncode == 3
        assert run_agent("evidence", "purge-exported", *cfg).returncode == 3
    assert run_agent("evidence", "verify", str(tmp_path / "missing"), *cfg).returncode == 2
