"""``check-config [PATH]``: validate a config file and print the effective configuration."""

from __future__ import annotations

import argparse
import json

from agent.commands.common import EXIT_OK, EXIT_USAGE, add_global, error, flags_from


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("check-config", help="validate the config and print it (secrets masked)",
                       description="Load and validate the config; print the effective config with "
                       "secrets masked, environment overrides applied, and unknown keys. Every "
                       "problem is reported, one per line. Exit 0 valid, 2 invalid.")
    add_global(p)
    p.add_argument("path", nargs="?", help="config file (default: --config / $MSP_AGENT_CONFIG)")
    p.add_argument("--strict", action="store_true", help="unknown keys are errors")
    p.add_argument("--json", action="store_true", help="print the effective config as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.config import ConfigError, config_path, effective_lines, load_config
    from agent.config.render import as_masked_dict

    path = config_path(args.path or getattr(args, "config", None))
    try:
        loaded = load_config(path, flags=flags_from(args), strict=args.strict)
    except ConfigError as exc:
        error(str(exc))
        if len(exc.problems) > 1:
            error(f"{path}: invalid ({len(exc.problems)} problems)")
        return EXIT_USAGE
    if args.json:
        doc = {"path": str(loaded.path), "config": as_masked_dict(loaded.config),
               "overrides": dict(loaded.overrides), "unknown_keys": list(loaded.unknown_keys),
               "warnings": list(loaded.warnings)}
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(effective_lines(loaded)))
        print(f"# {path}: valid")
    return EXIT_OK
