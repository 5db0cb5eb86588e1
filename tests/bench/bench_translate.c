/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Code translation of a realistic 2204 (one visit's 50 fee lines of
 * local codes: 50 different items, drugs and consumables, a billing
 * and an ordering doctor and department a line, two of each in two
 * blocks of 25 lines; amounts as numbers and as strings), with the real
 * rules file and a real mapping table:
 *
 *     bench_translate [rules.tsv [mapping.tsv ...]]
 *
 * The rules default to conf/translate-rules.tsv, the tables to the
 * .tsv files of conf/demo/mappings; without them a table of 6000 rows
 * is generated in memory.  Each of BENCH_ITERATIONS rounds parses the
 * envelope, translates it and serializes it; prints
 *
 *     BENCH translate_2204_50 us=<x>        yibao_translate_request()
 *     BENCH translate_2204_50_full us=<x>   parse + translate + serialize
 *
 * (means per request; p50 and p99 go to stderr), after checking that
 * every code was translated.
 */

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yibao_envelope.h"
#include "yibao_map.h"
#include "yibao_translate.h"
#include "yibao_tsv.h"


#define BENCH_ITERATIONS  20000
#define BENCH_ROWS        50
#define BENCH_CODES       64            /* local codes kept per kind */
#define BENCH_CODE_MAX    48
#define BENCH_POOL_SIZE   (1024 * 1024)

#define BENCH_ORG         "PDY60134132080312D6001"
#define BENCH_ENTITY      "H37010200001"
#define BENCH_ADMDVS      "370102"


typedef struct {
    unsigned char        *start;
    size_t                used;
    size_t                size;
} bench_pool_t;


typedef struct {
    size_t                n;
    char                  code[BENCH_CODES][BENCH_CODE_MAX];
} bench_codes_t;


static void *bench_pool_alloc(void *ctx, size_t size);
static unsigned char *bench_read(const char *path, size_t *len);
static int bench_scope_matches(const yibao_str_t *scope);
static void bench_collect(const unsigned char *data, size_t len,
    bench_codes_t *codes);
static unsigned char *bench_generate(size_t *len);
static size_t bench_envelope(char *buf, size_t size, bench_codes_t *codes);
static double bench_now(void);
static int bench_cmp(const void *a, const void *b);


static void *
bench_pool_alloc(void *ctx, size_t size)
{
    bench_pool_t  *pool = ctx;

    void          *p;

    size = (size + 15) & ~((size_t) 15);

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
    unsigned char  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
        fclose(f);
        return NULL;
    }

    rewind(f);

    data = malloc((size_t) size + 1);

    if (data == NULL || fread(data, 1, (size_t) size, f) != (size_t) size) {
        free(data);
        fclose(f);
        return NULL;
    }

    fclose(f);
    *len = (size_t) size;

    return data;
}


/* 1 if a table row of this scope applies to the benchmark's clinic */

static int
bench_scope_matches(const yibao_str_t *s)
{
    size_t  n;

    if (s->len == 1 && s->data[0] == '*') {
        return 1;
    }

    if (s->len > 7 && memcmp(s->data, "admdvs:", 7) == 0) {
        n = s->len - 7;
        return n <= 6 && memcmp(s->data + 7, BENCH_ADMDVS, n) == 0;
    }

    if (s->len == 7 + 12 && memcmp(s->data, "entity:", 7) == 0) {
        return memcmp(s->data + 7, BENCH_ENTITY, 12) == 0;
    }

    if (s->len == 7 + 22 && memcmp(s->data, "clinic:", 7) == 0) {
        return memcmp(s->data + 7, BENCH_ORG, 22) == 0;
    }

    return 0;
}


/* keeps up to BENCH_CODES local codes per kind that the clinic sees */

static void
bench_collect(const unsigned char *data, size_t len, bench_codes_t *codes)
{
    yibao_str_t     line, f[5], dict;
    yibao_tsv_t     tsv;
    yibao_kind_e    kind;
    bench_codes_t  *c;

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        if (yibao_tsv_split(&line, f, 5) < 4
            || yibao_kind_parse(f[0].data, f[0].len, &kind, &dict)
               != YIBAO_OK
            || kind == YIBAO_KIND_DICT
            || !bench_scope_matches(&f[1])
            || f[2].len == 0 || f[2].len >= BENCH_CODE_MAX
            || memchr(f[2].data, '"', f[2].len) != NULL
            || memchr(f[2].data, '\\', f[2].len) != NULL)
        {
            continue;
        }

        c = &codes[kind];

        if (c->n < BENCH_CODES) {
            memcpy(c->code[c->n], f[2].data, f[2].len);
            c->code[c->n][f[2].len] = '\0';
            c->n++;
        }
    }
}


