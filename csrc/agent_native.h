/*
 * Public C API of the msp-agent native core.
 *
 * This header is parsed by cffi (see src/agent/_native_build.py) and must therefore contain
 * only plain declarations: no preprocessor conditionals, no macros, no inline functions.
 * Each module of the core (selftest.c, phi_*.c, ...) declares its functions here.
 */

/* selftest.c: returns a fixed value derived from x so the binding can be smoke-tested. */
unsigned int agent_native_selftest(unsigned int x);
/* selftest.c: ABI version of this header; bumped when a declaration changes. */
unsigned int agent_native_abi_version(void);

/* ---- PHI scanner (phi_scan.c; semantics in src/agent/phi/reference.py) ---- */
#include <stddef.h>

/* One redaction span: tag index (agent.phi.rules.TAGS) and byte offsets [start, end). */
typedef struct phi_span {
    size_t tag;
    size_t start;
    size_t end;
} phi_span;

/* Scan text[0..len) from byte `from` (where a previous call stopped, else 0). Writes at most
 * `cap` spans to `out` and returns how many; *next is where the scan stopped (len when the
 * whole text was scanned; less when `out` was full: call again from *next). `cap` must be at
 * least 16, the most spans one match yields, for every call to make progress. */
size_t phi_scan(const unsigned char *text, size_t len, size_t from, phi_span *out, size_t cap, size_t *next);

/* Scan n texts; text i is buf[offsets[i]..offsets[i+1]). Spans of text 0, then text 1, ... go
 * to `out` (at most `cap` in all); counts[i] receives the number of spans of text i. Returns the
 * number of texts scanned (< n when `out` filled up: call again for the rest), or (size_t)-1
 * when the offsets are not ascending. One call scans the whole batch without the GIL. */
size_t phi_scan_many(const unsigned char *buf, const size_t *offsets, size_t n, phi_span *out, size_t cap, size_t *counts);

/* Like phi_scan, but stops at the first position at or after `stop` that the scan stands on
 * (`stop`, or the end of a match that runs across it): *next receives it. The scan depends only
 * on the position it stands on, so a scan from `from` = any such position of another scan
 * continues exactly like it (this splits one long text between threads). */
size_t phi_scan_range(const unsigned char *text, size_t len, size_t from, size_t stop, phi_span *out, size_t cap, size_t *next);

/* Offsets of n texts joined by NUL bytes in buf[0..len): offsets[i] = start of text i, and
 * offsets[n] = len + 1, so that text i is buf[offsets[i]..offsets[i+1] - 1) (sep = 1 below).
 * `offsets` has room for n + 1. Returns the number of NUL bytes found (n - 1 when the layout
 * is as expected; the offsets are then complete), or (size_t)-1 for bad arguments. */
size_t phi_split(const unsigned char *buf, size_t len, size_t *offsets, size_t n);

/* Like phi_scan_many, for texts first..n-1 of buf, where text i is
 * buf[offsets[i]..offsets[i+1] - sep) (sep is 0 for texts laid end to end, 1 for texts joined
 * by a separator byte), with span offsets into buf (not into the text) and lines[k] = the index
 * of the text of out[k]. *count receives the number of spans written. Returns the index of the
 * first text not scanned (n when all were; less when `out` filled up: call again from there
 * with a larger `out`), or (size_t)-1 when the offsets are not ascending or first > n. */
size_t phi_scan_batch(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, size_t first, phi_span *out, size_t *lines, size_t cap, size_t *count);

/* The texts that have spans (texts as in phi_scan_batch), with each span (from phi_scan_batch)
 * replaced by its token: "[<TAG>-REDACTED-" + 8 bytes h8[8k..8k+8) + "]" for span k, or
 * "[SECRET-REDACTED]". With out == NULL, returns the size of the output only. Otherwise writes
 * the changed texts one after another to out: the j-th is text changed[j], at
 * out[out_offsets[j]..out_offsets[j+1]); *nchanged receives their number (changed and
 * out_offsets need room for one per distinct text, plus one offset). Returns the bytes
 * written, or (size_t)-1 when the spans are not ascending and inside their texts or out_cap is
 * too small. */
size_t phi_render(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, const phi_span *spans, const size_t *lines, size_t nspans, const unsigned char *h8, unsigned char *out, size_t out_cap, size_t *changed, size_t *out_offsets, size_t *nchanged);

/* phi_render with the hash of span k at h8[8 * ids[k]..) (ids == NULL: ids[k] = k), for the
 * nh8 hashes of the distinct values (phi_dedupe). (size_t)-1 also when some ids[k] >= nh8. */
size_t phi_render_ids(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, const phi_span *spans, const size_t *lines, size_t nspans, const size_t *ids, size_t nh8, const unsigned char *h8, unsigned char *out, size_t out_cap, size_t *changed, size_t *out_offsets, size_t *nchanged);

/* The distinct (tag, bytes of buf) values of nspans spans (offsets into buf[0..len)): uniq[j] is
 * the first span of value j, ids[k] the value of span k (uniq and ids have room for nspans).
 * `table` is scratch of tcap entries (a power of two, at least 2); it remembers tcap / 2 values,
 * later new ones get an id of their own each time (so a value can have several ids). Returns
 * the number of ids used, or (size_t)-1 for bad arguments (a span outside buf, a bad table). */
