/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The fee-line audit's cost: a 2204 of 50 fee lines (national codes, a
 * mix of drugs and items of the demo catalogue, some of them breaking
 * rules) audited with every rule of conf/demo/audit/rules.tsv on, the
 * visit's 10 earlier lines and 20 drugs of the person's history in the
 * context.  Each of BENCH_ITERATIONS rounds reads the lines from the
 * parsed input (yibao_audit_lines), runs the rules (yibao_audit_run) and
 * renders the findings in the 3101 shape (yibao_audit_json):
 *
 *     BENCH audit_2204_50 us=<median> p99_us=<x> findings=<n>
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "yibao_audit.h"


#define BENCH_ITERATIONS  20000
#define BENCH_ROWS        50
#define BENCH_POOL_SIZE   (1024 * 1024)


typedef struct {
    unsigned char        *start;
    size_t                used;
    size_t                size;
} bench_pool_t;


static const char  *bench_codes[] = {
    "XJ01CAA040A001010102699", "XM01AEB059A002957235362",
    "XN02BED108A010301005168", "XC08CAX051A011265467163",
    "XA10BAE023A010663486627", "XB01ACA156A013742367603",
    "001102000010000", "001204000010000", "001201000010000",
    "XJ01MAZ061A010566549134", "ZA01AAL078A001267783782",
    "XC10AAA115A010387753142", "001204000020000",
    "XG03DAH041B002000000001"
};


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


static unsigned char *
bench_read(const char *path, size_t *len)
{
    long            size;
    FILE           *f;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);

    buf = malloc(size > 0 ? size : 1);

    if (buf == NULL || fread(buf, 1, size, f) != (size_t) size) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    *len = size;

    return buf;
}


static json_t *
bench_input(void)
{
    char     sn[16], amt[32];
    size_t   i;
    json_t  *rows, *row;

    rows = json_array();

    for (i = 0; i < BENCH_ROWS; i++) {
        snprintf(sn, sizeof(sn), "%zu", i + 11);
        snprintf(amt, sizeof(amt), "%.2f", 2 * 12.6);

        row = json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:s, s:s, s:s}",
                        "feedetl_sn", sn,
                        "med_list_codg",
                        bench_codes[i % (sizeof(bench_codes)
                                         / sizeof(bench_codes[0]))],
                        "medins_list_codg", "YP0001",
                        "bilg_dr_codg", (i == 7) ? "D370102000006"
                                                 : "D370102000001",
                        "cnt", 2, "pric", 12.6,
                        "det_item_fee_sumamt", amt,
                        "fee_ocur_time", "2026-12-07 08:30:00",
                        "bilg_dept_codg", "A02");
        json_array_append_new(rows, row);
    }

    return json_pack("{s:o}", "feedetail", rows);
}


static double
bench_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x, y;

    x = *(const double *) a;
    y = *(const double *) b;

    return (x > y) - (x < y);
}


