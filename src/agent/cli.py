"""``python -m agent <command>`` (runtime.md §8). Exit codes: 0 ok, 1 failure, 2 usage/config.

Each command lives in ``agent.commands.<name>`` and exports ``add_parser(subparsers)``; heavy
imports happen inside the command's ``run`` so ``--help`` and ``version`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agent import __version__

# Command modules, in the order ``--help`` lists them.
COMMANDS = ("run", "demo", "status", "keygen", "check_config", "scrub", "verify_orders", "evidence",
            "verify", "rules", "runbooks", "pins", "journal", "preview", "version")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is our usage exit code too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def add_global_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("global options")
    g.add_argument("--config", metavar="PATH",
                   help="config file (default: $MSP_AGENT_CONFIG or /var/lib/msp/config.yaml)")
    g.add_argument("--state-dir", metavar="PATH", help="state directory (overrides state_dir)")
    g.add_argument("--log-level", metavar="LEVEL", choices=["DEBUG", "INFO", "WARNING", "WARN", "ERROR"],
                   type=str.upper, help="DEBUG, INFO, WARNING or ERROR")
    g.add_argument("--log-format", choices=["json", "text"], help="log line format")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="msp-agent", description="msp-agent: compliance and self-healing agent "
                     "for clinic appliances.")
    parser.add_argument("-V", "--version", action="version", version=f"msp-agent {__version__}")
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"agent.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
            continue  # a command that has not landed yet
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
