"""Property tests: arbitrary JSON never crashes the decoders (ProtocolError or a value, nothing else)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.protocol import CheckinResponse, ProtocolError, decode_checkin_response
from agent.protocol.lenient import parse_checkin_response

from .conftest import SAMPLES, load_json

FIELDS = [f.encode_name for f in msgspec.structs.fields(CheckinResponse)]
SAMPLE: dict[str, Any] = load_json(SAMPLES / "checkin_response.json")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
def test_tolerant_parse_never_fails_on_objects(overrides: dict[str, Any]) -> None:
    body = json.dumps({**SAMPLE, **overrides}).encode()
    parsed = parse_checkin_response(body)  # a JSON object is never a failed checkin
    for name, value in overrides.items():
        if value is None:
            assert getattr(parsed.response, name) == getattr(CheckinResponse(), name)
    # untouched fields survive whatever happened to the others
    if "appliance_id" not in overrides:
        assert parsed.response.appliance_id == SAMPLE["appliance_id"]
    try:
        strict = decode_checkin_response(body)
    except ProtocolError as exc:
        assert parsed.issues or parsed.malformed_orders or exc.path.startswith("$")
    else:
        assert strict == parsed.response


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_strict_decode_only_raises_protocol_error(body: bytes) -> None:
    try:
        result = decode_checkin_response(body)
    except ProtocolError as exc:
        assert exc.path.startswith("$")
    else:
        assert isinstance(result, CheckinResponse)
