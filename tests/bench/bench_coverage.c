/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Clinic coverage's cost: the count of one request in a clinic's slot
 * (yibao_cov_event + yibao_cov_record, what the log phase adds to a
 * transaction besides the slot's lock), and the reports over 50,000
 * clinics (yibao_cov_render: 200 counties, township hospitals of 15-35
 * villages, 5 % own designations; 6,000 clinics with 8 days of traffic,
 * some failing), as JSON and CSV, each rendered BENCH_RUNS times:
 *
 *     BENCH coverage_record ns=<per request>
 *     BENCH coverage_report report=<name> format=<json|csv> ms=<median>
 *         max_ms=<x> bytes=<n> rows=<n>
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yibao_coverage.h"


#define BENCH_CLINICS     50000
#define BENCH_ACTIVE      6000
#define BENCH_RECORDS     2000000
#define BENCH_RUNS        9
#define BENCH_GMTOFF      (8 * 3600)


typedef struct {
    unsigned char        *start;
    size_t                used;
    size_t                size;
} bench_pool_t;


static void *
bench_pool_alloc(void *ctx, size_t size)
{
    void          *p;
    bench_pool_t  *pool = ctx;

    size = (size + 15) & ~(size_t) 15;

    if (pool->used + size > pool->size) {
        return NULL;
    }

    p = pool->start + pool->used;
    pool->used += size;

    return p;
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static yibao_str_t
bench_str(const char *fmt, unsigned a, unsigned b)
{
    char         *p;
    yibao_str_t   s;

    p = malloc(64);
    if (p == NULL) {
        exit(1);
    }

    s.len = (size_t) snprintf(p, 64, fmt, a, b);
    s.data = (unsigned char *) p;

    return s;
}


/* the registry: counties, township hospitals and their villages */

static void
bench_registry(yibao_cov_info_t *info, yibao_cov_clinic_t *cov)
{
    unsigned  i, town, left, county, own;

    town = 0;
    left = 0;
    own = 0;

    for (i = 0; i < BENCH_CLINICS; i++) {
        if (left == 0) {
            town++;
            left = 15 + (town * 7) % 21;
        }

        left--;
        county = 370100 + town % 200;

        memset(&info[i], 0, sizeof(yibao_cov_info_t));
        info[i].code = bench_str("PDY%013u%06u", i, county);
        info[i].name = bench_str("\xe6\x9d\x91\xe5\x8d\xab\xe7\x94\x9f"
                                 "\xe5\xae\xa4 %u-%u", town, i);
        info[i].admdvs = bench_str("%u", county, 0);
        info[i].key_state = -1;

        if (i % 20 == 7) {
            own++;
            info[i].entity_code = bench_str("H%u%05u", county, 50000 + own);
            info[i].entity_name = info[i].name;

        } else {
            info[i].entity_code = bench_str("H%u%05u", county, town);
            info[i].entity_name = bench_str("\xe9\x95\x87\xe5\x8d\xab\xe7"
                                            "\x94\x9f\xe9\x99\xa2 %u", town,
                                            0);
            info[i].township = 1;
        }

        yibao_cov_init(&cov[i], info[i].code.data, info[i].code.len);
    }
}


/* 8 days of traffic of BENCH_ACTIVE clinics: a visit a day, some
 * failing, a few only signing in */

static void
bench_traffic(yibao_cov_clinic_t *cov, int64_t now)
{
    unsigned           i, k, d, day;
    yibao_cov_event_t  ev;
    static const char  *infnos[] = { "9001", "1101", "2201", "2203",
                                     "2204", "2206", "2207" };

    for (k = 0; k < BENCH_ACTIVE; k++) {
        i = (k * 7919) % BENCH_CLINICS;

        for (day = 0; day < 8; day++) {
            for (d = 0; d < 7; d++) {
                if (k % 50 == 3 && d >= 1) {
                    yibao_cov_event(&ev, (const unsigned char *) infnos[d],
                                    4, 0, 6002);

                } else if (k % 10 == 4 && d > 0) {
                    break;                  /* signs in only */

                } else {
                    yibao_cov_event(&ev, (const unsigned char *) infnos[d],
                                    4, 1, 0);
                }

                yibao_cov_record(&cov[i], now - (7 - day) * 86400 + d,
                                 BENCH_GMTOFF, &ev);
            }
        }
    }
}


static void
bench_record(yibao_cov_clinic_t *cov, int64_t now)
{
    double             t0, t1;
    unsigned           n;
    yibao_cov_event_t  ev[4];

    yibao_cov_event(&ev[0], (const unsigned char *) "1101", 4, 1, 0);
    yibao_cov_event(&ev[1], (const unsigned char *) "2207", 4, 1, 0);
    yibao_cov_event(&ev[2], (const unsigned char *) "2204", 4, 0, 4001);
    yibao_cov_event(&ev[3], (const unsigned char *) "2207", 4, 0, 0);

    t0 = bench_now();

    for (n = 0; n < BENCH_RECORDS; n++) {
        yibao_cov_record(&cov[(n * 31) % BENCH_CLINICS], now + n / 1000,
                         BENCH_GMTOFF, &ev[n & 3]);
    }

    t1 = bench_now();

    printf("BENCH coverage_record ns=%.1f\n",
           (t1 - t0) * 1e6 / BENCH_RECORDS);
}


int
main(void)
{
    int                  r, csv;
    size_t               bytes;
    double               ms[BENCH_RUNS], t0;
    unsigned             run;
    yibao_str_t          out;
    bench_pool_t         pool;
    yibao_alloc_t        a;
    yibao_cov_info_t    *info;
    yibao_cov_clinic_t  *cov, *copy;
    yibao_cov_report_t   rep;
    int64_t              now;
    static const char   *names[] = { "clinics", "silent", "failing",
                                     "never_activated", "townships",
                                     "weekly", "summary" };

    now = 1796608800;            /* 2026-12-07 10:00 +08:00 */

    info = calloc(BENCH_CLINICS, sizeof(yibao_cov_info_t));
    cov = calloc(BENCH_CLINICS, sizeof(yibao_cov_clinic_t));
    copy = calloc(BENCH_CLINICS, sizeof(yibao_cov_clinic_t));

    pool.size = 256 * 1024 * 1024;
    pool.start = malloc(pool.size);

    if (info == NULL || cov == NULL || copy == NULL || pool.start == NULL) {
        return 1;
    }

    a.alloc = bench_pool_alloc;
    a.ctx = &pool;

    bench_registry(info, cov);
    bench_traffic(cov, now);

    printf("BENCH coverage_slot bytes=%zu clinics=%d\n",
           sizeof(yibao_cov_clinic_t), BENCH_CLINICS);

    for (r = 0; r < 7; r++) {
        for (csv = 0; csv < 2; csv++) {
            bytes = 0;

            for (run = 0; run < BENCH_RUNS; run++) {
                pool.used = 0;
                t0 = bench_now();

                /* the glue copies every slot first */
                memcpy(copy, cov, BENCH_CLINICS * sizeof(yibao_cov_clinic_t));

                memset(&rep, 0, sizeof(yibao_cov_report_t));
                rep.info = info;
                rep.cov = copy;
                rep.n = BENCH_CLINICS;
                rep.now = now;
                rep.gmtoff = BENCH_GMTOFF;
                rep.report = (unsigned) yibao_cov_report_find(
                                 (const unsigned char *) names[r],
                                 strlen(names[r]));
                rep.csv = (unsigned) csv;
                yibao_cov_params_default(&rep.params);

                if (yibao_cov_render(&rep, &a, &out) != YIBAO_OK) {
                    fprintf(stderr, "bench: %s failed\n", names[r]);
                    return 1;
                }

                ms[run] = bench_now() - t0;
                bytes = out.len;
            }

            qsort(ms, BENCH_RUNS, sizeof(double), bench_cmp);

            printf("BENCH coverage_report report=%s format=%s ms=%.1f "
                   "max_ms=%.1f bytes=%zu\n", names[r], csv ? "csv" : "json",
                   ms[BENCH_RUNS / 2], ms[BENCH_RUNS - 1], bytes);
        }
    }

    bench_record(cov, now);

    return 0;
}
