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

#include "yibao_replay.h"
#include "yibao_gwerr.h"
#include "yibao_test_alloc.h"


#define NOW      "2026-12-07 10:00:00"
#define NOW_MS   1796637600000ULL
#define CERT     "370102195603152017"
#define PSN_NO   "37000012345678901234"

static const char  *visit_text =
    "{\"infno\":\"2201\",\"mdtrtarea_admvs\":\"370102\","
    "\"recer_sys_code\":\"HIS\",\"infver\":\"V1.0\",\"opter_type\":\"1\","
    "\"opter\":\"001\",\"opter_name\":\"张医生\",\"sign_no\":\"OLD\","
    "\"input\":{"
    "\"data\":{\"mdtrt_cert_type\":\"02\","
    "\"mdtrt_cert_no\":\"" CERT "\",\"certno\":\"" CERT "\","
    "\"psn_name\":\"张三\",\"ipt_otp_no\":\"MZ1\","
    "\"begntime\":\"2026-12-07 08:30:00\",\"card_sn\":\"\"},"
    "\"mdtrtinfo\":{\"med_type\":\"11\","
    "\"begntime\":\"2026-12-07 08:30:00\"},"
    "\"diseinfo\":[{\"diag_code\":\"J06.900\"}],"
    "\"feedetail\":[{\"feedetl_sn\":\"1\",\"chrg_bchno\":\"1\","
    "\"fee_ocur_time\":\"2026-12-07 08:40:00\","
    "\"det_item_fee_sumamt\":10.0},"
    "{\"feedetl_sn\":\"2\",\"chrg_bchno\":\"1\","
    "\"fee_ocur_time\":\"2026-12-07 08:41:00\","
    "\"det_item_fee_sumamt\":\"10.00\"}],"
    "\"offline\":{\"paid\":\"6.00\"}}}";


static yibao_replay_conf_t  conf;


static void
setup_conf(void)
{
    memset(&conf, 0, sizeof(conf));
    conf.entity_code = (yibao_str_t) yibao_string("H37010200001");
    conf.entity_name = (yibao_str_t) yibao_string("某某卫生院");
    conf.admdvs = (yibao_str_t) yibao_string("370102");
    conf.mac = (yibao_str_t) yibao_string("00-16-3E-00-00-01");
    conf.ip = (yibao_str_t) yibao_string("127.0.0.1");
}


/* a sealed record of the visit, with its envelope's head */

static void
record(yibao_alloc_t *a, const char *text, yibao_str_t *out)
{
    char                   hash[YIBAO_OFFLINE_HASH_LEN + 1];
    json_t                *head;
    yibao_err_t            err;
    json_error_t           e;
    yibao_envelope_t       env;
    yibao_offline_meta_t   m;
    yibao_offline_visit_t  v;

    memset(&env, 0, sizeof(env));
    env.infno = (yibao_str_t) yibao_string("2201");
    env.doc = json_loads(text, 0, &e);
    assert_non_null(env.doc);
    assert_int_equal(yibao_offline_check(&env, NOW, &v, &err), YIBAO_OK);

    memset(&m, 0, sizeof(m));
    m.id = (yibao_str_t) yibao_string("JZPDY60134132080312D6001000001");
    m.clinic = (yibao_str_t) yibao_string("PDY60134132080312D6001");
    m.entity = (yibao_str_t) yibao_string("H37010200001");
    m.caller = (yibao_str_t) yibao_string("village-subsystem");
    m.opter = (yibao_str_t) yibao_string("001");
    m.msgid = (yibao_str_t) yibao_string("M1");
    m.day = (yibao_str_t) yibao_string("2026-12-07");
    m.recorded_ms = NOW_MS - 3600000;
    m.seq = 1;

    head = json_deep_copy(env.doc);
    json_object_del(head, "input");
    json_object_del(head, "infno");
    m.head.data = (const unsigned char *) json_dumps(head, JSON_COMPACT);
    m.head.len = strlen((const char *) m.head.data);

    assert_int_equal(yibao_offline_seal(&env, &m, &v, "", a, out, hash),
                     YIBAO_OK);

