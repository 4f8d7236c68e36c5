"""Helpers shared by the operator commands (``verify``, ``rules``, ``runbooks``, ``pins``,
``journal``, ``preview``): the state directory and its lock, the audit line, output that fits a
terminal, shell completion.

Nothing here is imported when the parser is built except what ``add_parser`` needs (cheap).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from agent.commands.common import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_USAGE, add_global, error

#: Output lines are wrapped to this many columns at most when stdout is a terminal.
MAX_COLUMNS = 80


class CommandError(Exception):
    """Stops a command with one message on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def subcommand(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
               func: Callable[[argparse.Namespace], int], help: str, description: str,
               json_output: bool = True) -> argparse.ArgumentParser:
    """One subcommand with the global options, ``--json`` and its function (whose
    :class:`CommandError` becomes a message and an exit code)."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    add_global(p)
    if json_output:
        add_json(p)
    p.set_defaults(func=lambda a: run_guarded(func, a))
    return p


def command_group(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
                  help: str, description: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """A command whose work is done by required subcommands (``pins list``, ...)."""
    p = sub.add_parser(name, help=help, description=description)
    group: argparse._SubParsersAction = p.add_subparsers(  # type: ignore[type-arg]
        dest=f"{name}_command", metavar="SUBCOMMAND")
    group.required = True
    return group


def state_dir(args: argparse.Namespace) -> Path:
    """``--state-dir``/``$STATE_DIR``, else the config's ``state_dir``, else the default."""
    from agent.commands.keygen import resolve_state_dir

    path = resolve_state_dir(args)
    if path is None:  # the config did not load; load() printed why
        raise CommandError("no usable state directory (see the error above)", EXIT_USAGE)
    return path


def existing_state_dir(args: argparse.Namespace) -> Path:
    path = state_dir(args)
    if not path.is_dir():
        raise CommandError(f"state directory {path}: no such directory", EXIT_USAGE)
    return path


@contextlib.contextmanager
def locked(path: Path, what: str) -> Iterator[Path]:
    """Hold the state-directory lock for a command that changes state (runtime.md §3.6); exit 3
    while the daemon (or another command) holds it."""
    from agent.state import LockHeld, StateLock

    lock = StateLock(path)
    try:
        lock.acquire()
    except LockHeld as exc:
        raise CommandError(f"{exc}; stop the service before `{what}`", EXIT_NOT_RUNNING) from None
    except OSError as exc:
        raise CommandError(f"cannot lock state directory {path}: {exc.strerror}") from None
    try:
        yield path
    finally:
        lock.release()


def configure_logging(args: argparse.Namespace) -> None:
    """Log lines of operator commands go to stderr (stdout is the command's output), WARNING and
    above unless ``--log-level`` says otherwise (audit lines are warnings)."""
    from agent import log

    log.configure(getattr(args, "log_level", None) or "WARNING",
                  getattr(args, "log_format", None) or "json", stream="stderr")


def operator() -> str:
    """Who ran the command: the login name (and the sudo caller when run through sudo)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = f"uid {os.getuid()}"
    via = os.environ.get("SUDO_USER")
    return f"{user} (sudo from {via})" if via and via != user else user


def audit(action: str, message: str, **fields: Any) -> None:
    """The audit line of an operator action: who, what and when (the line's ``ts``), through the
    agent's logger (component ``operator``); never a secret (keys are shown as fingerprints)."""
    from agent.log import get_logger

    get_logger("operator").warning(f"operator.{action}", message, operator=operator(),
                                   pid=os.getpid(), **fields)


def columns() -> int | None:
    """The width to wrap to: the terminal's (at most :data:`MAX_COLUMNS`) when stdout is a
    terminal, else None (pipes and files get whole lines)."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        return None
    if not tty:
        return None
    return max(20, min(MAX_COLUMNS, shutil.get_terminal_size((MAX_COLUMNS, 24)).columns))


def emit(lines: Iterable[str]) -> None:
    """Print lines; on a terminal each is wrapped to :func:`columns` (continuations indented)."""
    width = columns()
    for line in lines:
        if width is None or len(line) <= width:
            print(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        print("\n".join(textwrap.wrap(line, width=width, subsequent_indent=" " * (indent + 4),
                                      break_long_words=True, break_on_hyphens=False)))


def emit_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=False, default=str))


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command body (its log lines on stderr), turning :class:`CommandError` into its
    message and exit code."""
    configure_logging(args)
    try:
        return int(func(args))
    except CommandError as exc:
        error(str(exc))
        return exc.code


def enable_completion(parser: argparse.ArgumentParser) -> bool:
    """Shell completion (argcomplete, an optional dependency: the ``completion`` extra).

    ``cli.main`` calls this right after building the parser and before parsing; it returns
    False when argcomplete is not installed. With it installed, activate completion with
    ``eval "$(register-python-argcomplete msp-agent)"``.
    """
    try:
        import argcomplete  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    argcomplete.autocomplete(parser)
    return True


class JournalRead:
    """The intact records of an append-only journal, read without repairing anything (the agent
    itself drops a torn last line on its next start)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.lines = 0
        self.damaged = 0
        self.torn = False


def read_journal(paths: Iterable[Path], checksummed: bool = False) -> JournalRead:
    """JSON Lines (healing, evidence) or ``<crc32> <json>`` lines (order records, inbox);
    raises OSError when a file cannot be read."""
    from agent.orders.journal import decode_line

    out = JournalRead()
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        body, _, tail = data.rpartition(b"\n")
        out.torn = out.torn or bool(tail.strip())
        for raw in body.split(b"\n") if body else []:
            if not raw.strip():
                continue
            out.lines += 1
            doc: Any
            if checksummed:
                doc = decode_line(raw)
            else:
                try:
                    doc = json.loads(raw)
                except ValueError:
                    doc = None
            if isinstance(doc, dict):
                out.records.append(doc)
            else:
                out.damaged += 1
    return out
