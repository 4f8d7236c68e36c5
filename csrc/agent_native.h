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

/* Number of tags the scanner reports (for a consistency check against the Python table). */
unsigned int phi_tag_count(void);
