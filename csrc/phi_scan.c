/*
 * Native PHI scanner: one left-to-right pass over UTF-8 bytes that finds the same spans as
 * the reference scanner (src/agent/phi/reference.py), byte for byte.
 *
 * Semantics (see reference.py): at each position the rules are tried in table order; the first
 * that matches and passes its checks wins, its spans are kept and the scan resumes where its
 * match ends; otherwise the scan moves on by one byte. Every rule mirrors one regular
 * expression of the reference, including what that expression does when it backtracks.
 *
 * Safety: every read goes through at(), which returns -1 outside the text; no global mutable
 * state (the per-call context lives on the caller's stack); no allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_internal.h"
#include "phi_tables.h"

/* The window filter uses SSE2 (every x86-64) unless PHI_SCALAR is defined, which builds the
 * portable byte-by-byte filter only (what other CPUs run; the tests build and check both). */
#if defined(__SSE2__) && !defined(PHI_SCALAR)
#define PHI_SSE2 1
#include <emmintrin.h>
#else
#define PHI_SSE2 0
#endif

#define MAX_HITS 32
#define EMAIL_LOCAL_MAX 64  /* longest local part (RFC 5321) */
#define SCHEME_MAX 32       /* longest URL scheme considered */


typedef struct {
    const unsigned char *s;
    size_t n;
    size_t ctx;      /* first patient word (NAME context), NOPE if none */
    int ctx_known;
    size_t next_at;  /* cache: first '@' at or after next_at_from, NOPE if none */
    size_t next_at_from;
    size_t next_url; /* cache: first "://" at or after next_url_from, NOPE if none */
    size_t next_url_from;
    size_t msh_upto; /* cache: MSH segments looked for before msh_upto, the last at msh_last */
    size_t msh_last;
    const struct dispatch *d;  /* for the scan of decoded base64 */
    int depth;                 /* 1 inside decoded base64 */
} text_t;

typedef struct {
    phi_span spans[MAX_HITS];
    size_t count;
    size_t end;      /* where scanning resumes */
} hit_t;

/* ------------------------------------------------------------------ character classes */

static inline int at(const text_t *t, size_t i) { return i < t->n ? (int)t->s[i] : -1; }
static inline int before(const text_t *t, size_t i) { return (i > 0 && i <= t->n) ? (int)t->s[i - 1] : -1; }
static inline int is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static inline int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static inline int is_alpha(int c) { return is_upper(c) || is_lower(c); }
static inline int is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static inline int lower(int c) { return is_upper(c) ? c + 32 : c; }
static inline int is_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int is_sepch(int c) { return is_space(c) || c == '"' || c == '#' || c == '\'' || c == '-' || c == ':' || c == '='; }
static int is_sepch_fn(int c) { return is_sepch(c); }
static inline int is_local(int c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
static inline int is_scheme(int c) { return is_alnum(c) || c == '+' || c == '.' || c == '-'; }
static inline int is_pathsep(int c) { return c == '/' || c == '\\'; }
static inline int is_host(int c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; }
static inline int in_set(int c, const char *set)
{
    for (; *set; set++)
        if ((unsigned char)*set == c) return 1;
    return 0;
}

static inline int al(const text_t *t, size_t i) { return !is_alnum(before(t, i)); }
static inline int ar(const text_t *t, size_t i) { return !is_alnum(at(t, i)); }
static inline int nl(const text_t *t, size_t i)
{
    if (!al(t, i)) return 0;
    int c = before(t, i);
    return !(i >= 2 && (c == '.' || c == '-') && is_digit(t->s[i - 2]));
}
static inline int nr(const text_t *t, size_t i)
{
    int c = at(t, i);
    if (is_alnum(c)) return 0;
    return !((c == '.' || c == '-') && is_digit(at(t, i + 1)));
}
static size_t run(const text_t *t, size_t i, int (*cls)(int))
{
    while (i < t->n && cls(t->s[i])) i++;
    return i;
}
static size_t skip_set(const text_t *t, size_t i, const char *set)
{
    while (i < t->n && in_set(t->s[i], set)) i++;
    return i;
}
static inline size_t digits_at(const text_t *t, size_t i) { return run(t, i, is_digit) - i; }
/* Exactly k digits at i (more may follow). */
static inline int k_digits(const text_t *t, size_t i, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (!is_digit(at(t, i + j))) return 0;
    return 1;
}

/* ------------------------------------------------------------------------- labels */

/* Case-insensitive literal; ' ' in the label is an optional joiner (space, '_' or '-'). */
static size_t label_chars(const text_t *t, size_t i, const char *label)
{
    for (const char *l = label; *l; l++) {
        if (*l == ' ') {
            int c = at(t, i);
            if (c == ' ' || c == '_' || c == '-') i++;
        } else {
            if (lower(at(t, i)) != *l) return NOPE;
            i++;
        }
    }
    return i;
}

/* A label: its characters, then no letter or digit if it ends with one. */
static size_t label_at(const text_t *t, size_t i, const char *label)
{
    size_t j = label_chars(t, i, label);
    if (j == NOPE) return NOPE;
    size_t n = strlen(label);
    if (is_alnum((unsigned char)label[n - 1]) && !ar(t, j)) return NOPE;
    return j;
}

static size_t first_label(const text_t *t, size_t i, const char *const *labels)
{
    int c0 = lower(at(t, i)), c1 = lower(at(t, i + 1));
    for (; *labels; labels++) {
        const char *l = *labels;
        if (l[0] != c0 || (l[1] != ' ' && l[1] != c1)) continue;
        size_t j = label_at(t, i, l);
        if (j != NOPE) return j;
    }
    return NOPE;
}

static const char *const LABEL_WORDS[] = {"is", "number", "no", NULL};

/* Separators between a label and its value, with one optional word (reference LSEP). */
static size_t label_sep(const text_t *t, size_t i)
{
    i = run(t, i, is_sepch_fn);
    for (const char *const *w = LABEL_WORDS; *w; w++) {
        size_t j = label_at(t, i, *w);
        if (j != NOPE) {
            if (at(t, j) == '.') j++;
            return run(t, j, is_sepch_fn);
        }
    }
    return i;
}

/* ------------------------------------------------------------------------- tables */

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
static const char *const CONTEXT_WORDS[] = {"patient", "pt", NULL};
static const char *const TITLES[] = {"Miss", "Mrs", "Mr", "Ms", "Mx", "Dr", NULL};
static const char *const SECRET_LABELS[] = {
    "client secret", "passphrase", "password", "passwd", "pwd", "secret", "token", "api key", NULL};
static const char *const AUTH_SCHEMES[] = {"bearer", "basic", NULL};
static const char *const CC_EXCEPTION_LABELS[] = {"serial", "s/n", "sn", "thumbprint", "id", NULL};
static const char *const CLINICAL_DIRS[] = {
    "patient records", "medical records", "patients", "patient", "ehr", "emr", "medical", "charts", NULL};
static const char *const HOSTNAME_PREFIXES[] = {"patient", "pt", "room", "rm", "bed", "ward", "exam", NULL};
static const char *const STREET_SUFFIXES[] = {
    "street", "st", "avenue", "ave", "road", "rd", "drive", "dr", "lane", "ln", "boulevard",
    "blvd", "court", "ct", "way", "place", "pl", "circle", "cir", "parkway", "pkwy", "highway",
    "hwy", "terrace", "ter", "trail", "trl", NULL};
static const char *const UNIT_WORDS[] = {"apartment", "apt", "suite", "ste", "unit", NULL};
static const char *const US_STATES[] = {
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA",
    "ID", "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT",
    "NC", "ND", "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC",
    "SD", "TN", "TX", "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY", NULL};
static const char *const AMBIGUOUS_STATES[] = {
    "AS", "CT", "DE", "HI", "ID", "IN", "MD", "ME", "OK", "OR", "PR", NULL};
static const char *const MONTHS[] = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec", NULL};

static const struct { const char *low, *high; } CARD_PREFIXES[] = {
    {"4", "4"}, {"51", "55"}, {"2221", "2720"}, {"34", "34"}, {"37", "37"}, {"6011", "6011"},
    {"644", "649"}, {"65", "65"}, {"35", "35"}, {"36", "36"}, {"38", "38"}};

/* ------------------------------------------------------------------------- helpers */

static inline int one(hit_t *h, unsigned tag, size_t start, size_t end, size_t resume)
{
    h->spans[0].tag = tag;
    h->spans[0].start = start;
    h->spans[0].end = end;
    h->count = 1;
    h->end = resume;
    return 1;
}

static int case_word_at(const text_t *t, size_t i, const char *w)
{
    for (; *w; w++, i++)
        if (at(t, i) != *w) return 0;
    return 1;
}

static size_t count_digits(const text_t *t, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++) n += (size_t)is_digit(t->s[i]);
    return n;
}

/* Secret value (reference _SECRET_VALUE): quoted up to the quote or line end, or bare. */
static int secret_value(const text_t *t, size_t j, hit_t *h)
{
    int c = at(t, j);
    if (c == '"' || c == '\'') {
        size_t k = j + 1;
        while (k < t->n && t->s[k] != c && t->s[k] != '\r' && t->s[k] != '\n') k++;
        if (k == j + 1) return 0;
        return one(h, T_SECRET, j + 1, k, k);
    }
    if (c < 0 || is_space(c) || in_set(c, "\"'(),;&")) return 0;
    size_t k = j + 1;
    while (k < t->n && !is_space(t->s[k]) && !in_set(t->s[k], "\"',;&")) k++;
    return one(h, T_SECRET, j, k, k);
}

/* -------------------------------------------------------------------------- rules */

struct dispatch;
static size_t scan_at_depth(const struct dispatch *d, const unsigned char *s, size_t n, size_t from,
                            size_t stop, phi_span *out, size_t cap, size_t *next, int depth);

static inline int is_b64(int c) { return is_alnum(c) || c == '+' || c == '/'; }

/* A base64 run can start at p (reference Base64Rule): not after a base64 character, and
 * at least B64_MIN base64 characters. */
static inline int b64_start(const text_t *t, size_t p)
{
    if (is_b64(before(t, p))) return 0;
    for (size_t i = 0; i < B64_MIN; i++)
        if (!is_b64(at(t, p + i))) return 0;
    return 1;
}

