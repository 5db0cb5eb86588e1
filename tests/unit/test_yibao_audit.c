/*
 * Copyright (C) yibao-gateway authors
 */


#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_audit.h"
#include "yibao_test_alloc.h"


#define U(s)          ((const unsigned char *) (s))

#define CLINIC        "PDY60134132080312D6001"
#define OWN_CLINIC    "PDY60134132080312D6005"
#define ENTITY        "H37010200001"

#define AMOX          "XJ01CAA040A001010102699"
#define LEVO          "XJ01MAZ061A010566549134"
#define CEFU          "XJ01DCT093A010969823691"
#define ATOR          "XC10AAA115A010387753142"
#define GP_FEE        "001101000010000"
#define EXAM_FEE      "001102000010000"
#define PROG          "XG03DAH041B002000000001"
#define CHILD_IV      "001204000020000"
#define DOCTOR        "D370102000001"
#define SUSPENDED     "D370102000006"


typedef struct {
    yibao_test_arena_t         arena;
    yibao_alloc_t              alloc;
    yibao_err_t                err;
    yibao_audit_t             *au;
    yibao_audit_ctx_t          ctx;
    yibao_audit_line_t         lines[64];
    size_t                     n;
    yibao_audit_result_t       res;
} test_ctx_t;


static char *
read_conf(const char *rel, size_t *len)
{
    char        path[1024];
    char       *buf;
    FILE       *f;
    long        size;
    const char *data;

    data = getenv("YIBAO_TEST_DATA");

    snprintf(path, sizeof(path), "%s/../../../%s",
             data ? data : "tests/unit/data", rel);

    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);

    buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, size, f), (size_t) size);
    fclose(f);

    *len = size;

    return buf;
}


static yibao_audit_t *
load(test_ctx_t *t)
{
    char           *rules, *lists;
    size_t          rlen, llen;
    yibao_str_t     label = yibao_string("lists.tsv");
    yibao_audit_t  *au;

    rules = read_conf("conf/demo/audit/rules.tsv", &rlen);
    lists = read_conf("conf/demo/audit/lists.tsv", &llen);

    au = yibao_audit_create(&t->alloc);
    assert_non_null(au);

    if (yibao_audit_add_rules(au, U(rules), rlen, &t->err) != YIBAO_OK
        || yibao_audit_add_lists(au, &label, U(lists), llen, &t->err)
           != YIBAO_OK
        || yibao_audit_build(au, &t->err) != YIBAO_OK)
    {
        fail_msg("line %zu: %s", t->err.line, t->err.msg);
    }

    free(rules);
    free(lists);

    return au;
}


static void
set_scope(test_ctx_t *t, const char *clinic, unsigned integrated)
{
    t->ctx.scope.org_code.data = U(clinic);
    t->ctx.scope.org_code.len = 22;
    t->ctx.scope.entity_code.data = U(integrated ? ENTITY
                                                 : "H37010200105");
    t->ctx.scope.entity_code.len = 12;
    t->ctx.scope.admdvs.data = U("370102");
    t->ctx.scope.admdvs.len = 6;
    t->ctx.integrated = integrated;
}


static int
test_setup(void **state)
{
    test_ctx_t  *t;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);

    *state = t;

    t->au = load(t);

    set_scope(t, CLINIC, 1);
    t->ctx.gend = '1';
    t->ctx.birth = yibao_audit_day(U("1960-03-15"), 10);
    t->ctx.today = yibao_audit_day(U("2026-12-07"), 10);
    t->ctx.med_type.data = U("11");
    t->ctx.med_type.len = 2;
    t->ctx.visits_today = 1;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *t = *state;

    yibao_test_arena_free(&t->arena);
    free(t);

    return 0;
}


/* adds a line: cnt and pric in hundredths */

static void
line(test_ctx_t *t, const char *sn, const char *code, int cnt, int pric)
{
    yibao_audit_line_t  *l;

    l = &t->lines[t->n++];
    memset(l, 0, sizeof(yibao_audit_line_t));

    l->sn.data = U(sn);
    l->sn.len = strlen(sn);
    l->code.data = U(code);
    l->code.len = strlen(code);
    l->doctor.data = U(DOCTOR);
    l->doctor.len = strlen(DOCTOR);
    l->cnt = (int64_t) cnt * 10000;
    l->pric = (int64_t) pric * 10000;
    l->amt = (int64_t) cnt * pric * 100;
    l->day = t->ctx.today;
}


static void
run(test_ctx_t *t)
{
    assert_int_equal(yibao_audit_run(t->au, &t->ctx, t->lines, t->n,
                                     &t->alloc, &t->res), YIBAO_OK);
}


static const yibao_audit_finding_t *
finding(test_ctx_t *t, const char *id)
{
    size_t       i;
    yibao_str_t  rid;

    for (i = 0; i < t->res.n; i++) {
        rid = yibao_audit_rule_id(t->res.findings[i].rule);

        if (rid.len == strlen(id) && memcmp(rid.data, id, rid.len) == 0) {
            return &t->res.findings[i];
        }
    }

    return NULL;
}


static void
test_audit_clean_visit(void **state)
{
    test_ctx_t  *t = *state;

    line(t, "1", EXAM_FEE, 100, 1000);
    line(t, "2", AMOX, 200, 1260);
    line(t, "3", CEFU, 100, 2000);     /* the township's list */
    line(t, "4", ATOR, 100, 2500);     /* the county's list */
    run(t);

    assert_int_equal(t->res.n, 0);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_OFF);
}


static void
test_audit_gp_fee(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", GP_FEE, 100, 1000);
    line(t, "2", AMOX, 100, 1260);
    run(t);
    assert_null(finding(t, "YB-L01"));

    /* with 诊查费: the 诊查费 line is the one charged too much */

    line(t, "3", EXAM_FEE, 100, 1000);
    run(t);

    f = finding(t, "YB-L01");
    assert_non_null(f);
    assert_int_equal(f->mode, YIBAO_AUDIT_ENFORCE);
    assert_int_equal(f->sev, 1);
    assert_int_equal(f->amt, 10 * 1000000);
    assert_int_equal(f->ndetails, 2);
    assert_memory_equal(f->details[0].rx_id.data, "1", 1);
    assert_int_equal(f->details[0].type, 2);
    assert_memory_equal(f->details[1].rx_id.data, "3", 1);
    assert_int_equal(f->details[1].type, 1);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_ENFORCE);

    /* twice in a visit: once in an earlier 2204 of the same visit */

    t->n = 0;
    line(t, "9", GP_FEE, 100, 1000);
    t->ctx.earlier = &t->lines[0];
    t->ctx.nearlier = 1;
    line(t, "10", GP_FEE, 100, 1000);

    assert_int_equal(yibao_audit_run(t->au, &t->ctx, &t->lines[1], 1,
                                     &t->alloc, &t->res), YIBAO_OK);
    f = finding(t, "YB-L01");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_memory_equal(f->details[0].rx_id.data, "10", 2);
    assert_int_equal(f->amt, 10 * 1000000);

    /* only the earlier ones: nothing new to find */

    assert_int_equal(yibao_audit_run(t->au, &t->ctx, &t->lines[1], 0,
                                     &t->alloc, &t->res), YIBAO_OK);
    assert_null(finding(t, "YB-L01"));
}


