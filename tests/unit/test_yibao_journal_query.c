/*
 * Copyright (C) yibao-gateway authors
 */


/* The journal's queries and reconciliation aid. */


#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_journal.h"
#include "yibao_test_alloc.h"


#define test_str(s)  ((yibao_str_t) { sizeof(s) - 1,                         \
                                      (const unsigned char *) s })

#define NOW_MS  1795723625782ULL


/* a stored record, as the gateway renders it */

#define REC(state, infno, msgid, extra)                                      \
    "{\"v\":1,\"state\":\"" state "\",\"caller\":\"his\",\"msgid\":\""       \
    msgid "\",\"upstream_msgid\":\"U" msgid "\",\"infno\":\"" infno "\","    \
    "\"clinic\":\"C1\",\"entity\":\"E1\",\"hash\":\"ab\",\"answer\":"        \
    "\"{\\\"certno\\\":\\\"370102195603152017\\\"}\",\"day\":"               \
    "\"2026-11-26\"" extra "}"

#define SETL(sent, setl, time, it, med, fund, acct)                          \
    ",\"sent_ms\":" sent ",\"mdtrt_id\":\"M1\",\"setl_id\":\"" setl "\","    \
    "\"setl_time\":\"" time "\",\"insutype\":\"" it "\",\"clr_type\":"       \
    "\"11\",\"medfee_sumamt\":\"" med "\",\"fund_pay_sumamt\":\"" fund      \
    "\",\"acct_pay\":\"" acct "\""


static json_t *
test_select(yibao_journal_query_t *q, const char *list)
{
    json_t              *v;
    yibao_str_t          out;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_test_arena_t   arena;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_journal_select(q, (const unsigned char *) list,
                                          strlen(list), &a, &out),
                     YIBAO_OK);

    v = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(v);

    yibao_test_arena_free(&arena);

    return v;
}


static const char *
test_get(json_t *o, const char *path)
{
    char         key[64];
    const char  *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int) (dot - path), path);
        o = json_object_get(o, key);
        path = dot + 1;
    }

    return json_string_value(json_object_get(o, path));
}


