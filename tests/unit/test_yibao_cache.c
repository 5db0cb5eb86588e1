/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>
#include <jansson.h>

#include "yibao_cache.h"
#include "yibao_crypto.h"
#include "yibao_test_alloc.h"


#define TEST_HEAD                                                            \
    "{\"infno\":\"1901\",\"msgid\":\"%s\",\"mdtrtarea_admvs\":\"370102\","  \
    "\"insuplc_admdvs\":\"%s\",\"recer_sys_code\":\"FSI\",\"infver\":\"V1\"," \
    "\"opter_type\":\"1\",\"opter\":\"1\",\"opter_name\":\"x\","            \
    "\"inf_time\":\"%s\",\"fixmedins_code\":\"H37010200001\","              \
    "\"sign_no\":\"%s\",\"input\":%s}"


static void
test_key(const char *msgid, const char *insuplc, const char *time,
    const char *sign_no, const char *input, yibao_alloc_t *a, char *out)
{
    char                     buf[1024];
    yibao_err_t              err;
    yibao_str_t              key;
    yibao_envelope_t         env;
    yibao_envelope_limits_t  limits = { 32, 1000 };

    static yibao_str_t  entity = yibao_string("H37010200001");

    snprintf(buf, sizeof(buf), TEST_HEAD, msgid, insuplc, time, sign_no,
             input);

    assert_int_equal(yibao_envelope_parse((const unsigned char *) buf,
                                          strlen(buf), &limits, &env, &err),
                     YIBAO_OK);
    assert_int_equal(yibao_cache_key(&env, &entity, a, &key), YIBAO_OK);

    memcpy(out, key.data, key.len);
    out[key.len] = '\0';

    yibao_envelope_free(&env);
}


static void
test_keys(void **state)
{
    char                 k1[256], k2[256], k3[256], k4[256];
    yibao_alloc_t        a;
    yibao_test_arena_t   arena;

    (void) state;

    yibao_test_arena_init(&arena, &a);

    test_key("H37010200001202401150830100001", "", "2024-01-15 08:30:10",
             "1", "{\"type\":\"a\",\"admdvs\":\"370102\"}", &a, k1);

    /* msgid, inf_time, sign_no and the key order do not matter */
    test_key("H37010200001202401150930100002", "", "2024-01-15 09:30:10",
             "2", "{\"admdvs\":\"370102\",\"type\":\"a\"}", &a, k2);
    assert_string_equal(k1, k2);

    /* the input and the insurance region do */
    test_key("H37010200001202401150830100001", "", "2024-01-15 08:30:10",
             "1", "{\"type\":\"b\",\"admdvs\":\"370102\"}", &a, k3);
    assert_string_not_equal(k1, k3);

    test_key("H37010200001202401150830100001", "370103",
             "2024-01-15 08:30:10", "1",
             "{\"type\":\"a\",\"admdvs\":\"370102\"}", &a, k4);
    assert_string_not_equal(k1, k4);

    assert_memory_equal(k1, "yibao:{H37010200001}:c:1901::", 29);
    assert_int_equal(strlen(k1), 29 + 64);
    assert_memory_equal(k4, "yibao:{H37010200001}:c:1901:370103:", 35);

    yibao_test_arena_free(&arena);
}


static void
test_allowed(void **state)
{
    size_t  i;

    static const char  *yes[] = { "1101", "1201", "1301", "1319", "1901",
                                  "5101", "5205", "5304" };
    static const char  *no[] = { "2201", "2204", "2206", "2207", "2208",
                                 "2601", "9001", "1320", "3201", "9102",
                                 "2207A", "110", "" };

    (void) state;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_true(yibao_infno_cacheable((const unsigned char *) yes[i],
                                              strlen(yes[i])));
    }

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_false(yibao_infno_cacheable((const unsigned char *) no[i],
                                               strlen(no[i])));
    }
}


