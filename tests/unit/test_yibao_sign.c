/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_gwerr.h"
#include "yibao_sign.h"
#include "yibao_test_alloc.h"


/* test vectors of the provinces' signing schemes */

#define TEST_CSB_AK    "AKTEST000000000000000000000000"
#define TEST_CSB_SK    "SKTEST000000000000000000000000"
#define TEST_CSB_STR   "_api_access_key=AKTEST000000000000000000000000" \
                       "&_api_name=1101&_api_timestamp=1700000000000"   \
                       "&_api_version=1.0.0"
#define TEST_CSB_SIG   "vX/d/utPGr7K4LDY1c45fWpMWi4="

#define TEST_TIF_TOKEN  "TESTTOKEN0123456789abcdefABCDEF0"
#define TEST_TIF_NONCE  "abcdef0123456789"
#define TEST_TIF_SIG    "78f534ae7b982a7874cd606d48a69dff" \
                        "2731da1db93e54d5a38e1fdce38d3c75"

#define TEST_ZJ_AK      "H33018300564"
#define TEST_ZJ_SK      "TESTSECRET"
#define TEST_ZJ_BODY    "{\"infno\":\"9001\"}"
#define TEST_ZJ_SIG     "1700000000:E4C9E2F1F9D82A2E8650B29715E1AD41" \
                        "6F877B5D79C7A076BC050F5CA2DE71F2"

#define TEST_TS_MS      INT64_C(1700000000000)


typedef struct {
    yibao_test_arena_t    arena;
    yibao_alloc_t         alloc;
    yibao_sign_conf_t     conf;
    yibao_sign_key_t      key;
    yibao_sign_input_t    in;
    yibao_sign_out_t      out;
    yibao_err_t           err;
} test_ctx_t;


static void
test_str_set(yibao_str_t *s, const char *v)
{
    s->len = strlen(v);
    s->data = (const unsigned char *) v;
}


static int
test_setup(void **state)
{
    test_ctx_t  *t;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);
    *state = t;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *t = *state;

    yibao_test_arena_free(&t->arena);
    free(t);

    return 0;
}


static void
test_use_csb(test_ctx_t *t)
{
    t->conf.scheme = YIBAO_SIGN_CSB;
    test_str_set(&t->key.ak, TEST_CSB_AK);
    test_str_set(&t->key.sk, TEST_CSB_SK);
    test_str_set(&t->in.infno, "1101");
    test_str_set(&t->in.body, "{\"infno\":\"1101\"}");
    t->in.now_ms = TEST_TS_MS;
}


static void
test_use_tif(test_ctx_t *t)
{
    t->conf.scheme = YIBAO_SIGN_TIF;
    test_str_set(&t->key.ak, "PAASID-TEST");
    test_str_set(&t->key.sk, TEST_TIF_TOKEN);
    test_str_set(&t->in.infno, "1101");
    test_str_set(&t->in.body, "{\"infno\":\"1101\"}");
    test_str_set(&t->in.nonce, TEST_TIF_NONCE);
    t->in.now_ms = TEST_TS_MS;
}


static void
test_use_zj(test_ctx_t *t)
{
    t->conf.scheme = YIBAO_SIGN_ZJ_SM3;
    test_str_set(&t->key.ak, TEST_ZJ_AK);
    test_str_set(&t->key.sk, TEST_ZJ_SK);
    test_str_set(&t->in.infno, "9001");
    test_str_set(&t->in.body, TEST_ZJ_BODY);
    t->in.now_ms = TEST_TS_MS;
}


static int
test_sign(test_ctx_t *t)
{
    memset(&t->err, 0, sizeof(yibao_err_t));

    return yibao_sign_headers(&t->conf, &t->key, &t->in, &t->alloc, &t->out,
                              &t->err);
}


/* Checks header i: name and value, both NUL-terminated. */

static void
test_header(test_ctx_t *t, size_t i, const char *name, const char *value)
{
    yibao_header_t  *h;

    assert_true(i < t->out.nheaders);
    h = &t->out.headers[i];

    assert_int_equal(h->name.len, strlen(name));
    assert_memory_equal(h->name.data, name, h->name.len);
    assert_int_equal(h->name.data[h->name.len], '\0');

    assert_int_equal(h->value.len, strlen(value));
    assert_memory_equal(h->value.data, value, h->value.len);
    assert_int_equal(h->value.data[h->value.len], '\0');
}