    free((void *) m.head.data);
    json_decref(head);
    json_decref(env.doc);
}


static int
has(const yibao_str_t *s, const char *what)
{
    size_t  i, n;

    n = strlen(what);

    for (i = 0; i + n <= s->len; i++) {
        if (memcmp(s->data + i, what, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static json_t *
parse(const yibao_str_t *s)
{
    json_t        *o;
    json_error_t   e;

    o = json_loadb((const char *) s->data, s->len, 0, &e);
    assert_non_null(o);

    return o;
}


static const char *
path(json_t *o, const char *a, const char *b, const char *c)
{
    json_t  *v;

    v = json_object_get(o, a);

    if (b) {
        v = json_object_get(v, b);
    }

    if (c) {
        v = json_object_get(v, c);
    }

    return json_is_string(v) ? json_string_value(v) : NULL;
}


static void
claim(yibao_alloc_t *a, yibao_str_t *rec)
{
    yibao_replay_result_t  res;

    assert_int_equal(yibao_replay_claim(rec->data, rec->len, &conf, "n1:7",
                                        0, NOW, NOW_MS, NOW_MS + 60000, a,
                                        rec, &res),
                     YIBAO_OK);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);
    assert_string_equal(res.state, "replaying");
}


/* the step's envelope: its infno is want, *env the parsed body */

static json_t *
request(yibao_alloc_t *a, yibao_str_t *rec, const char *sign_no,
    const char *want)
{
    yibao_tm_t   tm;
    yibao_str_t  sn, msgid, infno, body;
    yibao_err_t  err;

    memset(&tm, 0, sizeof(tm));
    tm.year = 2026;
    tm.mon = 12;
    tm.mday = 7;
    tm.hour = 10;

    memset(&err, 0, sizeof(err));

    /* no sign_no yet: as a driver holds it, no data at all */
    sn.data = *sign_no ? (const unsigned char *) sign_no : NULL;
    sn.len = strlen(sign_no);
    msgid = (yibao_str_t) yibao_string("H37010200001202612071000000001");

    assert_int_equal(yibao_replay_request(rec->data, rec->len, &conf, &sn,
                                          &msgid, &tm, a, &infno, &body,
                                          &err),
                     YIBAO_OK);
    assert_int_equal(infno.len, 4);
    assert_memory_equal(infno.data, want, 4);

    return parse(&body);
}


static yibao_replay_result_t
answer(yibao_alloc_t *a, yibao_str_t *rec, const char *infno,
    const char *text, yibao_str_t *sign_no)
{
    yibao_str_t            in, sn;
    yibao_replay_result_t  res;

    in.data = (const unsigned char *) infno;
    in.len = 4;

    if (sign_no == NULL) {
        sign_no = &sn;
    }

    assert_int_equal(yibao_replay_answer(rec->data, rec->len, &conf, &in,
                                         (const unsigned char *) text,
                                         text ? strlen(text) : 0, NOW,
                                         NOW_MS, a, rec, sign_no, &res),
                     YIBAO_OK);

    return res;
}


#define OK(output)  "{\"infcode\":0,\"output\":" output "}"

static const char  *ans_9001 =
    OK("{\"signinoutb\":{\"sign_no\":\"SN42\","
       "\"sign_time\":\"2026-12-07 10:00:00\"}}");
static const char  *ans_1101 =
    OK("{\"baseinfo\":{\"psn_no\":\"" PSN_NO "\"},\"insuinfo\":["
       "{\"insutype\":\"310\",\"insuplc_admdvs\":\"370105\"}]}");
static const char  *ans_1101_offsite =
    OK("{\"baseinfo\":{\"psn_no\":\"" PSN_NO "\"},\"insuinfo\":["
       "{\"insutype\":\"390\",\"insuplc_admdvs\":\"440103\"}]}");
static const char  *ans_2201 =
    OK("{\"data\":{\"mdtrt_id\":\"MD77\",\"psn_no\":\"" PSN_NO "\"}}");
static const char  *ans_2206 =
    OK("{\"setlinfo\":{\"medfee_sumamt\":20.0,\"fund_pay_sumamt\":14.0,"
       "\"acct_pay\":0,\"psn_cash_pay\":6.0,\"fulamt_ownpay_amt\":0,"
       "\"overlmt_selfpay\":0,\"preselfpay_amt\":0,"
       "\"inscp_scp_amt\":20.0}}");


/* the record up to pending, each step's envelope checked */

static void
to_pending(yibao_alloc_t *a, yibao_str_t *rec)
{
    size_t                 i;
    json_t                *e, *row;
    yibao_str_t            sn;
    yibao_replay_result_t  res;
    yibao_replay_info_t    info;

    claim(a, rec);

    e = request(a, rec, "", "9001");
    assert_string_equal(path(e, "input", "signIn", "opter_no"), "001");
    assert_string_equal(path(e, "fixmedins_code", NULL, NULL),
                        "H37010200001");
    json_decref(e);

    res = answer(a, rec, "9001", ans_9001, &sn);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);
    assert_int_equal(sn.len, 4);
    assert_memory_equal(sn.data, "SN42", 4);

    /* the sign_no is the attempt's: never in the record */
    assert_false(has(rec, "SN42"));

    e = request(a, rec, "SN42", "1101");
    assert_string_equal(path(e, "input", "data", "mdtrt_cert_no"), CERT);
    assert_string_equal(path(e, "sign_no", NULL, NULL), "SN42");
    assert_string_equal(path(e, "opter_name", NULL, NULL), "张医生");
    assert_null(path(e, "input", "data", "psn_name"));
    json_decref(e);

    res = answer(a, rec, "1101", ans_1101, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);
    assert_string_equal(res.state, "replaying");

    e = request(a, rec, "SN42", "2201");
    assert_string_equal(path(e, "input", "data", "psn_no"), PSN_NO);
    assert_string_equal(path(e, "input", "data", "insutype"), "310");
    assert_string_equal(path(e, "input", "data", "begntime"),
                        "2026-12-07 08:30:00");
    assert_string_equal(path(e, "insuplc_admdvs", NULL, NULL), "370105");
    assert_string_equal(path(e, "mdtrtarea_admvs", NULL, NULL), "370102");
    json_decref(e);

    /* a refusal here would reject; an answer without mdtrt_id is lost */

    res = answer(a, rec, "2201", ans_2201, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);

    e = request(a, rec, "SN42", "2203");
    assert_string_equal(path(e, "input", "mdtrtinfo", "mdtrt_id"), "MD77");
    assert_string_equal(path(e, "input", "mdtrtinfo", "psn_no"), PSN_NO);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(e, "input"), "diseinfo")), 1);
    json_decref(e);
    res = answer(a, rec, "2203", OK("null"), NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);

    e = request(a, rec, "SN42", "2204");
    json_array_foreach(json_object_get(json_object_get(e, "input"),
                                       "feedetail"), i, row)
    {
        assert_string_equal(path(row, "mdtrt_id", NULL, NULL), "MD77");
        assert_string_equal(path(row, "fee_ocur_time", NULL, NULL),
                            i ? "2026-12-07 08:41:00"
                              : "2026-12-07 08:40:00");
    }
    json_decref(e);
    res = answer(a, rec, "2204", OK("{\"result\":[]}"), NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);

    e = request(a, rec, "SN42", "2206");
    assert_string_equal(path(e, "input", "data", "medfee_sumamt"), "20.00");
    assert_string_equal(path(e, "input", "data", "acct_used_flag"), "0");
    assert_string_equal(path(e, "input", "data", "chrg_bchno"), "1");
    assert_string_equal(path(e, "input", "data", "mdtrt_id"), "MD77");
    json_decref(e);

    res = answer(a, rec, "2206", ans_2206, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_PENDING);
    assert_string_equal(res.state, "pending");

    assert_int_equal(yibao_replay_info(rec->data, rec->len, &info),
                     YIBAO_OK);
    assert_string_equal(info.state, "pending");
    assert_int_equal(info.psn_cash, 600);
    assert_int_equal(info.fund_pay, 1400);
    assert_int_equal(info.medfee, 2000);
    assert_int_equal(info.paid, 600);
    assert_string_equal(info.mdtrt_id, "MD77");
    assert_string_equal(info.by, "");
}


