/*
 * Standalone test driver of the C core (csrc/), no Python: runs the differential cases of
 * tools/gen_native_vectors.py (outputs recorded from the Python reference scrubber and from
 * PyNaCl) against this build. Built for x86_64 and, cross-compiled, for aarch64 under qemu by
 * tests/native/run_aarch64.sh.
 *
 *   driver VECTORS
 *
 * PHI: each text scanned in one call and in resumed calls with the smallest output buffer, the
 * spans equal to the reference's; the reference scrubber's output rebuilt by phi_render from
 * those spans and their recorded hashes; then every text in one phi_scan_batch call.
 * Ed25519: every verdict equal to libsodium's, for each item alone, for all items in one batch
 * (keys shared between items) and for batches of 7. Exit 0 when all agree, 1 on a difference
 * (each one printed), 2 on a usage or vectors-file error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_native.h"
#include "ed25519/ed25519_batch.h"

#define SMALL_CAP 16   /* the least the scanner accepts (see agent_native.h) */
#define MAX_FIELDS 65536

typedef struct bytes {
    unsigned char *p;
    size_t n;
    int present;  /* 0 for "-" (not recorded) */
} bytes;

typedef struct phi_case {
    bytes text, h8, scrubbed;
    phi_span *spans;
    size_t nspans;
    size_t line;
} phi_case;

typedef struct ed_case {
    bytes key, sig, hram;
    int verdict;
    size_t line;
} ed_case;

static size_t failures;

static void fail(size_t line, const char *what)
{
    failures++;
    if (failures <= 20) fprintf(stderr, "driver: vectors line %zu: %s\n", line, what);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);  /* zeroed: no read of uninitialized memory, ever */
    if (!p) {
        fprintf(stderr, "driver: out of memory\n");
        exit(2);
    }
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "x<hex>" -> bytes, "-" -> not present; 0 on a malformed field. */
static int parse_bytes(const char *f, bytes *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(f, "-") == 0) return 1;
    if (f[0] != 'x') return 0;
    size_t len = strlen(f + 1);
    if (len % 2) return 0;
    out->p = xmalloc(len / 2);
    out->n = len / 2;
    out->present = 1;
    for (size_t i = 0; i < out->n; i++) {
        int hi = hexval(f[1 + 2 * i]), lo = hexval(f[2 + 2 * i]);
        if (hi < 0 || lo < 0) return 0;
        out->p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 1;
}

static int parse_size(const char *f, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(f, &end, 10);
    if (*f == '\0' || *end != '\0') return 0;
    *out = (size_t)v;
    return 1;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        cap *= 2;
        char *grown = realloc(buf, cap);
        if (!grown) {
            fprintf(stderr, "driver: out of memory\n");
            exit(2);
        }
        buf = grown;
    }
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* Split one line in place into whitespace-separated fields. */
static size_t split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        if (n == max) return max + 1;
        fields[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
        if (*p) *p++ = '\0';
    }
    return n;
}

static int parse_phi(char **f, size_t nf, size_t line, phi_case *c)
{
    size_t n;
    if (nf < 5 || !parse_bytes(f[1], &c->text) || !c->text.present || !parse_size(f[2], &n)
        || n > (nf - 5) / 3 || nf != 5 + 3 * n)
        return 0;
    c->spans = xmalloc(n * sizeof *c->spans);
    c->nspans = n;
    c->line = line;
    for (size_t i = 0; i < n; i++) {
        if (!parse_size(f[3 + 3 * i], &c->spans[i].tag) || !parse_size(f[4 + 3 * i], &c->spans[i].start)
            || !parse_size(f[5 + 3 * i], &c->spans[i].end))
            return 0;
    }
    return parse_bytes(f[3 + 3 * n], &c->h8) && parse_bytes(f[4 + 3 * n], &c->scrubbed)
           && (!c->h8.present || c->h8.n == 8 * n);
}

static int parse_ed(char **f, size_t nf, size_t line, ed_case *c)
{
    c->line = line;
    return nf == 5 && parse_bytes(f[1], &c->key) && c->key.n == 32 && parse_bytes(f[2], &c->sig)
           && c->sig.n == 64 && parse_bytes(f[3], &c->hram) && c->hram.n == 64
           && (strcmp(f[4], "0") == 0 || strcmp(f[4], "1") == 0) && ((c->verdict = f[4][0] - '0'), 1);
}