static void
test_outputs(void **state)
{
    json_t              *input;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    static const char  answer2207[] =
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S1\","
        "\"setl_time\":\"2026-11-26 20:07:01\",\"insutype\":\"310\","
        "\"clr_type\":\"11\",\"medfee_sumamt\":35.2,"
        "\"fund_pay_sumamt\":21.12,\"acct_pay\":0,\"psn_no\":\"P1\"}}}";
    static const char  answer2208[] =
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S2\","
        "\"setl_time\":\"2026-11-27 00:00:01\",\"insutype\":\"390\","
        "\"clr_type\":\"11\",\"medfee_sumamt\":-35.2,"
        "\"fund_pay_sumamt\":\"-21.1\",\"acct_pay\":12.345}}}";
    static const char  answer3201[] =
        "{\"infcode\":0,\"output\":{\"stmtinfo\":{\"stmt_rslt\":\"1\","
        "\"stmt_rslt_dscr\":\"x\"}}}";
    static const char  env3201[] =
        "{\"infno\":\"3201\",\"input\":{\"data\":{\"insutype\":\"310\","
        "\"clr_type\":\"11\",\"stmt_begndate\":\"2026-11-26\","
        "\"stmt_enddate\":\"2026-11-26\",\"medfee_sumamt\":1234567.8,"
        "\"fund_pay_sumamt\":\"0.01\",\"acct_pay\":-0.5,"
        "\"fixmedins_setl_cnt\":3}}}";

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.infno = test_str("2207");

    assert_int_equal(yibao_journal_outputs(NULL,
                         (const unsigned char *) answer2207,
                         sizeof(answer2207) - 1, &a, &j), YIBAO_OK);
    assert_memory_equal(j.platform_setl_id.data, "S1", 2);
    assert_int_equal(j.setl_time.len, 19);
    assert_memory_equal(j.insutype.data, "310", 3);
    assert_int_equal(j.medfee_sumamt.len, 5);
    assert_memory_equal(j.medfee_sumamt.data, "35.20", 5);
    assert_memory_equal(j.fund_pay_sumamt.data, "21.12", 5);
    assert_int_equal(j.acct_pay.len, 4);
    assert_memory_equal(j.acct_pay.data, "0.00", 4);

    /* a refund: negative; a string taken as is; 12.345 is not cents */

    memset(&j, 0, sizeof(yibao_journal_t));
    j.infno = test_str("2208A");

    assert_int_equal(yibao_journal_outputs(NULL,
                         (const unsigned char *) answer2208,
                         sizeof(answer2208) - 1, &a, &j), YIBAO_OK);
    assert_int_equal(j.medfee_sumamt.len, 6);
    assert_memory_equal(j.medfee_sumamt.data, "-35.20", 6);
    assert_int_equal(j.fund_pay_sumamt.len, 6);
    assert_memory_equal(j.fund_pay_sumamt.data, "-21.10", 6);
    assert_int_equal(j.acct_pay.len, 0);

    /* 3201: the declared figures at the claim, the verdict later */

    input = json_loads(env3201, 0, &jerr);
    assert_non_null(input);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.infno = test_str("3201");

    assert_int_equal(yibao_journal_outputs(input, NULL, 0, &a, &j),
                     YIBAO_OK);
    assert_int_equal(j.medfee_sumamt.len, 10);
    assert_memory_equal(j.medfee_sumamt.data, "1234567.80", 10);
    assert_memory_equal(j.fund_pay_sumamt.data, "0.01", 4);
    assert_int_equal(j.acct_pay.len, 5);
    assert_memory_equal(j.acct_pay.data, "-0.50", 5);
    assert_int_equal(j.setl_cnt.len, 1);
    assert_memory_equal(j.stmt_enddate.data, "2026-11-26", 10);
    assert_int_equal(j.stmt_rslt.len, 0);

    assert_int_equal(yibao_journal_outputs(NULL,
                         (const unsigned char *) answer3201,
                         sizeof(answer3201) - 1, &a, &j), YIBAO_OK);
    assert_memory_equal(j.stmt_rslt.data, "1", 1);
    assert_int_equal(j.medfee_sumamt.len, 10);

    /* other transactions, and answers that are not JSON: nothing */

    memset(&j, 0, sizeof(yibao_journal_t));
    j.infno = test_str("2201");
    assert_int_equal(yibao_journal_outputs(input,
                         (const unsigned char *) answer2207,
                         sizeof(answer2207) - 1, &a, &j), YIBAO_OK);
    assert_int_equal(j.platform_setl_id.len, 0);

    j.infno = test_str("2207");
    assert_int_equal(yibao_journal_outputs(NULL,
                         (const unsigned char *) "<html>", 6, &a, &j),
                     YIBAO_OK);
    assert_int_equal(j.medfee_sumamt.len, 0);

    /* out of memory is said */

    yibao_test_arena_fail_from(&arena, 1);
    j.infno = test_str("3201");
    assert_int_equal(yibao_journal_outputs(input, NULL, 0, &a, &j),
                     YIBAO_ERR_NOMEM);

    json_decref(input);
    yibao_test_arena_free(&arena);
}


static void
test_render_keeps_outputs(void **state)
{
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_journal_t      j, back;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.state = YIBAO_JOURNAL_OK;
    j.infno = test_str("2207");
    j.day = test_str("2026-11-26");
    j.medfee_sumamt = test_str("-1.00");
    j.stmt_rslt_dscr = test_str("\xe5\xb9\xb3");

    assert_int_equal(yibao_journal_render(&j, &a, &out), YIBAO_OK);
    assert_non_null(memmem(out.data, out.len, "\"day\":\"2026-11-26\"", 18));

    /* empty ones are left out */
    assert_null(memmem(out.data, out.len, "clr_type", 8));

    assert_int_equal(yibao_journal_parse(out.data, out.len, &a, &back),
                     YIBAO_OK);
    assert_int_equal(back.medfee_sumamt.len, 5);
    assert_memory_equal(back.medfee_sumamt.data, "-1.00", 5);
    assert_int_equal(back.stmt_rslt_dscr.len, 3);
    assert_int_equal(back.clr_type.len, 0);

    yibao_test_arena_free(&arena);
}


