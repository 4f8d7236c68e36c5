"""Token format and keys (phi.md §2)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from tests.phi.conftest import KEY

from agent import phi
from agent.phi import make_scrubber
from agent.phi.tokens import Tokenizer, normalise, parse_hex_key


def test_hmac_token_format_and_normalisation() -> None:
    s = make_scrubber(key=KEY)
    a = s.scrub("SSN 123-45-6789")
    b = s.scrub("SSN 123 45 6789")
    want = hmac.new(KEY, b"SSN:123456789", hashlib.sha256).hexdigest()[:8]
    assert a == b == f"SSN [SSN-REDACTED-{want}]"
    e = s.scrub("to Jo.Smith@Example.com")
    want_e = hmac.new(KEY, b"EMAIL:jo.smith@example.com", hashlib.sha256).hexdigest()[:8]
    assert e == f"to [EMAIL-REDACTED-{want_e}]"
    assert normalise("NAME", "O'Brien") == "O'Brien"
    assert normalise("PHONE", "(570) 555-0100") == "5705550100"


def test_sha256_compatibility_mode() -> None:
    s = make_scrubber(key=KEY, mode="sha256")
    want = hashlib.sha256(b"123-45-6789").hexdigest()[:8]
    assert s.scrub("SSN 123-45-6789") == f"SSN [SSN-REDACTED-{want}]"
    assert s.scrub("SSN 123 45 6789") != s.scrub("SSN 123-45-6789")


def test_keys_change_tokens_and_secrets_have_no_hash() -> None:
    a = make_scrubber(key=KEY).scrub("MRN 00123456")
    b = make_scrubber(key=bytes(32)).scrub("MRN 00123456")
    assert a != b and a.startswith("MRN [MRN-REDACTED-") and len(a) == len("MRN [MRN-REDACTED-]") + 8
    assert make_scrubber(key=KEY).scrub("password=x1") == "password=[SECRET-REDACTED]"
    with pytest.raises(ValueError):
        Tokenizer(KEY, "md5")  # type: ignore[arg-type]


def test_config_key_parsing() -> None:
    assert parse_hex_key(KEY.hex()) == KEY
    with pytest.raises(ValueError):
        parse_hex_key("abcd")


def test_configure_sets_process_key(tmp_path: Path) -> None:
    try:
        phi.configure(hash_key_hex=KEY.hex())
        assert phi.scrub("SSN 123-45-6789") == make_scrubber(key=KEY).scrub("SSN 123-45-6789")
        phi.configure(site_key=bytes(32))
        assert phi.scrub("SSN 123-45-6789") == make_scrubber(key=bytes(32)).scrub("SSN 123-45-6789")
        phi.configure(hash_mode="sha256", site_key=bytes(32))
        want = hashlib.sha256(b"123-45-6789").hexdigest()[:8]
        assert phi.scrub("SSN 123-45-6789") == f"SSN [SSN-REDACTED-{want}]"
        assert phi.find("SSN 123-45-6789") == [("SSN", 4, 15)]
        assert phi.contains_phi("SSN 123-45-6789") and not phi.contains_phi("DC01 ok")
        assert phi.scrub_many(["a", "SSN 123-45-6789"])[0] == "a"
    finally:
        phi.configure()


def test_implementation_reported() -> None:
    from agent import native

    expected = "native" if native.NATIVE else "reference"
    assert expected == phi.IMPLEMENTATION
