"""SSH executor benchmark against a real loopback sshd (run as root: creates a throwaway user).

    python bench/exec_ssh.py [--n 100] [--hosts 20]

1. N short commands over one pooled connection vs N fresh connections.
2. H "hosts" (one sshd listening on H ports, so every host has its own connection, pin and
   semaphore) scanned concurrently vs sequentially with cold connections.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.exec.sshd import USER, Sshd, create_users, remove_users, require_sshd  # noqa: E402

from agent.exec import ExecRequest, SshCredential, SshExecutor, Target, Transport  # noqa: E402
from agent.exec.known_hosts import KnownHosts  # noqa: E402

SCAN = """uname -a
cat /etc/os-release 2>/dev/null | head -3
ls /etc | wc -l
id -u
"""


async def bench(n: int, hosts: int, state: Path, servers: list[Sshd], key: str) -> None:
    sshd = servers[0]
    cred = SshCredential(USER, private_key=key)
    kh = KnownHosts(state / "ssh_known_hosts")
    tgt = Target(Transport.SSH, "127.0.0.1", sshd.port)
    req = lambda: ExecRequest("echo ok", deadline_s=30)  # noqa: E731

    ex = SshExecutor(state, known_hosts=kh)
    assert (await ex.run(tgt, cred, req())).ok  # pin + warm
    t = time.perf_counter()
    per = []
    for _ in range(n):
        t1 = time.perf_counter()
        assert (await ex.run(tgt, cred, req())).ok
        per.append(time.perf_counter() - t1)
    pooled = time.perf_counter() - t
    await ex.close()

    t = time.perf_counter()
    per_fresh = []
    for _ in range(n):
        t1 = time.perf_counter()
        ex = SshExecutor(state, known_hosts=kh)
        assert (await ex.run(tgt, cred, req())).ok
        await ex.close()
        per_fresh.append(time.perf_counter() - t1)
    fresh = time.perf_counter() - t
    print(
        f"{n} short commands, one pooled connection : {pooled:7.3f} s total, "
        f"{statistics.median(per) * 1000:6.1f} ms median per command"
    )
    print(
        f"{n} short commands, fresh connection each : {fresh:7.3f} s total, "
        f"{statistics.median(per_fresh) * 1000:6.1f} ms median per command ({fresh / pooled:.1f}x slower)"
    )

    ports = [p for s in servers for p in (s.port, *s.extra_ports)][:hosts]
    targets = [Target(Transport.SSH, "127.0.0.1", p) for p in ports]
    # Pin every port first so both variants measure the same work.
    ex = SshExecutor(state, known_hosts=kh)
    await asyncio.gather(*(ex.run(t_, cred, req()) for t_ in targets))
    await ex.close()

    ex = SshExecutor(state, known_hosts=kh)
    t = time.perf_counter()
    for t_ in targets:
        assert (await ex.run(t_, cred, ExecRequest(SCAN, deadline_s=60, purpose="scan"))).ok
    seq = time.perf_counter() - t
    await ex.close()

    ex = SshExecutor(state, known_hosts=kh)  # defaults: 12 in flight overall, 2 per host
    t = time.perf_counter()
    results = await asyncio.gather(
        *(ex.run(t_, cred, ExecRequest(SCAN, deadline_s=60, purpose="scan")) for t_ in targets)
    )
    conc = time.perf_counter() - t
    assert all(r.ok for r in results)
    await ex.close()
    print(f"{len(targets)} hosts scanned sequentially (cold connections) : {seq:7.3f} s")
    print(
        f"{len(targets)} hosts scanned concurrently (cold, limit 12)   : {conc:7.3f} s "
        f"({seq / conc:.1f}x faster)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=20)
    args = ap.parse_args()
    require_sshd()
    users = create_users()
    root = Path(tempfile.mkdtemp(prefix="msp-bench-sshd-"))
    root.chmod(0o755)
    # OpenSSH listens on at most 16 sockets per server: 10 ports per sshd.
    servers: list[Sshd] = []
    try:
        for i in range(max(1, -(-args.hosts // 10))):
            sub = root / f"sshd{i}"
            sub.mkdir(mode=0o755)
            srv = Sshd(sub, extra_ports=min(10, args.hosts - 10 * i) - 1)
            servers.append(srv)
            srv.authorize(USER, (sub / "client_ed25519.pub").read_text())
            srv.client_key = servers[0].client_key
            srv.authorize(USER, (servers[0].root / "client_ed25519.pub").read_text())
            srv.start()
        state = root / "state"
        state.mkdir(mode=0o700)
        asyncio.run(bench(args.n, args.hosts, state, servers, servers[0].client_key.read_text()))
    finally:
        for srv in servers:
            srv.stop()
        remove_users(users)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
