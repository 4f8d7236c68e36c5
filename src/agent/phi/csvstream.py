"""CSV with a header in a scrub stream (issue 17): a header line that names PHI columns makes
those columns redacted in the rows that follow, within the same stream.

    stream = CsvStream(scrubber)
    for batch in batches:               # the lines of one input, in order
        out = stream.scrub_many(batch)

A header is a line of at least two fields (``,``, ``;`` or tab separated, the one that gives the
most fields) that are all names (letters, digits, ``_``, ``-``, ``.``, spaces; quoted or not) and
of which at least one names a PHI or secret category (:data:`agent.phi.rules.PHI_KEYS`, as for
structured keys: ``first_name``, ``DOB``, ``Phone Number``). A row is a line with the header's
number of fields; in it, the value of each PHI column becomes that category's token, whatever it
looks like. A line with another number of fields ends the table. Everything is then scrubbed as
usual (tokens already there are kept).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from agent.phi.egress import scrub_strings
from agent.phi.rules import PHI_KEY_TAGS, TAG_INDEX, normalise_key
from agent.phi.scrubber import Scrubber

_DELIMITERS: Final = (",", ";", "\t")
_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.\- ]{0,39}")
# A byte that no header holds outside quotes: not a name character, delimiter or whitespace.
_NOT_HEADER: Final = re.compile(r"[^A-Za-z0-9_.\- ,;\t\n\x0b\x0c\r\x1c-\x1f]")


def fields(line: str, delim: str) -> list[tuple[int, int]]:
    """(start, end) of each field's value in ``line`` (inside its quotes, if quoted)."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            j = i + 1
            while j < n and not (line[j] == '"' and (j + 1 >= n or line[j + 1] != '"')):
                j += 2 if line[j] == '"' else 1
            out.append((i + 1, min(j, n)))
            k = line.find(delim, j)
        else:
            k = line.find(delim, i)
            out.append((i, n if k < 0 else k))
        if k < 0:
            return out
        i = k + 1


class CsvStream:
    """A scrubber over the lines of one stream that remembers the last CSV header."""

    __slots__ = ("_columns", "_delim", "_width", "scrubber")

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber
        self._delim = ""
        self._width = 0
        self._columns: dict[int, str] = {}  # field index -> tag

    def _header(self, line: str) -> bool:
        if "," not in line and ";" not in line and "\t" not in line:
            return False  # one field at most
        if '"' not in line and line.isascii() and _NOT_HEADER.search(line):
            return False  # every character is in some field's name, and this one is in none
        best: tuple[str, list[tuple[int, int]]] | None = None
        for delim in _DELIMITERS:
            spans = fields(line, delim)
            if len(spans) >= 2 and (best is None or len(spans) > len(best[1])):
                best = delim, spans
        if best is None:
            return False
        delim, spans = best
        names = [line[a:b].strip() for a, b in spans]
        if not all(_NAME.fullmatch(name) for name in names):
            return False
        columns = {k: PHI_KEY_TAGS[normalise_key(name)] for k, name in enumerate(names)
                   if normalise_key(name) in PHI_KEY_TAGS}
        if not columns:
            return False
        self._delim, self._width, self._columns = delim, len(spans), columns
        return True

    def _row(self, line: str) -> str:
        spans = fields(line, self._delim)
        if len(spans) != self._width:
            self._columns, self._width = {}, 0
            return line
        token = self.scrubber.tokenizer.token
        parts: list[str] = []
        last = 0
        for k, (a, b) in enumerate(spans):
            tag = self._columns.get(k)
            if tag is None or b <= a:
                continue
            parts += [line[last:a], token(TAG_INDEX[tag], line[a:b])]
            last = b
        return "".join([*parts, line[last:]])

    def stage(self, lines: Sequence[str]) -> list[str]:
        """The lines with the PHI columns of CSV rows already tokenised, not scrubbed yet (for a
        caller whose own scrub follows: the log batch's egress keeps these tokens)."""
        staged = []
        for line in lines:
            if self._header(line):
                staged.append(line)
            elif self._columns:
                staged.append(self._row(line))
            else:
                staged.append(line)
        return staged

    def scrub_many(self, lines: Sequence[str]) -> list[str]:
        return scrub_strings(self.stage(lines), self.scrubber)