static int b64_value(int c)
{
    if (is_upper(c)) return c - 'A';
    if (is_lower(c)) return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

/* A base64 run that decodes to printable ASCII holding PHI: the whole run, the first span's tag. */
static int r_base64(text_t *t, size_t p, hit_t *h)
{
    if (t->depth || !b64_start(t, p)) return 0;
    size_t e = run(t, p, is_b64), pad = 0;
    while (pad < 2 && at(t, e + pad) == '=') pad++;
    size_t end = e + pad, size = end - p;
    if (size > B64_MAX || size % 4 || is_b64(at(t, end)) || at(t, end) == '=') return 0;
    unsigned char raw[B64_MAX / 4 * 3];
    size_t nr = 0;
    for (size_t i = p; i < end; i += 4) {
        uint32_t v = 0;
        int k = 0;
        for (; k < 4 && t->s[i + k] != '='; k++) v |= (uint32_t)b64_value(t->s[i + k]) << (18 - 6 * k);
        for (int j = 0; j < k - 1; j++) {
            unsigned char c = (unsigned char)(v >> (16 - 8 * j));
            if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r')) return 0;
            raw[nr++] = c;
        }
    }
    if (nr == 0) return 0;
    phi_span inner[MAX_HITS];
    size_t next;
    if (scan_at_depth(t->d, raw, nr, 0, nr, inner, MAX_HITS, &next, 1) == 0) return 0;
    return one(h, (unsigned)inner[0].tag, p, end, end);
}

static size_t pem_marker(const text_t *t, size_t i, const char *head)
{
    if (!case_word_at(t, i, head)) return NOPE;
    size_t a = i + strlen(head), b = a;
    while (b < t->n && (t->s[b] == ' ' || is_upper(t->s[b]) || is_digit(t->s[b]))) b++;
    static const char *const tails[] = {"PRIVATE KEY BLOCK", "PRIVATE KEY", NULL};
    for (const char *const *tail = tails; *tail; tail++) {
        size_t L = strlen(*tail);
        if (b - a >= L && memcmp(t->s + b - L, *tail, L) == 0 && case_word_at(t, b, "-----"))
            return b + 5;
    }
    return NOPE;
}

static int r_pem(text_t *t, size_t p, hit_t *h)
{
    size_t e = pem_marker(t, p, "-----BEGIN");
    if (e == NOPE) return 0;
    size_t end = t->n;
    for (size_t q = e; q + 8 <= t->n; q++) {
        if (t->s[q] == '-') {
            size_t f = pem_marker(t, q, "-----END");
            if (f != NOPE) { end = f; break; }
        }
    }
    return one(h, T_SECRET, p, end, end);
}

static int r_url_userinfo(text_t *t, size_t p, hit_t *h)
{
    if (!is_alpha(at(t, p)) || is_scheme(before(t, p))) return 0;
    if (t->next_url == NOPE || t->next_url < p) {
        if (t->next_url_from <= p && t->next_url == NOPE && t->next_url_from != NOPE) return 0;
        size_t q = p;
        for (;;) {
            const unsigned char *c = q < t->n ? memchr(t->s + q, ':', t->n - q) : NULL;
            if (c == NULL) { q = NOPE; break; }
            q = (size_t)(c - t->s);
            if (at(t, q + 1) == '/' && at(t, q + 2) == '/') break;
            q++;
        }
        t->next_url_from = p;
        t->next_url = q;
        if (q == NOPE) return 0;
    }
    if (t->next_url - p > SCHEME_MAX) return 0;
    size_t j = run(t, p, is_scheme);
    if (!case_word_at(t, j, "://")) return 0;
    j += 3;
    while (j < t->n && !is_space(t->s[j]) && !in_set(t->s[j], "/:@")) j++;
    if (at(t, j) != ':') return 0;
    size_t v = ++j;
    while (j < t->n && !is_space(t->s[j]) && !in_set(t->s[j], "/@")) j++;
    if (j == v || at(t, j) != '@') return 0;
    return one(h, T_SECRET, v, j, j + 1);
}

static int is_token68(int c) { return is_alnum(c) || in_set(c, "._~+/=-"); }

static int r_authorization(text_t *t, size_t p, hit_t *h)
{
    size_t j = label_chars(t, p, "authorization");
    if (j == NOPE) return 0;
    if (at(t, j) == '"' || at(t, j) == '\'') j++;
    j = skip_set(t, j, " \t");
    if (at(t, j) != ':' && at(t, j) != '=') return 0;
    j = skip_set(t, j + 1, " \t");
    if (at(t, j) == '"' || at(t, j) == '\'') j++;
    size_t k = NOPE;
    for (const char *const *s = AUTH_SCHEMES; *s && k == NOPE; s++) k = label_chars(t, j, *s);
    if (k == NOPE || (at(t, k) != ' ' && at(t, k) != '\t')) return 0;
    k = skip_set(t, k, " \t");
    size_t e = run(t, k, is_token68);
    if (e == k) return 0;
    return one(h, T_SECRET, k, e, e);
}

static int r_ps_password(text_t *t, size_t p, hit_t *h)
{
    if (at(t, p) != '-' || !al(t, p)) return 0;
    size_t j = label_at(t, p + 1, "password");
    if (j == NOPE || (at(t, j) != ' ' && at(t, j) != '\t')) return 0;
    return secret_value(t, skip_set(t, j, " \t"), h);
}

static int r_ps_securestring(text_t *t, size_t p, hit_t *h)
{
    size_t j = label_chars(t, p, "convertto-securestring");
    if (j == NOPE) return 0;
    /* Optional " -String", tried first; without it if the rest then fails. */
    size_t k = skip_set(t, j, " \t");
    if (k > j) {
        size_t m = label_chars(t, k, "-string");
        if (m != NOPE && (at(t, m) == ' ' || at(t, m) == '\t')
            && secret_value(t, skip_set(t, m, " \t"), h))
            return 1;
        return secret_value(t, k, h);
    }
    return 0;
}

static int r_secret_kv(text_t *t, size_t p, hit_t *h)
{
    size_t j = NOPE;
    int c0 = lower(at(t, p)), c1 = lower(at(t, p + 1));
    for (const char *const *l = SECRET_LABELS; *l && j == NOPE; l++)
        if ((*l)[0] == c0 && (*l)[1] == c1) j = label_chars(t, p, *l);
    if (j == NOPE) return 0;
    if (at(t, j) == '"' || at(t, j) == '\'') j++;
    j = skip_set(t, j, " \t");
    if (at(t, j) != '=' && at(t, j) != ':') return 0;
    return secret_value(t, skip_set(t, j + 1, " \t"), h);
}

/* Passwords in commands and prose (reference SecretCmdRule): sshpass -p VALUE; net use ...
 * /user:NAME VALUE on the same line; password VALUE where the value holds a digit or a symbol. */
static int r_secret_cmd(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p)) return 0;
    size_t j;
    if ((j = label_at(t, p, "sshpass")) != NOPE) {
        size_t k = skip_set(t, j, " \t");
        if (k == j || at(t, k) != '-' || at(t, k + 1) != 'p') return 0;
        return secret_value(t, skip_set(t, k + 2, " \t"), h);
    }
    if ((j = label_at(t, p, "net use")) != NOPE) {
        for (size_t u = j; u < t->n && t->s[u] != '\r' && t->s[u] != '\n'; u++) {
            if (t->s[u] != '/') continue;
            size_t k = label_chars(t, u + 1, "user");
            if (k == NOPE || at(t, k) != ':') k = label_chars(t, u + 1, "u");
            if (k == NOPE || at(t, k) != ':') continue;
            size_t e = k + 1;
            while (e < t->n && !is_space(t->s[e])) e++;
            size_t v = skip_set(t, e, " \t");
            if (e == k + 1 || v == e || at(t, v) == '/' || at(t, v) == '*') return 0;
            return secret_value(t, v, h);
        }
        return 0;
    }
    if ((j = label_at(t, p, "password")) == NOPE) return 0;
    size_t k = skip_set(t, j, " \t");
    if (k == j) return 0;
    size_t w = label_at(t, k, "is");
    if (w != NOPE && (at(t, w) == ' ' || at(t, w) == '\t')) k = skip_set(t, w, " \t");
    size_t e = k;
    int symbol = 0;
    while (e < t->n && !is_space(t->s[e]) && !in_set(t->s[e], "\"'(),;&")) {
        symbol |= in_set(t->s[e], "0123456789!@#$%^*?~+");
        e++;
    }
    if (e - k < 4 || !symbol) return 0;
    return one(h, T_SECRET, k, e, e);
}

/* A quoted key of PHI_KEYS and its value (reference JsonKeyRule): {"ssn":"123456789"}. */
static int is_key_ch(int c) { return is_alnum(c) || c == '_' || c == ' ' || c == '-'; }

static int json_literal(const unsigned char *v, size_t n)
{
    return (n == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "true", 4) == 0)) ||
           (n == 5 && memcmp(v, "false", 5) == 0);
}

static int r_json_key(text_t *t, size_t quote, hit_t *h)
{
    int q = at(t, quote);
    if (q != '"' && q != '\'') return 0;
    size_t p = quote + 1, e = p;
    while (e < t->n && e - p < 64 && is_key_ch(t->s[e])) e++;
    if (e == p || at(t, e) != q) return 0;
    size_t k = skip_set(t, e + 1, " \t");
    if (at(t, k) != ':') return 0;
    int tag = -1;
    for (size_t w = 0; PHI_KEYS[w].key && tag < 0; w++)
        if (PHI_KEYS[w].key[0] == lower(t->s[p]) && label_chars(t, p, PHI_KEYS[w].key) == e) tag = PHI_KEYS[w].tag;
    if (tag < 0) return 0;
    k = skip_set(t, k + 1, " \t");
    int c = at(t, k);
    size_t a = k, b = k, end;
    if (c == '"' || c == '\'') {
        a = b = k + 1;
        for (;;) {
            int x = at(t, b);
            if (x == c) break;
            if (x < 0 || x == '\r' || x == '\n') return 0;
            if (x == '\\') {
                if (b + 1 >= t->n || t->s[b + 1] == '\n') return 0;
                b += 2;
            } else {
                b++;
            }
        }
        end = b + 1;
    } else {
        while (b < t->n && !is_space(t->s[b]) && !in_set(t->s[b], ",;}]\"'{[")) b++;
        end = b;
    }
    if (b == a || json_literal(t->s + a, b - a)) return 0;
    return one(h, (unsigned)tag, a, b, end);
}

_Static_assert(HL7_MAX_SPANS <= MAX_HITS, "an HL7 segment's spans fit in one hit");

static int is_hl7_sep(int c) { return c >= '!' && c <= '~' && !is_alnum(c); }

/* A segment can start at i: at a boundary, or after the literal \r or \n of a logged message. */
static int hl7_seg_start(const text_t *t, size_t i)
{
    return al(t, i) || (i >= 2 && t->s[i - 2] == '\\' && (t->s[i - 1] == 'r' || t->s[i - 1] == 'n'));
}

/* Separators of the segment at seg (reference hl7_separators): MSH-1 and MSH-2 of the last MSH
 * segment before it, else | ^ ~. */
static void hl7_separators(text_t *t, size_t seg, int *fs, int *comp, int *rep)
{
    if (seg < t->msh_upto) {
        t->msh_upto = 0;
        t->msh_last = NOPE;
    }
    /* each "MSH" at i in [msh_upto, seg - 3), found by its 'M' (memchr for both cases) */
    for (size_t i = t->msh_upto; i + 3 < seg;) {
        const unsigned char *a = memchr(t->s + i, 'm', seg - 3 - i);
        const unsigned char *b = memchr(t->s + i, 'M', (a ? (size_t)(a - t->s) : seg - 3) - i);
        if (a == NULL && b == NULL) break;
        size_t m = (size_t)((b != NULL ? b : a) - t->s);
        if (lower(t->s[m + 1]) == 's' && lower(t->s[m + 2]) == 'h' && is_hl7_sep(t->s[m + 3]) &&
            hl7_seg_start(t, m))
            t->msh_last = m;
        i = m + 1;
    }
    if (seg >= 3 && seg - 3 > t->msh_upto) t->msh_upto = seg - 3;
    *fs = '|';
    *comp = '^';
    *rep = '~';
    if (t->msh_last == NOPE) return;
    size_t m = t->msh_last;
    *fs = t->s[m + 3];
    int c = at(t, m + 4), r = at(t, m + 5);
    if (!is_hl7_sep(c) || c == *fs) return;
    *comp = c;
    if (is_hl7_sep(r) && r != *fs && r != c) *rep = r;
}

