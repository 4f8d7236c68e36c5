"""Witness counter-signatures (evidence.md §8): sign siblings' bundle hashes, send them in the
next checkin's ``witness_attestations`` (at most 100), remove them only after that checkin
returned 200. At most 500 queued (oldest dropped with a WARNING); ids attested within the last
hour are skipped.

With a ``state_dir`` the queue (and the attested-ids memory) lives in
``evidence_chain/witness_queue.json``, rewritten atomically (temporary file, ``fsync``, rename,
directory ``fsync``) whenever it changes, so counter-signatures survive a restart until a checkin
carrying them returned 200. A missing or unreadable file starts an empty queue."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec

from agent.crypto import Ed25519Key
from agent.evidence.bundle import witness_signature
from agent.log import get_logger
from agent.protocol import WitnessAttestation
from agent.state.atomic import atomic_write, ensure_dir

log = get_logger("evidence")

_HASH = re.compile(r"^[0-9a-f]{64}$")
PER_CHECKIN = 100
MAX_QUEUE = 500
REPEAT_S = 3600.0
FILE = "evidence_chain/witness_queue.json"


class _Saved(msgspec.Struct):
    queue: list[WitnessAttestation] = []
    attested: dict[str, float] = {}


class WitnessQueue:
    def __init__(self, key: Ed25519Key, *, clock: Callable[[], float] = time.time,
                 state_dir: Path | None = None) -> None:
        self.key = key
        self.clock = clock
        self.path = state_dir / FILE if state_dir is not None else None
        self.queue: list[WitnessAttestation] = []
        self.attested: dict[str, float] = {}
        self.dropped = 0
        self.sent = 0
        self.save_errors = 0
        self._load()

    # --- persistence -------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            saved = msgspec.json.decode(self.path.read_bytes(), type=_Saved)
        except FileNotFoundError:
            return
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("evidence.witness_unreadable", "witness queue file unreadable; starting "
                        "empty", error=str(exc)[:200])
            return
        self.queue = saved.queue[-MAX_QUEUE:]
        self.attested = dict(saved.attested)

    def _save(self) -> None:
        if self.path is None:
            return
        data = msgspec.json.encode(_Saved(queue=self.queue, attested=self.attested))
        try:
            ensure_dir(self.path.parent)
            atomic_write(self.path, data, 0o600)
        except OSError as exc:
            # The attestations stay queued in memory and are retried with the next change.
            self.save_errors += 1
            log.error("evidence.witness_save_failed", f"witness queue not saved: {exc}")

    def offer(self, peers: Iterable[Any]) -> int:
        """Counter-sign ``peer_bundle_hashes`` entries; returns how many were queued."""
        now = self.clock()
        self.attested = {k: t for k, t in self.attested.items() if now - t < REPEAT_S}
        added = 0
        over = 0
        for p in peers:
            bid, h = str(getattr(p, "bundle_id", "")), str(getattr(p, "bundle_hash", ""))
            if not _HASH.fullmatch(h) or not 1 <= len(bid) <= 100 or bid in self.attested:
                continue
            self.queue.append(WitnessAttestation(
                bundle_id=bid, bundle_hash=h, witness_signature=witness_signature(self.key, h),
                witness_public_key=self.key.public_hex,
                source_appliance=str(getattr(p, "source_appliance", ""))))
            self.attested[bid] = now
            added += 1
        if len(self.queue) > MAX_QUEUE:
            over = len(self.queue) - MAX_QUEUE
            self.queue = self.queue[over:]
            self.dropped += over
            log.warning("evidence.witness_dropped", "witness queue full; oldest attestations "
                        "dropped", dropped=over)
        if added or over > 0:
            self._save()
        return added

    def batch(self) -> list[WitnessAttestation]:
        """What the next checkin carries."""
        return list(self.queue[:PER_CHECKIN])

    def confirm(self, sent: list[WitnessAttestation]) -> None:
        """The checkin that carried ``sent`` returned 200."""
        if not sent:
            return
        ids = {id(a) for a in sent}
        self.queue = [a for a in self.queue if id(a) not in ids]
        self.sent += len(sent)
        self._save()
