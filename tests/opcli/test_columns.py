"""Operator command output fits 80 columns on a terminal (pipes get whole lines)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from .conftest import Cli, write_pins

COMMANDS = [("runbooks", "show", "LIN-FW-001"), ("pins", "list"), ("verify", "state"),
            ("rules", "list")]


def on_terminal(cli: Cli, args: tuple[str, ...], width: int) -> str:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    env = cli.env()
    env.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "-m", "agent", *args, "--state-dir", str(cli.state)],
                            stdout=slave, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=env, cwd=cli.tmp)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.parametrize("args", COMMANDS)
def test_fits_80_columns_on_a_wide_terminal(cli: Cli, args: tuple[str, ...]) -> None:
    write_pins(cli.state)
    out = on_terminal(cli, args, 200)
    lines = out.splitlines()
    assert len(lines) > 2
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)


def test_narrow_terminal_and_pipes(cli: Cli) -> None:
    narrow = on_terminal(cli, ("runbooks", "show", "LIN-FW-001"), 60)
    assert max(len(line) for line in narrow.splitlines()) <= 60
    piped = cli("runbooks", "show", "LIN-FW-001")
    assert max(len(line) for line in piped.stdout.splitlines()) > 80  # whole lines in a pipe