static void hl7_add(hit_t *h, unsigned tag, size_t a, size_t b)
{
    if (b <= a || h->count >= HL7_MAX_SPANS) return;
    h->spans[h->count].tag = tag;
    h->spans[h->count].start = a;
    h->spans[h->count].end = b;
    h->count++;
}

static size_t find_ch(const text_t *t, int c, size_t a, size_t b)
{
    const unsigned char *q = a < b ? memchr(t->s + a, c, b - a) : NULL;
    return q ? (size_t)(q - t->s) : b;
}

/* An HL7 segment of HL7_SEGMENT_NAMES (reference HL7Rule): its PHI fields become spans. */
static int r_hl7(text_t *t, size_t p, hit_t *h)
{
    size_t seg;
    if (at(t, p) == '\\' && (at(t, p + 1) == 'r' || at(t, p + 1) == 'n')) seg = p + 2;
    else if (al(t, p)) seg = p;
    else return 0;
    int k = -1;
    for (int i = 0; HL7_SEGMENT_NAMES[i] && k < 0; i++)
        if (label_chars(t, seg, HL7_SEGMENT_NAMES[i]) == seg + 3) k = i;
    if (k < 0) return 0;
    int fs, comp, rep;
    hl7_separators(t, seg, &fs, &comp, &rep);
    if (at(t, seg + 3) != fs) return 0;
    size_t seg_end = seg + 4;
    while (seg_end < t->n && t->s[seg_end] != '\r' && t->s[seg_end] != '\n' &&
           !(t->s[seg_end] == '\\' && seg_end + 1 < t->n && (t->s[seg_end + 1] == 'r' || t->s[seg_end + 1] == 'n')))
        seg_end++;
    h->count = 0;
    size_t start = seg + 4;
    for (unsigned field = 1; field <= HL7_LAST_FIELD && h->count < HL7_MAX_SPANS; field++) {
        size_t end = find_ch(t, fs, start, seg_end);
        for (size_t f = 0; f < sizeof HL7_FIELDS / sizeof HL7_FIELDS[0]; f++) {
            if (HL7_FIELDS[f].seg != k || HL7_FIELDS[f].field != field) continue;
            if (HL7_FIELDS[f].whole) {
                hl7_add(h, HL7_FIELDS[f].tag, start, end);
                continue;
            }
            for (size_t r = start;;) {  /* the first component of each repetition */
                size_t r_end = find_ch(t, rep, r, end);
                hl7_add(h, HL7_FIELDS[f].tag, r, find_ch(t, comp, r, r_end));
                if (r_end >= end) break;
                r = r_end + 1;
            }
        }
        if (end >= seg_end) break;
        start = end + 1;
    }
    if (h->count == 0) return 0;
    h->end = h->spans[h->count - 1].end;
    return 1;
}

static int is_path_ch(int c) { return c >= 0 && !is_space(c) && !in_set(c, "/\\\":|<>*?"); }

static int is_id_ch(int c) { return is_alnum(c) || c == '-'; }

/* FHIR: Patient/123456 outside a path (reference fhir, the rule after path). */
static int fhir(text_t *t, size_t p, hit_t *h)
{
    int b = before(t, p);
    if (is_alnum(b) || is_pathsep(b) || label_chars(t, p, "patient") != p + 7 || at(t, p + 7) != '/') return 0;
    size_t a = p + 8, e = a;
    while (e < t->n && e - a < 64 && is_id_ch(t->s[e])) e++;
    if (e == a || !ar(t, e) || count_digits(t, a, e) == 0) return 0;
    return one(h, T_PATIENT_ID, a, e, e);
}

static int r_path(text_t *t, size_t p, hit_t *h)
{
    if (!is_pathsep(before(t, p))) return fhir(t, p, h);
    size_t j = NOPE;
    for (const char *const *d = CLINICAL_DIRS; *d; d++) {
        size_t k = label_chars(t, p, *d);
        if (k != NOPE && is_pathsep(at(t, k))) { j = k; break; }
    }
    if (j == NOPE) return fhir(t, p, h);
    j = run(t, j, is_pathsep);
    size_t first = run(t, j, is_path_ch);
    if (first == j) return 0;
    size_t e = first;
    while (at(t, e) == ' ' && is_path_ch(at(t, e + 1))) e = run(t, e + 1, is_path_ch);
    if (!is_pathsep(at(t, e))) e = first;
    return one(h, T_PATH, j, e, e);
}

/* --- labelled rules: label, separators, value -------------------------------------- */

typedef size_t (*value_fn)(text_t *t, size_t j, size_t p);  /* value end, or NOPE */

static int labelled(text_t *t, size_t p, hit_t *h, const char *const *labels, unsigned tag, value_fn value)
{
    if (!al(t, p)) return 0;
    size_t j = first_label(t, p, labels);
    if (j == NOPE) return 0;
    j = label_sep(t, j);
    size_t e = value(t, j, p);
    if (e == NOPE) return 0;
    return one(h, tag, j, e, e);
}

static int ssn_ok(const text_t *t, size_t a, size_t b, int strict)
{
    char d[9];
    size_t n = 0;
    for (size_t i = a; i < b && n < 9; i++)
        if (is_digit(t->s[i])) d[n++] = (char)t->s[i];
    if (n != 9) return 0;
    if (memcmp(d, "000", 3) == 0 || memcmp(d + 3, "00", 2) == 0 || memcmp(d + 5, "0000", 4) == 0) return 0;
    if (strict && (memcmp(d, "666", 3) == 0 || d[0] == '9')) return 0;
    return 1;
}

/* The separator of an SSN at k (reference (?P<s>[ ]-[ ]|[- .]), optional when labelled): its
 * length, or NOPE. */
static size_t ssn_sep(const text_t *t, size_t k, int optional)
{
    if (at(t, k) == ' ' && at(t, k + 1) == '-' && at(t, k + 2) == ' ') return 3;
    if (in_set(at(t, k), "- .")) return 1;
    return optional ? 0 : NOPE;
}

/* The rest of an SSN after its first three digits at k: separator, 2 digits, the same separator,
 * 4 digits, a numeric right boundary; its end or NOPE. */
static size_t ssn_body(const text_t *t, size_t k, int optional)
{
    size_t sl = ssn_sep(t, k, optional);
    if (sl == NOPE || !k_digits(t, k + sl, 2)) return NOPE;
    size_t q = k + sl + 2;
    for (size_t i = 0; i < sl; i++)
        if (at(t, q + i) != t->s[k + i]) return NOPE;
    q += sl;
    if (!k_digits(t, q, 4) || !nr(t, q + 4)) return NOPE;
    return q + 4;
}

static size_t v_ssn_labelled(text_t *t, size_t j, size_t p)
{
    (void)p;
    if (!k_digits(t, j, 3)) return NOPE;
    size_t e = ssn_body(t, j + 3, 1);
    return (e != NOPE && ssn_ok(t, j, e, 0)) ? e : NOPE;
}

static size_t v_mrn(text_t *t, size_t j, size_t p)
{
    (void)p;
    size_t e = run(t, j, is_alnum);
    size_t len = e - j, d = count_digits(t, j, e);
    if (len == 0) return NOPE;
    if (d == len) return (d >= 4 && d <= 12) ? e : NOPE;
    return (d >= 4 && len <= 20) ? e : NOPE;
}

static size_t v_patient_id(text_t *t, size_t j, size_t p)
{
    (void)p;
    size_t e = run(t, j, is_id_ch);
    size_t len = e - j;
    return (len >= 3 && len <= 20 && count_digits(t, j, e) > 0) ? e : NOPE;
}

static size_t v_insurance(text_t *t, size_t j, size_t p)
{
    (void)p;
    size_t e = run(t, j, is_id_ch);
    size_t len = e - j;
    if (len < 4 || len > 20) return NOPE;
    if (count_digits(t, j, e) > 0) return e;
    for (size_t i = j; i < e; i++)
        if (is_lower(t->s[i])) return NOPE;
    return e;
}

static size_t v_account(text_t *t, size_t j, size_t p)
{
    (void)p;
    size_t e = run(t, j, is_digit);
    if (e == j) return NOPE;
    while (at(t, e) == '-' && is_digit(at(t, e + 1))) e = run(t, e + 1, is_digit);
    if (!ar(t, e)) return NOPE;
    return count_digits(t, j, e) >= 4 ? e : NOPE;
}

static size_t month_at(const text_t *t, size_t i)
{
    for (const char *const *m = MONTHS; *m; m++) {
        size_t j = label_chars(t, i, *m);
        if (j != NOPE && ar(t, j)) return j;
    }
    return NOPE;
}

static size_t day_suffix(const text_t *t, size_t i)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th", NULL};
    for (const char *const *s = sfx; *s; s++)
        if (case_word_at(t, i, *s)) return i + 2;
    return i;
}

/* Day and year of "Jan 5, 1980": from the day digits to the end, or NOPE. */
static size_t date_md_y(const text_t *t, size_t k)
{
    size_t dd = digits_at(t, k);
    if (dd < 1 || dd > 2) return NOPE;
    size_t q = k + dd, s = day_suffix(t, q);
    /* the suffix is optional: with it first, then without */
    for (int pass = 0; pass < 2; pass++) {
        size_t r = pass == 0 ? s : q;
        if (pass == 1 && s == q) break;
        size_t y;
        if (at(t, r) == ',') y = skip_set(t, r + 1, " ");
        else if (at(t, r) == ' ') y = skip_set(t, r, " ");
        else continue;
        if (k_digits(t, y, 4) && nr(t, y + 4)) return y + 4;
    }
    return NOPE;
}

/* "March, 1980" of "5 March, 1980" at m0: its end, or NOPE. */
static size_t month_year(const text_t *t, size_t m0)
{
    size_t k = month_at(t, m0);
    if (k == NOPE) return NOPE;
    if (at(t, k) == '.') k++;
    if (at(t, k) == ',') k++;
    size_t y = skip_set(t, k, " ");
    if (y == k) return NOPE;
    return (k_digits(t, y, 4) && nr(t, y + 4)) ? y + 4 : NOPE;
}

static size_t v_date(text_t *t, size_t j, size_t p)
{
    (void)p;
    int c = at(t, j);
    if (is_alpha(c)) {                                   /* Jan 5, 1980 */
        size_t k = month_at(t, j);
        if (k == NOPE) return NOPE;
        if (at(t, k) == '.') k++;
        size_t s = skip_set(t, k, " ");
        if (s == k) return NOPE;
        return date_md_y(t, s);
    }
    size_t d1 = digits_at(t, j);
    int sep = at(t, j + d1);
    if (d1 == 4 && (sep == '-' || sep == '/' || sep == '.')) {        /* yyyy-mm-dd */
        size_t k = j + 5, d2 = digits_at(t, k);
        if (d2 < 1 || d2 > 2 || at(t, k + d2) != sep) return NOPE;
        k += d2 + 1;
        size_t d3 = digits_at(t, k);
        return (d3 >= 1 && d3 <= 2 && nr(t, k + d3)) ? k + d3 : NOPE;
    }
    if ((d1 == 1 || d1 == 2) && (sep == '-' || sep == '/' || sep == '.')) {   /* m/d/yy */
        size_t k = j + d1 + 1, d2 = digits_at(t, k);
        if (d2 >= 1 && d2 <= 2 && at(t, k + d2) == sep) {
            k += d2 + 1;
            size_t d3 = digits_at(t, k);
            return ((d3 == 4 || d3 == 2) && nr(t, k + d3)) ? k + d3 : NOPE;
        }
        if (sep == '.') return NOPE;
        k = month_at(t, j + d1 + 1);                                  /* 3-Mar-1980 */
        if (k == NOPE || at(t, k) != sep) return NOPE;
        size_t d3 = digits_at(t, k + 1);
        return ((d3 == 4 || d3 == 2) && nr(t, k + 1 + d3)) ? k + 1 + d3 : NOPE;
    }
    if (d1 == 8) return nr(t, j + 8) ? j + 8 : NOPE;      /* yyyymmdd */
    if (d1 == 1 || d1 == 2) {                            /* 5 January 1980, 3rd of March 1980 */
        size_t q = j + d1, s = day_suffix(t, q);
        for (int of = 0; of < 2; of++) {
            for (int pass = 0; pass < 2; pass++) {
                size_t r = pass == 0 ? s : q;
                if (pass == 1 && s == q) break;
                size_t m0 = skip_set(t, r, " ");
                if (m0 == r) continue;
                if (of) {
                    if (lower(at(t, m0)) != 'o' || lower(at(t, m0 + 1)) != 'f') continue;
                    size_t m1 = skip_set(t, m0 + 2, " ");
                    if (m1 == m0 + 2) continue;
                    m0 = m1;
                }
                size_t y = month_year(t, m0);
                if (y != NOPE) return y;
            }
        }
    }
    return NOPE;
}