int
main(void)
{
    size_t                  i, n, rlen, llen, findings;
    double                  t0, t1, *us, *render;
    json_t                 *input, *out;
    yibao_str_t             jr = yibao_string("H37010200001202612070830100001");
    yibao_str_t             label = yibao_string("lists.tsv");
    yibao_err_t             err;
    bench_pool_t            pool, rpool;
    yibao_alloc_t           a, ra;
    unsigned char          *rules, *lists;
    yibao_audit_t          *au;
    yibao_audit_ctx_t       ctx;
    yibao_audit_line_t     *lines, earlier[10];
    yibao_audit_supply_t    history[20];
    yibao_audit_result_t    res;

    memset(&err, 0, sizeof(yibao_err_t));

    pool.size = 16 * BENCH_POOL_SIZE;
    pool.used = 0;
    pool.start = malloc(pool.size);
    rpool.size = BENCH_POOL_SIZE;
    rpool.used = 0;
    rpool.start = malloc(rpool.size);
    us = malloc(BENCH_ITERATIONS * sizeof(double));
    render = malloc(BENCH_ITERATIONS * sizeof(double));

    if (pool.start == NULL || rpool.start == NULL || us == NULL
        || render == NULL)
    {
        return 1;
    }

    a.alloc = bench_pool_alloc;
    a.ctx = &pool;
    ra.alloc = bench_pool_alloc;
    ra.ctx = &rpool;

    rules = bench_read("conf/demo/audit/rules.tsv", &rlen);
    lists = bench_read("conf/demo/audit/lists.tsv", &llen);

    if (rules == NULL || lists == NULL) {
        fprintf(stderr, "bench_audit: cannot read conf/demo/audit/\n");
        return 1;
    }

    au = yibao_audit_create(&a);

    if (au == NULL
        || yibao_audit_add_rules(au, rules, rlen, &err) != YIBAO_OK
        || yibao_audit_add_lists(au, &label, lists, llen, &err) != YIBAO_OK
        || yibao_audit_build(au, &err) != YIBAO_OK)
    {
        fprintf(stderr, "bench_audit: line %zu: %s\n", err.line, err.msg);
        return 1;
    }

    memset(&ctx, 0, sizeof(yibao_audit_ctx_t));
    ctx.scope.org_code = (yibao_str_t) yibao_string("PDY60134132080312D6001");
    ctx.scope.entity_code = (yibao_str_t) yibao_string("H37010200001");
    ctx.scope.admdvs = (yibao_str_t) yibao_string("370102");
    ctx.integrated = 1;
    ctx.gend = '1';
    ctx.today = yibao_audit_day((const unsigned char *) "2026-12-07", 10);
    ctx.birth = yibao_audit_day((const unsigned char *) "2012-05-01", 10);
    ctx.med_type = (yibao_str_t) yibao_string("11");
    ctx.visits_today = 2;

    for (i = 0; i < 10; i++) {
        memset(&earlier[i], 0, sizeof(yibao_audit_line_t));
        earlier[i].sn.data = (const unsigned char *) "1";
        earlier[i].sn.len = 1;
        earlier[i].code.data = (const unsigned char *) bench_codes[i];
        earlier[i].code.len = strlen(bench_codes[i]);
        earlier[i].cnt = 1000000;
        earlier[i].pric = 1000000;
        earlier[i].amt = 1000000;
        earlier[i].day = ctx.today;
    }

    for (i = 0; i < 20; i++) {
        history[i].code.data = (const unsigned char *)
                               bench_codes[i % 6];
        history[i].code.len = strlen(bench_codes[i % 6]);
        history[i].day = ctx.today - 20 + (int32_t) i;
        history[i].days = 3;
    }

    ctx.earlier = earlier;
    ctx.nearlier = 10;
    ctx.history = history;
    ctx.nhistory = 20;

    input = bench_input();
    findings = 0;

    for (i = 0; i < BENCH_ITERATIONS; i++) {
        rpool.used = 0;
        t0 = bench_now();

        if (yibao_audit_lines(input, &ra, &lines, &n) != YIBAO_OK
            || yibao_audit_run(au, &ctx, lines, n, &ra, &res) != YIBAO_OK)
        {
            fprintf(stderr, "bench_audit: out of memory\n");
            return 1;
        }

        t1 = bench_now();
        out = yibao_audit_json(&res, &jr, 0xf);
        us[i] = t1 - t0;
        render[i] = bench_now() - t1;

        if (out == NULL || n != BENCH_ROWS) {
            fprintf(stderr, "bench_audit: %zu lines\n", n);
            return 1;
        }

        findings = json_array_size(out);
        json_decref(out);
    }

    qsort(us, BENCH_ITERATIONS, sizeof(double), bench_cmp);
    qsort(render, BENCH_ITERATIONS, sizeof(double), bench_cmp);

    printf("BENCH audit_2204_50 us=%.2f p99_us=%.2f findings=%zu "
           "rules=%zu entries=%zu\n", us[BENCH_ITERATIONS / 2],
           us[BENCH_ITERATIONS * 99 / 100], findings, yibao_audit_rules(au),
           yibao_audit_entries(au));
    printf("BENCH audit_2204_50_render us=%.2f p99_us=%.2f\n",
           render[BENCH_ITERATIONS / 2],
           render[BENCH_ITERATIONS * 99 / 100]);

    json_decref(input);
    free(rules);
    free(lists);
    free(us);
    free(render);
    free(pool.start);
    free(rpool.start);

    return 0;
}
