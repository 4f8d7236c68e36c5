"""Script preambles and parameter encoding (exec.md §2.4, §3.6, §4; healing.md §3.2).

Parameters never become script text: each value is UTF-8 encoded and base64-encoded, and only the
base64 alphabet is inserted into a script (as ``MSP_P_<NAME>_B64`` variables or, for PowerShell,
the ``$MspParams`` object).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from agent.exec.types import ParamValue

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def encode_params(params: Mapping[str, ParamValue]) -> dict[str, str]:
    """``{"MSP_P_<NAME>_B64": base64}``; raises ValueError on a bad name or a NUL byte."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"invalid parameter name {name!r}")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = value
        else:
            items = list(value)
            if any(not isinstance(v, str) or "\n" in v for v in items):
                raise ValueError(f"parameter {name!r}: list items must be strings without newlines")
            text = "\n".join(items)
        if "\x00" in text:
            raise ValueError(f"parameter {name!r} contains a NUL byte")
        out[f"MSP_P_{name.upper()}_B64"] = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return out


def sh_preamble(params: Mapping[str, ParamValue], *, remote_deadline_s: int | None) -> str:
    """POSIX sh preamble (runs under bash or dash). With ``remote_deadline_s`` it also starts the
    remote watchdog of §2.5: a sleeper in its own process group that kills the script's process
    group ``deadline + 5 s`` after start and removes the private directory."""
    lines = [
        "export LC_ALL=C SYSTEMD_PAGER= PAGER=cat DEBIAN_FRONTEND=noninteractive",
    ]
    for var, b64 in encode_params(params).items():
        lines.append(f"{var}='{b64}'; export {var}")
    lines.append(
        # base64 decoding: GNU/busybox and macOS 13+ take -d; older macOS only -D (its -d is --debug).
        "if [ \"$(printf eA== | base64 -d 2>/dev/null)\" = x ]; then msp_b64d() { base64 -d; }; "
        "else msp_b64d() { base64 -D; }; fi"
    )
    lines.append(
        # msp_param NAME -> decoded value on stdout (NAME as in the runbook, any case).
        "msp_param() { _msp_n=$(printf '%s' \"$1\" | tr 'a-z' 'A-Z'); "
        'eval "_msp_v=\\${MSP_P_${_msp_n}_B64:-}"; printf \'%s\' "$_msp_v" | msp_b64d; }'
    )
    if remote_deadline_s is not None:
        wd = int(remote_deadline_s) + 5
        lines += [
            f"MSP_DEADLINE={int(remote_deadline_s)}",
            "msp_self=$$",
            "msp_pg=$(ps -o pgid= -p $$ 2>/dev/null | tr -d ' ')",
            '[ -n "$msp_pg" ] || msp_pg=$$',
            "set -m 2>/dev/null",
            '( n=0; while kill -0 "$msp_self" 2>/dev/null; do '
            'if [ "$n" -ge ' + str(wd) + ' ]; then kill -KILL -- "-$msp_pg" 2>/dev/null; break; fi; '
            "sleep 1; n=$((n+1)); done; "
            '[ -n "${MSP_DIR:-}" ] && rm -rf -- "$MSP_DIR" ) </dev/null >/dev/null 2>&1 &',
            "set +m 2>/dev/null",
            "unset msp_self msp_pg",
        ]
    return "\n".join(lines) + "\n"


_PS_PREAMBLE = """$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$OutputEncoding = [Console]::OutputEncoding
"""


def ps_preamble(params: Mapping[str, ParamValue]) -> str:
    """PowerShell preamble: UTF-8 console output, no progress, ``$MspParams`` from base64 values."""
    entries = []
    for var, b64 in encode_params(params).items():
        name = var[len("MSP_P_") : -len("_B64")].lower()
        entries.append(f"  '{name}' = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{b64}'))")
    body = "\n".join(entries)
    return _PS_PREAMBLE + "$MspParams = [pscustomobject]@{\n" + body + "\n}\n"