static size_t v_phone_bare(text_t *t, size_t j, size_t p)
{
    (void)p;
    size_t k = j;
    if (at(t, k) == '+') {
        if (at(t, k + 1) != '1') return NOPE;
        size_t d = digits_at(t, k + 1);
        return (d == 11 && nr(t, k + 1 + d)) ? k + 1 + d : NOPE;
    }
    size_t d = digits_at(t, k);
    if ((d == 10 || (d == 11 && at(t, k) == '1')) && nr(t, k + d)) return k + d;
    return NOPE;
}

/* A NANP-shaped number with separators, any digits (labelled: the label says it is a phone):
 * (ddd) ddd-dddd or ddd-ddd-dddd, separators any of "-. ". Its end or NOPE. */
static size_t nanp_any(const text_t *t, size_t q)
{
    size_t k;
    if (at(t, q) == '(') {
        if (!k_digits(t, q + 1, 3) || at(t, q + 4) != ')') return NOPE;
        k = q + 5;
        if (at(t, k) == ' ') k++;
    } else {
        if (!k_digits(t, q, 3) || !in_set(at(t, q + 3), "-. ")) return NOPE;
        k = q + 4;
    }
    if (!k_digits(t, k, 3) || !in_set(at(t, k + 3), "-. ") || !k_digits(t, k + 4, 4) || !nr(t, k + 8))
        return NOPE;
    return k + 8;
}

static size_t v_phone_labelled(text_t *t, size_t j, size_t p)
{
    size_t e = v_phone_bare(t, j, p);
    if (e != NOPE) return e;
    if (at(t, j) == '+' && at(t, j + 1) == '1' && in_set(at(t, j + 2), "-. ")) e = nanp_any(t, j + 3);
    else if (at(t, j) == '1' && in_set(at(t, j + 1), "-. ")) e = nanp_any(t, j + 2);
    return e != NOPE ? e : nanp_any(t, j);
}

static size_t v_zip(text_t *t, size_t j, size_t p)
{
    (void)p;
    if (!k_digits(t, j, 5)) return NOPE;
    size_t k = j + 5;
    if (at(t, k) == '-' && k_digits(t, k + 1, 4)) return nr(t, k + 5) ? k + 5 : NOPE;
    return nr(t, k) ? k : NOPE;
}

static int r_ssn_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, SSN_LABELS, T_SSN, v_ssn_labelled); }
static int r_mrn(text_t *t, size_t p, hit_t *h)
{
    if (labelled(t, p, h, MRN_LABELS, T_MRN, v_mrn)) return 1;
    /* MRN12345678: the digits glued to the label */
    if (!al(t, p) || label_chars(t, p, "mrn") == NOPE) return 0;
    size_t d = digits_at(t, p + 3);
    if (d < 4 || d > 12 || !ar(t, p + 3 + d)) return 0;
    return one(h, T_MRN, p + 3, p + 3 + d, p + 3 + d);
}
static int r_patient_id(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, PATIENT_ID_LABELS, T_PATIENT_ID, v_patient_id); }
static int r_account(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, ACCOUNT_LABELS, T_ACCOUNT, v_account); }
static int r_insurance(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, INSURANCE_LABELS, T_INSURANCE, v_insurance); }
static int r_dob(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, DOB_LABELS, T_DOB, v_date); }
static int r_phone_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, PHONE_LABELS, T_PHONE, v_phone_labelled); }
static int r_zip_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, ZIP_LABELS, T_ZIP, v_zip); }

static int r_zip_state(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p) || !is_upper(at(t, p)) || !is_upper(at(t, p + 1)) || at(t, p + 2) != ' ') return 0;
    if (!is_digit(at(t, skip_set(t, p + 2, " ")))) return 0;
    const char *st = NULL;
    for (const char *const *s = US_STATES; *s; s++)
        if (case_word_at(t, p, *s)) { st = *s; break; }
    if (st == NULL || at(t, p + 2) != ' ') return 0;
    size_t j = skip_set(t, p + 2, " ");
    size_t e = v_zip(t, j, p);
    if (e == NOPE) return 0;
    for (const char *const *a = AMBIGUOUS_STATES; *a; a++) {
        if (strcmp(*a, st) == 0) {
            int ok = (p >= 2 && t->s[p - 2] == ',' && t->s[p - 1] == ' ') || (p >= 1 && t->s[p - 1] == ',');
            if (!ok) return 0;
            break;
        }
    }
    return one(h, T_ZIP, j, e, e);
}

static int is_domain_ch(int c) { return is_alnum(c) || c == '-'; }

static int r_email(text_t *t, size_t p, hit_t *h)
{
    if (!is_local(at(t, p)) || is_local(before(t, p))) return 0;
    if (t->next_at == NOPE || t->next_at < p) {
        if (t->next_at_from <= p && t->next_at == NOPE && t->next_at_from != NOPE) return 0;
        const unsigned char *q = memchr(t->s + p, '@', t->n - p);
        t->next_at_from = p;
        t->next_at = q ? (size_t)(q - t->s) : NOPE;
        if (t->next_at == NOPE) return 0;
    }
    if (t->next_at - p > EMAIL_LOCAL_MAX) return 0;
    size_t j = run(t, p, is_local);
    if (at(t, j) != '@') return 0;
    size_t k = run(t, j + 1, is_domain_ch);
    if (k == j + 1) return 0;
    size_t last = NOPE;
    while (at(t, k) == '.' && is_domain_ch(at(t, k + 1))) {
        last = k + 1;
        k = run(t, k + 1, is_domain_ch);
    }
    if (last == NOPE || k - last < 2) return 0;
    for (size_t i = last; i < k; i++)
        if (!is_alpha(t->s[i])) return 0;
    return one(h, T_EMAIL, p, k, k);
}

static int mbi_a(int c) { return is_alpha(c) && !in_set(c, "SLOIBZsloibz"); }
static int mbi_an(int c) { return mbi_a(c) || is_digit(c); }

static int r_medicare(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p)) return 0;
    int c0 = at(t, p);
    if (!(c0 >= '1' && c0 <= '9') || !mbi_a(at(t, p + 1)) || !mbi_an(at(t, p + 2)) || !is_digit(at(t, p + 3)))
        return 0;
    size_t k = p + 4;
    int dash = at(t, k) == '-';
    for (int pass = 0; pass < 2; pass++) {
        int d = pass == 0 ? dash : 0;
        if (pass == 1 && !dash) break;
        size_t q = k + (size_t)d;
        if (!mbi_a(at(t, q)) || !mbi_an(at(t, q + 1)) || !is_digit(at(t, q + 2))) continue;
        q += 3;
        if (d) {
            if (at(t, q) != '-') continue;
            q++;
        }
        if (mbi_a(at(t, q)) && mbi_a(at(t, q + 1)) && is_digit(at(t, q + 2)) && is_digit(at(t, q + 3)) && ar(t, q + 4)) {
            int up = 0, lo = 0;  /* one case (reference _check_one_case) */
            for (size_t i = p; i < q + 4; i++) {
                up |= is_upper(t->s[i]);
                lo |= is_lower(t->s[i]);
            }
            return (up && lo) ? 0 : one(h, T_MEDICARE, p, q + 4, q + 4);
        }
    }
    return 0;
}

static int r_ssn(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p) || !k_digits(t, p, 3)) return 0;
    size_t e = ssn_body(t, p + 3, 0);
    if (e == NOPE || !ssn_ok(t, p, e, 1)) return 0;
    return one(h, T_SSN, p, e, e);
}

static int luhn_ok(const char *d, size_t n)
{
    unsigned total = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(d[n - 1 - i] - '0');
        if (i % 2 == 1) v = v > 4 ? v * 2 - 9 : v * 2;
        total += v;
    }
    return total % 10 == 0;
}

static int card_prefix_ok(const char *d, size_t n)
{
    for (size_t i = 0; i < sizeof CARD_PREFIXES / sizeof CARD_PREFIXES[0]; i++) {
        size_t L = strlen(CARD_PREFIXES[i].low);
        if (L > n) continue;
        if (memcmp(d, CARD_PREFIXES[i].low, L) >= 0 && memcmp(d, CARD_PREFIXES[i].high, L) <= 0) return 1;
    }
    return 0;
}

static size_t skip_seps_back(const text_t *t, size_t j)
{
    while (j > 0 && is_sepch(t->s[j - 1])) j--;
    return j;
}

static int word_before(const text_t *t, size_t j, const char *w)
{
    size_t L = strlen(w);
    if (j < L) return 0;
    size_t i = j - L;
    for (size_t k = 0; k < L; k++)
        if (lower(t->s[i + k]) != w[k]) return 0;
    return i == 0 || !is_alnum(t->s[i - 1]);
}

static int label_before(const text_t *t, size_t start, const char *const *words)
{
    static const char *const optional[] = {"no.", "is", "number", "no", NULL};
    size_t j = skip_seps_back(t, start);
    for (const char *const *w = optional; *w; w++) {
        if (word_before(t, j, *w)) {
            j = skip_seps_back(t, j - strlen(*w));
            break;
        }
    }
    for (; *words; words++)
        if (word_before(t, j, *words)) return 1;
    return 0;
}

static int r_cc(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p)) return 0;
    size_t e = NOPE;
    size_t d0 = digits_at(t, p);
    int g = at(t, p + 4);
    if (d0 == 4 && (g == ' ' || g == '-' || g == '.')) {
        size_t ends[4];
        size_t k = 0, q = p + 4;
        while (k < 4 && at(t, q) == g) {
            size_t d = digits_at(t, q + 1);
            if (d < 3 || d > 6) break;
            q += 1 + d;
            ends[k++] = q;
        }
        for (size_t i = k; i >= 2; i--) {
            if (nr(t, ends[i - 1])) { e = ends[i - 1]; break; }
        }
    } else if (d0 >= 13 && d0 <= 19 && nr(t, p + d0)) {
        e = p + d0;
    }
    if (e == NOPE) return 0;
    char d[20];
    size_t n = 0;
    for (size_t i = p; i < e; i++) {
        if (is_digit(t->s[i])) {
            if (n >= 19) return 0;
            d[n++] = (char)t->s[i];
        }
    }
    if (n < 13 || !card_prefix_ok(d, n) || !luhn_ok(d, n)) return 0;
    if (label_before(t, p, CC_EXCEPTION_LABELS)) return 0;
    return one(h, T_CC, p, e, e);
}

