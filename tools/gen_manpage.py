#!/usr/bin/env python3
"""Generate the msp-agent(8) man page (groff -man) from the argparse definitions.

    python tools/gen_manpage.py > msp-agent.8        # or: -o msp-agent.8
    man -l msp-agent.8

Every command and subcommand the CLI builds is in the page, with its description and options,
so the page cannot fall behind the parser.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Iterator
from pathlib import Path

EXIT_STATUS = (
    ("0", "success"),
    ("1", "failure (a check failed, something to act on)"),
    ("2", "usage or configuration error, or unusable input"),
    ("3", "the state-directory lock is held (stop the service first) or the daemon is not "
          "running"),
)
FILES = (
    ("/var/lib/msp/config.yaml", "the configuration (--config, $MSP_AGENT_CONFIG)"),
    ("/var/lib/msp", "the state directory (keys, queues, journals, pins)"),
    ("/run/msp-agent/status.json", "the running daemon's status"),
    ("/run/msp-agent/msp_agent.prom", "Prometheus textfile-collector figures "
     "(metrics_textfile)"),
)


def esc(text: str) -> str:
    """Escape text for groff: backslashes, hyphens (as \\-), non-ASCII characters (as
    \\[uXXXX]), and a leading dot or quote."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    out = "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in out)
    lines = []
    for line in out.splitlines() or [""]:
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, help, parser)`` of each direct subcommand, in the order --help lists them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def option_items(parser: argparse.ArgumentParser, skip: frozenset[str]) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.option_strings:
            if set(action.option_strings) & skip:
                continue
            meta = " " + _meta(action) if action.nargs != 0 else ""
            head = ", ".join(f"\\fB{esc(o)}\\fR" for o in action.option_strings)
            head += f"\\fI{esc(meta)}\\fR" if meta else ""
        else:
            head = f"\\fI{esc(_meta(action))}\\fR"
        yield ".TP"
        yield head
        yield esc((action.help or "").replace("%(default)s", str(action.default)))


def _meta(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def synopsis(path: list[str], parser: argparse.ArgumentParser) -> str:
    """``msp-agent CMD SUB [--opt META] ARG`` without the global options (they are listed once)."""
    parts = [f"\\fBmsp\\-agent {esc(' '.join(path))}\\fR"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or set(action.option_strings) & GLOBAL:
            continue
        if isinstance(action, argparse._SubParsersAction):
            parts.append("\\fISUBCOMMAND\\fR")
        elif action.option_strings:
            opt = f"\\fB{esc(action.option_strings[-1])}\\fR"
            if action.nargs != 0:
                opt += f" \\fI{esc(_meta(action))}\\fR"
            parts.append(opt if action.required else f"[{opt}]")
        else:
            arg = f"\\fI{esc(_meta(action))}\\fR"
            parts.append(f"[{arg}]" if action.nargs == "?" else arg)
    return " ".join(parts)


GLOBAL = frozenset({"--config", "--state-dir", "--log-level", "--log-format", "-V", "--version"})


def command_section(path: list[str], parser: argparse.ArgumentParser, help_text: str) -> Iterator[str]:
    subs = list(subcommands(parser))
    yield f".SS {esc(' '.join(path))}"
    if help_text:
        yield esc(help_text[:1].upper() + help_text[1:]) + "."
        yield ".PP"
    if parser.description:
        yield esc(parser.description)
    yield ".PP"
    yield synopsis(path, parser)
    opts = list(option_items(parser, GLOBAL))
    if opts:
        yield ".RS"
        yield from opts
        yield ".RE"
    for name, sub_help, sub in subs:
        yield from command_section([*path, name], sub, sub_help)


def render(parser: argparse.ArgumentParser, version: str, date: str) -> str:
    lines = [
        f'.TH MSP\\-AGENT 8 "{date}" "msp-agent {esc(version)}" "System Administration"',
        ".SH NAME",
        "msp\\-agent \\- compliance and self\\-healing agent for clinic appliances",
        ".SH SYNOPSIS",
        "\\fBmsp\\-agent\\fR [\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIoptions\\fR]",
        ".br",
        "\\fBpython \\-m agent\\fR [\\fIglobal options\\fR] \\fICOMMAND\\fR [\\fIoptions\\fR]",
        ".SH DESCRIPTION",
        esc(parser.description or ""),
        ".PP",
        "Global options are accepted before and after the command. \\fB\\-\\-help\\fR works "
        "everywhere.",
        ".SH GLOBAL OPTIONS",
    ]
    for action in parser._actions:
        if action.option_strings and set(action.option_strings) & GLOBAL:
            lines += list(option_items(_only(parser, action), frozenset()))
    lines.append(".SH COMMANDS")
    for name, help_text, sub in subcommands(parser):
        lines += list(command_section([name], sub, help_text))
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", esc(meaning)]
    lines.append(".SH FILES")
    for path, meaning in FILES:
        lines += [".TP", f"\\fI{esc(path)}\\fR", esc(meaning)]
    lines += [".SH NOTES", "Commands never print secrets. Commands that change state take the "
              "state\\-directory lock and refuse to run while the daemon holds it (exit 3)."]
    return "\n".join(lines) + "\n"


def _only(parser: argparse.ArgumentParser, action: argparse.Action) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p._actions = [action]
    return p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the msp-agent(8) man page.")
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    ap.add_argument("--date", help="the page date (default: today, UTC)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from agent import __version__
    from agent.cli import build_parser

    date = args.date or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    page = render(build_parser(), __version__, date)
    if args.output:
        Path(args.output).write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
