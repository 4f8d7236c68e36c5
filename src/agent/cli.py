"""``python -m agent <command>`` (runtime.md §8).

Exit codes, the same for every command (:mod:`agent.commands.common`): 0 success, 1 failure,
2 usage or configuration error or unusable input, 3 lock held / daemon not running.

Each command lives in ``agent.commands.<name>`` and exports ``add_parser(subparsers)``; heavy
imports happen inside the command's ``run`` so ``--help`` and ``version`` start fast. When the
command line names a command, only that command's module is imported (:func:`command_in`); the
full parser (every command) is built for ``--help``, a missing or unknown command, the man page
and shell completion. A module named in :data:`COMMANDS` that does not exist (yet) is skipped.
The global options are accepted before and after the command; a usage error after the command
prints that command's usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from agent import __version__
from agent.commands.common import EXIT_USAGE, add_global

# Command modules, in the order ``--help`` lists them.
COMMANDS = ("run", "demo", "status", "keygen", "provision", "check_config", "scrub", "verify",
            "verify_orders", "evidence", "rules", "runbooks", "pins", "hub", "journal", "preview",
            "release", "version")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is our usage exit code too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


class _SubParser(_Parser):
    """A command's parser: an argument it does not know is its own usage error (argparse would
    hand it up to the top-level parser, which prints the top-level usage)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        ns, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns, extras


def add_global_options(p: argparse.ArgumentParser) -> None:
    """The global options before the command (the same ones each command accepts after it)."""
    add_global(p, group="global options")


#: Global options that take a value (their value is never the command's name).
_VALUED = frozenset({"--config", "--state-dir", "--log-level", "--log-format"})


def command_in(argv: Sequence[str]) -> str | None:
    """The command the command line names (its module name), or None (``--help``, no command,
    an unknown one): the first word that is not an option or a global option's value."""
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == "--":
            return None
        if word.startswith("-"):
            skip = word in _VALUED
            continue
        name = word.replace("-", "_")
        return name if name in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; ``only``: with that command alone (the one being run)."""
    parser = _Parser(prog="msp-agent", description="msp-agent: compliance and self-healing agent "
                     "for clinic appliances.", epilog="Exit codes: 0 success, 1 failure, 2 usage "
                     "or configuration error or unusable input, 3 lock held / daemon not running.")
    parser.add_argument("-V", "--version", action="version", version=f"msp-agent {__version__}")
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser)
    sub.required = True
    for name in (only,) if only else COMMANDS:
        try:
            module = importlib.import_module(f"agent.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
            continue  # a command that has not landed yet
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    completing = "_ARGCOMPLETE" in os.environ
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(None if completing else command_in(words))
    if completing:  # a shell asks for completions (argcomplete's protocol)
        from agent.commands._operator import enable_completion

        enable_completion(parser)
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