static void
test_audit_split_visit(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", EXAM_FEE, 100, 1000);
    run(t);
    assert_null(finding(t, "YB-L02"));

    t->ctx.visits_today = 2;
    run(t);
    f = finding(t, "YB-L02");
    assert_non_null(f);
    assert_int_equal(f->mode, YIBAO_AUDIT_WARN);
    assert_int_equal(f->sev, 2);
    assert_int_equal(f->details[0].type, 2);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_WARN);
}


static void
test_audit_supply_days(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    /* 24 capsules a box, 2 a dose, 4 a day: 3 days a box */

    line(t, "1", AMOX, 200, 1260);
    run(t);
    assert_null(finding(t, "YB-L03"));

    line(t, "2", "XM01AEB059A002957235362", 100, 1500);   /* 10 days */
    run(t);
    f = finding(t, "YB-L03");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_memory_equal(f->details[0].rx_id.data, "2", 1);
    assert_int_equal(f->amt, 4500000);   /* 3 of the 10 days */
    assert_non_null(strstr(f->cont, "10.0"));

    /* an emergency visit: 3 days, so 2 boxes of amoxicillin (6) too */

    t->ctx.med_type.data = U("13");
    run(t);
    f = finding(t, "YB-L03");
    assert_int_equal(f->ndetails, 2);

    /* a chronic one: 30 */

    t->ctx.med_type.data = U("14");
    run(t);
    assert_null(finding(t, "YB-L03"));

    assert_int_equal(yibao_audit_supply(t->au, &t->ctx.scope, &t->lines[1]),
                     10);
    assert_int_equal(yibao_audit_supply(t->au, &t->ctx.scope, &t->lines[0]),
                     6);
}


static void
test_audit_repeat_rx(void **state)
{
    test_ctx_t                    *t = *state;
    yibao_audit_supply_t           h[2];
    const yibao_audit_finding_t   *f;

    line(t, "1", AMOX, 100, 1260);
    h[0].code.data = U(AMOX);
    h[0].code.len = strlen(AMOX);
    h[0].day = t->ctx.today - 5;
    h[0].days = 6;                    /* used up tomorrow: tolerated */
    h[1] = h[0];
    h[1].code.data = U(LEVO);

    t->ctx.history = h;
    t->ctx.nhistory = 2;
    run(t);
    assert_null(finding(t, "YB-L04"));

    h[0].days = 9;                    /* 4 days left */
    run(t);
    f = finding(t, "YB-L04");
    assert_non_null(f);
    assert_int_equal(f->amt, 12600000);
    assert_non_null(strstr(f->cont, "4"));

    /* the same drug twice in one visit */

    t->ctx.nhistory = 0;
    line(t, "2", AMOX, 100, 1260);
    run(t);
    f = finding(t, "YB-L04");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_memory_equal(f->details[0].rx_id.data, "2", 1);
}


static void
test_audit_price_cap(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", AMOX, 200, 1500);
    run(t);
    assert_null(finding(t, "YB-L05"));

    t->lines[0].pric = 16 * 1000000;
    run(t);
    f = finding(t, "YB-L05");
    assert_non_null(f);
    assert_int_equal(f->amt, 2 * 1000000);    /* 1.00 over, 2 boxes */
    assert_int_equal(f->details[0].amt, 2 * 1000000);
}


static void
test_audit_drug_list(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", LEVO, 100, 2000);
    line(t, "2", EXAM_FEE, 100, 1000);    /* not a drug: not checked */
    run(t);
    f = finding(t, "YB-L06");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_int_equal(f->mode, YIBAO_AUDIT_WARN);

    /* the township's list is for its 一体化 clinics only */

    t->n = 0;
    line(t, "1", CEFU, 100, 2000);
    run(t);
    assert_null(finding(t, "YB-L06"));

    set_scope(t, OWN_CLINIC, 0);
    run(t);
    f = finding(t, "YB-L06");
    assert_non_null(f);
    assert_int_equal(f->mode, YIBAO_AUDIT_SHADOW);   /* its own row */
    assert_int_equal(t->res.worst, YIBAO_AUDIT_SHADOW);

    /* the county's list is the county's */

    t->n = 0;
    line(t, "1", ATOR, 100, 2500);
    t->ctx.scope.admdvs.data = U("370103");
    run(t);
    assert_non_null(finding(t, "YB-L06"));
}


static void
test_audit_gender_and_age(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", PROG, 100, 500);
    line(t, "2", CHILD_IV, 100, 800);

    t->ctx.gend = '2';
    t->ctx.birth = yibao_audit_day(U("2010-12-08"), 10);   /* 15 */
    run(t);
    assert_null(finding(t, "YB-L07"));
    assert_null(finding(t, "YB-L08"));
    assert_null(finding(t, "YB-L09"));

    t->ctx.gend = '1';
    run(t);
    f = finding(t, "YB-L07");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_memory_equal(f->details[0].rx_id.data, "1", 1);
    assert_null(finding(t, "YB-L08"));

    /* unknown: nothing said */

    t->ctx.gend = 0;
    t->ctx.birth = INT32_MIN;
    run(t);
    assert_null(finding(t, "YB-L07"));
    assert_null(finding(t, "YB-L09"));

    /* 18 on the day */

    t->ctx.birth = yibao_audit_day(U("2008-12-07"), 10);
    run(t);
    f = finding(t, "YB-L09");
    assert_non_null(f);
    assert_memory_equal(f->details[0].rx_id.data, "2", 1);
    assert_non_null(strstr(f->cont, "18"));

    t->ctx.birth = yibao_audit_day(U("2008-12-08"), 10);
    run(t);
    assert_null(finding(t, "YB-L09"));
}


static void
test_audit_doctor(void **state)
{
    test_ctx_t                    *t = *state;
    const yibao_audit_finding_t   *f;

    line(t, "1", EXAM_FEE, 100, 1000);
    line(t, "2", AMOX, 100, 1260);
    t->lines[1].doctor.data = U(SUSPENDED);
    run(t);

    f = finding(t, "YB-L10");
    assert_non_null(f);
    assert_int_equal(f->ndetails, 1);
    assert_memory_equal(f->details[0].rx_id.data, "2", 1);

    /* emergencies are paid */

    t->ctx.med_type.data = U("13");
    run(t);
    assert_null(finding(t, "YB-L10"));

    /* the list is the entity's */

    t->ctx.med_type.data = U("11");
    set_scope(t, OWN_CLINIC, 0);
    run(t);
    assert_null(finding(t, "YB-L10"));
}


static void
test_audit_ack(void **state)
{
    test_ctx_t   *t = *state;
    yibao_str_t   acks[2] = { yibao_string("YB-L06"),
                              yibao_string("YB-L01") };

    line(t, "1", LEVO, 100, 2000);
    line(t, "2", GP_FEE, 100, 1000);
    line(t, "3", EXAM_FEE, 100, 1000);
    run(t);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_ENFORCE);

    t->ctx.acks = acks;
    t->ctx.nacks = 2;
    run(t);

    /* YB-L06 allows it, YB-L01 does not */

    assert_true(finding(t, "YB-L06")->acked);
    assert_false(finding(t, "YB-L01")->acked);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_ENFORCE);

    t->n = 1;
    run(t);
    assert_true(finding(t, "YB-L06")->acked);
    assert_int_equal(t->res.worst, YIBAO_AUDIT_OFF);
}


