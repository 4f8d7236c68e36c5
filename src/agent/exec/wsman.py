"""WS-Management SOAP messages for the WinRM shell (exec.md §3.5) and their parsing.

Shared by the WinRM client and the WS-Man test server (``tests/winrm_testserver.py``). Parsing
rejects DTDs (no entity tricks).
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsmanfault",
}
RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
A_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
A_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
A_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
A_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
A_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
A_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
WSMAN_TIMED_OUT = 2150858793
ACCESS_DENIED = 5
MAX_ENVELOPE = 153600

_NS_DECL = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items() if k != "f")


def envelope(
    action: str,
    body: str,
    *,
    to: str,
    operation_timeout_s: int,
    shell_id: str | None = None,
    options: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    selector = ""
    if shell_id is not None:
        selector = (
            f'<w:SelectorSet><w:Selector Name="ShellId">{escape(shell_id)}</w:Selector></w:SelectorSet>'
        )
    opts = ""
    if options:
        opts = (
            "<w:OptionSet>"
            + "".join(f'<w:Option Name="{escape(k)}">{escape(v)}</w:Option>' for k, v in options.items())
            + "</w:OptionSet>"
        )
    mid = message_id or f"uuid:{uuid.uuid4()}"
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {_NS_DECL}><s:Header>'
        f"<a:To>{escape(to)}</a:To>"
        f'<w:ResourceURI s:mustUnderstand="true">{RESOURCE_CMD}</w:ResourceURI>'
        '<a:ReplyTo><a:Address s:mustUnderstand="true">'
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        f'<a:Action s:mustUnderstand="true">{action}</a:Action>'
        f'<w:MaxEnvelopeSize s:mustUnderstand="true">{MAX_ENVELOPE}</w:MaxEnvelopeSize>'
        f"<a:MessageID>{mid}</a:MessageID>"
        '<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>'
        f"<w:OperationTimeout>PT{int(operation_timeout_s)}S</w:OperationTimeout>"
        f"{selector}{opts}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def create_body() -> str:
    return (
        "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
    )


CREATE_OPTIONS = {"WINRS_NOPROFILE": "TRUE", "WINRS_CODEPAGE": "65001"}
COMMAND_OPTIONS = {"WINRS_CONSOLEMODE_STDIN": "FALSE", "WINRS_SKIP_CMD_SHELL": "TRUE"}


def command_body(command: str, args: list[str]) -> str:
    arg_xml = "".join(f"<rsp:Arguments>{escape(a)}</rsp:Arguments>" for a in args)
    return f"<rsp:CommandLine><rsp:Command>{escape(command)}</rsp:Command>{arg_xml}</rsp:CommandLine>"


def send_body(command_id: str, data: bytes, end: bool) -> str:
    end_attr = ' End="true"' if end else ""
    return (
        f'<rsp:Send><rsp:Stream Name="stdin" CommandId="{escape(command_id)}"{end_attr}>'
        f"{base64.b64encode(data).decode('ascii')}</rsp:Stream></rsp:Send>"
    )


def receive_body(command_id: str) -> str:
    return (
        f'<rsp:Receive><rsp:DesiredStream CommandId="{escape(command_id)}">stdout stderr'
        "</rsp:DesiredStream></rsp:Receive>"
    )


def signal_body(command_id: str, code: str = SIGNAL_TERMINATE) -> str:
    return f'<rsp:Signal CommandId="{escape(command_id)}"><rsp:Code>{code}</rsp:Code></rsp:Signal>'


class WsmanParseError(ValueError):
    pass


def parse(data: bytes) -> ET.Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise WsmanParseError("DTD in SOAP message")
    try:
        return ET.fromstring(data)  # noqa: S314 - no DTD (checked above)
    except ET.ParseError as exc:
        raise WsmanParseError(f"malformed SOAP: {exc}") from None


@dataclass
class Fault:
    code: str
    subcode: str
    wsman_code: int | None
    reason: str


def find_fault(root: ET.Element) -> Fault | None:
    fault = root.find("s:Body/s:Fault", NS)
    if fault is None:
        return None
    code = fault.findtext("s:Code/s:Value", "", NS)
    sub = fault.findtext("s:Code/s:Subcode/s:Value", "", NS)
    reason = fault.findtext("s:Reason/s:Text", "", NS)
    wsman_code: int | None = None
    wf = fault.find(".//f:WSManFault", NS)
    if wf is not None:
        try:
            wsman_code = int(wf.get("Code", ""))
        except ValueError:
            wsman_code = None
    return Fault(code, sub, wsman_code, reason.strip()[:200])


def action_of(root: ET.Element) -> str:
    return root.findtext("s:Header/a:Action", "", NS).strip()


def shell_id_of(root: ET.Element) -> str | None:
    sid = root.findtext(".//rsp:ShellId", None, NS)
    if sid:
        return sid.strip()
    sel = root.find(".//w:Selector[@Name='ShellId']", NS)
    return sel.text.strip() if sel is not None and sel.text else None


def command_id_of(root: ET.Element) -> str | None:
    cid = root.findtext(".//rsp:CommandId", None, NS)
    return cid.strip() if cid else None


@dataclass
class ReceiveResult:
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    done: bool = False
    exit_code: int | None = None


def parse_receive(root: ET.Element) -> ReceiveResult:
    out = ReceiveResult()
    for stream in root.iterfind(".//rsp:ReceiveResponse/rsp:Stream", NS):
        if not stream.text:
            continue
        data = base64.b64decode(stream.text)
        (out.stderr if stream.get("Name") == "stderr" else out.stdout).append(data)
    state = root.find(".//rsp:CommandState", NS)
    if state is not None and state.get("State") == STATE_DONE:
        out.done = True
        code = state.findtext("rsp:ExitCode", None, NS)
        if code is not None:
            try:
                out.exit_code = int(code.strip())
            except ValueError:
                out.exit_code = None
    return out
