#!/usr/bin/env python3
"""Generate a labelled PHI corpus of the issue 17 families (the forms the developer corpus does
not have), in the scorer's format: one JSON record per line with ``text``, ``phi`` (values that
must disappear, with their category) and ``keep`` (values that must survive).

usage: python tools/gen_phi_corpus.py [--seed N] [--count N] OUT.jsonl

The same seed gives the same corpus. :func:`families` is also used by the property tests.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

Record = dict[str, object]
Family = Callable[[random.Random], tuple[str, list[tuple[str, str]], list[str]]]

FIRST = ["Jane", "John", "Maria", "Ahmed", "Olga", "Wei", "Priya", "Liam", "Sofia", "Noah"]
LAST = ["Doe", "Smith", "Garcia", "Okafor", "Ivanova", "Chen", "Patel", "Murphy", "Rossi", "Brown"]
ACCENTED_FIRST = ["José", "Álvaro", "Björk", "Jörg", "Zoë", "Renée", "Søren", "Łukasz", "Çelik"]
ACCENTED_LAST = ["Núñez", "Peña", "Olsén", "Müller", "Gómez", "Dvořák", "Ångström", "Kovačić"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WORDS = ["hunter", "winter", "clinic", "summer", "dragon", "falcon", "orchid", "tiger"]
MBI_A = "ACDEFGHJKMNPQRTUVWXY"


def _d(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def _ssn(r: random.Random) -> tuple[str, str, str]:
    return f"{r.randint(100, 665)}", f"{r.randint(10, 99)}", f"{r.randint(1000, 9999)}"


def _luhn_card(r: random.Random) -> str:
    digits = [4] + [r.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def _mbi(r: random.Random) -> str:
    a, an = MBI_A, MBI_A + "0123456789"
    c = [r.choice("123456789"), r.choice(a), r.choice(an), r.choice("0123456789"), r.choice(a),
         r.choice(an), r.choice("0123456789"), r.choice(a), r.choice(a), _d(r, 1), _d(r, 1)]
    return "".join(c)


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)


def f_names(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    first, last = r.choice(FIRST), r.choice(LAST)
    forms = [
        (f"Patient: {last.upper()}, {first.upper()} admitted to ward", [last.upper(), first.upper()]),
        (f"patient: {first.lower()} {last.lower()} was seen today", [first.lower(), last.lower()]),
        (f"Pt. {first} {last} checked in at front desk", [first, last]),
        (f"Dr. {first} {r.choice('ABCDEFGH')}. {last} signed the order", [first, last]),
        (f"Patient {first} {r.choice('JKLMN')}. {last} MRN {_d(r, 7)} updated", [first, last]),
    ]
    text, values = r.choice(forms)
    return text, [("name", v) for v in values], ["admitted", "checked in", "signed", "updated",
                                                  "was seen"]


def f_accented(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    first, last = r.choice(ACCENTED_FIRST), r.choice(ACCENTED_LAST)
    forms = [
        (f"Patient: {first} {last}", [("name", first), ("name", last)]),
        (f"Dr. {first} {last} reviewed results", [("name", first), ("name", last)]),
        (f"mail from {first.lower()}.{last.lower()}@klinik.de bounced",
         [("email", f"{first.lower()}.{last.lower()}@klinik.de")]),
    ]
    text, phi = r.choice(forms)
    return text, phi, ["reviewed results", "bounced"]


def f_ssn(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    a, g, s = _ssn(r)
    sep = r.choice([".", "\u2013", "\u00a0", " - ", "-\u200b", "-"])
    value = f"{a}{sep}{g}{sep}{s}"
    if r.random() < 0.3:
        value = _fullwidth(f"{a}-{g}-{s}")
    label = r.choice(["SSN", "ssn:", "found", "social security number"])
    return f"{label} {value} in export batch", [("ssn", value)], ["export batch"]


def f_ids(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    mrn = _d(r, 8)
    card = _luhn_card(r)
    dotted = ".".join(card[i:i + 4] for i in range(0, 16, 4))
    forms = [
        (f"MR# {mrn} chart pulled", [("mrn", mrn)], ["chart pulled"]),
        (f"MRN{mrn} chart pulled", [("mrn", mrn)], ["chart pulled"]),
        (f"GET Patient/{_d(r, 6)} 200", [], ["GET", "200"]),
        (f"mbi {_mbi(r).lower()} eligibility ok", [], ["eligibility ok"]),
        (f"card {dotted} declined", [("card", dotted)], ["declined"]),
        (f"Phone: 555-{r.randint(100, 199)}-{_d(r, 4)}", [], ["Phone: "]),
    ]
    text, phi, keep = r.choice(forms)
    if not phi:  # the value is the token after the label
        value = text.split()[1].split("/")[-1] if not text.startswith("Phone") else text[7:]
        phi = [("id", value)]
    return text, phi, keep


def f_dates(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    day, month, year = r.randint(1, 28), r.choice(MONTHS), r.randint(1930, 2015)
    sfx = "th" if 10 <= day <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    value = r.choice([f"{day}{sfx} of {month} {year}", f"{day}-{month[:3]}-{year}"])
    return f"DOB: {value} verified", [("dob", value)], ["verified"]


def f_addresses(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    value = r.choice([f"PO Box {_d(r, 4)}", f"P.O. Box {_d(r, 3)}",
                      f"{r.randint(1, 999)} {r.choice('NSEW')}. Main Street"])
    return f"mail returned from {value} today", [("address", value)], ["mail returned", "today"]


def f_secrets(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    pw = r.choice(WORDS) + _d(r, 2) + r.choice(["", "!", "#"])
    forms = [
        f"password {pw}",
        f"sshpass -p {pw} ssh backup@nas01",
        f"net use Z: \\\\nas01\\scans /user:CLINIC\\svc_scan {pw} /persistent:yes",
    ]
    return r.choice(forms), [("secret", pw)], []


def f_json(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    a, g, s = _ssn(r)
    first = r.choice(FIRST)
    forms = [
        (f'{{"ssn":"{a}{g}{s}","site":"clinic-1"}}', [("ssn", f"{a}{g}{s}")]),
        (f'{{"dob": "{r.randint(1930, 2015)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}", "n": 2}}', []),
        (f"{{'first_name': '{first.lower()}', 'site': 'clinic-1'}}", [("name", first.lower())]),
        (f'{{"firstName":"{first}","lastName":"{r.choice(LAST)}"}}', [("name", first)]),
    ]
    text, phi = r.choice(forms)
    if not phi:
        phi = [("dob", text.split('"')[3])]
    return text, phi, ["clinic-1"] if "clinic-1" in text else []


def f_hl7(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    mrn, alt, first, last = _d(r, 7), _d(r, 6), r.choice(FIRST).upper(), r.choice(LAST).upper()
    nk_first, nk_last = r.choice(FIRST).upper(), r.choice(LAST).upper()
    forms = [
        f"HL7 in: MSH|^~\\&|LAB|CLINIC|||2024||ADT^A08|1|P|2.5\\rPID|1||{mrn}^^^MRN~{alt}^^^ALT||"
        f"{last}^{first}\\rNK1|1|{nk_last}^{nk_first}|SPO",
        f"hl7 msh|^~\\&|x\\rpid|1||{mrn}~{alt}||{last}^{first}\\rnk1|1|{nk_last}^{nk_first}",
        f"MSH#*!\\&|LAB\\rPID#1##{mrn}!{alt}##{last}*{first}\\rNK1#1#{nk_last}*{nk_first}",
    ]
    phi = [("mrn", mrn), ("mrn", alt), ("name", first), ("name", last), ("name", nk_first),
           ("name", nk_last)]
    text = r.choice(forms)
    return text, phi, ["LAB"] if "LAB" in text else []


BENIGN = [
    "Patient Phone: not on file",
    "Patient Address: unknown",
    "patient portal service restarted",
    "Patient SSN field is empty",
    "Patients list exported to share",
    "Account Name: svc_backup",
    "password expired for user svc_scan",
    "password change required at next logon",
    "pt.log rotated (12 MB)",
    "version 10.123.45.6789 installed",
    '{"hostname":"WS-NURSE-01","os_name":"Windows","name":"svc"}',
    '{"dob": null, "email": ""}',
    "café opened on WS-FRONT-02",
    "Box 12 of 40 shipped",
    "see Patient/abc for the schema",
    "policy 1EG4-te5-MK73 mixed case token",
    "net use Z: \\\\nas01\\scans /user:CLINIC\\svc_scan *",
]


def f_benign(r: random.Random) -> tuple[str, list[tuple[str, str]], list[str]]:
    return r.choice(BENIGN), [], []


FAMILIES: dict[str, Family] = {
    "names": f_names, "accented": f_accented, "ssn": f_ssn, "ids": f_ids, "dates": f_dates,
    "addresses": f_addresses, "secrets": f_secrets, "json": f_json, "hl7": f_hl7,
    "benign": f_benign,
}


def families() -> dict[str, Family]:
    return dict(FAMILIES)


def records(seed: int, count: int) -> list[Record]:
    r = random.Random(seed)  # noqa: S311 - test data, reproducible by seed
    out: list[Record] = []
    names = list(FAMILIES)
    for _ in range(count):
        text, phi, keep = FAMILIES[r.choice(names)](r)
        out.append({"text": text, "phi": [{"cat": c, "value": v} for c, v in phi],
                    "keep": [k for k in keep if k in text]})
    return out


def main(argv: list[str]) -> int:
    seed, count, out = 17, 2000, None
    it = iter(argv)
    for a in it:
        if a == "--seed":
            seed = int(next(it))
        elif a == "--count":
            count = int(next(it))
        else:
            out = Path(a)
    if out is None:
        sys.stderr.write(__doc__ or "")
        return 2
    with out.open("w", encoding="utf-8") as f:
        for rec in records(seed, count):
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