static int d29(int c) { return c >= '2' && c <= '9'; }

static size_t phone_body(const text_t *t, size_t q)
{
    size_t k;
    if (at(t, q) == '(') {
        if (!d29(at(t, q + 1)) || !k_digits(t, q + 2, 2) || at(t, q + 4) != ')') return NOPE;
        k = q + 5;
        if (at(t, k) == ' ' && d29(at(t, k + 1))) k++;
        if (!d29(at(t, k)) || !k_digits(t, k + 1, 2) || !in_set(at(t, k + 3), "-. ")) return NOPE;
        k += 4;
    } else {
        if (!d29(at(t, q)) || !k_digits(t, q + 1, 2)) return NOPE;
        int sep = at(t, q + 3);
        if (!in_set(sep, "-. ")) return NOPE;
        if (!d29(at(t, q + 4)) || !k_digits(t, q + 5, 2) || at(t, q + 7) != sep) return NOPE;
        k = q + 8;
    }
    if (!k_digits(t, k, 4) || !nr(t, k + 4)) return NOPE;
    return k + 4;
}

static int r_phone(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p)) return 0;
    int c = at(t, p);
    size_t e = NOPE;
    if (c == '+') {
        if (at(t, p + 1) != '1') return 0;
        if (in_set(at(t, p + 2), "-. ")) {
            e = phone_body(t, p + 3);
        } else if (d29(at(t, p + 2)) && k_digits(t, p + 3, 2) && d29(at(t, p + 5)) && k_digits(t, p + 6, 6) && nr(t, p + 12)) {
            e = p + 12;
        }
    } else if (c == '1' && in_set(at(t, p + 1), "-. ")) {
        e = phone_body(t, p + 2);
    } else {
        e = phone_body(t, p);
    }
    if (e == NOPE) return 0;
    return one(h, T_PHONE, p, e, e);
}

static int r_zip4(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p) || digits_at(t, p) != 5 || at(t, p + 5) != '-' || !k_digits(t, p + 6, 4) || !nr(t, p + 10))
        return 0;
    return one(h, T_ZIP, p, p + 10, p + 10);
}

/* A street word and the spaces after it (reference _STREET_WORD), or NOPE. */
static size_t street_word(const text_t *t, size_t i)
{
    int c = at(t, i);
    size_t e = NOPE;
    if (is_upper(c)) {
        size_t l = run(t, i + 1, is_lower);
        if (l > i + 1 && at(t, l) == ' ') e = l;
        else {
            size_t u = run(t, i, is_upper);
            if (at(t, u) == ' ') e = u;
            else if (at(t, i + 1) == '.' && at(t, i + 2) == ' ') e = i + 2;  /* N. Main Street */
        }
    } else if (is_digit(c)) {
        size_t d = digits_at(t, i);
        if (d <= 3) {
            size_t s = day_suffix(t, i + d);
            if (s > i + d && at(t, s) == ' ') e = s;
        }
    }
    if (e == NOPE) return NOPE;
    return skip_set(t, e, " ");
}

static size_t unit_at(const text_t *t, size_t j)
{
    size_t k = j;
    if (at(t, k) == ',') k++;
    k = skip_set(t, k, " ");
    if (at(t, k) == '#') {
        k++;
    } else {
        size_t w = NOPE;
        for (const char *const *u = UNIT_WORDS; *u && w == NOPE; u++) {
            size_t m = label_chars(t, k, *u);
            if (m != NOPE && !is_alpha(at(t, m))) w = m;
        }
        if (w == NOPE) return j;
        k = w;
        if (at(t, k) == '.') k++;
        k = skip_set(t, k, " ");
        if (at(t, k) == '#') k++;
    }
    k = skip_set(t, k, " ");
    size_t e = run(t, k, is_alnum);
    return e > k ? e : j;
}

static int r_address(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p)) return 0;
    size_t d = digits_at(t, p);
    if (d < 1 || d > 6 || at(t, p + d) != ' ') return 0;
    size_t pos[5];
    size_t n = 0;
    pos[0] = skip_set(t, p + d, " ");
    while (n < 4) {
        size_t e = street_word(t, pos[n]);
        if (e == NOPE) break;
        pos[++n] = e;
    }
    for (size_t k = n; k >= 1; k--) {
        size_t s = first_label(t, pos[k], STREET_SUFFIXES);
        if (s == NOPE) continue;
        if (at(t, s) == '.') s++;
        size_t e = unit_at(t, s);
        return one(h, T_ADDRESS, p, e, e);
    }
    return 0;
}

/* PO Box 1234, P.O. Box 77 (reference po_box): the whole of it is the address. */
static int r_po_box(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p) || lower(at(t, p)) != 'p') return 0;
    size_t k = p + 1;
    if (at(t, k) == '.') k++;
    if (at(t, k) == ' ') k++;
    if (lower(at(t, k)) != 'o') return 0;
    k++;
    if (at(t, k) == '.') k++;
    k = skip_set(t, k, " ");
    if (lower(at(t, k)) != 'b' || lower(at(t, k + 1)) != 'o' || lower(at(t, k + 2)) != 'x') return 0;
    k = skip_set(t, k + 3, " ");
    if (at(t, k) == '#') k++;
    k = skip_set(t, k, " ");
    size_t d = digits_at(t, k);
    if (d < 1 || d > 6 || !ar(t, k + d)) return 0;
    return one(h, T_ADDRESS, p, k + d, k + d);
}

static int iso_duration(const text_t *t, size_t a, size_t b)
{
    if (b - a < 2 || lower(t->s[a]) != 'p' || lower(t->s[a + 1]) != 't') return 0;
    size_t i = a + 2;
    if (i >= b) return 0;
    while (i < b) {
        size_t d = i;
        while (d < b && is_digit(t->s[d])) d++;
        if (d == i) return 0;
        if (d < b && t->s[d] == '.') {
            size_t f = d + 1;
            while (f < b && is_digit(t->s[f])) f++;
            if (f > d + 1) d = f;
        }
        if (d >= b || !in_set(t->s[d], "HMS")) return 0;
        i = d + 1;
    }
    return 1;
}

static int r_hostname(text_t *t, size_t p, hit_t *h)
{
    if (is_host(before(t, p))) return 0;
    size_t j = NOPE;
    for (const char *const *x = HOSTNAME_PREFIXES; *x; x++) {
        size_t k = label_chars(t, p, *x);
        if (k != NOPE && (at(t, k) == '-' || at(t, k) == '_' || is_digit(at(t, k)))) { j = k; break; }
    }
    if (j == NOPE) return 0;
    size_t e = run(t, j + 1, is_host);
    while (e > j + 1 && (t->s[e - 1] == '.' || t->s[e - 1] == '-')) e--;
    int up = 0, lo = 0;
    for (size_t i = p; i < e; i++) {
        up |= is_upper(t->s[i]);
        lo |= is_lower(t->s[i]);
    }
    if (count_digits(t, p, e) == 0 || (up && lo) || iso_duration(t, p, e)) return 0;
    return one(h, T_HOSTNAME, p, e, e);
}

/* A word of NAME_STOP_WORDS at i (any case, not followed by a letter): it ends a name. */
static int name_stop(const text_t *t, size_t i)
{
    int c = lower(at(t, i));
    for (const char *const *w = NAME_STOP_WORDS; *w; w++) {
        if ((*w)[0] != c) continue;
        size_t j = label_chars(t, i, *w);
        if (j != NOPE && !is_alpha(at(t, j))) return 1;
    }
    return 0;
}

/* A name word (reference _NAME_WORD): Title-Case with ' - and inner capitals, or NOPE. */
static size_t name_word(const text_t *t, size_t i)
{
    if (!is_upper(at(t, i)) || name_stop(t, i)) return NOPE;
    size_t j = run(t, i + 1, is_lower);
    for (;;) {
        int c = at(t, j);
        if ((c == '\'' || c == '-') && is_upper(at(t, j + 1)) && is_lower(at(t, j + 2))) j = run(t, j + 2, is_lower);
        else if ((c == '\'' || c == '-') && is_lower(at(t, j + 1))) j = run(t, j + 1, is_lower);
        else if (is_upper(c) && is_lower(at(t, j + 1))) j = run(t, j + 1, is_lower);
        else break;
    }
    if (is_upper(t->s[j - 1]) || !ar(t, j)) return NOPE;
    return j;
}

typedef size_t (*word_fn)(const text_t *t, size_t i);

/* Up to three name words with a middle initial between them: Title-Case words one space apart
 * (reference _NAME_VALUE), or, `any`, words of any case after "," or spaces (_ANY_NAME). */
static size_t name_words(const text_t *t, size_t j, word_fn word, int any)
{
    size_t e = word(t, j);
    if (e == NOPE) return NOPE;
    for (int k = 0; k < 2; k++) {
        size_t q;
        if (any && at(t, e) == ',') q = skip_set(t, e + 1, " ");
        else if (at(t, e) == ' ') q = any ? skip_set(t, e, " ") : e + 1;
        else break;
        int initial = any ? is_alpha(at(t, q)) : is_upper(at(t, q));
        if (initial && at(t, q + 1) == '.' && at(t, q + 2) == ' ') {  /* Jane Q. Doe */
            size_t f = word(t, any ? skip_set(t, q + 2, " ") : q + 3);
            if (f != NOPE) {
                e = f;
                continue;
            }
        }
        size_t f = word(t, q);
        if (f == NOPE) break;
        e = f;
    }
    return e;
}

static size_t v_name(text_t *t, size_t j, size_t p)
{
    (void)p;
    return name_words(t, j, name_word, 0);
}

/* A word of any case after a strong label (reference _ANY_WORD), or NOPE. */
static size_t name_any(const text_t *t, size_t i)
{
    if (!is_alpha(at(t, i)) || name_stop(t, i)) return NOPE;
    size_t j = run(t, i, is_alpha);
    while ((at(t, j) == '\'' || at(t, j) == '-') && is_alpha(at(t, j + 1))) j = run(t, j + 1, is_alpha);
    int c = at(t, j);
    return (is_alnum(c) || c == '_') ? NOPE : j;
}

/* A strong separator after the NAME label p..j (reference _STRONG_SEP, _PT_DOT_SEP): where the
 * value starts, or NOPE. */
static size_t strong_sep(const text_t *t, size_t p, size_t j)
{
    if (j - p == 2 && at(t, j) == '.') {  /* Pt. */
        size_t q = skip_set(t, j + 1, " \t");
        if (at(t, q) == ':' || at(t, q) == '=') return skip_set(t, q + 1, " \t");
        return q > j + 1 ? q : NOPE;
    }
    size_t q = skip_set(t, j, " \t");
    if (at(t, q) == ':' || at(t, q) == '=') return skip_set(t, q + 1, " \t");
    return NOPE;
}

static size_t name_context(text_t *t)
{
    if (!t->ctx_known) {
        t->ctx_known = 1;
        t->ctx = NOPE;
        for (size_t i = 0; i < t->n; i++) {
            if (!al(t, i)) continue;
            if (label_at(t, i, CONTEXT_WORDS[0]) != NOPE || label_at(t, i, CONTEXT_WORDS[1]) != NOPE) {
                t->ctx = i;
                break;
            }
        }
    }
    return t->ctx;
}

