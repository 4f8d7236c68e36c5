"""Client-side building blocks: SPKI pins, backoff bounds, breaker, server keys, config rewrite."""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.signing import SigningKey

from agent.config import load_config
from agent.config.write import ConfigWriteError, persist_api_key, replace_api_key_text
from agent.site.serverkeys import RESEED_MARKER, KeyPair, ServerKeys, offered_pair, valid_key
from agent.transport.der import spki_der, spki_sha256
from agent.transport.pins import PinMismatch, PinStore
from agent.transport.policy import BACKOFF_CAP_S, Breaker, CheckinBackoff

# --- DER / SPKI -------------------------------------------------------------------------


def test_spki_matches_cryptography() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("cc.example.org")
    for pem in (ca.cert_pem.bytes(), leaf.cert_chain_pems[0].bytes()):
        cert = x509.load_pem_x509_certificate(pem)
        der = cert.public_bytes(Encoding.DER)
        want = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert spki_der(der) == want


@pytest.mark.parametrize("junk", [b"", b"\x30", b"\x30\x82\xff\xff", b"\x02\x01\x00",
                                  b"\x30\x03\x30\x01\x00"])
def test_spki_rejects_malformed(junk: bytes) -> None:
    with pytest.raises(ValueError):
        spki_der(junk)


def chain_der(ca: trustme.CA, host: str = "cc.example.org") -> list[bytes]:
    leaf = ca.issue_cert(host)
    certs = [x509.load_pem_x509_certificate(b.bytes()) for b in leaf.cert_chain_pems]
    certs.append(x509.load_pem_x509_certificate(ca.cert_pem.bytes()))
    return [c.public_bytes(Encoding.DER) for c in certs]


def test_tofu_records_whole_chain_and_survives_leaf_renewal(tmp_path: Path) -> None:
    ca = trustme.CA()
    store = PinStore(tmp_path)
    first = chain_der(ca)
    assert store.check("cc:443", first) == "tofu"
    doc = json.loads((tmp_path / "tls_pins.json").read_text())
    assert doc["hosts"]["cc:443"]["spki_sha256"] == [spki_sha256(c) for c in first]
    assert stat.S_IMODE((tmp_path / "tls_pins.json").stat().st_mode) == 0o600
    renewed = chain_der(ca)  # new leaf key, same CA
    assert spki_sha256(renewed[0]) != spki_sha256(first[0])
    assert store.check("cc:443", renewed) == "pinned"


def test_changed_chain_is_refused_and_pin_kept(tmp_path: Path) -> None:
    store = PinStore(tmp_path)
    store.check("cc:443", chain_der(trustme.CA()))
    before = (tmp_path / "tls_pins.json").read_bytes()
    with pytest.raises(PinMismatch):
        store.check("cc:443", chain_der(trustme.CA()))
    assert store.alert
    assert (tmp_path / "tls_pins.json").read_bytes() == before  # never replaced


def test_configured_pin(tmp_path: Path) -> None:
    ca = trustme.CA()
    chain = chain_der(ca)
    store = PinStore(tmp_path, (spki_sha256(chain[-1]).upper(),))
    assert store.check("cc:443", chain) == "configured"
    with pytest.raises(PinMismatch):
        store.check("cc:443", chain_der(trustme.CA()))
    assert not (tmp_path / "tls_pins.json").exists()


def test_legacy_leaf_pin_migrates(tmp_path: Path) -> None:
    import hashlib

    chain = chain_der(trustme.CA())
    (tmp_path / "server_cert_pin.hex").write_text(hashlib.sha256(chain[0]).hexdigest() + "\n")
    assert PinStore(tmp_path).check("cc:443", chain) == "legacy"
    assert (tmp_path / "server_cert_pin.hex").exists()  # left in place
    other = tmp_path / "other"
    other.mkdir()
    (other / "server_cert_pin.hex").write_text("00" * 32)
    with pytest.raises(PinMismatch):
        PinStore(other).check("cc:443", chain)


def test_unreadable_pin_file_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "tls_pins.json").write_text("{not json")
    with pytest.raises(PinMismatch, match="unreadable"):
        PinStore(tmp_path).check("cc:443", chain_der(trustme.CA()))
    assert (tmp_path / "tls_pins.json").read_text() == "{not json"


# --- backoff and breaker (fake randomness and clock; no wall time) -----------------------


@pytest.mark.parametrize("poll", [10, 60, 3600])
def test_backoff_full_jitter_bounds(poll: int) -> None:
    rng = random.Random(7)
    b = CheckinBackoff(poll, rng)
    for k in range(1, 15):
        ceiling = min(BACKOFF_CAP_S, poll * 2 ** (k - 1))
        samples = []
        for _ in range(200):
            b.failures = k - 1
            samples.append(b.failure())
        assert all(1.0 <= s <= max(1.0, ceiling) for s in samples)
        # Full jitter: the spread covers most of [0, ceiling].
        assert min(samples) < 0.2 * ceiling + 1 and max(samples) > 0.8 * ceiling
    assert b.success() == pytest.approx(poll, rel=0.05) and b.failures == 0


def test_backoff_extremes_and_retry_after() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def uniform(self, a: float, b: float) -> float:
            return a + (b - a) * self.value

    low = CheckinBackoff(60, Fixed(0.0))
    assert low.failure() == 1.0  # floor
    high = CheckinBackoff(60, Fixed(1.0))
    assert [high.failure() for _ in range(6)] == [60, 120, 240, 480, 600, 600]
    assert CheckinBackoff(60, Fixed(0.0)).failure(retry_after=90) == 90
    success = CheckinBackoff(60, Fixed(1.0))
    assert success.success() == pytest.approx(63.0)


