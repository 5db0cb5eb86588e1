/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "yibao_offline.h"
#include "yibao_gwerr.h"
#include "yibao_test_alloc.h"


#define NOW  "2026-12-07 10:00:00"

static const char  *visit_text =
    "{\"input\":{"
    "\"data\":{\"mdtrt_cert_type\":\"02\","
    "\"mdtrt_cert_no\":\"370102195603152017\",\"psn_name\":\"张三\","
    "\"begntime\":\"2026-12-07 08:30:00\",\"card_sn\":\"\"},"
    "\"mdtrtinfo\":{\"med_type\":\"11\"},"
    "\"diseinfo\":[{\"diag_code\":\"J06.900\"}],"
    "\"feedetail\":[{\"fee_ocur_time\":\"2026-12-07 08:40:00\","
    "\"det_item_fee_sumamt\":12.6},"
    "{\"fee_ocur_time\":\"2026-12-07 08:41:00\","
    "\"det_item_fee_sumamt\":\"7.40\"}],"
    "\"offline\":{\"paid\":\"5.00\"}}}";


static void
load(yibao_envelope_t *env, const char *text)
{
    json_error_t  e;

    memset(env, 0, sizeof(yibao_envelope_t));
    env->infno.data = (const unsigned char *) "2201";
    env->infno.len = 4;
    env->doc = json_loads(text, 0, &e);
    assert_non_null(env->doc);
}


static json_t *
input(yibao_envelope_t *env)
{
    return json_object_get(env->doc, "input");
}


static void
test_check_a_good_visit(void **state)
{
    yibao_envelope_t       env;
    yibao_err_t            err;
    yibao_offline_visit_t  v;

    (void) state;

    load(&env, visit_text);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);
    assert_int_equal(v.total, 2000);
    assert_int_equal(v.paid, 500);
    assert_int_equal(v.lines, 2);
    assert_int_equal(v.diagnoses, 1);
    json_decref(env.doc);
}


/* the record endpoint takes a 2201 only: not another call's envelope */

static void
test_check_refuses_another_infno(void **state)
{
    yibao_envelope_t       env;
    yibao_err_t            err;
    yibao_offline_visit_t  v;

    (void) state;

    load(&env, visit_text);
    env.infno.data = (const unsigned char *) "2207";

    memset(&err, 0, sizeof(err));
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(err.gwerr, YIBAO_GWERR_OFFLINE_INVALID);
    assert_non_null(strstr(err.msg, "infno must be 2201"));
    json_decref(env.doc);
}


static void
refused(const char *what, const char *path, json_t *value, const char *word)
{
    json_t                *o;
    yibao_envelope_t       env;
    yibao_err_t            err;
    yibao_offline_visit_t  v;
    char                   key[64], *dot;

    load(&env, visit_text);

    o = input(&env);
    snprintf(key, sizeof(key), "%s", path);

    while ((dot = strchr(key, '.')) != NULL) {
        *dot = '\0';
        o = json_object_get(o, key);
        if (json_is_array(o)) {
            o = json_array_get(o, 0);
        }
        memmove(key, dot + 1, strlen(dot + 1) + 1);
    }

    if (value == NULL) {
        json_object_del(o, key);
    } else {
        json_object_set_new(o, key, value);
    }

    memset(&err, 0, sizeof(err));
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(err.gwerr, YIBAO_GWERR_OFFLINE_INVALID);

    if (strstr(err.msg, word) == NULL) {
        fail_msg("%s: \"%s\" lacks \"%s\"", what, err.msg, word);
    }

    json_decref(env.doc);
}


static void
test_check_refusals(void **state)
{
    (void) state;

    refused("ecToken", "data.mdtrt_cert_type", json_string("01"),
            "electronic certificate");
    refused("other type", "data.mdtrt_cert_type", json_string("04"),
            "02 (ID number) or 03");
    refused("no number", "data.mdtrt_cert_no", json_string(""),
            "mdtrt_cert_no");
    refused("card without sn", "data.mdtrt_cert_type", json_string("03"),
            "card_sn");
    refused("future visit", "data.begntime",
            json_string("2026-12-07 10:00:01"), "begntime");
    refused("bad time", "data.begntime", json_string("2026-12-07T08:30"),
            "begntime");
    refused("no diagnoses", "diseinfo", json_array(), "diseinfo");
    refused("no fee lines", "feedetail", json_array(), "feedetail");
    refused("fee time", "feedetail.fee_ocur_time", NULL,
            "feedetail[0].fee_ocur_time");
    refused("mills", "feedetail.det_item_fee_sumamt", json_string("1.005"),
            "feedetail[0].det_item_fee_sumamt");
    refused("negative", "feedetail.det_item_fee_sumamt", json_real(-1.0),
            "whole cents");
    refused("paid above", "offline.paid", json_string("20.01"),
            "offline.paid");
    refused("paid missing", "offline.paid", NULL, "offline.paid");
    refused("no offline", "offline", NULL, "offline");
}


