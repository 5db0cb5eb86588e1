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

#include "yibao_decimal.h"


#define U(s)          ((const unsigned char *) (s))


static void
test_is_number(void **state)
{
    int     real;
    size_t  i;

    static const struct {
        const char  *text;
        int          number;
        int          real;
    } cases[] = {
        { "12", 1, 0 },
        { "-3", 1, 0 },
        { "007", 1, 0 },
        { "12.60", 1, 1 },
        { "-1.5e1", 1, 1 },
        { "1E+3", 1, 1 },
        { "1e-3", 1, 1 },
        { "", 0, 0 },
        { "-", 0, 0 },
        { "1.", 0, 0 },
        { ".5", 0, 0 },
        { "+1", 0, 0 },
        { "1e", 0, 0 },
        { "1e+", 0, 0 },
        { "1.5.2", 0, 0 },
        { " 1", 0, 0 },
        { "1 ", 0, 0 },
        { "0x10", 0, 0 },
        { "abc", 0, 0 }
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        real = -1;

        if (yibao_decimal_is_number(U(cases[i].text), strlen(cases[i].text),
                                    &real)
            != cases[i].number)
        {
            fprintf(stderr, "case \"%s\"\n", cases[i].text);
        }

        assert_int_equal(yibao_decimal_is_number(U(cases[i].text),
                                                 strlen(cases[i].text),
                                                 &real),
                         cases[i].number);

        if (cases[i].number) {
            assert_int_equal(real, cases[i].real);
        }
    }

    /* the length counts, not a NUL */

    assert_true(yibao_decimal_is_number(U("12x"), 2, &real));
    assert_false(yibao_decimal_is_number(U("12x"), 3, &real));
}


static void
test_double(void **state)
{
    yibao_decimal_t  dec;

    (void) state;

    /* the shortest decimal that reads back: as the caller wrote it */

    yibao_decimal_double(&dec, 12.6);
    assert_true(dec.exact);
    assert_int_equal(dec.m, 126);
    assert_int_equal(dec.scale, 1);

    yibao_decimal_double(&dec, -25.2);
    assert_true(dec.exact);
    assert_int_equal(dec.m, -252);
    assert_int_equal(dec.scale, 1);

    yibao_decimal_double(&dec, 3.333333);
    assert_true(dec.exact);
    assert_int_equal(dec.m, 3333333);
    assert_int_equal(dec.scale, 6);

    yibao_decimal_double(&dec, 0.123456789);
    assert_true(dec.exact);
    assert_int_equal(dec.m, 123456789);
    assert_int_equal(dec.scale, 9);

    yibao_decimal_double(&dec, 1000.0);
    assert_true(dec.exact);
    assert_int_equal(dec.m, 1000);
    assert_int_equal(dec.scale, 0);

    yibao_decimal_double(&dec, 123456789.12);
    assert_true(dec.exact);
    assert_int_equal(dec.m, 12345678912LL);
    assert_int_equal(dec.scale, 2);

    /* more than 9 places, or beyond 2^53: only the double */

    yibao_decimal_double(&dec, 0.1234567891);
    assert_false(dec.exact);

    yibao_decimal_double(&dec, 0.1 + 0.2);
    assert_false(dec.exact);
    assert_true(dec.d == (long double) (0.1 + 0.2));

    yibao_decimal_double(&dec, 1e300);
    assert_false(dec.exact);

    yibao_decimal_int(&dec, -7);
    assert_true(dec.exact);
    assert_int_equal(dec.m, -7);
    assert_int_equal(dec.scale, 0);
    assert_true(dec.d == -7.0L);
}


