"""One test per row of phi.md §3/§4 (what is redacted) and §5 (what must survive)."""

from __future__ import annotations

import pytest

from agent.phi.scrubber import Scrubber

# (text, tag, value that must disappear); the rest of the text must survive.
REDACT = [
    # SSN
    ("Import failed for record SSN 832-15-9624 on NVDC01", "SSN", "832-15-9624"),
    ("Patient SSN: 635 02 8625 callback", "SSN", "635 02 8625"),
    ("ssn=832159624", "SSN", "832159624"),
    ("SS# 832159624", "SSN", "832159624"),
    ("social security number: 832159624", "SSN", "832159624"),
    ("record 832-15-9624 imported", "SSN", "832-15-9624"),
    # MRN
    ("chart lookup MRN#220439 returned 0 rows", "MRN", "220439"),
    ("chart lookup mrn=383688989 returned 0 rows", "MRN", "383688989"),
    ("medical record number: A1234567", "MRN", "A1234567"),
    ("chart no. 0012345", "MRN", "0012345"),
    # PATIENT-ID
    ("Lab result upload Patient ID PT5546115 from PACS01 failed", "PATIENT-ID", "PT5546115"),
    ("upload patient_id: PT4203324 failed", "PATIENT-ID", "PT4203324"),
    ("upload patientid=PT3196426 failed", "PATIENT-ID", "PT3196426"),
    ("upload pt id 77-1234 failed", "PATIENT-ID", "77-1234"),
    # PHONE
    ("Fax to (629) 917-9217 failed", "PHONE", "(629) 917-9217"),
    ("Fax to (506)768-1765 failed", "PHONE", "(506)768-1765"),
    ("Fax to 575-308-5510 failed", "PHONE", "575-308-5510"),
    ("Fax to 519.363.1811 failed", "PHONE", "519.363.1811"),
    ("Fax to 838 636 7604 failed", "PHONE", "838 636 7604"),
    ("Fax to +1-737-576-4451 failed", "PHONE", "+1-737-576-4451"),
    ("callback +1 837 445 1729 epoch=1748011963", "PHONE", "+1 837 445 1729"),
    ("call 1-800-555-0199 now", "PHONE", "1-800-555-0199"),
    ("sms: 5705551234 sent", "PHONE", "5705551234"),
    ("mobile 15705551234", "PHONE", "15705551234"),
    # EMAIL
    ("Mail delivery to susan.rodriguez@gmail.com deferred", "EMAIL", "susan.rodriguez@gmail.com"),
    ("from <Jo.Smith+x@Clinic.Example.ORG>", "EMAIL", "Jo.Smith+x@Clinic.Example.ORG"),
    # CC
    ("cached card 5268-8537-1841-2271 in tmp file", "CC", "5268-8537-1841-2271"),
    ("cached card 376554685000541 in tmp file", "CC", "376554685000541"),
    ("cached card 6011 7142 2492 8200 in tmp file", "CC", "6011 7142 2492 8200"),
    ("card 4111111111111111 declined", "CC", "4111111111111111"),
    # DOB
    ("Registration form DOB: 6/14/92 rejected", "DOB", "6/14/92"),
    ("Registration form born 10-06-1948 rejected", "DOB", "10-06-1948"),
    ("Registration form Birth Date: 1982-09-05 rejected", "DOB", "1982-09-05"),
    ("date of birth 19820905", "DOB", "19820905"),
    ("D.O.B. Jan 5, 1980", "DOB", "Jan 5, 1980"),
    ("birthday: 5 January 1980", "DOB", "5 January 1980"),
    # ADDRESS
    ("Mailing label printed for 1935 Washington Rd, Scranton PA", "ADDRESS", "1935 Washington Rd"),
    ("Mailing label printed for 1418 WYOMING ROAD, Scranton", "ADDRESS", "1418 WYOMING ROAD"),
    ("ship to 12 North Main Street Apt 2B today", "ADDRESS", "12 North Main Street Apt 2B"),
    ("ship to 400 Park Ave Suite 110, NY", "ADDRESS", "400 Park Ave Suite 110"),
    ("ship to 7 Oak ln #12", "ADDRESS", "7 Oak ln #12"),
    # ZIP
    ("Geocoder miss for zip 38856-1333 (port 5432 open)", "ZIP", "38856-1333"),
    ("Scranton PA 18503 mailing", "ZIP", "18503"),
    ("Boise, ID 83702 mailing", "ZIP", "83702"),
    ("zip code: 18503", "ZIP", "18503"),
    # ACCOUNT
    ("Billing export row ACCT:777631 flagged duplicate", "ACCOUNT", "777631"),
    ("Billing export row account number 874138 flagged", "ACCOUNT", "874138"),
    ("Billing export row Acct #12-3456 flagged", "ACCOUNT", "12-3456"),
    # INSURANCE
    ("Eligibility check Member ID: 5XVT929UC timed out", "INSURANCE", "5XVT929UC"),
    ("Eligibility check Policy #GC94JYZR timed out", "INSURANCE", "GC94JYZR"),
    ("insurance number WXQ73ITS9 timed out", "INSURANCE", "WXQ73ITS9"),
    ("group number 88231-A on file", "INSURANCE", "88231-A"),
    ("subscriber id: ZZ12345", "INSURANCE", "ZZ12345"),
    # MEDICARE
    ("Claim scrubber MBI 8G70UK8YN76 status=denied", "MEDICARE", "8G70UK8YN76"),
    ("Claim scrubber 1EG4-TE5-MK73 status=denied", "MEDICARE", "1EG4-TE5-MK73"),
    # PATH
    ("rsync: failed to open /srv/ehr/mary_smith/chart.pdf: denied", "PATH", "mary_smith"),
    ("quarantined C:\\PatientRecords\\PriyaBrown\\intake.docx", "PATH", "PriyaBrown"),
    ("copied /data/patients/John Smith/scan.png", "PATH", "John Smith"),
    ("opened \\\\fs01\\Charts\\kwame_o'brien\\x", "PATH", "kwame_o'brien"),
    # HOSTNAME
    ("DHCPACK on 10.2.3.4 to 75:34:a2:0f:0b:0d (PATIENT-ROOM-411) via eth0", "HOSTNAME",
     "PATIENT-ROOM-411"),
    ("monitor BED-4A-MONITOR offline", "HOSTNAME", "BED-4A-MONITOR"),
    ("ping ROOM201 ok", "HOSTNAME", "ROOM201"),
    ("rdp to EXAM-3-PC.", "HOSTNAME", "EXAM-3-PC"),
    # NAME
    ("HL7 ingest error for patient name: Sofia Smith (ADT^A08)", "NAME", "Sofia Smith"),
    ("HL7 ingest error for Patient Name=Linda Rossi (ADT^A08)", "NAME", "Linda Rossi"),
    ("HL7 ingest error for pt: Ahmed Dubois (ADT^A08)", "NAME", "Ahmed Dubois"),
    ("Voicemail from Dr. Rossi transcribed", "NAME", "Rossi"),
    ("Voicemail from Mrs. Emma O'Brien-Smith transcribed", "NAME", "Emma O'Brien-Smith"),
    ("patient 4411 record, name: Mary McDonald", "NAME", "Mary McDonald"),
    # SECRET
    ("Invoke-Command -Credential svc_admin -Password kRaVzUamaY0Qqu", "SECRET", "kRaVzUamaY0Qqu"),
    ("Invoke-Command pwd=$pK%a0HjlIeGNr", "SECRET", "$pK%a0HjlIeGNr"),
    ("Password: 7@wPttABVTNG51", "SECRET", "7@wPttABVTNG51"),
    ('{"db_password": "hunter2 x"}', "SECRET", "hunter2 x"),
    ("curl https://x/?access_token=abc123&y=1", "SECRET", "abc123"),
    ("client_secret: s3cr3t!", "SECRET", "s3cr3t!"),
    ("$p = ConvertTo-SecureString 'P@ss w0rd' -AsPlainText", "SECRET", "P@ss w0rd"),
    ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.SflKxw", "SECRET", "eyJhbGciOi.eyJzdWIi.SflKxw"),
    ("authorization=Basic dXNlcjpwYXNz", "SECRET", "dXNlcjpwYXNz"),
    ("postgres://svc:Tr0ub4dor@db01:5432/ehr", "SECRET", "Tr0ub4dor"),
]

