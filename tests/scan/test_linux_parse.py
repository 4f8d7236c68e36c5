"""Strict parsing of scan output; unknown/garbage is never clean (healing.md §2.6, §6.4–6.5)."""

from __future__ import annotations

from typing import Any

from agent.exec import ErrorKind, ExecError, ExecRequest, ExecResult, Stage, Target, Transport
from agent.scan.linux import LinuxScanner, evaluate_record
from agent.scan.model import Finding, RecordParser, aggregate

T = Target(Transport.SSH, "10.0.0.5", 22, "linux", "linux")


class ScriptedExecutor:
    """Replays recorded output through ``on_line`` as the real executors do."""

    def __init__(self, stdout: str, exit_code: int | None = 0, error: ExecError | None = None) -> None:
        self.stdout, self.exit_code, self.error = stdout, exit_code, error

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult:
        for line in self.stdout.splitlines():
            if request.on_line:
                request.on_line(line, False)
        return ExecResult(
            Transport.SSH,
            target.host,
            target.port,
            exit_code=self.exit_code,
            stdout=self.stdout,
            error=self.error,
        )

    async def close(self) -> None:
        pass


REC_PERM = 'MSP_CHECK {"id":"linux_file_permissions","data":{"files":["/etc/shadow 666","/etc/passwd 644"]}}'
REC_NTP = 'MSP_CHECK {"id":"linux_ntp_sync","data":{"synchronized":"yes"}}'


async def test_complete_scan() -> None:
    out = f'noise\n{REC_PERM}\n{REC_NTP}\nMSP_SCAN_END {{"checks":2}}\n'
    r = await LinuxScanner(ScriptedExecutor(out)).scan(T, None, deadline_s=5)
    assert r.status == "complete"
    assert r.checks["linux_file_permissions"] == "drift" and r.checks["linux_ntp_sync"] == "pass"
    assert r.checks["linux_firewall"] == "unknown"  # not reported: unknown, not pass
    assert r.findings[0].details == {"files": ["/etc/shadow"]} and r.diagnostics == ["noise"]


async def test_empty_and_garbage_output_is_failed() -> None:
    for out in ("", "garbage\n{}\nMSP_CHECK {bad json\nMSP_CHECK []\n"):
        r = await LinuxScanner(ScriptedExecutor(out)).scan(T, None, deadline_s=5)
        assert r.status == "failed" and r.error_kind == "scan_output_invalid"
        assert set(r.checks.values()) == {"unknown"} and r.findings == []


async def test_deadline_keeps_streamed_checks() -> None:
    err = ExecError(ErrorKind.COMMAND_TIMEOUT, Stage.RUN, "deadline", started=True)
    r = await LinuxScanner(ScriptedExecutor(f"{REC_PERM}\n", exit_code=None, error=err)).scan(
        T, None, deadline_s=5
    )
    assert r.status == "partial" and r.error_kind == "command_timeout"
    assert r.checks["linux_file_permissions"] == "drift" and len(r.findings) == 1


async def test_missing_end_line_is_partial_and_transport_failure() -> None:
    r = await LinuxScanner(ScriptedExecutor(f"{REC_NTP}\n")).scan(T, None, deadline_s=5)
    assert r.status == "partial"
    err = ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, "refused")
    r2 = await LinuxScanner(ScriptedExecutor("", exit_code=None, error=err)).scan(T, None, deadline_s=5)
    assert r2.status == "failed" and r2.error_kind == "unreachable"


async def test_disabled_checks_excluded() -> None:
    out = f'{REC_PERM}\nMSP_SCAN_END {{"checks":1}}\n'
    r = await LinuxScanner(
        ScriptedExecutor(out), disabled=lambda: frozenset({"linux_file_permissions"})
    ).scan(T, None, deadline_s=5)
    assert "linux_file_permissions" not in r.checks and r.findings == []


def test_unknown_values_are_unknown() -> None:
    assert evaluate_record("h", "linux_ntp_sync", {"synchronized": "unknown"})[0] == "unknown"
    assert (
        evaluate_record(
            "h",
            "linux_kernel_params",
            {"ip_forward": "unknown", "tcp_syncookies": "1", "accept_redirects": "0"},
        )[0]
        == "unknown"
    )
    assert evaluate_record("h", "linux_ssh_config", {"readable": False})[0] == "unknown"
    assert evaluate_record("h", "linux_file_permissions", {"files": 5})[0] == "unknown"
    assert evaluate_record("h", "linux_disk_space", {"mounts": []})[0] == "unknown"
    st, f = evaluate_record(
        "h", "linux_ssh_config", {"readable": True, "root_login": "", "password_auth": ""}
    )
    assert st == "drift" and f[0].details == {"root_login": "prohibit-password", "password_auth": "yes"}
    assert evaluate_record("h", "linux_users", {})[0] == "unknown"


def test_parser_list_fields_accept_bare_string() -> None:
    st, f = evaluate_record("h", "linux_failed_services", {"systemd": True, "units": "foo.service"})
    assert st == "drift" and f[0].details["units"] == ["foo.service"]
    p = RecordParser()
    assert p.feed('MSP_CHECK {"id":"x","data":{}}\r') == ("x", {})


def test_aggregation_one_incident_per_check_type() -> None:
    def mk(d: str, sev: str) -> Finding:
        return Finding(
            "h",
            "linux_disk_space",
            sev,
            "",
            "<=90%",
            f"{d} full",
            {"mount": d},
            "linux",
            "linuxscan",
            discriminator=d,
        )

    incs = aggregate([mk("/var", "medium"), mk("/", "high"), mk("/srv", "medium")])
    assert len(incs) == 1
    inc = incs[0]
    assert inc.severity == "high" and inc.discriminators == ("/", "/srv", "/var")
    assert inc.actual == "/ full; /srv full; /var full"
    assert [i["discriminator"] for i in inc.details["items"]] == ["/", "/srv", "/var"]
    assert inc.incident_id.startswith("drift-") and len(inc.incident_id) == 38


def test_data_map_never_carries_credentials() -> None:
    f = Finding(
        "h",
        "linux_user_accounts",
        "high",
        "",
        "",
        "",
        {
            "users": ["bob"],
            "password": "hunter22",
            "username": "admin",
            "sudo_password": "s3cret!!",
            "api_token": "t",
        },
        "linux",
        "linuxscan",
    )
    data = aggregate([f])[0].data_map()
    flat = repr(data)
    assert "hunter22" not in flat and "s3cret!!" not in flat and "admin" not in flat
    assert data["users"] == "[bob]" and data["status"] == "fail" and data["drift_detected"] is True