/*
 * A table in the shape of a village clinic's: 3000 drugs, 2000 items,
 * 800 consumables, 150 staff, 50 departments, global scope.
 */

static unsigned char *
bench_generate(size_t *len)
{
    char    *p, *start;
    size_t   i;

    start = malloc(6000 * 96);
    if (start == NULL) {
        return NULL;
    }

    p = start;

    for (i = 0; i < 3000; i++) {
        p += sprintf(p, "drug\t*\tYP%05zu\tXJ01CAA040A00%010zu\tdrug %zu\n",
                     i, i, i);
    }

    for (i = 0; i < 2000; i++) {
        p += sprintf(p, "item\t*\tZL%05zu\t00110200%07zu\titem %zu\n", i, i,
                     i);
    }

    for (i = 0; i < 800; i++) {
        p += sprintf(p, "consumable\t*\tHC%05zu\tC01010100113%08zu\t"
                     "consumable %zu\n", i, i, i);
    }

    for (i = 0; i < 150; i++) {
        p += sprintf(p, "staff\t*\tDR%03zu\tD370102%06zu\tdoctor %zu\n", i,
                     i, i);
    }

    for (i = 0; i < 50; i++) {
        p += sprintf(p, "dept\t*\tKS%03zu\t%c%02zu\tdept %zu\n", i,
                     (int) ('A' + i / 10), i % 10 + 1, i);
    }

    *len = (size_t) (p - start);

    return (unsigned char *) start;
}