static void
test_index_keys(void **state)
{
    size_t               n, i;
    yibao_str_t          keys[YIBAO_JOURNAL_INDEX_MAX], key;
    yibao_alloc_t        a;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    static const char  *want[] = {
        "yibao:{journal}:n:M1",
        "yibao:{journal}:n:HU1",
        "yibao:{journal}:m:MD1",
        "yibao:{journal}:s:S2",
        "yibao:{journal}:c:C1:2026-11-26",
        "yibao:{journal}:e:E1:2026-11-26",
        "yibao:{journal}:e:E1:2026-11-27",
    };

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.state = YIBAO_JOURNAL_SENT;
    j.infno = test_str("2207");
    j.msgid = test_str("M1");
    j.upstream_msgid = test_str("HU1");
    j.mdtrt_id = test_str("MD1");
    j.setl_id = test_str("bad id");          /* not indexed */
    j.platform_setl_id = test_str("S2");
    j.clinic = test_str("C1");
    j.entity = test_str("E1");
    j.day = test_str("2026-11-26");
    j.setl_time = test_str("2026-11-27 00:00:01");

    assert_int_equal(yibao_journal_index_keys(&j, &a, keys, &n), YIBAO_OK);
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));

    for (i = 0; i < n; i++) {
        assert_int_equal(keys[i].len, strlen(want[i]));
        assert_memory_equal(keys[i].data, want[i], keys[i].len);
    }

    /* the same msgid both ways, the same day twice: one key each */

    j.upstream_msgid = j.msgid;
    j.setl_time = test_str("2026-11-26 10:00:00");
    assert_int_equal(yibao_journal_index_keys(&j, &a, keys, &n), YIBAO_OK);
    assert_int_equal(n, 5);

    /* money-moving and not ok: a problem of its day */

    assert_true(yibao_journal_problem(&j));
    j.state = YIBAO_JOURNAL_OK;
    assert_false(yibao_journal_problem(&j));
    j.state = YIBAO_JOURNAL_FAILED;
    j.infno = test_str("2204");
    assert_false(yibao_journal_problem(&j));

    /* not a settlement nor a statement: not in the entity's day */

    assert_int_equal(yibao_journal_index_keys(&j, &a, keys, &n), YIBAO_OK);
    assert_int_equal(n, 4);

    for (i = 0; i < n; i++) {
        assert_null(memmem(keys[i].data, keys[i].len, ":e:", 3));
    }

    assert_int_equal(yibao_journal_problem_key(&j.day, &a, &key), YIBAO_OK);
    assert_int_equal(key.len, sizeof("yibao:{journal}:x:2026-11-26") - 1);
    assert_memory_equal(key.data, "yibao:{journal}:x:2026-11-26", key.len);

    key = test_str("2026-1-26");
    assert_int_equal(yibao_journal_problem_key(&key, &a, &key),
                     YIBAO_ERR_INVALID);

    yibao_test_arena_fail_from(&arena, 1);
    assert_int_equal(yibao_journal_index_keys(&j, &a, keys, &n),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


static void
test_query_key(void **state)
{
    yibao_err_t            err;
    yibao_str_t            key;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_journal_query_t  q;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&q, 0, sizeof(q));
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);

    q.kind = YIBAO_JOURNAL_Q_SETL;
    q.value = test_str("S-1.x_2");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err), YIBAO_OK);
    assert_memory_equal(key.data, "yibao:{journal}:s:S-1.x_2", key.len);

    q.value = test_str("S 1");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "id"));

    q.kind = YIBAO_JOURNAL_Q_CLINIC;
    q.clinic = test_str("C1");
    q.day = test_str("2026-11-26");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err), YIBAO_OK);
    assert_memory_equal(key.data, "yibao:{journal}:c:C1:2026-11-26",
                        key.len);

    q.day = test_str("2026/11/26");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "YYYY-MM-DD"));

    q.kind = YIBAO_JOURNAL_Q_PROBLEMS;
    q.day = test_str("2026-11-26");
    q.clinic = test_str("");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err), YIBAO_OK);
    assert_memory_equal(key.data, "yibao:{journal}:x:2026-11-26", key.len);

    q.kind = YIBAO_JOURNAL_Q_TOTALS;
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "entity"));

    q.entity = test_str("E1");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err), YIBAO_OK);
    assert_memory_equal(key.data, "yibao:{journal}:e:E1:2026-11-26",
                        key.len);

    q.medfee_sumamt = test_str("12.345");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "medfee_sumamt"));

    q.medfee_sumamt = test_str("-12.3");
    q.setl_cnt = test_str("2.5");
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "whole"));

    q.kind = YIBAO_JOURNAL_Q_UNKNOWN;
    assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err), YIBAO_OK);
    assert_memory_equal(key.data, YIBAO_JOURNAL_UNKNOWN_SET, key.len);

    yibao_test_arena_free(&arena);
}


