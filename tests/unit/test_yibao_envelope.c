/*
 * Copyright (C) yibao-gateway authors
 */

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
#include "yibao_msgid.h"
#include "yibao_gwerr.h"
#include "yibao_test_alloc.h"


#define TEST_ENV_HEAD                                                        \
    "{\"infno\":\"2204\",\"msgid\":\"H37010200001202401150830100003\","    \
    "\"mdtrtarea_admvs\":\"370102\",\"insuplc_admdvs\":\"\","               \
    "\"recer_sys_code\":\"FSI_LOCAL\",\"dev_no\":\"\","                     \
    "\"dev_safe_info\":\"\",\"cainfo\":null,\"signtype\":\"\","             \
    "\"infver\":\"V1.0\",\"opter_type\":\"1\",\"opter\":\"001\","           \
    "\"opter_name\":\"\xe5\xbc\xa0\xe5\x8c\xbb\xe7\x94\x9f\","              \
    "\"inf_time\":\"2024-01-15 08:30:10\","                                 \
    "\"fixmedins_code\":\"H37010200001\","                                  \
    "\"fixmedins_name\":\"\xe6\x9d\x91\","                                  \
    "\"sign_no\":\"370000202401150800000012\""

#define TEST_ENV_INPUT                                                       \
    "\"input\":{\"feedetail\":[{\"feedetl_sn\":\"1\","                      \
    "\"det_item_fee_sumamt\":10.00,\"cnt\":1,\"pric\":10.00},"              \
    "{\"feedetl_sn\":\"2\",\"det_item_fee_sumamt\":25.20,\"cnt\":2,"        \
    "\"pric\":12.60,\"memo\":\"a \\\"q\\\" \\\\ \\n\\u0001\","              \
    "\"big\":1234567.891,\"neg\":-0.5,\"t\":true,\"f\":false,"              \
    "\"n\":null,\"e\":1e21}]}}"

#define TEST_ENV  TEST_ENV_HEAD "," TEST_ENV_INPUT


static yibao_envelope_limits_t  test_limits = { 32, 10000 };


static int
test_parse(const char *s, yibao_envelope_t *env, yibao_err_t *err)
{
    memset(err, 0, sizeof(yibao_err_t));

    return yibao_envelope_parse((const unsigned char *) s, strlen(s),
                                &test_limits, env, err);
}


static void
test_expect_error(const char *s, int gwerr, const char *words)
{
    int               rc;
    yibao_err_t       err;
    yibao_envelope_t  env;

    rc = test_parse(s, &env, &err);

    if (rc == YIBAO_OK || err.gwerr != gwerr
        || (words != NULL && strstr(err.msg, words) == NULL))
    {
        print_error("input: %s\nrc %d gwerr %d msg: %s\n", s, rc, err.gwerr,
                    err.msg);
        yibao_envelope_free(&env);
        fail();
    }

    assert_null(env.doc);
}


static void
test_valid_envelope(void **state)
{
    yibao_err_t       err;
    yibao_envelope_t  env;

    (void) state;

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_non_null(env.doc);
    assert_int_equal(env.infno.len, 4);
    assert_memory_equal(env.infno.data, "2204", 4);
    assert_int_equal(env.msgid.len, 30);
    assert_memory_equal(env.fixmedins_code.data, "H37010200001", 12);
    assert_int_equal(env.inf_time.len, 19);
    assert_int_equal(env.sign_no.len, 24);

    yibao_envelope_free(&env);
    assert_null(env.doc);
    yibao_envelope_free(&env);
}


static void
test_serialize_keeps_numbers_and_order(void **state)
{
    const char          *p;
    yibao_err_t          err;
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_int_equal(yibao_envelope_serialize(&env, &a, &out), YIBAO_OK);

    p = (const char *) out.data;

    /* exact amounts, never 25.199999999999999 */
    assert_non_null(memmem(p, out.len, "\"det_item_fee_sumamt\":25.2,", 27));
    assert_non_null(memmem(p, out.len, "\"det_item_fee_sumamt\":10,", 25));
    assert_non_null(memmem(p, out.len, "\"pric\":12.6,", 12));
    assert_non_null(memmem(p, out.len, "\"cnt\":2,", 8));
    assert_non_null(memmem(p, out.len, "\"big\":1234567.891,", 18));
    assert_non_null(memmem(p, out.len, "\"neg\":-0.5,", 11));
    assert_non_null(memmem(p, out.len, "\"e\":1e+21}", 10));
    assert_non_null(memmem(p, out.len,
                           "\"t\":true,\"f\":false,\"n\":null", 26));

    /* escapes are re-escaped, UTF-8 is kept as it is */
    assert_non_null(memmem(p, out.len,
                           "\"memo\":\"a \\\"q\\\" \\\\ \\n\\u0001\"", 28));
    assert_non_null(memmem(p, out.len,
                           "\"opter_name\":\"\xe5\xbc\xa0\xe5\x8c\xbb"
                           "\xe7\x94\x9f\"", 23));

    /* key order as received, compact */
    assert_memory_equal(p, "{\"infno\":\"2204\",\"msgid\":", 24);
    assert_true(strstr(TEST_ENV, "\"cainfo\":null") != NULL);
    assert_non_null(memmem(p, out.len, "\"dev_safe_info\":\"\","
                           "\"cainfo\":null,\"signtype\"", 41));

    yibao_envelope_free(&env);
    yibao_test_arena_free(&arena);
}


