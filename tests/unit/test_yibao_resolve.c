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

#include "yibao_resolve.h"
#include "yibao_test_alloc.h"


#define test_str(s)  { sizeof(s) - 1, (const unsigned char *) s }

#define UPSTREAM  "H37010200001202401150830100001"


static void
test_record(yibao_journal_t *j, const char *infno)
{
    memset(j, 0, sizeof(yibao_journal_t));
    j->state = YIBAO_JOURNAL_UNKNOWN;
    j->caller = (yibao_str_t) test_str("his-a");
    j->msgid = (yibao_str_t) test_str("PDY60134132080312D6001202401150830100001");
    j->upstream_msgid = (yibao_str_t) test_str(UPSTREAM);
    j->infno.data = (const unsigned char *) infno;
    j->infno.len = strlen(infno);
    j->mdtrt_id = (yibao_str_t) test_str("MDTRT1");
    j->setl_id = (yibao_str_t) test_str("SETL0");
    j->psn_no = (yibao_str_t) test_str("37000012345678901234");
    j->head = (yibao_str_t) test_str("{\"opter\":\"001\",\"sign_no\":\"S1\","
                                     "\"insuplc_admdvs\":\"370102\"}");
}


static json_t *
test_load(yibao_str_t *s)
{
    json_t        *o;
    json_error_t   err;

    o = json_loadb((const char *) s->data, s->len, 0, &err);
    assert_non_null(o);

    return o;
}


static void
test_request(void **state)
{
    json_t              *o, *d;
    yibao_tm_t           tm = { 2024, 1, 15, 8, 30, 10, 0 };
    yibao_str_t          infno, body;
    yibao_str_t          code = test_str("H37010200001");
    yibao_str_t          name = test_str("Entity");
    yibao_str_t          msgid = test_str("H37010200001202401150830100002");
    yibao_err_t          err;
    yibao_alloc_t        a;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);
    memset(&err, 0, sizeof(yibao_err_t));

    /* 2207, query: 5203 by psn_no and mdtrt_id */

    test_record(&j, "2207");
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_QUERY, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_OK);
    assert_memory_equal(infno.data, "5203", 4);

    o = test_load(&body);
    assert_string_equal(json_string_value(json_object_get(o, "infno")),
                        "5203");
    assert_string_equal(json_string_value(json_object_get(o, "msgid")),
                        "H37010200001202401150830100002");
    assert_string_equal(json_string_value(json_object_get(o, "sign_no")),
                        "S1");
    assert_string_equal(json_string_value(json_object_get(o,
                                                          "fixmedins_code")),
                        "H37010200001");
    assert_string_equal(json_string_value(json_object_get(o, "inf_time")),
                        "2024-01-15 08:30:10");
    d = json_object_get(json_object_get(o, "input"), "data");
    assert_string_equal(json_string_value(json_object_get(d, "psn_no")),
                        "37000012345678901234");
    assert_string_equal(json_string_value(json_object_get(d, "mdtrt_id")),
                        "MDTRT1");
    assert_null(json_object_get(d, "setl_id"));
    json_decref(o);

    /* 2208, query: by setl_id */

    test_record(&j, "2208");
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_QUERY, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_OK);
    o = test_load(&body);
    d = json_object_get(json_object_get(o, "input"), "data");
    assert_string_equal(json_string_value(json_object_get(d, "setl_id")),
                        "SETL0");
    json_decref(o);

    /* reverse: 2601 with omsgid and oinfno */

    test_record(&j, "2207");
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_REVERSE, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_OK);
    assert_memory_equal(infno.data, "2601", 4);
    o = test_load(&body);
    d = json_object_get(json_object_get(o, "input"), "data");
    assert_string_equal(json_string_value(json_object_get(d, "omsgid")),
                        UPSTREAM);
    assert_string_equal(json_string_value(json_object_get(d, "oinfno")),
                        "2207");
    json_decref(o);

    /* a record without what is needed */

    test_record(&j, "2207");
    j.psn_no.len = 0;
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_QUERY, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "psn_no"));

    test_record(&j, "2207");
    j.head = (yibao_str_t) test_str("[1]");
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_QUERY, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_ERR_INVALID);

    test_record(&j, "2207");
    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_resolve_request(&j, YIBAO_RESOLVE_QUERY, &code,
                                           &name, &msgid, &tm, &a, &infno,
                                           &body, &err),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