static void
test_replay_to_pending_and_settle(void **state)
{
    json_t                *e;
    yibao_str_t            rec, again;
    yibao_alloc_t          a;
    yibao_err_t            err;
    yibao_offline_info_t   oi;
    yibao_test_arena_t     arena;
    yibao_replay_result_t  res;

    (void) state;

    setup_conf();
    yibao_test_arena_init(&arena, &a);

    record(&a, visit_text, &rec);
    to_pending(&a, &rec);

    /* the record's body is untouched: it still passes its check */
    assert_int_equal(yibao_offline_verify(rec.data, rec.len, NULL, &oi,
                                          &err),
                     YIBAO_OK);

    /* a pending record is not taken again, nor replayed */
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n2:1", 1,
                                        NOW, NOW_MS, NOW_MS + 1, &a, &again,
                                        &res),
                     YIBAO_ERR_INVALID);

    /* confirmed (settling): the 2207 carries the 2206's amounts */

    assert_int_equal(yibao_offline_restate(rec.data, rec.len, "settling",
                                           &a, &rec),
                     YIBAO_OK);

    e = request(&a, &rec, "SN43", "2207");
    assert_string_equal(path(e, "input", "data", "inscp_scp_amt"), "20.00");
    assert_string_equal(path(e, "input", "data", "medfee_sumamt"), "20.00");
    assert_string_equal(path(e, "input", "data", "psn_no"), PSN_NO);
    json_decref(e);

    /* no answer: the journal resolves it, the record stays settling */
    res = answer(&a, &rec, "2207", NULL, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_LOST);
    assert_string_equal(res.state, "settling");

    res = answer(&a, &rec, "2207", OK("{\"setlinfo\":{}}"), NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_SETTLED);
    assert_string_equal(res.state, "settled");

    yibao_test_arena_free(&arena);
}