static void
test_set_entity(void **state)
{
    json_t              *doc;
    yibao_err_t          err;
    yibao_str_t          out, code, name, msgid;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    code.data = (const unsigned char *) "H37010200002";
    code.len = 12;
    name.data = (const unsigned char *) "\xe9\x95\x87";
    name.len = 3;
    msgid.data = (const unsigned char *) "H37010200002202401150830100007";
    msgid.len = 30;

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_int_equal(yibao_envelope_set_entity(&env, &code, &name, &msgid),
                     YIBAO_OK);

    assert_memory_equal(env.fixmedins_code.data, "H37010200002", 12);
    assert_memory_equal(env.msgid.data, msgid.data, 30);
    assert_int_equal(env.fixmedins_name.len, 3);

    assert_int_equal(yibao_envelope_serialize(&env, &a, &out), YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, JSON_REJECT_DUPLICATES,
                     &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "msgid")),
                        "H37010200002202401150830100007");
    assert_string_equal(json_string_value(json_object_get(doc,
                                                          "fixmedins_code")),
                        "H37010200002");
    assert_string_equal(json_string_value(json_object_get(doc, "infno")),
                        "2204");
    json_decref(doc);

    /* set without a msgid keeps it */
    assert_int_equal(yibao_envelope_set_entity(&env, &code, &name, NULL),
                     YIBAO_OK);
    assert_memory_equal(env.msgid.data, msgid.data, 30);

    yibao_envelope_free(&env);
    yibao_test_arena_free(&arena);
}


static void
test_serialize_nomem(void **state)
{
    yibao_err_t          err;
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);
    yibao_test_arena_fail_at(&arena, 1);

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_int_equal(yibao_envelope_serialize(&env, &a, &out),
                     YIBAO_ERR_NOMEM);

    yibao_envelope_free(&env);
    yibao_test_arena_free(&arena);
}


/*
 * One pass into a guessed size: the same bytes whether the guess is
 * none, too small by one, exact or large; NOMEM of either allocation.
 */

static void
test_serialize_hint(void **state)
{
    size_t               hints[5], i;
    yibao_err_t          err;
    yibao_str_t          ref, out;
    yibao_alloc_t        a;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_int_equal(env.text_len, strlen(TEST_ENV));
    assert_int_equal(yibao_json_serialize(env.doc, &a, &ref), YIBAO_OK);

    hints[0] = 1;
    hints[1] = ref.len - 1;
    hints[2] = ref.len;
    hints[3] = ref.len * 2;
    hints[4] = 0;

    for (i = 0; i < 5; i++) {
        assert_int_equal(yibao_json_serialize_hint(env.doc, hints[i], &a,
                                                   &out),
                         YIBAO_OK);
        assert_int_equal(out.len, ref.len);
        assert_memory_equal(out.data, ref.data, ref.len);
    }

    assert_int_equal(yibao_envelope_serialize(&env, &a, &out), YIBAO_OK);
    assert_int_equal(out.len, ref.len);
    assert_memory_equal(out.data, ref.data, ref.len);

    /* the guess fits: one allocation */
    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_json_serialize_hint(env.doc, ref.len, &a, &out),
                     YIBAO_ERR_NOMEM);

    /* the guess is too small: the second one fails */
    yibao_test_arena_fail_at(&arena, 2);
    assert_int_equal(yibao_json_serialize_hint(env.doc, 8, &a, &out),
                     YIBAO_ERR_NOMEM);

    yibao_envelope_free(&env);
    yibao_test_arena_free(&arena);
}

/* the escape in one piece (8 bytes at a time where none needs one) is
 * the escape by runs, byte for byte */

typedef struct {
    unsigned char   buf[2048];
    size_t          len;
} test_runs_t;


static void
test_runs_put(void *ctx, const void *p, size_t len)
{
    test_runs_t  *r = ctx;

    assert_true(r->len + len <= sizeof(r->buf));
    memcpy(r->buf + r->len, p, len);
    r->len += len;
}


