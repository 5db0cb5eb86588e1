/*
 * Copyright (C) yibao-gateway authors
 */


#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_journal.h"
#include "yibao_test_alloc.h"


#define test_str(s)  { sizeof(s) - 1, (const unsigned char *) s }


static void
test_round_trip(void **state)
{
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_journal_t      j, back;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.state = YIBAO_JOURNAL_UNKNOWN;
    j.caller = (yibao_str_t) test_str("his-a");
    j.msgid = (yibao_str_t) test_str("PDY60134132080312D6001202401150830100001");
    j.upstream_msgid = (yibao_str_t) test_str("H37010200001202401150830100001");
    j.infno = (yibao_str_t) test_str("2207");
    j.hash = (yibao_str_t) test_str("ab12");
    j.sent_ms = 1700000000123ULL;
    j.infcode = -1;
    j.infcode_set = 1;
    j.reason = (yibao_str_t) test_str("timeout \"x\"");
    j.answer = (yibao_str_t) test_str("{\"infcode\":-1,\"err_msg\":\"\xe9\x94\x99\"}");

    assert_int_equal(yibao_journal_render(&j, &a, &out), YIBAO_OK);
    assert_int_equal(yibao_journal_parse(out.data, out.len, &a, &back),
                     YIBAO_OK);

    assert_int_equal(back.state, YIBAO_JOURNAL_UNKNOWN);
    assert_int_equal(back.sent_ms, 1700000000123ULL);
    assert_true(back.infcode_set);
    assert_int_equal(back.infcode, -1);
    assert_int_equal(back.msgid.len, j.msgid.len);
    assert_memory_equal(back.msgid.data, j.msgid.data, j.msgid.len);
    assert_memory_equal(back.reason.data, "timeout \"x\"", 11);
    assert_int_equal(back.answer.len, j.answer.len);
    assert_memory_equal(back.answer.data, j.answer.data, j.answer.len);
    assert_int_equal(back.setl_id.len, 0);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_journal_render(&j, &a, &out), YIBAO_ERR_NOMEM);

    yibao_test_arena_free(&arena);
}


static void
test_not_a_record(void **state)
{
    size_t               i;
    yibao_alloc_t        a;
    yibao_journal_t      j;
    yibao_test_arena_t   arena;

    static const char  *bad[] = {
        "", "[]", "{\"v\":2,\"state\":\"ok\"}", "{\"v\":1,\"state\":\"odd\"}",
        "{\"v\":1}", "not json"
    };

    (void) state;

    yibao_test_arena_init(&arena, &a);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(yibao_journal_parse((const unsigned char *) bad[i],
                                             strlen(bad[i]), &a, &j),
                         YIBAO_ERR_SYNTAX);
    }

    yibao_test_arena_free(&arena);
}


static void
test_classes(void **state)
{
    (void) state;

    assert_string_equal(yibao_journal_state_name(YIBAO_JOURNAL_OK), "ok");
    assert_int_equal(yibao_journal_state_parse((const unsigned char *)
                                               "unknown", 7),
                     YIBAO_JOURNAL_UNKNOWN);
    assert_int_equal(yibao_journal_state_parse((const unsigned char *) "ok2",
                                               3),
                     YIBAO_JOURNAL_NONE);
}


static void
test_resolver_fields_and_list(void **state)
{
    size_t               n;
    yibao_str_t          out;
    yibao_alloc_t        a;
    yibao_journal_t      j, back, *list;
    yibao_test_arena_t   arena;

    static const char  two[] =
        "[{\"v\":1,\"state\":\"unknown\",\"msgid\":\"A\"},7,"
        "{\"v\":1,\"state\":\"reversed\",\"msgid\":\"B\","
        "\"head\":{\"opter\":\"1\"},\"attempts\":3}]";

    (void) state;

    yibao_test_arena_init(&arena, &a);

    memset(&j, 0, sizeof(yibao_journal_t));
    j.state = YIBAO_JOURNAL_REVERSED;
    j.psn_no = (yibao_str_t) test_str("P123");
    j.head = (yibao_str_t) test_str("{\"opter\":\"001\",\"sign_no\":\"S\"}");
    j.resolved_by = (yibao_str_t) test_str("gateway:2601");
    j.resolved_ms = 1700000000999ULL;
    j.attempts = 2;
    j.retry_ms = 1700000009999ULL;
    j.resolve_error = (yibao_str_t) test_str("HTTP 500");

    assert_int_equal(yibao_journal_render(&j, &a, &out), YIBAO_OK);
    assert_non_null(memmem(out.data, out.len, "\"head\":{\"opter\"", 15));
    assert_int_equal(yibao_journal_parse(out.data, out.len, &a, &back),
                     YIBAO_OK);
    assert_int_equal(back.state, YIBAO_JOURNAL_REVERSED);
    assert_memory_equal(back.psn_no.data, "P123", 4);
    assert_int_equal(back.head.len, j.head.len);
    assert_memory_equal(back.head.data, j.head.data, j.head.len);
    assert_memory_equal(back.resolved_by.data, "gateway:2601", 12);
    assert_int_equal(back.resolved_ms, 1700000000999ULL);
    assert_int_equal(back.attempts, 2);
    assert_int_equal(back.retry_ms, 1700000009999ULL);
    assert_memory_equal(back.resolve_error.data, "HTTP 500", 8);

    /* a record never resolved has none of them */

    memset(&j, 0, sizeof(yibao_journal_t));
    j.state = YIBAO_JOURNAL_OK;
    assert_int_equal(yibao_journal_render(&j, &a, &out), YIBAO_OK);
    assert_null(memmem(out.data, out.len, "resolved_by", 11));
    assert_null(memmem(out.data, out.len, "attempts", 8));

    assert_int_equal(yibao_journal_parse_list((const unsigned char *) two,
                                              sizeof(two) - 1, &a, &list,
                                              &n),
                     YIBAO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].state, YIBAO_JOURNAL_UNKNOWN);
    assert_int_equal(list[1].state, YIBAO_JOURNAL_REVERSED);
    assert_int_equal(list[1].attempts, 3);
    assert_memory_equal(list[1].head.data, "{\"opter\":\"1\"}", 13);

    assert_int_equal(yibao_journal_parse_list((const unsigned char *) "[]", 2,
                                              &a, &list, &n),
                     YIBAO_OK);
    assert_int_equal(n, 0);
    assert_int_equal(yibao_journal_parse_list((const unsigned char *) "{}", 2,
                                              &a, &list, &n),
                     YIBAO_ERR_SYNTAX);

    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_journal_parse_list((const unsigned char *) two,
                                              sizeof(two) - 1, &a, &list,
                                              &n),
                     YIBAO_ERR_NOMEM);

    assert_string_equal(yibao_journal_state_name(YIBAO_JOURNAL_REVERSED),
                        "reversed");
    assert_int_equal(yibao_journal_state_parse((const unsigned char *)
                                               "reversed", 8),
                     YIBAO_JOURNAL_REVERSED);

    yibao_test_arena_free(&arena);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_not_a_record),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_resolver_fields_and_list),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
