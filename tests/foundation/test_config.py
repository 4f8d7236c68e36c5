"""Config loading per runtime.md §2: types, defaults, clamps, overrides, errors, masking."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from tests.conftest import clean_env, run_agent

from agent.config import KEYS, Config, ConfigError, load_config, parse_config, reload_diff
from agent.config.load import kind_of
from agent.config.render import effective_lines

BASE = "site_id: clinic-1\napi_key: key-abcdefgh-1234\n"


def cfg(text: str = "", env: dict[str, str] | None = None, **kw: object) -> Config:
    return parse_config(BASE + text, environ=env or {}, **kw).config  # type: ignore[arg-type]


def err(text: str, env: dict[str, str] | None = None, base: str = BASE) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(base + text, environ=env or {})
    return info.value


# --- defaults and every key -----------------------------------------------------------


def test_defaults_match_runtime_spec() -> None:
    c = cfg()
    assert c.api_endpoint == "https://api.osiriscare.net"
    assert c.poll_interval == 60
    assert c.enable_drift_detection and c.enable_evidence_upload and c.enable_l1_sync
    assert c.healing_enabled and not c.healing_dry_run and c.l2_enabled
    assert c.l2_api_timeout == 30 and c.l2_daily_budget_usd == 10.0
    assert c.l2_max_calls_per_hour == 60 and c.l2_max_concurrent_calls == 3
    assert "restart_service" in c.l2_allowed_actions and "escalate" in c.l2_allowed_actions
    assert c.state_dir == "/var/lib/msp" and c.log_level == "INFO"
    assert c.workstation_enabled and c.domain_controller is None and c.dc_password is None
    assert (c.worm_enabled, c.worm_mode, c.worm_retention_days, c.worm_auto_upload) == \
        (False, "proxy", 90, True)
    assert c.grpc_port == 50051 and c.ca_dir == "/var/lib/msp/ca"
    assert not c.use_go_daemon and c.ad_dns_server is None and not c.require_signed_rules
    assert c.tls_pin_hash is None and c.tls_pins == ()
    assert not c.grpc_hub_enabled and c.phi_hash_mode == "hmac" and c.rules_sync_interval == 3600
    assert (c.heal_concurrency, c.heal_max_per_host_per_hour, c.heal_max_per_hour) == (2, 6, 60)
    assert (c.scan_interval_s, c.scan_rescan_s, c.netscan_interval_s) == (900, 300, 180)
    assert c.scan_concurrency == 8
    assert (c.scan_host_timeout_windows_s, c.scan_host_timeout_linux_s,
            c.scan_host_timeout_macos_s, c.scan_round_deadline_s) == (120, 180, 240, 600)
    assert (c.l2_queue_wait_s, c.l2_cost_per_call_usd, c.l2_price_input_per_mtok,
            c.l2_price_output_per_mtok, c.l2_dry_run_plans) == (5, 0.02, 0.80, 4.00, False)
    assert (c.ssh_per_host_concurrency, c.ssh_max_concurrency, c.ssh_pool_size,
            c.ssh_conn_max_age_s) == (2, 12, 64, 300)
    assert (c.winrm_per_host_concurrency, c.winrm_max_concurrency, c.winrm_script_transfer) == \
        (2, 6, "stdin")
    assert c.local_max_concurrency == 4 and c.log_format == "json" and c.shutdown_timeout_s == 20


SAMPLE = {"bool": ("off", False), "int": ("7", 7), "float": ("2.5", 2.5),
          "string": ("value-x", "value-x"), "list": ("[a, b]", ("a", "b"))}
CHOICE_VALUE = {"log_level": "DEBUG", "log_format": "text", "phi_hash_mode": "sha256",
                "winrm_script_transfer": "tempfile", "state_dir": "/srv/msp",
                "api_endpoint": "https://cc.example.org", "tls_pin_hash": "ab" * 32,
                "server_public_key": "cd" * 32, "phi_hash_key": "ef" * 16,
                "metrics_textfile": "/var/lib/node_exporter/msp_agent.prom",
                "release_public_key": "12" * 32, "download_ca_file": "/etc/msp/ca.pem",
                "appliance_backup_unit": "restic-backups-daily"}


@pytest.mark.parametrize("key", [k for k in KEYS if k not in ("site_id", "api_key")])
def test_every_key_is_read_with_its_type(key: str) -> None:
    kind = kind_of(key)
    text, expected = SAMPLE[kind]
    if kind == "int":
        info = KEYS[key]
        value = 7 if info.lo is None or info.lo < 7 else int(info.lo) + 1
        assert info.hi is None or value <= info.hi
        text, expected = str(value), value
    if key in CHOICE_VALUE:
        text = expected = CHOICE_VALUE[key]
    c = cfg(f"{key}: {text}\n")
    assert getattr(c, key) == expected


@pytest.mark.parametrize("key", [k for k in KEYS if k not in ("site_id", "api_key")])
def test_every_key_rejects_a_wrong_type_naming_the_key(key: str) -> None:
    kind = kind_of(key)
    bad = {"bool": "maybe", "int": '"12"', "float": "twelve", "string": "[a, b]",
           "list": "just-a-scalar"}[kind]
    e = err(f"{key}: {bad}\n")
    assert e.key == key
    assert str(e).startswith(f"config: {key}: ")


def test_null_and_absent_give_defaults() -> None:
    c = cfg("poll_interval: ~\nhealing_enabled: null\nl2_allowed_actions:\nlog_level:\n")
    assert c.poll_interval == 60 and c.healing_enabled is True
    assert c.l2_allowed_actions == Config.__struct_defaults__[
        Config.__struct_fields__.index("l2_allowed_actions") - 2]
    assert c.log_level == "INFO"


def test_empty_allowlist_means_nothing_allowed() -> None:
    assert cfg("l2_allowed_actions: []\n").l2_allowed_actions == ()


# --- typed decoding like yaml.v3 ------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("False", False), ("yes", True), ("NO", False), ("on", True), ("off", False),
    ("y", True), ("n", False), ('"yes"', True), ("'off'", False),
])
def test_bool_spellings(text: str, expected: bool) -> None:
    assert cfg(f"healing_enabled: {text}\n").healing_enabled is expected


@pytest.mark.parametrize("text,expected", [("60", 60), ("60.0", 60), ("1e2", 100), ("0x40", 64),
                                           ("1_000", 1000), ("+30", 30)])
def test_int_accepts_integers_and_whole_floats(text: str, expected: int) -> None:
    assert cfg(f"poll_interval: {text}\n").poll_interval == expected


@pytest.mark.parametrize("text", ['"60"', "'60'", "1.5", "yes", "sixty", "[60]", "{a: 1}"])
def test_int_rejects(text: str) -> None:
    assert err(f"poll_interval: {text}\n").key == "poll_interval"


def test_float_accepts_int_and_float() -> None:
    assert cfg("l2_daily_budget_usd: 12\n").l2_daily_budget_usd == 12.0
    assert isinstance(cfg("l2_daily_budget_usd: 12\n").l2_daily_budget_usd, float)
    assert err('l2_daily_budget_usd: "12"\n').key == "l2_daily_budget_usd"


def test_strings_take_scalar_text_verbatim() -> None:
    c = parse_config(
        "site_id: 12345\napi_key: 0x1F\ndomain_controller: yes\nworm_mode: 1.50\n",
        environ={}).config
    assert c.site_id == "12345" and c.api_key == "0x1F"
    assert c.domain_controller == "yes" and c.worm_mode == "1.50"


def test_list_rejects_bare_scalar_and_nested() -> None:
    assert err("l2_allowed_actions: restart_service\n").key == "l2_allowed_actions"
    assert err("l2_allowed_actions: [[a]]\n").key == "l2_allowed_actions"


def test_unknown_keys_ignored_and_listed_strict_rejects() -> None:
    text = BASE + "appliance_id: x\nssh_authorized_keys: [a]\nnested: {a: 1}\n"
    loaded = parse_config(text, environ={})
    assert loaded.unknown_keys == ("appliance_id", "ssh_authorized_keys", "nested")
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={}, strict=True)
    assert info.value.key == "appliance_id"


# --- required keys and validation -----------------------------------------------------


@pytest.mark.parametrize("text,key", [
    ("api_key: k\n", "site_id"), ("site_id: s\n", "api_key"), ("site_id: ''\napi_key: k\n", "site_id"),
    ("site_id: s\napi_key: '  '\n", "api_key"), ("site_id: s\napi_key: ~\n", "api_key"),
])
def test_required_keys(text: str, key: str) -> None:
    assert err(text, base="").key == key


@pytest.mark.parametrize("url,ok", [
    ("https://cc.example.org", True), ("https://cc.example.org:8443/base", True),
    ("http://127.0.0.1:8080", True), ("http://localhost:1", True), ("http://[::1]:80", True),
    ("http://cc.example.org", False), ("http://10.0.0.1", False), ("ftp://x", False),
    ("not a url", False), ("https://", False),
])
def test_api_endpoint_scheme(url: str, ok: bool) -> None:
    if ok:
        assert cfg(f"api_endpoint: '{url}'\n").api_endpoint == url
    else:
        assert err(f"api_endpoint: '{url}'\n").key == "api_endpoint"


@pytest.mark.parametrize("key,value", [("log_level", "VERBOSE"), ("log_format", "xml"),
                                       ("phi_hash_mode", "md5"), ("winrm_script_transfer", "smb"),
                                       ("tls_pin_hash", "abc"), ("state_dir", "relative/path"),
                                       ("server_public_key", "not-a-key"),
                                       ("phi_hash_key", "abcd")])
def test_invalid_values_name_the_key(key: str, value: str) -> None:
    assert err(f"{key}: {value}\n").key == key


def test_multiple_pins() -> None:
    pins = f"{'AB' * 32}, {'cd' * 32}"
    assert cfg(f"tls_pin_hash: '{pins}'\n").tls_pins == ("ab" * 32, "cd" * 32)


@pytest.mark.parametrize("value,expected", [(5, 10), (1, 10), (0, 10), (-5, 10), (3600, 3600),
                                            (86400, 3600)])
def test_poll_interval_clamped_10_3600(value: int, expected: int) -> None:
    loaded = parse_config(BASE + f"poll_interval: {value}\n", environ={})
    assert loaded.config.poll_interval == expected
    assert bool(loaded.warnings) == (value != expected)


def test_out_of_range_clamped_with_warning_negative_rejected() -> None:
    loaded = parse_config(BASE + "scan_concurrency: 1000\nscan_interval_s: 10\n", environ={})
    assert loaded.config.scan_concurrency == 64 and loaded.config.scan_interval_s == 300
    assert any("scan_concurrency" in w for w in loaded.warnings)
    assert err("scan_concurrency: -3\n").key == "scan_concurrency"
    assert err("l2_daily_budget_usd: .nan\n").key == "l2_daily_budget_usd"


@pytest.mark.parametrize("text,message", [
    ("", "empty"), ("- a\n- b\n", "mapping"), ("site_id: [\n", "not valid YAML"),
    ("site_id: a\nsite_id: b\napi_key: k\n", "defined twice"),
])
def test_malformed_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={})
    assert message in str(info.value)


def test_errors_never_contain_secret_values() -> None:
    secret = "sk-live-SECRET-VALUE-9999"
    for text in (f"site_id: s\napi_key: {secret}\npoll_interval: [1]\n",
                 f"site_id: s\napi_key: [{secret}]\n",
                 f"site_id: s\napi_key: k\ndc_password: {{a: {secret}}}\n"):
        with pytest.raises(ConfigError) as info:
            parse_config(text, environ={})
        assert secret not in str(info.value)


# --- environment and flags ------------------------------------------------------------


@pytest.mark.parametrize("raw,expected", [("false", False), (" 0 ", False), ("No", False),
                                          ("true", True), ("1", True), ("anything", True)])
def test_env_bool_overrides(raw: str, expected: bool) -> None:
    c = cfg("healing_dry_run: true\nl2_enabled: true\n",
            env={"HEALING_DRY_RUN": raw, "L2_ENABLED": raw})
    assert c.healing_dry_run is expected and c.l2_enabled is expected


def test_env_empty_values_ignored() -> None:
    c = cfg("healing_dry_run: true\n", env={"HEALING_DRY_RUN": " ", "STATE_DIR": ""})
    assert c.healing_dry_run is True and c.state_dir == "/var/lib/msp"


def test_env_state_dir_log_level_format() -> None:
    loaded = parse_config(BASE, environ={"STATE_DIR": "/tmp/x", "LOG_LEVEL": "debug",
                                         "MSP_AGENT_LOG_FORMAT": "text"})
    c = loaded.config
    assert (c.state_dir, c.log_level, c.log_format) == ("/tmp/x", "DEBUG", "text")
    assert loaded.overrides["state_dir"] == "env:STATE_DIR"


def test_env_bad_value_is_a_config_error() -> None:
    assert err("", env={"LOG_LEVEL": "loud"}).key == "log_level"


def test_precedence_flag_over_env_over_file() -> None:
    text = BASE + "state_dir: /from/file\n"
    assert parse_config(text, environ={}).config.state_dir == "/from/file"
    assert parse_config(text, environ={"STATE_DIR": "/from/env"}).config.state_dir == "/from/env"
    flagged = parse_config(text, environ={"STATE_DIR": "/from/env"},
                           flags={"state_dir": "/from/flag"})
    assert flagged.config.state_dir == "/from/flag" and flagged.overrides["state_dir"] == "flag"


# --- display and reload ---------------------------------------------------------------


def test_effective_lines_mask_secrets() -> None:
    loaded = parse_config("site_id: s\napi_key: abcdefgh12345678\ndc_password: hunter2-pass-XYZ9\n"
                          "phi_hash_key: 00112233445566778899aabbccddeeff\nextra: 1\n", environ={})
    text = "\n".join(effective_lines(loaded))
    assert "abcdefgh12345678" not in text and "hunter2-pass-XYZ9" not in text
    assert "00112233445566778899aabbccddeeff" not in text
    assert "api_key: ****5678" in text and "dc_password: ****XYZ9" in text
    assert "unknown key (ignored): extra" in text


def test_reload_diff_splits_hot_and_restart_keys() -> None:
    old = cfg()
    new = msgspec.structs.replace(old, poll_interval=30, site_id="other", log_level="DEBUG",
                                  api_endpoint="https://x.example")
    applied, restart = reload_diff(old, new)
    assert applied == ["poll_interval", "log_level"]
    assert restart == ["site_id", "api_endpoint"]


def test_go_daemon_config_file_reads_unchanged(tmp_path: Path) -> None:
    """A config.yaml as Central Command provisions it for the Go daemon."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "# provisioned by Central Command\n"
        "site_id: lakeside-pediatrics\n"
        "api_key: 'ck_live_0123456789abcdef'\n"
        "api_endpoint: https://api.osiriscare.net\n"
        "appliance_id: lakeside-pediatrics-52:54:00:AB:CD:EF\n"
        "poll_interval: 60\n"
        "healing_enabled: yes\n"
        "healing_dry_run: no\n"
        "l2_enabled: true\n"
        "domain_controller: dc01.lakeside.local\n"
        "dc_username: LAKESIDE\\svc-msp\n"
        "dc_password: 'P@ss w0rd!'\n"
        "worm_enabled: false\n"
        "use_go_daemon: true\n"
        "ssh_authorized_keys:\n  - ssh-ed25519 AAAA... ops@msp\n",
    )
    loaded = load_config(path, environ={})
    c = loaded.config
    assert c.site_id == "lakeside-pediatrics" and c.dc_username == "LAKESIDE\\svc-msp"
    assert c.dc_password == "P@ss w0rd!" and c.healing_enabled and not c.healing_dry_run
    assert set(loaded.unknown_keys) == {"appliance_id", "ssh_authorized_keys"}


# --- the check-config command ---------------------------------------------------------


def test_check_config_cli_valid_and_invalid(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("site_id: s\napi_key: supersecretvalue-7777\nfoo: 1\n")
    r = run_agent("check-config", str(good))
    assert r.returncode == 0, r.stderr
    assert "supersecretvalue-7777" not in r.stdout and "****7777" in r.stdout
    assert "unknown key (ignored): foo" in r.stdout
    assert run_agent("check-config", "--strict", str(good)).returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("site_id: s\napi_key: supersecretvalue-7777\npoll_interval: often\n")
    r = run_agent("check-config", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "msp-agent: config: poll_interval: expected an integer"]
    missing = run_agent("check-config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_check_config_uses_env_path_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("site_id: s\napi_key: k-123456789\n")
    r = run_agent("check-config", "--json", env=clean_env(MSP_AGENT_CONFIG=str(path),
                                                           HEALING_DRY_RUN="yes"))
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    assert doc["config"]["healing_dry_run"] is True
    assert doc["overrides"] == {"healing_dry_run": "env:HEALING_DRY_RUN"}
    assert doc["config"]["api_key"] == "****6789"