static void
seal(yibao_alloc_t *a, uint64_t seq, const char *prev, yibao_str_t *out,
    char *hash)
{
    yibao_envelope_t       env;
    yibao_err_t            err;
    yibao_offline_meta_t   m;
    yibao_offline_visit_t  v;

    load(&env, visit_text);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);

    memset(&m, 0, sizeof(m));
    m.id = (yibao_str_t) yibao_string("JZPDY60134132080312D6001000001");
    m.clinic = (yibao_str_t) yibao_string("PDY60134132080312D6001");
    m.entity = (yibao_str_t) yibao_string("H37010200001");
    m.caller = (yibao_str_t) yibao_string("village-subsystem");
    m.opter = (yibao_str_t) yibao_string("001");
    m.msgid = (yibao_str_t) yibao_string(
        "PDY60134132080312D6001202612071000000001");
    m.day = (yibao_str_t) yibao_string("2026-12-07");
    m.recorded_ms = 1796630400000ULL;
    m.seq = seq;

    assert_int_equal(yibao_offline_seal(&env, &m, &v, prev, a, out, hash),
                     YIBAO_OK);
    json_decref(env.doc);
}


static void
test_seal_verify_chain_and_tamper(void **state)
{
    char                  h1[YIBAO_OFFLINE_HASH_LEN + 1];
    char                  h2[YIBAO_OFFLINE_HASH_LEN + 1], *p;
    yibao_str_t           r1, r2, r3;
    yibao_err_t           err;
    yibao_alloc_t         a;
    yibao_test_arena_t    arena;
    yibao_offline_info_t  info;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    seal(&a, 1, "", &r1, h1);
    seal(&a, 2, h1, &r2, h2);
    assert_int_equal(strlen(h1), 64);
    assert_string_not_equal(h1, h2);

    /* the name is never kept; the ID number is (1101 needs it) */
    assert_null(strstr((const char *) r1.data, "张三"));
    assert_null(strstr((const char *) r1.data, "psn_name"));
    assert_non_null(strstr((const char *) r1.data, "\"paid\":\"5.00\""));
    assert_non_null(strstr((const char *) r1.data, "\"total\":\"20.00\""));

    assert_int_equal(yibao_offline_verify(r1.data, r1.len, "", &info, &err),
                     YIBAO_OK);
    assert_int_equal(info.seq, 1);
    assert_int_equal(info.total, 2000);
    assert_int_equal(info.paid, 500);
    assert_string_equal(info.state, "recorded");
    assert_string_equal(info.hash, h1);
    assert_string_equal(info.id, "JZPDY60134132080312D6001000001");
    assert_string_equal(info.caller, "village-subsystem");
    assert_string_equal(info.entity, "H37010200001");
    assert_string_equal(info.msgid,
                        "PDY60134132080312D6001202612071000000001");
    assert_int_equal(yibao_offline_verify(r2.data, r2.len, h1, &info, &err),
                     YIBAO_OK);

    /* out of the chain: r2 does not follow r2 */
    assert_int_equal(yibao_offline_verify(r2.data, r2.len, h2, &info, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "chain is broken"));

    /* a changed amount */
    p = strstr((char *) r2.data, "\"paid\":\"5.00\"");
    assert_non_null(p);
    p[9] = '1';
    assert_int_equal(yibao_offline_verify(r2.data, r2.len, NULL, &info,
                                          &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "changed after it was taken"));

    /* a new state keeps the hash */
    assert_int_equal(yibao_offline_restate(r1.data, r1.len, "voided", &a,
                                           &r3),
                     YIBAO_OK);
    assert_int_equal(yibao_offline_verify(r3.data, r3.len, "", &info, &err),
                     YIBAO_OK);
    assert_string_equal(info.state, "voided");

    /* not a record */
    assert_int_equal(yibao_offline_verify((const unsigned char *) "{}", 2,
                                          NULL, &info, &err),
                     YIBAO_ERR_INVALID);

    yibao_test_arena_free(&arena);
}


/*
 * A msgid sent again: the same visit (its name aside) is a repeat;
 * another visit, or another amount paid, is not.
 */