static void
test_text(void **state)
{
    size_t           i;
    yibao_decimal_t  dec;

    static const struct {
        const char  *text;
        int64_t      m;
        int          scale;
        int          exact;
    } cases[] = {
        { "12.60", 1260, 2, 1 },
        { "-0.5", -5, 1, 1 },
        { "1e3", 1000, 0, 1 },
        { "1.5e-3", 15, 4, 1 },
        { "-1.5e1", -15, 0, 1 },
        { "0000000000000000000001", 1, 0, 1 },
        { "123456789012345678", 123456789012345678LL, 0, 1 },
        { "1234567890123456789", 0, 0, 0 },
        { "1e999", 0, 0, 0 },
        { "1e-20", 0, 0, 0 },
        { "9e18", 9000000000000000000LL, 0, 1 },
        { "1e19", 0, 0, 0 }
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(yibao_decimal_text(&dec, cases[i].text,
                                            strlen(cases[i].text)),
                         YIBAO_OK);

        if (dec.exact != (unsigned) cases[i].exact) {
            fprintf(stderr, "case \"%s\"\n", cases[i].text);
        }

        assert_int_equal(dec.exact, cases[i].exact);

        if (cases[i].exact) {
            assert_int_equal(dec.m, cases[i].m);
            assert_int_equal(dec.scale, cases[i].scale);
        }
    }

    yibao_decimal_text(&dec, "12.60", 5);
    assert_true(dec.d == 12.6L);

    assert_int_equal(yibao_decimal_text(&dec, "1.", 2), YIBAO_ERR_INVALID);
    assert_int_equal(yibao_decimal_text(&dec, "", 0), YIBAO_ERR_INVALID);
    assert_int_equal(yibao_decimal_text(&dec, "x1", 2), YIBAO_ERR_INVALID);
}


static void
test_within_cent(void **state)
{
    size_t           i;
    yibao_decimal_t  sum, a, b;

    static const struct {
        const char  *sum;
        const char  *a;
        const char  *b;
        int          within;
    } cases[] = {
        { "25.20", "2", "12.60", 1 },
        { "25.21", "2", "12.60", 0 },      /* exactly 0.01 off */
        { "25.19", "2", "12.60", 0 },
        { "25.2099", "2", "12.60", 1 },
        { "10", "3", "3.333333", 1 },
        { "10.00", "3", "3.33", 0 },
        { "-25.20", "-2", "12.60", 1 },
        { "0", "0", "5", 1 },
        { "0", "1", "5", 0 },
        { "1000", "1000", "1", 1 },
        { "3", "1.0001", "3", 1 },
        { "3.0003", "1.0001", "3", 1 },
        { "0.01", "1", "0.005", 1 },

        /* inexact: 19 digits, or a product beyond int64_t */
        { "1234567890123456789", "1234567890123456789", "1", 1 },
        { "1234567890123456789", "1234567890123456788", "1", 0 },
        { "16000000000000000000", "4000000000", "4000000000", 1 },
        { "16000000000000000001", "4000000000", "4000000000", 0 }
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(yibao_decimal_text(&sum, cases[i].sum,
                                            strlen(cases[i].sum)),
                         YIBAO_OK);
        assert_int_equal(yibao_decimal_text(&a, cases[i].a,
                                            strlen(cases[i].a)),
                         YIBAO_OK);
        assert_int_equal(yibao_decimal_text(&b, cases[i].b,
                                            strlen(cases[i].b)),
                         YIBAO_OK);

        if (yibao_decimal_within_cent(&sum, &a, &b) != cases[i].within) {
            fprintf(stderr, "case %s, %s x %s\n", cases[i].sum, cases[i].a,
                    cases[i].b);
        }

        assert_int_equal(yibao_decimal_within_cent(&sum, &a, &b),
                         cases[i].within);
    }

    /* from doubles: 12.6 is 12.60, not 12.5999999999999996447... */

    yibao_decimal_double(&sum, 25.21);
    yibao_decimal_int(&a, 2);
    yibao_decimal_double(&b, 12.6);
    assert_false(yibao_decimal_within_cent(&sum, &a, &b));

    yibao_decimal_double(&sum, 25.2);
    assert_true(yibao_decimal_within_cent(&sum, &a, &b));
}