static void
test_audit_json(void **state)
{
    test_ctx_t   *t = *state;
    char         *text;
    json_t       *arr, *o, *d;
    yibao_str_t   jr = yibao_string("H37010200001202612070830100001");

    line(t, "1", GP_FEE, 100, 1000);
    line(t, "2", EXAM_FEE, 100, 1000);
    line(t, "3", LEVO, 100, 2000);
    run(t);
    assert_int_equal(t->res.n, 2);

    arr = yibao_audit_json(&t->res, &jr, 1u << YIBAO_AUDIT_ENFORCE);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 1);

    o = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(o, "jr_id")),
                        "H37010200001202612070830100001-1");
    assert_string_equal(json_string_value(json_object_get(o, "rule_id")),
                        "YB-L01");
    assert_string_equal(json_string_value(json_object_get(o, "rule_name")),
                        "一般诊疗费重复收取");
    assert_int_equal(json_integer_value(json_object_get(o, "sev_deg")), 1);
    assert_true(json_real_value(json_object_get(o, "vola_amt")) == 10.0);
    assert_string_equal(json_string_value(json_object_get(o, "mode")),
                        "enforce");

    d = json_array_get(json_object_get(o, "judge_result_detail_dtos"), 1);
    assert_string_equal(json_string_value(json_object_get(d, "rx_id")), "2");
    assert_string_equal(json_string_value(json_object_get(d,
                                                          "vola_item_type")),
                        "1");
    assert_string_equal(json_string_value(json_object_get(d, "jrd_id")),
                        "H37010200001202612070830100001-1-2");
    json_decref(arr);

    arr = yibao_audit_json(&t->res, &jr, 0xf);
    assert_int_equal(json_array_size(arr), 2);
    text = json_dumps(arr, JSON_COMPACT);
    assert_non_null(strstr(text, "\"rule_id\":\"YB-L06\""));
    free(text);
    json_decref(arr);
}


static void
test_audit_lines_from_json(void **state)
{
    test_ctx_t          *t = *state;
    size_t               n;
    json_t              *in;
    json_error_t         jerr;
    yibao_audit_line_t  *lines;

    in = json_loads("{\"feedetail\":["
                    "{\"feedetl_sn\":\"1\",\"med_list_codg\":\"" AMOX "\","
                    "\"cnt\":2,\"pric\":12.6,\"det_item_fee_sumamt\":25.2,"
                    "\"bilg_dr_codg\":\"" DOCTOR "\","
                    "\"fee_ocur_time\":\"2026-12-07 08:30:00\"},"
                    "{\"feedetl_sn\":2,\"med_list_codg\":\"" EXAM_FEE "\","
                    "\"cnt\":\"1\",\"pric\":\"10.00\","
                    "\"det_item_fee_sumamt\":\"10.00\","
                    "\"fee_ocur_time\":\"2026-12-07 08:30:00\"},"
                    "{\"feedetl_sn\":\"3\",\"med_list_codg\":\"\","
                    "\"cnt\":1,\"pric\":1,\"det_item_fee_sumamt\":1,"
                    "\"fee_ocur_time\":\"2026-12-07 08:30:00\"},"
                    "{\"feedetl_sn\":\"4\",\"med_list_codg\":\"" AMOX "\","
                    "\"cnt\":\"x\",\"pric\":1,\"det_item_fee_sumamt\":1,"
                    "\"fee_ocur_time\":\"2026-12-07 08:30:00\"}]}",
                    0, &jerr);
    assert_non_null(in);

    assert_int_equal(yibao_audit_lines(in, &t->alloc, &lines, &n),
                     YIBAO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(lines[0].cnt, 2000000);
    assert_int_equal(lines[0].pric, 12600000);
    assert_int_equal(lines[0].amt, 25200000);
    assert_int_equal(lines[0].day, t->ctx.today);
    assert_int_equal(lines[0].doctor.len, 13);
    assert_int_equal(lines[1].sn.len, 1);
    assert_memory_equal(lines[1].sn.data, "2", 1);
    assert_int_equal(lines[1].pric, 10000000);
    json_decref(in);
}


static void
test_audit_numbers_and_days(void **state)
{
    int64_t  v;

    (void) state;

    assert_int_equal(yibao_audit_fixed(U("12.6"), 4, &v), YIBAO_OK);
    assert_int_equal(v, 12600000);
    assert_int_equal(yibao_audit_fixed(U("0.000001"), 8, &v), YIBAO_OK);
    assert_int_equal(v, 1);
    assert_int_equal(yibao_audit_fixed(U("1.0000001"), 9, &v),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U(".5"), 2, &v), YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U("5."), 2, &v), YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U("-1"), 2, &v), YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U("99999999999999999999"), 20, &v),
                     YIBAO_ERR_INVALID);
    /* whole numbers of up to 16 digits passed the digits' bound and
       overflowed when scaled to millionths (the fuzzer's find) */
    assert_int_equal(yibao_audit_fixed(U("1204000020000200"), 16, &v),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U("1000000000001"), 13, &v),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_audit_fixed(U("1000000000000"), 13, &v),
                     YIBAO_OK);
    assert_int_equal(v, 1000000000000000000LL);
    assert_int_equal(yibao_audit_fixed(U("999999999.999999"), 16, &v),
                     YIBAO_OK);
    assert_int_equal(v, 999999999999999LL);

    assert_int_equal(yibao_audit_day(U("1970-01-01"), 10), 0);
    assert_int_equal(yibao_audit_day(U("2000-03-01 00:00:00"), 19), 11017);
    assert_int_equal(yibao_audit_day(U("2026-12-07"), 10), 20794);
    assert_int_equal(yibao_audit_day(U("2026-13-07"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("2026/12/07"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("2026-12"), 7), INT32_MIN);

    /* days the month does not have */
    assert_int_equal(yibao_audit_day(U("2026-02-31"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("2026-04-31"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("2026-02-29"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("1900-02-29"), 10), INT32_MIN);
    assert_int_equal(yibao_audit_day(U("2024-02-29"), 10), 19782);
    assert_int_equal(yibao_audit_day(U("2000-02-29"), 10), 11016);
    assert_int_equal(yibao_audit_day(U("2026-03-31"), 10), 20543);
}


/* every mistake names its line and column; nothing is half loaded */

static void
expect_rules_error(const char *text, size_t line, const char *msg)
{
    yibao_err_t         err;
    yibao_alloc_t       alloc;
    yibao_audit_t      *au;
    yibao_test_arena_t  arena;

    yibao_test_arena_init(&arena, &alloc);
    memset(&err, 0, sizeof(err));

    au = yibao_audit_create(&alloc);
    assert_non_null(au);

    if (yibao_audit_add_rules(au, U(text), strlen(text), &err) == YIBAO_OK) {
        assert_int_not_equal(yibao_audit_build(au, &err), YIBAO_OK);
    }

    if (err.line != line || strstr(err.msg, msg) == NULL) {
        fail_msg("%s: line %zu: %s", text, err.line, err.msg);
    }

    yibao_test_arena_free(&arena);
}


static void
test_audit_rules_errors(void **state)
{
    (void) state;

    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\n", 1, "6 columns");
    expect_rules_error("#\nA B\tn\tgp_fee\twarn\t1\t*\tlist=x\n", 2,
                       "column 1 \"id\"");
    expect_rules_error("A\t\tgp_fee\twarn\t1\t*\tlist=x\n", 1,
                       "column 2 \"name\"");
    expect_rules_error("A\tn\tgp\twarn\t1\t*\tlist=x\n", 1,
                       "column 3 \"kind\": \"gp\"");
    expect_rules_error("A\tn\tgp_fee\tblock\t1\t*\tlist=x\n", 1,
                       "column 4 \"mode\"");
    expect_rules_error("A\tn\tgp_fee\twarn\t4\t*\tlist=x\n", 1,
                       "column 5 \"sev\"");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\tadmdvs:3701x\tlist=x\n", 1,
                       "column 6 \"scope\"");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\t-\n", 1,
                       "kind gp_fee needs list=");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\tdays=3\n", 1,
                       "\"days\" is not a parameter of kind gp_fee");
    expect_rules_error("A\tn\tsupply_days\twarn\t1\t*\tdays=x\n", 1,
                       "invalid value for days");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\tlist=\n", 1,
                       "\"list=\" is not key=value");
    expect_rules_error("A\tn\tgender\twarn\t1\t*\tlist=f,gend=3\n", 1,
                       "gend=1 or gend=2");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\tlist=x,ack=maybe\n", 1,
                       "invalid value for ack");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\tlist=x\n"
                       "A\tn\tgp_fee\tenforce\t1\t*\tlist=x\n", 2,
                       "is a duplicate of line 1");
    expect_rules_error("A\tn\tgp_fee\twarn\t1\t*\tlist=x\n"
                       "A\tn\tdoctor\tenforce\t1\tadmdvs:37\tlist=x\n", 2,
                       "of kind gp_fee at line 1");

    /* the list has no entries (no lists file at all here) */

    expect_rules_error("#\n\nA\tn\tdrug_list\twarn\t1\t*\tlists=basic|x\n",
                       3, "the list \"basic\" has no entries");
}