static void
test_escape_into(void **state)
{
    size_t          i, j, n, len;
    uint64_t        x;
    test_runs_t     runs;
    unsigned char   s[300], out[6 * 300];

    static const unsigned char  alphabet[] = {
        'a', 'z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t',
        0x00, 0x01, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xe5, 0xff, '<', '&'
    };

    (void) state;

    x = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 30000; i++) {
        if (i < 256 * 9) {

            /* every byte at every place in a word */

            n = 16;
            memset(s, 'a', n);
            s[i / 256] = (unsigned char) (i % 256);

        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            n = (size_t) (x % 300);

            for (j = 0; j < n; j++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s[j] = (x % 4) ? (unsigned char) ('a' + x % 26)
                               : alphabet[(x >> 8) % sizeof(alphabet)];
            }
        }

        runs.len = 0;
        yibao_json_escape(s, n, 0, test_runs_put, &runs);

        len = yibao_json_escape_into(out, s, n);
        assert_int_equal(len, runs.len);
        assert_memory_equal(out, runs.buf, len);
        assert_int_equal(yibao_json_escaped_len(s, n), runs.len);
    }
}


/*
 * The transaction log line ($yibao_tx_log) escapes its values with
 * yibao_json_escape_into, in place of nginx's ngx_escape_json (what
 * log_format escape=json uses): the same bytes for every kind of escape
 * and for what is left as it is ('/', DEL, UTF-8, bytes above 0x7f).
 */

static void
test_escape_into_as_nginx_log(void **state)
{
    size_t          c, len, n;
    unsigned char   in[1], out[64], want[6];

    static const unsigned char  value[] =
        "1\"1\\0\x01\n\b\f\r\t\x1f\x7f/<&\xe4\xb8\xad\xff";
    static const char           escaped[] =
        "1\\\"1\\\\0\\u0001\\n\\b\\f\\r\\t\\u001F\x7f/<&\xe4\xb8\xad\xff";

    (void) state;

    len = yibao_json_escape_into(out, value, sizeof(value) - 1);
    assert_int_equal(len, sizeof(escaped) - 1);
    assert_memory_equal(out, escaped, len);

    /* each byte alone, by ngx_escape_json's rules */

    for (c = 0; c < 256; c++) {
        in[0] = (unsigned char) c;

        if (c == '"' || c == '\\') {
            want[0] = '\\';
            want[1] = (unsigned char) c;
            n = 2;

        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\b'
                   || c == '\f')
        {
            want[0] = '\\';
            want[1] = (c == '\n') ? 'n' : (c == '\r') ? 'r'
                      : (c == '\t') ? 't' : (c == '\b') ? 'b' : 'f';
            n = 2;

        } else if (c <= 0x1f) {
            memcpy(want, "\\u00", 4);
            want[4] = (unsigned char) ('0' + (c >> 4));
            want[5] = (unsigned char) "0123456789ABCDEF"[c & 0xf];
            n = 6;

        } else {
            want[0] = (unsigned char) c;
            n = 1;
        }

        len = yibao_json_escape_into(out, in, 1);
        assert_int_equal(len, n);
        assert_memory_equal(out, want, n);
    }
}


static void
test_body_errors(void **state)
{
    (void) state;

    test_expect_error("", YIBAO_GWERR_BODY_EMPTY, "empty");
    test_expect_error(" \r\n\t", YIBAO_GWERR_BODY_EMPTY, "empty");
    test_expect_error("{\"infno\":", YIBAO_GWERR_JSON_INVALID, "line 1");
    test_expect_error("{} {}", YIBAO_GWERR_JSON_INVALID, "column");
    test_expect_error("{\"a\":1,\"a\":2}", YIBAO_GWERR_JSON_INVALID,
                      "duplicate");
    test_expect_error("{\"a\":\"\xff\"}", YIBAO_GWERR_JSON_INVALID, "byte");
    test_expect_error("{\"a\":\"\xc0\xaf\"}", YIBAO_GWERR_JSON_INVALID,
                      NULL);
    test_expect_error("{\"a\":\"\\u0000\"}", YIBAO_GWERR_JSON_INVALID,
                      NULL);
    test_expect_error("[1]", YIBAO_GWERR_ENVELOPE_NOT_OBJECT, "array");
    test_expect_error("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]"
                      "]]]]]]]]]]]]]]]]]]]]]]}",
                      YIBAO_GWERR_JSON_TOO_DEEP, "32");
}


/* the values of a JSON text: its tree's nodes */

static size_t
test_count_tree(json_t *v)
{
    size_t       i, n;
    json_t      *child;
    const char  *key;

    n = 1;

    if (json_is_object(v)) {
        json_object_foreach(v, key, child) {
            n += test_count_tree(child);
        }
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            n += test_count_tree(child);
        }
    }

    return n;
}


static size_t
test_count_values(const char *text)
{
    size_t   n;
    json_t  *doc;

    doc = json_loads(text, 0, NULL);
    assert_non_null(doc);
    n = test_count_tree(doc);
    json_decref(doc);

    return n;
}