static void
test_same_visit_or_another(void **state)
{
    char                   h1[YIBAO_OFFLINE_HASH_LEN + 1];
    yibao_str_t            r1;
    yibao_err_t            err;
    yibao_alloc_t          a;
    yibao_envelope_t       env;
    yibao_test_arena_t     arena;
    yibao_offline_visit_t  v;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    seal(&a, 1, "", &r1, h1);

    load(&env, visit_text);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);
    assert_int_equal(yibao_offline_same(&env, &v, r1.data, r1.len),
                     YIBAO_OK);

    /* the name is not kept: not what tells two visits apart */
    json_object_set_new(json_object_get(input(&env), "data"), "psn_name",
                        json_string("李四"));
    assert_int_equal(yibao_offline_same(&env, &v, r1.data, r1.len),
                     YIBAO_OK);

    /* another patient */
    json_object_set_new(json_object_get(input(&env), "data"),
                        "mdtrt_cert_no", json_string("110101199003074514"));
    assert_int_equal(yibao_offline_same(&env, &v, r1.data, r1.len),
                     YIBAO_ERR_INVALID);
    json_decref(env.doc);

    /* another fee line's amount */
    load(&env, visit_text);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);
    json_object_set_new(json_array_get(json_object_get(input(&env),
                                                       "feedetail"), 0),
                        "det_item_fee_sumamt", json_real(12.7));
    assert_int_equal(yibao_offline_same(&env, &v, r1.data, r1.len),
                     YIBAO_ERR_INVALID);
    json_decref(env.doc);

    /* the same visit, another amount paid */
    load(&env, visit_text);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);
    v.paid = 400;
    assert_int_equal(yibao_offline_same(&env, &v, r1.data, r1.len),
                     YIBAO_ERR_INVALID);

    /* not a record */
    assert_int_equal(yibao_offline_same(&env, &v,
                                        (const unsigned char *) "{}", 2),
                     YIBAO_ERR_INVALID);
    json_decref(env.doc);

    yibao_test_arena_free(&arena);
}


static void
test_limits_and_amounts(void **state)
{
    char          buf[32];
    size_t        i;
    yibao_str_t   clinic;
    const char   *bad[] = {
        "", "JZ", "JZPDY60134132080312D600100001",
        "JZPDY60134132080312D6001000001x", "XZPDY60134132080312D6001000001",
        "jzPDY60134132080312D6001000001", "JZpdy60134132080312D6001000001",
        "JZPDY60134132080312D6001123456789012345678901",
        "JZPDY60134132080312D6001 00001", NULL };

    (void) state;

    assert_true(yibao_offline_within(0, 0, 100, 0, 0));
    assert_true(yibao_offline_within(49, 0, 100, 50, 0));
    assert_false(yibao_offline_within(50, 0, 100, 50, 0));
    assert_true(yibao_offline_within(3, 200000, 100000, 0, 300000));
    assert_false(yibao_offline_within(3, 200001, 100000, 0, 300000));
    assert_false(yibao_offline_within(0, 0, 300001, 0, 300000));

    assert_int_equal(yibao_offline_cents_text("12.3", 4), 1230);
    assert_int_equal(yibao_offline_cents_text("12", 2), 1200);
    assert_int_equal(yibao_offline_cents_text("12.300", 6), 1230);
    assert_int_equal(yibao_offline_cents_text("12.305", 6), -1);
    assert_int_equal(yibao_offline_cents_text("-1", 2), -1);
    assert_int_equal(yibao_offline_cents_text("x", 1), -1);
    assert_int_equal(yibao_offline_cents_text("", 0), -1);

    assert_string_equal(yibao_offline_amount(1230, buf), "12.30");

    /* a record's id: JZ, the clinic's code, 6 to 20 digits */
    assert_int_equal(yibao_offline_id((const unsigned char *)
                                      "JZPDY60134132080312D6001000001",
                                      30, &clinic),
                     YIBAO_OK);
    assert_int_equal(clinic.len, 22);
    assert_memory_equal(clinic.data, "PDY60134132080312D6001", 22);
    assert_int_equal(yibao_offline_id((const unsigned char *)
                                      "JZPDY60134132080312D60011234567",
                                      31, &clinic),
                     YIBAO_OK);
    for (i = 0; bad[i] != NULL; i++) {
        assert_int_equal(yibao_offline_id((const unsigned char *) bad[i],
                                          strlen(bad[i]), &clinic),
                         YIBAO_ERR_INVALID);
    }
    assert_string_equal(yibao_offline_amount(5, buf), "0.05");
    assert_string_equal(yibao_offline_amount(300000, buf), "3000.00");
}