static int same_spans(const phi_span *a, const phi_span *b, size_t n, size_t shift)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].tag != b[i].tag || a[i].start != b[i].start + shift || a[i].end != b[i].end + shift)
            return 0;
    }
    return 1;
}

/* ---- PHI ------------------------------------------------------------------------------------ */

static size_t phi_one(const phi_case *c, phi_span *big, size_t big_cap)
{
    const unsigned char *t = c->text.p;
    size_t len = c->text.n, next = 0, renders = 0;
    size_t got = phi_scan(t, len, 0, big, big_cap, &next);
    if (next != len || got != c->nspans || !same_spans(big, c->spans, got, 0))
        fail(c->line, "phi_scan: spans differ from the reference's");

    phi_span small[SMALL_CAP];
    size_t total = 0, from = 0;
    int ok = 1;
    while (ok) {
        got = phi_scan(t, len, from, small, SMALL_CAP, &next);
        if (total + got > c->nspans || !same_spans(small, c->spans + total, got, 0)
            || (got == 0 && next == from && next < len) || next < from)
            ok = 0;
        total += got;
        if (next >= len) break;
        from = next;
    }
    if (!ok || total != c->nspans) fail(c->line, "phi_scan (resumed, 16 spans a call): spans differ");

    if (c->scrubbed.present && c->h8.present) {
        size_t offs[2] = {0, len}, nch = 0;
        size_t *lines = xmalloc(c->nspans * sizeof *lines);
        memset(lines, 0, c->nspans * sizeof *lines);
        size_t need = phi_render(t, offs, 1, 0, c->spans, lines, c->nspans, c->h8.p, NULL, 0, NULL, NULL, &nch);
        unsigned char *out = xmalloc(need == (size_t)-1 ? 1 : need);
        size_t changed[1], out_offs[2];
        size_t wrote = need == (size_t)-1 ? need
                       : phi_render(t, offs, 1, 0, c->spans, lines, c->nspans, c->h8.p, out, need,
                                    changed, out_offs, &nch);
        int same;
        if (c->nspans == 0)  /* no span: nothing rendered, the text is its own scrub */
            same = wrote == 0 && nch == 0 && c->scrubbed.n == len && memcmp(c->scrubbed.p, t, len) == 0;
        else
            same = wrote == need && nch == 1 && wrote == c->scrubbed.n
                   && memcmp(out, c->scrubbed.p, wrote) == 0;
        if (!same) fail(c->line, "phi_render: output differs from the reference scrubber's");
        renders++;
        free(out);
        free(lines);
    }
    return renders;
}

/* Every text in one phi_scan_batch call (texts laid end to end, sep 0). */
static void phi_batch(const phi_case *cases, size_t n)
{
    size_t total_len = 0, total_spans = 0;
    for (size_t i = 0; i < n; i++) {
        total_len += cases[i].text.n;
        total_spans += cases[i].nspans;
    }
    unsigned char *buf = xmalloc(total_len);
    size_t *offs = xmalloc((n + 1) * sizeof *offs);
    offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + offs[i], cases[i].text.p, cases[i].text.n);
        offs[i + 1] = offs[i] + cases[i].text.n;
    }
    size_t cap = total_spans + SMALL_CAP, count = 0;
    phi_span *spans = xmalloc(cap * sizeof *spans);
    size_t *lines = xmalloc(cap * sizeof *lines);
    size_t done = phi_scan_batch(buf, offs, n, 0, 0, spans, lines, cap, &count);
    if (done != n || count != total_spans) {
        fail(0, "phi_scan_batch: not every text scanned, or another number of spans");
    } else {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const phi_case *c = &cases[i];
            int ok = same_spans(spans + k, c->spans, c->nspans, offs[i]);
            for (size_t j = 0; ok && j < c->nspans; j++) ok = lines[k + j] == i;
            if (!ok) fail(c->line, "phi_scan_batch: spans differ from the reference's");
            k += c->nspans;
        }
    }
    free(buf);
    free(offs);
    free(spans);
    free(lines);
}

