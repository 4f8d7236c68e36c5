"""The egress boundary: recursion, secret keys, fail closed (phi.md §1, §4)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from agent.log import configure
from agent.phi.egress import EgressError, egress, is_secret_key
from agent.phi.reference import Span
from agent.phi.scrubber import Scrubber


def test_nested_payload_scrubbed(scrubber: Scrubber) -> None:
    payload = {
        "site_id": "clinic-1",
        "hosts": ["DC01", "PATIENT-ROOM-411"],
        "incident": {"raw": "patient Mary Smith MRN 49771904", "count": 3, "ok": True,
                     "nested": [("SSN 832-15-9624", None, 1.5)]},
        "MRN 1234567": "key kept as is",
    }
    out = egress(payload, kind="incident", scrubber=scrubber)
    assert out["site_id"] == "clinic-1"
    assert out["hosts"][0] == "DC01" and out["hosts"][1].startswith("[HOSTNAME-REDACTED-")
    raw = out["incident"]["raw"]
    assert "Mary" not in raw and "49771904" not in raw and raw.startswith("patient [NAME-")
    assert out["incident"]["count"] == 3 and out["incident"]["ok"] is True
    nested = out["incident"]["nested"][0]
    assert isinstance(nested, tuple) and nested[1:] == (None, 1.5)
    assert nested[0].startswith("SSN [SSN-REDACTED-")
    assert out["MRN 1234567"] == "key kept as is"
    # the input is not modified
    assert payload["incident"]["raw"] == "patient Mary Smith MRN 49771904"  # type: ignore[index]


@pytest.mark.parametrize("key", ["password", "DB_PASSWORD", "passwd", "client_secret", "apiToken",
                                 "x-api-key", "apikey", "private_key", "privateKey",
                                 "credentials", "aws_credential", "ssh_key"])
def test_secret_keys(scrubber: Scrubber, key: str) -> None:
    assert is_secret_key(key)
    out = egress({key: {"deep": ["anything", 1]}, "other": "plain"}, kind="t", scrubber=scrubber)
    assert out == {key: "[SECRET-REDACTED]", "other": "plain"}


@pytest.mark.parametrize("key", ["token_count", "secretary", "passwordless", "keys", "name", 7])
def test_not_secret_keys(key: object) -> None:
    assert not is_secret_key(key)


def test_string_and_list_payloads(scrubber: Scrubber) -> None:
    assert egress("pwd=abc", kind="log", scrubber=scrubber) == "pwd=[SECRET-REDACTED]"
    assert egress(["a", ["b"]], kind="log", scrubber=scrubber) == ["a", ["b"]]


class Exploding:
    pass


def test_fail_closed_on_unsupported_type(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", "json")
    with pytest.raises(EgressError) as err:
        egress({"raw": "MRN 49771904", "obj": Exploding()}, kind="evidence")
    assert err.value.kind == "evidence"
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert lines[-1]["event"] == "phi.egress_failed" and lines[-1]["kind"] == "evidence"
    assert lines[-1]["level"] == "error"
    assert "49771904" not in json.dumps(lines)


class BrokenScanner:
    name = "broken"

    def find_spans(self, text: str) -> Sequence[Span]:
        raise MemoryError("no memory")

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]:
        raise MemoryError("no memory")


def test_fail_closed_when_scanner_raises(scrubber: Scrubber) -> None:
    broken = Scrubber(BrokenScanner(), scrubber.tokenizer)
    with pytest.raises(EgressError) as err:
        egress({"a": "x"}, kind="checkin", scrubber=broken)
    assert err.value.kind == "checkin" and err.value.__cause__ is None


def test_fail_closed_on_cycles() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(EgressError):
        egress(loop, kind="telemetry")
