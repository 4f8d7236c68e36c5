"""State directory per runtime.md §3: atomic writes, lock, key files and their adoption."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from tests.conftest import clean_env, run_agent

from agent.state import (
    KeyFileError,
    LockHeld,
    StateDir,
    StateLock,
    atomic_write,
    load_or_create,
    remove_stale_temp,
)
from agent.state.keys import fingerprint


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# --- atomic writes --------------------------------------------------------------------


def test_atomic_write_replaces_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one" and mode(target) == 0o600
    atomic_write(target, b"two", 0o644)
    assert target.read_bytes() == b"two" and mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_atomic_write_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0o777)
    try:
        atomic_write(tmp_path / "k", b"x", 0o600)
    finally:
        os.umask(old)
    assert mode(tmp_path / "k") == 0o600


KILLER = textwrap.dedent("""
    import os, signal, sys
    from agent.state import atomic as a
    point = sys.argv[2]
    real_rename, real_fsync = os.rename, os.fsync
    def rename(src, dst):
        if point == "before-rename":
            os.kill(os.getpid(), signal.SIGKILL)
        real_rename(src, dst)
        if point == "after-rename":
            os.kill(os.getpid(), signal.SIGKILL)
    def fsync(fd):
        if point == "before-fsync":
            os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)
    a.os.rename = rename
    a.os.fsync = fsync
    a.atomic_write(sys.argv[1], b"NEW" * 100000)
""")


@pytest.mark.parametrize("point,expected", [("before-fsync", b"OLD"), ("before-rename", b"OLD"),
                                            ("after-rename", b"NEW" * 100000)])
def test_atomic_write_survives_kill(tmp_path: Path, point: str, expected: bytes) -> None:
    """A child killed mid-write leaves the old or the new file, never a partial one."""
    target = tmp_path / "daemon_state.json"
    atomic_write(target, b"OLD")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(target), point], env=clean_env(),
                          capture_output=True, timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.read_bytes() == expected
    leftovers = [p for p in tmp_path.iterdir() if p.name != target.name]
    if point != "after-rename":
        assert len(leftovers) == 1 and ".tmp." in leftovers[0].name
    removed = remove_stale_temp(tmp_path)
    assert sorted(removed) == sorted(leftovers)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# --- lock -----------------------------------------------------------------------------


HOLDER = textwrap.dedent("""
    import sys, time
    from agent.state import StateLock
    lock = StateLock(sys.argv[1]); lock.acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def test_flock_excludes_a_second_process(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], env=clean_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as info:
            StateLock(tmp_path).acquire()
        assert info.value.pid == holder.pid
        assert f"pid {holder.pid}" in str(info.value)
        assert mode(tmp_path / "agent.lock") == 0o600
    finally:
        holder.kill()
        holder.wait()
    # The kernel released it with the process.
    lock = StateLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "agent.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_second_run_exits_3_naming_the_holder(install) -> None:  # type: ignore[no-untyped-def]
    install.state.mkdir(mode=0o700)
    lock = StateLock(install.state)
    lock.acquire()
    try:
        r = run_agent("run", "--config", str(install.config))
    finally:
        lock.release()
    assert r.returncode == 3
    assert f"another instance (pid {os.getpid()}) holds the state directory" in r.stderr


def test_statedir_fixes_mode_and_cleans_temp(tmp_path: Path) -> None:
    root = tmp_path / "msp"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    (root / ".daemon_state.json.tmp.abc123").write_text("partial")
    sd = StateDir(root)
    sd.open()
    try:
        assert mode(root) == 0o700
        assert not (root / ".daemon_state.json.tmp.abc123").exists()
        assert any("0755" in n for n in sd.notes)
    finally:
        sd.close()


# --- keys -----------------------------------------------------------------------------


def test_keygen_creates_all_keys_with_modes(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path)
    assert set(keys.created) == {"agent.key", "agent.pub", "agent.fingerprint", "keys/signing.key",
                                 "encryption_keypair.json", "phi_hash.key"}
    for name in ("agent.key", "keys/signing.key", "encryption_keypair.json", "phi_hash.key"):
        assert mode(tmp_path / name) == 0o600, name
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "agent.pub") == 0o644
    seed_text = (tmp_path / "agent.key").read_text()
    assert len(seed_text) == 65 and seed_text.endswith("\n") and seed_text == seed_text.lower()
    assert len((tmp_path / "keys/signing.key").read_bytes()) == 32
    pair = json.loads((tmp_path / "encryption_keypair.json").read_text())
    assert bytes(PrivateKey(bytes.fromhex(pair["private_key"])).public_key).hex() == pair["public_key"]
    again = load_or_create(tmp_path)
    assert again.created == [] and again.repaired == []
    assert again.identity_public_hex == keys.identity_public_hex
    assert again.phi_hash_key == keys.phi_hash_key


