"""The word lists of the PHI rules (phi.md §3, §4), shared by both scanners.

The native scanner (``csrc/phi_scan.c``) carries the same lists, in the same order; the
differential tests keep the two in step. Labels are lowercase. In a label, a space stands for
an optional joiner (one of space, ``_`` or ``-``), so ``"patient id"`` also matches
``patient_id``, ``patient-id`` and ``patientid``. A label that ends with a letter or digit must
not be followed by another letter or digit.
"""

from __future__ import annotations

from typing import Final

# Tag numbers are the ones the native scanner reports.
TAGS: Final[tuple[str, ...]] = (
    "SSN",
    "MRN",
    "PATIENT-ID",
    "PHONE",
    "EMAIL",
    "CC",
    "DOB",
    "ADDRESS",
    "ZIP",
    "ACCOUNT",
    "INSURANCE",
    "MEDICARE",
    "PATH",
    "HOSTNAME",
    "NAME",
    "SECRET",
)
TAG_INDEX: Final[dict[str, int]] = {t: i for i, t in enumerate(TAGS)}

# Categories whose values are normalised to their digits before hashing (phi.md §2).
NUMERIC_TAGS: Final[frozenset[str]] = frozenset({"SSN", "PHONE", "CC", "MRN", "ACCOUNT", "ZIP"})

SSN_LABELS: Final = ("social security", "ssn", "ss#")
MRN_LABELS: Final = ("medical record", "mrn", "chart", "mr #")
PATIENT_ID_LABELS: Final = ("patient id", "pt id")
ACCOUNT_LABELS: Final = ("account", "acct")
INSURANCE_LABELS: Final = (
    "insurance id", "insurance number", "insurance no.", "insurance no", "insurance #",
    "policy id", "policy number", "policy no.", "policy no", "policy #",
    "member id", "subscriber id", "group number", "group no.", "group no",
)
DOB_LABELS: Final = (
    "date of birth", "birth date", "birthday", "dob", "d.o.b.", "d.o.b", "born on", "born",
)
PHONE_LABELS: Final = (
    "callback", "call", "telephone", "phone", "tel", "cell", "mobile", "fax", "sms",
)
ZIP_LABELS: Final = ("zip code", "zip", "postal code")
NAME_LABELS: Final = ("patient name", "patient", "pt name", "pt")
# "name" counts as a NAME label only after a patient word earlier in the same text.
NAME_CONTEXT_LABEL: Final = "name"
CONTEXT_WORDS: Final = ("patient", "pt")
# Words that end a name value (and that a name never starts with): the label nouns that follow a
# patient word (``Patient Phone:``, ``patient MRN``) and the words that follow a name in prose.
NAME_STOP_WORDS: Final = (
    "phone", "address", "name", "id", "dob", "ssn", "mrn", "email", "number", "record", "records",
    "chart", "account", "acct", "insurance", "policy", "member", "zip", "tel", "cell", "mobile",
    "fax", "date", "birth", "born", "age", "sex", "gender", "room", "bed", "portal", "status",
    "was", "is", "has", "had", "and", "or", "the", "in", "at", "on", "to", "from", "for",
    "with", "by", "of", "admitted", "discharged", "not", "via", "seen", "called", "checked",
    "arrived", "scheduled", "transferred", "registered", "updated", "created", "deleted",
    "logged", "signed", "will", "can", "did", "does",
)
# Titles are case-sensitive; the title stays, the name after it is redacted.
TITLES: Final = ("Miss", "Mrs", "Mr", "Ms", "Mx", "Dr")
# Optional word between a label and its value.
LABEL_WORDS: Final = ("is", "number", "no")

# Secrets (phi.md §4): free-text labels followed by "=" or ":".
SECRET_LABELS: Final = (
    "client secret", "passphrase", "password", "passwd", "pwd", "secret", "token", "api key",
)
AUTH_SCHEMES: Final = ("bearer", "basic")

# A Luhn-valid digit run labelled with one of these is not a card number.
CC_EXCEPTION_LABELS: Final = ("serial", "s/n", "sn", "thumbprint", "id")

# Clinical directories: the path segment after one of them is redacted.
CLINICAL_DIRS: Final = (
    "patient records", "medical records", "patients", "patient", "ehr", "emr", "medical", "charts",
)

HOSTNAME_PREFIXES: Final = ("patient", "pt", "room", "rm", "bed", "ward", "exam")

STREET_SUFFIXES: Final = (
    "street", "st", "avenue", "ave", "road", "rd", "drive", "dr", "lane", "ln", "boulevard",
    "blvd", "court", "ct", "way", "place", "pl", "circle", "cir", "parkway", "pkwy", "highway",
    "hwy", "terrace", "ter", "trail", "trl",
)
UNIT_WORDS: Final = ("apartment", "apt", "suite", "ste", "unit")

