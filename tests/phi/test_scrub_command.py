"""``python -m agent scrub`` (src/agent/commands/scrub.py)."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from tests.phi.conftest import KEY

from agent.commands import scrub as cmd
from agent.phi import make_scrubber

LINES = [
    "Import failed for record SSN 832-15-9624 on NVDC01",
    "DC01 chronyd[3648]: Selected source 172.14.113.196 (pool.ntp.org)",
    "Mail delivery to susan.rodriguez@gmail.com deferred",
    "bytes \udcff\udcfe not utf-8 and patient name: Sofia Smith",
]


class Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        mv = memoryview(b)  # type: ignore[arg-type]
        self.data += mv
        return len(mv)


def invoke(monkeypatch: pytest.MonkeyPatch, argv: list[str], data: bytes,
           stdin: io.BufferedIOBase | None = None) -> tuple[int, bytes, str]:
    out, err = Sink(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin or io.BytesIO(data)))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(out)))
    monkeypatch.setattr(sys, "stderr", err)
    code = cmd.main(argv)
    sys.stdout.flush()
    return code, bytes(out.data), err.getvalue()


def raw(lines: list[str]) -> bytes:
    return "".join(x + "\n" for x in lines).encode("utf-8", "surrogateescape")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    p = tmp_path / "key"
    p.write_text(KEY.hex() + "\n")
    return p


@pytest.mark.parametrize("pure", [[], ["--pure"]])
def test_text_mode(monkeypatch: pytest.MonkeyPatch, key_file: Path, pure: list[str]) -> None:
    data = raw(LINES)
    code, out, _ = invoke(monkeypatch, ["--key-file", str(key_file), *pure], data)
    assert code == 0
    s = make_scrubber(key=KEY)
    want = raw([s.scrub(x) for x in LINES])
    assert out == want
    assert out.count(b"\n") == len(LINES)
    assert b"\xff\xfe not utf-8" in out  # undecodable bytes pass through unchanged
    assert b"832-15-9624" not in out and b"Sofia" not in out


def test_file_argument_crlf_and_no_final_newline(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    f = tmp_path / "in.log"
    f.write_bytes(b"a SSN 832-15-9624\r\nplain\r\nlast pwd=x")
    code, out, _ = invoke(monkeypatch, [str(f)], b"")
    assert code == 0
    lines = out.split(b"\r\n")
    assert len(lines) == 3 and lines[1] == b"plain" and lines[2] == b"last pwd=[SECRET-REDACTED]"
    assert lines[0].startswith(b"a SSN [SSN-REDACTED-")


def test_hash_modes(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    data = b"SSN 832-15-9624\n"
    _, sha, _ = invoke(monkeypatch, ["--hash-mode", "sha256"], data)
    assert sha == f"SSN [SSN-REDACTED-{hashlib.sha256(b'832-15-9624').hexdigest()[:8]}]\n".encode()
    _, h1, _ = invoke(monkeypatch, ["--key-file", str(key_file)], data)
    _, h2, _ = invoke(monkeypatch, ["--key-file", str(key_file), "--pure"], data)
    assert h1 == h2 == (make_scrubber(key=KEY).scrub("SSN 832-15-9624") + "\n").encode()


def test_bad_key_file_and_usage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("not hex")
    code, out, err = invoke(monkeypatch, ["--key-file", str(bad)], b"x\n")
    assert code == 2 and out == b"" and "key file" in err  # unusable input (runtime.md §8)
    code, _, _ = invoke(monkeypatch, ["--key-file", str(tmp_path / "missing")], b"x\n")
    assert code == 2
    code, _, err = invoke(monkeypatch, ["--json", "--report"], b"x\n")
    assert code == 2
    with pytest.raises(SystemExit) as exc:
        invoke(monkeypatch, ["--hash-mode", "md5"], b"x\n")
    assert exc.value.code == 2


def test_report(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = invoke(monkeypatch, ["--report"], raw(["é SSN 832-15-9624, pwd=x", "none"]))
    assert code == 0
    first, second = out.decode().splitlines()
    assert json.loads(first) == [{"tag": "SSN", "start": 6, "end": 17},
                                 {"tag": "SECRET", "start": 23, "end": 24}]
    assert json.loads(second) == []


def test_json_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [{"raw": "MRN 49771904", "api_key": "abc", "n": [1, "DC01"]}, "SSN 832-15-9624"]
    data = ("\n".join(json.dumps(d) for d in docs) + "\n\n").encode()
    code, out, _ = invoke(monkeypatch, ["--json"], data)
    assert code == 0
    a, b, blank = out.decode().split("\n")[:3]
    doc = json.loads(a)
    assert doc["api_key"] == "[SECRET-REDACTED]" and doc["n"] == [1, "DC01"]
    assert doc["raw"].startswith("MRN [MRN-REDACTED-")
    assert json.loads(b).startswith("SSN [SSN-REDACTED-") and blank == ""


def test_json_mode_invalid_line_fails_but_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = invoke(monkeypatch, ["--json"], b'{"a": "pwd=x"\n{"ok": 1}\n')
    assert code == 1 and "not valid JSON" in err
    assert out == b'{"a": "pwd=[SECRET-REDACTED]"\n{"ok":1}\n'


def test_pem_block_across_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["before", "key -----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA",
             "AAAEbm9uZQ==", "-----END OPENSSH PRIVATE KEY----- after SSN 832-15-9624", "plain"]
    code, out, _ = invoke(monkeypatch, [], raw(lines))
    assert code == 0
    got = out.decode().splitlines()
    assert got[0] == "before" and got[1] == "key [SECRET-REDACTED]"
    assert got[2] == got[3] == "[SECRET-REDACTED]"
    assert got[4].startswith("[SECRET-REDACTED] after SSN [SSN-REDACTED-")
    assert got[5] == "plain"


class LazyInput(io.RawIOBase):
    """Many megabytes of log lines, generated as they are read."""

    def __init__(self, lines: int) -> None:
        self.left = lines
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        while len(self.pending) < len(b) and self.left:
            self.left -= 1
            self.pending += b"Fax to 575-308-5510 failed: line busy (host FS01, 10.1.2.3) x\n"
        n = min(len(b), len(self.pending))
        b[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


def test_streaming_constant_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = 200_000  # about 13 MB in and out
    out = Sink()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(LazyInput(lines))))

    class Counting(io.RawIOBase):
        count = 0
        newlines = 0

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            mv = memoryview(b)  # type: ignore[arg-type]
            Counting.count += len(mv)
            Counting.newlines += bytes(mv).count(b"\n")
            return len(mv)

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BufferedWriter(Counting())))
    tracemalloc.start()
    try:
        code = cmd.main([])
        sys.stdout.flush()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0 and Counting.newlines == lines and not out.data
    assert Counting.count > 10_000_000
    assert peak < 12_000_000  # bounded by the batch size, not the input size


def test_long_line_is_cut_at_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmd, "MAX_LINE", 64)
    line = ("word " * 30) + "SSN 832-15-9624 end"
    code, out, _ = invoke(monkeypatch, [], (line + "\n").encode())
    assert code == 0 and b"832-15-9624" not in out and out.endswith(b" end\n")
    assert out.replace(b"[SSN-REDACTED-", b"").count(b"word") == 30


def test_add_parser_registers_subcommand() -> None:
    parser = argparse.ArgumentParser()
    cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["scrub", "--pure", "--hash-mode", "sha256"])
    assert args.func is cmd.run and args.pure and args.hash_mode == "sha256"


def test_subprocess_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "agent.commands.scrub"], input=b"pwd=x\n",
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == b"pwd=[SECRET-REDACTED]\n"