def go_install(root: Path, shared: Path) -> dict[str, bytes]:
    """Write a Go daemon's key files from the shared vectors; return their bytes."""
    sig = json.loads((shared / "vectors/sigauth.json").read_text())["identity_key"]
    hb = json.loads((shared / "vectors/heartbeat.json").read_text())["evidence_key"]
    env = json.loads((shared / "vectors/envelope.json").read_text())["appliance_key"]
    (root / "keys").mkdir(parents=True)
    files = {
        "agent.key": sig["agent_key_file_content"].replace("\\n", "\n").encode(),
        "keys/signing.key": bytes.fromhex(hb["seed_hex"]),
        "encryption_keypair.json": json.dumps(env["encryption_keypair_json"]).encode(),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
        os.chmod(root / name, 0o600)
    return files


def test_adopts_go_key_files_without_rewriting(tmp_path: Path, shared: Path) -> None:
    files = go_install(tmp_path, shared)
    sig = json.loads((shared / "vectors/sigauth.json").read_text())["identity_key"]
    hb = json.loads((shared / "vectors/heartbeat.json").read_text())["evidence_key"]
    env = json.loads((shared / "vectors/envelope.json").read_text())["appliance_key"]
    keys = load_or_create(tmp_path)
    assert keys.identity_public_hex == sig["public_key_hex"]
    assert keys.identity_fingerprint == sig["fingerprint"]
    assert keys.evidence_public_hex == hb["public_key_hex"]
    assert keys.envelope_public_hex == env["public_key_hex"]
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data, f"{name} was rewritten"
    assert (tmp_path / "agent.pub").read_text() == sig["public_key_hex"] + "\n"
    assert (tmp_path / "agent.fingerprint").read_text() == sig["fingerprint"] + "\n"
    assert set(keys.created) == {"agent.pub", "agent.fingerprint", "phi_hash.key"}


def test_identity_key_with_whitespace_and_wrong_pub_is_repaired(tmp_path: Path) -> None:
    key = SigningKey(bytes(range(32, 64)))
    (tmp_path / "agent.key").write_text("  " + bytes(key).hex().upper() + "\r\n\n")
    (tmp_path / "agent.pub").write_text("00" * 32 + "\n")
    keys = load_or_create(tmp_path)
    assert keys.identity_public_hex == bytes(key.verify_key).hex()
    assert "agent.pub" in keys.repaired
    assert (tmp_path / "agent.fingerprint").read_text().strip() == fingerprint(bytes(key.verify_key))


@pytest.mark.parametrize("content", [b"", b"not-hex", b"ab" * 31 + b"\n", b"zz" * 32])
def test_malformed_identity_key_refuses(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "agent.key").write_bytes(content)
    with pytest.raises(KeyFileError, match=r"agent\.key is malformed"):
        load_or_create(tmp_path)
    assert (tmp_path / "agent.key").read_bytes() == content  # never replaced


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_size_evidence_key_refuses(tmp_path: Path, size: int) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/signing.key").write_bytes(b"k" * size)
    with pytest.raises(KeyFileError, match="exactly 32 bytes"):
        load_or_create(tmp_path)
    assert (tmp_path / "keys/signing.key").read_bytes() == b"k" * size


def test_corrupt_envelope_keypair_is_quarantined_and_regenerated(tmp_path: Path) -> None:
    (tmp_path / "encryption_keypair.json").write_text('{"public_key": "x", "priv')
    keys = load_or_create(tmp_path)
    assert "encryption_keypair.json" in keys.created and keys.warnings
    corrupt = list(tmp_path.glob("encryption_keypair.json.corrupt.*"))
    assert len(corrupt) == 1 and corrupt[0].read_text().startswith('{"public_key": "x"')
    pair = json.loads((tmp_path / "encryption_keypair.json").read_text())
    assert pair["public_key"] == keys.envelope_public_hex


def test_loose_key_modes_are_tightened(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    os.chmod(tmp_path / "agent.key", 0o644)
    os.chmod(tmp_path / "keys/signing.key", 0o666)
    load_or_create(tmp_path)
    assert mode(tmp_path / "agent.key") == 0o600
    assert mode(tmp_path / "keys/signing.key") == 0o600


def test_run_refuses_malformed_identity_with_exit_1(install) -> None:  # type: ignore[no-untyped-def]
    install.state.mkdir(mode=0o700)
    (install.state / "agent.key").write_text("garbage\n")
    r = run_agent("run", "--once", "--config", str(install.config))
    assert r.returncode == 1
    assert "agent.key is malformed" in r.stderr
    assert (install.state / "agent.key").read_text() == "garbage\n"


def test_keygen_cli(install, shared: Path) -> None:  # type: ignore[no-untyped-def]
    go_install(install.state, shared)
    sig = json.loads((shared / "vectors/sigauth.json").read_text())["identity_key"]
    r = run_agent("keygen", "--json", "--config", str(install.config))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["identity_fingerprint"] == sig["fingerprint"]
    assert "agent.key" not in doc["created"]
    show = run_agent("keygen", "--show", "--state-dir", str(install.state))
    assert show.returncode == 0 and sig["public_key_hex"] in show.stdout
    for secret in (sig["seed_hex"],):
        assert secret not in r.stdout + show.stdout
    empty = run_agent("keygen", "--show", "--state-dir", str(install.root / "none"))
    assert empty.returncode == 1 and "keygen" in empty.stderr
