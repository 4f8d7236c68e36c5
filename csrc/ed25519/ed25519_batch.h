/*
 * Public C API of the Ed25519 batch verifier (csrc/ed25519/). Parsed by cffi like
 * csrc/agent_native.h: plain declarations only (lines starting with '#' are dropped).
 */
#ifndef ED25519_BATCH_H
#define ED25519_BATCH_H
#include <stddef.h>

/* Verifies n Ed25519 signatures with the verdicts of libsodium's crypto_sign_verify_detached.
 *   keys       nkeys distinct 32-byte public keys, laid end to end
 *   key_index  n indexes into keys: item i is signed by key key_index[i]
 *   sigs       n 64-byte signatures R || s
 *   hashes     n 64-byte SHA-512(R || A || message) digests (the caller hashes the messages)
 *   coeffs     n 16-byte random coefficients (fresh from the OS for every call)
 *   verdicts   n bytes out: 1 valid, 0 invalid
 * Returns 0, -1 when a key index is out of range, -2 when memory runs out. Holds no state
 * between calls; safe to call from several threads at once. */
int ed25519_verify_batch(const unsigned char *keys, size_t nkeys, const size_t *key_index,
                         const unsigned char *sigs, const unsigned char *hashes,
                         const unsigned char *coeffs, size_t n, unsigned char *verdicts);

#endif