/* A NAME label: after a strong separator, words of any case; else Title-Case words. */
static int name_rule(text_t *t, size_t p, hit_t *h, const char *const *labels, int context)
{
    if (!al(t, p)) return 0;
    size_t j = first_label(t, p, labels);
    if (j == NOPE) return 0;
    if (context) {
        size_t c = name_context(t);
        if (c == NOPE || c >= p) return 0;
    }
    size_t s = strong_sep(t, p, j);
    if (s != NOPE) {
        size_t e = name_words(t, s, name_any, 1);
        if (e != NOPE) return one(h, T_NAME, s, e, e);
    }
    size_t k = label_sep(t, j);
    size_t e = v_name(t, k, p);
    if (e == NOPE) return 0;
    return one(h, T_NAME, k, e, e);
}

static int r_name_labelled(text_t *t, size_t p, hit_t *h) { return name_rule(t, p, h, NAME_LABELS, 0); }
static int r_name_context(text_t *t, size_t p, hit_t *h) { return name_rule(t, p, h, NAME_CONTEXT_LABELS, 1); }

static int r_name_title(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p)) return 0;
    size_t j = NOPE;
    for (const char *const *x = TITLES; *x; x++) {
        if (case_word_at(t, p, *x) && ar(t, p + strlen(*x))) { j = p + strlen(*x); break; }
    }
    if (j == NOPE) return 0;
    if (at(t, j) == '.') j++;
    size_t k = skip_set(t, j, " ");
    if (k == j) return 0;
    size_t e = v_name(t, k, p);
    if (e == NOPE) return 0;
    return one(h, T_NAME, k, e, e);
}

/* ------------------------------------------------------------------- rule table */

typedef int (*rule_fn)(text_t *t, size_t p, hit_t *h);

#define UPPERS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

static const char *const AUTH_WORDS[] = {"authorization", NULL};
static const char *const SECURESTRING_WORDS[] = {"convertto-securestring", NULL};
static const char *const SECRET_CMD_WORDS[] = {"sshpass", "net use", "password", NULL};
static const char *const PO_BOX_WORDS[] = {"po box", "po.", "p.o", "p. o", "p o", NULL};
static const char *const TITLE_WORDS[] = {"miss", "mrs", "mr", "ms", "mx", "dr", NULL};

/*
 * Where a rule can start (a necessary condition only: the rule itself decides). `first`: the
 * bytes it can start with. `words`: for a rule that starts with a word, the words (any case; a
 * ' ' is an optional joiner, as in labels): it is tried only where the next three characters
 * can begin one of them. `anchor`: the e-mail and URL rules, tried only at the one position
 * before each '@' or "://" where they can start (see anchor_t). Apart from the `inword` rules,
 * no rule can match where the previous and the current byte are both letters or digits.
 */
enum { A_NONE, A_EMAIL, A_URL };
static const struct rule {
    rule_fn fn;
    const char *first;
    const char *const *words;
    int inword;                      /* can match inside a word (no left boundary) */
    int anchor;
} RULES[] = {
    {r_base64, NULL, NULL, 0, A_NONE},  /* tried where b64_start() holds (scan, window_b64) */
    {r_pem, "-", NULL, 0, A_NONE},
    {r_url_userinfo, NULL, NULL, 0, A_URL},
    {r_authorization, NULL, AUTH_WORDS, 1, A_NONE},
    {r_ps_password, "-", NULL, 0, A_NONE},
    {r_ps_securestring, NULL, SECURESTRING_WORDS, 1, A_NONE},
    {r_secret_kv, NULL, SECRET_LABELS, 1, A_NONE},
    {r_secret_cmd, NULL, SECRET_CMD_WORDS, 0, A_NONE},
    {r_json_key, "\"'", NULL, 0, A_NONE},
    {r_hl7, "\\", HL7_SEGMENT_NAMES, 0, A_NONE},
    {r_path, NULL, CLINICAL_DIRS, 0, A_NONE},
    {r_ssn_labelled, NULL, SSN_LABELS, 0, A_NONE},
    {r_mrn, NULL, MRN_LABELS, 0, A_NONE},
    {r_patient_id, NULL, PATIENT_ID_LABELS, 0, A_NONE},
    {r_account, NULL, ACCOUNT_LABELS, 0, A_NONE},
    {r_insurance, NULL, INSURANCE_LABELS, 0, A_NONE},
    {r_dob, NULL, DOB_LABELS, 0, A_NONE},
    {r_phone_labelled, NULL, PHONE_LABELS, 0, A_NONE},
    {r_zip_labelled, NULL, ZIP_LABELS, 0, A_NONE},
    {r_zip_state, UPPERS, NULL, 0, A_NONE},
    {r_email, NULL, NULL, 0, A_EMAIL},
    {r_medicare, "123456789", NULL, 0, A_NONE},
    {r_ssn, DIGITS, NULL, 0, A_NONE},
    {r_cc, DIGITS, NULL, 0, A_NONE},
    {r_phone, DIGITS "(+", NULL, 0, A_NONE},
    {r_zip4, DIGITS, NULL, 0, A_NONE},
    {r_address, DIGITS, NULL, 0, A_NONE},
    {r_po_box, NULL, PO_BOX_WORDS, 0, A_NONE},
    {r_hostname, NULL, HOSTNAME_PREFIXES, 0, A_NONE},
    {r_name_labelled, NULL, NAME_LABELS, 0, A_NONE},
    {r_name_context, NULL, NAME_CONTEXT_LABELS, 0, A_NONE},
    {r_name_title, NULL, TITLE_WORDS, 0, A_NONE},
};
#define NRULES (sizeof RULES / sizeof RULES[0])
#define NCLS 35
_Static_assert(NRULES <= 32, "rule sets are 32-bit masks");

static uint32_t bit_of(rule_fn fn)
{
    for (size_t r = 0; r < NRULES; r++)
        if (RULES[r].fn == fn) return (uint32_t)1 << r;
    return 0;
}

/* Class of a byte for the word tables: a letter (any case), a digit, or one of a few others. */
static unsigned cls2(int c)
{
    if (is_alpha(c)) return (unsigned)(lower(c) - 'a');
    switch (c) {
    case '.': return 26;
    case '#': return 27;
    case '|': return 28;
    case '-': return 29;
    case ' ': return 30;
    case '_': return 31;
    case '/': return 32;
    default: return is_digit(c) ? 33 : 34;
    }
}

#define ANY3 ((uint64_t)(((uint64_t)1 << NCLS) - 1))

typedef struct dispatch {
    uint32_t first[256];          /* rules by first byte alone */
    uint32_t pair[NCLS][NCLS];    /* word rules by (first, second) character class */
    uint64_t tri[NCLS][NCLS];     /* classes of a third character that can follow a word pair */
    uint64_t tri_inw[NCLS][NCLS]; /* the same for the inword rules only */
    uint32_t inword_mask;
    unsigned char alnum[256];
    unsigned char wordfirst[256]; /* some word starts with this byte (any case) */
    unsigned char skip2[NCLS][NCLS]; /* a letter or digit whose class and the next one's start
                                        no inword word */
    unsigned char cls[257];       /* cls2 of each byte; [256] is the class of "no byte" */
    uint32_t b_url, b_hl7, b_b64, b_json, b_email, b_pem, b_ps, b_zip_state, b_medicare, b_ssn, b_cc, b_phone, b_zip4,
        b_address, digit_rules;
    unsigned char start[256];     /* a byte that is not a letter or digit where a rule can start */
    /* The window filter (window_candidates): valid only when the tables keep to its assumptions
     * (checked by fast_init); `fast` is 0 otherwise. */
    int fast;
    unsigned char zipfirst[256];   /* an upper-case letter: r_zip_state starts with it */
    uint64_t digit_keep[3][256];   /* bit k: a run of k digits that starts with '0', '1' or
                                      '2'..'9' (0, 1, 2) and is followed by this byte passes */
    uint64_t triw[NCLS][NCLS];     /* tri, where the pair starts some word */
} dispatch_t;

/* The letter pairs (any case) where an inword rule can start, as the SSE2 filter tests them:
 * authorization, api key, convertto-securestring, client secret, passphrase/password/passwd,
 * pwd, secret, token. fast_init checks that the tables need no other pair. */
static const char INWORD_PAIRS[][3] = {"au", "ap", "co", "cl", "pa", "pw", "se", "to"};

/*
 * The window filter's assumptions (see window_candidates), checked against the tables: outside
 * a word, a rule can start at a digit only if it is a digit rule, at a letter only if it is a
 * word rule or r_zip_state (upper case), and at no other byte than '-' (r_pem, r_ps_password),
 * '(' and '+' (r_phone); inside a word, only at a pair of letters. `digit_keep` restates what
 * prefilter() keeps of the digit rules (a superset: by the first digit, the run length and the
 * byte after the run), window_masks() what it keeps of '-', '(' and '+', and `zipfirst` what it
 * keeps of r_zip_state. When the tables break an assumption, `fast` stays 0 and the exact
 * byte-by-byte filter (next_candidate_bytes) runs instead.
 */
static void fast_init(dispatch_t *d)
{
    d->fast = 0;
    for (unsigned c = 0; c < 256; c++) {
        /* '/' (and '+'): where a base64 run may start (r_base64) */
        d->start[c] = (unsigned char)(!d->alnum[c] && (d->first[c] || d->wordfirst[c] || c == '/' || c == '+'));
        d->zipfirst[c] = (unsigned char)((d->first[c] & d->b_zip_state) != 0);
        uint32_t allowed = 0;
        if (is_digit((int)c)) allowed = d->digit_rules;
        else if (is_upper((int)c)) allowed = d->b_zip_state;
        else if (c == '-') allowed = d->b_pem | d->b_ps;
        else if (c == '(' || c == '+') allowed = d->b_phone;
        else if (c == '\\') allowed = d->b_hl7;
        else if (c == '"' || c == '\'') allowed = d->b_json;
        if ((d->first[c] & ~allowed) || (d->wordfirst[c] && !is_alpha((int)c))) return;
        for (unsigned f = 0; f < 3; f++) {
            uint64_t k = ((uint64_t)1 << 20) - ((uint64_t)1 << 13);  /* 13..19 digits: r_cc */
            if (c == '-' || c == '.' || c == ' ') {  /* r_phone: "1-", "1.", "1 ", "ddd-", ... */
                if (f == 1) k |= 1u << 1;
                if (f == 2) k |= 1u << 3;
            }
            if (c == '-') k |= (1u << 3) | (1u << 4) | (1u << 5);  /* r_ssn, r_cc, r_zip4 */
            if (c == '.') k |= (1u << 3) | (1u << 4);             /* r_ssn, r_cc */
            if (c == ' ') k |= 0x7eu;                   /* r_ssn, r_cc, 1..6 digits: r_address */
            if (is_alpha((int)c)) k |= 1u << 1;          /* r_medicare */
            d->digit_keep[f][c] = k;
        }
    }
    for (unsigned k0 = 0; k0 < NCLS; k0++) {
        for (unsigned k1 = 0; k1 < NCLS; k1++) {
            d->triw[k0][k1] = d->pair[k0][k1] ? d->tri[k0][k1] : 0;
            if (d->tri_inw[k0][k1] == 0) continue;
            if (k0 >= 26 || k1 >= 26) return;
            size_t k = 0, np = sizeof INWORD_PAIRS / sizeof INWORD_PAIRS[0];
            while (k < np && !(INWORD_PAIRS[k][0] == 'a' + (int)k0 && INWORD_PAIRS[k][1] == 'a' + (int)k1)) k++;
            if (k == np) return;
        }
    }
    d->fast = 1;
}

