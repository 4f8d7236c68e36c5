"""Loading ``config.yaml`` exactly as the Go daemon types it (runtime.md §2.1, §2.4).

The file is composed into YAML nodes (not constructed into Python objects), so each value is
typed by the key it belongs to, the way yaml.v3 decodes into typed Go fields: ``site_id: yes``
is the string ``"yes"``, ``poll_interval: "60"`` is a type error, ``healing_enabled: off`` is
``False``. Environment and flag overrides follow; then every value is brought within its
key's declaration (enumerations to their declared spelling, numbers clamped or refused),
validated by msgspec into :class:`Config` and checked. Nothing here names a key: all of it
comes from :data:`~agent.config.schema.KEYS`. Every failure is a :class:`ConfigError` naming
the key, never the secret value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from agent.config.schema import DEFAULT_CONFIG_PATH, KEYS, Config, KeyInfo

try:  # libyaml's composer is much faster; same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_CONFIG_BYTES = 1 << 20
_TRUE = frozenset({"true", "yes", "on", "y"})
_FALSE = frozenset({"false", "no", "off", "n"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_INT_RE = re.compile(r"[-+]?(0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?")
_NULL_TAG = "tag:yaml.org,2002:null"


class ConfigError(Exception):
    """Invalid configuration; the message names the key and never contains a secret.

    :func:`parse_config` collects every problem it can find in one pass: :attr:`problems` holds
    one ``config: <key>: <reason>`` line each (the first is also :attr:`key` and the message's
    first line); ``str()`` is all of them, one per line."""

    def __init__(self, key: str | None, message: str) -> None:
        self.key = key
        line = f"config: {key}: {message}" if key else f"config: {message}"
        self.problems: tuple[str, ...] = (line,)
        super().__init__(line)

    @classmethod
    def collected(cls, errors: list[ConfigError]) -> ConfigError:
        """One error carrying every problem of ``errors`` (in the order found)."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        out = cls(first.key, "")
        out.problems = tuple(p for e in errors for p in e.problems)
        out.args = ("\n".join(out.problems),)
        return out


@dataclass(frozen=True, slots=True)
class Loaded:
    """A validated configuration and what loading it noticed."""

    config: Config
    path: Path
    unknown_keys: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    overrides: Mapping[str, str] = field(default_factory=dict)  # key -> source ("env:X", "flag")


def config_path(cli_path: str | os.PathLike[str] | None) -> Path:
    """``--config`` flag, else ``MSP_AGENT_CONFIG``, else the default path (runtime.md §2.1)."""
    if cli_path:
        return Path(cli_path)
    env = os.environ.get("MSP_AGENT_CONFIG", "").strip()
    return Path(env or DEFAULT_CONFIG_PATH)


