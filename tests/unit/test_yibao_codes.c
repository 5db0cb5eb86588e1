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
#include <jansson.h>

#include "yibao_codes.h"


typedef int (*test_check_pt)(const unsigned char *p, size_t len);


typedef struct {
    const char           *s;
    size_t                len;      /* 0: strlen(s) */
    int                   expect;
} test_case_t;


#define TEST_NCASES(a)  (sizeof(a) / sizeof((a)[0]))


/*
 * Runs check over the cases.  Each input is copied into a malloc()ed
 * block of exactly its length, so ASan catches a read past len.
 */

static void
test_cases(const char *name, test_check_pt check, const test_case_t *cases,
    size_t n)
{
    int             got;
    size_t          i, len;
    unsigned char  *p;

    for (i = 0; i < n; i++) {
        len = cases[i].len ? cases[i].len : strlen(cases[i].s);

        p = malloc(len ? len : 1);
        assert_non_null(p);
        memcpy(p, cases[i].s, len);

        got = check(p, len);
        free(p);

        if (got != cases[i].expect) {
            fail_msg("%s(\"%s\") = %d, expected %d", name, cases[i].s, got,
                     cases[i].expect);
        }
    }
}


static void
test_admdvs(void **state)
{
    static const test_case_t  cases[] = {
        { "370102", 0, 1 },
        { "330000", 0, 1 },
        { "000000", 0, 1 },
        { "37010", 0, 0 },
        { "3701020", 0, 0 },
        { "37010a", 0, 0 },
        { " 37010", 0, 0 },
        { "", 0, 0 },
        { "37\0" "102", 6, 0 },
    };

    (void) state;

    test_cases("admdvs", yibao_code_is_admdvs, cases, TEST_NCASES(cases));
}


