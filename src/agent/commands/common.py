"""Helpers shared by CLI commands: global options, config loading, error output."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: building the parser must stay cheap
    from agent.config import Loaded

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def add_global(p: argparse.ArgumentParser) -> None:
    """Global options are accepted after the command too (``msp-agent run --config X``)."""
    p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                   help="config file (default: $MSP_AGENT_CONFIG or /var/lib/msp/config.yaml)")
    p.add_argument("--state-dir", metavar="PATH", default=argparse.SUPPRESS,
                   help="state directory (overrides state_dir and $STATE_DIR)")
    p.add_argument("--log-level", metavar="LEVEL", type=str.upper, default=argparse.SUPPRESS,
                   choices=["DEBUG", "INFO", "WARNING", "WARN", "ERROR"], help="log level")
    p.add_argument("--log-format", choices=["json", "text"], default=argparse.SUPPRESS,
                   help="log line format")


def flags_from(args: argparse.Namespace, **extra: Any) -> dict[str, object]:
    """Command-line overrides of config keys (highest precedence, runtime.md §2.4)."""
    flags: dict[str, object] = {}
    if getattr(args, "state_dir", None):
        flags["state_dir"] = str(Path(args.state_dir).absolute())
    if getattr(args, "log_level", None):
        flags["log_level"] = args.log_level
    if getattr(args, "log_format", None):
        flags["log_format"] = args.log_format
    flags.update({k: v for k, v in extra.items() if v is not None})
    return flags


def error(message: str) -> None:
    sys.stderr.write(f"msp-agent: {message}\n")


def load(args: argparse.Namespace, **extra: Any) -> Loaded | None:
    """Load the config for a command; prints one line and returns None on error."""
    from agent.config import ConfigError, config_path, load_config

    path = config_path(getattr(args, "config", None))
    try:
        return load_config(path, flags=flags_from(args, **extra))
    except ConfigError as exc:
        error(str(exc))
        return None


def state_dir_without_config(args: argparse.Namespace) -> Path | None:
    """``--state-dir`` or ``$STATE_DIR`` when given (commands that can work without a config)."""
    if getattr(args, "state_dir", None):
        return Path(args.state_dir).absolute()
    env = os.environ.get("STATE_DIR", "").strip()
    return Path(env) if env else None