/* Fails with INVALID and a message naming what, never the secret. */

static void
test_invalid(test_ctx_t *t, const char *what)
{
    t->out.nheaders = 99;

    assert_int_equal(test_sign(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->out.nheaders, 0);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_SIGN_FAILED);
    assert_non_null(strstr(t->err.msg, what));

    if (t->key.sk.len != 0) {
        assert_null(strstr(t->err.msg, (const char *) t->key.sk.data));
    }
}


/*
 * A NOMEM sweep: failing each allocation in turn yields NOMEM and no
 * headers, until the function makes no more allocations and succeeds.
 * Returns the number of allocations a success makes.
 */

static size_t
test_nomem_sweep(test_ctx_t *t)
{
    int     rc;
    size_t  n;

    rc = YIBAO_ERR_NOMEM;

    for (n = 1; n < 100; n++) {
        yibao_test_arena_fail_at(&t->arena, n);
        t->out.nheaders = 99;

        rc = test_sign(t);

        if (rc == YIBAO_OK) {
            break;
        }

        assert_int_equal(rc, YIBAO_ERR_NOMEM);
        assert_int_equal(t->out.nheaders, 0);
        assert_int_equal(t->err.gwerr, YIBAO_GWERR_SIGN_FAILED);
        assert_non_null(strstr(t->err.msg, "out of memory"));
        assert_int_equal(t->arena.failed, n);
    }

    assert_int_equal(rc, YIBAO_OK);
    yibao_test_arena_fail_at(&t->arena, 0);

    return n - 1;
}


static void
test_scheme_parse(void **state)
{
    yibao_sign_scheme_e  s;

    (void) state;

    s = YIBAO_SIGN_CSB;
    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "none",
                                             4, &s),
                     YIBAO_OK);
    assert_int_equal(s, YIBAO_SIGN_NONE);

    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "csb",
                                             3, &s),
                     YIBAO_OK);
    assert_int_equal(s, YIBAO_SIGN_CSB);

    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "tif",
                                             3, &s),
                     YIBAO_OK);
    assert_int_equal(s, YIBAO_SIGN_TIF);

    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "zj-sm3",
                                             6, &s),
                     YIBAO_OK);
    assert_int_equal(s, YIBAO_SIGN_ZJ_SM3);

    /* the length, not a NUL, ends the name */
    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "tifx",
                                             3, &s),
                     YIBAO_OK);
    assert_int_equal(s, YIBAO_SIGN_TIF);
}


static void
test_scheme_parse_bad(void **state)
{
    size_t               i;
    yibao_sign_scheme_e  s;
    const char          *bad[] = { "", "CSB", "Tif", "zj_sm3", "zj-sm", "zj",
                                   "zj-sm3 ", " csb", "nonee", "hmac",
                                   "sm3" };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = YIBAO_SIGN_TIF;

        assert_int_equal(yibao_sign_scheme_parse((const unsigned char *)
                                                 bad[i], strlen(bad[i]), &s),
                         YIBAO_ERR_INVALID);
        assert_int_equal(s, YIBAO_SIGN_TIF);
    }

    assert_int_equal(yibao_sign_scheme_parse((const unsigned char *) "csb",
                                             2, &s),
                     YIBAO_ERR_INVALID);
    assert_int_equal(yibao_sign_scheme_parse(NULL, 3, &s),
                     YIBAO_ERR_INVALID);
}


static void
test_scheme_name(void **state)
{
    (void) state;

    assert_string_equal(yibao_sign_scheme_name(YIBAO_SIGN_NONE), "none");
    assert_string_equal(yibao_sign_scheme_name(YIBAO_SIGN_CSB), "csb");
    assert_string_equal(yibao_sign_scheme_name(YIBAO_SIGN_TIF), "tif");
    assert_string_equal(yibao_sign_scheme_name(YIBAO_SIGN_ZJ_SM3), "zj-sm3");
    assert_string_equal(yibao_sign_scheme_name((yibao_sign_scheme_e) 17),
                        "unknown");
}