static yibao_resolve_outcome_e
test_answer(const char *infno, const char *record_infno, const char *answer,
    yibao_resolve_result_t *res)
{
    yibao_str_t          n;
    yibao_alloc_t        a;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    yibao_test_arena_init(&arena, &a);
    test_record(&j, record_infno);

    n.data = (const unsigned char *) infno;
    n.len = strlen(infno);

    assert_int_equal(yibao_resolve_answer(&j, &n,
                                          (const unsigned char *) answer,
                                          strlen(answer), &a, res),
                     YIBAO_OK);

    if (res->setl_id.len) {
        /* copied out of the arena for the caller */
        static char  setl[64];

        memcpy(setl, res->setl_id.data, res->setl_id.len);
        setl[res->setl_id.len] = '\0';
        res->setl_id.data = (const unsigned char *) setl;
    }

    yibao_test_arena_free(&arena);

    return res->outcome;
}


static void
test_answers(void **state)
{
    yibao_resolve_result_t  res;

    (void) state;

    /* 5203 for a 2207 */

    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"" UPSTREAM "\",\"vali_flag\":\"1\"}}}", &res),
        YIBAO_RESOLVE_OK);
    assert_int_equal(res.setl_id.len, 2);
    assert_memory_equal(res.setl_id.data, "S9", 2);

    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"" UPSTREAM "\",\"vali_flag\":\"0\"}}}", &res),
        YIBAO_RESOLVE_REVERSED);

    /* another msgid's settlement of the visit says nothing about ours */
    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"H37010200001202401150830109999\"}}}", &res),
        YIBAO_RESOLVE_RETRY);
    assert_non_null(strstr(res.reason, "another msgid"));

    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":-1,\"err_msg\":\"未查询到结算信息（setl_id=, "
        "mdtrt_id=M）\"}", &res),
        YIBAO_RESOLVE_FAILED);
    assert_non_null(strstr(res.reason, "not settled"));

    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":-1,\"err_msg\":\"系统繁忙\"}", &res),
        YIBAO_RESOLVE_RETRY);
    assert_int_equal(test_answer("5203", "2207", "<html>500</html>", &res),
                     YIBAO_RESOLVE_RETRY);
    assert_int_equal(test_answer("5203", "2207",
        "{\"infcode\":0,\"output\":{}}", &res), YIBAO_RESOLVE_RETRY);

    /* 5203 for a 2208: refd_setl_flag */

    assert_int_equal(test_answer("5203", "2208",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"SETL0\","
        "\"refd_setl_flag\":\"1\"}}}", &res), YIBAO_RESOLVE_OK);
    assert_memory_equal(res.setl_id.data, "SETL0", 5);
    assert_int_equal(test_answer("5203", "2208",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"SETL0\","
        "\"refd_setl_flag\":\"0\"}}}", &res), YIBAO_RESOLVE_FAILED);

    /* 2601 */

    assert_int_equal(test_answer("2601", "2207",
        "{\"infcode\":0,\"output\":null}", &res), YIBAO_RESOLVE_REVERSED);
    assert_int_equal(test_answer("2601", "2207",
        "{\"infcode\":-1,\"err_msg\":\"FSI-调用业务基础子系统冲正失败:原交易"
        "流水号 omsgid=" UPSTREAM " 不存在\"}", &res),
        YIBAO_RESOLVE_FAILED);
    assert_int_equal(test_answer("2601", "2207",
        "{\"infcode\":\"-1\",\"err_msg\":\"冲正失败:原交易 X 未成功，无需冲正"
        "\"}", &res), YIBAO_RESOLVE_FAILED);
    assert_int_equal(test_answer("2601", "2207",
        "{\"infcode\":-1,\"err_msg\":\"原交易 X 已于 2024 冲正，不能重复冲正"
        "\"}", &res), YIBAO_RESOLVE_REVERSED);
    assert_int_equal(test_answer("2601", "2207",
        "{\"infcode\":-1,\"err_msg\":\"签名错误\"}", &res),
        YIBAO_RESOLVE_RETRY);
}