/* a platform lost mid-way: recorded again, resumed after what answered */

static void
test_lost_platform_resumes(void **state)
{
    json_t                *e;
    yibao_str_t            rec, sn;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_replay_result_t  res;
    yibao_replay_info_t    info;

    (void) state;

    setup_conf();
    yibao_test_arena_init(&arena, &a);

    record(&a, visit_text, &rec);
    claim(&a, &rec);
    (void) answer(&a, &rec, "9001", ans_9001, &sn);
    (void) answer(&a, &rec, "1101", ans_1101, NULL);
    (void) answer(&a, &rec, "2201", ans_2201, NULL);

    /* the 2203 got no answer */
    res = answer(&a, &rec, "2203", NULL, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_LOST);
    assert_string_equal(res.state, "recorded");

    assert_int_equal(yibao_replay_info(rec.data, rec.len, &info), YIBAO_OK);
    assert_string_equal(info.done, "2201");
    assert_string_equal(info.by, "");

    /* a failed sign-in: lost as well, nothing of the visit sent */
    claim(&a, &rec);
    res = answer(&a, &rec, "9001", "{\"infcode\":-1,\"err_msg\":\"x\"}",
                 &sn);
    assert_int_equal(res.outcome, YIBAO_REPLAY_LOST);
    assert_string_equal(res.state, "recorded");

    /* the next attempt signs in, then goes on with the 2203 */
    claim(&a, &rec);
    e = request(&a, &rec, "", "9001");
    json_decref(e);
    e = request(&a, &rec, "SN50", "2203");
    assert_string_equal(path(e, "input", "mdtrtinfo", "mdtrt_id"), "MD77");
    json_decref(e);

    assert_int_equal(yibao_replay_info(rec.data, rec.len, &info), YIBAO_OK);
    assert_int_equal(info.attempts, 3);

    /* released by a driver that stops (a worker's exit) */
    assert_int_equal(yibao_replay_release(rec.data, rec.len, "stopped",
                                          &a, &rec),
                     YIBAO_OK);
    assert_int_equal(yibao_replay_info(rec.data, rec.len, &info), YIBAO_OK);
    assert_string_equal(info.state, "recorded");
    assert_string_equal(info.reason, "stopped");
    assert_int_equal(yibao_replay_release(rec.data, rec.len, NULL, &a, &rec),
                     YIBAO_ERR_INVALID);

    yibao_test_arena_free(&arena);
}


