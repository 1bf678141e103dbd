/*
 * Baseline for test/bench/tpm.bench.ts: Esys_Sign (RSASSA-SHA256, password session) in a loop
 * over a persistent key, straight from C, timing each call.
 *
 *   esys-sign-loop <tcti> <handle> <count> [warmup]
 *
 * Prints one line per measured signature with its latency in milliseconds, then
 * "median <ms>" on the last line. Exit status 0 on success, 1 on a TSS error (stderr says which).
 *
 * Build: cc -O2 -o esys-sign-loop esys-sign-loop.c -ltss2-esys -ltss2-tctildr
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what, TSS2_RC rc) {
    fprintf(stderr, "esys-sign-loop: %s failed: 0x%08x\n", what, rc);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: esys-sign-loop <tcti> <handle> <count> [warmup]\n");
        return 2;
    }
    const char *conf = argv[1];
    uint32_t handle = (uint32_t)strtoul(argv[2], NULL, 0);
    long count = strtol(argv[3], NULL, 10);
    long warmup = argc > 4 ? strtol(argv[4], NULL, 10) : 20;
    if (count <= 0 || count > 1000000 || warmup < 0 || warmup > 100000) {
        fprintf(stderr, "esys-sign-loop: count must be 1..1000000, warmup 0..100000\n");
        return 2;
    }

    TSS2_TCTI_CONTEXT *tcti = NULL;
    ESYS_CONTEXT *ctx = NULL;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &tcti);
    if (rc != TSS2_RC_SUCCESS) return fail("Tss2_TctiLdr_Initialize", rc);
    rc = Esys_Initialize(&ctx, tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) return fail("Esys_Initialize", rc);

    ESYS_TR key = ESYS_TR_NONE;
    rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &key);
    if (rc != TSS2_RC_SUCCESS) return fail("Esys_TR_FromTPMPublic", rc);

    TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 };
    TPMT_TK_HASHCHECK validation = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL, .digest.size = 0 };
    TPM2B_DIGEST digest = { .size = 32 };
    double *times = calloc((size_t)count, sizeof(double));
    if (times == NULL) return 1;

    for (long i = 0; i < warmup + count; i++) {
        /* A different digest each time, as the binding's benchmark signs. */
        memset(digest.buffer, 0, sizeof digest.buffer);
        memcpy(digest.buffer, &i, sizeof i);
        TPMT_SIGNATURE *signature = NULL;
        double start = now_ms();
        rc = Esys_Sign(ctx, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme, &validation, &signature);
        double elapsed = now_ms() - start;
        if (rc != TSS2_RC_SUCCESS) return fail("Esys_Sign", rc);
        Esys_Free(signature);
        if (i >= warmup) times[i - warmup] = elapsed;
    }

    for (long i = 0; i < count; i++) printf("%.4f\n", times[i]);
    qsort(times, (size_t)count, sizeof(double), cmp_double);
    double median = count % 2 ? times[count / 2] : (times[count / 2 - 1] + times[count / 2]) / 2;
    printf("median %.4f\n", median);

    free(times);
    Esys_TR_Close(ctx, &key);
    Esys_Finalize(&ctx);
    Tss2_TctiLdr_Finalize(&tcti);
    return 0;
}