static void
test_fixmedins(void **state)
{
    static const test_case_t  cases[] = {
        { "H33018300564", 0, 1 },
        { "P37010200001", 0, 1 },
        { "h33018300564", 0, 0 },
        { "D33018300564", 0, 0 },
        { "H3301830056", 0, 0 },
        { "H330183005640", 0, 0 },
        { "H3301830056X", 0, 0 },
        { "33018300564H", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("fixmedins", yibao_code_is_fixmedins, cases,
               TEST_NCASES(cases));
}


static void
test_org(void **state)
{
    static const test_case_t  cases[] = {
        { "PDY60134132080312D6001", 0, 1 },
        { "0000000000000000000000", 0, 1 },
        { "ZZZZZZZZZZZZZZZZZZZZZZ", 0, 1 },
        { "PDY60134132080312D600", 0, 0 },
        { "PDY60134132080312D60012", 0, 0 },
        { "pDY60134132080312D6001", 0, 0 },
        { "PDY60134132080312D600-", 0, 0 },
        { "PDY6013413208031 2D600", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("org", yibao_code_is_org, cases, TEST_NCASES(cases));
}


static void
test_infno(void **state)
{
    static const test_case_t  cases[] = {
        { "1101", 0, 1 },
        { "2203A", 0, 1 },
        { "0000Z", 0, 1 },
        { "2203a", 0, 0 },
        { "220", 0, 0 },
        { "22033", 0, 0 },
        { "2203AB", 0, 0 },
        { "A203", 0, 0 },
        { "22 3", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("infno", yibao_code_is_infno, cases, TEST_NCASES(cases));
}


static void
test_datetime(void **state)
{
    static const test_case_t  cases[] = {
        { "2024-02-29 12:00:00", 0, 1 },
        { "2000-02-29 00:00:00", 0, 1 },
        { "2023-12-31 23:59:59", 0, 1 },
        { "2023-01-01 00:00:00", 0, 1 },
        { "2023-04-30 10:20:30", 0, 1 },
        { "0001-01-01 00:00:00", 0, 1 },
        { "2023-02-29 12:00:00", 0, 0 },
        { "1900-02-29 12:00:00", 0, 0 },
        { "2024-02-30 12:00:00", 0, 0 },
        { "2023-04-31 12:00:00", 0, 0 },
        { "2023-13-01 12:00:00", 0, 0 },
        { "2023-00-01 12:00:00", 0, 0 },
        { "2023-01-00 12:00:00", 0, 0 },
        { "2023-01-32 12:00:00", 0, 0 },
        { "2023-01-01 24:00:00", 0, 0 },
        { "2023-01-01 23:60:00", 0, 0 },
        { "2023-01-01 23:59:60", 0, 0 },
        { "0000-01-01 00:00:00", 0, 0 },
        { "2023-01-01T12:00:00", 0, 0 },
        { "2023/01/01 12:00:00", 0, 0 },
        { "2023-01-01 12.00.00", 0, 0 },
        { "2023-1-01 12:00:00", 0, 0 },
        { "2023-01-01 12:00:0", 0, 0 },
        { "2023-01-01 12:00:000", 0, 0 },
        { "2023-01-01 12:0a:00", 0, 0 },
        { "2023-01-01 -1:00:00", 0, 0 },
        { "2023-01-01", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("datetime", yibao_code_is_datetime, cases,
               TEST_NCASES(cases));
}


static void
test_compact_time(void **state)
{
    static const test_case_t  cases[] = {
        { "20240229120000", 0, 1 },
        { "20220121121847", 0, 1 },
        { "20231231235959", 0, 1 },
        { "20230229120000", 0, 0 },
        { "21000229120000", 0, 0 },
        { "20240230120000", 0, 0 },
        { "20231301120000", 0, 0 },
        { "20230100120000", 0, 0 },
        { "20230101240000", 0, 0 },
        { "20230101236000", 0, 0 },
        { "20230101235960", 0, 0 },
        { "2023010123595", 0, 0 },
        { "202301012359590", 0, 0 },
        { "2023010123595a", 0, 0 },
        { "2023-01-01 23:", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("compact_time", yibao_code_is_compact_time, cases,
               TEST_NCASES(cases));
}


static void
test_msgid(void **state)
{
    static const test_case_t  cases[] = {
        { "H33018300564202201211218479999", 0, 1 },
        { "P37010200001202402291200000001", 0, 1 },
        { "H3301830056420220121121847999", 0, 0 },
        { "H330183005642022012112184799990", 0, 0 },
        { "X33018300564202201211218479999", 0, 0 },
        { "H33018300564202302291200000001", 0, 0 },
        { "H33018300564202201211260479999", 0, 0 },
        { "H3301830056420220121121847999A", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("msgid", yibao_code_is_msgid, cases, TEST_NCASES(cases));
}


static int
test_alnum10(const unsigned char *p, size_t len)
{
    return yibao_code_is_alnum(p, len, 10);
}


static void
test_alnum(void **state)
{
    static const test_case_t  cases[] = {
        { "FSI_LOCAL", 0, 0 },
        { "FSILOCAL", 0, 1 },
        { "a", 0, 1 },
        { "Z9", 0, 1 },
        { "0123456789", 0, 1 },
        { "01234567890", 0, 0 },
        { "sys 01", 0, 0 },
        { "sys-01", 0, 0 },
        { "", 0, 0 },
    };

    (void) state;

    test_cases("alnum10", test_alnum10, cases, TEST_NCASES(cases));

    assert_int_equal(yibao_code_is_alnum((const unsigned char *) "ab", 2, 1),
                     0);
    assert_int_equal(yibao_code_is_alnum((const unsigned char *) "a", 1, 1),
                     1);
    assert_int_equal(yibao_code_is_alnum((const unsigned char *) "a", 1, 0),
                     0);
}


static void
test_utf8(void **state)
{
    static const test_case_t  cases[] = {
        { "plain ascii", 0, 1 },
        { "\xe6\x9f\x90\xe6\x9d\x91\xe5\x8d\xab\xe7\x94\x9f\xe5\xae\xa4",
          0, 1 },                                 /* 某村卫生室 */
        { "\xc2\x80", 0, 1 },                     /* U+0080 */
        { "\xdf\xbf", 0, 1 },                     /* U+07FF */
        { "\xe0\xa0\x80", 0, 1 },                 /* U+0800 */
        { "\xed\x9f\xbf", 0, 1 },                 /* U+D7FF */
        { "\xee\x80\x80", 0, 1 },                 /* U+E000 */
        { "\xef\xbf\xbf", 0, 1 },                 /* U+FFFF */
        { "\xf0\x90\x80\x80", 0, 1 },             /* U+10000 */
        { "\xf4\x8f\xbf\xbf", 0, 1 },             /* U+10FFFF */
        { "\xf0\x9f\x98\x80", 0, 1 },             /* U+1F600 */
        { "", 0, 1 },
        { "a\0b", 3, 0 },                         /* NUL */
        { "\0", 1, 0 },
        { "\xc0\xaf", 0, 0 },                     /* overlong '/' */
        { "\xc1\xbf", 0, 0 },                     /* overlong */
        { "\xe0\x80\xaf", 0, 0 },                 /* overlong '/' */
        { "\xe0\x9f\xbf", 0, 0 },                 /* overlong U+07FF */
        { "\xf0\x80\x80\xaf", 0, 0 },             /* overlong '/' */
        { "\xf0\x8f\xbf\xbf", 0, 0 },             /* overlong U+FFFF */
        { "\xed\xa0\x80", 0, 0 },                 /* U+D800 */
        { "\xed\xad\xbf", 0, 0 },                 /* U+DB7F */
        { "\xed\xbf\xbf", 0, 0 },                 /* U+DFFF */
        { "\xf4\x90\x80\x80", 0, 0 },             /* U+110000 */
        { "\xf5\x80\x80\x80", 0, 0 },
        { "\xf8\x88\x80\x80\x80", 0, 0 },         /* 5-byte form */
        { "\xff", 0, 0 },
        { "\xfe", 0, 0 },
        { "\x80", 0, 0 },                         /* lone continuation */
        { "a\xbf", 0, 0 },
        { "\xe6\x9f", 0, 0 },                     /* truncated */
        { "\xe6", 0, 0 },
        { "\xf0\x9f\x98", 0, 0 },
        { "\xc2", 0, 0 },
        { "\xe6\x9fX", 0, 0 },                    /* bad continuation */
        { "\xc2\xc2\x80", 0, 0 },
    };

    (void) state;

    test_cases("utf8", yibao_code_is_utf8, cases, TEST_NCASES(cases));
}


/*
 * The check reads 8 bytes of ASCII at once: every sequence at every
 * place of a word, between ASCII of every length, and random bytes, give
 * what jansson's own check gives (which takes NUL, the code's refuses).
 */

static int
test_utf8_jansson(const unsigned char *p, size_t len)
{
    json_t  *v;

    if (memchr(p, '\0', len) != NULL) {
        return 0;
    }

    v = json_stringn((const char *) p, len);
    json_decref(v);

    return v != NULL;
}


static void
test_utf8_words(void **state)
{
    size_t          i, j, k, n;
    uint64_t        x;
    unsigned char   s[64];

    static const char  *seqs[] = {
        "\xe5\xbc\xa0", "\xf0\x9f\x98\x80", "\xc2\x80", "\xc0\xaf",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe6\x9f", "\xff",
        "\x7f", "\x01", "", "\xe6\x9fX"
    };

    (void) state;

    for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        for (j = 0; j < 17; j++) {
            for (k = 0; k < 17; k++) {
                memset(s, 'a', sizeof(s));
                n = strlen(seqs[i]);
                memcpy(s + j, seqs[i], n);
                n += j + k;

                assert_int_equal(yibao_code_is_utf8(s, n),
                                 test_utf8_jansson(s, n));

                s[n] = '\0';
                assert_int_equal(yibao_code_is_utf8(s, n + 1), 0);
            }
        }
    }

    x = 0x2545f4914f6cdd1dULL;

    for (i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n = (size_t) (x % 40);

        for (j = 0; j < n; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s[j] = (x % 8) ? (unsigned char) (0x20 + x % 0x5f)
                           : (unsigned char) (x >> 16);
        }

        assert_int_equal(yibao_code_is_utf8(s, n), test_utf8_jansson(s, n));
    }
}


/* Every Feb 29 from 1600 to 2400 against the Gregorian rule. */

static void
test_leap_years(void **state)
{
    int   y, leap;
    char  s[64];

    (void) state;

    for (y = 1600; y <= 2400; y++) {
        leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        snprintf(s, sizeof(s), "%04d-02-29 00:00:00", y);
        assert_int_equal(yibao_code_is_datetime((unsigned char *) s, 19),
                         leap);

        snprintf(s, sizeof(s), "%04d0229000000", y);
        assert_int_equal(yibao_code_is_compact_time((unsigned char *) s, 14),
                         leap);

        snprintf(s, sizeof(s), "%04d-02-28 00:00:00", y);
        assert_int_equal(yibao_code_is_datetime((unsigned char *) s, 19), 1);
    }
}


/* The last day of every month of a common and a leap year. */

static void
test_month_ends(void **state)
{
    int         m, y;
    char        s[64];
    static int  days[2][12] = {
        { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 },
        { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
    };

    (void) state;

    for (y = 0; y < 2; y++) {
        for (m = 1; m <= 12; m++) {
            snprintf(s, sizeof(s), "%04d-%02d-%02d 23:59:59", 2023 + y, m,
                     days[y][m - 1]);
            assert_int_equal(yibao_code_is_datetime((unsigned char *) s, 19),
                             1);

            snprintf(s, sizeof(s), "%04d-%02d-%02d 23:59:59", 2023 + y, m,
                     days[y][m - 1] + 1);
            assert_int_equal(yibao_code_is_datetime((unsigned char *) s, 19),
                             0);
        }
    }
}


/*
 * The calendar: days from 1970-01-01 and back agree day by day from
 * 1600 to 2400 (each day one more than the one before, the month's
 * length from yibao_code_days_in_month), and with known dates.
 */

static void
test_civil_days(void **state)
{
    int      m, d, cm, cd;
    int64_t  y, cy, days, next;

    (void) state;

    assert_int_equal(yibao_code_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(yibao_code_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(yibao_code_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(yibao_code_days_from_civil(2026, 12, 7), 20794);

    days = yibao_code_days_from_civil(1600, 1, 1);

    for (y = 1600; y <= 2400; y++) {
        for (m = 1; m <= 12; m++) {
            for (d = 1; d <= yibao_code_days_in_month(y, m); d++) {
                next = yibao_code_days_from_civil(y, m, d);
                assert_int_equal(next, days);

                yibao_code_civil_from_days(days, &cy, &cm, &cd);
                assert_int_equal(cy, y);
                assert_int_equal(cm, m);
                assert_int_equal(cd, d);

                days++;
            }
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_admdvs),
        cmocka_unit_test(test_fixmedins),
        cmocka_unit_test(test_org),
        cmocka_unit_test(test_infno),
        cmocka_unit_test(test_datetime),
        cmocka_unit_test(test_compact_time),
        cmocka_unit_test(test_msgid),
        cmocka_unit_test(test_alnum),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_words),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_month_ends),
        cmocka_unit_test(test_civil_days),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
