"""File names of durable queue items: the order of a queue is the order of its file names.

Each kind keeps the file names its spec fixes (runtime.md §3.1), so the Go daemon can still read
the directories it shares with us after a rollback:

* :class:`NsNaming` — ``<unix-ns, 20 digits>-<key>.json`` (completion outbox, report outbox,
  log batches) or ``<prefix><unix-ns>.json`` (``telemetry_queue/telem_<unix-ns>.json``);
* :class:`SeqNaming` — ``bundle-<seq, 12 digits>-<bundle_id>.json`` (evidence spool).

``parse`` returns ``None`` for every other name, so foreign files in a queue directory (state
files, reason files, legacy bundles) are never mistaken for items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{0,100}$")


class Naming(Protocol):
    @property
    def time_ordered(self) -> bool:
        """Whether the order number is a creation time in nanoseconds (else a sequence number)."""

    def make(self, order: int, key: str) -> str:
        """The file name of the item with this order number and key."""

    def parse(self, name: str) -> tuple[int, str] | None:
        """``(order, key)`` of an item file name; None for anything else."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"invalid queue item key {key!r}")
    return key


@dataclass(frozen=True, slots=True)
class NsNaming:
    """``<prefix><ns>[-<key>].json``; ``width`` pads the number (20 keeps names sortable)."""

    prefix: str = ""
    width: int = 20
    keyed: bool = True
    time_ordered: bool = True

    def make(self, order: int, key: str) -> str:
        num = f"{order:0{self.width}d}" if self.width else str(order)
        if self.keyed:
            return f"{self.prefix}{num}-{check_key(key)}.json"
        return f"{self.prefix}{num}.json"

    def parse(self, name: str) -> tuple[int, str] | None:
        if not name.startswith(self.prefix) or not name.endswith(".json") or name.startswith("."):
            return None
        stem = name[len(self.prefix):-5]
        num, sep, key = stem.partition("-")
        if not num.isdigit() or (self.keyed and not sep) or (not self.keyed and sep):
            return None
        if self.width and len(num) != self.width:
            return None
        return int(num), key


@dataclass(frozen=True, slots=True)
class SeqNaming:
    """``<prefix><seq, width digits>-<key>.json`` (the evidence spool: ``bundle-…``)."""

    prefix: str = "bundle-"
    width: int = 12
    time_ordered: bool = False

    def make(self, order: int, key: str) -> str:
        return f"{self.prefix}{order:0{self.width}d}-{check_key(key)}.json"

    def parse(self, name: str) -> tuple[int, str] | None:
        if not name.startswith(self.prefix) or not name.endswith(".json"):
            return None
        num, sep, key = name[len(self.prefix):-5].partition("-")
        if len(num) != self.width or not num.isdigit() or not sep or not _KEY.fullmatch(key):
            return None
        return int(num), key
