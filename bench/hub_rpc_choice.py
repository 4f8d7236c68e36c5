"""grpclib or grpcio for the workstation hub: server memory and loopback TLS latency.

    python bench/hub_rpc_choice.py [--calls N]

For each library: a server process (only that library imported, our generated messages,
TLS with a throwaway CA from trustme) serving ``Heartbeat`` (unary) and ``ReportDrift``
(bidirectional stream); the client (same library) makes N unary calls, then N round trips
on one stream. Reported: the server's RSS after start and after the calls (``VmRSS`` and
``VmHWM`` from /proc), its thread count, and the p50/p99 latency of each kind of call; then the
grpclib server once more with a grpcio client (the hub's real clients are not grpclib).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from agent.hub.proto import compliance_pb2 as pb  # noqa: E402

SERVICE = "compliance.ComplianceAgent"


def _proc(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(rest.split()[0])
    return out


async def serve_grpclib(cert: str, key: str) -> None:
    from grpclib.const import Cardinality, Handler
    from grpclib.server import Server, Stream

    class Svc:
        async def heartbeat(self, stream: Stream[Any, Any]) -> None:
            req = await stream.recv_message()
            assert req is not None
            await stream.send_message(pb.HeartbeatResponse(acknowledged=True))

        async def drift(self, stream: Stream[Any, Any]) -> None:
            async for ev in stream:
                await stream.send_message(pb.DriftAck(event_id=ev.agent_id, received=True))

        def __mapping__(self) -> dict[str, Handler]:
            return {
                f"/{SERVICE}/Heartbeat": Handler(self.heartbeat, Cardinality.UNARY_UNARY,
                                                 pb.HeartbeatRequest, pb.HeartbeatResponse),
                f"/{SERVICE}/ReportDrift": Handler(self.drift, Cardinality.STREAM_STREAM,
                                                   pb.DriftEvent, pb.DriftAck),
            }

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    server = Server([Svc()])
    await server.start("127.0.0.1", 0, ssl=ctx)
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await server.wait_closed()


async def serve_grpcio(cert: bytes, key: bytes) -> None:
    import grpc

    async def heartbeat(req: Any, ctx: Any) -> Any:
        return pb.HeartbeatResponse(acknowledged=True)

    async def drift(it: Any, ctx: Any) -> Any:
        async for ev in it:
            yield pb.DriftAck(event_id=ev.agent_id, received=True)

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Heartbeat": grpc.unary_unary_rpc_method_handler(
            heartbeat, request_deserializer=pb.HeartbeatRequest.FromString,
            response_serializer=pb.HeartbeatResponse.SerializeToString),
        "ReportDrift": grpc.stream_stream_rpc_method_handler(
            drift, request_deserializer=pb.DriftEvent.FromString,
            response_serializer=pb.DriftAck.SerializeToString),
    })
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(key, cert)])
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e6


async def client_grpclib(port: int, ca: str, calls: int) -> tuple[list[float], list[float]]:
    from grpclib.client import Channel, StreamStreamMethod, UnaryUnaryMethod

    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    ch = Channel("127.0.0.1", port, ssl=ctx, config=None)
    ch._authority = "localhost"  # trustme's certificate names localhost
    hb = UnaryUnaryMethod(ch, f"/{SERVICE}/Heartbeat", pb.HeartbeatRequest, pb.HeartbeatResponse)
    dr = StreamStreamMethod(ch, f"/{SERVICE}/ReportDrift", pb.DriftEvent, pb.DriftAck)
    unary, stream_rt = [], []
    for _ in range(calls):
        t = time.perf_counter()
        await hb(pb.HeartbeatRequest(agent_id="a"))
        unary.append(time.perf_counter() - t)
    async with dr.open() as st:
        for _ in range(calls):
            t = time.perf_counter()
            await st.send_message(pb.DriftEvent(agent_id="a", check_type="firewall"))
            await st.recv_message()
            stream_rt.append(time.perf_counter() - t)
        await st.end()
    ch.close()
    return unary, stream_rt


async def client_grpcio(port: int, ca: str, calls: int) -> tuple[list[float], list[float]]:
    import grpc

    creds = grpc.ssl_channel_credentials(ca.encode())
    async with grpc.aio.secure_channel(f"localhost:{port}", creds) as ch:
        hb = ch.unary_unary(f"/{SERVICE}/Heartbeat",
                            request_serializer=pb.HeartbeatRequest.SerializeToString,
                            response_deserializer=pb.HeartbeatResponse.FromString)
        dr = ch.stream_stream(f"/{SERVICE}/ReportDrift",
                              request_serializer=pb.DriftEvent.SerializeToString,
                              response_deserializer=pb.DriftAck.FromString)
        unary, stream_rt = [], []
        for _ in range(calls):
            t = time.perf_counter()
            await hb(pb.HeartbeatRequest(agent_id="a"))
            unary.append(time.perf_counter() - t)
        call = dr()
        for _ in range(calls):
            t = time.perf_counter()
            await call.write(pb.DriftEvent(agent_id="a", check_type="firewall"))
            await call.read()
            stream_rt.append(time.perf_counter() - t)
        await call.done_writing()
    return unary, stream_rt


def measure(lib: str, calls: int, tmp: Path, client_lib: str | None = None) -> dict[str, Any]:
    cert, key, ca = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", lib, str(cert), str(key)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        started = _proc(proc.pid)
        client_lib = client_lib or lib
        client = client_grpclib if client_lib == "grpclib" else client_grpcio
        ca_arg = str(ca) if client_lib == "grpclib" else ca.read_text()
        unary, stream_rt = asyncio.run(client(port, ca_arg, calls))
        after = _proc(proc.pid)
    finally:
        proc.terminate()
        proc.wait(5)
    return {"lib": lib, "client": client_lib, "rss_started_kib": started["VmRSS"],
            "rss_after_kib": after["VmRSS"],
            "hwm_kib": after["VmHWM"], "threads": after["Threads"],
            "unary_p50_us": round(_pct(unary, 0.5)), "unary_p99_us": round(_pct(unary, 0.99)),
            "unary_mean_us": round(statistics.mean(unary) * 1e6),
            "stream_p50_us": round(_pct(stream_rt, 0.5)),
            "stream_p99_us": round(_pct(stream_rt, 0.99))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--serve", nargs=3, metavar=("LIB", "CERT", "KEY"))
    ns = ap.parse_args()
    if ns.serve:
        lib, cert, key = ns.serve
        if lib == "grpclib":
            asyncio.run(serve_grpclib(cert, key))
        else:
            asyncio.run(serve_grpcio(Path(cert).read_bytes(), Path(key).read_bytes()))
        return
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        leaf.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
        leaf.private_key_pem.write_to_path(str(tmp / "key.pem"))
        ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        for lib in ("grpclib", "grpcio"):
            print(json.dumps(measure(lib, ns.calls, tmp)))
        # the server is what the hub runs; the real clients are the Go agents (grpc-go): the
        # grpclib server once more with a C-core client
        print(json.dumps(measure("grpclib", ns.calls, tmp, client_lib="grpcio")))
    print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
