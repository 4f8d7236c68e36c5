"""``python -m agent scrub``: scrub text (or JSON documents) line by line, streaming.

    scrub [FILE] [--json] [--report] [--hash-mode hmac|sha256] [--key-file PATH] [--pure]

Reads FILE (default stdin) and writes one scrubbed line per input line on stdout, in batches
(one native call per batch), so memory stays constant whatever the input size. Bytes that are
not UTF-8 pass through unchanged. ``--json`` parses each line as a JSON document and scrubs it
like an outbound payload (string values, secret keys). ``--report`` prints the spans found on
each line instead, as a JSON list of ``{"tag", "start", "end"}`` (character offsets).

Exit codes: 0 ok, 1 failure (a read or write error while scrubbing, a line that is not JSON
with --json), 2 usage or unusable input (FILE or the key file cannot be opened or used).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, add_global

if TYPE_CHECKING:  # the scrubber is imported when the command runs: ``--help`` stays cheap
    from agent.phi.csvstream import CsvStream
    from agent.phi.scrubber import Scrubber
    from agent.phi.tokens import HashMode

#: ``agent.phi.tokens.HASH_MODES`` (not imported to build the parser; a test compares them).
HASH_MODES: Final = ("hmac", "sha256")

BATCH_LINES: Final = 2048
BATCH_BYTES: Final = 1 << 20
READ_BYTES: Final = 1 << 18  # read at a time (whole lines of it are decoded at once)
MAX_LINE: Final = 4 << 20  # longer lines are scrubbed in pieces cut at whitespace
_ENC: Final = "utf-8"
_ERRORS: Final = "surrogateescape"
_PEM_BEGIN: Final = re.compile(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = re.compile(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")


class _Failed(Exception):
    pass


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``scrub`` subcommand."""
    p = subparsers.add_parser(
        "scrub",
        help="scrub PHI and secrets from text on stdin (or FILE)",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Exit 0 ok, 1 failure while scrubbing (or a line that is not JSON with --json), "
        "2 usage or unusable input (FILE or the key file cannot be opened or used).",
    )
    add_global(p)
    configure_parser(p)


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", type=Path, help="input file (default: stdin)")
    p.add_argument("--json", action="store_true", help="each line is a JSON document")
    p.add_argument("--report", action="store_true", help="print the spans found, not the text")
    p.add_argument("--hash-mode", choices=HASH_MODES, default="hmac",
                   help="token hash: hmac (default, keyed) or sha256 (Go daemon compatible)")
    p.add_argument("--key-file", type=Path,
                   help="file holding the hex HMAC key (default: a random key for this run)")
    p.add_argument("--pure", action="store_true",
                   help="use the pure-Python reference scrubber even if the native one is built")
    p.set_defaults(func=run)


def _cut(line: bytes, carry: bool = False) -> tuple[list[bytes], bytes]:
    """Pieces of at most MAX_LINE bytes of a line (with its end-of-line bytes), each cut after the
    last space or tab it holds (at MAX_LINE when it holds none), and what is left: with
    ``carry``, the line goes on in the next read, and a rest shorter than MAX_LINE is left to
    be joined with it; else the rest is the last piece."""
    limit = MAX_LINE
    pieces = []
    while len(line) > limit or (len(line) == limit and not line.endswith(b"\n")):
        piece = line[:limit]
        cut = max(piece.rfind(b" "), piece.rfind(b"\t"))
        k = limit if cut <= 0 else cut + 1
        pieces.append(line[:k])
        line = line[k:]
    if carry:
        return pieces, line
    return [*pieces, line] if line else pieces, b""


def _lines(block: bytes) -> Iterator[bytes]:
    start = 0
    while start < len(block):
        end = block.find(b"\n", start) + 1 or len(block)
        yield block[start:end]
        start = end


