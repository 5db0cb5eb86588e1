/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_infno.h"


#define test_infno(s)  (const unsigned char *) s, sizeof(s) - 1


static void
test_class_of_each_kind(void **state)
{
    size_t  i;

    static const struct {
        const char           *infno;
        yibao_infno_class_e   cls;
    } cases[] = {
        { "1101", YIBAO_INFNO_READ },
        { "1319", YIBAO_INFNO_READ },
        { "1320", YIBAO_INFNO_OTHER },
        { "5203", YIBAO_INFNO_READ },
        { "2201", YIBAO_INFNO_CREATE },
        { "2202", YIBAO_INFNO_REPLACE },
        { "2203", YIBAO_INFNO_REPLACE },
        { "2203A", YIBAO_INFNO_REPLACE },
        { "2204", YIBAO_INFNO_CREATE },
        { "2205", YIBAO_INFNO_REPLACE },
        { "2206", YIBAO_INFNO_COMPUTE },
        { "2206A", YIBAO_INFNO_COMPUTE },
        { "2207", YIBAO_INFNO_MONEY },
        { "2207A", YIBAO_INFNO_MONEY },
        { "2208", YIBAO_INFNO_MONEY },
        { "2102", YIBAO_INFNO_MONEY },
        { "2305", YIBAO_INFNO_MONEY },
        { "2401", YIBAO_INFNO_CREATE },
        { "2601", YIBAO_INFNO_COMPENSATE },
        { "3201", YIBAO_INFNO_STATEMENT },
        { "9001", YIBAO_INFNO_CREATE },
        { "9101", YIBAO_INFNO_CREATE },
        { "9102", YIBAO_INFNO_OTHER },
        { "22", YIBAO_INFNO_OTHER },
        { "22o7", YIBAO_INFNO_OTHER },
        { "2207a", YIBAO_INFNO_OTHER },
        { "", YIBAO_INFNO_OTHER }
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (yibao_infno_class((const unsigned char *) cases[i].infno,
                              strlen(cases[i].infno))
            != cases[i].cls)
        {
            fail_msg("infno \"%s\": class %s, expected %s", cases[i].infno,
                     yibao_infno_class_name(yibao_infno_class(
                         (const unsigned char *) cases[i].infno,
                         strlen(cases[i].infno))),
                     yibao_infno_class_name(cases[i].cls));
        }
    }

    assert_int_equal(yibao_infno_class(NULL, 0), YIBAO_INFNO_OTHER);
    assert_string_equal(yibao_infno_class_name(YIBAO_INFNO_MONEY), "money");
    assert_string_equal(yibao_infno_class_name((yibao_infno_class_e) 99),
                        "other");
}


static void
test_what_each_class_allows(void **state)
{
    (void) state;

    /* journaled: what may not be sent twice, and the statement check */

    assert_true(yibao_infno_journaled(test_infno("2207")));
    assert_true(yibao_infno_journaled(test_infno("2207A")));
    assert_true(yibao_infno_journaled(test_infno("2201")));
    assert_true(yibao_infno_journaled(test_infno("2204")));
    assert_true(yibao_infno_journaled(test_infno("9001")));
    assert_true(yibao_infno_journaled(test_infno("2601")));
    assert_true(yibao_infno_journaled(test_infno("3201")));
    assert_false(yibao_infno_journaled(test_infno("2206")));
    assert_false(yibao_infno_journaled(test_infno("2203")));
    assert_false(yibao_infno_journaled(test_infno("1101")));
    assert_false(yibao_infno_journaled(test_infno("5203")));
    assert_false(yibao_infno_journaled(test_infno("9999")));

    /* a lost answer: unknown only where the effect cannot be known */

    assert_true(yibao_infno_lost_unknown(test_infno("2207")));
    assert_true(yibao_infno_lost_unknown(test_infno("2208")));
    assert_true(yibao_infno_lost_unknown(test_infno("2601")));
    assert_true(yibao_infno_lost_unknown(test_infno("2201")));
    assert_true(yibao_infno_lost_unknown(test_infno("2204")));
    assert_false(yibao_infno_lost_unknown(test_infno("2206")));
    assert_false(yibao_infno_lost_unknown(test_infno("2205")));
    assert_false(yibao_infno_lost_unknown(test_infno("3201")));
    assert_false(yibao_infno_lost_unknown(test_infno("1101")));

    assert_true(yibao_infno_money(test_infno("2207")));
    assert_true(yibao_infno_money(test_infno("2208")));
    assert_false(yibao_infno_money(test_infno("2204")));
    assert_false(yibao_infno_money(test_infno("2601")));
    assert_false(yibao_infno_money(test_infno("22")));

    /* cacheable: a read, by its plain number only */

    assert_true(yibao_infno_cacheable(test_infno("1101")));
    assert_true(yibao_infno_cacheable(test_infno("5304")));
    assert_false(yibao_infno_cacheable(test_infno("1101A")));
    assert_false(yibao_infno_cacheable(test_infno("2206")));
    assert_false(yibao_infno_cacheable(test_infno("3201")));
    assert_false(yibao_infno_cacheable(test_infno("2207")));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_class_of_each_kind),
        cmocka_unit_test(test_what_each_class_allows),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