static void
test_audit_lists_errors(void **state)
{
    size_t              i;
    yibao_err_t         err;
    yibao_alloc_t       alloc;
    yibao_audit_t      *au;
    yibao_str_t         l1 = yibao_string("one.tsv"),
                        l2 = yibao_string("two.tsv");
    yibao_test_arena_t  arena;

    static const struct {
        const char  *text;
        size_t       line;
        const char  *msg;
    } bad[] = {
        { "x\t*\n", 1, "2 columns" },
        { "X\t*\tA\n", 1, "column 1 \"list\"" },
        { "x\tclinic:ABC\tA\n", 1, "column 2 \"scope\"" },
        { "x\t*\tA B\n", 1, "column 3 \"code\"" },
        { "x\t*\tA\tunits=0\n", 1, "column 4 \"attrs\"" },
        { "x\t*\tA\tsize=2\n", 1, "column 4 \"attrs\"" },
        { "x\t*\tA\tcap=1.5,dose=\n", 1, "column 4 \"attrs\"" },
        { "x\t*\tA\t-\t\xff\n", 1, "column 5 \"name\"" },
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        yibao_test_arena_init(&arena, &alloc);
        memset(&err, 0, sizeof(err));
        au = yibao_audit_create(&alloc);

        assert_int_not_equal(yibao_audit_add_lists(au, &l1, U(bad[i].text),
                                                   strlen(bad[i].text),
                                                   &err), YIBAO_OK);
        if (err.line != bad[i].line || strstr(err.msg, bad[i].msg) == NULL) {
            fail_msg("%s: line %zu: %s", bad[i].text, err.line, err.msg);
        }

        yibao_test_arena_free(&arena);
    }

    /* a duplicate across files names both */

    yibao_test_arena_init(&arena, &alloc);
    au = yibao_audit_create(&alloc);

    assert_int_equal(yibao_audit_add_lists(au, &l1, U("#\nx\t*\tA\n"), 8,
                                           &err), YIBAO_OK);
    assert_int_equal(yibao_audit_add_lists(au, &l2,
                                           U("x\tadmdvs:37\tA\nx\t*\tA\n"),
                                           20, &err), YIBAO_OK);
    assert_int_not_equal(yibao_audit_build(au, &err), YIBAO_OK);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.msg, "\"two.tsv\" line 2"));
    assert_non_null(strstr(err.msg, "duplicate of \"one.tsv\" line 2"));

    yibao_test_arena_free(&arena);
}


static void
test_audit_nomem(void **state)
{
    int                   rc;
    size_t                n;
    yibao_audit_t        *au;
    test_ctx_t           *t = *state;

    static const char  rules[] = "A\tn\tgp_fee\twarn\t1\t*\tlist=g,with=x\n";
    static const char  lists[] = "g\t*\t" GP_FEE "\nx\t*\tB\n";

    /* every allocation of loading and of a run that finds, failed */

    for (n = 1; ; n++) {
        yibao_test_arena_free(&t->arena);
        yibao_test_arena_init(&t->arena, &t->alloc);
        yibao_test_arena_fail_at(&t->arena, n);

        au = yibao_audit_create(&t->alloc);
        rc = YIBAO_ERR_NOMEM;

        if (au != NULL) {
            rc = yibao_audit_add_rules(au, U(rules), strlen(rules),
                                       &t->err);
        }

        if (rc == YIBAO_OK) {
            rc = yibao_audit_add_lists(au, NULL, U(lists), strlen(lists),
                                       &t->err);
        }

        if (rc == YIBAO_OK) {
            rc = yibao_audit_build(au, &t->err);
        }

        if (rc == YIBAO_OK) {
            t->au = au;
            t->n = 0;
            line(t, "1", GP_FEE, 100, 1000);
            line(t, "2", GP_FEE, 100, 1000);
            rc = yibao_audit_run(au, &t->ctx, t->lines, t->n, &t->alloc,
                                 &t->res);
        }

        if (rc == YIBAO_OK) {
            break;
        }

        assert_int_not_equal(rc, YIBAO_OK);
    }

    assert_true(n > 5);
    assert_int_equal(t->res.n, 1);
    assert_int_equal(t->res.findings[0].ndetails, 2);
}


