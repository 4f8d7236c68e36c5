/*
 * Instruction-count driver of the Ed25519 batch verifier (csrc/ed25519/), for callgrind:
 *
 *   ed25519_count N KEYS     N valid signatures of 100-byte messages, KEYS distinct keys
 *                            (1: one shared key), verified with one ed25519_verify_batch call
 *
 * Built and run by bench/native/ed25519_callgrind.sh, which counts the instructions spent inside
 * ed25519_verify_batch only (signing and hashing, done here with libsodium, are not counted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ed25519/ed25519_batch.h"

#define MSG_LEN 100

int main(int argc, char **argv)
{
    if (argc != 3 || sodium_init() < 0) return 2;
    size_t n = strtoul(argv[1], NULL, 10), nkeys = strtoul(argv[2], NULL, 10);
    if (n == 0 || nkeys == 0 || nkeys > n) return 2;
    unsigned char *pks = malloc(32 * nkeys), *sks = malloc(64 * nkeys), *sigs = malloc(64 * n);
    unsigned char *hashes = malloc(64 * n), *coeffs = malloc(16 * n), *verdicts = malloc(n);
    size_t *index = malloc(n * sizeof *index);
    if (!pks || !sks || !sigs || !hashes || !coeffs || !verdicts || !index) return 2;
    for (size_t j = 0; j < nkeys; j++) crypto_sign_keypair(pks + 32 * j, sks + 64 * j);
    for (size_t i = 0; i < n; i++) {
        unsigned char msg[MSG_LEN];
        crypto_hash_sha512_state st;
        index[i] = i % nkeys;
        randombytes_buf(msg, sizeof msg);
        crypto_sign_detached(sigs + 64 * i, NULL, msg, sizeof msg, sks + 64 * index[i]);
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, sigs + 64 * i, 32);
        crypto_hash_sha512_update(&st, pks + 32 * index[i], 32);
        crypto_hash_sha512_update(&st, msg, sizeof msg);
        crypto_hash_sha512_final(&st, hashes + 64 * i);
    }
    randombytes_buf(coeffs, 16 * n);
    if (ed25519_verify_batch(pks, nkeys, index, sigs, hashes, coeffs, n, verdicts) != 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (!verdicts[i]) {
            fprintf(stderr, "item %zu refused\n", i);
            return 1;
        }
    free(index);
    free(verdicts);
    free(coeffs);
    free(hashes);
    free(sigs);
    free(sks);
    free(pks);
    return 0;
}
