/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_cache.h"
#include "yibao_test_alloc.h"


#define TEST_HEAD                                                            \
    "{\"infno\":\"1901\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"370102\","  \
    "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"FSI\",\"infver\":\"V1\"," \
    "\"opter_type\":\"1\",\"opter\":\"1\",\"opter_name\":\"x\","            \
    "\"inf_time\":\"%s\",\"fixmedins_code\":\"H37010200001\","              \
    "\"sign_no\":\"%s\",\"input\":%s}"


static void
test_key(const char *msgid, const char *insuplc, const char *time,
    const char *sign_no, const char *input, yibao_alloc_t *a, char *out)
{
    char                     buf[1024];
    yibao_err_t              err;
    yibao_str_t              key;
    yibao_envelope_t         env;
    yibao_envelope_limits_t  limits = { 32, 1000 };

    static yibao_str_t  entity = yibao_string("H37010200001");

    snprintf(buf, sizeof(buf), TEST_HEAD, msgid, insuplc, time, sign_no,
             input);

    assert_int_equal(yibao_envelope_parse((const unsigned char *) buf,
                                          strlen(buf), &limits, &env, &err),
                     YIBAO_OK);
    assert_int_equal(yibao_cache_key(&env, &entity, a, &key), YIBAO_OK);

    memcpy(out, key.data, key.len);
    out[key.len] = '\0';

    yibao_envelope_free(&env);
}


static void
test_keys(void **state)
{
    char                 k1[256], k2[256], k3[256], k4[256];
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    test_key("H37010200001202401150830100001", "", "2024-01-15 08:30:10",
             "1", "{\"type\":\"a\",\"admdvs\":\"370102\"}", &a, k1);

    /* msgid, inf_time, sign_no and the key order do not matter */
    test_key("H37010200001202401150930100002", "", "2024-01-15 09:30:10",
             "2", "{\"admdvs\":\"370102\",\"type\":\"a\"}", &a, k2);
    assert_string_equal(k1, k2);

    /* the input and the insurance region do */
    test_key("H37010200001202401150830100001", "", "2024-01-15 08:30:10",
             "1", "{\"type\":\"b\",\"admdvs\":\"370102\"}", &a, k3);
    assert_string_not_equal(k1, k3);

    test_key("H37010200001202401150830100001", "370103",
             "2024-01-15 08:30:10", "1",
             "{\"type\":\"a\",\"admdvs\":\"370102\"}", &a, k4);
    assert_string_not_equal(k1, k4);

    assert_memory_equal(k1, "yibao:{H37010200001}:c:1901::", 29);
    assert_int_equal(strlen(k1), 29 + 64);
    assert_memory_equal(k4, "yibao:{H37010200001}:c:1901:370103:", 35);

    yibao_test_arena_free(&arena);
}


static void
test_allowed(void **state)
{
    size_t  i;

    static const char  *yes[] = { "1101", "1201", "1301", "1319", "1901",
                                  "5101", "5205", "5304" };
    static const char  *no[] = { "2201", "2204", "2206", "2207", "2208",
                                 "2601", "9001", "1320", "3201", "9102",
                                 "2207A", "110", "" };

    (void) state;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_true(yibao_cache_infno_allowed((const unsigned char *) yes[i],
                                              strlen(yes[i])));
    }

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_false(yibao_cache_infno_allowed((const unsigned char *) no[i],
                                               strlen(no[i])));
    }
}


static void
test_unframe(void **state)
{
    uint64_t     t;
    yibao_str_t  answer;

    (void) state;

    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "1700000000123\n{\"infcode\":0}",
                                         27, &t, &answer),
                     YIBAO_OK);
    assert_int_equal(t, 1700000000123ULL);
    assert_int_equal(answer.len, 13);
    assert_memory_equal(answer.data, "{\"infcode\":0}", 13);

    assert_int_equal(yibao_cache_unframe((const unsigned char *) "{}", 2, &t,
                                         &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe((const unsigned char *) "123", 3,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);
}


/*
 * Found by fuzzing (docs/fuzzing.md): 20 digits were read into a
 * uint64_t, so 18446744073709551616 wrapped to 0 (stale, or another
 * time) instead of being refused as a value that is not framed.
 */

static void
test_fuzz_unframe_digits(void **state)
{
    uint64_t     t;
    yibao_str_t  answer;

    (void) state;

    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "18446744073709551616\n{}", 23,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "00000000000000000001\n{}", 23,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);

    /* 19 digits always fit */
    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "9999999999999999999\n{}", 22,
                                         &t, &answer),
                     YIBAO_OK);
    assert_true(t == 9999999999999999999ULL);
    assert_int_equal(answer.len, 2);
}


