/*
 * Copyright (C) yibao-gateway authors
 */


/* The national code shapes and the ID number check of yibao_codes.h. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_codes.h"


typedef int (*test_check_pt)(const unsigned char *p, size_t len);


typedef struct {
    const char           *s;
    int                   expect;
} test_case_t;


#define TEST_NCASES(a)  (sizeof(a) / sizeof((a)[0]))


/*
 * Runs check over the cases, each copied into a malloc()ed block of
 * exactly its length, so that ASan catches a read past len; and checks
 * that every shorter prefix of a good value is rejected where asked.
 */

static void
test_cases(const char *name, test_check_pt check, const test_case_t *cases,
    size_t n)
{
    int             got;
    size_t          i, len;
    unsigned char  *p;

    for (i = 0; i < n; i++) {
        len = strlen(cases[i].s);

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


/* no prefix of a good value is good (the shapes have fixed ends) */

static void
test_prefixes(const char *name, test_check_pt check, const char *good)
{
    size_t          len, n;
    unsigned char  *p;

    len = strlen(good);

    for (n = 0; n < len; n++) {
        p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, good, n);

        if (check(p, n)) {
            fail_msg("%s(\"%.*s\") accepted a prefix of \"%s\"", name,
                     (int) n, good, good);
        }

        free(p);
    }
}


static void
test_drug(void **state)
{
    static const test_case_t  cases[] = {
        { "XJ01CAA040A001010102699", 1 },
        { "ZA01BAA001B002010100001", 1 },
        { "X0000000000000000000000", 1 },
        { "T000100255", 1 },
        { "T12345678901234567890", 1 },
        { "T12345678901234567890123456789", 1 },
        { "T123456789012345678901234567890", 0 },
        { "T00010025", 0 },
        { "T00010025A", 0 },
        { "T", 0 },
        { "YP0001", 0 },
        { "XJ01CAA040A00101010269", 0 },
        { "XJ01CAA040A0010101026990", 0 },
        { "xJ01CAA040A001010102699", 0 },
        { "XJ01CAa040A001010102699", 0 },
        { "XJ01CAA040A00101010269-", 0 },
        { "CJ01CAA040A001010102699", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("drug", yibao_code_is_drug, cases, TEST_NCASES(cases));
    test_prefixes("drug", yibao_code_is_drug, "XJ01CAA040A001010102699");
}


static void
test_item(void **state)
{
    static const test_case_t  cases[] = {
        { "001102000010000", 1 },
        { "001102000000100-110200002.10", 1 },
        { "001102000010000-110200001", 1 },
        { "001102000010000-A1b", 1 },
        { "001102000010000-12345678901234567890123456789012345", 0 },
        { "001102000010000-1234567890123456789012345678901234", 1 },
        { "001102000010000-", 0 },
        { "001102000010000_110200001", 0 },
        { "001102000010000-1102 00001", 0 },
        { "00110200001000", 0 },
        { "0011020000100000", 0 },
        { "00110200001000a", 0 },
        { "ZL0001", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("item", yibao_code_is_item, cases, TEST_NCASES(cases));
    test_prefixes("item", yibao_code_is_item, "001102000010000");
}


static void
test_consumable(void **state)
{
    static const test_case_t  cases[] = {
        { "C0101010011303807555", 1 },
        { "C0000000000000000000", 1 },
        { "C010101001130380755", 0 },
        { "C01010100113038075555", 0 },
        { "c0101010011303807555", 0 },
        { "C010101001130380755A", 0 },
        { "HC0001", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("consumable", yibao_code_is_consumable, cases,
               TEST_NCASES(cases));
    test_prefixes("consumable", yibao_code_is_consumable,
                  "C0101010011303807555");
}


static void
test_icd10(void **state)
{
    static const test_case_t  cases[] = {
        { "I10.x00", 1 },
        { "E11.900", 1 },
        { "J18.900", 1 },
        { "J06.900", 1 },
        { "K29.700", 1 },
        { "I10.X00", 1 },
        { "I10.x00x002", 1 },
        { "I10.x00X002", 1 },
        { "I10.x00x00", 0 },
        { "I10.x00y002", 0 },
        { "I10.x00x0021", 0 },
        { "I10", 0 },
        { "I10.x0", 0 },
        { "i10.x00", 0 },
        { "I1A.x00", 0 },
        { "I10-x00", 0 },
        { "I10.a00", 0 },
        { "ZD0001", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("icd10", yibao_code_is_icd10, cases, TEST_NCASES(cases));
    test_prefixes("icd10", yibao_code_is_icd10, "I10.x00");
}


static void
test_icd9cm3(void **state)
{
    static const test_case_t  cases[] = {
        { "51.2300", 1 },
        { "00.0000", 1 },
        { "51.2300x001", 1 },
        { "51.230", 0 },
        { "51.23000", 0 },
        { "5.12300", 0 },
        { "51,2300", 0 },
        { "51.2a00", 0 },
        { "51.2300y001", 0 },
        { "I10.x00", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("icd9cm3", yibao_code_is_icd9cm3, cases, TEST_NCASES(cases));
    test_prefixes("icd9cm3", yibao_code_is_icd9cm3, "51.2300");
}


static void
test_chronic(void **state)
{
    static const test_case_t  cases[] = {
        { "M01607", 1 },
        { "M00000", 1 },
        { "M0160", 0 },
        { "M016070", 0 },
        { "m01607", 0 },
        { "M0160A", 0 },
        { "N01607", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("chronic", yibao_code_is_chronic, cases, TEST_NCASES(cases));
    test_prefixes("chronic", yibao_code_is_chronic, "M01607");
}


static void
test_staff(void **state)
{
    static const test_case_t  cases[] = {
        { "D370102000001", 1 },
        { "D510105000123", 1 },
        { "N370102000001", 1 },
        { "Y370102000001", 1 },
        { "HY370102000001", 1 },
        { "HJ370102000001", 1 },
        { "D37010200000", 0 },
        { "D3701020000011", 0 },
        { "HY37010200000", 0 },
        { "HY3701020000011", 0 },
        { "HX370102000001", 0 },
        { "HD370102000001", 0 },
        { "X370102000001", 0 },
        { "d370102000001", 0 },
        { "D37010200000A", 0 },
        { "D001", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("staff", yibao_code_is_staff, cases, TEST_NCASES(cases));
    test_prefixes("staff", yibao_code_is_staff, "D370102000001");
    test_prefixes("staff", yibao_code_is_staff, "HY370102000001");
}


static void
test_caty(void **state)
{
    static const test_case_t  cases[] = {
        { "A03", 1 },
        { "A02", 1 },
        { "A03.01", 1 },
        { "Z99.99", 1 },
        { "A3", 0 },
        { "A033", 0 },
        { "A03.1", 0 },
        { "A03.011", 0 },
        { "A03-01", 0 },
        { "a03", 0 },
        { "A0B", 0 },
        { "A03.0A", 0 },
        { "NK", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("caty", yibao_code_is_caty, cases, TEST_NCASES(cases));
}


static void
test_id_number(void **state)
{
    static const test_case_t  cases[] = {

        /* the standard's examples and two invented ones (section 6) */

        { "11010519491231002X", 1 },
        { "440524188001010014", 1 },
        { "370102198001011237", 1 },
        { "370102195603152017", 1 },

        /* a lower-case check character is accepted */

        { "11010519491231002x", 1 },

        /* a wrong check character */

        { "110105194912310021", 0 },
        { "440524188001010015", 0 },
        { "370102198001011230", 0 },
        { "370102195603152018", 0 },
        { "37010219560315201X", 0 },

        /* two digits swapped: the weights catch it */

        { "370102195603150217", 0 },

        /*
         * dates that do not exist, or before 1800, each with its right
         * check character; 1800-01-01 is the first day accepted
         */

        { "37010219560230201X", 0 },
        { "370102195613152010", 0 },
        { "370102195600152011", 0 },
        { "370102179912312010", 0 },
        { "370102180001012015", 1 },

        /* shapes */

        { "37010219560315201", 0 },
        { "3701021956031520170", 0 },
        { "37010219560315201Y", 0 },
        { "3701021956031520X7", 0 },
        { "370102 95603152017", 0 },
        { "", 0 },
    };

    (void) state;

    test_cases("id_number", yibao_code_is_id_number, cases,
               TEST_NCASES(cases));
    test_prefixes("id_number", yibao_code_is_id_number,
                  "11010519491231002X");
}


/* 29 February: only in leap years (the check character made to fit) */

static void
test_id_number_leap(void **state)
{
    size_t         i;
    unsigned       sum;
    unsigned char  id[18];

    static const char      checks[] = "10X98765432";
    static const unsigned  weights[17] = {
        7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
    };

    static const struct {
        const char       *first17;
        int               good;
    } cases[] = {
        { "37010220000229201", 1 },
        { "37010219960229201", 1 },
        { "37010219000229201", 0 },
        { "37010219970229201", 0 },
    };

    (void) state;

    for (i = 0; i < TEST_NCASES(cases); i++) {
        size_t  k;

        memcpy(id, cases[i].first17, 17);
        sum = 0;

        for (k = 0; k < 17; k++) {
            sum += (unsigned) (id[k] - '0') * weights[k];
        }

        id[17] = (unsigned char) checks[sum % 11];

        if (yibao_code_is_id_number(id, 18) != cases[i].good) {
            fail_msg("%.18s: expected %d", id, cases[i].good);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_drug),
        cmocka_unit_test(test_item),
        cmocka_unit_test(test_consumable),
        cmocka_unit_test(test_icd10),
        cmocka_unit_test(test_icd9cm3),
        cmocka_unit_test(test_chronic),
        cmocka_unit_test(test_staff),
        cmocka_unit_test(test_caty),
        cmocka_unit_test(test_id_number),
        cmocka_unit_test(test_id_number_leap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