static void
test_none(void **state)
{
    test_ctx_t  *t = *state;

    t->conf.scheme = YIBAO_SIGN_NONE;
    t->out.nheaders = 99;

    /* no key and no input are needed, nothing is allocated */

    assert_int_equal(yibao_sign_headers(&t->conf, NULL, NULL, &t->alloc,
                                        &t->out, &t->err),
                     YIBAO_OK);
    assert_int_equal(t->out.nheaders, 0);
    assert_int_equal(t->arena.calls, 0);
}


static void
test_unknown_scheme(void **state)
{
    test_ctx_t  *t = *state;

    test_use_csb(t);
    t->conf.scheme = (yibao_sign_scheme_e) 9;

    test_invalid(t, "unknown signing scheme 9");
}


static void
test_csb_string(void **state)
{
    test_ctx_t   *t = *state;

    yibao_str_t   ak = yibao_string(TEST_CSB_AK);
    yibao_str_t   name = yibao_string("1101");
    yibao_str_t   version = yibao_string("1.0.0");
    yibao_str_t  *s;

    s = yibao_sign_csb_string(&ak, &name, TEST_TS_MS, &version, &t->alloc);
    assert_non_null(s);
    assert_int_equal(s->len, sizeof(TEST_CSB_STR) - 1);
    assert_memory_equal(s->data, TEST_CSB_STR, s->len);
}


static void
test_csb_string_nomem(void **state)
{
    test_ctx_t   *t = *state;

    yibao_str_t   ak = yibao_string(TEST_CSB_AK);
    yibao_str_t   name = yibao_string("1101");
    yibao_str_t   version = yibao_string("1.0.0");

    yibao_test_arena_fail_at(&t->arena, 1);

    assert_null(yibao_sign_csb_string(&ak, &name, TEST_TS_MS, &version,
                                      &t->alloc));
    assert_int_equal(t->arena.failed, 1);
}


/* csb (Hunan, Jiangxi); api_version "" means 1.0.0 */

static void
test_csb_vector(void **state)
{
    test_ctx_t  *t = *state;

    test_use_csb(t);

    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_int_equal(t->out.nheaders, 5);

    test_header(t, 0, "_api_name", "1101");
    test_header(t, 1, "_api_version", "1.0.0");
    test_header(t, 2, "_api_timestamp", "1700000000000");
    test_header(t, 3, "_api_access_key", TEST_CSB_AK);
    test_header(t, 4, "_api_signature", TEST_CSB_SIG);
}


/* Jiangxi style: prefixed name, explicit version; openssl CLI value. */

static void
test_csb_prefix_version(void **state)
{
    test_ctx_t  *t = *state;

    test_use_csb(t);
    test_str_set(&t->conf.api_name_prefix, "hsa-fsi-");
    test_str_set(&t->conf.api_version, "2.0");
    test_str_set(&t->in.infno, "2207A");
    t->in.now_ms = TEST_TS_MS + 123;

    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_int_equal(t->out.nheaders, 5);

    test_header(t, 0, "_api_name", "hsa-fsi-2207A");
    test_header(t, 1, "_api_version", "2.0");
    test_header(t, 2, "_api_timestamp", "1700000000123");
    test_header(t, 3, "_api_access_key", TEST_CSB_AK);
    test_header(t, 4, "_api_signature", "He0lFad4WKAdBgBTb+UPsA37TDo=");
}


static void
test_csb_bad_infno(void **state)
{
    test_ctx_t  *t = *state;

    test_use_csb(t);

    test_str_set(&t->in.infno, "");
    test_invalid(t, "infno is empty");

    test_str_set(&t->in.infno, "1101\r\nX-Evil: 1");
    test_invalid(t, "0x0d at offset 4");

    test_str_set(&t->in.infno, "11 01");
    test_invalid(t, "0x20 at offset 2");
}


