"""``pins``: list, clear (SSH, WinRM, Central Command TLS), reset-server-keys; the lock, the audit
line, and the re-seed marker of a corrupt server key file."""

from __future__ import annotations

import json

from agent.site.serverkeys import FILE_NAME, RESEED_MARKER, RESET_COMMAND, KeyPair, ServerKeys
from agent.transport import pins as transport_pins

from .conftest import OTHER_PUB, SERVER_PUB, Cli, audit_lines, write_pins


def test_list_shows_every_pin_and_the_server_keys_by_fingerprint(cli: Cli) -> None:
    write_pins(cli.state)
    doc = cli.json("pins", "list")
    assert [(e["host"], e["port"]) for e in doc["ssh"]] == [("pc-01", None), ("pc-02", 2222)]
    assert doc["ssh"][0]["fingerprint"].startswith("SHA256:")
    assert doc["winrm"][0]["host"] == "dc-01" and doc["winrm"][0]["sha256"] == "ab" * 32
    assert doc["server_tls"][0]["host"] == "cc.example:443"
    assert doc["server_keys"]["current"] == "fe812c12f3ab4ce6"
    assert SERVER_PUB not in json.dumps(doc)  # fingerprints, not keys
    text = cli("pins", "list")
    assert text.returncode == 0 and "pc-02:2222" in text.stdout and "dc-01" in text.stdout


def test_clear_ssh_one_port_then_nothing_left_to_clear(cli: Cli) -> None:
    write_pins(cli.state)
    r = cli("pins", "clear", "--ssh", "pc-02:2222")
    assert r.returncode == 0, r.stderr
    known = (cli.state / "ssh_known_hosts").read_text()
    assert "pc-02" not in known and known.startswith("pc-01 ")
    assert (cli.state / "ssh_known_hosts").stat().st_mode & 0o777 == 0o600
    [line] = audit_lines(r.stderr)
    assert line["event"] == "operator.pin_cleared" and line["pin_kind"] == "ssh"
    assert line["host"] == "pc-02" and line["port"] == 2222 and line["operator"]
    assert line["ts"] and line["fingerprints"][0].startswith("SHA256:")
    again = cli("pins", "clear", "--ssh", "pc-02:2222")
    assert again.returncode == 1 and "no SSH host key pin" in again.stdout
    assert audit_lines(again.stderr) == []


def test_clear_winrm_and_server(cli: Cli) -> None:
    write_pins(cli.state)
    (cli.state / "server_cert_pin.hex").write_text("ef" * 32)
    assert cli("pins", "clear", "--winrm", "dc-01").returncode == 0
    assert json.loads((cli.state / "winrm_pins.json").read_text()) == {}
    doc = cli.json("pins", "clear", "--server")
    assert doc["removed"] and doc["hosts"] == ["cc.example:443"]
    assert not (cli.state / "tls_pins.json").exists()
    assert not (cli.state / "server_cert_pin.hex").exists()
    assert (cli.state / "ssh_known_hosts").exists()  # other pins untouched


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("pins", "clear").returncode == 2
    assert cli("pins", "clear", "--ssh", "pc-01:99999").returncode == 2
    assert cli("pins", "clear", "--ssh", "pc-01", "--server").returncode == 2
    missing = Cli(cli.tmp, cli.tmp / "nope")
    assert missing("pins", "list").returncode == 2


def test_state_changes_take_the_lock(cli: Cli) -> None:
    write_pins(cli.state)
    before = {p.name: p.read_bytes() for p in cli.state.iterdir()}
    with cli.lock_held() as pid:
        for args in (("pins", "clear", "--server"), ("pins", "clear", "--ssh", "pc-01"),
                     ("pins", "reset-server-keys")):
            r = cli(*args)
            assert r.returncode == 3, (args, r.stderr)
            assert f"pid {pid}" in r.stderr and "stop the service" in r.stderr
        assert cli("pins", "list").returncode == 0  # read-only: works while the daemon runs
    after = {p.name: p.read_bytes() for p in cli.state.iterdir() if p.name != "agent.lock"}
    assert after == {k: v for k, v in before.items() if k != "agent.lock"}


def test_reset_server_keys_is_the_operator_action_that_clears_the_reseed_state(cli: Cli) -> None:
    # A corrupt key file: the agent quarantines it and leaves the re-seed marker.
    (cli.state / FILE_NAME).write_text("{not json")
    keys = ServerKeys(cli.state)
    assert keys.needs_reseed and (cli.state / RESEED_MARKER).exists()
    assert RESET_COMMAND in keys.reseed_reason()  # the alert names the real command
    assert ServerKeys(cli.state).offer(KeyPair(OTHER_PUB)) == "untrusted"  # restarts stay closed
    listed = cli("pins", "list")
    assert "NEEDS RE-SEED" in listed.stdout and RESET_COMMAND in listed.stdout
    r = cli("pins", "reset-server-keys", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["needed_reseed"] and doc["cleared_reseed_marker"] and doc["next_trust"] == "first_checkin"
    [line] = audit_lines(r.stderr)
    assert line["event"] == "operator.server_keys_reset" and line["cleared_reseed_marker"]
    assert not (cli.state / RESEED_MARKER).exists()
    fresh = ServerKeys(cli.state)
    assert not fresh.needs_reseed and fresh.offer(KeyPair(OTHER_PUB)) == "first_checkin"
    assert cli("pins", "reset-server-keys").returncode == 0  # removes the file it just wrote
    assert cli("pins", "reset-server-keys").returncode == 1  # nothing left


def test_reset_names_the_configured_key_that_will_be_trusted(cli: Cli) -> None:
    write_pins(cli.state)
    cfg = cli.tmp / "config.yaml"
    cfg.write_text(f"site_id: s\napi_key: k-123456789\nserver_public_key: {OTHER_PUB}\n"
                   f"state_dir: {cli.state}\n")
    r = cli("pins", "reset-server-keys", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "configured server_public_key" in r.stdout
    assert "k-123456789" not in r.stdout + r.stderr


def test_the_transport_names_the_real_command() -> None:
    assert transport_pins.CLEAR_COMMAND == "msp-agent pins clear --server"
    from agent.commands import pins

    assert (pins.TLS_PINS_FILE, pins.LEGACY_PIN_FILE) == (transport_pins.PINS_NAME,
                                                          transport_pins.LEGACY_PIN_NAME)
    assert "pins clear --server" in (transport_pins.__doc__ or "")


def test_an_unreadable_pin_file_tells_the_operator_the_command(cli: Cli) -> None:
    import pytest

    (cli.state / "tls_pins.json").write_text("{garbled")
    store = transport_pins.PinStore(cli.state)
    with pytest.raises(transport_pins.PinMismatch) as info:
        store.check("cc.example:443", [])
    assert "msp-agent pins clear --server" in str(info.value)
    assert cli("pins", "list").returncode == 1  # the list reports the problem
    assert cli("pins", "clear", "--server").returncode == 0
    assert not (cli.state / "tls_pins.json").exists()