static void
test_audit_history_roundtrip(void **state)
{
    test_ctx_t              *t = *state;
    yibao_str_t              m1 = yibao_string("M1"), m2 = yibao_string("M2");
    yibao_str_t              out;
    yibao_audit_history_t    h;

    static const char  kept[] =
        "v\tM1\tC\t20794\n"
        "l\tM1\t20794\t0\t1\tA\t-\t1\t1\t1\n"
        "l\tM1\tx\t0\t1\tA\t-\t1\t1\t1\n"
        "rubbish\n";

    /* nothing kept yet: the first visit of the day */

    assert_int_equal(yibao_audit_history_parse(U(""), 0, &t->alloc, &h),
                     YIBAO_OK);
    assert_int_equal(yibao_audit_history_context(&h, &m1, &t->ctx,
                                                 &t->alloc), YIBAO_OK);
    assert_int_equal(t->ctx.visits_today, 1);
    assert_int_equal(t->ctx.nearlier, 0);

    line(t, "1", EXAM_FEE, 100, 1000);
    line(t, "2", AMOX, 200, 1260);            /* 6 days */
    t->lines[1].doctor.data = U("D\t1");      /* a TAB is dropped */
    t->lines[1].doctor.len = 3;

    assert_int_equal(yibao_audit_history_write(t->au, &h, &t->ctx, &m1,
                                               t->lines, 2, 30, 500,
                                               &t->alloc, &out), YIBAO_OK);
    assert_non_null(memmem(out.data, out.len, "v\tM1\t" CLINIC "\t20794\n",
                           strlen("v\tM1\t" CLINIC "\t20794\n")));
    assert_non_null(memmem(out.data, out.len, "\t6\t2\t" AMOX "\tD1\t",
                           strlen("\t6\t2\t" AMOX "\tD1\t")));

    /* the same visit again: its lines are earlier lines */

    assert_int_equal(yibao_audit_history_parse(out.data, out.len, &t->alloc,
                                               &h), YIBAO_OK);
    assert_int_equal(h.nvisits, 1);
    assert_int_equal(h.nlines, 2);
    assert_int_equal(yibao_audit_history_context(&h, &m1, &t->ctx,
                                                 &t->alloc), YIBAO_OK);
    assert_int_equal(t->ctx.visits_today, 1);
    assert_int_equal(t->ctx.nearlier, 2);
    assert_int_equal(t->ctx.earlier[1].amt, 25200000);
    assert_int_equal(t->ctx.nhistory, 0);

    /* another visit: the person's second today, the drug in history */

    assert_int_equal(yibao_audit_history_context(&h, &m2, &t->ctx,
                                                 &t->alloc), YIBAO_OK);
    assert_int_equal(t->ctx.visits_today, 2);
    assert_int_equal(t->ctx.nearlier, 0);
    assert_int_equal(t->ctx.nhistory, 1);
    assert_int_equal(t->ctx.history[0].days, 6);

    /* at another clinic: not counted there */

    set_scope(t, OWN_CLINIC, 0);
    assert_int_equal(yibao_audit_history_context(&h, &m2, &t->ctx,
                                                 &t->alloc), YIBAO_OK);
    assert_int_equal(t->ctx.visits_today, 1);

    /* out of the window, and at most max_lines */

    t->ctx.today += 31;
    assert_int_equal(yibao_audit_history_write(t->au, &h, &t->ctx, &m2,
                                               t->lines, 1, 30, 500,
                                               &t->alloc, &out), YIBAO_OK);
    assert_int_equal(yibao_audit_history_parse(out.data, out.len, &t->alloc,
                                               &h), YIBAO_OK);
    assert_int_equal(h.nvisits, 1);
    assert_int_equal(h.nlines, 1);

    t->ctx.today -= 31;
    assert_int_equal(yibao_audit_history_parse(U(kept), sizeof(kept) - 1,
                                               &t->alloc, &h), YIBAO_OK);
    assert_int_equal(h.nlines, 1);
    assert_int_equal(yibao_audit_history_write(t->au, &h, &t->ctx, &m1,
                                               t->lines, 2, 30, 2,
                                               &t->alloc, &out), YIBAO_OK);
    assert_int_equal(yibao_audit_history_parse(out.data, out.len, &t->alloc,
                                               &h), YIBAO_OK);
    assert_int_equal(h.nlines, 2);
    assert_memory_equal(h.lines[0].line.sn.data, "1", 1);
    assert_memory_equal(h.lines[0].line.code.data, EXAM_FEE, 15);
}


static void
test_audit_acks_attach_log(void **state)
{
    test_ctx_t   *t = *state;
    char         *text;
    size_t        n;
    json_t       *in, *doc, *arr;
    yibao_str_t  *acks, log, jr = yibao_string("M");
    json_error_t  jerr;

    in = json_loads("{\"feedetail\":[],\"yb_audit_ack\":[\"YB-L06:自费\","
                    "\"YB-L01\"]}", 0, &jerr);
    assert_int_equal(yibao_audit_acks(in, &t->alloc, &acks, &n, &t->err),
                     YIBAO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(acks[0].len, 6);
    assert_memory_equal(acks[0].data, "YB-L06", 6);
    assert_memory_equal(acks[1].data, "YB-L01", 6);
    assert_null(json_object_get(in, "yb_audit_ack"));
    json_decref(in);

    in = json_loads("{\"yb_audit_ack\":[\"YB-L06\",1]}", 0, &jerr);
    assert_int_equal(yibao_audit_acks(in, &t->alloc, &acks, &n, &t->err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(t->err.msg, "input.yb_audit_ack[]"));
    json_decref(in);

    line(t, "1", GP_FEE, 100, 1000);
    line(t, "2", EXAM_FEE, 100, 1000);
    line(t, "3", LEVO, 100, 2000);
    t->ctx.acks = acks;
    t->ctx.nacks = 1;
    run(t);

    assert_int_equal(yibao_audit_log(&t->res, &t->alloc, &log), YIBAO_OK);
    assert_int_equal(log.len, strlen("YB-L01:enforce:1:10.00 "
                                     "YB-L06:warn:2:20.00+ack"));
    assert_memory_equal(log.data, "YB-L01:enforce:1:10.00 "
                        "YB-L06:warn:2:20.00+ack", log.len);

    arr = yibao_audit_json(&t->res, &jr, 0xf);
    doc = json_loads("{\"infcode\":0,\"warn_msg\":\"old\","
                     "\"output\":{\"result\":[]}}", 0, &jerr);
    assert_int_equal(yibao_audit_attach(doc, arr, 1), YIBAO_OK);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(doc, "output"), "yb_audit")), 2);
    text = (char *) json_string_value(json_object_get(doc, "warn_msg"));
    assert_non_null(strstr(text, "old; YB-L01 一般诊疗费重复收取: 一般诊疗费"));
    assert_non_null(strstr(text, "; YB-L06 "));
    json_decref(doc);

    /* a refusal's output is null: it becomes an object */

    doc = json_loads("{\"infcode\":-1,\"output\":null}", 0, &jerr);
    assert_int_equal(yibao_audit_attach(doc, arr, 0), YIBAO_OK);
    assert_true(json_is_array(json_object_get(json_object_get(doc, "output"),
                                              "yb_audit")));
    assert_null(json_object_get(doc, "warn_msg"));
    json_decref(doc);
    json_decref(arr);
}


/* the shipped mapping, conf/audit-3101.tsv (its bytes kept in the arena) */