static void
test_too_many_values(void **state)
{
    int                      rc;
    yibao_err_t              err;
    yibao_envelope_t         env;
    yibao_envelope_limits_t  small = { 32, 20 };

    (void) state;

    rc = yibao_envelope_parse((const unsigned char *) TEST_ENV,
                              strlen(TEST_ENV), &small, &env, &err);
    assert_int_equal(rc, YIBAO_ERR_TOO_LARGE);
    assert_int_equal(err.gwerr, YIBAO_GWERR_JSON_TOO_MANY);
    assert_null(env.doc);

    /* the limit is exact: every value counts, scalars and containers */

    small.max_values = test_count_values(TEST_ENV);
    assert_true(small.max_values > 20);

    rc = yibao_envelope_parse((const unsigned char *) TEST_ENV,
                              strlen(TEST_ENV), &small, &env, &err);
    assert_int_equal(rc, YIBAO_OK);
    yibao_envelope_free(&env);

    small.max_values--;

    rc = yibao_envelope_parse((const unsigned char *) TEST_ENV,
                              strlen(TEST_ENV), &small, &env, &err);
    assert_int_equal(rc, YIBAO_ERR_TOO_LARGE);
    assert_int_equal(err.gwerr, YIBAO_GWERR_JSON_TOO_MANY);
    assert_null(env.doc);
}


static void
test_field_errors(void **state)
{
    size_t       i;
    char         buf[4096];
    const char  *p;

    static const struct {
        const char  *from;
        const char  *to;
        int          gwerr;
        const char  *words;
    } cases[] = {
        { "\"infno\":\"2204\"", "\"infno\":2204", YIBAO_GWERR_FIELD_INVALID,
          "\"infno\" must be a JSON string" },
        { "\"infno\":\"2204\"", "\"infno\":\"22O4\"",
          YIBAO_GWERR_FIELD_INVALID, "got \"22O4\"" },
        { "\"infno\":\"2204\"", "\"xinfno\":\"2204\"",
          YIBAO_GWERR_FIELD_MISSING, "\"infno\" is missing" },
        { "\"infno\":\"2204\"", "\"infno\":null",
          YIBAO_GWERR_FIELD_MISSING, "\"infno\" is missing" },
        { "\"msgid\":\"H", "\"msgid\":\"-H", YIBAO_GWERR_FIELD_INVALID,
          "\"msgid\"" },
        { "\"mdtrtarea_admvs\":\"370102\"", "\"mdtrtarea_admvs\":\"37012\"",
          YIBAO_GWERR_FIELD_INVALID, "6 digits" },
        { "\"insuplc_admdvs\":\"\"", "\"insuplc_admdvs\":\"abc\"",
          YIBAO_GWERR_FIELD_INVALID, "\"insuplc_admdvs\"" },
        { "\"recer_sys_code\":\"FSI_LOCAL\"", "\"recer_sys_code\":\"\"",
          YIBAO_GWERR_FIELD_INVALID, "\"recer_sys_code\"" },
        { "\"recer_sys_code\":\"FSI_LOCAL\"",
          "\"recer_sys_code\":\"FSI_LOCAL_TOO_LONG\"",
          YIBAO_GWERR_FIELD_INVALID, "longer than 10" },
        { "\"opter_type\":\"1\"", "\"opter_type\":\"4\"",
          YIBAO_GWERR_FIELD_INVALID, "\"opter_type\"" },
        { "\"opter_name\":\"", "\"opter_name\":\"\",\"x\":\"",
          YIBAO_GWERR_FIELD_INVALID, "\"opter_name\" must be not empty" },
        { "\"inf_time\":\"2024-01-15 08:30:10\"",
          "\"inf_time\":\"2023-02-29 08:30:10\"",
          YIBAO_GWERR_FIELD_INVALID, "\"inf_time\"" },
        { "\"inf_time\":\"2024-01-15 08:30:10\"",
          "\"inf_time\":\"2024/01/15 08:30:10\"",
          YIBAO_GWERR_FIELD_INVALID, "yyyy-MM-dd" },
        { "\"fixmedins_code\":\"H37010200001\"",
          "\"fixmedins_code\":\"H3701020000\"",
          YIBAO_GWERR_FIELD_INVALID, "\"fixmedins_code\"" },
        { "\"sign_no\":\"", "\"sign_no\":\"1234567890123456789012345678901",
          YIBAO_GWERR_FIELD_INVALID, "\"sign_no\" is longer" },
        { "\"input\":{\"feedetail\"", "\"input\":\"{}\",\"x\":{\"feedetail\"",
          YIBAO_GWERR_INPUT_NOT_OBJECT, "got a string" },
        { "\"input\":{\"feedetail\"", "\"input\":[],\"x\":{\"feedetail\"",
          YIBAO_GWERR_INPUT_NOT_OBJECT, "got an array" },
        { "\"input\":{\"feedetail\"", "\"inpux\":{\"feedetail\"",
          YIBAO_GWERR_FIELD_MISSING, "\"input\" is missing" },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p = strstr(TEST_ENV, cases[i].from);
        assert_non_null(p);

        snprintf(buf, sizeof(buf), "%.*s%s%s", (int) (p - TEST_ENV),
                 TEST_ENV, cases[i].to, p + strlen(cases[i].from));

        test_expect_error(buf, cases[i].gwerr, cases[i].words);
    }
}