size_t phi_dedupe(const unsigned char *buf, size_t len, const phi_span *spans, size_t nspans, size_t *ids, phi_span *uniq, size_t *table, size_t tcap);

/* ---- one scanner's context (phi_scanner.c) ---- */

/* The buffers of one scanner: spans, distinct values and rendered texts of the last scrub, owned
 * by the scanner and grown as needed (a scanner is used by one thread at a time). */
typedef struct phi_scanner phi_scanner;

/* What a scanner holds (valid until its next call): spans of the texts scanned since the last
 * clear, with their text index; the distinct values (phi_scanner_dedupe); the rendered texts
 * (phi_scanner_render: text changed[j] is out[out_offsets[j]..out_offsets[j+1])). */
typedef struct phi_scanner_view {
    const phi_span *spans;
    const size_t *lines;
    size_t count;
    const phi_span *uniq;
    const size_t *ids;
    size_t nuniq;
    const unsigned char *out;
    size_t out_len;
    const size_t *changed;
    const size_t *out_offsets;
    size_t nchanged;
} phi_scanner_view;

/* A new scanner (NULL when memory runs out); free it with phi_scanner_free. */
phi_scanner *phi_scanner_new(void);
void phi_scanner_free(phi_scanner *sc);

/* Forget the spans, values and output (the memory is kept for the next scrub). */
void phi_scanner_clear(phi_scanner *sc);

/* Scan texts first..last-1 of a batch (texts as in phi_scan_batch) and add their spans (offsets
 * into buf) to the scanner's. Returns the number of spans held, or (size_t)-1 for bad arguments
 * or when memory runs out. One call scans the whole batch without the GIL. */
size_t phi_scanner_scan(phi_scanner *sc, const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, size_t first, size_t last);

/* Like phi_scan_range into the scanner's spans (text index 0), growing them as needed: returns
 * the number of spans added, or (size_t)-1; *next is where the scan stopped. */
size_t phi_scanner_scan_range(phi_scanner *sc, const unsigned char *text, size_t len, size_t from, size_t stop, size_t *next);

/* Add the spans of `other` but its first `skip` to those of sc. Returns the number held, or
 * (size_t)-1. */
size_t phi_scanner_append(phi_scanner *sc, const phi_scanner *other, size_t skip);

/* The distinct values of the spans held (phi_dedupe, offsets into buf[0..len)), with a table of
 * at most max_table entries (a power of two, at least 2). Returns their number, or (size_t)-1. */
size_t phi_scanner_dedupe(phi_scanner *sc, const unsigned char *buf, size_t len, size_t max_table);

/* Render the texts that have spans (phi_render_ids, with the ids of phi_scanner_dedupe when it
 * ran, else one hash per span) into the scanner's output. Returns its size, or (size_t)-1. */
size_t phi_scanner_render(phi_scanner *sc, const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, const unsigned char *h8, size_t nh8);

/* The scanner's buffers (see phi_scanner_view). */
phi_scanner_view phi_scanner_results(const phi_scanner *sc);

/* ---- token hashes kept between calls (phi_h8cache.c) ---- */

/* One entry of a table of token hashes: the 8 hex characters of the token of (tag, value), for
 * values of at most 48 bytes. A table is `cap` entries (a power of two, at least 2) owned by the
 * caller, all zero when empty, filled for one key and hash mode only. */
typedef struct phi_h8_entry {
    unsigned long long hash;  /* 0: empty */
    unsigned int tag;
    unsigned int len;
    unsigned char value[48];
    unsigned char h8[8];
} phi_h8_entry;

/* For each of the n spans (offsets into buf[0..len)): the hash of its value from the table to
 * h8[8k..8k+8) (for a secret, whose token has no hash: "00000000"), else k to missing[]. Returns
 * the number of spans missing, or (size_t)-1 for bad arguments. Reads the table only. */
size_t phi_h8_get(const phi_h8_entry *table, size_t cap, const unsigned char *buf, size_t len, const phi_span *spans, size_t n, unsigned char *h8, size_t *missing);

/* The hashes of the m missing spans (phi_h8_get): found[8j..8j+8) is that of span missing[j]; it
 * is copied to h8[8 * missing[j]..) and stored in the table (not for secrets nor values over 48
 * bytes; the table is emptied first when three quarters full; *used counts its entries). Returns
 * the number of entries stored, or (size_t)-1 for bad arguments. */
size_t phi_h8_put(phi_h8_entry *table, size_t cap, size_t *used, const unsigned char *buf, size_t len, const phi_span *spans, size_t n, const size_t *missing, size_t m, const unsigned char *found, unsigned char *h8);

/* Name of a tag (agent.phi.rules.TAGS[tag]), or NULL for an unknown tag. */
const char *phi_tag_name(unsigned int tag);

/* Number of tags the scanner reports (for a consistency check against the Python table). */
unsigned int phi_tag_count(void);
