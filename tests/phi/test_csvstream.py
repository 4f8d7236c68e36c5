"""CSV rows under a header naming PHI columns, within one scrub stream (issue 17)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_agent

from agent.phi.csvstream import CsvStream, fields
from agent.phi.scrubber import Scrubber


def test_header_columns_redacted_across_batches(scrubber: Scrubber) -> None:
    stream = CsvStream(scrubber)
    first = stream.scrub_many(["id,first_name,Last Name,dob,visit", "1,jane,doe,03/03/1980,ok"])
    second = stream.scrub_many(['2,"john, jr",roe,1975-05-05,late', "not,a,row"])
    assert first[0] == "id,first_name,Last Name,dob,visit"
    assert first[1].startswith("1,[NAME-REDACTED-") and first[1].endswith(",ok")
    assert "jane" not in first[1] and "doe" not in first[1] and "1980" not in first[1]
    assert second[0].startswith('2,"[NAME-REDACTED-') and second[0].endswith(",late")
    assert "john" not in second[0] and "roe" not in second[0] and "1975" not in second[0]
    assert second[1] == "not,a,row"  # another width: the table ended


def test_no_header_no_change(scrubber: Scrubber) -> None:
    stream = CsvStream(scrubber)
    lines = ["host,port,status", "DC01,445,open", "name,os_name", "svc,Windows"]
    assert stream.scrub_many(lines) == lines


def test_semicolon_and_tab_headers(scrubber: Scrubber) -> None:
    for delim in (";", "\t"):
        stream = CsvStream(scrubber)
        out = stream.scrub_many([f"mrn{delim}phone{delim}note", f"A1{delim}n/a{delim}fine"])
        assert out[1].startswith("[MRN-REDACTED-") and out[1].endswith(f"{delim}fine")
        assert "n/a" not in out[1]


def test_fields() -> None:
    assert fields('a,"b,c",d', ",") == [(0, 1), (3, 6), (8, 9)]
    assert fields("", ",") == [(0, 0)]


def test_the_scrub_command_keeps_the_header_for_its_whole_input(tmp_path: Path) -> None:
    rows = ["visit_id,first_name,dob,clinic"] + [f"{n},zed{n}x,0{n % 9 + 1}/0{n % 9 + 1}/1970,north"
                                                 for n in range(3000)]  # several batches
    src = tmp_path / "export.csv"
    src.write_text("\n".join(rows) + "\n")
    for pure in ((), ("--pure",)):
        r = run_agent("scrub", str(src), *pure)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        assert out[0] == rows[0] and len(out) == len(rows)
        assert all(line.endswith(",north") for line in out[1:])
        assert not any(f"zed{n}x" in r.stdout for n in range(3000))


def test_the_log_shipper_batch_redacts_csv_columns(scrubber: Scrubber) -> None:
    from agent.logship.batch import build

    entries = [{"__REALTIME_TIMESTAMP": str(1_700_000_000_000_000 + n), "MESSAGE": m,
                "_SYSTEMD_UNIT": "export.service"}
               for n, m in enumerate(["patient_name;phone;room", "zed quux;n/a;12"])]
    built = build(entries, site_id="clinic", hostname="appliance", scrubber=scrubber)
    header, row = (e.msg for e in built.ingest.batch)
    assert header == "patient_name;phone;room"
    assert "zed quux" not in row and "n/a" not in row and row.endswith(";12")
