/*
 * Rules of the native PHI scanner: labelled identifiers, dates and phones (a label, separators,
 * a value), and the bare numbers (SSN, Medicare, card, phone, ZIP+4) and e-mail addresses. Each
 * mirrors one expression of src/agent/phi/reference.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_rules.h"
#include "phi_words.h"

static const char *const CC_EXCEPTION_LABELS[] = {"serial", "s/n", "sn", "thumbprint", "id", NULL};
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

int r_ssn_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, SSN_LABELS, T_SSN, v_ssn_labelled); }
int r_mrn(text_t *t, size_t p, hit_t *h)
{
    if (labelled(t, p, h, MRN_LABELS, T_MRN, v_mrn)) return 1;
    /* MRN12345678: the digits glued to the label */
    if (!al(t, p) || label_chars(t, p, "mrn") == NOPE) return 0;
    size_t d = digits_at(t, p + 3);
    if (d < 4 || d > 12 || !ar(t, p + 3 + d)) return 0;
    return one(h, T_MRN, p + 3, p + 3 + d, p + 3 + d);
}
int r_patient_id(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, PATIENT_ID_LABELS, T_PATIENT_ID, v_patient_id); }
int r_account(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, ACCOUNT_LABELS, T_ACCOUNT, v_account); }
int r_insurance(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, INSURANCE_LABELS, T_INSURANCE, v_insurance); }
int r_dob(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, DOB_LABELS, T_DOB, v_date); }
int r_phone_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, PHONE_LABELS, T_PHONE, v_phone_labelled); }
int r_zip_labelled(text_t *t, size_t p, hit_t *h) { return labelled(t, p, h, ZIP_LABELS, T_ZIP, v_zip); }

int r_zip_state(text_t *t, size_t p, hit_t *h)
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

int r_email(text_t *t, size_t p, hit_t *h)
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

static int mbi_an(int c) { return mbi_a(c) || is_digit(c); }

int r_medicare(text_t *t, size_t p, hit_t *h)
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

int r_ssn(text_t *t, size_t p, hit_t *h)
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

int r_cc(text_t *t, size_t p, hit_t *h)
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

int r_phone(text_t *t, size_t p, hit_t *h)
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

int r_zip4(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p) || digits_at(t, p) != 5 || at(t, p + 5) != '-' || !k_digits(t, p + 6, 4) || !nr(t, p + 10))
        return 0;
    return one(h, T_ZIP, p, p + 10, p + 10);
}