# Must NOT be redacted: the line comes back byte for byte.
KEEP = [
    "other number 123456789 and 000-00-0000 placeholder",
    "SSN 000-00-0000 placeholder",
    "EventID=4624 Event ID 4624 Logon ID: 0xDA711448",
    "Get-Service WinDefend | Status: Running | PID 7622",
    "patient id lookup failed; patient-id field empty",
    "epoch=1718899119 uptime=8702077s",
    "Security ID: S-1-5-21-3180628982-3664976141-3878940490-2055",
    "Certificate serial 1825075505501099 expires thumbprint 220E087835B92558589EAFF309CAD68",
    "order 1234567812345678 shipped",
    "backup job 22995d84-016e-51c6-b36d-6f3c9f0ac905 completed",
    "device s/n 4111111111111111 and id: 4111111111111111",
    "Registration form processed 2026-06-05 at 04:18:01Z",
    "2026-06-05T04:18:01Z NVDC01 sshd[48103]: Accepted",
    "Port 5432 open, Forward 3 packets to gateway, agent v0.1.12, 10.0.19041.1234",
    "port 18503 open and 12345 items",
    "Logon ID 12345 and ME 04101 without comma",
    "Account Name: svc_backup Account Domain: LAB",
    "account lockout threshold is 5 on ubuntu-ws3",
    "policy update applied; insurance claims queue drained (42 items)",
    "Claim token 3AR9QU7NV7 and ABCDEFGHIJK and 1234567890A",
    "rotated /var/log/medical-imaging.log and C:\\Windows\\System32\\drivers",
    "No room left on device; bedrock service started; Bedford VPN up; roommate; Edward; ward",
    "Patient SSN lookup; patient portal service healthy; Patients list exported",
    "Doctor Who fan wiki mirror synced",
    "relay 192.88.187.141 mac 75:34:a2:0f:0b:0d ipv6 fe80::1ff:fe23:4567:890a",
    "hosts DC01 WS-NURSE-01 pbx01.northvalley.local KB4433283 error 0x2C400B95",
    "HIPAA 164.312(a)(1) check firewall_status runbook RB-001",
    "ED25519 SHA256:PT6epi92WWrx8rxdJnnVxw9M0w7gFaveAxyP0xZ13Nb timeout=PT30S",
    "The password policy requires 12 characters",
    "admin@192.168.1.1 ssh",
]