static void
test_plan_who_waits_for_an_operator(void **state)
{
    const char                 *why;
    yibao_str_t                 clinic, local, offsite, none;
    yibao_offline_plan_conf_t   conf;

    (void) state;

    clinic = (yibao_str_t) yibao_string("370102");
    local = (yibao_str_t) yibao_string("370105");
    offsite = (yibao_str_t) yibao_string("371002");
    none = (yibao_str_t) yibao_null_string;

    memset(&conf, 0, sizeof(conf));
    conf.max_age = 72 * 3600 * 1000ULL;

    /* the same pooling area, the same month, young enough */
    assert_int_equal(yibao_offline_plan("2026-12-07 08:30:00", 1000,
                                        "2026-12-08 09:00:00", 2000,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_REPLAY);
    assert_string_equal(why, "");
    /* before 1101 the area is not known yet */
    assert_int_equal(yibao_offline_plan("2026-12-07 08:30:00", 1000,
                                        "2026-12-08 09:00:00", 2000,
                                        &clinic, &none, &conf, &why),
                     YIBAO_OFFLINE_REPLAY);

    assert_int_equal(yibao_offline_plan("2026-12-07 08:30:00", 1000,
                                        "2026-12-08 09:00:00", 2000,
                                        &clinic, &offsite, &conf, &why),
                     YIBAO_OFFLINE_WAIT_OFFSITE);
    assert_non_null(strstr(why, "异地"));

    assert_int_equal(yibao_offline_plan("2026-12-01 08:30:00", 0,
                                        "2026-12-05 09:00:00",
                                        72 * 3600 * 1000ULL + 1,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_WAIT_AGE);

    /* recorded 12-31, settled 01-02: the year (and so the month) */
    assert_int_equal(yibao_offline_plan("2026-12-31 23:00:00", 1000,
                                        "2027-01-01 09:00:00", 2000,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_WAIT_YEAR);
    assert_int_equal(yibao_offline_plan("2026-11-30 23:00:00", 1000,
                                        "2026-12-01 09:00:00", 2000,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_WAIT_MONTH);

    conf.cross_month = 1;
    assert_int_equal(yibao_offline_plan("2026-11-30 23:00:00", 1000,
                                        "2026-12-01 09:00:00", 2000,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_REPLAY);
    assert_int_equal(yibao_offline_plan("2026-12-31 23:00:00", 1000,
                                        "2027-01-01 09:00:00", 2000,
                                        &clinic, &local, &conf, &why),
                     YIBAO_OFFLINE_WAIT_YEAR);
}


static void
test_states_settle_at_most_once(void **state)
{
    size_t       i;
    const char  *next;

    static const char  *path[][3] = {
        { "recorded", "start", "replaying" },
        { "replaying", "presettled", "pending" },
        { "pending", "confirm", "settling" },
        { "settling", "settled", "settled" },
        { "replaying", "lost", "recorded" },
        { "pending", "lost", "recorded" },
        { "waiting", "release", "recorded" },
        { "rejected", "void", "voided" },
    };

    static const char  *never[][2] = {
        { "recorded", "confirm" },      /* no 2207 before a 2206 */
        { "replaying", "confirm" },
        { "settling", "confirm" },      /* confirmed once */
        { "settled", "confirm" },
        { "settled", "start" },         /* a settled record stays so */
        { "settled", "lost" },
        { "settled", "void" },
        { "settling", "void" },         /* its 2207 may have settled */
        { "settling", "lost" },
        { "voided", "start" },
        { "voided", "release" },
        { "recorded", "settled" },
        { "recorded", "nonsense" },
    };

    (void) state;

    for (i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
        assert_int_equal(yibao_offline_next(path[i][0], path[i][1], &next),
                         YIBAO_OK);
        assert_string_equal(next, path[i][2]);
    }

    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (yibao_offline_next(never[i][0], never[i][1], &next)
            != YIBAO_ERR_INVALID)
        {
            fail_msg("%s --%s--> %s allowed", never[i][0], never[i][1],
                     next);
        }
    }

    assert_true(yibao_offline_auto_confirm(1, 500, 500));
    assert_false(yibao_offline_auto_confirm(1, 501, 500));
    assert_false(yibao_offline_auto_confirm(0, 500, 500));
    assert_false(yibao_offline_auto_confirm(1, -1, -1));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_check_a_good_visit),
        cmocka_unit_test(test_check_refuses_another_infno),
        cmocka_unit_test(test_check_refusals),
        cmocka_unit_test(test_seal_verify_chain_and_tamper),
        cmocka_unit_test(test_same_visit_or_another),
        cmocka_unit_test(test_limits_and_amounts),
        cmocka_unit_test(test_plan_who_waits_for_an_operator),
        cmocka_unit_test(test_states_settle_at_most_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
