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

#include "yibao_fields.h"
#include "yibao_test_alloc.h"


static void
test_find(void **state)
{
    json_t              *doc;
    yibao_alloc_t        a;
    json_error_t         jerr;
    yibao_fields_t       f;
    yibao_test_arena_t   arena;

    static const char  body[] =
        "{\"output\":{\"setlinfo\":{\"mdtrt_id\":\"M1\",\"psn_no\":12345,"
        "\"x\":{\"setl_id\":\"S9\"}},\"mdtrt_id\":\"later\"}}";
    static const unsigned char  named[] =
        "{\"a\":{\"psn_name\":7},\"b\":[{\"psn_name\":\"\\u5f20\\u4e09\"}]}";

    (void) state;

    yibao_test_arena_init(&arena, &a);
    memset(&f, 0, sizeof(yibao_fields_t));

    doc = json_loads(body, 0, &jerr);
    assert_non_null(doc);

    assert_int_equal(yibao_fields_find(doc, &f, &a), YIBAO_OK);
    assert_int_equal(f.mdtrt_id.len, 2);
    assert_memory_equal(f.mdtrt_id.data, "M1", 2);
    assert_memory_equal(f.setl_id.data, "S9", 2);
    assert_int_equal(f.psn_no.len, 5);
    assert_memory_equal(f.psn_no.data, "12345", 5);

    /* fields already known are kept */
    f.mdtrt_id.data = (const unsigned char *) "KEEP";
    f.mdtrt_id.len = 4;
    assert_int_equal(yibao_fields_find(doc, &f, &a), YIBAO_OK);
    assert_memory_equal(f.mdtrt_id.data, "KEEP", 4);

    /* a number needs memory */
    memset(&f, 0, sizeof(yibao_fields_t));
    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_fields_find(doc, &f, &a), YIBAO_ERR_NOMEM);

    json_decref(doc);

    /* from text: copies that outlive the document */
    memset(&f, 0, sizeof(yibao_fields_t));
    assert_int_equal(yibao_fields_find_text((const unsigned char *) body,
                                            sizeof(body) - 1, &f, &a),
                     YIBAO_OK);
    assert_memory_equal(f.setl_id.data, "S9", 2);
    assert_true(yibao_test_arena_contains(&arena, "S9", 2));

    /* the person's name, a string only, copied as well */
    memset(&f, 0, sizeof(yibao_fields_t));
    assert_int_equal(yibao_fields_find_text(named, sizeof(named) - 1, &f,
                                            &a),
                     YIBAO_OK);
    assert_int_equal(f.psn_name.len, 6);
    assert_memory_equal(f.psn_name.data, "张三", 6);
    assert_true(yibao_test_arena_contains(&arena, "张三", 6));

    /* from a parsed document: copies too */
    doc = json_loads(body, 0, &jerr);
    assert_non_null(doc);
    memset(&f, 0, sizeof(yibao_fields_t));
    f.psn_no.data = (const unsigned char *) "KEEP";
    f.psn_no.len = 4;
    assert_int_equal(yibao_fields_find_copy(doc, &f, &a), YIBAO_OK);
    assert_memory_equal(f.mdtrt_id.data, "M1", 2);
    assert_true(yibao_test_arena_contains(&arena, "M1", 2));
    assert_true(yibao_test_arena_contains(&arena, "S9", 2));
    assert_memory_equal(f.psn_no.data, "KEEP", 4);
    memset(&f, 0, sizeof(yibao_fields_t));
    yibao_test_arena_fail_at(&arena, 1);
    assert_int_equal(yibao_fields_find_copy(doc, &f, &a), YIBAO_ERR_NOMEM);
    json_decref(doc);

    memset(&f, 0, sizeof(yibao_fields_t));
    assert_int_equal(yibao_fields_find_text((const unsigned char *) "<x>",
                                            3, &f, &a),
                     YIBAO_OK);
    assert_int_equal(f.mdtrt_id.len, 0);

    yibao_test_arena_free(&arena);
}