/* refusals: rejected with the platform's message, numbers masked */

static void
test_refusals_reject(void **state)
{
    yibao_str_t            rec, sn, copy;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_replay_result_t  res;
    yibao_replay_info_t    info;

    (void) state;

    setup_conf();
    yibao_test_arena_init(&arena, &a);

    record(&a, visit_text, &rec);
    claim(&a, &rec);
    (void) answer(&a, &rec, "9001", ans_9001, &sn);
    (void) answer(&a, &rec, "1101", ans_1101, NULL);

    copy = rec;

    res = answer(&a, &rec, "2201",
                 "{\"infcode\":-1,\"err_msg\":\"人员 " PSN_NO " (" CERT
                 ") 已存在有效挂号\"}", NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_REJECTED);
    assert_string_equal(res.state, "rejected");
    assert_non_null(strstr(res.reason, "已存在有效挂号"));
    assert_null(strstr(res.reason, PSN_NO));
    assert_null(strstr(res.reason, CERT));
    assert_false(has(&rec, "(" CERT ")"));
    assert_false(has(&rec, PSN_NO ")"));

    assert_int_equal(yibao_replay_info(rec.data, rec.len, &info), YIBAO_OK);
    assert_non_null(strstr(info.reason, "已存在有效挂号"));

    /* an answer that is no envelope: lost, not rejected */
    rec = copy;
    res = answer(&a, &rec, "2201", "<html>502</html>", NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_LOST);
    assert_string_equal(res.state, "recorded");

    /* an answer without what the next step needs: lost */
    rec = copy;
    res = answer(&a, &rec, "2201", OK("{\"data\":{}}"), NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_LOST);

    /* a 2206 refused */
    rec = copy;
    (void) answer(&a, &rec, "2201", ans_2201, NULL);
    (void) answer(&a, &rec, "2203", OK("null"), NULL);
    (void) answer(&a, &rec, "2204", OK("null"), NULL);
    res = answer(&a, &rec, "2206", "{\"infcode\":\"-1\",\"err_msg\":"
                 "\"费用明细合计不符\"}", NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_REJECTED);
    assert_string_equal(res.state, "rejected");
    assert_string_equal(res.reason, "费用明细合计不符");

    yibao_test_arena_free(&arena);
}


/* who waits for an operator: 异地 after 1101, the plan at the claim */

