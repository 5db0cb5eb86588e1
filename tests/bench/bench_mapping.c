/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Loads a mapping table (tools/gen-mappings.py) the way the module does
 * at configuration time and measures:
 *
 *   seconds        reading the file, yibao_map_builder_add() and
 *                  yibao_map_build()
 *   bytes_per_row  yibao_map_bytes() / rows, and, as a cross-check, the
 *                  growth of the resident set (/proc/self/statm) over
 *                  the load, after the file's bytes are released
 *   lookup_ns      yibao_map_lookup() of existing local codes in random
 *                  order, each with a clinic's whole scope (org code,
 *                  entity, admdvs), so that the more specific scopes are
 *                  probed before the row's own
 *
 *     bench_mapping table.tsv [lookups]
 *
 * prints
 *
 *     BENCH mapping_load rows=<n> seconds=<x> bytes_per_row=<x>
 *         lookup_ns=<x>                                  (one line)
 *     BENCH mapping_rss bytes_per_row=<x>
 *     BENCH memory_load ns=<x> lookup_vs_load=<x>
 *
 * memory_load is the baseline of lookup_ns on this machine: one load
 * from memory that depends on the one before (a walk of a random cycle
 * over as many bytes as the map takes, so that nearly every load misses
 * the caches, as a lookup's do).  The lookups and the walk take turns
 * in BENCH_ROUNDS rounds; the figures are the medians, lookup_vs_load
 * the median of each round's ratio.  The builder's scratch (the rows
 * as read) is released once the map is built, as nginx releases its
 * temporary configuration pool.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yibao_map.h"
#include "yibao_tsv.h"


#define BENCH_LOOKUPS  2000000


typedef struct bench_block_s  bench_block_t;

struct bench_block_s {
    bench_block_t        *next;
    long double           align;
};


typedef struct {
    bench_block_t        *blocks;
    size_t                bytes;
} bench_pool_t;


/*
 * A lookup to make.  The code is held in the query (as a request holds
 * it); the dictionary and scope values point to their first occurrence
 * in the table (a few hundred distinct values, as a gateway's few
 * hundred clinics), so the harness itself adds no cache miss.
 */

#define BENCH_CODE_MAX  64

typedef struct {
    yibao_kind_e          kind;
    yibao_str_t           dict;
    yibao_map_scope_t     scope;
    yibao_str_t           code;
    unsigned char         admdvs[6];
    unsigned char         buf[BENCH_CODE_MAX];
} bench_query_t;


static double bench_now(void);


#define BENCH_ROUNDS  7


/* a random cycle through every word of bytes of memory, or NULL */

static size_t *
bench_memory_cycle(size_t bytes)
{
    size_t     n, i, j, t, *next;
    uint64_t   x;

    n = bytes / sizeof(size_t);
    if (n < 2) {
        return NULL;
    }

    next = malloc(n * sizeof(size_t));
    if (next == NULL) {
        return NULL;
    }

    /* Sattolo's shuffle: one cycle through every element */

    for (i = 0; i < n; i++) {
        next[i] = i;
    }

    x = 88172645463325252ULL;

    for (i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j = (size_t) (x % i);
        t = next[i];
        next[i] = next[j];
        next[j] = t;
    }

    return next;
}


/* ns per dependent load: steps loads along the cycle, from *k on */

static double
bench_memory_walk(const size_t *next, size_t steps, size_t *k)
{
    size_t  i, j;
    double  t0, t1;

    j = *k;
    t0 = bench_now();

    for (i = 0; i < steps; i++) {
        j = next[j];
    }

    /* the walk is over before the clock is read again */

    __asm__ __volatile__ ("" : : "r" (j) : "memory");

    t1 = bench_now();
    *k = j;

    return steps ? (t1 - t0) * 1e9 / steps : 0.0;
}


static int
bench_cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static void *
bench_pool_alloc(void *ctx, size_t size)
{
    bench_pool_t   *pool = ctx;

    bench_block_t  *b;

    /* like an nginx pool's large blocks: one malloc() each */

    b = malloc(sizeof(bench_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = pool->blocks;
    pool->blocks = b;
    pool->bytes += size;

    return b + 1;
}


static void
bench_pool_free(bench_pool_t *pool)
{
    bench_block_t  *b, *next;

    for (b = pool->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }

    pool->blocks = NULL;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static size_t
bench_rss(void)
{
    FILE           *f;
    unsigned long   size, resident;

    f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return 0;
    }

    if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
        resident = 0;
    }

    fclose(f);

    return resident * (size_t) sysconf(_SC_PAGESIZE);
}


static unsigned char *
bench_read(const char *path, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        exit(2);
    }

    data = malloc(n ? n : 1);
    if (data == NULL || fread(data, 1, n, f) != (size_t) n) {
        perror(path);
        exit(2);
    }

    fclose(f);
    *len = n;

    return data;
}


static uint64_t
bench_random(uint64_t *state)
{
    /* xorshift64* */

    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;

    return *state * 2685821657736338717ull;
}


/* values of a scope field: the ones seen in the table, to pick from */

typedef struct {
    yibao_str_t          *v;
    size_t                n;
} bench_values_t;


static yibao_str_t
bench_values_add(bench_values_t *vals, const unsigned char *p, size_t len)
{
    size_t  i;

    /* the tables have a few hundred entities and clinics */

    for (i = 0; i < vals->n; i++) {
        if (vals->v[i].len == len && memcmp(vals->v[i].data, p, len) == 0) {
            return vals->v[i];
        }
    }

    vals->v[vals->n].data = p;
    vals->v[vals->n].len = len;

    return vals->v[vals->n++];
}


int
main(int argc, char **argv)
{
    int                   found;
    double                t0, t1, t2, t3, lookups[BENCH_ROUNDS],
                          loads[BENCH_ROUNDS], ratios[BENCH_ROUNDS];
    size_t                len, len2, nrows, i, n, nq, rss0, rss1, hits, r, k,
                         *cycle;
    uint64_t              rnd;
    yibao_err_t           err;
    yibao_map_t          *map;
    yibao_str_t           line, f[5];
    yibao_tsv_t           tsv;
    bench_pool_t          pool, scratch;
    unsigned char        *data, *data2;
    yibao_alloc_t         alloc, scratch_alloc;
    bench_query_t        *rows, *queries, *q;
    bench_values_t        entities, clinics, dicts;
    yibao_map_hit_t       hit;
    yibao_map_builder_t  *b;

    static const unsigned char  admdvs[] = "370102";

    if (argc < 2) {
        fprintf(stderr, "usage: %s table.tsv [lookups]\n", argv[0]);
        return 2;
    }

    nq = (argc > 2) ? strtoul(argv[2], NULL, 10) : BENCH_LOOKUPS;

    /* the queries, from a copy of the table read before the load */

    data = bench_read(argv[1], &len);
    n = yibao_tsv_max_lines(data, len);

    rows = calloc(n ? n : 1, sizeof(bench_query_t));
    entities.v = calloc(n ? n : 1, sizeof(yibao_str_t));
    clinics.v = calloc(n ? n : 1, sizeof(yibao_str_t));
    dicts.v = calloc(n ? n : 1, sizeof(yibao_str_t));
    entities.n = 0;
    clinics.n = 0;
    dicts.n = 0;

    if (rows == NULL || entities.v == NULL || clinics.v == NULL
        || dicts.v == NULL)
    {
        perror("calloc");
        return 2;
    }

    nrows = 0;
    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        if (yibao_tsv_split(&line, f, 5) < 4) {
            fprintf(stderr, "line %zu: too few fields\n", tsv.line);
            return 2;
        }

        q = &rows[nrows++];

        if (yibao_kind_parse(f[0].data, f[0].len, &q->kind, &q->dict)
            != YIBAO_OK)
        {
            fprintf(stderr, "line %zu: bad kind\n", tsv.line);
            return 2;
        }

        if (q->dict.len != 0) {
            q->dict = bench_values_add(&dicts, q->dict.data, q->dict.len);
        }

        if (f[2].len > BENCH_CODE_MAX) {
            fprintf(stderr, "line %zu: local code too long\n", tsv.line);
            return 2;
        }

        memcpy(q->buf, f[2].data, f[2].len);
        q->code.len = f[2].len;

        if (f[1].len > 7 && memcmp(f[1].data, "entity:", 7) == 0) {
            q->scope.entity_code = bench_values_add(&entities,
                                                    f[1].data + 7,
                                                    f[1].len - 7);

        } else if (f[1].len > 7 && memcmp(f[1].data, "clinic:", 7) == 0) {
            q->scope.org_code = bench_values_add(&clinics, f[1].data + 7,
                                                 f[1].len - 7);

        } else if (f[1].len > 7 && memcmp(f[1].data, "admdvs:", 7) == 0) {
            memcpy(q->admdvs, f[1].data + 7,
                   f[1].len - 7 < 6 ? f[1].len - 7 : 6);
            q->scope.admdvs.len = f[1].len - 7;
        }
    }

    queries = calloc(nq ? nq : 1, sizeof(bench_query_t));
    if (queries == NULL) {
        perror("calloc");
        return 2;
    }

    rnd = 0x9e3779b97f4a7c15ull;

    for (i = 0; nrows != 0 && i < nq; i++) {
        q = &queries[i];
        *q = rows[bench_random(&rnd) % nrows];

        /* a whole scope: the row's own part, the rest a clinic's */

        if (q->scope.org_code.len == 0 && clinics.n != 0) {
            q->scope.org_code = clinics.v[bench_random(&rnd) % clinics.n];
        }

        if (q->scope.entity_code.len == 0 && entities.n != 0) {
            q->scope.entity_code =
                entities.v[bench_random(&rnd) % entities.n];
        }

        /* a row of admdvs:37 or admdvs:3701 keeps its prefix */

        memcpy(q->admdvs + q->scope.admdvs.len,
               admdvs + q->scope.admdvs.len, 6 - q->scope.admdvs.len);

        q->scope.admdvs.data = q->admdvs;
        q->scope.admdvs.len = 6;
        q->code.data = q->buf;
    }

    /* the load */

    memset(&pool, 0, sizeof(pool));
    memset(&scratch, 0, sizeof(scratch));
    alloc.alloc = bench_pool_alloc;
    alloc.ctx = &pool;
    scratch_alloc.alloc = bench_pool_alloc;
    scratch_alloc.ctx = &scratch;
    memset(&err, 0, sizeof(err));

    rss0 = bench_rss();
    t0 = bench_now();

    data2 = bench_read(argv[1], &len2);

    /* the rows read and the build's scratch: released once built */

    b = yibao_map_builder_create(&alloc);
    if (b != NULL) {
        yibao_map_builder_scratch(b, &scratch_alloc);
    }

    if (b == NULL
        || yibao_map_builder_add(b, data2, len2, &err) != YIBAO_OK)
    {
        fprintf(stderr, "%s:%zu: %s\n", argv[1], err.line, err.msg);
        return 1;
    }

    free(data2);

    map = yibao_map_build(b, &err);
    if (map == NULL) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }

    bench_pool_free(&scratch);

    t1 = bench_now();
    rss1 = bench_rss();

    if (yibao_map_rows(map) != nrows) {
        fprintf(stderr, "rows: %zu, expected %zu\n", yibao_map_rows(map),
                nrows);
        return 1;
    }

    /*
     * The lookups and the baseline in turns, a seventh of each at a
     * time, so that both see the same moments of a shared machine: the
     * figures are the medians of the rounds, the ratio the median of
     * each round's own.
     */

    cycle = bench_memory_cycle(yibao_map_bytes(map));
    k = 0;
    hits = 0;

    for (r = 0; r < BENCH_ROUNDS; r++) {
        t2 = bench_now();

        for (i = nq * r / BENCH_ROUNDS; i < nq * (r + 1) / BENCH_ROUNDS; i++) {
            q = &queries[i];

            found = yibao_map_lookup(map, q->kind, &q->dict, &q->scope,
                                     q->code.data, q->code.len, &hit);
            hits += found;
        }

        t3 = bench_now();
        n = nq * (r + 1) / BENCH_ROUNDS - nq * r / BENCH_ROUNDS;

        lookups[r] = n ? (t3 - t2) * 1e9 / n : 0.0;
        loads[r] = cycle ? bench_memory_walk(cycle, n, &k) : 0.0;
        ratios[r] = loads[r] > 0 ? lookups[r] / loads[r] : 0.0;
    }

    if (hits != nq) {
        fprintf(stderr, "%zu of %zu lookups found nothing\n", nq - hits, nq);
        return 1;
    }

    qsort(lookups, BENCH_ROUNDS, sizeof(double), bench_cmp_double);
    qsort(loads, BENCH_ROUNDS, sizeof(double), bench_cmp_double);
    qsort(ratios, BENCH_ROUNDS, sizeof(double), bench_cmp_double);

    printf("BENCH mapping_load rows=%zu seconds=%.3f bytes_per_row=%.1f "
           "lookup_ns=%.1f\n", nrows, t1 - t0,
           nrows ? (double) yibao_map_bytes(map) / nrows : 0.0,
           lookups[BENCH_ROUNDS / 2]);
    printf("BENCH mapping_rss bytes_per_row=%.1f\n",
           nrows ? (double) (rss1 - rss0) / nrows : 0.0);
    printf("BENCH memory_load ns=%.1f lookup_vs_load=%.2f\n",
           loads[BENCH_ROUNDS / 2], ratios[BENCH_ROUNDS / 2]);

    free(cycle);
    bench_pool_free(&pool);
    free(queries);
    free(rows);
    free(entities.v);
    free(clinics.v);
    free(dicts.v);
    free(data);

    return 0;
}