/* 1 if key is one of keys[0 .. n - 1] */

static int
test_has(yibao_str_t *keys, size_t n, const yibao_str_t *key)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (keys[i].len == key->len
            && memcmp(keys[i].data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
test_has_key(yibao_str_t *keys, size_t n, const char *key)
{
    yibao_str_t  k;

    k.data = (const unsigned char *) key;
    k.len = strlen(key);

    return test_has(keys, n, &k);
}


static void
test_zone_keys(void **state)
{
    size_t                 n, i, calls;
    yibao_err_t            err;
    yibao_str_t            keys[YIBAO_JOURNAL_ZONE_KEYS], key;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_journal_query_t  q;

    static const char  sent[] = REC("sent", "2207", "M1",
        SETL("1", "S1", "2026-11-27 09:00:00", "310", "1.00", "0.50",
             "0.20"));
    static const char  ok[] = REC("ok", "2207", "M1",
        SETL("1", "S1", "2026-11-27 09:00:00", "310", "1.00", "0.50",
             "0.20"));
    static const char  failed[] = REC("failed", "2207", "M1", "");
    static const char  unknown[] = REC("unknown", "2204", "M2", "");

    (void) state;

    yibao_test_arena_init(&arena, &a);

    /* a settlement being sent: its index sets, a problem, unknown */

    assert_int_equal(yibao_journal_zone_keys((const unsigned char *) sent,
                                             sizeof(sent) - 1, &a, keys, &n),
                     YIBAO_OK);
    assert_true(n <= YIBAO_JOURNAL_ZONE_KEYS);
    assert_true(test_has_key(keys, n, "yibao:{journal}:n:M1"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:n:UM1"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:m:M1"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:s:S1"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:c:C1:2026-11-26"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:e:E1:2026-11-26"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:e:E1:2026-11-27"));
    assert_true(test_has_key(keys, n, "yibao:{journal}:x:2026-11-26"));
    assert_true(test_has_key(keys, n, YIBAO_JOURNAL_UNKNOWN_SET));
    assert_int_equal(n, 9);

    /* every query that it answers names one of its keys */

    memset(&q, 0, sizeof(q));
    q.day = test_str("2026-11-26");
    q.clinic = test_str("C1");
    q.entity = test_str("E1");

    for (i = YIBAO_JOURNAL_Q_MSGID; i <= YIBAO_JOURNAL_Q_UNKNOWN; i++) {
        q.kind = (yibao_journal_q_e) i;
        q.value = i == YIBAO_JOURNAL_Q_MSGID ? test_str("UM1")
                  : i == YIBAO_JOURNAL_Q_MDTRT ? test_str("M1")
                  : test_str("S1");
        assert_int_equal(yibao_journal_query_key(&q, &a, &key, &err),
                         YIBAO_OK);
        assert_true(test_has(keys, n, &key));
    }

    /* ended ok: neither a problem nor unknown any more */

    assert_int_equal(yibao_journal_zone_keys((const unsigned char *) ok,
                                             sizeof(ok) - 1, &a, keys, &n),
                     YIBAO_OK);
    assert_int_equal(n, 7);
    assert_false(test_has_key(keys, n, "yibao:{journal}:x:2026-11-26"));
    assert_false(test_has_key(keys, n, YIBAO_JOURNAL_UNKNOWN_SET));

    /* refused: a problem of its day, not unknown */

    assert_int_equal(yibao_journal_zone_keys((const unsigned char *) failed,
                                             sizeof(failed) - 1, &a, keys,
                                             &n),
                     YIBAO_OK);
    assert_true(test_has_key(keys, n, "yibao:{journal}:x:2026-11-26"));
    assert_false(test_has_key(keys, n, YIBAO_JOURNAL_UNKNOWN_SET));

    /* unknown and not money-moving: unknown, not a problem */

    assert_int_equal(yibao_journal_zone_keys((const unsigned char *) unknown,
                                             sizeof(unknown) - 1, &a, keys,
                                             &n),
                     YIBAO_OK);
    assert_true(test_has_key(keys, n, YIBAO_JOURNAL_UNKNOWN_SET));
    assert_false(test_has_key(keys, n, "yibao:{journal}:x:2026-11-26"));
    assert_false(test_has_key(keys, n, "yibao:{journal}:e:E1:2026-11-26"));

    /* not a record: no key */

    assert_int_equal(yibao_journal_zone_keys((const unsigned char *) "[1]",
                                             3, &a, keys, &n),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(n, 0);

    /* no memory at any allocation */

    for (calls = 1; ; calls++) {
        yibao_test_arena_fail_at(&arena, calls);

        if (yibao_journal_zone_keys((const unsigned char *) sent,
                                    sizeof(sent) - 1, &a, keys, &n)
            == YIBAO_OK)
        {
            break;
        }

        assert_true(calls < 100);
    }

    assert_true(calls > 1);

    yibao_test_arena_free(&arena);
}


static void
test_select_queries(void **state)
{
    json_t                 *v;
    yibao_str_t             out;
    yibao_alloc_t           a;
    yibao_test_arena_t      arena;
    yibao_journal_query_t   q;

    static const char  list[] = "["
        REC("ok", "2207", "B", SETL("300", "S1", "2026-11-26 10:00:00",
                                    "310", "10.00", "6.00", "0.00")
            ",\"psn_no\":\"37000000000000000001\"") ","
        REC("unknown", "2207", "A", ",\"sent_ms\":100,\"mdtrt_id\":\"M1\"") ","
        REC("sent", "2208", "C", ",\"sent_ms\":" "1795723000000") ","
        REC("sent", "2207", "D", ",\"sent_ms\":" "1795723625000") ","
        REC("reversed", "2207", "E", ",\"sent_ms\":50,\"mdtrt_id\":\"M1\"") ","
        REC("failed", "2204", "F", ",\"sent_ms\":60") ","
        "{\"v\":2},17,\"x\"]";

    (void) state;

    memset(&q, 0, sizeof(q));
    q.now_ms = NOW_MS;
    q.in_flight_ms = 120000;

    /* by mdtrt_id: oldest first, a state of another helper's too */

    q.kind = YIBAO_JOURNAL_Q_MDTRT;
    q.value = test_str("M1");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 3);
    assert_string_equal(test_get(json_array_get(v, 0), "msgid"), "E");
    assert_string_equal(test_get(json_array_get(v, 1), "msgid"), "A");
    assert_string_equal(test_get(json_array_get(v, 2), "msgid"), "B");

    /* no stored answer, no hash, psn_no masked */
    assert_null(json_object_get(json_array_get(v, 2), "answer"));
    assert_null(json_object_get(json_array_get(v, 2), "hash"));
    assert_string_equal(test_get(json_array_get(v, 2), "psn_no"),
                        "3700************0001");
    json_decref(v);

    /* by msgid: the caller's or the upstream one */

    q.kind = YIBAO_JOURNAL_Q_MSGID;
    q.value = test_str("UC");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(test_get(json_array_get(v, 0), "msgid"), "C");
    assert_true(json_is_true(json_object_get(json_array_get(v, 0),
                                             "overdue")));
    json_decref(v);

    q.kind = YIBAO_JOURNAL_Q_SETL;
    q.value = test_str("S1");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 1);
    json_decref(v);

    q.kind = YIBAO_JOURNAL_Q_CLINIC;
    q.clinic = test_str("C1");
    q.day = test_str("2026-11-26");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 6);
    json_decref(v);

    q.day = test_str("2026-11-25");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);

    /*
     * problems: money-moving, unknown or failed, or sent longer ago than
     * in_flight; not one still in flight (D), not a failed 2204 (F), not
     * a reversed one (E)
     */

    q.kind = YIBAO_JOURNAL_Q_PROBLEMS;
    q.day = test_str("2026-11-26");
    q.clinic = test_str("");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 2);
    assert_string_equal(test_get(json_array_get(v, 0), "msgid"), "A");
    assert_string_equal(test_get(json_array_get(v, 1), "msgid"), "C");
    assert_null(json_object_get(json_array_get(v, 0), "overdue"));
    json_decref(v);

    q.clinic = test_str("C2");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 0);
    json_decref(v);

    q.kind = YIBAO_JOURNAL_Q_UNKNOWN;
    v = test_select(&q, list);
    assert_int_equal(json_array_size(v), 1);
    json_decref(v);

    /* one record from Redis and from a zone: once, the later one */

    q.kind = YIBAO_JOURNAL_Q_MSGID;
    q.value = test_str("A");
    v = test_select(&q, "["
        REC("unknown", "2207", "A", ",\"sent_ms\":1,\"done_ms\":5") ","
        REC("ok", "2207", "A", ",\"sent_ms\":1,\"done_ms\":9") ","
        REC("sent", "2207", "A", ",\"sent_ms\":1,\"done_ms\":0") "]");
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(test_get(json_array_get(v, 0), "state"), "ok");
    json_decref(v);

    /*
     * read twice from a zone, before and after an operator resolved it
     * (done_ms unchanged): the resolution is kept, in either order
     */

    v = test_select(&q, "["
        REC("ok", "2207", "A", ",\"done_ms\":5,\"resolved_ms\":7") ","
        REC("unknown", "2207", "A", ",\"done_ms\":5") "]");
    assert_string_equal(test_get(json_array_get(v, 0), "state"), "ok");
    json_decref(v);

    v = test_select(&q, "["
        REC("unknown", "2207", "A", ",\"done_ms\":5") ","
        REC("ok", "2207", "A", ",\"done_ms\":5,\"resolved_ms\":7") "]");
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(test_get(json_array_get(v, 0), "state"), "ok");
    json_decref(v);

    /* not a list; out of memory */

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_journal_select(&q, (const unsigned char *) "{}",
                                          2, &a, &out),
                     YIBAO_ERR_SYNTAX);

    yibao_test_arena_fail_from(&arena, 1);
    assert_int_equal(yibao_journal_select(&q, (const unsigned char *) list,
                                          sizeof(list) - 1, &a, &out),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


/*
 * The answer built from records given one at a time is the answer of
 * the whole list: of each query, in any order of the records, with
 * unreadable ones among them.
 */

static void
test_sel_in_steps(void **state)
{
    size_t                 i, k, r;
    char                   list[4096];
    yibao_str_t            whole, steps;
    yibao_alloc_t          a, tmp;
    yibao_test_arena_t     arena;
    yibao_journal_sel_t   *s;
    yibao_journal_query_t  q;

    static const char  *recs[] = {
        REC("ok", "2207", "B", SETL("300", "S1", "2026-11-26 10:00:00",
                                    "310", "10.00", "6.00", "0.00")
            ",\"psn_no\":\"37000000000000000001\""),
        REC("unknown", "2207", "A", ",\"sent_ms\":100,\"mdtrt_id\":\"M1\""),
        REC("sent", "2208", "C", ",\"sent_ms\":" "1795723000000"),
        REC("ok", "2207", "A", ",\"sent_ms\":100,\"done_ms\":9,"
            "\"mdtrt_id\":\"M1\""),
        REC("failed", "2207", "F", ",\"sent_ms\":60"),
        "{\"v\":2}",
        "{not json",
    };

    static const yibao_journal_q_e  kinds[] = {
        YIBAO_JOURNAL_Q_MDTRT, YIBAO_JOURNAL_Q_PROBLEMS,
        YIBAO_JOURNAL_Q_UNKNOWN, YIBAO_JOURNAL_Q_TOTALS
    };

    (void) state;

    /* the whole list, readable records only (select refuses others) */

    list[0] = '[';
    list[1] = '\0';

    for (i = 0; i < sizeof(recs) / sizeof(recs[0]) - 1; i++) {
        if (i) {
            strcat(list, ",");
        }

        strcat(list, recs[i]);
    }

    strcat(list, "]");

    yibao_test_arena_init(&arena, &a);

    memset(&q, 0, sizeof(q));
    q.now_ms = NOW_MS;
    q.in_flight_ms = 120000;
    q.value = test_str("M1");
    q.day = test_str("2026-11-26");
    q.entity = test_str("E1");

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        q.kind = kinds[k];

        assert_int_equal(yibao_journal_select(&q,
                                              (const unsigned char *) list,
                                              strlen(list), &a, &whole),
                         YIBAO_OK);

        /* forwards and backwards */

        for (r = 0; r < 2; r++) {

            /* the allocator is copied: the caller's can go away */

            tmp = a;
            s = yibao_journal_sel_create(&q, &tmp);
            assert_non_null(s);
            memset(&tmp, 0, sizeof(yibao_alloc_t));

            for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
                const char  *rec = recs[r ? sizeof(recs) / sizeof(recs[0])
                                            - 1 - i : i];

                assert_int_equal(yibao_journal_sel_add(s,
                                     (const unsigned char *) rec,
                                     strlen(rec)),
                                 YIBAO_OK);
            }

            assert_int_equal(yibao_journal_sel_answer(s, &a, &steps),
                             YIBAO_OK);
            yibao_journal_sel_free(s);
            yibao_journal_sel_free(s);

            assert_int_equal(steps.len, whole.len);
            assert_memory_equal(steps.data, whole.data, whole.len);
        }
    }

    /* the later write of A is kept: it ended ok, no problem any more */

    q.kind = YIBAO_JOURNAL_Q_PROBLEMS;
    assert_int_equal(yibao_journal_select(&q, (const unsigned char *) list,
                                          strlen(list), &a, &whole),
                     YIBAO_OK);
    assert_null(memmem(whole.data, whole.len, "\"msgid\":\"A\"", 11));
    assert_non_null(memmem(whole.data, whole.len, "\"msgid\":\"F\"", 11));

    /* no memory */

    yibao_test_arena_fail_from(&arena, 1);
    assert_null(yibao_journal_sel_create(&q, &a));

    yibao_test_arena_fail_at(&arena, 0);
    s = yibao_journal_sel_create(&q, &a);
    assert_non_null(s);
    assert_int_equal(yibao_journal_sel_add(s, (const unsigned char *)
                                           recs[4], strlen(recs[4])),
                     YIBAO_OK);
    yibao_test_arena_fail_from(&arena, 1);
    assert_int_equal(yibao_journal_sel_answer(s, &a, &steps),
                     YIBAO_ERR_NOMEM);
    yibao_journal_sel_free(s);

    yibao_test_arena_free(&arena);
}