static void
test_personal_fields_not_echoed(void **state)
{
    int               rc;
    char              buf[4096];
    const char       *p, *from;
    yibao_err_t       err;
    yibao_envelope_t  env;

    (void) state;

    /* an operator name longer than allowed is refused without echo */
    from = "\"opter_name\":\"";
    p = strstr(TEST_ENV, from);
    snprintf(buf, sizeof(buf), "%.*s%sSECRETNAME%s%s", (int) (p - TEST_ENV),
             TEST_ENV, from, "0123456789012345678901234567890123456789"
             "0123456789", p + strlen(from));

    rc = test_parse(buf, &env, &err);
    assert_int_equal(rc, YIBAO_ERR_INVALID);
    assert_null(strstr(err.msg, "SECRETNAME"));
    assert_non_null(strstr(err.msg, "opter_name"));
}


static void
test_msgid_plan(void **state)
{
    char              buf[4096];
    const char       *p;
    yibao_err_t       err;
    yibao_str_t       own, other;
    yibao_envelope_t  env;

    (void) state;

    own.data = (const unsigned char *) "H37010200001";
    own.len = 12;
    other.data = (const unsigned char *) "H37010200002";
    other.len = 12;

    assert_int_equal(test_parse(TEST_ENV, &env, &err), YIBAO_OK);
    assert_int_equal(yibao_envelope_msgid_plan(&env, &own, &err), 0);
    assert_int_equal(yibao_envelope_msgid_plan(&env, &other, &err), 1);
    yibao_envelope_free(&env);

    p = strstr(TEST_ENV, "202401150830100003");
    snprintf(buf, sizeof(buf), "%.*s202401150861100003%s",
             (int) (p - TEST_ENV), TEST_ENV, p + 18);

    assert_int_equal(test_parse(buf, &env, &err), YIBAO_OK);
    memset(&err, 0, sizeof(yibao_err_t));
    assert_int_equal(yibao_envelope_msgid_plan(&env, &own, &err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(err.gwerr, YIBAO_GWERR_FIELD_INVALID);
    assert_non_null(strstr(err.msg, "H37010200001"));
    assert_non_null(strstr(err.msg, "30 characters"));
    yibao_envelope_free(&env);
}


static void
test_answer_inspect(void **state)
{
    size_t          i;
    yibao_answer_t  ans;

    static const struct {
        const char  *body;
        int          is_json;
        int          is_envelope;
        int          infcode;
        const char  *summary;
    } cases[] = {
        { "{\"infcode\":0,\"err_msg\":null,\"output\":{}}", 1, 1, 0, "" },
        { "{\"infcode\":-1,\"err_msg\":\"FSI-\\\"x\\\"\"}", 1, 1, -1,
          "FSI-?x?" },
        { "{\"infcode\":\"0\",\"output\":null}", 1, 1, 0, "" },
        { "{\"infcode\":\"-1\",\"err_msg\":\"no\"}", 1, 1, -1, "no" },
        { "{\"infcode\":\"ok\"}", 1, 0, 0, "without infcode" },
        { "{\"code\":401,\"message\":\"bad sig\"}", 1, 0, 0,
          "code 401 message \"bad sig\"" },
        { "{\"code\":400001,\"msg\":\"auth\"}", 1, 0, 0,
          "code 400001 message \"auth\"" },
        { "[1,2]", 1, 0, 0, "array" },
        /* a long number of the platform's is masked as an ID number */
        { "{\"code\":1234567890123456789,\"message\":\"x\"}", 1, 0, 0,
          "code 1234***********6789 message \"x\"" },
        { "<html>oops</html>", 0, 0, 0, "non-JSON starting \"<html>" },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(yibao_answer_inspect(
                             (const unsigned char *) cases[i].body,
                             strlen(cases[i].body), &ans),
                         YIBAO_OK);
        assert_int_equal(ans.is_json, cases[i].is_json);
        assert_int_equal(ans.is_envelope, cases[i].is_envelope);

        if (cases[i].is_envelope) {
            assert_int_equal(ans.infcode, cases[i].infcode);
        }

        if (strstr(ans.summary, cases[i].summary) == NULL) {
            print_error("case %zu summary: %s\n", i, ans.summary);
            fail();
        }
    }

    /*
     * what the platform quotes of the person is masked before the
     * summary is cut: the name, and a psn_no that the cut at 40
     * characters would have left half there
     */

    {
        void         *doc;
        yibao_str_t   mask[2] = {
            { 26, (const unsigned char *) "37000000000000000000123456" },
            { 12, (const unsigned char *) "司马相如" }
        };

        static const char  quoted[] =
            "{\"infcode\":-1,\"err_msg\":\"人员司马相如不存在，"
            "人员编号为 ABCDEF37000000000000000000123456"
            "\"}";
        static const char  html[] =
            "<p>id 370102195603152017</p>";

        assert_int_equal(yibao_answer_parse_masked(
                             (const unsigned char *) quoted,
                             sizeof(quoted) - 1, mask, 2, &ans, &doc),
                         YIBAO_OK);
        yibao_answer_release(doc);
        assert_string_equal(ans.summary,
                            "人员************不存在，人员编号为 "
                            "ABCDEF3700******...");

        assert_int_equal(yibao_answer_inspect((const unsigned char *) html,
                                              sizeof(html) - 1, &ans),
                         YIBAO_OK);
        assert_non_null(strstr(ans.summary, "id 3701**********2017"));
    }
}


static void
test_replace_token(void **state)
{
    size_t               n;
    yibao_str_t          from, to, out;
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    static const char  body[] =
        "{\"medins_setl_id\":\"UPSTREAM1\",\"x\":\"UPSTREAM12\","
        "\"y\":\"aUPSTREAM1\",\"z\":[\"UPSTREAM1\"],\"UPSTREAM1\":1}";

    (void) state;

    yibao_test_arena_init(&arena, &a);

    from.data = (const unsigned char *) "UPSTREAM1";
    from.len = 9;
    to.data = (const unsigned char *) "CALLERMSGID0001";
    to.len = 15;

    assert_int_equal(yibao_answer_replace_token(
                         (const unsigned char *) body, sizeof(body) - 1,
                         &from, &to, &a, &out, &n),
                     YIBAO_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out.len, sizeof(body) - 1 + 3 * 6);
    assert_memory_equal(out.data,
                        "{\"medins_setl_id\":\"CALLERMSGID0001\","
                        "\"x\":\"UPSTREAM12\",\"y\":\"aUPSTREAM1\","
                        "\"z\":[\"CALLERMSGID0001\"],"
                        "\"CALLERMSGID0001\":1}", out.len);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_answer_replace_token(
                         (const unsigned char *) body, sizeof(body) - 1,
                         &from, &to, &a, &out, &n),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


static void
test_error_envelope(void **state)
{
    char                 big[3000];
    json_t              *doc;
    yibao_str_t          out;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_test_arena_t   arena;
    yibao_tm_t           tm = { 2024, 1, 15, 8, 36, 10, 7 };

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_FIELD_INVALID,
                                          "field \"msgid\" \\ bad\n", &tm,
                                          &a, &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, JSON_REJECT_DUPLICATES,
                     &jerr);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "infcode")), -1);
    assert_string_equal(json_string_value(json_object_get(doc, "err_msg")),
                        "YB1007 field \"msgid\" \\ bad\n");
    assert_string_equal(json_string_value(json_object_get(doc,
                                                          "refmsg_time")),
                        "20240115083610007");
    assert_true(json_is_null(json_object_get(doc, "output")));
    assert_true(json_is_null(json_object_get(doc, "inf_refmsgid")));
    json_decref(doc);

    /* no text: the table's */
    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_UPSTREAM_TIMEOUT, NULL,
                                          &tm, &a, &out),
                     YIBAO_OK);
    assert_non_null(memmem(out.data, out.len,
                           "YB6002 platform did not answer in time", 38));

    /* a long list of problems is kept whole */
    memset(big, 'x', sizeof(big) - 2);
    big[sizeof(big) - 2] = 'Z';
    big[sizeof(big) - 1] = '\0';

    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_UNMAPPED, big, &tm, &a,
                                          &out),
                     YIBAO_OK);
    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);
    assert_int_equal(strlen(json_string_value(json_object_get(doc,
                                                              "err_msg"))),
                     7 + sizeof(big) - 1);
    json_decref(doc);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_INTERNAL, "x", &tm, &a,
                                          &out),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


