"""The server's Ed25519 signing keys: current and optionally previous (orders.md §3).

Seeds live in the database so a restarted server keeps the keys the agents pinned. Everything the
server signs (orders, reconcile plans, rule bundles) is signed with the current key.
"""

from __future__ import annotations

import nacl.signing

from agent.central.db import Database
from agent.crypto import Ed25519Key


class ServerKeyring:
    """Current + previous signing key, persisted in ``server_keys``."""

    def __init__(
        self,
        db: Database,
        clock_now: float,
        *,
        seed: bytes | None = None,
        previous_seed: bytes | None = None,
    ) -> None:
        self._db = db
        stored = {row["slot"]: bytes.fromhex(row["seed_hex"]) for row in db.all("SELECT * FROM server_keys")}
        if seed is not None:
            current_seed = seed
            if previous_seed is None and stored.get("current") not in (None, seed):
                previous_seed = stored["current"]
            elif previous_seed is None:
                previous_seed = stored.get("previous")
        else:
            current_seed = stored.get("current") or bytes(nacl.signing.SigningKey.generate())
            if previous_seed is None:
                previous_seed = stored.get("previous")
        self.current = Ed25519Key(current_seed)
        self.previous: Ed25519Key | None = Ed25519Key(previous_seed) if previous_seed else None
        self._persist(clock_now)

    def _persist(self, now: float) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM server_keys")
            conn.execute(
                "INSERT INTO server_keys (slot, seed_hex, created_at) VALUES ('current', ?, ?)",
                (self.current.seed().hex(), now),
            )
            if self.previous is not None:
                conn.execute(
                    "INSERT INTO server_keys (slot, seed_hex, created_at) VALUES ('previous', ?, ?)",
                    (self.previous.seed().hex(), now),
                )

    def rotate(self, now: float, new_seed: bytes | None = None) -> None:
        """New current key; the old current becomes previous (the old previous is retired)."""
        self.previous = self.current
        self.current = Ed25519Key(new_seed) if new_seed is not None else Ed25519Key.generate()
        self._persist(now)

    @property
    def public_keys(self) -> list[str]:
        """``server_public_keys``: current first, then previous."""
        keys = [self.current.public_hex]
        if self.previous is not None:
            keys.append(self.previous.public_hex)
        return keys

    def sign_text(self, text: str) -> str:
        """128 lower-hex Ed25519 signature of the UTF-8 bytes of ``text`` with the current key."""
        return self.current.sign(text.encode("utf-8")).hex()
