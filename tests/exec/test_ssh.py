"""SSH executor against a real OpenSSH server on loopback (exec.md §7.1)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from pathlib import Path

from agent.exec import ErrorKind, ExecRequest, Privilege, SshCredential, SshExecutor, Stage, Target, Transport
from agent.exec.known_hosts import parse_known_hosts

from .conftest import SshEnv
from .sshd import USER, USER_NOPASSWD, USER_NOSUDO, FaultProxy


def _read(path: str | Path) -> str:
    return Path(path).read_text(errors="replace")


def _exists(path: str | Path) -> bool:
    return os.path.exists(path)


def _unlink(path: str | Path) -> None:
    Path(path).unlink(missing_ok=True)


def true_req(**kw: object) -> ExecRequest:
    return ExecRequest("true", deadline_s=20, **kw)  # type: ignore[arg-type]


def tgt(port: int, host: str = "127.0.0.1") -> Target:
    return Target(Transport.SSH, host, port)


async def test_basic_run_key_auth(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    lines: list[str] = []
    req = ExecRequest(
        "echo one; echo 'zwei ü'; echo err >&2; printf 'last'",
        deadline_s=20,
        on_line=lambda line, cut: lines.append(line),
    )
    res = await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), req)
    assert res.ok, res.error
    assert res.exit_code == 0
    assert res.stdout == "one\nzwei ü\nlast"
    assert res.stderr == "err\n"
    assert lines == ["one", "zwei ü", "last"]
    assert res.attempts == 1 and res.error is None

    res3 = await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), ExecRequest("exit 3", deadline_s=9))
    assert res3.exit_code == 3 and not res3.ok
    assert res3.error is not None and res3.error.kind is ErrorKind.REMOTE_NONZERO_EXIT


async def test_password_auth_and_params(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    hostile = "a'b\"c $(id) `id` ; rm -rf / \n next"
    req = ExecRequest('printf "%s" "$(msp_param svc)"', deadline_s=20, params={"svc": hostile})
    res = await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.pw_cred(), req)
    assert res.ok, res.error
    assert res.stdout == hostile


async def test_tofu_then_reuse_and_change(ssh_env: SshEnv, tmp_path: Path) -> None:
    sshd = ssh_env.sshd
    store = ssh_env.state / "ssh_known_hosts"
    ex = SshExecutor(ssh_env.state)
    try:
        res = await ex.run(tgt(sshd.port), ssh_env.key_cred(), true_req())
        assert res.ok, res.error
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert [p.name for p in ssh_env.state.iterdir()] == ["ssh_known_hosts"]  # no temp files left
        pins = parse_known_hosts(store.read_text())
        assert list(pins) == [f"[127.0.0.1]:{sshd.port}"]
        before = store.read_bytes()
    finally:
        await ex.close()

    # A new executor (new process) reuses the stored pin.
    ex = SshExecutor(ssh_env.state)
    try:
        res = await ex.run(tgt(sshd.port), ssh_env.key_cred(), true_req())
        assert res.ok and store.read_bytes() == before

        # Restart sshd with new host keys on the same port: refused, no retry, store unchanged.
        sshd.stop()
        sshd.new_host_keys()
        sshd.start()
        await ex.close()
        accepted = sshd.accepted()
        res = await ex.run(tgt(sshd.port), ssh_env.key_cred(), true_req(idempotent=True))
        assert res.error is not None and res.error.kind is ErrorKind.HOST_KEY_MISMATCH
        assert res.error.category == "security_error" and not res.error.retryable
        assert res.attempts == 1
        assert sshd.accepted() - accepted == 1
        assert store.read_bytes() == before

        # Operator clears the pin: the next connection pins the new key.
        assert await ex.clear_pin("127.0.0.1", sshd.port)
        res = await ex.run(tgt(sshd.port), ssh_env.key_cred(), true_req())
        assert res.ok, res.error
        assert store.read_bytes() != before
    finally:
        await ex.close()


async def test_only_unpinned_key_type_is_mismatch(ssh_env: SshEnv) -> None:
    sshd = ssh_env.sshd
    ex = SshExecutor(ssh_env.state)
    try:
        # Pin an RSA key (Go-style port-less line) while the server offers both types.
        rsa_pub = (sshd.keydir / "host_rsa.pub").read_text().split()
        (ssh_env.state / "ssh_known_hosts").write_text(f"127.0.0.1 {rsa_pub[0]} {rsa_pub[1]}\n")
        ex = SshExecutor(ssh_env.state)
        res = await ex.run(tgt(sshd.port), ssh_env.key_cred(), true_req())
        assert res.ok, res.error  # the port-less pin applies to this non-22 port, RSA negotiated
        ed_pub = (sshd.keydir / "host_ed25519.pub").read_text().split()
        # Now only a pin of a type with a different key: mismatch.
        other = SshExecutor(ssh_env.state)
        (ssh_env.state / "ssh_known_hosts").write_text(
            f"127.0.0.1 {ed_pub[0]} AAAAC3NzaC1lZDI1NTE5AAAAIGl0IGlzIG5vdCB0aGUgcmlnaHQga2V5IGF0IGFsbCEh\n"
        )
        other = SshExecutor(ssh_env.state)
        res = await other.run(tgt(sshd.port), ssh_env.key_cred(), true_req())
        assert res.error is not None and res.error.kind is ErrorKind.HOST_KEY_MISMATCH
        await other.close()
    finally:
        await ex.close()


async def test_corrupt_store_is_quarantined(ssh_env: SshEnv) -> None:
    (ssh_env.state / "ssh_known_hosts").write_text("garbage-without-fields\n")
    ex = SshExecutor(ssh_env.state)
    try:
        assert ex.known_hosts.corrupt_quarantined is not None
        assert ex.known_hosts.corrupt_quarantined.exists()
        res = await ex.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), true_req())
        assert res.ok  # re-pinned on first use
        assert (ssh_env.state / "ssh_known_hosts").exists()
    finally:
        await ex.close()


async def test_auth_failure(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    accepted = ssh_env.sshd.accepted()
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port), ssh_env.pw_cred(password="wrong-password-x"), true_req(idempotent=True)
    )
    assert res.error is not None and res.error.kind is ErrorKind.AUTH_FAILED
    assert res.error.stage is Stage.AUTH and res.error.category == "auth_failure"
    assert res.attempts == 1
    assert ssh_env.sshd.accepted() - accepted == 1
    assert len(ssh_exec.pool) == 0
    # A wrong key, too.
    import asyncssh

    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    res = await ssh_exec.run(tgt(ssh_env.sshd.port), SshCredential(USER, private_key=other), true_req())
    assert res.error is not None and res.error.kind is ErrorKind.AUTH_FAILED


async def test_pool_reuse_age_lru_and_rotation(ssh_env: SshEnv, proxy: FaultProxy) -> None:
    ex = SshExecutor(ssh_env.state, pool_size=2, conn_max_age_s=300)
    try:
        cred = ssh_env.key_cred()
        for _ in range(20):
            res = await ex.run(tgt(proxy.port), cred, ExecRequest("echo hi", deadline_s=20))
            assert res.ok
        assert proxy.connections == 1
        # Max age: an aged entry is replaced.
        ex.pool.max_age_s = 0.0
        assert (await ex.run(tgt(proxy.port), cred, true_req())).ok
        ex.pool.max_age_s = 300.0
        assert (await ex.run(tgt(proxy.port), cred, true_req())).ok
        assert proxy.connections == 2  # the aged one was replaced once, then reused
        # A changed credential (rotation) forces a new connection.
        rotated = ssh_env.pw_cred()
        assert (await ex.run(tgt(proxy.port), rotated, true_req())).ok
        assert proxy.connections == 3
        # LRU bound: three keys (different users) with pool_size 2.
        for user in (USER_NOPASSWD, USER_NOSUDO):
            assert (await ex.run(tgt(proxy.port), ssh_env.key_cred(user), true_req())).ok
        assert len(ex.pool) == 2
    finally:
        await ex.close()


async def test_idle_connections_are_closed_without_a_next_lookup(ssh_env: SshEnv,
                                                                   proxy: FaultProxy) -> None:
    """Released connections idle past the limit are closed by the pool's own timer (armed on
    release, none while the pool is empty), not left open until the next scan round."""
    ex = SshExecutor(ssh_env.state, idle_limit_s=0.0)
    try:
        assert (await ex.run(tgt(proxy.port), ssh_env.key_cred(), true_req())).ok
        assert len(ex.pool) == 1
        (entry,) = list(ex.pool._entries.values())
        for _ in range(200):  # the condition is the pool's state; bounded, nothing timed
            if len(ex.pool) == 0:
                break
            await asyncio.sleep(0.05)
        assert len(ex.pool) == 0 and entry.retired and entry.conn.is_closed()
        assert ex.pool._sweep_at is None  # nothing left to close: no timer
    finally:
        await ex.close()


async def test_concurrent_first_requests_share_one_dial(ssh_env: SshEnv, proxy: FaultProxy) -> None:
    ex = SshExecutor(ssh_env.state, per_host_concurrency=16, max_concurrency=16)
    try:
        cred = ssh_env.key_cred()
        results = await asyncio.gather(
            *(ex.run(tgt(proxy.port), cred, ExecRequest("echo x", deadline_s=30)) for _ in range(10))
        )
        assert all(r.ok for r in results), [r.error for r in results]
        assert proxy.connections == 1 and ex.pool.dials_made == 1
    finally:
        await ex.close()


async def test_per_host_bound(ssh_env: SshEnv, scratch: Path) -> None:
    ex = SshExecutor(ssh_env.state, per_host_concurrency=2, max_concurrency=12)
    log = scratch / "overlap.log"
    script = f'echo "start $(date +%s%N)" >> {log}; sleep 0.2; echo "end $(date +%s%N)" >> {log}'
    try:
        cred = ssh_env.key_cred()
        req = ExecRequest(script, deadline_s=60)
        results = await asyncio.gather(*(ex.run(tgt(ssh_env.sshd.port), cred, req) for _ in range(20)))
        assert all(r.ok for r in results)
        pairs = (ln.split() for ln in _read(log).splitlines())
        events = sorted((int(t), kind) for kind, t in pairs)
        depth = peak = 0
        for _, kind in events:
            depth += 1 if kind == "start" else -1
            peak = max(peak, depth)
        assert peak <= 2
    finally:
        await ex.close()


async def test_fifty_concurrent_commands(ssh_env: SshEnv) -> None:
    ex = SshExecutor(ssh_env.state, per_host_concurrency=16, max_concurrency=50)
    try:
        cred = ssh_env.key_cred()
        results = await asyncio.gather(
            *(
                ex.run(tgt(ssh_env.sshd.port), cred, ExecRequest(f"echo {i}", deadline_s=60))
                for i in range(50)
            )
        )
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(50)]
    finally:
        await ex.close()


async def test_deadline_kills_remote(ssh_env: SshEnv, ssh_exec: SshExecutor, scratch: Path) -> None:
    pidfile = scratch / "sleep.pid"
    script = f'echo $$ > {pidfile}; echo "$MSP_DIR" >> {pidfile}; sleep 600'
    res = await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), ExecRequest(script, deadline_s=2))
    assert res.error is not None and res.error.kind is ErrorKind.COMMAND_TIMEOUT
    assert res.exit_code is None
    pid_text, private_dir = _read(pidfile).split()
    pid = int(pid_text)
    for _ in range(150):  # the KILL signal, or at the latest the remote watchdog at deadline + 5 s
        if not _exists(f"/proc/{pid}") and not _exists(private_dir):
            break
        await asyncio.sleep(0.1)
    assert not _exists(f"/proc/{pid}"), "remote process survived the deadline"
    assert not _exists(private_dir), "private upload directory left behind"
    # The connection is still usable afterwards.
    assert (await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), true_req())).ok


async def test_output_caps(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    cap = 1024 * 1024
    script = "echo HEAD; head -c 20000000 /dev/zero | tr '\\0' 'x'; echo; echo TAIL"
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port), ssh_env.key_cred(), ExecRequest(script, deadline_s=30, stdout_cap=cap)
    )
    assert res.stdout_truncated
    assert res.error is not None and res.error.kind is ErrorKind.OUTPUT_TRUNCATED
    assert res.stdout.startswith("HEAD\n")
    assert "bytes truncated ...]" in res.stdout
    assert len(res.stdout.encode()) < cap + 200
    # Below 4x the cap: truncated but not an error; head and tail kept.
    script = "echo HEAD; head -c 2000000 /dev/zero | tr '\\0' 'y'; echo; echo TAIL"
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port), ssh_env.key_cred(), ExecRequest(script, deadline_s=30, stdout_cap=cap)
    )
    assert res.ok and res.stdout_truncated
    assert res.stdout.startswith("HEAD\n") and res.stdout.endswith("y\nTAIL\n")
    assert res.stdout_bytes == 2000000 + len("HEAD\n\nTAIL\n")


async def test_large_script_one_session(ssh_env: SshEnv, proxy: FaultProxy) -> None:
    ex = SshExecutor(ssh_env.state)
    try:
        cred = ssh_env.key_cred()
        assert (await ex.run(tgt(proxy.port), cred, true_req())).ok
        base = proxy.bytes_up
        filler = "#" + "f" * 1023 + "\n"
        script = filler * 2048 + "echo done\n"  # 2 MiB
        res = await ex.run(tgt(proxy.port), cred, ExecRequest(script, deadline_s=60))
        assert res.ok and res.stdout == "done\n"
        sent = proxy.bytes_up - base
        assert len(script) <= sent < len(script) * 1.1
        assert proxy.connections == 1
    finally:
        await ex.close()


async def test_sudo_with_password(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    pw = ssh_env.users.password
    scratch = tempfile.mkdtemp(prefix="msp-procs-")  # this test's own, not a shared /tmp name
    os.chmod(scratch, 0o1777)
    script = (
        'id -u; cat; echo "stdin-done"; '
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; "
        f"tr '\\0' '\\n' < $p/environ 2>/dev/null; done > {scratch}/procs.$$; "
        f"echo $$ > {scratch}/procs.name"
    )
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port),
        ssh_env.key_cred(sudo_password=pw),
        ExecRequest(script, deadline_s=30, privilege=Privilege.ROOT),
    )
    assert res.ok, (res.error, res.stderr)
    assert res.stdout.splitlines()[:2] == ["0", "stdin-done"]  # root, and the script's stdin was empty
    assert "MSP_SUDO_OK" not in res.stderr and "MSP_UPLOAD_OK" not in res.stderr
    name = _read(f"{scratch}/procs.name").strip()
    procs = _read(f"{scratch}/procs.{name}")
    shutil.rmtree(scratch, ignore_errors=True)
    assert "sshd" in procs  # the dump saw the processes
    assert pw not in procs  # no argv or environment holds the password

    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port),
        ssh_env.key_cred(sudo_password="not-the-password"),
        ExecRequest("id -u", deadline_s=30, privilege=Privilege.ROOT, idempotent=True),
    )
    assert res.error is not None and res.error.kind is ErrorKind.PRIVILEGE_FAILED
    assert res.error.stage is Stage.SUDO and res.attempts == 1

    # NOPASSWD: succeeds; the password line is read by nothing (the script's stdin stays empty).
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port),
        ssh_env.key_cred(USER_NOPASSWD, sudo_password="unused-password"),
        ExecRequest("id -u; cat", deadline_s=30, privilege=Privilege.ROOT),
    )
    assert res.ok and res.stdout == "0\n"

    # A user without sudo rights.
    cred = ssh_env.key_cred(USER_NOSUDO, sudo_password="x-password")
    req = ExecRequest("id -u", deadline_s=30, privilege=Privilege.ROOT)
    res = await ssh_exec.run(tgt(ssh_env.sshd.port), cred, req)
    assert res.error is not None and res.error.kind is ErrorKind.PRIVILEGE_FAILED


async def test_cleanup_of_private_dir(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    for script in ('echo "$MSP_DIR"', 'echo "$MSP_DIR"; exit 4'):
        req = ExecRequest(script, deadline_s=20)
        res = await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.key_cred(), req)
        d = res.stdout.strip()
        assert d.startswith("/tmp/msp.")
        assert not _exists(d)


async def test_posix_launcher_under_dash(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    # The launcher runs under /bin/sh (dash on Debian); the script falls back to sh without bash.
    res = await ssh_exec.run(
        tgt(ssh_env.sshd.port),
        ssh_env.key_cred(),
        ExecRequest("readlink /proc/$$/exe; readlink /proc/$PPID/exe", deadline_s=20, params={"x": "1"}),
    )
    assert res.ok
    assert res.stdout.splitlines()[1].endswith("dash")


async def test_unreachable_two_attempts(ssh_env: SshEnv, ssh_exec: SshExecutor) -> None:
    from .sshd import free_port

    res = await ssh_exec.run(tgt(free_port()), ssh_env.key_cred(), true_req())
    assert res.error is not None and res.error.kind is ErrorKind.UNREACHABLE
    assert res.attempts == 2


async def test_half_open_peer_does_not_block_others(ssh_env: SshEnv, proxy: FaultProxy) -> None:
    ex = SshExecutor(ssh_env.state)
    try:
        cred = ssh_env.key_cred()
        assert (await ex.run(tgt(proxy.port), cred, true_req())).ok
        proxy.blackhole = True
        stuck = asyncio.ensure_future(ex.run(tgt(proxy.port), cred, ExecRequest("true", deadline_s=3)))
        await asyncio.sleep(0.2)
        # Another host (the direct sshd port) completes while the first is stuck.
        other = await ex.run(tgt(ssh_env.sshd.port, "localhost"), cred, ExecRequest("echo ok", deadline_s=20))
        assert other.ok and not stuck.done()
        res = await stuck
        assert res.error is not None
        assert res.error.kind in (ErrorKind.COMMAND_TIMEOUT, ErrorKind.CONNECT_TIMEOUT)
    finally:
        proxy.blackhole = False
        await ex.close()


async def test_password_never_logged(ssh_env: SshEnv, ssh_exec: SshExecutor, capsys: object) -> None:
    import logging

    from agent.log import configure

    configure("DEBUG")
    pw = ssh_env.users.password
    await ssh_exec.run(
        tgt(ssh_env.sshd.port),
        ssh_env.pw_cred(),
        ExecRequest("true", deadline_s=20, privilege=Privilege.ROOT),
    )
    await ssh_exec.run(tgt(ssh_env.sshd.port), ssh_env.pw_cred(password="wrong-" + pw), true_req())
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "exec.start" in out and "exec.end" in out
    assert pw not in out
    logging.getLogger("agent").setLevel(logging.INFO)