static yibao_audit_map_t *
shipped_map(test_ctx_t *t)
{
    char               *text;
    size_t              len;
    unsigned char      *kept;
    yibao_audit_map_t  *map;

    text = read_conf("conf/audit-3101.tsv", &len);
    kept = yibao_alloc(&t->alloc, len);
    assert_non_null(kept);
    memcpy(kept, text, len);
    free(text);

    map = yibao_audit_map_parse(kept, len, &t->alloc, &t->err);

    if (map == NULL) {
        fail_msg("line %zu: %s", t->err.line, t->err.msg);
    }

    return map;
}


/* a visit with every value set, two fee lines (or none) */

static void
remote_visit(test_ctx_t *t, yibao_audit_remote_t *v)
{
    memset(v, 0, sizeof(yibao_audit_remote_t));
    v->node = (yibao_str_t) yibao_string("data");
    v->syscode = (yibao_str_t) yibao_string("YBGW");
    v->task_id = (yibao_str_t) yibao_string("T1");
    v->trig_scen = (yibao_str_t) yibao_string("2");
    v->psn_no = (yibao_str_t) yibao_string("P1");
    v->gend = (yibao_str_t) yibao_string("1");
    v->brdy = (yibao_str_t) yibao_string("1970-01-01");
    v->poolarea = (yibao_str_t) yibao_string("370102");
    v->mdtrt_id = (yibao_str_t) yibao_string("M1");
    v->entity = (yibao_str_t) yibao_string("H1");
    v->entity_name = (yibao_str_t) yibao_string("N");
    v->admdvs = (yibao_str_t) yibao_string("370102");
    v->med_type = (yibao_str_t) yibao_string("11");
    v->diag = (yibao_str_t) yibao_string("I10.x00");

    t->n = 0;
    line(t, "1", "XJ01", 200, 1260);
    line(t, "2", "XJ02", 100, 1);
}


static void
assert_input(const yibao_audit_map_t *map, const yibao_audit_remote_t *v,
    const yibao_audit_line_t *lines, size_t n, const char *want)
{
    char    *got;
    json_t  *in;

    in = yibao_audit_remote_input(map, v, lines, n);
    assert_non_null(in);
    got = json_dumps(in, JSON_COMPACT);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    json_decref(in);
}


/*
 * The shipped mapping makes, byte for byte, the input the gateway's
 * table in C made before the mapping was data.
 */

static void
test_audit_map_shipped(void **state)
{
    test_ctx_t            *t = *state;
    yibao_audit_map_t     *map;
    yibao_audit_remote_t   v;

    map = shipped_map(t);
    remote_visit(t, &v);

    assert_input(map, &v, t->lines, t->n,
        "{\"data\":{\"syscode\":\"YBGW\",\"task_id\":\"T1\","
        "\"trig_scen\":\"2\",\"patient_dtos\":[{\"patn_id\":\"P1\","
        "\"gend\":\"1\",\"brdy\":\"1970-01-01\",\"poolarea\":\"370102\","
        "\"curr_mdtrt_id\":\"M1\",\"fsi_encounter_dtos\":[{"
        "\"mdtrt_id\":\"M1\",\"medins_id\":\"H1\",\"medins_name\":\"N\","
        "\"medins_admdvs\":\"370102\",\"med_type\":\"11\","
        "\"setl_totlnum\":1,\"fsi_diagnose_dtos\":[{\"dise_codg\":"
        "\"I10.x00\",\"maindise_flag\":\"1\",\"dias_srt_no\":\"1\"}],"
        "\"fsi_order_dtos\":[{\"rx_id\":\"1\",\"hilist_code\":\"XJ01\","
        "\"drord_dr_codg\":\"" DOCTOR "\",\"cnt\":2.0,\"pric\":12.6,"
        "\"sumamt\":25.199999999999999,\"spec\":\"\","
        "\"curr_drord_flag\":\"1\"},{\"rx_id\":\"2\","
        "\"hilist_code\":\"XJ02\",\"drord_dr_codg\":\"" DOCTOR "\","
        "\"cnt\":1.0,\"pric\":0.01,\"sumamt\":0.01,\"spec\":\"\","
        "\"curr_drord_flag\":\"1\"}]}]}]}}");

    /* no diagnosis: no diagnose object; no lines: no order */

    v.diag.len = 0;
    assert_input(map, &v, t->lines, 0,
        "{\"data\":{\"syscode\":\"YBGW\",\"task_id\":\"T1\","
        "\"trig_scen\":\"2\",\"patient_dtos\":[{\"patn_id\":\"P1\","
        "\"gend\":\"1\",\"brdy\":\"1970-01-01\",\"poolarea\":\"370102\","
        "\"curr_mdtrt_id\":\"M1\",\"fsi_encounter_dtos\":[{"
        "\"mdtrt_id\":\"M1\",\"medins_id\":\"H1\",\"medins_name\":\"N\","
        "\"medins_admdvs\":\"370102\",\"med_type\":\"11\","
        "\"setl_totlnum\":1,\"fsi_diagnose_dtos\":[],"
        "\"fsi_order_dtos\":[]}]}]}}");
}


/* another mapping: other keys, literals, a value moved between levels */

static void
test_audit_map_changed(void **state)
{
    test_ctx_t            *t = *state;
    yibao_audit_map_t     *map;
    yibao_audit_remote_t   v;

    static const char  text[] =
        "\xef\xbb\xbf# a province's variant\r\n"
        "data\tsyscode\t\"HIS01\"\n"
        "data\tpatient_dtos\t[patient]\n"
        "data\tversion\t-2\n"
        "\n"
        "patient\tpsn_no\tpsn_no\n"
        "patient\tfsi_encounter_dtos\t[encounter]\n"
        "encounter\tfsi_order_dtos\t[order]\n"
        "encounter\tdiags\t[diagnose]\n"
        "encounter\tgend\tgend\n"
        "diagnose\tcode\tdiag\n"
        "order\tamt\tline.amt\n"
        "order\tmedins_list_codg\tline.code\n"
        "order\tmed_type\tmed_type\n"
        "order\tcurr_drord_flag\t\"0\"";

    map = yibao_audit_map_parse(U(text), sizeof(text) - 1, &t->alloc,
                                &t->err);
    if (map == NULL) {
        fail_msg("line %zu: %s", t->err.line, t->err.msg);
    }

    remote_visit(t, &v);
    v.node = (yibao_str_t) yibao_string("trigScen");

    assert_input(map, &v, t->lines, 1,
        "{\"trigScen\":{\"syscode\":\"HIS01\",\"patient_dtos\":[{"
        "\"psn_no\":\"P1\",\"fsi_encounter_dtos\":[{\"fsi_order_dtos\":"
        "[{\"amt\":25.199999999999999,\"medins_list_codg\":\"XJ01\","
        "\"med_type\":\"11\",\"curr_drord_flag\":\"0\"}],\"diags\":"
        "[{\"code\":\"I10.x00\"}],\"gend\":\"1\"}]}],\"version\":-2}}");
}


/* every kind of mistake: its line and what the message says */