static void
test_unframe(void **state)
{
    uint64_t     t;
    yibao_str_t  answer;

    (void) state;

    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "1700000000123\n{\"infcode\":0}",
                                         27, &t, &answer),
                     YIBAO_OK);
    assert_int_equal(t, 1700000000123ULL);
    assert_int_equal(answer.len, 13);
    assert_memory_equal(answer.data, "{\"infcode\":0}", 13);

    assert_int_equal(yibao_cache_unframe((const unsigned char *) "{}", 2, &t,
                                         &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe((const unsigned char *) "123", 3,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);
}


/*
 * Found by fuzzing (docs/fuzzing.md): 20 digits were read into a
 * uint64_t, so 18446744073709551616 wrapped to 0 (stale, or another
 * time) instead of being refused as a value that is not framed.
 */

static void
test_fuzz_unframe_digits(void **state)
{
    uint64_t     t;
    yibao_str_t  answer;

    (void) state;

    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "18446744073709551616\n{}", 23,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "00000000000000000001\n{}", 23,
                                         &t, &answer),
                     YIBAO_ERR_SYNTAX);

    /* 19 digits always fit */
    assert_int_equal(yibao_cache_unframe((const unsigned char *)
                                         "9999999999999999999\n{}", 22,
                                         &t, &answer),
                     YIBAO_OK);
    assert_true(t == 9999999999999999999ULL);
    assert_int_equal(answer.len, 2);
}


/*
 * The ids of the log stored beside the answer: written, read back, an
 * old value without them, and what is refused (a reader must never
 * serve a value it cannot frame).
 */

static void
test_frame_fields(void **state)
{
    int             has;
    size_t          len;
    uint64_t        t;
    yibao_str_t     answer;
    unsigned char   buf[600], *p;
    yibao_fields_t  f, g;

    static const char  ans[] = "{\"infcode\":0}";

    (void) state;

    memset(&f, 0, sizeof(yibao_fields_t));
    f.mdtrt_id.data = (const unsigned char *) "M12";
    f.mdtrt_id.len = 3;
    f.psn_no.data = (const unsigned char *) "370000\n0:9";
    f.psn_no.len = 10;

    assert_int_equal(yibao_cache_fields_size(&f), 1 + 12 + 13);

    p = buf + sprintf((char *) buf, "%llu", 1700000000123ULL);
    p = yibao_cache_fields_write(p, &f);
    *p++ = '\n';
    memcpy(p, ans, sizeof(ans) - 1);
    p += sizeof(ans) - 1;
    len = (size_t) (p - buf);

    assert_int_equal(len, 35 + sizeof(ans) - 1);
    assert_memory_equal(buf, "1700000000123 3:M120:10:370000\n0:9\n", 35);

    assert_int_equal(yibao_cache_unframe_fields(buf, len, &t, &g, &has,
                                                &answer),
                     YIBAO_OK);
    assert_int_equal(has, 1);
    assert_true(t == 1700000000123ULL);
    assert_int_equal(g.mdtrt_id.len, 3);
    assert_memory_equal(g.mdtrt_id.data, "M12", 3);
    assert_int_equal(g.setl_id.len, 0);
    assert_int_equal(g.psn_no.len, 10);
    assert_memory_equal(g.psn_no.data, "370000\n0:9", 10);
    assert_int_equal(answer.len, sizeof(ans) - 1);
    assert_memory_equal(answer.data, ans, sizeof(ans) - 1);

    /* the reader that ignores them serves the same answer */
    assert_int_equal(yibao_cache_unframe(buf, len, &t, &answer), YIBAO_OK);
    assert_int_equal(answer.len, sizeof(ans) - 1);

    /* an old value: no ids */
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5\n{}", 4, &t, &g, &has,
                         &answer),
                     YIBAO_OK);
    assert_int_equal(has, 0);
    assert_int_equal(g.mdtrt_id.len, 0);
    assert_int_equal(answer.len, 2);

    /* cut short, lengths beyond the value, missing digits, too long */
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 1:a0:", 7, &t, &g, &has,
                         &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(has, 0);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 1:a0:9:x\n{}", 13, &t,
                         &g, &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 :0:0:\n{}", 10, &t, &g,
                         &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 0:0:0:x{}", 11, &t, &g,
                         &has, &answer),
                     YIBAO_ERR_SYNTAX);
    assert_int_equal(g.mdtrt_id.len + g.setl_id.len + g.psn_no.len, 0);
    assert_int_equal(yibao_cache_unframe_fields(
                         (const unsigned char *) "5 999:", 6, &t, &g, &has,
                         &answer),
                     YIBAO_ERR_SYNTAX);

    /* an id too long to go with it: nothing written */
    memset(buf, 'x', 200);
    f.setl_id.data = buf;
    f.setl_id.len = YIBAO_CACHE_FIELD_MAX + 1;
    assert_int_equal(yibao_cache_fields_size(&f), 0);
    p = buf + 300;
    assert_ptr_equal(yibao_cache_fields_write(p, &f), p);
}