static void
test_csb_nomem(void **state)
{
    test_ctx_t  *t = *state;

    test_use_csb(t);

    /* name, string, then a name and a value for each of 5 headers */
    assert_int_equal(test_nomem_sweep(t), 12);

    assert_int_equal(t->out.nheaders, 5);
    test_header(t, 4, "_api_signature", TEST_CSB_SIG);
}


/* tif (Guangdong) */

static void
test_tif_vector(void **state)
{
    test_ctx_t  *t = *state;

    test_use_tif(t);

    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_int_equal(t->out.nheaders, 4);

    test_header(t, 0, "x-tif-paasid", "PAASID-TEST");
    test_header(t, 1, "x-tif-timestamp", "1700000000");
    test_header(t, 2, "x-tif-nonce", TEST_TIF_NONCE);
    test_header(t, 3, "x-tif-signature", TEST_TIF_SIG);
}


/* The timestamp is whole seconds: the milliseconds are dropped. */

static void
test_tif_seconds(void **state)
{
    test_ctx_t  *t = *state;

    test_use_tif(t);
    t->in.now_ms = TEST_TS_MS + 999;

    assert_int_equal(test_sign(t), YIBAO_OK);
    test_header(t, 1, "x-tif-timestamp", "1700000000");
    test_header(t, 3, "x-tif-signature", TEST_TIF_SIG);

    t->in.now_ms = TEST_TS_MS + 1000;

    assert_int_equal(test_sign(t), YIBAO_OK);
    test_header(t, 1, "x-tif-timestamp", "1700000001");
    assert_memory_not_equal(t->out.headers[3].value.data, TEST_TIF_SIG, 64);
}


/* The token is hashed from a pool buffer, which is wiped afterwards. */

static void
test_tif_token_wiped(void **state)
{
    test_ctx_t  *t = *state;

    test_use_tif(t);

    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_true(t->arena.live > 0);
    assert_false(yibao_test_arena_contains(&t->arena, TEST_TIF_TOKEN,
                                           sizeof(TEST_TIF_TOKEN) - 1));

    /* the check can see what is there */
    assert_true(yibao_test_arena_contains(&t->arena, TEST_TIF_NONCE,
                                          sizeof(TEST_TIF_NONCE) - 1));
}


static void
test_tif_nonce(void **state)
{
    test_ctx_t  *t = *state;

    static const char  n64[] = "0123456789abcdefghijklmnopqrstuv"
                               "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
    static const char  n65[] = "0123456789abcdefghijklmnopqrstuv"
                               "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012";

    test_use_tif(t);

    test_str_set(&t->in.nonce, n64);
    assert_int_equal(test_sign(t), YIBAO_OK);
    test_header(t, 2, "x-tif-nonce", n64);

    test_str_set(&t->in.nonce, "ABCDEFGHIJKLMNOP");
    assert_int_equal(test_sign(t), YIBAO_OK);

    test_str_set(&t->in.nonce, n65);
    test_invalid(t, "got 65 bytes");

    test_str_set(&t->in.nonce, "abcdef012345678");
    test_invalid(t, "got 15 bytes");

    test_str_set(&t->in.nonce, "");
    test_invalid(t, "x-tif-nonce");

    test_str_set(&t->in.nonce, "abcdef-123456789");
    test_invalid(t, "x-tif-nonce");

    test_str_set(&t->in.nonce, "abcdef 123456789");
    test_invalid(t, "x-tif-nonce");

    test_str_set(&t->in.nonce, "abcdef\xc3\xa9" "23456789");
    test_invalid(t, "x-tif-nonce");
}


static void
test_tif_nomem(void **state)
{
    test_ctx_t  *t = *state;

    test_use_tif(t);

    /* the hash buffer, then a name and a value for each of 4 headers */
    assert_int_equal(test_nomem_sweep(t), 9);
}


/* zj-sm3 (Zhejiang) */

static void
test_zj_vector(void **state)
{
    test_ctx_t  *t = *state;

    test_use_zj(t);

    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_int_equal(t->out.nheaders, 2);

    test_header(t, 0, "x-ca-key", TEST_ZJ_AK);
    test_header(t, 1, "x-ca-signature", TEST_ZJ_SIG);
}


/* The body is inside the MAC; an empty one too (openssl CLI value). */