def test_breaker_opens_after_5_and_half_opens() -> None:
    now = [0.0]
    br = Breaker(clock=lambda: now[0])
    for _ in range(4):
        br.failure()
    assert br.state == "closed" and br.allow()
    br.failure()
    assert br.state == "open" and not br.allow()
    now[0] += 300
    assert br.state == "half_open"
    assert br.allow() and not br.allow()  # one probe only
    br.failure()
    assert br.state == "open"
    now[0] += 300
    assert br.allow()
    br.success()
    assert br.state == "closed" and br.allow()


# --- server key trust (orders.md §3) -------------------------------------------------


def key(i: int) -> str:
    return bytes(SigningKey(bytes([i]) * 32).verify_key).hex()


def test_offered_pair_rules() -> None:
    assert offered_pair(None, []) is None
    assert offered_pair("zz", ["nothex"]) is None
    assert offered_pair(None, [key(1), key(2)]) == KeyPair(key(1), key(2))
    assert offered_pair(key(2), [key(2), key(1), key(3)]) == KeyPair(key(2), key(1))
    assert not valid_key(key(1).upper()) and not valid_key("00" * 31)


def test_server_key_lifecycle(tmp_path: Path) -> None:
    sk = ServerKeys(tmp_path)
    assert sk.offer(None) == "no_offer" and sk.trusted is None
    assert sk.offer(KeyPair(key(1))) == "first_checkin"
    assert json.loads((tmp_path / "server_keys.json").read_text())["source"] == "first_checkin"
    assert sk.offer(KeyPair(key(1))) == "unchanged"
    assert sk.offer(KeyPair(key(2), key(1))) == "rotation"
    assert set(sk.trusted_keys()) == {key(1), key(2)}
    assert sk.offer(KeyPair(key(3), key(2))) == "rotation"
    assert set(sk.trusted_keys()) == {key(2), key(3)}  # key 1 retired
    assert sk.offer(KeyPair(key(8), key(9))) == "untrusted"
    assert set(sk.trusted_keys()) == {key(2), key(3)} and sk.alert
    again = ServerKeys(tmp_path)  # survives a restart; the config is not consulted
    assert set(again.trusted_keys()) == {key(2), key(3)}


def test_server_keys_seeded_from_config_and_corrupt_file(tmp_path: Path) -> None:
    sk = ServerKeys(tmp_path, configured=key(5))
    assert sk.trusted == KeyPair(key(5)) and sk.source == "config"
    (tmp_path / "server_keys.json").write_text("garbage")
    broken = ServerKeys(tmp_path, configured=key(5))
    assert broken.trusted is None and broken.alert
    assert broken.offer(KeyPair(key(6))) == "untrusted"  # never re-seeded automatically


def test_lost_trust_survives_restarts_until_an_operator_acts(tmp_path: Path) -> None:
    ServerKeys(tmp_path).offer(KeyPair(key(1)))
    (tmp_path / "server_keys.json").write_text("garbage")
    assert ServerKeys(tmp_path).needs_reseed
    for _ in range(2):  # restarts: the network's keys are never trusted "on first checkin"
        again = ServerKeys(tmp_path)
        assert again.needs_reseed and "re-seed" in again.alert and again.reseed_reason()
        assert again.offer(KeyPair(key(6))) == "untrusted" and again.trusted_keys() == []
        assert not (tmp_path / "server_keys.json").exists()
    # The operator removes the documented marker: the next checkin's keys are trusted.
    (tmp_path / RESEED_MARKER).unlink()
    fresh = ServerKeys(tmp_path)
    assert not fresh.needs_reseed and fresh.offer(KeyPair(key(6))) == "first_checkin"


def test_lost_trust_reseeded_by_a_new_configured_key(tmp_path: Path) -> None:
    ServerKeys(tmp_path, configured=key(5))
    (tmp_path / "server_keys.json").write_text("{}")
    assert ServerKeys(tmp_path, configured=key(5)).trusted is None
    # The key that was configured when trust was lost does not re-seed by itself...
    assert ServerKeys(tmp_path, configured=key(5)).needs_reseed
    # ...an operator setting server_public_key does.
    sk = ServerKeys(tmp_path, configured=key(7))
    assert sk.trusted == KeyPair(key(7)) and sk.source == "config" and not sk.needs_reseed
    assert not (tmp_path / RESEED_MARKER).exists()
    assert ServerKeys(tmp_path).trusted == KeyPair(key(7))


# --- config.yaml rewrite (runtime.md §2.6) ---------------------------------------------


def test_api_key_rewrite_keeps_everything_else(tmp_path: Path) -> None:
    text = ("# provisioned\nsite_id: clinic   # the site\napi_key: 'old-key'  # rotated by server\n"
            "poll_interval: 60\nappliance_id: x\n")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    new = "N3wKey_" + "a" * 40
    persist_api_key(path, new)
    out = path.read_text()
    assert out == text.replace("'old-key'", f'"{new}"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path, environ={}).config.api_key == new


@pytest.mark.parametrize("text", ["site_id: s\n", "site_id: s", "", "site_id: s\napi_key:\n",
                                  "{site_id: s, api_key: x}", "api_key: ~\nz: 1\n"])
def test_api_key_added_or_replaced(text: str) -> None:
    import yaml

    out = replace_api_key_text(text, "k" * 43)
    assert yaml.safe_load(out)["api_key"] == "k" * 43


def test_api_key_rewrite_refuses_odd_files() -> None:
    with pytest.raises(ConfigWriteError):
        replace_api_key_text("- a\n- b\n", "k")
    with pytest.raises(ConfigWriteError):
        replace_api_key_text("api_key: |\n  multi\n", "k")
