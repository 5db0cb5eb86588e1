/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_forget.h"


static int
test_parse(const char *text, yibao_forget_marker_t *m)
{
    return yibao_forget_marker_parse((const unsigned char *) text,
                                     strlen(text), m);
}


static void
test_marker(void **state)
{
    char                   id[YIBAO_FORGET_ID_LEN + 1];
    yibao_forget_marker_t  m;

    (void) state;

    assert_int_equal(test_parse("0123456789abcdef 0", &m), YIBAO_OK);
    assert_string_equal(m.id, "0123456789abcdef");
    assert_int_equal(m.lost_ms, 0);

    assert_int_equal(test_parse("ab 1700000000123", &m), YIBAO_OK);
    assert_string_equal(m.id, "ab");
    assert_int_equal(m.lost_ms, 1700000000123ULL);

    /* what an operator may have typed, or anything else: not a marker */

    assert_int_equal(test_parse("", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("ab", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("ab ", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse(" 5", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("xyz 5", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("ab 5 ", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("ab -5", &m), YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("ab 99999999999999999999", &m),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(test_parse("0123456789abcdef0123456789abcdef01234567 1",
                                &m), YIBAO_OK);
    assert_int_equal(test_parse("0123456789abcdef0123456789abcdef012345678 1",
                                &m), YIBAO_ERR_SYNTAX);

    yibao_forget_marker_id(0x00ff00ff12345678ULL, id);
    assert_string_equal(id, "00ff00ff12345678");
    yibao_forget_marker_id(1, id);
    assert_string_equal(id, "0000000000000001");
}


static void
test_window(void **state)
{
    yibao_forget_marker_t  m;

    (void) state;

    memset(&m, 0, sizeof(m));

    /* no loss: no window */
    assert_int_equal(yibao_forget_until(&m, 1000, 5000), 0);

    /* the records it held expire within ttl of the loss */
    m.lost_ms = 5000;
    assert_int_equal(yibao_forget_until(&m, 1000, 5000), 6000);
    assert_int_equal(yibao_forget_until(&m, 1000, 5999), 6000);
    assert_int_equal(yibao_forget_until(&m, 1000, 6000), 0);
    assert_int_equal(yibao_forget_until(&m, 1000, 9000), 0);

    /* a loss time beyond the clock's range does not wrap */
    m.lost_ms = UINT64_MAX - 10;
    assert_int_equal(yibao_forget_until(&m, 1000, 5000), 0);
}


static void
test_info(void **state)
{
    static const char  info[] =
        "# Server\r\nredis_version:7.0.15\r\nrun_id:"
        "8d6a0f2e1c9b4a3d7e5f60718293a4b5c6d7e8f9\r\nuptime_in_seconds:3\r\n"
        "\r\n# Persistence\r\nloading:0\r\naof_enabled:1\r\n"
        "aof_rewrite_in_progress:0\r\n";

    yibao_forget_store_t  s;

    (void) state;

    yibao_forget_store_init(&s);
    assert_string_equal(s.run_id, "");
    assert_int_equal(yibao_forget_durable(&s), -1);
    assert_int_equal(yibao_forget_restart_loses(&s), 1);

    yibao_forget_info(&s, (const unsigned char *) info, sizeof(info) - 1);
    assert_string_equal(s.run_id, "8d6a0f2e1c9b4a3d7e5f60718293a4b5c6d7e8f9");
    assert_int_equal(s.aof, 1);
    assert_int_equal(yibao_forget_durable(&s), 1);

    /* a run_id that is not one, a line without ':' or without its end */

    yibao_forget_store_init(&s);
    yibao_forget_info(&s, (const unsigned char *) "run_id:zz\nnothing\n"
                      "aof_enabled:0", 31);
    assert_string_equal(s.run_id, "");
    assert_int_equal(s.aof, 0);
}


static void
test_config(void **state)
{
    char                  buf[160];
    yibao_forget_store_t  s;

#define set(n, v)                                                            \
    yibao_forget_config(&s, (const unsigned char *) n, strlen(n),            \
                        (const unsigned char *) v, strlen(v))

    (void) state;

    /* as make run starts it: an AOF written every second */

    yibao_forget_store_init(&s);
    set("appendonly", "yes");
    set("appendfsync", "everysec");
    set("save", "");
    set("maxmemory-policy", "noeviction");
    assert_int_equal(yibao_forget_durable(&s), 1);
    assert_int_equal(yibao_forget_restart_loses(&s), 1);
    assert_int_equal(yibao_forget_evicts(&s), 0);
    yibao_forget_describe(&s, buf, sizeof(buf));
    assert_string_equal(buf, "appendonly yes (appendfsync everysec), RDB "
                        "snapshots off, maxmemory-policy noeviction");

    /* every write on disk before the answer: a restart loses nothing */

    set("appendfsync", "always");
    assert_int_equal(yibao_forget_restart_loses(&s), 0);

    /* nothing kept */

    yibao_forget_store_init(&s);
    set("appendonly", "no");
    set("save", "");
    assert_int_equal(yibao_forget_durable(&s), 0);
    assert_int_equal(yibao_forget_restart_loses(&s), 1);
    yibao_forget_describe(&s, buf, sizeof(buf));
    assert_string_equal(buf, "appendonly no, RDB snapshots off, "
                        "maxmemory-policy unknown");

    /* RDB snapshots only; an evicting policy */

    set("save", "3600 1 300 100 60 10000");
    set("maxmemory-policy", "volatile-lru");
    assert_int_equal(yibao_forget_durable(&s), 1);
    assert_int_equal(yibao_forget_restart_loses(&s), 1);
    assert_int_equal(yibao_forget_evicts(&s), 1);
    set("maxmemory-policy", "allkeys-random");
    assert_int_equal(yibao_forget_evicts(&s), 1);

    /* cut to the buffer */

    yibao_forget_describe(&s, buf, 12);
    assert_string_equal(buf, "appendonly ");

#undef set
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_marker),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