static void
test_waits(void **state)
{
    yibao_str_t            rec, sn, out;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_replay_result_t  res;
    yibao_replay_info_t    info;

    (void) state;

    setup_conf();
    yibao_test_arena_init(&arena, &a);

    record(&a, visit_text, &rec);
    claim(&a, &rec);
    (void) answer(&a, &rec, "9001", ans_9001, &sn);
    res = answer(&a, &rec, "1101", ans_1101_offsite, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_WAIT);
    assert_string_equal(res.state, "waiting");
    assert_non_null(strstr(res.reason, "异地"));

    /* not taken again by itself; an operator's replay takes it */
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n1:2", 0,
                                        NOW, NOW_MS, NOW_MS + 1, &a, &out,
                                        &res),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n1:2", 1,
                                        NOW, NOW_MS, NOW_MS + 1, &a, &rec,
                                        &res),
                     YIBAO_OK);
    assert_string_equal(res.state, "replaying");
    (void) answer(&a, &rec, "9001", ans_9001, &sn);
    res = answer(&a, &rec, "1101", ans_1101_offsite, NULL);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);

    /* a claim that stands is not taken; one that ran out is */
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n2:1", 0,
                                        NOW, NOW_MS, NOW_MS + 60000, &a,
                                        &out, &res),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n2:1", 0,
                                        NOW, NOW_MS + 2, NOW_MS + 60000, &a,
                                        &out, &res),
                     YIBAO_OK);
    assert_int_equal(yibao_replay_info(out.data, out.len, &info), YIBAO_OK);
    assert_string_equal(info.by, "n2:1");

    /* the month ended: waits at the claim */
    record(&a, visit_text, &rec);
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n1:2", 0,
                                        "2027-01-02 09:00:00", NOW_MS,
                                        NOW_MS + 1, &a, &out, &res),
                     YIBAO_OK);
    assert_int_equal(res.outcome, YIBAO_REPLAY_WAIT);
    assert_string_equal(res.state, "waiting");
    assert_non_null(strstr(res.reason, "year"));

    conf.plan.max_age = 1000;
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n1:2", 0,
                                        NOW, NOW_MS, NOW_MS + 1, &a, &out,
                                        &res),
                     YIBAO_OK);
    assert_int_equal(res.outcome, YIBAO_REPLAY_WAIT);
    assert_non_null(strstr(res.reason, "older"));

    /* an operator's replay: the plan is the operator's */
    assert_int_equal(yibao_replay_claim(rec.data, rec.len, &conf, "n1:2", 1,
                                        NOW, NOW_MS, NOW_MS + 1, &a, &out,
                                        &res),
                     YIBAO_OK);
    assert_int_equal(res.outcome, YIBAO_REPLAY_NEXT);

    yibao_test_arena_free(&arena);
}


/* what cannot be replayed */

static void
test_not_replayed(void **state)
{
    yibao_str_t            rec, out, infno, body, sn, msgid;
    yibao_tm_t             tm;
    yibao_err_t            err;
    yibao_alloc_t          a;
    yibao_test_arena_t     arena;
    yibao_replay_result_t  res;
    yibao_replay_info_t    info;

    (void) state;

    setup_conf();
    yibao_test_arena_init(&arena, &a);
    memset(&tm, 0, sizeof(tm));
    memset(&err, 0, sizeof(err));
    sn = (yibao_str_t) yibao_string("SN");
    msgid = (yibao_str_t) yibao_string("M");

    assert_int_equal(yibao_replay_info((const unsigned char *) "[]", 2,
                                       &info),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_replay_claim((const unsigned char *) "x", 1,
                                        &conf, "n", 0, NOW, NOW_MS, NOW_MS,
                                        &a, &out, &res),
                     YIBAO_ERR_INVALID);

    /* a recorded record has no step to send */
    record(&a, visit_text, &rec);
    assert_int_equal(yibao_replay_request(rec.data, rec.len, &conf, &sn,
                                          &msgid, &tm, &a, &infno, &body,
                                          &err),
                     YIBAO_ERR_INVALID);

    /* settled and voided records are never taken */
    assert_int_equal(yibao_offline_restate(rec.data, rec.len, "settled",
                                           &a, &out),
                     YIBAO_OK);
    assert_int_equal(yibao_replay_claim(out.data, out.len, &conf, "n", 1,
                                        NOW, NOW_MS, NOW_MS, &a, &out,
                                        &res),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_offline_restate(rec.data, rec.len, "voided",
                                           &a, &out),
                     YIBAO_OK);
    assert_int_equal(yibao_replay_claim(out.data, out.len, &conf, "n", 1,
                                        NOW, NOW_MS, NOW_MS, &a, &out,
                                        &res),
                     YIBAO_ERR_INVALID);

    /* a settling record without a 2206 result gives no 2207 */
    assert_int_equal(yibao_offline_restate(rec.data, rec.len, "settling",
                                           &a, &out),
                     YIBAO_OK);
    assert_int_equal(yibao_replay_request(out.data, out.len, &conf, &sn,
                                          &msgid, &tm, &a, &infno, &body,
                                          &err),
                     YIBAO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "psn_no"));

    yibao_test_arena_free(&arena);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_replay_to_pending_and_settle),
        cmocka_unit_test(test_lost_platform_resumes),
        cmocka_unit_test(test_refusals_reject),
        cmocka_unit_test(test_waits),
        cmocka_unit_test(test_not_replayed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