/*
 * The canonical text is json_dumps()'s, byte for byte: keys of every
 * object sorted by their bytes (a prefix first), escapes, integers,
 * reals in every shape, UTF-8, empty containers, deep nesting.
 */

static void
test_canonical_is_jansson(void **state)
{
    char           *ref;
    size_t          i, len;
    json_t         *doc;
    json_error_t    jerr;
    unsigned char  *got;

    static const char  *docs[] = {
        "{\"b\":1,\"a\":{\"d\":[3,2,{\"z\":0,\"y\":null}],\"c\":true},"
        "\"ab\":false,\"a_\":\"\",\"\":[]}",
        "{\"s\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
        "{\"u\":\"\xe5\xbc\xa0\xe5\x8c\xbb\xe7\x94\x9f \\u2028 "
        "\xf0\x9f\x98\x80\"}",
        "{\"r\":[25.2,10.00,0.1,-0.0,1e21,1e-5,1.5e300,-2.5e-300,"
        "123456789.123456789,100.0,3.0e2,1E+2,0.000123,1e16,1e17,"
        "12.6,0.5,-1e-7]}",
        "{\"i\":[0,-1,9223372036854775807,-9223372036854775808,42]}",
        "{\"e\":{},\"f\":[[],[{}]],\"g\":[[[[[[[[[[1]]]]]]]]]]}",
        "{\"feedetail\":[{\"feedetl_sn\":\"1\",\"cnt\":2,\"pric\":12.6,"
        "\"det_item_fee_sumamt\":\"25.20\",\"medins_list_codg\":\"YP0001\"}]}",
        "[1,\"x\",{\"b\":2,\"a\":1}]",
        "\"just a string\"",
        "3.25",
    };

    (void) state;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        doc = json_loads(docs[i], JSON_DECODE_ANY, &jerr);
        if (doc == NULL) {
            print_error("doc %zu: %s\n", i, jerr.text);
            fail();
        }

        ref = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS
                              | JSON_ENCODE_ANY);
        assert_non_null(ref);

        got = yibao_json_canonical(doc, &len);
        assert_non_null(got);

        if (len != strlen(ref) || memcmp(got, ref, len) != 0) {
            print_error("doc %zu:\n  jansson %s\n  ours    %.*s\n", i, ref,
                        (int) len, (const char *) got);
            fail();
        }

        free(got);
        free(ref);
        json_decref(doc);
    }

    /* more keys than fit on the stack */
    doc = json_object();
    for (i = 0; i < 100; i++) {
        char  key[16];

        snprintf(key, sizeof(key), "k%zu", (i * 37) % 100);
        json_object_set_new(doc, key, json_integer((json_int_t) i));
    }

    ref = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    got = yibao_json_canonical(doc, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(ref));
    assert_memory_equal(got, ref, len);
    free(got);
    free(ref);
    json_decref(doc);

    assert_null(yibao_json_canonical(NULL, &len));
}

/*
 * The input's digest is hashed as it is walked, never written whole: it
 * must stay the SHA-256 of what json_dumps(JSON_COMPACT | JSON_SORT_KEYS
 * | JSON_ENCODE_ANY) writes, the bytes it was taken of when the text was
 * built (cache keys and journal records made before keep matching).
 * Random inputs: nested objects and arrays, keys in any order, strings
 * with escapes, UTF-8 and lengths across the writer's chunks and
 * windows, integers and reals of every size.
 */

static uint64_t
test_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;

    return *x;
}


static void
test_random_text(uint64_t *x, char *buf, size_t size)
{
    size_t  i, n;

    static const char  *pieces[] = {
        "a", "Z", "0", "_", " ", "\"", "\\", "/", "\n", "\t", "\x01",
        "\x1f", "\x7f", "<", "&", "\xe5\xbc\xa0", "\xe5\x8c\xbb",
        "\xf0\x9f\x98\x80", "YP0001", "feedetl_sn", "det_item_fee_sumamt"
    };

    n = test_random(x) % 8 == 0 ? test_random(x) % (size / 4)
                                : test_random(x) % 12;
    buf[0] = '\0';

    for (i = 0; i < n; i++) {
        const char  *p = pieces[test_random(x)
                                % (sizeof(pieces) / sizeof(pieces[0]))];

        if (strlen(buf) + strlen(p) + 1 > size) {
            break;
        }

        strcat(buf, p);
    }
}