static void
test_zj_body(void **state)
{
    test_ctx_t  *t = *state;

    test_use_zj(t);

    test_str_set(&t->in.body, "{\"infno\":\"9002\"}");
    assert_int_equal(test_sign(t), YIBAO_OK);
    assert_int_equal(t->out.headers[1].value.len, sizeof(TEST_ZJ_SIG) - 1);
    assert_memory_not_equal(t->out.headers[1].value.data, TEST_ZJ_SIG,
                            sizeof(TEST_ZJ_SIG) - 1);

    test_str_set(&t->in.body, "");
    assert_int_equal(test_sign(t), YIBAO_OK);
    test_header(t, 1, "x-ca-signature",
                "1700000000:7C7E90DCF3FC6F3C8E7C7EF4C5CF43D1"
                "2CD07F5F007720668EDAA64BFDCFAC30");
}


static void
test_zj_nomem(void **state)
{
    test_ctx_t  *t = *state;

    test_use_zj(t);

    assert_int_equal(test_nomem_sweep(t), 5);
    test_header(t, 1, "x-ca-signature", TEST_ZJ_SIG);
}


static void
test_missing_key(void **state)
{
    size_t       i;
    test_ctx_t  *t = *state;

    void       (*use[])(test_ctx_t *) = { test_use_csb, test_use_tif,
                                          test_use_zj };

    for (i = 0; i < sizeof(use) / sizeof(use[0]); i++) {
        use[i](t);
        t->key.ak.len = 0;
        test_invalid(t, "no access key (AK)");

        use[i](t);
        t->key.ak.data = NULL;
        test_invalid(t, "no access key (AK)");

        use[i](t);
        t->key.sk.len = 0;
        test_invalid(t, "no secret (SK)");

        use[i](t);
        t->key.sk.data = NULL;
        t->key.sk.len = 0;
        test_invalid(t, "no secret (SK)");

        use[i](t);
        t->out.nheaders = 99;
        assert_int_equal(yibao_sign_headers(&t->conf, NULL, &t->in,
                                            &t->alloc, &t->out, &t->err),
                         YIBAO_ERR_INVALID);
        assert_int_equal(t->out.nheaders, 0);
        assert_non_null(strstr(t->err.msg, "no access key (AK)"));

        /* the scheme is named */
        assert_non_null(strstr(t->err.msg,
                               yibao_sign_scheme_name(t->conf.scheme)));
    }
}


static void
test_bad_input(void **state)
{
    test_ctx_t  *t = *state;

    test_use_zj(t);
    t->in.now_ms = -1;
    test_invalid(t, "before the epoch");

    test_use_zj(t);
    t->in.body.data = NULL;
    test_invalid(t, "no bytes");

    test_use_tif(t);
    t->out.nheaders = 99;
    assert_int_equal(yibao_sign_headers(&t->conf, &t->key, NULL, &t->alloc,
                                        &t->out, &t->err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(t->out.nheaders, 0);
    assert_non_null(strstr(t->err.msg, "no request"));
}


/* Error messages never carry the secret, whatever fails. */

static void
test_no_secret_in_errors(void **state)
{
    test_ctx_t  *t = *state;

    test_use_tif(t);
    test_str_set(&t->in.nonce, "short");
    test_invalid(t, "x-tif-nonce");
    assert_null(strstr(t->err.msg, TEST_TIF_TOKEN));

    test_use_csb(t);
    yibao_test_arena_fail_at(&t->arena, 3);
    assert_int_equal(test_sign(t), YIBAO_ERR_NOMEM);
    assert_null(strstr(t->err.msg, TEST_CSB_SK));
    assert_non_null(strstr(t->err.msg, "csb"));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_scheme_parse),
        cmocka_unit_test(test_scheme_parse_bad),
        cmocka_unit_test(test_scheme_name),
        cmocka_unit_test_setup_teardown(test_none, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_scheme, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_string, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_string_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_vector, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_prefix_version, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_bad_infno, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_csb_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tif_vector, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tif_seconds, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tif_token_wiped, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tif_nonce, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_tif_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_zj_vector, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_zj_body, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_zj_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_missing_key, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_in_errors, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