/*
 * The ids of the log stored beside the answer: written, read back, an
 * old value without them, and what is refused (a reader must never
 * serve a value it cannot frame).
 */

static void
test_frame_fields(void **state)
{
    int             has;
    size_t          len;
    uint64_t        t;
    yibao_str_t     answer;
    unsigned char   buf[600], *p;
    yibao_fields_t  f, g;

    static const char  ans[] = "{\"infcode\":0}";

    (void) state;

    memset(&f, 0, sizeof(yibao_fields_t));
    f.mdtrt_id.data = (const unsigned char *) "M12";
    f.mdtrt_id.len = 3;
    f.psn_no.data = (const unsigned char *) "370000\n0:9";
    f.psn_no.len = 10;

    assert_int_equal(yibao_cache_fields_size(&f), 1 + 12 + 13);

    p = buf + sprintf((char *) buf, "%llu", 1700000000123ULL);
    p = yibao_cache_fields_write(p, &f);
    *p++ = '\n';
    memcpy(p, ans, sizeof(ans) - 1);
    p += sizeof(ans) - 1;
    len = (size_t) (p - buf);

    assert_int_equal(len, 35 + sizeof(ans) - 1);
    assert_memory_equal(buf, "1700000000123 3:M120:10:370000\n0:9\n", 35);

    assert_int_equal(yibao_cache_unframe_fields(buf, len, &t, &g, &has,
                                                &answer),
                     YIBAO_OK);
    assert_int_equal(has, 1);
    assert_true(t == 1700000000123ULL);
    assert_int_equal(g.mdtrt_id.len, 3);
    assert_memory_equal(g.mdtrt_id.data, "M12", 3);
    assert_int_equal(g.setl_id.len, 0);
    assert_int_equal(g.psn_no.len, 10);
    assert_memory_equal(g.psn_no.data, "370000\n0:9", 10);
    assert_int_equal(answer.len, sizeof(ans) - 1);
    assert_memory_equal(answer.data, ans, sizeof(ans) - 1);

    /* the reader that ignores them serves the same answer */
    assert_int_equal(yibao_cache_unframe(buf, len, &t, &answer), YIBAO_OK);
    assert_int_equal(answer.len, sizeof(ans) - 1);

    /* an old value: no ids */
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5\n{}", 4, &t, &g, &has,
                         &answer),
                     YIBAO_OK);
    assert_int_equal(has, 0);
    assert_int_equal(g.mdtrt_id.len, 0);
    assert_int_equal(answer.len, 2);

    /* cut short, lengths beyond the value, missing digits, too long */
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 1:a0:", 7, &t, &g, &has,
                         &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(has, 0);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 1:a0:9:x\n{}", 13, &t,
                         &g, &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 :0:0:\n{}", 10, &t, &g,
                         &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 0:0:0:x{}", 11, &t, &g,
                         &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(g.mdtrt_id.len + g.setl_id.len + g.psn_no.len, 0);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 999:", 6, &t, &g, &has,
                         &answer),
                     YIBAO_ERR_SYNTAX);

    /* an id too long to go with it: nothing written */
    memset(buf, 'x', 200);
    f.setl_id.data = buf;
    f.setl_id.len = YIBAO_CACHE_FIELD_MAX + 1;
    assert_int_equal(yibao_cache_fields_size(&f), 0);
    p = buf + 300;
    assert_ptr_equal(yibao_cache_fields_write(p, &f), p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_unframe),
        cmocka_unit_test(test_fuzz_unframe_digits),
        cmocka_unit_test(test_frame_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