static json_t *
test_random_tree(uint64_t *x, int depth)
{
    int       i, n;
    char      key[64], text[8192];
    double    d;
    json_t   *v;
    uint64_t  m;

    switch (depth > 2 ? 2 + test_random(x) % 5 : test_random(x) % 7) {

    case 0:
        v = json_object();
        n = (int) (test_random(x) % (test_random(x) % 8 ? 12 : 40));

        for (i = 0; i < n; i++) {
            test_random_text(x, key, sizeof(key));
            json_object_set_new(v, key, test_random_tree(x, depth + 1));
        }

        return v;

    case 1:
        v = json_array();
        n = (int) (test_random(x) % (depth ? 8 : 60));

        for (i = 0; i < n; i++) {
            json_array_append_new(v, test_random_tree(x, depth + 1));
        }

        return v;

    case 2:
    case 3:
        test_random_text(x, text, sizeof(text));
        return json_string(text);

    case 4:
        m = test_random(x);
        return json_integer((json_int_t) (m >> (m % 64)));

    case 5:
        switch (test_random(x) % 3) {
        case 0:
            d = (double) (test_random(x) % 10000000) / 100;
            break;
        case 1:
            m = test_random(x);
            memcpy(&d, &m, sizeof(d));
            if (d - d != 0) {
                d = 1.5;
            }
            break;
        default:
            d = (double) (test_random(x) % 1000000)
                / (double) (1 + test_random(x) % 100000);
            break;
        }

        return json_real(test_random(x) % 2 ? d : -d);

    default:
        return test_random(x) % 3 == 0 ? json_null()
               : json_boolean(test_random(x) % 2);
    }
}


/* rows of one set of keys, most in one order, some in others */

static json_t *
test_rows(uint64_t *x)
{
    int      i, j, n, k;
    char     key[16];
    json_t  *rows, *row;

    rows = json_array();
    n = 1 + (int) (test_random(x) % 40);

    for (i = 0; i < 30; i++) {
        row = json_object();
        k = test_random(x) % 4 ? 0 : (int) (test_random(x) % n);

        for (j = 0; j < n; j++) {
            snprintf(key, sizeof(key), "k%d", ((j + k) * 7) % n);
            json_object_set_new(row, key, json_integer(j));
        }

        json_array_append_new(rows, row);
    }

    return rows;
}


static void
test_digest_is_of_jansson_text(void **state)
{
    int                i;
    char              *ref, hex[65], want[65];
    size_t             len, dlen;
    json_t            *input;
    unsigned char      digest[YIBAO_MD_MAX_SIZE], *canon;
    uint64_t           x;
    yibao_envelope_t   env;

    (void) state;

    x = 0x853c49e6748fea9bULL;

    for (i = 0; i < 3000; i++) {
        input = i < 2 ? (i == 0 ? json_object() : json_array())
                : i % 5 == 0 ? test_rows(&x) : test_random_tree(&x, 0);

        memset(&env, 0, sizeof(env));
        env.doc = json_object();
        json_object_set_new(env.doc, "infno", json_string("2204"));
        json_object_set_new(env.doc, "input", input);

        ref = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS
                                | JSON_ENCODE_ANY);
        assert_non_null(ref);

        assert_int_equal(yibao_digest(YIBAO_MD_SHA256,
                                      (unsigned char *) ref, strlen(ref),
                                      digest, &dlen), YIBAO_OK);
        yibao_hex_encode(digest, dlen, want, 0);

        assert_int_equal(yibao_cache_input_digest(&env, hex), YIBAO_OK);

        if (strcmp(hex, want) != 0) {
            print_error("input %d (%zu bytes): %s\n", i, strlen(ref), ref);
            fail();
        }

        canon = yibao_json_canonical(input, &len);
        assert_non_null(canon);
        assert_int_equal(len, strlen(ref));
        assert_memory_equal(canon, ref, len);

        free(canon);
        free(ref);
        json_decref(env.doc);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_unframe),
        cmocka_unit_test(test_digest_is_of_jansson_text),
        cmocka_unit_test(test_fuzz_unframe_digits),
        cmocka_unit_test(test_frame_fields),
        cmocka_unit_test(test_canonical_is_jansson),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