static void
test_shortest(void **state)
{
    char    buf[64];
    size_t  i, n;

    static const struct {
        double       d;
        const char  *text;
    } cases[] = {
        { 25.2, "25.2" },
        { 12.6, "12.6" },
        { 10.0, "10" },
        { 123456789.12, "123456789.12" },
        { 0.1 + 0.2, "0.30000000000000004" },
        { 1e21, "1e+21" },
        { -3.5, "-3.5" },
        { -0.0, "-0" }
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = yibao_decimal_shortest(cases[i].d, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(n, strlen(cases[i].text));
    }
}


/* what yibao_decimal_shortest() writes is what printf writes */

static size_t
test_printf_shortest(double d, char *buf, size_t size)
{
    int  prec, n;

    n = 0;

    for (prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, d);

        if (strtod(buf, NULL) == d) {
            break;
        }
    }

    return (size_t) n;
}


static uint64_t
test_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;

    return *x;
}


static void
test_shortest_printf(void **state)
{
    int       k;
    char      text[64], buf[64], ref[64], small[8];
    double    d;
    size_t    i, n, r;
    uint64_t  x, m;

    static const double  edges[] = {
        0.0001, 0.00009999, 0.0001234, 0.00012345678901234, 1e-5, 1e-4,
        999999999999999.0, 99999999999999.9, 1e15, 1e14, 123456789012345.0,
        1234567890123456.0, 9007199254740991.0, 9007199254740993.0,
        0.1, 0.2, 0.3, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 100.0, 1e10, 5e-324,
        1.7976931348623157e308, 2.2250738585072014e-308, 123.456e-7,
        10.10, 25.2, 0.005, 12345.678900, 1.5, 1e-4 * 3
    };

    (void) state;

    x = 88172645463325252ULL;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]) * 2 + 300000; i++) {

        if (i < sizeof(edges) / sizeof(edges[0]) * 2) {
            d = edges[i / 2] * (i % 2 ? -1 : 1);

        } else if (i % 3 == 0) {

            /* a decimal of up to 17 digits and 0..12 places, as sent */

            m = test_random(&x) % 100000000000000000ULL;
            m >>= test_random(&x) % 57;
            k = (int) (test_random(&x) % 13);
            snprintf(text, sizeof(text), "%s%llue-%d",
                     test_random(&x) % 4 ? "" : "-",
                     (unsigned long long) m, k);
            d = strtod(text, NULL);

        } else if (i % 3 == 1) {

            /* cents, as amounts are */

            snprintf(text, sizeof(text), "%llu.%02llu",
                     (unsigned long long) (test_random(&x) % 100000000),
                     (unsigned long long) (test_random(&x) % 100));
            d = strtod(text, NULL);

        } else {

            /* any bits that are a finite number */

            m = test_random(&x);
            memcpy(&d, &m, sizeof(d));

            if (d - d != 0) {
                continue;
            }
        }

        n = yibao_decimal_shortest(d, buf, sizeof(buf));
        r = test_printf_shortest(d, ref, sizeof(ref));

        if (n != r || strcmp(buf, ref) != 0) {
            fprintf(stderr, "%.17g: \"%s\", printf \"%s\"\n", d, buf, ref);
        }

        assert_int_equal(n, r);
        assert_string_equal(buf, ref);

        /* a buffer too small: cut as snprintf cuts */

        n = yibao_decimal_shortest(d, small, sizeof(small));
        r = test_printf_shortest(d, ref, sizeof(small));
        assert_int_equal(n, r);
        assert_string_equal(small, ref);
    }
}


/* what yibao_decimal_g17() writes is what "%.17g" writes */