def _read_blocks(stream: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """The input in blocks of whole lines (about READ_BYTES each; ``True``), or, for a line over
    MAX_LINE, its pieces one by one (``False``): the lines a line-by-line reader would see."""
    read = getattr(stream, "read1", stream.read)  # what is there, up to a block (pipes stream)
    carry = b""
    while True:
        chunk = read(READ_BYTES)
        data = carry + chunk if carry else chunk
        end = len(data) if not chunk else data.rfind(b"\n") + 1  # the input's end ends a line
        block, carry = data[:end], data[end:]
        if block:
            if max(map(len, block.split(b"\n"))) < MAX_LINE:
                yield block, True
            else:
                for line in _lines(block):
                    for piece in _cut(line)[0]:
                        yield piece, False
        if len(carry) >= MAX_LINE:  # a line without its end yet, already too long
            pieces, carry = _cut(carry, carry=True)
            for piece in pieces:
                yield piece, False
        if not chunk:
            return


def _split_eol(line: str) -> tuple[str, str]:
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n"):
        return line[:-1], "\n"
    return line, ""


def _block_lines(block: bytes) -> list[tuple[str, str]]:
    """(body, end of line) of each line of a block of whole lines, decoded once."""
    parts = block.decode(_ENC, _ERRORS).split("\n")
    last = parts.pop()  # "" when the block ends with a line end
    lines = [(p[:-1], "\r\n") if p.endswith("\r") else (p, "\n") for p in parts]
    if last:
        lines.append((last, ""))
    return lines


def _batches(stream: IO[bytes]) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    size = 0
    for data, whole in _read_blocks(stream):
        if whole:
            batch.extend(_block_lines(data))
        else:
            batch.append(_split_eol(data.decode(_ENC, _ERRORS)))
        size += len(data)
        while len(batch) >= BATCH_LINES:
            yield batch[:BATCH_LINES]
            batch, size = batch[BATCH_LINES:], 0
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class _Pem:
    """Private-key blocks spanning lines: lines after an open BEGIN are secret until END."""

    def __init__(self) -> None:
        self.open = False

    def apply(self, scrubber: Scrubber, original: str, scrubbed: str) -> str:
        if self.open:
            from agent.phi.tokens import SECRET_TOKEN

            end = _PEM_END.search(original)
            if end is None:
                return SECRET_TOKEN
            self.open = False
            rest = original[end.end() :]
            out = SECRET_TOKEN + scrubber.scrub(rest)
            self._note(rest)
            return out
        self._note(original)
        return scrubbed

    def _note(self, text: str) -> None:
        if "-----BEGIN" not in text:  # what _PEM_BEGIN starts with: no key block begins here
            return
        begins = list(_PEM_BEGIN.finditer(text))
        if begins and _PEM_END.search(text, begins[-1].end()) is None:
            self.open = True


def _scrub_text(stream: CsvStream, batch: list[tuple[str, str]], pem: _Pem) -> list[str]:
    """One batch of one input; ``stream`` remembers a CSV header across its batches."""
    bodies = [b for b, _ in batch]
    out = stream.scrub_many(bodies)
    if not pem.open and "-----BEGIN" not in "\n".join(bodies):  # no key block opens or is open
        return [o + eol for o, (_, eol) in zip(out, batch, strict=True)]
    return [pem.apply(stream.scrubber, b, o) + eol
            for (b, eol), o in zip(batch, out, strict=True)]


def _scrub_json(scrubber: Scrubber, batch: list[tuple[str, str]], errors: list[int]) -> list[str]:
    from agent.phi.egress import scrub_payload

    lines: list[str] = []
    for body, eol in batch:
        if not body.strip():
            lines.append(body + eol)
            continue
        try:
            doc = json.loads(body)
        except ValueError:
            errors.append(1)
            lines.append(scrubber.scrub(body) + eol)  # still scrubbed, never passed raw
            continue
        clean = scrub_payload(doc, scrubber)
        lines.append(json.dumps(clean, ensure_ascii=False, separators=(",", ":")) + eol)
    return lines


def _report(scrubber: Scrubber, batch: list[tuple[str, str]]) -> list[str]:
    return [
        json.dumps([{"tag": t, "start": s, "end": e} for t, s, e in scrubber.find(b)]) + "\n"
        for b, _ in batch
    ]


def _load_key(path: Path | None) -> bytes | None:
    from agent.phi.tokens import parse_hex_key

    if path is None:
        return None
    try:
        return parse_hex_key(path.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise _Failed(f"cannot use key file {path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``scrub``; returns the exit code."""
    if args.json and args.report:
        sys.stderr.write("scrub: --report cannot be combined with --json\n")
        return EXIT_USAGE
    from agent.phi import make_scrubber
    from agent.phi.csvstream import CsvStream

    try:
        mode: HashMode = args.hash_mode
        scrubber = make_scrubber(key=_load_key(args.key_file), mode=mode, pure=args.pure)
        if scrubber.implementation == "native":
            from agent.phi import native_scan

            native_scan.set_parallel(True)  # a standalone tool: both cores are ours
        source: IO[bytes] = args.file.open("rb") if args.file else sys.stdin.buffer
    except _Failed as exc:
        sys.stderr.write(f"scrub: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"scrub: {args.file}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    out = sys.stdout.buffer
    errors: list[int] = []
    pem = _Pem()
    stream = CsvStream(scrubber)  # a CSV header naming PHI columns holds for this whole input
    try:
        with source:
            for batch in _batches(source):
                if args.report:
                    lines = _report(scrubber, batch)
                elif args.json:
                    lines = _scrub_json(scrubber, batch, errors)
                else:
                    lines = _scrub_text(stream, batch, pem)
                out.write("".join(lines).encode(_ENC, _ERRORS))
        out.flush()
    except OSError as exc:
        sys.stderr.write(f"scrub: {exc}\n")
        return EXIT_FAILURE
    except (TypeError, ValueError, RecursionError):
        sys.stderr.write("scrub: a JSON document could not be scrubbed\n")
        return EXIT_FAILURE
    if errors:
        sys.stderr.write(f"scrub: {len(errors)} line(s) were not valid JSON (scrubbed as text)\n")
        return EXIT_FAILURE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.commands.scrub",
                                     description=(__doc__ or "").split("\n\n")[0])
    configure_parser(parser)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
