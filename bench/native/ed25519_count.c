/*
 * Instruction-count driver of the Ed25519 batch verifier (csrc/ed25519/), for callgrind:
 *
 *   ed25519_count N KEYS     N valid signatures of 100-byte messages, KEYS distinct keys
 *                            (1: one shared key), verified with one ed25519_verify_batch call
 *   ed25519_count N KEYS R   the same call R times; prints the median CPU microseconds per
 *                            signature (clock(), this process only)
 *
 * Built and run by bench/native/ed25519_callgrind.sh, which counts the instructions spent inside
 * ed25519_verify_batch only (signing and hashing, done here with libsodium, are not counted).
 */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ed25519/ed25519_batch.h"

#define MSG_LEN 100

int main(int argc, char **argv)
{
    if ((argc != 3 && argc != 4) || sodium_init() < 0) return 2;
    size_t n = strtoul(argv[1], NULL, 10), nkeys = strtoul(argv[2], NULL, 10);
    size_t reps = argc == 4 ? strtoul(argv[3], NULL, 10) : 0;
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
    if (reps > 0) {
        double *us = malloc(reps * sizeof *us);
        if (!us) return 2;
        for (size_t r = 0; r < reps; r++) {
            clock_t c0 = clock();
            if (ed25519_verify_batch(pks, nkeys, index, sigs, hashes, coeffs, n, verdicts) != 0) return 1;
            us[r] = (double)(clock() - c0) / CLOCKS_PER_SEC * 1e6 / (double)n;
        }
        for (size_t a = 1; a < reps; a++) /* insertion sort: reps is small */
            for (size_t b = a; b > 0 && us[b - 1] > us[b]; b--) {
                double t = us[b];
                us[b] = us[b - 1];
                us[b - 1] = t;
            }
        printf("%.2f\n", us[reps / 2]);
        free(us);
    }
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