static void
test_audit_map_errors(void **state)
{
    test_ctx_t  *t = *state;
    size_t       i, len;

#define NEST  "data\tp\t[patient]\npatient\te\t[encounter]\n"              \
              "encounter\td\t[diagnose]\nencounter\to\t[order]\n"

    static const struct {
        const char  *text;
        size_t       line;
        const char  *msg;
    } bad[] = {
        { "# x\ndata\tsyscode\n" NEST, 2,
          "2 columns, expected 3: level, field, source" },
        { "data\tsyscode\tsyscode\t\n" NEST, 1, "4 columns, expected 3" },
        { "data\tsyscode\t\n" NEST, 1, "column 3 \"source\": \"\" is not" },
        { NEST "visit\tsyscode\tsyscode\n", 5,
          "column 1 \"level\": \"visit\" is not data, patient" },
        { NEST "data\tsys-code\tsyscode\n", 5,
          "column 2 \"field\": \"sys-code\" is not 1 to 40" },
        { NEST "data\t\tsyscode\n", 5, "column 2 \"field\": \"\" is not" },
        { NEST "data\tp\tsyscode\n", 5,
          "column 2 \"field\": \"p\" is already a field of data" },
        { NEST "order\tx\tpsn_num\n", 5,
          "column 3 \"source\": \"psn_num\" is not a value of the visit" },
        { NEST "order\tx\tline.price\n", 5,
          "column 3 \"source\": \"line.price\" is not a value" },
        { NEST "encounter\tx\tline.code\n", 5,
          "column 3 \"source\": \"line.code\" is a value of the fee line: "
          "only on order lines" },
        { NEST "order\tx\t\"a\"b\"\n", 5,
          "column 3 \"source\": the text \"a\"b\" holds a quote" },
        { NEST "order\tx\t\"a\\b\"\n", 5, "holds a quote, a backslash" },
        { NEST "order\tx\t\"H\x84S01\"\n", 5,
          "column 3 \"source\": the text is not UTF-8" },
        { NEST "order\tx\t12a\n", 5, "\"12a\" is not a value" },
        { NEST "order\tx\t1234567890123456789\n", 5, "is not a value" },
        { NEST "order\tx\t[visit]\n", 5, "\"[visit]\" is not a value" },
        { NEST "order\tx\t[data]\n", 5, "\"[data]\" is not a value" },
        { "data\tp\t[patient]\npatient\te\t[encounter]\n"
          "encounter\td\t[diagnose]\ndata\to\t[order]\n", 4,
          "column 3 \"source\": [order] belongs in encounter, not in data" },
        { NEST "patient\tp2\t[encounter]\n", 5,
          "[encounter] is already placed on line 2" },
        { "# only\ndata\tp\t[patient]\npatient\te\t[encounter]\n"
          "encounter\to\t[order]\n# end\n", 4,
          "no line of encounter places [diagnose] (its array)" },
        { "", 1, "no line of data places [patient]" },
    };

#undef NEST

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&t->err, 0, sizeof(yibao_err_t));
        len = strlen(bad[i].text);

        if (yibao_audit_map_parse(U(bad[i].text), len, &t->alloc, &t->err)
            != NULL)
        {
            fail_msg("case %zu parsed: %s", i, bad[i].text);
        }

        if (t->err.line != bad[i].line
            || strstr(t->err.msg, bad[i].msg) == NULL)
        {
            fail_msg("case %zu: line %zu \"%s\", expected line %zu \"%s\"",
                     i, t->err.line, t->err.msg, bad[i].line, bad[i].msg);
        }
    }

    /* out of memory: said, never a crash */

    for (len = 0; len < 256; len += 16) {
        yibao_test_arena_limit(&t->arena, t->arena.bytes + len);
        memset(&t->err, 0, sizeof(yibao_err_t));

        if (yibao_audit_map_parse(U("data\tp\t[patient]\n"), 17,
                                  &t->alloc, &t->err)
            == NULL
            && strstr(t->err.msg, "out of memory") != NULL)
        {
            continue;
        }

        assert_non_null(strstr(t->err.msg, "[encounter]"));
    }

    yibao_test_arena_limit(&t->arena, 0);
}



static void
test_audit_remote(void **state)
{
    test_ctx_t            *t = *state;
    char                   why[128];
    json_t                *in, *enc, *o, *f;
    yibao_audit_mode_e     worst;
    yibao_audit_remote_t   v;

    static const char  ok[] =
        "{\"infcode\":0,\"err_msg\":null,\"output\":{\"result\":["
        "{\"rule_id\":\"R01\",\"sev_deg\":\"2\",\"vola_amt\":1.5},"
        "{\"rule_id\":\"R02\",\"sev_deg\":1},{\"no\":1}]}}";
    static const char  one[] =
        "{\"infcode\":\"0\",\"output\":{\"result\":"
        "{\"rule_id\":\"R03\",\"sev_deg\":\"3\"}}}";
    static const char  quirk[] =
        "{\"infcode\":\"0\",\"err_msg\":\"FSI-文件查询号不能为空\"}";
    static const char  gw[] = "{\"code\":\"999\",\"msg\":\"x\"}";

    memset(&v, 0, sizeof(v));
    v.node = (yibao_str_t) yibao_string("trigScen");
    v.syscode = (yibao_str_t) yibao_string("YBGW");
    v.trig_scen = (yibao_str_t) yibao_string("2");
    v.psn_no = (yibao_str_t) yibao_string("37000000000000000001");
    v.mdtrt_id = (yibao_str_t) yibao_string("M1");
    v.med_type = (yibao_str_t) yibao_string("11");
    v.diag = (yibao_str_t) yibao_string("I10.x00");

    line(t, "1", AMOX, 200, 1260);
    in = yibao_audit_remote_input(shipped_map(t), &v, t->lines, t->n);
    assert_non_null(in);

    o = json_object_get(in, "trigScen");
    assert_string_equal(json_string_value(json_object_get(o, "trig_scen")),
                        "2");
    o = json_array_get(json_object_get(o, "patient_dtos"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "patn_id")),
                        "37000000000000000001");
    enc = json_array_get(json_object_get(o, "fsi_encounter_dtos"), 0);
    assert_int_equal(json_integer_value(json_object_get(enc,
                                                        "setl_totlnum")), 1);
    o = json_array_get(json_object_get(enc, "fsi_diagnose_dtos"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "dise_codg")),
                        "I10.x00");
    o = json_array_get(json_object_get(enc, "fsi_order_dtos"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "hilist_code")),
                        AMOX);
    assert_true(json_real_value(json_object_get(o, "sumamt")) == 25.2);
    assert_string_equal(json_string_value(json_object_get(o,
                                                   "curr_drord_flag")), "1");
    json_decref(in);

    /* warn: a sev_deg 1 finding makes it warn, the others too */

    assert_int_equal(yibao_audit_remote_answer(U(ok), sizeof(ok) - 1,
                                               YIBAO_AUDIT_ENFORCE, &f,
                                               &worst, why, sizeof(why)),
                     YIBAO_OK);
    assert_int_equal(json_array_size(f), 2);
    assert_int_equal(worst, YIBAO_AUDIT_ENFORCE);
    o = json_array_get(f, 0);
    assert_string_equal(json_string_value(json_object_get(o, "source")),
                        "platform");
    assert_string_equal(json_string_value(json_object_get(o, "mode")),
                        "enforce");
    json_decref(f);

    assert_int_equal(yibao_audit_remote_answer(U(one), sizeof(one) - 1,
                                               YIBAO_AUDIT_ENFORCE, &f,
                                               &worst, why, sizeof(why)),
                     YIBAO_OK);
    assert_int_equal(json_array_size(f), 1);
    assert_int_equal(worst, YIBAO_AUDIT_WARN);   /* sev 3: not refused */
    json_decref(f);

    assert_int_equal(yibao_audit_remote_answer(U(one), sizeof(one) - 1,
                                               YIBAO_AUDIT_SHADOW, &f,
                                               &worst, why, sizeof(why)),
                     YIBAO_OK);
    assert_int_equal(worst, YIBAO_AUDIT_SHADOW);
    json_decref(f);

    assert_int_equal(yibao_audit_remote_answer(U(quirk), sizeof(quirk) - 1,
                                               YIBAO_AUDIT_WARN, &f, &worst,
                                               why, sizeof(why)),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(why, "err_msg"));
    assert_null(f);
    assert_int_equal(yibao_audit_remote_answer(U(gw), sizeof(gw) - 1,
                                               YIBAO_AUDIT_WARN, &f, &worst,
                                               why, sizeof(why)),
                     YIBAO_ERR_INVALID);
    assert_string_equal(why, "not an envelope");
    assert_int_equal(yibao_audit_remote_answer(U("<html>"), 6,
                                               YIBAO_AUDIT_WARN, &f, &worst,
                                               why, sizeof(why)),
                     YIBAO_ERR_INVALID);
}