US_STATES: Final = (
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA",
    "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT",
    "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC",
    "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY",
)
# States that are also common words or abbreviations in logs: only after "City, ".
AMBIGUOUS_STATES: Final[frozenset[str]] = frozenset(
    {"AS", "CT", "DE", "HI", "ID", "IN", "MD", "ME", "OK", "OR", "PR"}
)

MONTHS: Final = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec",
)

# HL7 v2 segments with PHI: segment -> field number -> (tag, whole field (True) or the first
# component of each repetition (False)). Separators come from the message's MSH segment.
HL7_PID_FIELDS: Final[dict[int, tuple[str, bool]]] = {
    2: ("MRN", False),
    3: ("MRN", False),
    4: ("MRN", False),
    5: ("NAME", True),
    6: ("NAME", True),
    7: ("DOB", True),
    9: ("NAME", True),
    11: ("ADDRESS", False),
    13: ("PHONE", True),
    14: ("PHONE", True),
    18: ("ACCOUNT", False),
    19: ("SSN", True),
}
HL7_SEGMENTS: Final[dict[str, dict[int, tuple[str, bool]]]] = {
    "pid": HL7_PID_FIELDS,
    "nk1": {2: ("NAME", True), 4: ("ADDRESS", False), 5: ("PHONE", True), 6: ("PHONE", True)},
    "gt1": {2: ("MRN", False), 3: ("NAME", True), 5: ("ADDRESS", False), 6: ("PHONE", True),
            7: ("PHONE", True), 8: ("DOB", True), 12: ("SSN", True)},
    "in1": {16: ("NAME", True), 18: ("DOB", True), 19: ("ADDRESS", False),
            36: ("INSURANCE", False)},
}
HL7_MAX_SPANS: Final = 32  # spans of one segment; the rest of it is scanned as text

# Card prefixes (phi.md §3, CC): (low, high) ranges over the first len(low) digits.
CARD_PREFIXES: Final = (
    ("4", "4"), ("51", "55"), ("2221", "2720"), ("34", "34"), ("37", "37"), ("6011", "6011"),
    ("644", "649"), ("65", "65"), ("35", "35"), ("36", "36"), ("38", "38"),
)

# Structured data: a key that is or ends with one of these makes its value a secret (§4).
SECRET_KEY_SUFFIXES: Final = (
    "password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "credential",
    "credentials", "ssh_key",
)

# Structured data (issue 17): a key that names a PHI or secret category redacts its value
# whatever it holds. The list is closed; keys are compared without case and without the
# separators of PHI_KEY_SEPARATORS (``firstName``, ``First-Name`` and ``first_name`` are one key).
# The native scanner reads the same list for JSON-like ``"key": value`` pairs in text
# (csrc/phi_tables.h, generated from this table by tools/gen_phi_tables.py).
PHI_KEYS: Final[dict[str, str]] = {
    "ssn": "SSN",
    "social_security_number": "SSN",
    "dob": "DOB",
    "date_of_birth": "DOB",
    "birth_date": "DOB",
    "first_name": "NAME",
    "middle_name": "NAME",
    "last_name": "NAME",
    "full_name": "NAME",
    "patient_name": "NAME",
    "patient": "NAME",
    "mrn": "MRN",
    "medical_record_number": "MRN",
    "phone": "PHONE",
    "phone_number": "PHONE",
    "email": "EMAIL",
    "address": "ADDRESS",
    "street": "ADDRESS",
    "zip": "ZIP",
    "postal_code": "ZIP",
    "insurance_id": "INSURANCE",
    "member_id": "INSURANCE",
    "medicare_id": "MEDICARE",
    "password": "SECRET",
    "secret": "SECRET",
    "token": "SECRET",
    "api_key": "SECRET",
}
PHI_KEY_SEPARATORS: Final = "_- ."


def normalise_key(key: str) -> str:
    """A structured key as compared with :data:`PHI_KEYS` (lowercase, no separators)."""
    out = key.lower()
    for ch in PHI_KEY_SEPARATORS:
        out = out.replace(ch, "")
    return out


PHI_KEY_TAGS: Final[dict[str, str]] = {normalise_key(k): tag for k, tag in PHI_KEYS.items()}
# The keys as words (``_`` as an optional joiner): where the native scanner tries the key rule.
PHI_KEY_WORDS: Final = tuple(k.replace("_", " ") for k in PHI_KEYS)

# Base64 (issue 17): a run of at least B64_MIN characters (padding included, length a multiple of
# 4, at most B64_MAX) that decodes to printable ASCII text holding PHI is redacted whole.
B64_MIN: Final = 16
B64_MAX: Final = 4096
