"""Configuration: the Go daemon's ``config.yaml``, typed, validated and clamped (runtime.md §2)."""

from agent.config.load import ConfigError, Loaded, config_path, load_config, parse_config
from agent.config.render import effective_lines, reload_diff
from agent.config.schema import KEYS, SECRET_KEYS, Config

__all__ = [
    "KEYS",
    "SECRET_KEYS",
    "Config",
    "ConfigError",
    "Loaded",
    "config_path",
    "effective_lines",
    "load_config",
    "parse_config",
    "reload_diff",
]