/*
 * Regression tests of what fuzzing found (docs/fuzzing.md).
 *
 * -0.0 was serialized as "-0", which parses back as the integer 0 and
 * is then serialized as "0": the bytes signed and sent were not what
 * the same document serializes to once parsed again.
 */

static void
test_fuzz_negative_zero(void **state)
{
    yibao_err_t          err;
    yibao_str_t          out, again;
    yibao_alloc_t        a;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(test_parse(TEST_ENV_HEAD ",\"input\":{\"a\":-0.0,"
                                "\"b\":-0e5,\"c\":[-0.0,0.0,-0]}}",
                                &env, &err),
                     YIBAO_OK);
    assert_int_equal(yibao_envelope_serialize(&env, &a, &out), YIBAO_OK);
    yibao_envelope_free(&env);

    assert_non_null(memmem(out.data, out.len,
                           "\"input\":{\"a\":0,\"b\":0,\"c\":[0,0,0]}}",
                           34));

    /* a fixed point: parsed and serialized again, the same bytes */

    assert_int_equal(yibao_envelope_parse(out.data, out.len, &test_limits,
                                          &env, &err),
                     YIBAO_OK);
    assert_int_equal(yibao_envelope_serialize(&env, &a, &again), YIBAO_OK);
    yibao_envelope_free(&env);

    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);

    yibao_test_arena_free(&arena);
}


