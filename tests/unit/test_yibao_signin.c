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

#include "yibao_signin.h"
#include "yibao_test_alloc.h"


#define test_str(s)  { sizeof(s) - 1, (const unsigned char *) s }


static void
test_key_and_input(void **state)
{
    char                *s;
    json_t              *in;
    yibao_tm_t           tm = { 2024, 3, 5, 23, 59, 59, 500 };
    yibao_str_t          key;
    yibao_str_t          entity = test_str("H37010200001");
    yibao_str_t          opter = test_str("001");
    yibao_str_t          mac = test_str("00-16-3E-00-00-01");
    yibao_str_t          ip = test_str("10.0.0.9");
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_signin_key(&entity, &opter, &tm, &a, &key),
                     YIBAO_OK);
    assert_int_equal(key.len, strlen("yibao:signin:{H37010200001}:001:"
                                     "20240305"));
    assert_memory_equal(key.data, "yibao:signin:{H37010200001}:001:20240305",
                        key.len);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_signin_key(&entity, &opter, &tm, &a, &key),
                     YIBAO_ERR_NOMEM);

    in = yibao_signin_input(&opter, &mac, &ip);
    assert_non_null(in);
    s = json_dumps(in, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"signIn\":{\"ip\":\"10.0.0.9\",\"mac\":"
                           "\"00-16-3E-00-00-01\",\"opter_no\":\"001\"}}");
    free(s);
    json_decref(in);

    /* half a second before midnight */
    assert_int_equal(yibao_signin_ttl_ms(&tm), 500);
    tm.hour = 0;
    tm.min = 0;
    tm.sec = 0;
    tm.msec = 0;
    assert_int_equal(yibao_signin_ttl_ms(&tm), 86400000);

    yibao_test_arena_free(&arena);
}


static void
test_answer(void **state)
{
    char                 reason[32];
    yibao_str_t          sign_no;
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    static const char  ok[] = "{\"infcode\":0,\"output\":{\"signinoutb\":"
                              "{\"sign_no\":\"S123\",\"sign_time\":\"x\"}}}";
    static const char  refused[] = "{\"infcode\":-1,\"err_msg\":\"经办人"
                                   "未登记，经办人未登记，经办人未登记\"}";

    (void) state;

    yibao_test_arena_init(&arena, &a);

    assert_int_equal(yibao_signin_answer((const unsigned char *) ok,
                                         sizeof(ok) - 1, &a, &sign_no,
                                         reason, sizeof(reason)),
                     YIBAO_OK);
    assert_int_equal(sign_no.len, 4);
    assert_memory_equal(sign_no.data, "S123", 4);

    assert_int_equal(yibao_signin_answer((const unsigned char *) refused,
                                         sizeof(refused) - 1, &a, &sign_no,
                                         reason, sizeof(reason)),
                     YIBAO_ERR_INVALID);
    assert_true(strlen(reason) < sizeof(reason));
    assert_int_equal(strlen(reason) % 3, 0);
    assert_memory_equal(reason, "经办人", strlen("经办人"));

    assert_int_equal(yibao_signin_answer((const unsigned char *) "<html>", 6,
                                         &a, &sign_no, reason,
                                         sizeof(reason)),
                     YIBAO_ERR_INVALID);
    assert_string_equal(reason, "the 9001 answer is not JSON");

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_signin_answer((const unsigned char *) ok,
                                         sizeof(ok) - 1, &a, &sign_no,
                                         reason, sizeof(reason)),
                     YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_key_and_input),
        cmocka_unit_test(test_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
