"""The egress boundary: recursion, secret keys, fail closed (phi.md §1, §4)."""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Sequence

import msgspec
import pytest

from agent.log import configure
from agent.phi.egress import EgressError, egress, is_secret_key, phi_key_tag
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


# ------------------------------------------------------------------ PHI keys (issue 17 item 3)


@pytest.mark.parametrize(("key", "value", "tag"), [
    ("ssn", "123456789", "SSN"),
    ("SSN", 123456789, "SSN"),
    ("social_security_number", "x", "SSN"),
    ("dob", "1980-03-03", "DOB"),
    ("dateOfBirth", "3 March", "DOB"),
    ("birth-date", "03/03/80", "DOB"),
    ("first_name", "jane", "NAME"),
    ("firstName", "JANE", "NAME"),
    ("First-Name", "Jane", "NAME"),
    ("middle_name", "Q", "NAME"),
    ("lastName", "doe", "NAME"),
    ("full_name", "Jane Doe", "NAME"),
    ("patientName", "Doe, Jane", "NAME"),
    ("patient", {"given": "Jane"}, "NAME"),
    ("mrn", "A1", "MRN"),
    ("medical_record_number", 42, "MRN"),
    ("phone", "555-123-4567", "PHONE"),
    ("phoneNumber", "n/a", "PHONE"),
    ("email", "jane", "EMAIL"),
    ("address", "PO Box 12", "ADDRESS"),
    ("street", "N. Main Street", "ADDRESS"),
    ("zip", "18503", "ZIP"),
    ("postalCode", "K1A 0B1", "ZIP"),
    ("insurance_id", "abc", "INSURANCE"),
    ("memberId", "xyz", "INSURANCE"),
    ("medicare_id", "1eg4te5mk73", "MEDICARE"),
])
def test_phi_keys_redact_any_value(scrubber: Scrubber, key: str, value: object, tag: str) -> None:
    out = egress({key: value, "other": "plain", "nested": [{key: value}]}, kind="t",
                 scrubber=scrubber)
    assert isinstance(out[key], str) and out[key].startswith(f"[{tag}-REDACTED-")
    assert out["nested"][0][key] == out[key]
    assert out["other"] == "plain"
    # idempotent: the send-time pass keeps the token
    assert egress(out, kind="t", scrubber=scrubber) == out


@pytest.mark.parametrize("key", ["password", "secret", "token", "api_key", "apiKey", "API-KEY"])
def test_phi_key_list_secrets(scrubber: Scrubber, key: str) -> None:
    assert egress({key: 12345}, kind="t", scrubber=scrubber) == {key: "[SECRET-REDACTED]"}


@pytest.mark.parametrize("key", ["name", "os_name", "hostname", "account", "username", "zipfile",
                                 "patient_count", "phone_home_interval", "email_enabled",
                                 "address_family", "ssn_check", "street_view"])
def test_not_phi_keys(scrubber: Scrubber, key: str) -> None:
    assert phi_key_tag(key) is None
    assert egress({key: "DC01"}, kind="t", scrubber=scrubber) == {key: "DC01"}


def test_phi_key_none_and_bool_stay(scrubber: Scrubber) -> None:
    assert egress({"dob": None, "ssn": True}, kind="t", scrubber=scrubber) == {
        "dob": None, "ssn": True}


def _wire_models() -> list[type[msgspec.Struct]]:
    import agent.protocol as protocol

    for mod in pkgutil.iter_modules(protocol.__path__):
        importlib.import_module(f"agent.protocol.{mod.name}")
    seen: list[type[msgspec.Struct]] = []
    todo = list(msgspec.Struct.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("agent.protocol") and cls not in seen:
            seen.append(cls)
    return seen


def test_no_wire_field_is_a_phi_key() -> None:
    """No field of our own wire models names a PHI category: they keep their values (``name``,
    ``os_name``, ``hostname``, ``account``); fields named like secrets are the secret rule's."""
    models = _wire_models()
    assert len(models) > 20
    wrong = [(cls.__name__, wire) for cls in models for wire in cls.__struct_encode_fields__
             if phi_key_tag(wire) not in (None, "SECRET")]
    assert wrong == []
    for keep in ("name", "os_name", "hostname", "account"):
        assert phi_key_tag(keep) is None