/* Record the first three character classes of every spelling of `w` (' ' = optional joiner). */
static void add_word(dispatch_t *d, const char *w, uint32_t bit, int inword, unsigned *k, int depth)
{
    if (depth == 3 || *w == '\0') {
        uint64_t third = depth == 3 ? (uint64_t)1 << k[2] : ANY3;
        if (depth < 2) return;  /* every word has at least two letters before any joiner */
        d->pair[k[0]][k[1]] |= bit;
        d->tri[k[0]][k[1]] |= third;
        if (inword) d->tri_inw[k[0]][k[1]] |= third;
        return;
    }
    if (*w == ' ') {
        static const char joiners[] = " _-";
        for (const char *j = joiners; *j; j++) {
            k[depth] = cls2(*j);
            add_word(d, w + 1, bit, inword, k, depth + 1);
        }
        add_word(d, w + 1, bit, inword, k, depth);
        return;
    }
    k[depth] = cls2((unsigned char)*w);
    add_word(d, w + 1, bit, inword, k, depth + 1);
}

static void dispatch_init(dispatch_t *d)
{
    memset(d, 0, sizeof *d);
    for (unsigned c = 0; c < 256; c++) {
        d->alnum[c] = (unsigned char)is_alnum((int)c);
        d->cls[c] = (unsigned char)cls2((int)c);
    }
    d->cls[256] = (unsigned char)cls2(-1);
    d->b_url = bit_of(r_url_userinfo);
    d->b_hl7 = bit_of(r_hl7);
    d->b_b64 = bit_of(r_base64);
    d->b_json = bit_of(r_json_key);
    d->b_email = bit_of(r_email);
    d->b_pem = bit_of(r_pem);
    d->b_ps = bit_of(r_ps_password);
    d->b_zip_state = bit_of(r_zip_state);
    d->b_medicare = bit_of(r_medicare);
    d->b_ssn = bit_of(r_ssn);
    d->b_cc = bit_of(r_cc);
    d->b_phone = bit_of(r_phone);
    d->b_zip4 = bit_of(r_zip4);
    d->b_address = bit_of(r_address);
    d->digit_rules = d->b_medicare | d->b_ssn | d->b_cc | d->b_phone | d->b_zip4 | d->b_address;
    for (size_t r = 0; r < NRULES; r++) {
        uint32_t bit = (uint32_t)1 << r;
        if (RULES[r].inword) d->inword_mask |= bit;
        if (RULES[r].first)
            for (const char *c = RULES[r].first; *c; c++) d->first[(unsigned char)*c] |= bit;
        if (!RULES[r].words) continue;
        for (const char *const *w = RULES[r].words; *w; w++) {
            unsigned k[3] = {0, 0, 0};
            add_word(d, *w, bit, RULES[r].inword, k, 0);
            unsigned char c0 = (unsigned char)(*w)[0];
            unsigned char up = (unsigned char)(is_lower(c0) ? c0 - 32 : c0);
            d->wordfirst[c0] = d->wordfirst[up] = 1;
        }
    }
    for (unsigned k0 = 0; k0 < NCLS; k0++)
        for (unsigned k1 = 0; k1 < NCLS; k1++)
            d->skip2[k0][k1] = (unsigned char)((k0 < 26 || k0 == 33) && d->tri_inw[k0][k1] == 0);
    fast_init(d);
}

/* Word rules that can start at p, by its first three characters. */
static inline uint32_t words_at(const dispatch_t *d, const uint64_t (*tri)[NCLS], const unsigned char *s,
                                size_t n, size_t p)
{
    unsigned k0 = d->cls[s[p]];
    unsigned k1 = d->cls[p + 1 < n ? s[p + 1] : 256];
    unsigned k2 = d->cls[p + 2 < n ? s[p + 2] : 256];
    return (tri[k0][k1] >> k2) & 1 ? d->pair[k0][k1] : 0;
}

/* Drop rules that cannot match at p (not inside a word), by cheap necessary conditions. The
 * window filter restates them (fast_init, window_masks): keep the two in step. */
static uint32_t prefilter(const dispatch_t *d, const text_t *t, size_t p, uint32_t m)
{
    int c = t->s[p];
    if (is_digit(c)) {
        size_t e = run(t, p + 1, is_digit), dn = e - p;
        int nx = at(t, e);
        uint32_t keep = 0;
        if (dn == 1 && mbi_a(nx)) keep |= d->b_medicare;
        if (dn == 3 && (nx == '-' || nx == ' ' || nx == '.')) keep |= d->b_ssn;
        if ((dn == 4 && (nx == ' ' || nx == '-' || nx == '.')) || (dn >= 13 && dn <= 19)) keep |= d->b_cc;
        if (((dn == 3 && d29(c)) || (dn == 1 && c == '1')) && (nx == '-' || nx == '.' || nx == ' '))
            keep |= d->b_phone;
        if (dn == 5 && nx == '-') keep |= d->b_zip4;
        if (dn <= 6 && nx == ' ') {
            int f = at(t, skip_set(t, e, " "));
            if (is_upper(f) || is_digit(f)) keep |= d->b_address;
        }
        return m & (keep | ~d->digit_rules);
    }
    int c1 = at(t, p + 1);
    switch (c) {
    case '-':
        if (c1 != '-') m &= ~d->b_pem;
        if (lower(c1) != 'p') m &= ~d->b_ps;
        break;
    case '(':
        if (!d29(c1)) m &= ~d->b_phone;
        break;
    case '+':
        if (c1 != '1') m &= ~d->b_phone;
        break;
    case '\\':
        if (c1 != 'r' && c1 != 'n') m &= ~d->b_hl7;
        break;
    case '"':
    case '\'':
        if (!is_alpha(c1)) m &= ~d->b_json;
        break;
    default:
        if (!is_upper(c1) || at(t, p + 2) != ' ') m &= ~d->b_zip_state;
        break;
    }
    return m;
}

/*
 * The one position before the next '@' (or "://") at or after `from` where the e-mail (or URL)
 * rule can start: the start of the run of local-part (scheme) characters that ends there, if it
 * is not too long (and, for a URL, starts with a letter). The rule can start nowhere else before
 * that '@': it needs a run that ends at an '@' and no such character before it.
 */
typedef struct {
    size_t q;     /* the '@' or ':' of "://"; n when there is none; recompute when p > q */
    size_t cand;  /* NOPE when there is no candidate */
} anchor_t;

static anchor_t email_anchor(const unsigned char *s, size_t n, size_t from)
{
    anchor_t a = {n, NOPE};
    const unsigned char *q = from < n ? memchr(s + from, '@', n - from) : NULL;
    if (q == NULL) return a;
    a.q = (size_t)(q - s);
    size_t b = a.q;
    while (b > 0 && a.q - b <= EMAIL_LOCAL_MAX && is_local(s[b - 1])) b--;
    if (b < a.q && a.q - b <= EMAIL_LOCAL_MAX) a.cand = b;
    return a;
}

static anchor_t url_anchor(const unsigned char *s, size_t n, size_t from)
{
    anchor_t a = {n, NOPE};
    size_t i = from;
    for (;;) {  /* the "//" first: rarer than ':' in logs */
        const unsigned char *q = i + 1 < n ? memchr(s + i + 1, '/', n - i - 1) : NULL;
        if (q == NULL) return a;
        i = (size_t)(q - s);
        if (i + 1 < n && s[i + 1] == '/' && s[i - 1] == ':' && i - 1 >= from) break;
        i++;
    }
    a.q = --i;
    size_t b = i;
    while (b > 0 && i - b <= SCHEME_MAX && is_scheme(s[b - 1])) b--;
    if (b < i && i - b <= SCHEME_MAX && is_alpha(s[b])) a.cand = b;
    return a;
}

static inline size_t min2(size_t a, size_t b) { return a < b ? a : b; }

/*
 * Candidates: the positions where the dispatch in scan() can find a rule to try (a superset:
 * scan() decides exactly). Outside a word: a letter or digit, or a byte of `start`; inside a
 * word (the byte before is a letter or digit): a letter or digit whose pair with the next byte
 * can start an inword rule (not skip2). The e-mail and URL anchors are not candidates: scan()
 * never skips past the next one (`due`).
 */
static size_t next_candidate_bytes(const dispatch_t *d, const unsigned char *s, size_t n, size_t p,
                                   size_t lim)
{
    int pv = p > 0 && d->alnum[s[p - 1]];
    for (; p < lim; p++) {
        unsigned c = s[p];
        int al = d->alnum[c];
        if (al) {
            if (!pv || !d->skip2[d->cls[c]][d->cls[p + 1 < n ? s[p + 1] : 256]]) return p;
        } else if (d->start[c]) {
            return p;
        }
        pv = al;
    }
    return lim;
}

#define WIN 64  /* positions of a window; it reads 2 bytes more */

#if PHI_SSE2
/* Bytes of v in [lo, lo + width] (unsigned), as 0xff/0x00. */
static inline __m128i in_range(__m128i v, unsigned char lo, unsigned char width)
{
    __m128i t = _mm_sub_epi8(v, _mm_set1_epi8((char)lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8((char)width)), t);
}

static inline __m128i eq(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }

static inline __m128i load16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* Masks of a window s[w..w+64) (bit i: w + i): letters and digits, digits, the non-letter bytes
 * that prefilter() keeps ('-' before '-' or 'p'/'P', '(' before a digit, '+' before '1', '\\'
 * before 'r' or 'n'), and the
 * letter pairs that can start an inword rule. SSE2 version, 16 bytes at a time. */
static void window_masks(const dispatch_t *d, const unsigned char *s, size_t w, uint64_t *al,
                         uint64_t *dg, uint64_t *sp, uint64_t *pr, uint64_t *ps)
{
    (void)d;  /* the pairs are INWORD_PAIRS here */
    uint64_t a = 0, g = 0, x = 0, r = 0, b = 0;
    const __m128i bit5 = _mm_set1_epi8(0x20);
    for (unsigned k = 0; k < WIN; k += 16) {
        __m128i v = load16(s + w + k), vn = load16(s + w + k + 1);
        __m128i lc = _mm_or_si128(v, bit5), lcn = _mm_or_si128(vn, bit5);
        __m128i digit = in_range(v, '0', 9), letter = in_range(lc, 'a', 25);
        __m128i n_o = eq(lcn, 'o');  /* INWORD_PAIRS */
        __m128i pm = _mm_and_si128(eq(lc, 'a'), _mm_or_si128(eq(lcn, 'u'), eq(lcn, 'p')));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 'c'), _mm_or_si128(n_o, eq(lcn, 'l'))));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 'p'), _mm_or_si128(eq(lcn, 'a'), eq(lcn, 'w'))));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 's'), eq(lcn, 'e')));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 't'), n_o));
        __m128i spc = _mm_and_si128(eq(v, '-'), _mm_or_si128(eq(vn, '-'), eq(lcn, 'p')));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '('), in_range(vn, '0', 9)));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '+'), eq(vn, '1')));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '\\'), _mm_or_si128(eq(vn, 'r'), eq(vn, 'n'))));
        spc = _mm_or_si128(spc, _mm_and_si128(_mm_or_si128(eq(v, '"'), eq(v, '\'')), in_range(lcn, 'a', 25)));
        a |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter)) << k;
        g |= (uint64_t)(unsigned)_mm_movemask_epi8(digit) << k;
        x |= (uint64_t)(unsigned)_mm_movemask_epi8(spc) << k;
        r |= (uint64_t)(unsigned)_mm_movemask_epi8(pm) << k;
        b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(eq(v, '+'), eq(v, '/'))) << k;
    }
    *ps = b;
    *al = a;
    *dg = g;
    *sp = x;
    *pr = r;
}

