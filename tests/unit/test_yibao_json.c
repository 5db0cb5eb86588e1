/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_json.h"


/*
 * yibao_json_load() against its oracle, json_loadb(): the same tree
 * (types, values, key order) or the same error (line, column, position,
 * text).  Returns whether the fast way built the tree.
 */

static int
same_as_jansson(const char *text, size_t len, size_t flags)
{
    int            fast;
    char          *a, *b;
    size_t         before;
    json_t        *want, *got;
    json_error_t   want_err, got_err;

    want = json_loadb(text, len, flags, &want_err);

    before = yibao_json_fast_loads();
    got = yibao_json_load(text, len, flags, &got_err);
    fast = yibao_json_fast_loads() != before;

    if (want == NULL) {
        assert_null(got);
        assert_false(fast);
        assert_int_equal(got_err.line, want_err.line);
        assert_int_equal(got_err.column, want_err.column);
        assert_int_equal(got_err.position, want_err.position);
        assert_string_equal(got_err.text, want_err.text);
        return 0;
    }

    assert_non_null(got);
    assert_true(json_equal(want, got));

    /* the text shows the types (1 against 1.0) and the key order */

    a = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
    b = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);

    assert_int_equal(got_err.line, -1);
    assert_string_equal(got_err.source, "<buffer>");

    json_decref(want);
    json_decref(got);

    return fast;
}


#define same(text, flags)  same_as_jansson(text, sizeof(text) - 1, flags)


static void
test_envelope_is_built_the_fast_way(void **state)
{
    static const char  text[] =
        "{\"infno\":\"1101\",\"msgid\":\"H37010200105202401150815300001\","
        "\"opter_name\":\"\xe5\xbc\xa0\xe5\x8c\xbb\xe7\x94\x9f\","
        "\"input\":{\"data\":{\"mdtrt_cert_type\":\"02\",\"age\":67.8,"
        "\"cnt\":2,\"pric\":12.60,\"neg\":-3,\"e\":1E2,\"t\":true,"
        "\"f\":false,\"n\":null,\"list\":[1,\"a\",[],{},[[null]]],"
        "\"esc\":\"\\u00e9\\n\\\"\\\\\\/\\ud83d\\ude00\"}}}";

    (void) state;

    assert_true(same(text, JSON_REJECT_DUPLICATES));
    assert_true(same(text, 0));
    assert_true(same("  [ ]\r\n", 0));
    assert_true(same("{}", JSON_REJECT_DUPLICATES));
}


static void
test_numbers_as_jansson_reads_them(void **state)
{
    (void) state;

    /* integers up to json_int_t, "-0" an integer, reals correctly
     * rounded, an underflow 0.0 */

    assert_true(same("[-0, 0, 9223372036854775807, -9223372036854775808]",
                     0));
    assert_true(same("[-0.0, 0.1, 1.7976931348623157e308, 5e-324, 1e-400,"
                     " 2.2250738585072011e-308, 0.1e1, 1E+2, 1e-2]", 0));

    /* beyond json_int_t (simdjson takes it), and beyond 64 bits:
     * jansson's "too big integer"; an overflowing real */

    assert_false(same("[9223372036854775808]", 0));
    assert_false(same("[18446744073709551616]", 0));
    assert_false(same("[-9223372036854775809]", 0));
    assert_false(same("[1e400]", 0));
}


static void
test_what_jansson_refuses_it_refuses(void **state)
{
    (void) state;

    /* NUL in a string or a key, unless JSON_ALLOW_NUL */

    assert_false(same("[\"a\\u0000b\"]", 0));
    assert_false(same("{\"a\\u0000\":1}", 0));
    assert_true(same("[\"a\\u0000b\"]", JSON_ALLOW_NUL));
    assert_false(same("{\"a\\u0000\":1}", JSON_ALLOW_NUL));

    /* duplicate keys: refused with the flag, the last one kept
     * without it (in the first one's place) */

    assert_false(same("{\"a\":1,\"b\":2,\"a\":3}", JSON_REJECT_DUPLICATES));
    assert_false(same("{\"x\":{\"a\":1,\"a\":1}}", JSON_REJECT_DUPLICATES));
    assert_true(same("{\"a\":1,\"b\":2,\"a\":3}", 0));

    /* a scalar at the top only with JSON_DECODE_ANY */

    assert_false(same("\"s\"", 0));
    assert_false(same("1", 0));
    assert_true(same("\"s\"", JSON_DECODE_ANY));
    assert_true(same("null", JSON_DECODE_ANY));

    /* broken text: the error is jansson's, with its position */

    assert_false(same("", 0));
    assert_false(same("   ", 0));
    assert_false(same("{\"a\":1,}", 0));
    assert_false(same("[1] x", 0));
    assert_false(same("{\"a\" 1}", 0));
    assert_false(same("[\"\\ud800\"]", 0));
    assert_false(same("[\"\xff\"]", 0));
    assert_false(same("[\"\xc3\"]", 0));
    assert_false(same("[\"a\tb\"]", 0));
    assert_false(same("[01]", 0));
    assert_false(same("[1.]", 0));
    assert_false(same("[+1]", 0));
    assert_false(same("[.5]", 0));
    assert_false(same("[NaN]", 0));
    assert_false(same("[tru]", 0));
    assert_false(same("[1]\0", 0));
    assert_false(same("{\"a\":1", 0));

    /* a flag the fast way does not know: json_loadb() decides */

    assert_false(same("[1]", JSON_DECODE_INT_AS_REAL));
    assert_false(same("[1] x", JSON_DISABLE_EOF_CHECK));
}


static void
test_deep_and_large_documents(void **state)
{
    size_t   i, n;
    char    *text;

    (void) state;

    /* 1,500 levels: deeper than simdjson's 1024, within jansson's
     * 2048, so jansson builds it; 2,100 levels: refused by both */

    text = malloc(2 * 2100 + 1);
    assert_non_null(text);

    for (n = 1500; n <= 2100; n += 600) {
        for (i = 0; i < n; i++) {
            text[i] = '[';
            text[2 * n - 1 - i] = ']';
        }

        assert_false(same_as_jansson(text, 2 * n, 0));
    }

    free(text);

    /* up to YIBAO_JSON_FAST_MAX bytes the fast way, over it jansson */

    n = YIBAO_JSON_FAST_MAX + 1;
    text = malloc(n);
    assert_non_null(text);

    memset(text, ' ', n);
    memcpy(text, "[1]", 3);

    assert_true(same_as_jansson(text, YIBAO_JSON_FAST_MAX, 0));
    assert_false(same_as_jansson(text, n, 0));

    free(text);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_envelope_is_built_the_fast_way),
        cmocka_unit_test(test_numbers_as_jansson_reads_them),
        cmocka_unit_test(test_what_jansson_refuses_it_refuses),
        cmocka_unit_test(test_deep_and_large_documents),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
