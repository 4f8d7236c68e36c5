/*
 * The words where rules start (the labels and keywords of phi_rules.def): read by the rules and by
 * the generator of the dispatch tables (tools/gen_phi_dispatch.py), so each list is written once.
 * Lists only one rule file reads live in that file. Any case; ' ' is an optional joiner (space,
 * '_' or '-'), as in labels.
 */
#ifndef PHI_WORDS_H
#define PHI_WORDS_H

#include <stddef.h>

static const char *const SSN_LABELS[] = {"social security", "ssn", "ss#", NULL};
static const char *const MRN_LABELS[] = {"medical record", "mrn", "chart", "mr #", NULL};
static const char *const PATIENT_ID_LABELS[] = {"patient id", "pt id", NULL};
static const char *const ACCOUNT_LABELS[] = {"account", "acct", NULL};
static const char *const INSURANCE_LABELS[] = {
    "insurance id", "insurance number", "insurance no.", "insurance no", "insurance #",
    "policy id", "policy number", "policy no.", "policy no", "policy #",
    "member id", "subscriber id", "group number", "group no.", "group no", NULL};
static const char *const DOB_LABELS[] = {
    "date of birth", "birth date", "birthday", "dob", "d.o.b.", "d.o.b", "born on", "born", NULL};
static const char *const PHONE_LABELS[] = {
    "callback", "call", "telephone", "phone", "tel", "cell", "mobile", "fax", "sms", NULL};
static const char *const ZIP_LABELS[] = {"zip code", "zip", "postal code", NULL};
static const char *const NAME_LABELS[] = {"patient name", "patient", "pt name", "pt", NULL};
static const char *const NAME_CONTEXT_LABELS[] = {"name", NULL};
static const char *const SECRET_LABELS[] = {
    "client secret", "passphrase", "password", "passwd", "pwd", "secret", "token", "api key", NULL};
static const char *const CLINICAL_DIRS[] = {
    "patient records", "medical records", "patients", "patient", "ehr", "emr", "medical", "charts", NULL};
static const char *const HOSTNAME_PREFIXES[] = {"patient", "pt", "room", "rm", "bed", "ward", "exam", NULL};
static const char *const AUTH_WORDS[] = {"authorization", NULL};
static const char *const SECURESTRING_WORDS[] = {"convertto-securestring", NULL};
static const char *const SECRET_CMD_WORDS[] = {"sshpass", "net use", "password", NULL};
static const char *const PO_BOX_WORDS[] = {"po box", "po.", "p.o", "p. o", "p o", NULL};
static const char *const TITLE_WORDS[] = {"miss", "mrs", "mr", "ms", "mx", "dr", NULL};

#endif