/* ---- Ed25519 -------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t splitmix64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Verifies cases[0..n) as one batch (distinct keys folded) and compares every verdict. */
static void ed_batch(const ed_case *cases, size_t n, const char *what)
{
    unsigned char *keys = xmalloc(32 * n), *sigs = xmalloc(64 * n), *hashes = xmalloc(64 * n);
    unsigned char *coeffs = xmalloc(16 * n), *verdicts = xmalloc(n);
    size_t *index = xmalloc(n * sizeof *index), nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nkeys && memcmp(keys + 32 * k, cases[i].key.p, 32) != 0) k++;
        if (k == nkeys) memcpy(keys + 32 * nkeys++, cases[i].key.p, 32);
        index[i] = k;
        memcpy(sigs + 64 * i, cases[i].sig.p, 64);
        memcpy(hashes + 64 * i, cases[i].hram.p, 64);
        for (size_t j = 0; j < 16; j += 8) {
            uint64_t r = splitmix64();
            memcpy(coeffs + 16 * i + j, &r, 8);
        }
    }
    int rc = ed25519_verify_batch(keys, nkeys, index, sigs, hashes, coeffs, n, verdicts);
    if (rc != 0) {
        fail(cases[0].line, what);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (verdicts[i] != cases[i].verdict) fail(cases[i].line, what);
        }
    }
    free(keys);
    free(sigs);
    free(hashes);
    free(coeffs);
    free(verdicts);
    free(index);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTORS (written by tools/gen_native_vectors.py)\n", argv[0]);
        return 2;
    }
    char *text = read_file(argv[1]);
    size_t nlines = 1;
    for (char *p = text; *p; p++) nlines += *p == '\n';
    phi_case *phi = xmalloc(nlines * sizeof *phi);
    ed_case *ed = xmalloc(nlines * sizeof *ed);
    char **fields = xmalloc((MAX_FIELDS + 1) * sizeof *fields);
    size_t nphi = 0, ned = 0, lineno = 0;
    for (char *line = text; line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        lineno++;
        size_t nf = split(line, fields, MAX_FIELDS);
        int ok = 1;
        if (nf == 0 || fields[0][0] == '#')
            ;
        else if (nf > MAX_FIELDS)
            ok = 0;
        else if (strcmp(fields[0], "P") == 0)
            ok = parse_phi(fields, nf, lineno, &phi[nphi++]);
        else if (strcmp(fields[0], "E") == 0)
            ok = parse_ed(fields, nf, lineno, &ed[ned++]);
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "driver: %s line %zu: malformed\n", argv[1], lineno);
            return 2;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (nphi == 0 || ned == 0) {
        fprintf(stderr, "driver: %s has no PHI or no Ed25519 cases\n", argv[1]);
        return 2;
    }

    unsigned tags = phi_tag_count();
    size_t max_spans = 0, nspans = 0, renders = 0;
    for (size_t i = 0; i < nphi; i++) {
        nspans += phi[i].nspans;
        if (phi[i].nspans > max_spans) max_spans = phi[i].nspans;
        for (size_t j = 0; j < phi[i].nspans; j++) {
            if (phi[i].spans[j].tag >= tags || !phi_tag_name((unsigned)phi[i].spans[j].tag))
                fail(phi[i].line, "a recorded tag the C core does not know");
        }
    }
    phi_span *big = xmalloc((max_spans + SMALL_CAP) * sizeof *big);
    for (size_t i = 0; i < nphi; i++) renders += phi_one(&phi[i], big, max_spans + SMALL_CAP);
    phi_batch(phi, nphi);
    printf("phi: %zu cases, %zu spans, %zu scrubbed outputs rebuilt, one batch of all: %s\n", nphi,
           nspans, renders, failures ? "FAILED" : "ok");

    size_t before = failures, accepted = 0, batches = 0;
    for (size_t i = 0; i < ned; i++) {
        accepted += (size_t)ed[i].verdict;
        ed_batch(&ed[i], 1, "ed25519: the verdict of the item alone differs from libsodium's");
    }
    ed_batch(ed, ned, "ed25519: a verdict in the batch of all items differs from libsodium's");
    for (size_t i = 0; i < ned; i += 7, batches++)
        ed_batch(&ed[i], ned - i < 7 ? ned - i : 7, "ed25519: a verdict in a batch of 7 differs");
    printf("ed25519: %zu cases (%zu valid, %zu invalid), alone, one batch of all, %zu batches of 7: %s\n",
           ned, accepted, ned - accepted, batches, failures > before ? "FAILED" : "ok");
    if (failures) {
        fprintf(stderr, "driver: %zu differences\n", failures);
        return 1;
    }
    return 0;
}
