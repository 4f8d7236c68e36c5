/*
 * What the files of the native PHI core share (not part of the API in agent_native.h): the tags
 * (generated), the "no position" marker, the hash width of a token, the FNV-1a loop, and the
 * checks of a batch's text offsets.
 *
 *   phi_scan.c       the scan: dispatch by position, anchors, the scan API and phi_scanner
 *   phi_prefilter.c  the candidate filters (SSE2 windows; the portable byte filter)
 *   phi_rules_*.c    the rules by family (phi_rules.def; tables in phi_dispatch.h, generated)
 *   phi_render.c     tokens: the renderer and the de-duplication of span values
 *   phi_h8cache.c    token hashes kept between calls
 */
#ifndef PHI_INTERNAL_H
#define PHI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "agent_native.h"
#include "phi_tags.h"

#define NOPE ((size_t)-1)
#define PHI_H8 8 /* hex characters of a token hash */

/* FNV-1a over len bytes from the basis h (each user adds its own basis and final mix). */
static inline uint64_t phi_fnv1a(const unsigned char *b, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

/* End of text i of a batch: before the separator that follows it, if any. */
static inline size_t text_end(const size_t *offsets, size_t i, size_t sep) { return offsets[i + 1] - sep; }

/* Texts first..n-1 of a batch are in order and each at least as long as its separator. */
static inline int offsets_ok(const size_t *offsets, size_t first, size_t n, size_t sep)
{
    if (sep > 1) return 0;
    for (size_t i = first; i < n; i++)
        if (offsets[i + 1] < offsets[i] || offsets[i + 1] - offsets[i] < sep) return 0;
    return 1;
}

#endif