static void
test_g17_printf(void **state)
{
    int       n, r, e;
    char      text[64], buf[64], ref[64], small[8];
    double    d;
    size_t    i;
    uint64_t  x, m;

    static const double  edges[] = {
        0.0001, 0.00009999999999999999, 0.00010000000000000001, 1e-5,
        0.001, 0.01, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 0.5, 1.0,
        9.999999999999999, 10.0, 99999999999999999.0, 1e16, 1e17,
        9.9999999999999998e16, 12345678901234567.0, 9007199254740993.0,
        1234567890123456.25, 1234567890123456.75, 2251799813685247.75,
        123456789012345.125, 123456789012345.375, 25.2, 12.6, 3.25,
        5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21
    };

    (void) state;

    x = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]) * 2 + 400000; i++) {

        if (i < sizeof(edges) / sizeof(edges[0]) * 2) {
            d = edges[i / 2] * (i % 2 ? -1 : 1);

        } else if (i % 4 == 0) {

            /* any bits of a double from about 2^-20 to 2^60 */

            m = test_random(&x);
            e = 1003 + (int) (test_random(&x) % 80);
            m = (m & ((1ULL << 52) - 1)) | ((uint64_t) e << 52)
                | (test_random(&x) % 2 ? 1ULL << 63 : 0);
            memcpy(&d, &m, sizeof(d));

        } else if (i % 4 == 1) {

            /* ties at the 17th digit: 16 digits and a quarter, 15 and
             * an eighth, exact in a double */

            if (test_random(&x) % 2) {
                m = 1000000000000000ULL
                    + test_random(&x) % 1251799813685248ULL;
                d = (double) m + (double) (test_random(&x) % 4) / 4;

            } else {
                m = 100000000000000ULL
                    + test_random(&x) % 1000000000000000ULL;
                d = (double) m + (double) (test_random(&x) % 8) / 8;
            }

        } else if (i % 4 == 2) {

            /* cents, as amounts are */

            snprintf(text, sizeof(text), "%llu.%02llu",
                     (unsigned long long) (test_random(&x) % 100000000),
                     (unsigned long long) (test_random(&x) % 100));
            d = strtod(text, NULL);

        } else {

            /* a decimal of up to 17 digits and 0..22 places */

            m = test_random(&x) % 100000000000000000ULL;
            m >>= test_random(&x) % 57;
            snprintf(text, sizeof(text), "%llue-%d", (unsigned long long) m,
                     (int) (test_random(&x) % 23));
            d = strtod(text, NULL);
        }

        n = yibao_decimal_g17(d, buf, sizeof(buf));
        r = snprintf(ref, sizeof(ref), "%.17g", d);

        if (n != r || strcmp(buf, ref) != 0) {
            fprintf(stderr, "%a: \"%s\", printf \"%s\"\n", d, buf, ref);
        }

        assert_int_equal(n, r);
        assert_string_equal(buf, ref);

        /* too small: -1 */

        n = yibao_decimal_g17(d, small, sizeof(small));

        if ((size_t) r >= sizeof(small)) {
            assert_int_equal(n, -1);

        } else {
            assert_int_equal(n, r);
            assert_string_equal(small, ref);
        }
    }
}


static void
test_int_text(void **state)
{
    char      buf[24], ref[24];
    size_t    i, n;
    int64_t   v;
    uint64_t  x;

    static const int64_t  edges[] = {
        0, 1, -1, 9, 10, -10, 99, 100, INT64_MAX, INT64_MIN, INT64_MIN + 1,
        1000000000000000000LL, -999999999999999999LL
    };

    (void) state;

    x = 0x2545f4914f6cdd1dULL;

    for (i = 0; i < sizeof(edges) / sizeof(edges[0]) + 100000; i++) {
        if (i < sizeof(edges) / sizeof(edges[0])) {
            v = edges[i];

        } else {
            v = (int64_t) (test_random(&x) >> (test_random(&x) % 64));

            if (test_random(&x) % 2) {
                v = -v;
            }
        }

        n = yibao_decimal_int_text(v, buf);
        snprintf(ref, sizeof(ref), "%lld", (long long) v);
        assert_int_equal(n, strlen(ref));
        assert_memory_equal(buf, ref, n);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_is_number),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_within_cent),
        cmocka_unit_test(test_shortest),
        cmocka_unit_test(test_shortest_printf),
        cmocka_unit_test(test_g17_printf),
        cmocka_unit_test(test_int_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
