"""The hub under bad input and shutdown: a stream cut mid-message, a message over the cap, too
many streams from one address, and close() with streams open (grace, then cancelled)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from tests.hub.conftest import Harness, start_hub


async def _enrolled(hub: Harness, host: str = "ws-01") -> Any:
    a = hub.agent(host)
    await a.enroll(hub.registry.issue_token(host))
    return a


def _frame(message: Any) -> bytes:
    body = message.SerializeToString()
    return struct.pack(">?I", False, len(body)) + body


async def _no_calls(hub: Harness) -> None:
    await asyncio.wait_for(hub.hub.service.no_calls.wait(), timeout=10)


async def test_a_stream_cut_mid_message_loses_only_that_message(hub: Harness) -> None:
    a = await _enrolled(hub)
    whole = _frame(a.drift("firewall"))
    async with a.drift_stream() as st:
        await st.send_message(a.drift("defender"))
        await st.recv_message()
        await st._stream.send_data(whole[: len(whole) // 2])  # half a message, then the cut
        a.close()
        with pytest.raises((StreamTerminatedError, ConnectionError, GRPCError)):
            await st.recv_message()
    await _no_calls(hub)
    assert [i.check_type for i in hub.incidents] == ["windows_defender"]
    assert hub.hub.service.streams == 0 and not hub.hub.service.per_peer
    # the hub carries on: the same agent reconnects and reports
    async with a.drift_stream() as st:
        await st.send_message(a.drift("firewall"))
        assert (await st.recv_message()).received
        await st.end()
    assert [i.check_type for i in hub.incidents] == ["windows_defender", "firewall_status"]


async def test_a_message_ending_with_the_stream_half_sent_is_refused(hub: Harness) -> None:
    a = await _enrolled(hub)
    whole = _frame(a.drift("firewall"))
    with pytest.raises(GRPCError) as info:
        async with a.drift_stream() as st:
            await st.send_request()
            await st._stream.send_data(whole[:-3], end_stream=True)
            await st.recv_message()
    assert info.value.status is Status.INVALID_ARGUMENT
    assert hub.incidents == []


async def test_a_message_over_the_cap_is_refused_before_it_is_read(hub: Harness) -> None:
    a = await _enrolled(hub)
    cap = hub.hub.service.limits.max_message_bytes
    with pytest.raises(GRPCError) as info:
        async with a.drift_stream() as st:
            await st.send_request()
            # only the 5-byte header announcing cap + 1 bytes: the hub must not wait for them
            await st._stream.send_data(struct.pack(">?I", False, cap + 1))
            await st.recv_message()
    assert info.value.status is Status.RESOURCE_EXHAUSTED
    assert hub.incidents == []


async def test_streams_per_address_are_capped(hub: Harness) -> None:
    a = await _enrolled(hub)
    per_peer = hub.hub.service.limits.max_streams_per_peer
    opened = []
    try:
        for _ in range(per_peer):
            cm = a.drift_stream()
            st = await cm.__aenter__()
            await st.send_message(a.drift("firewall", passed=True))
            await st.recv_message()
            opened.append((cm, st))
        with pytest.raises(GRPCError) as info:
            await a.heartbeat()
        assert info.value.status is Status.RESOURCE_EXHAUSTED
    finally:
        for cm, st in opened:
            await st.end()
            await cm.__aexit__(None, None, None)
    await _no_calls(hub)
    assert (await a.heartbeat()).acknowledged


async def test_close_with_open_streams_ends_them_within_the_grace(tmp_path: Any) -> None:
    h = await start_hub(tmp_path)
    a, b, c = [await _enrolled(h, host) for host in ("ws-01", "ws-02", "dc-01")]
    try:
        # streams left open (no __aexit__): the hub ends them, the channels close at the end
        sa, sb, sc = [await x.drift_stream().__aenter__() for x in (a, b, c)]
        for agent, st in ((a, sa), (b, sb), (c, sc)):
            await st.send_message(agent.drift("firewall"))
            assert (await st.recv_message()).received
        # b is in the middle of a message when the hub starts closing; c never finishes one
        whole_b, whole_c = _frame(b.drift("bitlocker")), _frame(c.drift("defender"))
        await sb._stream.send_data(whole_b[:8])  # header + part of the body
        await sc._stream.send_data(whole_c[:8])
        closing = asyncio.create_task(h.hub.close(grace_s=1.0))
        await asyncio.sleep(0)
        await sb._stream.send_data(whole_b[8:])
        assert (await sb.recv_message()).received  # the message under way is taken in
        assert await sb.recv_message() is None  # then its stream ends cleanly
        assert await sa.recv_message() is None  # an idle stream ends cleanly at once
        await closing
        with pytest.raises((StreamTerminatedError, GRPCError)):  # c: reset after the grace
            await sc.recv_message()
        assert sorted(i.check_type for i in h.incidents) == sorted(
            ["firewall_status"] * 3 + ["bitlocker_status"])
        assert h.hub.service.streams == 0
        with pytest.raises((ConnectionError, OSError, StreamTerminatedError)):
            await h.agent("ws-01").heartbeat()  # nothing listens any more
    finally:
        for x in (a, b, c, *h.agents):
            x.close()


async def test_connections_per_address_are_capped(hub: Harness) -> None:
    import ssl

    ctx = ssl.create_default_context(cadata=hub.ca_pem.decode())
    ctx.set_alpn_protocols(["h2"])
    assert hub.hub.server is not None
    conns = hub.hub.server.connections
    cap = conns.cap()
    opened = [await asyncio.open_connection("127.0.0.1", hub.port, ssl=ctx,
                                            server_hostname="127.0.0.1") for _ in range(cap)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.port, ssl=ctx,
                                                       server_hostname="127.0.0.1")
        assert await reader.read() == b""  # closed by the hub at once
        writer.close()
        assert conns.refused == 1 and conns.open["127.0.0.1"] == cap
    finally:
        for _, w in opened:
            w.close()
            await w.wait_closed()
    for _ in range(1000):  # the hub notices the closes on its side
        if not conns.open:
            break
        await asyncio.sleep(0.01)
    assert not conns.open
    a = await _enrolled(hub)  # room again once they are gone
    assert (await a.heartbeat()).acknowledged


async def test_shutdown_cancelling_the_hub_task_stops_it_gracefully(tmp_path: Any) -> None:
    """SIGTERM: the supervisor's drain cancels the component's task; the grace runs there."""
    h = await start_hub(tmp_path)
    a = await _enrolled(h)
    task = asyncio.create_task(h.hub.run())
    try:
        st = await a.drift_stream().__aenter__()
        await st.send_message(a.drift("firewall"))
        assert (await st.recv_message()).received
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await st.recv_message() is None  # the open stream was ended cleanly
        assert h.hub.server is None and h.hub.service.streams == 0
        await h.hub.close()  # the runtime's close afterwards: nothing left to do
    finally:
        a.close()