/*
 * jansson's message quotes the bytes near a syntax error, cut in the
 * middle of a UTF-8 character ("invalid escape near '"..\\xe5'"): the
 * error envelope carried the cut character as it was and was not
 * valid JSON.
 */

static void
test_fuzz_error_envelope_utf8(void **state)
{
    json_t              *doc;
    yibao_err_t          err;
    yibao_str_t          out;
    const char          *msg;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_envelope_t     env;
    yibao_test_arena_t   arena;
    yibao_tm_t           tm = { 2024, 1, 15, 8, 36, 10, 7 };

    (void) state;

    yibao_test_arena_init(&arena, &a);

    /* "某镇\卫": the backslash escapes the first byte of 卫 */

    assert_int_equal(test_parse("{\"fixmedins_name\":\"\xe6\x9f\x90"
                                "\xe9\x95\x87\\\xe5\x8d\xab\"}", &env,
                                &err),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(err.gwerr, YIBAO_GWERR_JSON_INVALID);

    /*
     * jansson quotes the bytes near the error, cut anywhere; they are
     * echoed as a caller's value is (a name or an ID number could be
     * among them): every character other than ASCII as '*', the cut
     * one too
     */

    assert_non_null(strstr(err.msg, "near '?**?*'"));

    assert_int_equal(yibao_envelope_error(err.gwerr, err.msg, &tm, &a, &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    if (doc == NULL) {
        print_error("%.*s\n%s\n", (int) out.len, out.data, jerr.text);
        fail();
    }

    msg = json_string_value(json_object_get(doc, "err_msg"));
    assert_non_null(msg);
    assert_memory_equal(msg, "YB1003 request body is not valid JSON", 37);
    assert_non_null(strstr(msg, "near '?**?*'"));
    json_decref(doc);

    /* bytes that start no character become '?', characters stay */

    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_FIELD_INVALID,
                                          "a\xe5'b \xff \xc0\xaf "
                                          "\xed\xa0\x80 \xf4\x90\x80\x80 "
                                          "ok \xe6\x9d\x91\xf0\x9f\x98\x80",
                                          &tm, &a, &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "err_msg")),
                        "YB1007 a?'b ? ?? ??? ???? ok "
                        "\xe6\x9d\x91\xf0\x9f\x98\x80");
    json_decref(doc);

    /* cut at the very end */

    assert_int_equal(yibao_envelope_error(YIBAO_GWERR_FIELD_INVALID,
                                          "x\xe6\x9d", &tm, &a, &out),
                     YIBAO_OK);

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "err_msg")),
                        "YB1007 x??");
    json_decref(doc);

    yibao_test_arena_free(&arena);
}


/*
 * An integer infcode was cut to an int: 4294967296 read as 0, a
 * success (and a cacheable answer).  Only what an int holds is an
 * infcode.
 */

static void
test_fuzz_infcode_range(void **state)
{
    size_t          i;
    yibao_answer_t  ans;

    static const struct {
        const char  *body;
        int          is_envelope;
        int          infcode;
    } cases[] = {
        { "{\"infcode\":4294967296,\"output\":{}}", 0, 0 },
        { "{\"infcode\":4294967295}", 0, 0 },
        { "{\"infcode\":-4294967297}", 0, 0 },
        { "{\"infcode\":9223372036854775807}", 0, 0 },
        { "{\"infcode\":2147483647}", 1, 2147483647 },
        { "{\"infcode\":-2147483648}", 1, -2147483647 - 1 },
        { "{\"infcode\":-1}", 1, -1 },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(yibao_answer_inspect(
                             (const unsigned char *) cases[i].body,
                             strlen(cases[i].body), &ans),
                         YIBAO_OK);
        assert_int_equal(ans.is_json, 1);

        if (ans.is_envelope != cases[i].is_envelope
            || (ans.is_envelope && ans.infcode != cases[i].infcode))
        {
            print_error("case %zu: envelope %d infcode %d\n", i,
                        ans.is_envelope, ans.infcode);
            fail();
        }
    }
}


static void
test_gwerr_table(void **state)
{
    (void) state;

    assert_int_equal(yibao_gwerr_find(YIBAO_GWERR_AUTH_SIGNATURE)
                         ->http_status, 401);
    assert_int_equal(yibao_gwerr_find(YIBAO_GWERR_DENIED_CLINIC)
                         ->http_status, 403);
    assert_int_equal(yibao_gwerr_find(YIBAO_GWERR_UPSTREAM_TIMEOUT)
                         ->http_status, 504);
    assert_int_equal(yibao_gwerr_find(YIBAO_GWERR_BODY_TOO_LARGE)
                         ->http_status, 413);
    assert_int_equal(yibao_gwerr_find(4242)->code, YIBAO_GWERR_INTERNAL);
}


