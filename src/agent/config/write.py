"""Rewriting ``api_key`` in ``config.yaml`` (runtime.md §2.6) — the agent's only config write.

Only the top-level ``api_key`` scalar is replaced (added if absent); every other byte of the
file — keys, values, comments, order — is kept. The result is re-parsed and checked before it
is written atomically with mode 0600.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from agent.state.atomic import atomic_write

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


class ConfigWriteError(Exception):
    """The file could not be rewritten safely; it was left unchanged."""


def replace_api_key_text(text: str, new_key: str) -> str:
    """``text`` with its top-level ``api_key`` value replaced by ``new_key``."""
    root = yaml.compose(text, Loader=_Loader) if text.strip() else None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigWriteError("config is not a YAML mapping")
    quoted = json.dumps(new_key)  # a JSON string is a valid YAML double-quoted scalar
    target = None
    if root is not None:
        for key_node, value_node in root.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "api_key":
                target = value_node
    if target is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        out = f"{text}{sep}api_key: {quoted}\n"
    else:
        if not isinstance(target, yaml.ScalarNode) or target.style in ("|", ">"):
            raise ConfigWriteError("api_key is not a plain or quoted scalar")
        start, end = target.start_mark.index, target.end_mark.index
        if end <= start:  # an empty value (``api_key:`` alone): insert after the colon
            if target.value:
                raise ConfigWriteError("cannot locate api_key in the file")
            quoted = " " + quoted if start > 0 and text[start - 1] == ":" else quoted
        out = text[:start] + quoted + text[end:]
    check = yaml.safe_load(out)
    if not isinstance(check, dict) or check.get("api_key") != new_key:
        raise ConfigWriteError("rewritten config does not parse back to the new api_key")
    return out


def persist_api_key(path: Path, new_key: str) -> None:
    """Replace ``api_key`` in the config file atomically (mode 0600)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigWriteError(f"cannot read {path.name}: {exc}") from None
    try:
        out = replace_api_key_text(text, new_key)
    except yaml.YAMLError:
        raise ConfigWriteError("config is not valid YAML") from None
    atomic_write(path, out.encode("utf-8"), 0o600)
