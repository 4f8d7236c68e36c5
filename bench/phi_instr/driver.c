/*
 * Instruction-count driver of the native PHI scanner (bench/phi_instr/run.sh): scans a batch of
 * NUL-separated texts with phi_scan_batch, the way scrub_many hands them over, and prints the
 * number of spans and a hash of them (the same input must give the same line before and after
 * a change of the scanner). Instruction counts are repeatable on a loaded machine; wall time
 * is not.
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent_native.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: driver FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) return 2;
    long len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) return 2;
    unsigned char *buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) return 2;
    fclose(f);
    size_t n = 1;
    for (long i = 0; i < len; i++) n += buf[i] == 0;
    size_t *off = malloc((n + 1) * sizeof *off);
    size_t cap = (size_t)len / 4 + 64, count = 0;
    phi_span *out = malloc(cap * sizeof *out);
    size_t *lines = malloc(cap * sizeof *lines);
    if (off == NULL || out == NULL || lines == NULL) return 2;
    if (phi_split(buf, (size_t)len, off, n) != n - 1) return 3;
    if (phi_scan_batch(buf, off, n, 1, 0, out, lines, cap, &count) != n) return 3;
    unsigned long long h = 0;
    for (size_t k = 0; k < count; k++) h = h * 31 + out[k].tag * 7 + out[k].start * 13 + out[k].end;
    printf("texts %zu spans %zu hash %llx\n", n, count, h);
    return 0;
}