static void
test_public(void **state)
{
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    static const char  rec[] =
        REC("ok", "2201", "A", ",\"psn_no\":\"3700001234\"");

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_journal_public((const unsigned char *) rec,
                                          sizeof(rec) - 1, &a, &out),
                     YIBAO_OK);
    assert_null(memmem(out.data, out.len, "3700001234", 10));
    assert_null(memmem(out.data, out.len, "370102195603152017", 18));
    assert_non_null(memmem(out.data, out.len, "\"psn_no\":\"3700**1234\"",
                           21));

    assert_int_equal(yibao_journal_public((const unsigned char *) "[1]", 3,
                                          &a, &out),
                     YIBAO_ERR_SYNTAX);

    yibao_test_arena_free(&arena);
}


static void
test_totals(void **state)
{
    json_t                 *v, *g;
    yibao_journal_query_t   q;

    /*
     * E1 on 2026-11-26: two settlements of 310 (10.00 and 20.50), one
     * refunded (-20.50) that day, one of 390; one settled the day
     * before (not counted), one reversed (not counted), one unknown,
     * one ok without amounts (resolved by hand), another entity's, and
     * two statements (3201) of the day, one of a range.
     */
    static const char  list[] = "["
        REC("ok", "2207", "A", SETL("1", "S1", "2026-11-26 09:00:00", "310",
                                    "10.00", "6.00", "1.00")) ","
        REC("ok", "2207", "B", SETL("2", "S2", "2026-11-26 09:10:00", "310",
                                    "20.50", "12.30", "0.00")) ","
        REC("ok", "2208", "C", SETL("3", "S2", "2026-11-26 09:20:00", "310",
                                    "-20.50", "-12.30", "0.00")) ","
        REC("ok", "2207", "D", SETL("4", "S4", "2026-11-26 09:30:00", "390",
                                    "5.05", "3.03", "0.00")) ","
        REC("ok", "2207", "Y", SETL("0", "S0", "2026-11-25 23:59:59", "310",
                                    "99.00", "1.00", "0.00")) ","
        REC("reversed", "2207", "R", SETL("5", "S5", "2026-11-26 09:40:00",
                                          "310", "7.00", "1.00", "0.00")) ","
        REC("unknown", "2207", "U", ",\"sent_ms\":6") ","
        REC("ok", "2207", "H", ",\"sent_ms\":7,\"setl_id\":\"S7\"") ","
        "{\"v\":1,\"state\":\"ok\",\"infno\":\"2207\",\"entity\":\"E2\"},"
        REC("ok", "3201", "T1", ",\"sent_ms\":8,\"insutype\":\"310\","
            "\"clr_type\":\"11\",\"stmt_begndate\":\"2026-11-26\","
            "\"stmt_enddate\":\"2026-11-26\",\"medfee_sumamt\":\"10.00\","
            "\"fund_pay_sumamt\":\"6.00\",\"acct_pay\":\"1.00\","
            "\"fixmedins_setl_cnt\":\"4\",\"stmt_rslt\":\"1\"") ","
        REC("ok", "3201", "T2", ",\"sent_ms\":9,\"insutype\":\"310\","
            "\"clr_type\":\"11\",\"stmt_begndate\":\"2026-11-01\","
            "\"stmt_enddate\":\"2026-11-30\",\"stmt_rslt\":\"0\"") "]";

    (void) state;

    memset(&q, 0, sizeof(q));
    q.kind = YIBAO_JOURNAL_Q_TOTALS;
    q.entity = test_str("E1");
    q.day = test_str("2026-11-26");
    q.now_ms = NOW_MS;
    q.in_flight_ms = 120000;

    v = test_select(&q, list);

    assert_int_equal(json_array_size(json_object_get(v, "totals")), 2);
    g = json_array_get(json_object_get(v, "totals"), 0);
    assert_string_equal(test_get(g, "insutype"), "310");
    assert_string_equal(test_get(g, "medfee_sumamt"), "10.00");
    assert_string_equal(test_get(g, "fund_pay_sumamt"), "6.00");
    assert_string_equal(test_get(g, "acct_pay"), "1.00");
    assert_int_equal(json_integer_value(json_object_get(g,
                                                 "fixmedins_setl_cnt")), 3);

    assert_string_equal(test_get(v, "all.medfee_sumamt"), "15.05");
    assert_string_equal(test_get(v, "all.fund_pay_sumamt"), "9.03");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(v, "all"), "fixmedins_setl_cnt")),
                     4);

    assert_int_equal(json_array_size(json_object_get(v, "unknown")), 1);
    assert_string_equal(test_get(json_array_get(json_object_get(v,
                                                  "unknown"), 0), "msgid"),
                        "U");
    assert_int_equal(json_array_size(json_object_get(v, "incomplete")), 1);
    assert_string_equal(test_get(json_array_get(json_object_get(v,
                                                "incomplete"), 0), "msgid"),
                        "H");

    /* the one-day statement set against the journal; the range not */

    assert_int_equal(json_array_size(json_object_get(v, "statements")), 2);
    g = json_array_get(json_object_get(v, "statements"), 0);
    assert_string_equal(test_get(g, "stmt_rslt"), "1");
    assert_true(json_is_false(json_object_get(json_object_get(g, "journal"),
                                              "balanced")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
                         json_object_get(g, "journal"),
                         "fixmedins_setl_cnt"), "diff")), 1);
    assert_string_equal(test_get(g, "journal.medfee_sumamt.diff"), "0.00");
    g = json_array_get(json_object_get(v, "statements"), 1);
    assert_null(json_object_get(g, "journal"));
    assert_null(json_object_get(v, "compare"));
    json_decref(v);

    /* filtered, and compared with given figures */

    q.insutype = test_str("390");
    q.medfee_sumamt = test_str("5.05");
    q.fund_pay_sumamt = test_str("3");
    q.setl_cnt = test_str("1");
    v = test_select(&q, list);
    assert_int_equal(json_array_size(json_object_get(v, "totals")), 1);
    assert_false(json_is_true(json_object_get(json_object_get(v, "compare"),
                                              "balanced")));
    assert_string_equal(test_get(v, "compare.fund_pay_sumamt.diff"),
                        "-0.03");
    assert_string_equal(test_get(v, "compare.medfee_sumamt.diff"), "0.00");
    assert_null(json_object_get(json_object_get(v, "compare"), "acct_pay"));
    json_decref(v);

    q.fund_pay_sumamt = test_str("3.03");
    v = test_select(&q, list);
    assert_true(json_is_true(json_object_get(json_object_get(v, "compare"),
                                             "balanced")));
    json_decref(v);

    /* another day: nothing */

    q.insutype = test_str("");
    q.day = test_str("2026-12-01");
    v = test_select(&q, list);
    assert_string_equal(test_get(v, "all.medfee_sumamt"), "0.00");
    assert_int_equal(json_array_size(json_object_get(v, "statements")), 0);
    json_decref(v);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_render_keeps_outputs),
        cmocka_unit_test(test_index_keys),
        cmocka_unit_test(test_query_key),
        cmocka_unit_test(test_zone_keys),
        cmocka_unit_test(test_select_queries),
        cmocka_unit_test(test_sel_in_steps),
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_totals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