static void
test_msgid_sequence(void **state)
{
    char         out[YIBAO_MSGID_LEN + 1];
    unsigned     seq, i;
    uint64_t     st, next, sec;
    yibao_str_t  entity;
    yibao_tm_t   tm = { 2024, 1, 5, 8, 3, 9, 0 };

    (void) state;

    st = 0;

    assert_int_equal(yibao_msgid_advance(st, 1000, 0, 1, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(sec, 1000);
    assert_int_equal(seq, 0);

    st = next;

    for (i = 1; i < YIBAO_MSGID_SEQ_MAX; i++) {
        assert_int_equal(yibao_msgid_advance(st, 1000, 0, 1, &next, &sec, &seq),
                         YIBAO_OK);
        assert_int_equal(seq, i);
        st = next;
    }

    /* the second's 10000 numbers are used up */
    assert_int_equal(yibao_msgid_advance(st, 1000, 0, 1, &next, &sec, &seq),
                     YIBAO_ERR_EXHAUSTED);

    /* a clock that went back keeps the later second */
    assert_int_equal(yibao_msgid_advance(st, 999, 0, 1, &next, &sec, &seq),
                     YIBAO_ERR_EXHAUSTED);

    assert_int_equal(yibao_msgid_advance(st, 1001, 0, 1, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(seq, 0);
    st = next;

    assert_int_equal(yibao_msgid_advance(st, 990, 0, 1, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(sec, 1001);
    assert_int_equal(seq, 1);

    /*
     * a sequence started at 2000 (a restarted nginx) issues nothing in
     * that second, which the nginx before it may have used: its first
     * msgid has the second after, and the numbers go on from there
     */

    st = yibao_msgid_start(2000);

    assert_int_equal(yibao_msgid_advance(st, 2000, 1, 2, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(sec, 2001);
    assert_int_equal(seq, 1);
    st = next;

    assert_int_equal(yibao_msgid_advance(st, 2001, 1, 2, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(sec, 2001);
    assert_int_equal(seq, 3);
    st = next;

    assert_int_equal(yibao_msgid_advance(st, 2002, 1, 2, &next, &sec, &seq),
                     YIBAO_OK);
    assert_int_equal(sec, 2002);
    assert_int_equal(seq, 1);

    /* node 2 of 3: 2, 5, 8, ... 9998, then exhausted */

    st = 0;

    for (i = 0; i < 3333; i++) {
        assert_int_equal(yibao_msgid_advance(st, 7, 2, 3, &next, &sec,
                                             &seq),
                         YIBAO_OK);
        assert_int_equal(seq, 3 * i + 2);
        st = next;
    }

    assert_int_equal(yibao_msgid_advance(st, 7, 2, 3, &next, &sec, &seq),
                     YIBAO_ERR_EXHAUSTED);
    assert_int_equal(yibao_msgid_advance(0, 7, 3, 3, &next, &sec, &seq),
                     YIBAO_ERR_INVALID);

    /* node 0 of 3 has one more: 0 .. 9999 */

    st = 0;

    for (i = 0; i < 3334; i++) {
        assert_int_equal(yibao_msgid_advance(st, 7, 0, 3, &next, &sec,
                                             &seq),
                         YIBAO_OK);
        st = next;
    }

    assert_int_equal(seq, 9999);

    entity.data = (const unsigned char *) "H37010200001";
    entity.len = 12;

    assert_int_equal(yibao_msgid_format(&entity, &tm, 42, out), YIBAO_OK);
    assert_string_equal(out, "H37010200001202401050803090042");

    assert_int_equal(yibao_msgid_format(&entity, &tm, 10000, out),
                     YIBAO_ERR_INVALID);

    entity.len = 11;
    assert_int_equal(yibao_msgid_format(&entity, &tm, 1, out),
                     YIBAO_ERR_INVALID);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_valid_envelope),
        cmocka_unit_test(test_serialize_keeps_numbers_and_order),
        cmocka_unit_test(test_set_entity),
        cmocka_unit_test(test_serialize_nomem),
        cmocka_unit_test(test_serialize_hint),
        cmocka_unit_test(test_escape_into),
        cmocka_unit_test(test_escape_into_as_nginx_log),
        cmocka_unit_test(test_body_errors),
        cmocka_unit_test(test_too_many_values),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_personal_fields_not_echoed),
        cmocka_unit_test(test_msgid_plan),
        cmocka_unit_test(test_answer_inspect),
        cmocka_unit_test(test_replace_token),
        cmocka_unit_test(test_error_envelope),
        cmocka_unit_test(test_fuzz_negative_zero),
        cmocka_unit_test(test_fuzz_error_envelope_utf8),
        cmocka_unit_test(test_fuzz_infcode_range),
        cmocka_unit_test(test_gwerr_table),
        cmocka_unit_test(test_msgid_sequence),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