@pytest.mark.parametrize(("text", "tag", "value"), REDACT)
def test_redacts(scrubber: Scrubber, text: str, tag: str, value: str) -> None:
    out = scrubber.scrub(text)
    assert value not in out
    found = [(t, text[s:e]) for t, s, e in scrubber.find(text)]
    assert (tag, value) in found
    if tag == "SECRET":
        assert "[SECRET-REDACTED]" in out
    else:
        assert f"[{tag}-REDACTED-" in out
    # only the value is replaced: the text around it survives
    start = text.index(value)
    assert out.startswith(text[:start])
    assert out.endswith(text[start + len(value) :])


@pytest.mark.parametrize("text", KEEP)
def test_keeps(scrubber: Scrubber, text: str) -> None:
    assert scrubber.find(text) == []
    assert scrubber.scrub(text) == text
    assert not scrubber.contains_phi(text)


def test_pem_block(scrubber: Scrubber) -> None:
    body = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc=\n-----END RSA PRIVATE KEY-----"
    out = scrubber.scrub("key:\n" + body + "\nafter 832-15-9624")
    assert out.startswith("key:\n[SECRET-REDACTED]\nafter [SSN-REDACTED-")
    assert "MIIE" not in out
    # an unterminated block is redacted to the end of the text
    assert scrubber.scrub("x -----BEGIN PRIVATE KEY-----\nMIIE") == "x [SECRET-REDACTED]"


def test_hl7_pid_fields(scrubber: Scrubber) -> None:
    msg = ("MSH|^~\\&|EHR|CLINIC|||20240101||ADT^A08|1|P|2.5\r"
           "PID|1||00123456^^^MRN||DOE^JOHN^Q||19800105|M|||123 MAIN ST^^SCRANTON^PA^18503"
           "||(570)555-0100|||S||ACC-991|123-45-6789\rPV1|1|O")
    out = scrubber.scrub(msg)
    for gone in ("00123456", "DOE^JOHN^Q", "19800105", "123 MAIN ST", "(570)555-0100",
                 "ACC-991", "123-45-6789"):
        assert gone not in out
    tags = [t for t, _, _ in scrubber.find(msg)]
    assert tags == ["MRN", "NAME", "DOB", "ADDRESS", "PHONE", "ACCOUNT", "SSN"]
    assert out.startswith("MSH|^~\\&|EHR|CLINIC|||20240101||ADT^A08|1|P|2.5\rPID|1||[MRN-")
    assert "^^^MRN||[NAME-REDACTED-" in out and out.endswith("\rPV1|1|O")


def test_non_ascii_passes_through(scrubber: Scrubber) -> None:
    text = "Ümlaut café — SSN 832-15-9624 日本 patient name: Zoë"
    out = scrubber.scrub(text)
    assert out.startswith("Ümlaut café — SSN [SSN-REDACTED-")
    # other text passes through; the name is matched on its folded form (agent.phi.fold), whole
    assert " 日本 patient name: [NAME-REDACTED-" in out and out.endswith("]")
    assert scrubber.find(text)[0][1:] == (text.index("832"), text.index("832") + 11)