/*
 * The store's keys of a person: HMAC-SHA256 of psn_no under the
 * installation's secret (the expected digits from Python's hmac), not
 * its plain SHA-256, and another secret gives other keys.
 */

static void
test_audit_store_key(void **state)
{
    test_ctx_t   *t = *state;
    yibao_str_t   sec, sec2, entity, id, key, empty;

    static const char  file[] = "0123456789abcdef0123456789abcdef\n";
    static const char  rev[] = "fedcba9876543210fedcba9876543210";

    assert_int_equal(yibao_audit_secret(U(file), sizeof(file) - 1, &sec,
                                        &t->err),
                     YIBAO_OK);
    assert_int_equal(sec.len, 32);

    entity.data = U(ENTITY);
    entity.len = sizeof(ENTITY) - 1;
    id.data = U("37000000000000000001");
    id.len = 20;

    assert_int_equal(yibao_audit_store_key(&sec, "p", &entity, &id,
                                           &t->alloc, &key),
                     YIBAO_OK);
    assert_int_equal(key.len, sizeof("yibao:audit:p:" ENTITY ":") - 1 + 32);
    assert_memory_equal(key.data, "yibao:audit:p:" ENTITY ":"
                        "54de101eff63062a9a9cb041b1e8baa6", key.len);
    /* the plain SHA-256 of the psn_no: 49eb588830f441916f09d58cceb462cb */
    assert_null(memmem(key.data, key.len, "49eb5888", 8));

    sec2.data = U(rev);
    sec2.len = sizeof(rev) - 1;
    assert_int_equal(yibao_audit_store_key(&sec2, "p", &entity, &id,
                                           &t->alloc, &key),
                     YIBAO_OK);
    assert_memory_equal(key.data, "yibao:audit:p:" ENTITY ":"
                        "2e88dc7e173dfeae259009794a9b182f", key.len);

    /* an empty id is keyed as "-" */
    empty.data = U("");
    empty.len = 0;
    id.data = U("-");
    id.len = 1;
    assert_int_equal(yibao_audit_store_key(&sec, "m", &entity, &empty,
                                           &t->alloc, &key),
                     YIBAO_OK);
    assert_int_equal(yibao_audit_store_key(&sec, "m", &entity, &id,
                                           &t->alloc, &sec2),
                     YIBAO_OK);
    assert_int_equal(key.len, sec2.len);
    assert_memory_equal(key.data, sec2.data, key.len);

    /* too short, also once its line end is taken away */
    assert_int_equal(yibao_audit_secret(U(file), 31, &sec, &t->err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(t->err.msg, "31 bytes, at least 32"));
    assert_int_equal(yibao_audit_secret(U("short\r\n \t\n"), 10, &sec,
                                        &t->err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(t->err.msg, "5 bytes"));
}


/*
 * The platform's findings in the log: its rule_id and sev_deg are
 * outside text; one finding stays one word of five fields whatever
 * they hold.
 */

static void
test_audit_remote_log(void **state)
{
    test_ctx_t   *t = *state;
    json_t       *f;
    yibao_str_t   infno, out;

    infno.data = U("3101");
    infno.len = 4;

    f = json_loads("[{\"rule_id\": \"R01\", \"sev_deg\": 2,"
                   "  \"vola_amt\": 45.2},"
                   " {\"rule_id\": \"R\\\"0\\n2\\tX 3101:F:enforce\","
                   "  \"sev_deg\": \"1\\n\\\"\", \"vola_amt\": 1e300},"
                   " {\"rule_id\": \"370102195603152017\","
                   "  \"sev_deg\": null},"
                   " {\"rule_id\": \"\\u89c4\\u5219"
                   "01234567890123456789012345678901234567890\","
                   "  \"sev_deg\": \"3\", \"vola_amt\": -1.005}]",
                   0, NULL);
    assert_non_null(f);

    assert_int_equal(yibao_audit_remote_log(&infno, f, YIBAO_AUDIT_WARN,
                                            &t->alloc, &out),
                     YIBAO_OK);
    assert_string_equal((const char *) out.data,
                        "3101:R01:warn:2:45.20"
                        " 3101:R?0?2?X?3101?F?enforce:warn:1??:?"
                        " 3101:3701**********2017:warn:?:0.00"
                        " 3101:**0123*****************************"
                        "****7...:warn:3:-1.00");
    assert_int_equal(out.len, strlen((const char *) out.data));

    json_decref(f);

    f = json_array();
    assert_int_equal(yibao_audit_remote_log(&infno, f, YIBAO_AUDIT_SHADOW,
                                            &t->alloc, &out),
                     YIBAO_OK);
    assert_int_equal(out.len, 0);
    json_decref(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name)  cmocka_unit_test_setup_teardown(name, test_setup,           \
                                                 test_teardown)
        T(test_audit_clean_visit),
        T(test_audit_gp_fee),
        T(test_audit_split_visit),
        T(test_audit_supply_days),
        T(test_audit_repeat_rx),
        T(test_audit_price_cap),
        T(test_audit_drug_list),
        T(test_audit_gender_and_age),
        T(test_audit_doctor),
        T(test_audit_ack),
        T(test_audit_json),
        T(test_audit_lines_from_json),
        T(test_audit_numbers_and_days),
        T(test_audit_rules_errors),
        T(test_audit_lists_errors),
        T(test_audit_nomem),
        T(test_audit_history_roundtrip),
        T(test_audit_acks_attach_log),
        T(test_audit_remote),
        T(test_audit_map_shipped),
        T(test_audit_map_changed),
        T(test_audit_map_errors),
        T(test_audit_store_key),
        T(test_audit_remote_log),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
