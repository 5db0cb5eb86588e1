/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Loads the keys, clinics and callers files of a registry
 * (tools/gen-registry.py) the way the module does at configuration time,
 * and matches a caller allowed every clinic by its org code against the
 * last clinic, beside a caller allowed "*":
 *
 *     bench_registry DIR
 *
 * prints
 *
 *     BENCH registry_load clinics=<n> keys=<n> seconds=<x>
 *     BENCH caller_match list=<n> list_ns=<x> star_ns=<x>
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yibao_registry.h"


#define BENCH_MATCHES  1000000


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void *
bench_alloc(void *ctx, size_t size)
{
    (void) ctx;

    return malloc(size);
}


static unsigned char *
bench_read(const char *dir, const char *name, size_t *len)
{
    char            path[4096];
    FILE           *f;
    long            n;
    unsigned char  *p;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    p = malloc(n + 1);
    if (p == NULL || fread(p, 1, n, f) != (size_t) n) {
        exit(1);
    }

    fclose(f);
    *len = (size_t) n;

    return p;
}


int
main(int argc, char **argv)
{
    char                   *callers, *q;
    size_t                  klen, clen, i, n;
    double                  t0, t1, t2, t3;
    unsigned char          *kdata, *cdata;
    yibao_err_t             err;
    yibao_alloc_t           a;
    yibao_keys_t           *keys;
    yibao_clinics_t        *clinics;
    yibao_callers_t        *cs;
    const yibao_clinic_t   *last;
    const yibao_caller_t   *list, *star;
    volatile int            ok;

    if (argc != 2) {
        fprintf(stderr, "usage: bench_registry DIR\n");
        return 2;
    }

    memset(&a, 0, sizeof(a));
    a.alloc = bench_alloc;
    memset(&err, 0, sizeof(err));

    kdata = bench_read(argv[1], "keys.tsv", &klen);
    cdata = bench_read(argv[1], "clinics.tsv", &clen);

    t0 = bench_now();
    keys = yibao_keys_parse(kdata, klen, &a, &err);
    clinics = keys ? yibao_clinics_parse(cdata, clen, keys, &a, &err) : NULL;
    t1 = bench_now();

    if (clinics == NULL) {
        fprintf(stderr, "line %zu: %s\n", err.line, err.msg);
        return 1;
    }

    n = yibao_clinics_count(clinics);

    printf("BENCH registry_load clinics=%zu keys=%zu seconds=%.3f\n", n,
           yibao_keys_count(keys), t1 - t0);

    /* a caller allowed every clinic by its org code, one allowed "*" */

    callers = malloc(n * 23 + 256);
    q = callers + sprintf(callers, "list\tbench-caller-secret-0001\t");

    for (i = 0; i < n; i++) {
        memcpy(q, yibao_clinics_at(clinics, i)->org_code.data, 22);
        q += 22;
        *q++ = ',';
    }

    q[-1] = '\t';
    q += sprintf(q, "*\nstar\tbench-caller-secret-0002\t*\t*\n");

    cs = yibao_callers_parse((unsigned char *) callers, q - callers, &a,
                             &err);
    if (cs == NULL) {
        fprintf(stderr, "callers line %zu: %s\n", err.line, err.msg);
        return 1;
    }

    list = yibao_callers_find(cs, (unsigned char *) "list", 4);
    star = yibao_callers_find(cs, (unsigned char *) "star", 4);
    last = yibao_clinics_at(clinics, n - 1);

    t1 = bench_now();
    for (i = 0; i < BENCH_MATCHES; i++) {
        ok = yibao_caller_allowed(list, last, (unsigned char *) "1101", 4,
                                  NULL);
    }
    t2 = bench_now();
    for (i = 0; i < BENCH_MATCHES; i++) {
        ok = yibao_caller_allowed(star, last, (unsigned char *) "1101", 4,
                                  NULL);
    }
    t3 = bench_now();

    (void) ok;

    printf("BENCH caller_match list=%zu list_ns=%.1f star_ns=%.1f\n", n,
           (t2 - t1) * 1e9 / BENCH_MATCHES, (t3 - t2) * 1e9 / BENCH_MATCHES);

    return 0;
}