/*
 * The 5203 before a money-moving msgid the journal does not know (its
 * store forgot): the request was for 35.20, under UPSTREAM.
 */

static yibao_resolve_outcome_e
test_forgotten(const char *infno, const char *answer,
    yibao_resolve_result_t *res, char *setl, char *platform)
{
    json_t              *request;
    json_error_t         jerr;
    yibao_alloc_t        a;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    yibao_test_arena_init(&arena, &a);
    test_record(&j, infno);

    request = json_loads("{\"infno\":\"2207\",\"input\":{\"data\":{"
                         "\"medfee_sumamt\":35.2,\"mdtrt_id\":\"MDTRT1\"}}}",
                         0, &jerr);
    assert_non_null(request);

    assert_int_equal(yibao_resolve_forgotten(&j, request,
                                             (const unsigned char *) answer,
                                             strlen(answer), &a, res),
                     YIBAO_OK);
    json_decref(request);

    memcpy(setl, res->setl_id.data, res->setl_id.len);
    setl[res->setl_id.len] = '\0';
    memcpy(platform, res->platform_msgid.data, res->platform_msgid.len);
    platform[res->platform_msgid.len] = '\0';

    yibao_test_arena_free(&arena);

    return res->outcome;
}


static void
test_forgotten_msgid(void **state)
{
    char                    setl[64], platform[64];
    yibao_resolve_result_t  res;

    (void) state;

    /* no settlement of the visit: it is sent */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":-1,\"err_msg\":\"未查询到结算信息（setl_id=, "
        "mdtrt_id=MDTRT1）\"}", &res, setl, platform),
        YIBAO_RESOLVE_FAILED);

    /* settled under a msgid nobody remembers, the same amount (a number
     * or a string): it stands, and who settled it is kept */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"H37010200001202401150830109999\","
        "\"medfee_sumamt\":35.20,\"vali_flag\":\"1\","
        "\"refd_setl_flag\":\"0\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_OK);
    assert_string_equal(setl, "S9");
    assert_string_equal(platform, "H37010200001202401150830109999");
    assert_non_null(strstr(res.reason, "the same medfee_sumamt"));

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"X1\",\"medfee_sumamt\":\"35.20\"}}}",
        &res, setl, platform),
        YIBAO_RESOLVE_OK);

    /* made by this very msgid: whatever the amount says */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"" UPSTREAM "\",\"medfee_sumamt\":1}}}",
        &res, setl, platform),
        YIBAO_RESOLVE_OK);
    assert_string_equal(platform, UPSTREAM);

    /* another amount: the visit is settled, by what cannot be told */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S8\","
        "\"medins_setl_id\":\"X1\",\"medfee_sumamt\":35.21}}}",
        &res, setl, platform),
        YIBAO_RESOLVE_OTHER);
    assert_non_null(strstr(res.reason, "35.21"));
    assert_non_null(strstr(res.reason, "35.20"));
    assert_non_null(strstr(res.reason, "S8"));

    /* reversed or refunded: nothing stands, it is sent */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"X1\",\"medfee_sumamt\":35.2,"
        "\"vali_flag\":\"0\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_FAILED);
    assert_non_null(strstr(res.reason, "reversed"));
    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\","
        "\"medins_setl_id\":\"X1\",\"medfee_sumamt\":35.2,"
        "\"refd_setl_flag\":\"1\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_FAILED);
    assert_non_null(strstr(res.reason, "refunded"));

    /* nothing learnt */

    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":-1,\"err_msg\":\"系统繁忙\"}", &res, setl, platform),
        YIBAO_RESOLVE_RETRY);
    assert_int_equal(test_forgotten("2207", "<html>502</html>", &res, setl,
                                    platform),
                     YIBAO_RESOLVE_RETRY);
    assert_int_equal(test_forgotten("2207",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{"
        "\"medins_setl_id\":\"" UPSTREAM "\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_RETRY);
    assert_non_null(strstr(res.reason, "without setl_id"));

    /* 2208: it stands when the settlement is refunded */

    assert_int_equal(test_forgotten("2208",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"SETL0\","
        "\"refd_setl_flag\":\"1\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_OK);
    assert_int_equal(test_forgotten("2208",
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"SETL0\","
        "\"refd_setl_flag\":\"0\"}}}", &res, setl, platform),
        YIBAO_RESOLVE_FAILED);
}


static void
test_long_message_is_cut_at_a_character(void **state)
{
    size_t                  i, len;
    char                    answer[2048], *p;
    json_t                 *s;
    yibao_resolve_result_t  res;

    (void) state;

    p = answer;
    p += sprintf(p, "{\"infcode\":-1,\"err_msg\":\"");

    for (i = 0; i < 200; i++) {
        p += sprintf(p, "错");
    }

    sprintf(p, "\"}");

    assert_int_equal(test_answer("5203", "2207", answer, &res),
                     YIBAO_RESOLVE_RETRY);

    len = strlen(res.reason);
    assert_true(len < sizeof(res.reason));
    assert_int_equal((len - strlen("5203: ")) % 3, 0);

    /* valid UTF-8: jansson takes it as a string */
    s = json_stringn(res.reason, len);
    assert_non_null(s);
    json_decref(s);
}


static void
test_head_and_mask(void **state)
{
    char                 text[] = "psn_no 37000012345678901234 is wrong; "
                                  "37000012345678901234";
    json_t              *head;
    yibao_str_t          out;
    yibao_str_t          psn = test_str("37000012345678901234");
    yibao_alloc_t        a;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&env, 0, sizeof(yibao_envelope_t));
    env.doc = json_pack("{s:s, s:s, s:s, s:s, s:{}}", "infno", "2207",
                        "msgid", "M", "opter", "001", "sign_no", "S1",
                        "input");
    assert_non_null(env.doc);

    assert_int_equal(yibao_resolve_head(&env, &a, &out), YIBAO_OK);
    assert_int_equal(out.len, strlen("{\"opter\":\"001\",\"sign_no\":\"S1\"}"));
    assert_memory_equal(out.data, "{\"opter\":\"001\",\"sign_no\":\"S1\"}",
                        out.len);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_resolve_head(&env, &a, &out), YIBAO_ERR_NOMEM);

    head = env.doc;
    json_decref(head);
    yibao_test_arena_free(&arena);

    yibao_resolve_mask(text, &psn);
    assert_null(strstr(text, "37000012345678901234"));
    assert_non_null(strstr(text, "3700************1234"));
}


static void
test_head_field(void **state)
{
    yibao_str_t          out;
    yibao_str_t          head = test_str("{\"opter\":\"001\",\"sign_no\":"
                                         "\"OLD\",\"n\":1}");
    yibao_str_t          value = test_str("NEW");
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_resolve_head_field(&head, "opter", NULL, &a,
                                              &out),
                     YIBAO_OK);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "001", 3);

    assert_int_equal(yibao_resolve_head_field(&head, "sign_no", &value, &a,
                                              &out),
                     YIBAO_OK);
    assert_int_equal(out.len, strlen("{\"opter\":\"001\",\"sign_no\":"
                                     "\"NEW\",\"n\":1}"));
    assert_memory_equal(out.data, "{\"opter\":\"001\",\"sign_no\":"
                                  "\"NEW\",\"n\":1}", out.len);

    /* absent, or not a string */
    assert_int_equal(yibao_resolve_head_field(&head, "dev_no", NULL, &a,
                                              &out),
                     YIBAO_ERR_NOT_FOUND);
    assert_int_equal(yibao_resolve_head_field(&head, "n", &value, &a, &out),
                     YIBAO_ERR_NOT_FOUND);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_resolve_head_field(&head, "sign_no", &value, &a,
                                              &out),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


static void
test_outputs_of_a_found_settlement(void **state)
{
    yibao_alloc_t       a;
    yibao_journal_t     j;
    yibao_test_arena_t  arena;

    static const char  answer[] =
        "{\"infcode\":0,\"output\":{\"setlinfo\":{"
        "\"setl_id\":\"SETL1\",\"setl_time\":\"2024-01-15 08:31:00\","
        "\"insutype\":\"390\",\"clr_type\":\"11\","
        "\"medfee_sumamt\":35.2,\"fund_pay_sumamt\":21.12,"
        "\"acct_pay\":0,\"refd_setl_flag\":\"0\"}}}";

    (void) state;

    yibao_test_arena_init(&arena, &a);

    /* a 2207 (and a lettered 2207A) found settled: the amounts */

    test_record(&j, "2207");
    assert_int_equal(yibao_resolve_outputs(&j, (const unsigned char *) answer,
                                           sizeof(answer) - 1, &a),
                     YIBAO_OK);
    assert_int_equal(j.medfee_sumamt.len, 5);
    assert_memory_equal(j.medfee_sumamt.data, "35.20", 5);
    assert_int_equal(j.insutype.len, 3);
    assert_memory_equal(j.insutype.data, "390", 3);

    test_record(&j, "2207A");
    assert_int_equal(yibao_resolve_outputs(&j, (const unsigned char *) answer,
                                           sizeof(answer) - 1, &a),
                     YIBAO_OK);
    assert_int_equal(j.fund_pay_sumamt.len, 5);
    assert_memory_equal(j.fund_pay_sumamt.data, "21.12", 5);

    /* a 2208: the 5203 shows the original, not the refund's amounts */

    test_record(&j, "2208");
    assert_int_equal(yibao_resolve_outputs(&j, (const unsigned char *) answer,
                                           sizeof(answer) - 1, &a),
                     YIBAO_OK);
    assert_int_equal(j.medfee_sumamt.len, 0);

    yibao_test_arena_free(&arena);
}


static void
test_mode_and_backoff(void **state)
{
    yibao_resolve_mode_e  mode;

    (void) state;

    assert_int_equal(yibao_resolve_mode_parse((const unsigned char *) "query",
                                              5, &mode), YIBAO_OK);
    assert_int_equal(mode, YIBAO_RESOLVE_QUERY);
    assert_int_equal(yibao_resolve_mode_parse((const unsigned char *)
                                              "reverse", 7, &mode), YIBAO_OK);
    assert_int_equal(mode, YIBAO_RESOLVE_REVERSE);
    assert_int_equal(yibao_resolve_mode_parse((const unsigned char *) "off",
                                              3, &mode), YIBAO_OK);
    assert_int_equal(mode, YIBAO_RESOLVE_OFF);
    assert_int_equal(yibao_resolve_mode_parse((const unsigned char *) "quer",
                                              4, &mode), YIBAO_ERR_INVALID);

    assert_int_equal(yibao_resolve_backoff(1000, 1), 1000);
    assert_int_equal(yibao_resolve_backoff(1000, 2), 2000);
    assert_int_equal(yibao_resolve_backoff(1000, 6), 32000);
    assert_int_equal(yibao_resolve_backoff(1000, 60), 32000);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_forgotten_msgid),
        cmocka_unit_test(test_long_message_is_cut_at_a_character),
        cmocka_unit_test(test_head_and_mask),
        cmocka_unit_test(test_outputs_of_a_found_settlement),
        cmocka_unit_test(test_head_field),
        cmocka_unit_test(test_mode_and_backoff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