def load_config(
    path: str | os.PathLike[str],
    *,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
) -> Loaded:
    """Read, type, override, validate and clamp a config file.

    ``flags`` are command-line overrides (highest precedence), ``environ`` defaults to
    ``os.environ``. With ``strict``, unknown keys are errors.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(None, f"file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(None, f"cannot read {p}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(None, f"{p} is larger than {MAX_CONFIG_BYTES} bytes")
    return parse_config(data, path=p, flags=flags, environ=environ, strict=strict)


def parse_config(
    data: bytes | str,
    *,
    path: Path = Path("<config>"),
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
) -> Loaded:
    """Like :func:`load_config` for bytes already read."""
    env = os.environ if environ is None else environ
    errors: list[ConfigError] = []
    nodes = _top_level_nodes(data, errors)
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for key, node in nodes.items():
        if key not in KEYS:
            unknown.append(key)
            if strict:
                errors.append(ConfigError(key, "unknown key (--strict)"))
            continue
        try:
            value = _typed(key, node)
        except ConfigError as exc:
            errors.append(exc)
            continue
        if value is not None:
            values[key] = value

    overrides: dict[str, str] = {}
    for key, info in KEYS.items():
        raw = env.get(info.env, "") if info.env else ""
        if raw.strip() == "":
            continue  # empty values are ignored, as in the Go daemon
        try:
            values[key] = _env_value(key, raw)
        except ConfigError as exc:
            errors.append(exc)
            continue
        overrides[key] = f"env:{info.env}"
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in KEYS:
            errors.append(ConfigError(key, "unknown key given as a flag"))
            continue
        values[key] = value
        overrides[key] = "flag"

    bad = {e.key for e in errors}
    for key, info in KEYS.items():
        if info.required and key not in bad and not str(values.get(key, "")).strip():
            errors.append(ConfigError(key, "is required and must not be empty"))
    warnings: list[str] = []
    for key, value in list(values.items()):
        try:
            values[key] = _in_range(KEYS[key], value, warnings)
        except ConfigError as exc:
            errors.append(exc)
            del values[key]
    if errors:
        # The remaining keys are still checked (with defaults where a value was refused), so
        # one run reports every problem.
        for key, info in KEYS.items():
            if info.required and not str(values.get(key, "")).strip():
                values[key] = "x"
    try:
        config = msgspec.convert(values, Config, strict=True)
    except msgspec.ValidationError as exc:  # a type our coercion let through
        errors.append(ConfigError(_key_of(str(exc)), _safe_reason(str(exc))))
        raise ConfigError.collected(errors) from None
    errors += [e for e in _check(config) if e.key not in {x.key for x in errors}]
    if errors:
        raise ConfigError.collected(errors)
    return Loaded(config, path, tuple(unknown), tuple(warnings), overrides)


# --- YAML nodes -----------------------------------------------------------------------


def _top_level_nodes(data: bytes | str, errors: list[ConfigError]) -> dict[str, yaml.Node]:
    """The file's keys and value nodes; a key defined twice is added to ``errors`` (its first
    value is kept so the rest of the file is still checked). Unparseable YAML raises."""
    try:
        root = yaml.compose(data, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(None, f"not valid YAML{where}: {problem}") from None
    if root is None:
        required = " and ".join(k for k, info in KEYS.items() if info.required)
        raise ConfigError(None, f"the file is empty ({required} are required)")
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(None, "the file must be a YAML mapping of keys to values")
    nodes: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(None, f"line {key_node.start_mark.line + 1}: keys must be scalars")
        key = str(key_node.value)
        if key in nodes:
            errors.append(ConfigError(key, f"defined twice (line {key_node.start_mark.line + 1})"))
            continue
        nodes[key] = value_node
    return nodes


def _is_null(node: yaml.Node) -> bool:
    if not isinstance(node, yaml.ScalarNode):
        return False
    return node.style in (None, "") and (node.tag == _NULL_TAG or node.value in _NULL)


def kind_of(key: str) -> str:
    """``bool``, ``int``, ``float``, ``string`` or ``list`` (of strings) for a config key."""
    return KEYS[key].kind


def _typed(key: str, node: yaml.Node) -> Any:
    """The value of ``node`` typed for ``key``; ``None`` means "use the default"."""
    if _is_null(node):
        return None
    kind = kind_of(key)
    if kind == "list":
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError(key, "expected a list of strings")
        items = []
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode) or _is_null(item):
                raise ConfigError(key, "every list item must be a string")
            items.append(str(item.value))
        return tuple(items)
    if not isinstance(node, yaml.ScalarNode):
        shape = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        raise ConfigError(key, f"expected {_KIND_TEXT[kind]}, got {shape}")
    # unquoted: yaml.v3 would type it from its text
    return _scalar(key, str(node.value), plain=node.style in (None, ""))


def _scalar(key: str, text: str, *, plain: bool) -> Any:
    kind = kind_of(key)
    if kind == "string":
        return text
    if kind == "bool":
        return _bool(key, text)
    if not plain:
        raise ConfigError(key, f"expected {_KIND_TEXT[kind]}, got a string")
    if kind == "int":
        return _int(key, text)
    return _float(key, text)


_KIND_TEXT = {"bool": "a boolean", "int": "an integer", "float": "a number",
              "string": "a string", "list": "a list of strings"}


def _bool(key: str, text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(key, "expected a boolean (true/false, yes/no, on/off, y/n)")


def _int(key: str, text: str) -> int:
    t = text.strip()
    if _INT_RE.fullmatch(t):
        return int(t.replace("_", ""), 0) if not _leading_zero(t) else int(t.replace("_", ""))
    if _FLOAT_RE.fullmatch(t):
        f = float(t.replace("_", ""))
        if math.isfinite(f) and f.is_integer():
            return int(f)
        raise ConfigError(key, "expected an integer, got a number with a fraction")
    if t.lower() in _TRUE | _FALSE:
        raise ConfigError(key, "expected an integer, got a boolean")
    raise ConfigError(key, "expected an integer")


def _leading_zero(t: str) -> bool:
    digits = t.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()


def _float(key: str, text: str) -> float:
    t = text.strip()
    if _INT_RE.fullmatch(t) and not _leading_zero(t):
        return float(int(t.replace("_", ""), 0))
    if _FLOAT_RE.fullmatch(t):
        return float(t.replace("_", ""))
    raise ConfigError(key, "expected a number")


def _env_value(key: str, raw: str) -> Any:
    if kind_of(key) == "bool":  # runtime.md §2.4: false/0/no mean false, anything else true
        return raw.strip().lower() not in ("false", "0", "no")
    return _scalar(key, raw.strip(), plain=True)


# --- bounds and checks ----------------------------------------------------------------


def _in_range(info: KeyInfo, value: Any, warnings: list[str]) -> Any:
    """``value`` within the key's declared choices or bounds: as declared, clamped or an error."""
    key = info.name
    if info.choices and isinstance(value, str):  # any case in, the declared spelling out
        for choice in info.choices:
            if choice.lower() == value.lower():
                return choice
        raise ConfigError(key, f"must be one of {', '.join(info.choices)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key, "must be a finite number")
    if info.lo is None or info.hi is None:
        return value
    if value < 0 <= info.lo and info.negative == "error":
        raise ConfigError(key, f"must not be negative (allowed {_fmt(info.lo)}–{_fmt(info.hi)})")
    if value < info.lo:
        warnings.append(f"{key}: {value} is below {_fmt(info.lo)}; using {_fmt(info.lo)}")
        return type(value)(info.lo)
    if value > info.hi:
        warnings.append(f"{key}: {value} is above {_fmt(info.hi)}; using {_fmt(info.hi)}")
        return type(value)(info.hi)
    return value


def _fmt(v: float | None) -> str:
    return "" if v is None else (str(int(v)) if float(v).is_integer() else str(v))


def _check(config: Config) -> list[ConfigError]:
    """Every key whose own check refuses its value."""
    out: list[ConfigError] = []
    for key, info in KEYS.items():
        value = getattr(config, key)
        reason = info.check(value) if info.check is not None and value is not None else None
        if reason:
            out.append(ConfigError(key, reason))
    return out


_PATH_RE = re.compile(r"\$\.(\w+)")


def _key_of(message: str) -> str | None:
    m = _PATH_RE.search(message)
    return m.group(1) if m else None


def _safe_reason(message: str) -> str:
    # msgspec's messages name types and paths, never values; keep only the first clause.
    return message.split(" - at ")[0]
