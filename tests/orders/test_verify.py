"""Verifier details beyond the vectors: only signed values reach the handler, comparison rules."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from agent.orders.verify import Context, json_equal, verify
from agent.protocol.orders import Order

from . import signer

CTX = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])


def test_handler_gets_only_the_signed_parameters() -> None:
    o = signer.fleet("nix_gc", {"older_than_days": 3, "optimise": False})
    v = verify(o, CTX)
    assert v.verdict == "accept" and v.order is not None
    assert v.order.parameters == {"older_than_days": 3, "optimise": False}  # no fleet_order_id
    p = v.order.handler_parameters()
    p["older_than_days"] = 999
    assert v.order.parameters["older_than_days"] == 3  # a private copy each time
    assert v.order.kind == "fleet" and v.order.order_type == "nix_gc"


def test_order_struct_and_dict_agree() -> None:
    o = signer.admin("diagnostic", {"command": "uptime"})
    struct = msgspec.json.decode(json.dumps(o), type=Order)
    assert verify(struct, CTX).text == verify(o, CTX).text == "accept"


def test_healing_selectors_are_unsigned_lookup_keys() -> None:
    o = signer.healing("RB-WIN-FIREWALL-001", {"hostname": "10.0.0.5", "check_type": "firewall",
                                               "incident_id": None})
    v = verify(o, CTX)
    assert v.order is not None and v.order.order_type == "healing"
    assert v.order.parameters == {} and v.order.runbook_id == "RB-WIN-FIREWALL-001"
    assert v.order.selectors == {"hostname": "10.0.0.5", "check_type": "firewall",
                                 "incident_id": None}
    bad = dict(o, parameters={**o["parameters"], "hostname": 5})
    assert verify(bad, CTX).text == "reject:unsigned_mismatch"


def test_number_and_timestamp_comparison_rules() -> None:
    o = signer.admin("view_logs", {"lines": 10})
    assert verify(dict(o, parameters={"lines": 10.0}), CTX).text == "accept"
    assert verify(dict(o, parameters={"lines": True}), CTX).text == "reject:unsigned_mismatch"
    z = o["expires_at"].replace("+00:00", "Z")
    assert verify(dict(o, expires_at=z), CTX).text == "accept"
    assert verify(dict(o, expires_at="soon"), CTX).text == "reject:unsigned_mismatch"
    assert verify(dict(o, created_at=None, nonce=None, parameters=None), CTX).text == "accept"
    assert json_equal({"a": [1, None]}, {"a": [1.0, None]})
    assert not json_equal(1, True) and not json_equal(None, 0) and not json_equal([1], [1, 1])


def test_step1_and_step4() -> None:
    o: dict[str, Any] = signer.admin("view_logs")
    assert verify([o], CTX).text == "reject:malformed"
    v = verify(dict(o, order_id="a\x00b"), CTX)
    assert v.text == "reject:malformed" and v.completion == "none"
    empty = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [])
    v = verify(o, empty)
    assert v.text == "reject:no_trusted_key" and v.completion == "none"
    lost = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [], untrusted="needs re-seed")
    assert verify(o, lost).error_message == "no_trusted_key: needs re-seed"
    huge = dict(o, signed_payload="x" * 65_537)
    assert verify(huge, CTX).text == "reject:malformed"


def test_key_material_inside_payload_is_not_a_trust_anchor() -> None:
    o = signer.admin("view_logs", {"signing_pubkey_hex": signer.OTHER_KEY.public_hex},
                     key=signer.OTHER_KEY)
    assert verify(o, CTX).text == "reject:bad_signature"


def test_fleet_id_must_be_canonical_and_ours() -> None:
    o = signer.fleet("sync_rules")
    upper = o["order_id"].upper().replace("FLEET::", "fleet::").replace(
        signer.APPLIANCE.upper(), signer.APPLIANCE)
    fid = upper.split("::")[1]
    assert verify(dict(o, order_id=upper, parameters={"fleet_order_id": fid}), CTX).text == \
        "reject:unsigned_mismatch"
    other = o["order_id"].replace(signer.APPLIANCE, "clinic-a-52:54:00:00:00:01")
    assert verify(dict(o, order_id=other), CTX).text == "reject:wrong_target"


@pytest.mark.parametrize("poison", ["1e400", "-1e400", '"\\ud800"', '{"\\udfff": 1}'])
def test_unusable_values_in_the_signed_payload_are_bad_payload(poison: str) -> None:
    o: dict[str, Any] = signer.admin("nix_gc", {"older_than_days": "@P@"})
    text = o["signed_payload"].replace('"@P@"', poison)
    o.update(signed_payload=text, signature=signer.KEY.sign(text.encode()).hex(),
             parameters=None)  # an absent top-level copy is no disagreement
    v = verify(o, CTX)
    assert v.text == "reject:bad_payload" and v.completion == "failure"


def test_non_finite_numeric_string_is_a_parameter_error() -> None:
    from agent.orders.handlers import HandlerError, _int

    for text in ("1e400", "inf", "nan"):
        with pytest.raises(HandlerError, match="whole number"):
            _int({"n": text}, "n", 1, 1, 10, numeric_strings=True)


def _vector_steps() -> list[tuple[Any, Context]]:
    from pathlib import Path

    from agent.orders.vectors import _context

    doc = json.loads((Path(__file__).parents[2] / ".." / "shared" / "vectors" / "orders.json")
                     .read_text())
    steps = []
    for case in doc["cases"]:
        for step in case["steps"]:
            ctx = _context({**doc["context"], **(case.get("context") or {}),
                            **(step.get("context") or {})}, case["name"])
            steps.append((step["order"], ctx))
    return steps


def test_presigned_signatures_give_the_same_verdicts_as_verifying_alone() -> None:
    """Batching moves only step 5's computation: every vector order (all forms, every reject
    reason, trusted and untrusted keys) gets the same verdict, reason and completion."""
    from agent.orders.verify import presign

    steps = _vector_steps()
    assert len(steps) > 30
    for order, ctx in steps:
        sigs = presign([o for o, _ in steps], ctx)  # all of them in one batch, as one checkin
        alone, batched = verify(order, ctx), verify(order, ctx, None, sigs)
        assert (batched.text, batched.reason, batched.detail, batched.completion) == \
            (alone.text, alone.reason, alone.detail, alone.completion), order.get("order_id")


def test_presigned_answers_under_other_keys_are_never_used() -> None:
    from dataclasses import replace

    from agent.orders.verify import presign

    good = signer.admin("diagnostic", {"command": "uptime"})
    other = signer.admin("diagnostic", {"command": "uptime"}, key=signer.OTHER_KEY)
    sigs = presign([good, other], CTX)
    assert sigs.verdicts and sorted(sigs.verdicts.values()) == [False, True]
    # Trust moved to the other key: the answers computed under the old key are not read.
    moved = replace(CTX, trusted_keys=(signer.OTHER_KEY.public_key,))
    assert verify(good, moved, None, sigs).text == "reject:bad_signature"
    assert verify(other, moved, None, sigs).text == "accept"
    # No trusted key at all: step 4 refuses before any signature is looked at.
    empty = presign([good], replace(CTX, trusted_keys=()))
    assert verify(good, replace(CTX, trusted_keys=()), None, empty).text == \
        "reject:no_trusted_key"
