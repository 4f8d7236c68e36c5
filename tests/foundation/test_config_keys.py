"""Each config key is described once (runtime.md §2): its declaration in ``Config`` drives it all.

The tests are generated from :data:`agent.config.KEYS`, so a new key, or a changed rule, is
covered without being listed here; a few hand-written spot checks pin today's behaviour. The last
section checks the places outside ``agent.config`` that still spell key facts out (the CLI's
choices, the runtime's secret registration, the test environment) against the declarations.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import typing
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from tests.conftest import ROOT, clean_env, run_agent

from agent.config import KEYS, SECRET_KEYS, Config, ConfigError, Loaded, parse_config, reload_diff
from agent.config.render import as_masked_dict, effective_lines
from agent.config.schema import Key, KeyInfo, _describe
from agent.log import mask

BASE = "site_id: clinic-1\napi_key: key-abcdefgh-1234\n"
NUMBERS = [k for k, info in KEYS.items() if info.kind in ("int", "float")]
ENUMS = [k for k, info in KEYS.items() if info.choices]
ENV_KEYS = [k for k, info in KEYS.items() if info.env]
REQUIRED = [k for k, info in KEYS.items() if info.required]


def load(text: str = "", *, base: str = BASE, **kw: Any) -> Loaded:
    kw.setdefault("environ", {})
    return parse_config(base + text, **kw)


def error(text: str, *, base: str = BASE, **kw: Any) -> ConfigError:
    """The error of a config that must be refused: one line that names a key."""
    with pytest.raises(ConfigError) as info:
        load(text, base=base, **kw)
    assert "\n" not in str(info.value)
    return info.value


def number(info: KeyInfo, value: float) -> int | float:
    return int(value) if info.kind == "int" else float(value)


# --- the declarations themselves ------------------------------------------------------


def test_every_field_has_exactly_one_key_descriptor() -> None:
    fields = msgspec.structs.fields(Config)
    assert list(KEYS) == [f.name for f in fields]
    for f in fields:
        assert typing.get_origin(f.type) is Annotated, f.name
        decls = [m for m in typing.get_args(f.type)[1:] if isinstance(m, Key)]
        assert len(decls) == 1, f.name
        info = KEYS[f.name]
        assert Key(**{k: getattr(info, k) for k in Key.__dataclass_fields__}) == decls[0]
        assert (info.name, info.required, info.default) == (f.name, f.required, f.default)


class _Mistakes(msgspec.Struct):
    no_key: int = 1
    two_keys: Annotated[bool, Key(), Key(go=True)] = False
    unbounded: Annotated[int, Key()] = 1
    half_bounded: Annotated[float, msgspec.Meta(ge=0), Key()] = 1.0
    env_list: Annotated[tuple[str, ...], Key(env="SOME_LIST")] = ()


@pytest.mark.parametrize("name", [f.name for f in msgspec.structs.fields(_Mistakes)])
def test_a_declaration_mistake_fails_at_import(name: str) -> None:
    field = next(f for f in msgspec.structs.fields(_Mistakes) if f.name == name)
    with pytest.raises(TypeError, match=name):
        _describe(field)


@pytest.mark.parametrize("key", NUMBERS)
def test_every_number_is_bounded_around_its_default(key: str) -> None:
    info = KEYS[key]
    assert info.lo is not None and info.hi is not None
    assert info.lo <= info.default <= info.hi  # type: ignore[operator]


def test_defaults_load_as_declared_and_pass_their_checks() -> None:
    loaded = load()
    assert not loaded.warnings
    for key, info in KEYS.items():
        if not info.required:
            assert getattr(loaded.config, key) == info.default, key
            if info.check is not None and info.default is not None:
                assert info.check(info.default) is None, key


def test_go_keys_come_first_and_keep_their_names() -> None:
    go = [info.go for info in KEYS.values()]
    assert go == sorted(go, reverse=True)  # runtime.md §2.2 before §2.3
    assert KEYS["poll_interval"].go_name == "poll_interval"
    assert KEYS["tls_pin_hash"].go_name == "tls_pin_hash"
    assert KEYS["grpc_hub_enabled"].go_name is None and KEYS["server_public_key"].go_name is None


# --- bounds: clamped with a warning, or refused, as declared ---------------------------


@pytest.mark.parametrize("key", NUMBERS)
def test_every_bound_is_enforced_as_declared(key: str) -> None:
    info = KEYS[key]
    assert info.lo is not None and info.hi is not None
    lo, hi = number(info, info.lo), number(info, info.hi)
    for edge in (lo, hi):
        loaded = load(f"{key}: {edge!r}\n")
        assert getattr(loaded.config, key) == edge and not loaded.warnings
    above = load(f"{key}: {hi + 1!r}\n")
    assert getattr(above.config, key) == hi
    assert len(above.warnings) == 1 and above.warnings[0].startswith(f"{key}: ")
    assert getattr(load(flags={key: hi + 1}).config, key) == hi  # flags are bounded too
    if lo > 0:
        below = load(f"{key}: {lo - 1 if info.kind == 'int' else lo / 2!r}\n")
        assert getattr(below.config, key) == lo
        assert len(below.warnings) == 1 and below.warnings[0].startswith(f"{key}: ")
    if info.negative == "error":
        e = error(f"{key}: -1\n")
        assert e.key == key and "must not be negative" in str(e)
    else:
        negative = load(f"{key}: -1\n")
        assert getattr(negative.config, key) == lo and len(negative.warnings) == 1


@pytest.mark.parametrize("key", NUMBERS)
def test_every_number_refuses_non_finite_values(key: str) -> None:
    for text in ("1e999", "-1e999", ".nan", ".inf"):
        assert error(f"{key}: {text}\n").key == key
    for value in (float("nan"), float("inf")):
        e = error("", flags={key: value})
        assert e.key == key and "finite" in str(e)


# --- enumerations ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ENUMS)
def test_enumerations_take_any_case_and_keep_the_declared_spelling(key: str) -> None:
    info = KEYS[key]
    assert typing.get_args(typing.get_type_hints(Config)[key]) == info.choices
    assert info.default in info.choices
    for choice in info.choices:
        for spelled in (choice, choice.lower(), choice.upper()):
            assert getattr(load(f"{key}: {spelled}\n").config, key) == choice
    e = error(f"{key}: not-one-of-them\n")
    assert str(e) == f"config: {key}: must be one of {', '.join(info.choices)}"


# --- required keys --------------------------------------------------------------------


@pytest.mark.parametrize("key", REQUIRED)
@pytest.mark.parametrize("value", [None, "~", "''", "'   '"])
def test_every_required_key_must_be_given_and_not_blank(key: str, value: str | None) -> None:
    text = "".join(f"{k}: {'value-1' if k != key else value}\n" for k in REQUIRED
                   if k != key or value is not None)
    assert error(text, base="").key == key


# --- secrets --------------------------------------------------------------------------


def secret_of(key: str) -> str:
    """A distinct value for a secret key, valid for its check (hex, 32 bytes)."""
    return hashlib.sha256(f"secret:{key}".encode()).hexdigest()


SECRETS_YAML = "".join(f"{k}: {v}\n" for k, v in {
    **{k: "value-1" for k in REQUIRED}, **{k: secret_of(k) for k in sorted(SECRET_KEYS)}}.items())


def test_secret_keys_are_the_declared_ones() -> None:
    assert {k for k, info in KEYS.items() if info.secret} == SECRET_KEYS
    assert {"api_key", "dc_password", "phi_hash_key"} <= SECRET_KEYS


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_every_secret_is_masked_in_check_config_output(key: str) -> None:
    loaded = load(base=SECRETS_YAML)
    value = getattr(loaded.config, key)
    assert value == secret_of(key)
    lines = effective_lines(loaded)
    assert f"{key}: {mask(value)}" in lines
    assert value not in "\n".join(lines)
    assert value not in json.dumps(as_masked_dict(loaded.config))


def test_check_config_cli_never_prints_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(SECRETS_YAML)
    for args in (("check-config", str(path)), ("check-config", "--json", str(path))):
        r = run_agent(*args)
        assert r.returncode == 0, r.stderr
        for key in SECRET_KEYS:
            assert secret_of(key) not in r.stdout + r.stderr
            assert mask(secret_of(key)) in r.stdout


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_errors_never_quote_a_secret(key: str) -> None:
    value = secret_of(key)
    for text in (SECRETS_YAML + "poll_interval: [1]\n",
                 SECRETS_YAML.replace(f"{key}: {value}", f"{key}: {{a: {value}}}"),
                 SECRETS_YAML.replace(f"{key}: {value}", f"{key}: [{value}]")):
        e = error(text, base="")
        assert value not in str(e)
    if KEYS[key].check is not None:
        bad = f"not-valid:{value}"
        e = error(SECRETS_YAML.replace(value, bad), base="")
        assert e.key == key and bad not in str(e) and value not in str(e)


# --- reload rules ---------------------------------------------------------------------


def another_value(info: KeyInfo, current: object) -> object:
    if info.kind == "bool":
        return not current
    if info.kind in ("int", "float"):
        return info.hi if current != info.hi else info.lo
    if info.choices:
        return next(c for c in info.choices if c != current)
    return ("changed",) if info.kind == "list" else f"{current}-changed"


@pytest.mark.parametrize("key", KEYS)
def test_reload_diff_reports_every_key_by_its_declared_rule(key: str) -> None:
    info = KEYS[key]
    old = load().config
    new = msgspec.structs.replace(old, **{key: another_value(info, getattr(old, key))})
    applied, restart = reload_diff(old, new)
    assert (applied, restart) == (([key], []) if info.reload else ([], [key]))


def test_restart_only_keys_are_those_of_runtime_spec() -> None:
    restart = {k for k, info in KEYS.items() if not info.reload}
    assert restart == {"site_id", "api_endpoint", "state_dir", "grpc_port", "ca_dir",
                       "grpc_hub_enabled", "tls_pin_hash",
                       "grpc_bind_address"}  # the hub's listener (issue 23; not yet in §2.5)


# --- environment overrides ------------------------------------------------------------


def test_environment_variables_are_distinct() -> None:
    names = [KEYS[k].env for k in ENV_KEYS]
    assert len(set(names)) == len(names)
    assert {KEYS[k].env: k for k in ENV_KEYS} == {
        "HEALING_DRY_RUN": "healing_dry_run", "L2_ENABLED": "l2_enabled", "STATE_DIR": "state_dir",
        "LOG_LEVEL": "log_level", "MSP_AGENT_LOG_FORMAT": "log_format",
        # set by the NixOS module's grpcHub.enable (runtime.md §10; issue 23)
        "MSP_AGENT_GRPC_HUB": "grpc_hub_enabled"}


@pytest.mark.parametrize("key", ENV_KEYS)
def test_every_environment_override_applies_and_is_reported(key: str) -> None:
    info = KEYS[key]
    var = info.env
    assert var is not None
    expected = another_value(info, info.default)
    if info.kind == "string" and not info.choices:
        expected = "/from/env"  # valid for every check of a string key (state_dir: absolute)
    raw = (" yes " if expected else "No") if isinstance(expected, bool) else str(expected).lower()
    loaded = load(environ={var: raw})
    assert getattr(loaded.config, key) == expected
    assert loaded.overrides == {key: f"env:{var}"}
    blank = load(environ={var: "  "})
    assert getattr(blank.config, key) == info.default and blank.overrides == {}


# --- spot checks of today's behaviour ---------------------------------------------------


@pytest.mark.parametrize("value,expected,warning", [
    (5, 10, "poll_interval: 5 is below 10; using 10"), (-5, 10, "poll_interval: -5 is below 10; using 10"),
    (10, 10, None), (3600, 3600, None), (4000, 3600, "poll_interval: 4000 is above 3600; using 3600"),
])
def test_poll_interval_is_clamped_to_10_3600(value: int, expected: int, warning: str | None) -> None:
    loaded = load(f"poll_interval: {value}\n")
    assert loaded.config.poll_interval == expected
    assert loaded.warnings == ((warning,) if warning else ())


def test_yaml_typing_spot_checks() -> None:
    assert load(base="site_id: yes\napi_key: k-1\n").config.site_id == "yes"
    assert str(error('poll_interval: "60"\n')) == "config: poll_interval: expected an integer, got a string"
    assert load("log_level: warn\nlog_format: TEXT\n").config.log_level == "WARN"


@pytest.mark.parametrize("text,message", [
    ("scan_concurrency: -3\n", "config: scan_concurrency: must not be negative (allowed 1–64)"),
    ("l2_daily_budget_usd: -0.5\n", "config: l2_daily_budget_usd: must not be negative (allowed 0–10000)"),
    ("l2_daily_budget_usd: 1e999\n", "config: l2_daily_budget_usd: must be a finite number"),
    ("log_format: xml\n", "config: log_format: must be one of json, text"),
    ("log_level: loud\n", "config: log_level: must be one of DEBUG, INFO, WARNING, WARN, ERROR"),
    ("phi_hash_mode: md5\n", "config: phi_hash_mode: must be one of hmac, sha256"),
])
def test_refused_values_give_one_line_naming_the_key(text: str, message: str) -> None:
    assert str(error(text)) == message


def test_example_config_loads_without_notes() -> None:
    loaded = parse_config((ROOT / "examples" / "config.yaml").read_bytes(), environ={})
    assert not loaded.unknown_keys and not loaded.warnings


# --- what outside agent.config still spells key facts out -----------------------------


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_actions(sub))
    return found


@pytest.mark.parametrize("key", ["log_level", "log_format"])
def test_cli_choices_are_the_declared_ones(key: str) -> None:
    from agent.cli import build_parser

    choices = [a.choices for a in _actions(build_parser()) if a.dest == key]
    assert choices, f"no --{key.replace('_', '-')} option"
    assert all(list(c or ()) == list(KEYS[key].choices) for c in choices)


def test_runtime_registers_every_secret_key_with_the_log_filter() -> None:
    from agent.log import redact
    from agent.runtime.app import register_config_secrets

    register_config_secrets(load(base=SECRETS_YAML).config)
    for key in SECRET_KEYS:
        assert secret_of(key) not in redact(f"value {secret_of(key)} here"), key


def test_children_of_the_tests_get_no_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.setenv(str(KEYS[key].env), "leaked")
    assert not {str(KEYS[k].env) for k in ENV_KEYS} & set(clean_env())


# --- accepted means usable ------------------------------------------------------------


def test_every_log_level_and_phi_mode_is_usable() -> None:
    from agent.log import parse_level
    from agent.phi.tokens import HashMode, parse_hex_key

    for level in KEYS["log_level"].choices:
        parse_level(level)
    assert typing.get_args(HashMode) == KEYS["phi_hash_mode"].choices
    key = load(f"phi_hash_key: {'ab' * 16}\n").config.phi_hash_key
    assert key is not None and len(parse_hex_key(key)) == 16


@pytest.mark.parametrize("mode", KEYS["winrm_script_transfer"].choices)
def test_every_winrm_script_transfer_is_usable(mode: str, tmp_path: Path) -> None:
    from agent.exec.winrm import WinrmExecutor

    WinrmExecutor(tmp_path, script_transfer=mode)