static void
test_mask(void **state)
{
    size_t          i;
    unsigned char   out[128];

    static const struct {
        const char  *in;
        const char  *out;
    } digits[] = {
        { "370102195603152017", "3701**********2017" },
        { "id 11010519491231002X ok", "id 1101**********002X ok" },
        { "short 12345678901234", "short 12345678901234" },
        { "fifteen 123456789012345.", "fifteen 1234*******2345." },
        { "nineteen 1234567890123456789", "nineteen 1234***********6789" },
        { "psn_no 37000000000000000000123456 x",
          "psn_no 3700******************3456 x" },
        { "", "" },
    };

    (void) state;

    for (i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
        yibao_mask_digits((const unsigned char *) digits[i].in,
                          strlen(digits[i].in), out);
        assert_memory_equal(out, digits[i].out, strlen(digits[i].out));
    }

    yibao_mask_psn_no((const unsigned char *) "37000000000000000000123456",
                      26, out);
    assert_memory_equal(out, "3700******************3456", 26);

    yibao_mask_psn_no((const unsigned char *) "12345678", 8, out);
    assert_memory_equal(out, "********", 8);
}


static void
test_echo(void **state)
{
    char    buf[64];
    size_t  i, n;

    static const struct {
        const char  *in;
        size_t       max;
        const char  *out;
    } echo[] = {
        { "2024-02-30 08:00:00", 40, "2024-02-30 08:00:00" },
        { "a\"b\\c;d\x01" "e\x7f", 40, "a?b?c?d?e?" },
        { "欧阳娜娜 X1", 40, "**** X1" },
        { "id 370102195603152017.", 40, "id 3701**********2017." },
        { "11010519491231002x", 40, "1101**********002x" },
        { "1234567890123456789", 40, "1234***********6789" },
        { "12345678901234", 40, "12345678901234" },
        /* a run cut by the length limit is masked all the same */
        { "ab370102195603152017", 10, "ab3701****..." },
        { "abcdef", 3, "abc..." },
        { "中文中文", 2, "**..." },
        { "", 40, "" },
    };

    (void) state;

    for (i = 0; i < sizeof(echo) / sizeof(echo[0]); i++) {
        n = yibao_echo((const unsigned char *) echo[i].in,
                       strlen(echo[i].in), echo[i].max, buf, sizeof(buf));
        assert_string_equal(buf, echo[i].out);
        assert_int_equal(n, strlen(echo[i].out));
    }

    /* the buffer bounds the text: "..." and the NUL always fit */

    n = yibao_echo((const unsigned char *) "abcdefghijkl", 12, 40, buf, 8);
    assert_string_equal(buf, "abcd...");
    assert_int_equal(n, 7);

    /* the transaction's own values wherever a message quotes them */

    {
        unsigned char  text[] = "人员张三(37000000000000000000123456)"
                                "不存在; 张三 0000123456 张";
        yibao_str_t    values[3] = {
            { 26, (const unsigned char *) "37000000000000000000123456" },
            { 6, (const unsigned char *) "张三" },
            { 3, (const unsigned char *) "张" }
        };

        yibao_mask_values(text, sizeof(text) - 1, values, 3);
        assert_string_equal((char *) text,
                            "人员******(3700******************3456)"
                            "不存在; ****** 0000123456 张");

        /* a long name is masked whole: its UTF-8 is never cut */
        {
            unsigned char  named[] = "姓名司马相如。";
            yibao_str_t    name = { 12, (const unsigned char *) "司马相如" };

            yibao_mask_values(named, sizeof(named) - 1, &name, 1);
            assert_string_equal((char *) named, "姓名************。");
        }

        /* nothing to mask, or values longer than the text */
        yibao_mask_values(text, 4, values, 3);
        yibao_mask_values(text, sizeof(text) - 1, values, 0);
    }

    /* masking in place */

    memcpy(buf, "370102195603152017", 19);
    yibao_mask_digits((unsigned char *) buf, 18, (unsigned char *) buf);
    assert_string_equal(buf, "3701**********2017");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_echo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