static size_t
bench_envelope(char *buf, size_t size, bench_codes_t *codes)
{
    int             cnt;
    char           *p, *end;
    size_t          i, block;
    double          pric;
    const char     *code, *dr1, *dr2, *dept1, *dept2;
    bench_codes_t  *c;

    static const yibao_kind_e  kinds[] = {
        YIBAO_KIND_DRUG, YIBAO_KIND_ITEM, YIBAO_KIND_DRUG,
        YIBAO_KIND_CONSUMABLE, YIBAO_KIND_DRUG
    };

    p = buf;
    end = buf + size;

    p += snprintf(p, end - p,
        "{\"infno\":\"2204\",\"msgid\":\"H37010200001202401150830100003\","
        "\"mdtrtarea_admvs\":\"370102\",\"insuplc_admdvs\":\"370102\","
        "\"recer_sys_code\":\"FSI_LOCAL\",\"dev_no\":\"\","
        "\"dev_safe_info\":\"\",\"cainfo\":\"\",\"signtype\":\"\","
        "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"001\","
        "\"opter_name\":\"\xe5\xbc\xa0\xe5\x8c\xbb\xe7\x94\x9f\","
        "\"inf_time\":\"2024-01-15 08:30:10\","
        "\"fixmedins_code\":\"H37010200001\","
        "\"fixmedins_name\":\"\xe6\x9f\x90\xe6\x9d\x91\xe5\x8d\xab\xe7\x94\x9f"
        "\xe5\xae\xa4\",\"sign_no\":\"370000202401150800000012\","
        "\"input\":{\"feedetail\":[");

    for (i = 0; i < BENCH_ROWS; i++) {
        c = &codes[kinds[i % 5]];

        if (c->n == 0) {
            c = &codes[YIBAO_KIND_DRUG];
        }

        code = c->code[(i * 7) % c->n];
        block = i < BENCH_ROWS / 2 ? 0 : 2;

        dr1 = codes[YIBAO_KIND_STAFF].code[block
                                           % codes[YIBAO_KIND_STAFF].n];
        dr2 = codes[YIBAO_KIND_STAFF].code[(block + 1)
                                           % codes[YIBAO_KIND_STAFF].n];
        dept1 = codes[YIBAO_KIND_DEPT].code[block
                                            % codes[YIBAO_KIND_DEPT].n];
        dept2 = codes[YIBAO_KIND_DEPT].code[(block + 1)
                                            % codes[YIBAO_KIND_DEPT].n];

        cnt = (int) (i % 4) + 1;
        pric = 3.25 + (double) (i % 9) * 1.5;

        p += snprintf(p, end - p,
            "%s{\"feedetl_sn\":\"%zu\","
            "\"mdtrt_id\":\"370000170527620000000000000001\","
            "\"psn_no\":\"37000000000000000000123456\","
            "\"chrg_bchno\":\"20240115000001\",\"dise_codg\":\"\","
            "\"rxno\":\"RX%04zu\",\"rx_circ_flag\":\"0\","
            "\"fee_ocur_time\":\"2024-01-15 08:30:00\","
            "\"med_list_codg\":\"\",\"medins_list_codg\":\"%s\","
            "\"det_item_fee_sumamt\":%s%.2f%s,\"cnt\":%d,\"pric\":%.2f,"
            "\"sin_dos_dscr\":\"0.5g\",\"used_frqu_dscr\":\"tid\","
            "\"prd_days\":%s,\"medc_way_dscr\":\"\xe5\x8f\xa3\xe6\x9c\x8d\","
            "\"bilg_dept_codg\":\"%s\",\"bilg_dept_name\":\"\","
            "\"bilg_dr_codg\":\"%s\",\"bilg_dr_name\":\"\","
            "\"acord_dept_codg\":\"%s\",\"acord_dept_name\":\"\","
            "\"orders_dr_code\":\"%s\",\"orders_dr_name\":\"\","
            "\"hosp_appr_flag\":\"1\",\"tcmdrug_used_way\":\"\","
            "\"etip_flag\":\"\",\"etip_hosp_code\":\"\","
            "\"dscg_tkdrug_flag\":\"\",\"matn_fee_flag\":\"\"}",
            i ? "," : "", i + 1, i + 1, code,
            (i % 3 == 0) ? "\"" : "", cnt * pric, (i % 3 == 0) ? "\"" : "",
            cnt, pric, (i % 5 == 0) ? "\"\"" : "4", dept1, dr1, dept2, dr2);
    }

    p += snprintf(p, end - p, "]}}");

    return (size_t) (p - buf);
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
main(int argc, char **argv)
{
    int                        rc;
    char                      *body;
    size_t                     i, k, len, body_len, nfiles, rows;
    double                     t0, t1, t2, t3, tr, full;
    double                    *tr_us, *full_us;
    glob_t                     g;
    const char                *rules_path;
    yibao_str_t                out;
    yibao_err_t                err;
    yibao_map_t               *map;
    bench_pool_t               pool, rpool;
    yibao_alloc_t              a, ra;
    unsigned char             *data;
    yibao_rules_t             *rules;
    bench_codes_t              codes[YIBAO_KIND_MAX];
    yibao_envelope_t           env;
    yibao_map_scope_t          scope;
    yibao_map_builder_t       *b;
    yibao_translate_opts_t     opts;
    yibao_envelope_limits_t    limits = { 32, 100000 };
    yibao_translate_result_t   res;

    memset(&err, 0, sizeof(yibao_err_t));
    memset(codes, 0, sizeof(codes));
    memset(&opts, 0, sizeof(yibao_translate_opts_t));

    pool.size = 64 * BENCH_POOL_SIZE;
    pool.used = 0;
    pool.start = malloc(pool.size);
    if (pool.start == NULL) {
        return 1;
    }

    a.alloc = bench_pool_alloc;
    a.ctx = &pool;

    /* the request's pool, emptied for every request */

    rpool.size = BENCH_POOL_SIZE;
    rpool.used = 0;
    rpool.start = malloc(rpool.size);
    if (rpool.start == NULL) {
        return 1;
    }

    ra.alloc = bench_pool_alloc;
    ra.ctx = &rpool;

    /* the rules */

    rules_path = argc > 1 ? argv[1] : "conf/translate-rules.tsv";

    data = bench_read(rules_path, &len);
    if (data == NULL) {
        fprintf(stderr, "bench_translate: cannot read %s\n", rules_path);
        return 1;
    }

    rules = yibao_rules_parse(data, len, &a, &err);
    free(data);

    if (rules == NULL) {
        fprintf(stderr, "bench_translate: %s line %zu: %s\n", rules_path,
                err.line, err.msg);
        return 1;
    }

    /* the mapping tables */

    b = yibao_map_builder_create(&a);
    if (b == NULL) {
        return 1;
    }

    memset(&g, 0, sizeof(glob_t));

    if (argc > 2) {
        g.gl_pathc = (size_t) argc - 2;
        g.gl_pathv = argv + 2;

    } else if (glob("conf/demo/mappings/*.tsv", 0, NULL, &g) != 0) {
        g.gl_pathc = 0;
    }

    nfiles = g.gl_pathc;

    for (i = 0; i < nfiles; i++) {
        data = bench_read(g.gl_pathv[i], &len);
        if (data == NULL) {
            fprintf(stderr, "bench_translate: cannot read %s\n",
                    g.gl_pathv[i]);
            return 1;
        }

        if (yibao_map_builder_add(b, data, len, &err) != YIBAO_OK) {
            fprintf(stderr, "bench_translate: %s line %zu: %s\n",
                    g.gl_pathv[i], err.line, err.msg);
            return 1;
        }

        bench_collect(data, len, codes);
        free(data);
    }

    if (argc <= 2 && nfiles > 0) {
        globfree(&g);
    }

    if (codes[YIBAO_KIND_DRUG].n == 0 || codes[YIBAO_KIND_STAFF].n == 0
        || codes[YIBAO_KIND_DEPT].n == 0)
    {
        if (nfiles > 0) {
            fprintf(stderr, "bench_translate: the tables lack global "
                    "drug, staff or dept rows; using a generated table\n");

            b = yibao_map_builder_create(&a);
            if (b == NULL) {
                return 1;
            }

            memset(codes, 0, sizeof(codes));
        }

        data = bench_generate(&len);

        if (data == NULL
            || yibao_map_builder_add(b, data, len, &err) != YIBAO_OK)
        {
            fprintf(stderr, "bench_translate: generated table line %zu: "
                    "%s\n", err.line, err.msg);
            return 1;
        }

        bench_collect(data, len, codes);
        free(data);
        nfiles = 0;
    }

    map = yibao_map_build(b, &err);
    if (map == NULL) {
        fprintf(stderr, "bench_translate: %s\n", err.msg);
        return 1;
    }

    rows = yibao_map_rows(map);

    scope.org_code.data = (const unsigned char *) BENCH_ORG;
    scope.org_code.len = sizeof(BENCH_ORG) - 1;
    scope.entity_code.data = (const unsigned char *) BENCH_ENTITY;
    scope.entity_code.len = sizeof(BENCH_ENTITY) - 1;
    scope.admdvs.data = (const unsigned char *) BENCH_ADMDVS;
    scope.admdvs.len = sizeof(BENCH_ADMDVS) - 1;

    /* the request */

    body = malloc(256 * 1024);
    if (body == NULL) {
        return 1;
    }

    body_len = bench_envelope(body, 256 * 1024, codes);

    /* a check round: everything translated, nothing left */

    if (yibao_envelope_parse((unsigned char *) body, body_len, &limits, &env,
                             &err)
        != YIBAO_OK)
    {
        fprintf(stderr, "bench_translate: envelope: %s\n", err.msg);
        return 1;
    }

    rc = yibao_translate_request(&env, rules, map, &scope, &opts, &ra, &res,
                                 &err);
    yibao_envelope_free(&env);

    if (rc != YIBAO_OK || res.translated != BENCH_ROWS * 5) {
        fprintf(stderr, "bench_translate: rc %d, %zu translated of %d: %s "
                "%.*s\n", rc, res.translated, BENCH_ROWS * 5, err.msg,
                (int) res.list.len, (const char *) res.list.data);
        return 1;
    }

    tr = 0;
    full = 0;

    tr_us = malloc(2 * BENCH_ITERATIONS * sizeof(double));
    if (tr_us == NULL) {
        return 1;
    }

    full_us = tr_us + BENCH_ITERATIONS;

    for (k = 0; k < BENCH_ITERATIONS; k++) {
        rpool.used = 0;

        t0 = bench_now();

        rc = yibao_envelope_parse((unsigned char *) body, body_len, &limits,
                                  &env, &err);

        t1 = bench_now();

        if (rc == YIBAO_OK) {
            rc = yibao_translate_request(&env, rules, map, &scope, &opts,
                                         &ra, &res, &err);
        }

        t2 = bench_now();

        if (rc == YIBAO_OK) {
            rc = yibao_envelope_serialize(&env, &ra, &out);
        }

        t3 = bench_now();

        yibao_envelope_free(&env);

        if (rc != YIBAO_OK) {
            fprintf(stderr, "bench_translate: round %zu: rc %d: %s\n", k, rc,
                    err.msg);
            return 1;
        }

        tr_us[k] = t2 - t1;
        full_us[k] = t3 - t0;
        tr += t2 - t1;
        full += t3 - t0;
    }

    qsort(tr_us, BENCH_ITERATIONS, sizeof(double), bench_cmp);
    qsort(full_us, BENCH_ITERATIONS, sizeof(double), bench_cmp);

    fprintf(stderr, "bench_translate: %zu rules, %zu map rows (%s), "
            "%zu-byte request of %d fee lines, %d codes each, "
            "%d iterations\n", yibao_rules_count(rules), rows,
            nfiles ? "conf/demo/mappings" : "generated", body_len,
            BENCH_ROWS, 5, BENCH_ITERATIONS);

    fprintf(stderr, "bench_translate: translate p50 %.2f p99 %.2f us, "
            "full p50 %.2f p99 %.2f us\n",
            tr_us[BENCH_ITERATIONS / 2], tr_us[BENCH_ITERATIONS * 99 / 100],
            full_us[BENCH_ITERATIONS / 2],
            full_us[BENCH_ITERATIONS * 99 / 100]);

    printf("BENCH translate_2204_50 us=%.2f\n", tr / BENCH_ITERATIONS);
    printf("BENCH translate_2204_50_full us=%.2f\n",
           full / BENCH_ITERATIONS);

    free(tr_us);
    free(body);
    free(rpool.start);
    free(pool.start);

    return 0;
}