/*
 * Candidates of a window of 64 positions, bit i for position i, given q[0..66) (the window and
 * the 2 bytes after it; a NUL stands for "past the end of the text", which it equals in every
 * table used here) and whether the byte before the window is a letter or digit: a superset of
 * the positions where scan() finds a rule to try (apart from the e-mail and URL anchors). Word
 * starts are filtered without a branch per position, as prefilter() and words_at() would (see
 * fast_init); a run of digits that reaches the end of the window is kept.
 */
static uint64_t window_candidates(const dispatch_t *d, const unsigned char *q, unsigned prev_alnum,
                                  unsigned prev_b64, uint64_t *b64_starts)
{
    uint64_t al, dg, sp, pr, ps;
    window_masks(d, q, 0, &al, &dg, &sp, &pr, &ps);
    uint64_t prev = (al << 1) | prev_alnum;
    uint64_t ws = al & ~prev;
    uint64_t keep = sp | (al & prev & pr);
    for (uint64_t x = ws & dg; x; x &= x - 1) {
        unsigned i = (unsigned)__builtin_ctzll(x);
        uint64_t rest = ~dg >> i;  /* bit j: i + j is not a digit (0 past the window) */
        if (rest == 0) {
            keep |= (uint64_t)1 << i;
            continue;
        }
        unsigned dn = (unsigned)__builtin_ctzll(rest);
        unsigned f = (q[i] >= '1') + (q[i] >= '2');
        keep |= ((d->digit_keep[f][q[i + dn]] >> dn) & 1) << i;
    }
    for (uint64_t x = ws & ~dg; x; x &= x - 1) {
        unsigned i = (unsigned)__builtin_ctzll(x);
        const unsigned char *c = q + i;
        uint64_t ok = (d->triw[d->cls[c[0]]][d->cls[c[1]]] >> d->cls[c[2]]) & 1;
        ok |= (uint64_t)(d->zipfirst[c[0]] & is_upper(c[1]) & (c[2] == ' '));
        keep |= ok << i;
    }
    /* base64 runs (b64_start): a start of B64_MIN base64 characters, or of a run that reaches the
     * end of the window */
    uint64_t b64 = al | ps, r = b64;
    uint64_t starts = b64 & ~((b64 << 1) | prev_b64);
    r &= r >> 1;
    r &= r >> 2;
    r &= r >> 4;
    r &= r >> 8;
    _Static_assert(B64_MIN == 16, "the run test above is for 16 characters");
    uint64_t reach = ~b64 == 0 ? ~(uint64_t)0 : (uint64_t)(~(uint64_t)0 << (63 - __builtin_clzll(~b64))) << 1;
    *b64_starts = starts & (r | reach);
    return keep | *b64_starts;
}

/* Candidates of the window at s[w..] of a text of n bytes (w < n); near the end, from a copy
 * padded with NULs, without the positions past the end. */
static uint64_t window_at(const dispatch_t *d, const unsigned char *s, size_t n, size_t w, uint64_t *b64)
{
    unsigned prev = w > 0 && d->alnum[s[w - 1]];
    unsigned prev_b64 = w > 0 && is_b64(s[w - 1]);
    if (n - w >= WIN + 2) return window_candidates(d, s + w, prev, prev_b64, b64);
    unsigned char pad[WIN + 2];
    size_t len = n - w;
    memset(pad, 0, sizeof pad);
    memcpy(pad, s + w, len);
    uint64_t mask = window_candidates(d, pad, prev, prev_b64, b64);
    return len >= WIN ? mask : mask & (((uint64_t)1 << len) - 1);
}

/* The candidates of one window, kept while the scan walks through it. */
typedef struct {
    size_t base;    /* first position of the window; NOPE before the first */
    uint64_t mask;  /* bit i: base + i is a candidate */
    uint64_t b64;   /* bit i: base + i may start a base64 run (a superset of b64_start) */
} window_t;
#define WINDOW_NONE {NOPE, 0, 0}

/* Whether r_base64 may start at p, as far as the window of p tells (1 when it does not cover p). */
static inline int window_b64(const window_t *win, size_t p)
{
    if (win->base == NOPE || p < win->base || p - win->base >= WIN) return 1;
    return (int)((win->b64 >> (p - win->base)) & 1);
}

/* The first candidate in [p, lim) (lim <= n), or lim: by windows, or byte by byte when the
 * tables do not allow windows. */
static inline size_t next_candidate(const dispatch_t *d, window_t *win, const unsigned char *s,
                                    size_t n, size_t p, size_t lim)
{
    if (!d->fast) return next_candidate_bytes(d, s, n, p, lim);
    while (p < lim) {
        if (win->base != NOPE && p >= win->base && p - win->base < WIN) {
            uint64_t m = win->mask >> (p - win->base);
            if (m) return min2(p + (size_t)__builtin_ctzll(m), lim);
            p = win->base + WIN;
            continue;
        }
        win->base = p;
        win->mask = window_at(d, s, n, p, &win->b64);
    }
    return lim;
}
#else
/* Without SSE2, the byte-by-byte filter: windows built byte by byte cost more than they save. */
typedef struct {
    int unused;
} window_t;
#define WINDOW_NONE {0}

static inline int window_b64(const window_t *win, size_t p)
{
    (void)win;
    (void)p;
    return 1;
}

static inline size_t next_candidate(const dispatch_t *d, window_t *win, const unsigned char *s,
                                    size_t n, size_t p, size_t lim)
{
    (void)win;
    return next_candidate_bytes(d, s, n, p, lim);
}
#endif

/*
 * Scan s[0..n) from `from` until the first position at or after `stop` that the scan stands on
 * (stop itself, or where a match across it ends), or until `out` is full. The scan is a function
 * of the position only (every cache and anchor is recomputed from it), so scanning from any
 * position that a scan from 0 stands on continues exactly like that scan.
 */
static size_t scan_at_depth(const dispatch_t *d, const unsigned char *s, size_t n, size_t from,
                            size_t stop, phi_span *out, size_t cap, size_t *next, int depth)
{
    text_t t = {s, n, NOPE, 0, NOPE, NOPE, NOPE, NOPE, 0, NOPE, d, depth};
    hit_t h;
    size_t count = 0, p = from;
    anchor_t em = email_anchor(s, n, from), url = url_anchor(s, n, from);
    /* the first position where an anchor is due: a candidate, or past its '@' or "://" */
    size_t due = min2(min2(em.cand, url.cand), min2(em.q, url.q) + 1);
    const size_t end = min2(n, stop);
    window_t win = WINDOW_NONE;
    while (p < end) {
        if (p < due) {  /* nothing to do before the next candidate, or the next anchor */
            p = next_candidate(d, &win, s, n, p, min2(due, end));
            if (p >= end) break;
        }
        unsigned c = s[p];
        uint32_t m;
        if (p > 0 && d->alnum[s[p - 1]] && d->alnum[c]) {
            /* inside a word: only the inword rules, which start with a few letters */
            m = words_at(d, d->tri_inw, s, n, p) & d->inword_mask;
            if (!m) {
                p++;
                continue;
            }
        } else {
            m = d->first[c];
            if (d->wordfirst[c]) m |= words_at(d, d->tri, s, n, p);
            if (p >= due) {
                /* the anchors are never inside a word: the byte before them is not a letter or
                 * digit */
                if (p > em.q) em = email_anchor(s, n, p);
                if (p > url.q) url = url_anchor(s, n, p);
                if (p == em.cand) m |= d->b_email;
                if (p == url.cand) m |= d->b_url;
                due = min2(min2(em.cand > p ? em.cand : NOPE, url.cand > p ? url.cand : NOPE),
                           min2(em.q, url.q) + 1);
            }
            if (m) m = prefilter(d, &t, p, m);
            if ((!d->fast || window_b64(&win, p)) && b64_start(&t, p)) m |= d->b_b64;
            if (!m) {
                p++;
                continue;
            }
        }
        int found = 0;
        for (; m && !found; m &= m - 1) found = RULES[__builtin_ctz(m)].fn(&t, p, &h);
        if (!found) {
            p++;
            continue;
        }
        if (h.count > cap - count) break;
        memcpy(out + count, h.spans, h.count * sizeof h.spans[0]);
        count += h.count;
        p = h.end;
    }
    *next = p < n ? p : n;
    return count;
}

static size_t scan(const dispatch_t *d, const unsigned char *s, size_t n, size_t from, size_t stop,
                   phi_span *out, size_t cap, size_t *next)
{
    return scan_at_depth(d, s, n, from, stop, out, cap, next, 0);
}

/* ----------------------------------------------------------------------- public API */

size_t phi_scan(const unsigned char *text, size_t len, size_t from, phi_span *out, size_t cap, size_t *next)
{
    dispatch_t d;
    dispatch_init(&d);
    if (text == NULL || out == NULL || next == NULL) {
        if (next) *next = len;
        return 0;
    }
    return scan(&d, text, len, from, len, out, cap, next);
}

size_t phi_scan_range(const unsigned char *text, size_t len, size_t from, size_t stop, phi_span *out,
                      size_t cap, size_t *next)
{
    if (next) *next = len;
    if (text == NULL || out == NULL || next == NULL) return 0;
    dispatch_t d;
    dispatch_init(&d);
    return scan(&d, text, len, from, stop, out, cap, next);
}

size_t phi_scan_many(const unsigned char *buf, const size_t *offsets, size_t n, phi_span *out, size_t cap, size_t *counts)
{
    dispatch_t d;
    dispatch_init(&d);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = offsets[i], b = offsets[i + 1];
        if (b < a) return NOPE;
        size_t next;
        size_t c = scan(&d, buf + a, b - a, 0, b - a, out + used, cap - used, &next);
        if (next < b - a) return i;
        counts[i] = c;
        used += c;
    }
    return n;
}

size_t phi_split(const unsigned char *buf, size_t len, size_t *offsets, size_t n)
{
    if (buf == NULL || offsets == NULL || n == 0) return NOPE;
    size_t i = 0, pos = 0;
    offsets[0] = 0;
    for (;;) {
        const unsigned char *z = pos < len ? memchr(buf + pos, 0, len - pos) : NULL;
        if (z == NULL || i + 1 >= n) break;
        pos = (size_t)(z - buf) + 1;
        offsets[++i] = pos;
    }
    if (i + 1 != n) return i;
    if (pos < len && memchr(buf + pos, 0, len - pos) != NULL) return n;  /* more NULs than texts */
    offsets[n] = len + 1;
    return i;
}

size_t phi_scan_batch(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, size_t first,
                      phi_span *out, size_t *lines, size_t cap, size_t *count)
{
    if (count) *count = 0;
    if (buf == NULL || offsets == NULL || out == NULL || lines == NULL || count == NULL || first > n)
        return NOPE;
    if (!offsets_ok(offsets, first, n, sep)) return NOPE;
    dispatch_t d;
    dispatch_init(&d);
    size_t used = 0, i = first;
    for (; i < n; i++) {
        size_t a = offsets[i], b = text_end(offsets, i, sep), next;
        size_t c = scan(&d, buf + a, b - a, 0, b - a, out + used, cap - used, &next);
        if (next < b - a) break;  /* out is full: this text is scanned again by the next call */
        for (size_t k = used; k < used + c; k++) {
            out[k].start += a;
            out[k].end += a;
            lines[k] = i;
        }
        used += c;
    }
    *count = used;
    return i;
}
