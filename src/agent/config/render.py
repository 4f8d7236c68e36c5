"""Showing a configuration (secrets masked) and comparing two for a reload (runtime.md §2.5)."""

from __future__ import annotations

from agent.config.load import Loaded
from agent.config.schema import KEYS, Config
from agent.log import mask


def display_value(key: str, value: object) -> str:
    """One value as ``check-config`` prints it; secrets show only their last 4 characters."""
    if KEYS[key].secret:
        return mask(value if isinstance(value, str) else None) if value else "(unset)"
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return str(value)


def effective_lines(loaded: Loaded) -> list[str]:
    """The effective configuration, one ``key: value`` line per key, plus notes."""
    cfg = loaded.config
    lines = [f"# effective configuration from {loaded.path}"]
    for key, info in KEYS.items():
        note = []
        if key in loaded.overrides:
            note.append(f"from {loaded.overrides[key]}")
        if info.ignored:
            note.append("accepted, ignored")
        suffix = f"  # {', '.join(note)}" if note else ""
        lines.append(f"{key}: {display_value(key, getattr(cfg, key))}{suffix}")
    for w in loaded.warnings:
        lines.append(f"# warning: {w}")
    for key in loaded.unknown_keys:
        lines.append(f"# unknown key (ignored): {key}")
    return lines


def as_masked_dict(cfg: Config) -> dict[str, object]:
    """The configuration as a dict safe to log or print (secrets masked)."""
    out: dict[str, object] = {}
    for key, info in KEYS.items():
        value = getattr(cfg, key)
        out[key] = mask(value) if info.secret and value else value
    return out


def reload_diff(old: Config, new: Config) -> tuple[list[str], list[str]]:
    """Keys changed by a reload, split into (applied now, restart required)."""
    applied: list[str] = []
    restart: list[str] = []
    for key, info in KEYS.items():
        if getattr(old, key) != getattr(new, key):
            (applied if info.reload else restart).append(key)
    return applied, restart
