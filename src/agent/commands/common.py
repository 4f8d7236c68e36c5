"""Helpers shared by CLI commands: global options, config loading, error output, exit codes.

The exit-code contract of every command (runtime.md §8): :data:`EXIT_OK` 0 success,
:data:`EXIT_FAILURE` 1 failure (the command ran and found or met a problem),
:data:`EXIT_USAGE` 2 usage or configuration error or unusable input, :data:`EXIT_LOCKED` /
:data:`EXIT_NOT_RUNNING` 3 the state-directory lock is held / the daemon is not running.
"""

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
EXIT_LOCKED = 3


def add_global(p: argparse.ArgumentParser, group: str | None = None) -> None:
    """The global options; every command accepts them after its name too (``msp-agent run
    --config X``). Not given, they leave the namespace alone (the value given before the
    command, if any, stands)."""
    g: argparse._ActionsContainer = p.add_argument_group(group) if group else p
    g.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                   help="config file (default: $MSP_AGENT_CONFIG or /var/lib/msp/config.yaml)")
    g.add_argument("--state-dir", metavar="PATH", default=argparse.SUPPRESS,
                   help="state directory (overrides state_dir and $STATE_DIR)")
    g.add_argument("--log-level", metavar="LEVEL", type=str.upper, default=argparse.SUPPRESS,
                   choices=["DEBUG", "INFO", "WARNING", "WARN", "ERROR"], help="log level")
    g.add_argument("--log-format", choices=["json", "text"], default=argparse.SUPPRESS,
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
    """One ``msp-agent: …`` line on stderr per line of ``message``."""
    for line in message.splitlines() or [""]:
        sys.stderr.write(f"msp-agent: {line}\n")


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
