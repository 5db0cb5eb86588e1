/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_limit.h"
#include "yibao_test_alloc.h"


static void
test_policy(yibao_limit_policy_t *p, const char *rate, uint64_t burst)
{
    memset(p, 0, sizeof(yibao_limit_policy_t));

    p->name.data = (const unsigned char *) "q1";
    p->name.len = 2;
    p->by = YIBAO_LIMIT_BY_ENTITY;
    p->burst = burst;
    p->nodes = 1;

    assert_int_equal(yibao_limit_parse_rate((const unsigned char *) rate,
                                            strlen(rate), &p->rate,
                                            &p->period_s),
                     YIBAO_OK);

    yibao_limit_policy_init(p, 0);
}


static void
test_parse_rate(void **state)
{
    size_t    i;
    uint64_t  rate, period;

    static const char  *bad[] = {
        "", "r/s", "0r/s", "10", "10r/", "10r/x", "10r/ss", "-1r/s",
        "10 r/s", "99999999999r/s"
    };

    (void) state;

    assert_int_equal(yibao_limit_parse_rate((const unsigned char *) "600r/m",
                                            6, &rate, &period), YIBAO_OK);
    assert_int_equal(rate, 600);
    assert_int_equal(period, 60);

    assert_int_equal(yibao_limit_parse_rate((const unsigned char *) "5r/d",
                                            4, &rate, &period), YIBAO_OK);
    assert_int_equal(period, 86400);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(yibao_limit_parse_rate((const unsigned char *) bad[i],
                                                strlen(bad[i]), &rate,
                                                &period),
                         YIBAO_ERR_INVALID);
    }
}


static void
test_burst_then_steady_rate(void **state)
{
    int                     i;
    uint64_t                tat, now;
    yibao_limit_policy_t    p;
    yibao_limit_decision_t  d;

    (void) state;

    /* 10 per second = one per 100 ms, 4 more in a burst */
    test_policy(&p, "10r/s", 4);
    assert_int_equal(p.interval_ms, 100);

    tat = 0;
    now = 1000000;

    for (i = 0; i < 5; i++) {
        yibao_limit_decide(&p, tat, now, &d);
        assert_true(d.allowed);
        assert_int_equal(d.remaining, (uint64_t) (4 - i));
        tat = d.tat_ms;
    }

    /* the sixth at the same instant is refused, retry in 100 ms */
    yibao_limit_decide(&p, tat, now, &d);
    assert_false(d.allowed);
    assert_int_equal(d.remaining, 0);
    assert_int_equal(d.retry_after_ms, 100);
    assert_int_equal(d.tat_ms, tat);

    /* exactly at the limit: 99 ms later still refused, 100 ms admitted */
    yibao_limit_decide(&p, tat, now + 99, &d);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after_ms, 1);

    yibao_limit_decide(&p, tat, now + 100, &d);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);

    /* after a long pause the whole burst is back */
    yibao_limit_decide(&p, d.tat_ms, now + 100000, &d);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 4);
}


static void
test_clock_backwards(void **state)
{
    yibao_limit_policy_t    p;
    yibao_limit_decision_t  d;

    (void) state;

    test_policy(&p, "1r/s", 0);

    yibao_limit_decide(&p, 0, 50000, &d);
    assert_true(d.allowed);

    /* the clock went back 10 s: no time passed, still refused */
    yibao_limit_decide(&p, d.tat_ms, 40000, &d);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after_ms, 11000);
}


static void
test_local_share(void **state)
{
    yibao_limit_policy_t  p;

    (void) state;

    test_policy(&p, "600r/m", 0);
    p.nodes = 3;

    yibao_limit_policy_init(&p, 0);
    assert_int_equal(p.interval_ms, 100);

    yibao_limit_policy_init(&p, 1);
    assert_int_equal(p.interval_ms, 300);

    /* a share below one request per period still admits one */
    test_policy(&p, "1r/d", 0);
    p.nodes = 5;
    yibao_limit_policy_init(&p, 1);
    assert_int_equal(p.interval_ms, 86400000);
}


static void
test_keys_are_cluster_safe(void **state)
{
    yibao_str_t            *k;
    yibao_alloc_t           a;
    yibao_test_arena_t      arena;
    yibao_limit_policy_t    p;

    static yibao_str_t  caller = yibao_string("his-a");
    static yibao_str_t  clinic = yibao_string("PDY60134132080312D6001");
    static yibao_str_t  entity = yibao_string("H37010200001");

    (void) state;

    yibao_test_arena_init(&arena, &a);
    test_policy(&p, "10r/s", 0);

    p.by = YIBAO_LIMIT_BY_CLINIC;
    k = yibao_limit_key(&p, &caller, &clinic, &entity, &a);
    assert_non_null(k);
    assert_int_equal(k->len, strlen("yibao:{H37010200001}:rl:q1:"
                                    "PDY60134132080312D6001"));
    assert_memory_equal(k->data, "yibao:{H37010200001}:rl:q1:"
                        "PDY60134132080312D6001", k->len);

    p.by = YIBAO_LIMIT_BY_CALLER;
    k = yibao_limit_key(&p, &caller, &clinic, &entity, &a);
    assert_memory_equal(k->data, "yibao:{his-a}:rl:q1:his-a", k->len);

    p.by = YIBAO_LIMIT_BY_ALL;
    k = yibao_limit_key(&p, &caller, &clinic, &entity, &a);
    assert_memory_equal(k->data, "yibao:{H37010200001}:rl:q1:*", k->len);

    yibao_test_arena_fail_at(&arena, 1);
    assert_null(yibao_limit_key(&p, &caller, &clinic, &entity, &a));

    yibao_test_arena_free(&arena);
}


static void
test_headers(void **state)
{
    char                    pol[64], lim[64];
    yibao_limit_policy_t    p;
    yibao_limit_decision_t  d;

    (void) state;

    test_policy(&p, "600r/m", 60);

    yibao_limit_decide(&p, 0, 1000, &d);
    assert_int_equal(yibao_limit_headers(&p, &d, pol, sizeof(pol), lim,
                                         sizeof(lim)),
                     YIBAO_OK);
    assert_string_equal(pol, "\"q1\";q=660;w=60");
    assert_string_equal(lim, "\"q1\";r=60;t=1");

    assert_int_equal(yibao_limit_headers(&p, &d, pol, 8, lim, sizeof(lim)),
                     YIBAO_ERR_TOO_LARGE);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_burst_then_steady_rate),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_local_share),
        cmocka_unit_test(test_keys_are_cluster_safe),
        cmocka_unit_test(test_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
