/*
 * Rules of the native PHI scanner: secrets and the runs that hide PHI (base64, PEM blocks, URL
 * user info, Authorization headers, PowerShell passwords and SecureStrings, secret labels,
 * commands that take a password). Each mirrors one expression of src/agent/phi/reference.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_rules.h"
#include "phi_words.h"

static const char *const AUTH_SCHEMES[] = {"bearer", "basic", NULL};

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
static int b64_value(int c)
{
    if (is_upper(c)) return c - 'A';
    if (is_lower(c)) return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

/* A base64 run that decodes to printable ASCII holding PHI: the whole run, the first span's tag. */
int r_base64(text_t *t, size_t p, hit_t *h)
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
    if (phi_scan_decoded(raw, nr, inner, MAX_HITS) == 0) return 0;
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

int r_pem(text_t *t, size_t p, hit_t *h)
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

int r_url_userinfo(text_t *t, size_t p, hit_t *h)
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

int r_authorization(text_t *t, size_t p, hit_t *h)
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

int r_ps_password(text_t *t, size_t p, hit_t *h)
{
    if (at(t, p) != '-' || !al(t, p)) return 0;
    size_t j = label_at(t, p + 1, "password");
    if (j == NOPE || (at(t, j) != ' ' && at(t, j) != '\t')) return 0;
    return secret_value(t, skip_set(t, j, " \t"), h);
}

int r_ps_securestring(text_t *t, size_t p, hit_t *h)
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

int r_secret_kv(text_t *t, size_t p, hit_t *h)
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

/* Characters in [a, b), as the reference counts them (code points: UTF-8 continuation bytes are
 * not characters; a lone surrogate crosses as three bytes and is one character). */
static size_t char_count(const text_t *t, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++) n += (((unsigned char)t->s[i]) & 0xC0u) != 0x80u;
    return n;
}

/* Passwords in commands and prose (reference SecretCmdRule): sshpass -p VALUE; net use ...
 * /user:NAME VALUE on the same line; password VALUE where the value holds a digit or a symbol. */
int r_secret_cmd(text_t *t, size_t p, hit_t *h)
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
    if (char_count(t, k, e) < 4 || !symbol) return 0;
    return one(h, T_SECRET, k, e, e);
}

/* A quoted key of PHI_KEYS and its value (reference JsonKeyRule): {"ssn":"123456789"}. */
