/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_auth.h"
#include "yibao_gwerr.h"


/*
 * The vector, computed independently with the openssl CLI:
 *
 *   B=$(printf '%s' "$BODY" | openssl dgst -sha256 -r | cut -d' ' -f1)
 *   printf 'POST\n/yibao/api/1101\n1700000000\n'\
 *          'Nonce0123456789abcdefXYZ\n%s' "$B" \
 *   | openssl dgst -sha256 -hmac 'CALLERSECRET-test-0001'
 */

#define TEST_SECRET  "CALLERSECRET-test-0001"
#define TEST_METHOD  "POST"
#define TEST_PATH    "/yibao/api/1101"
#define TEST_TS      "1700000000"
#define TEST_NONCE   "Nonce0123456789abcdefXYZ"
#define TEST_BODY    "{\"infno\":\"1101\"," \
                     "\"msgid\":\"H43010000001202311150000000001\"}"
#define TEST_SIG     "ed2613837280c2852bede36d638d58c5" \
                     "bacb608bd0d9fda2b87a3f12072f2082"
#define TEST_SIG_UC  "ED2613837280C2852BEDE36D638D58C5" \
                     "BACB608BD0D9FDA2B87A3F12072F2082"

#define TEST_NOW     INT64_C(1700000000)
#define TEST_WINDOW  INT64_C(300)


static void
test_str_set(yibao_str_t *s, const char *v)
{
    s->len = strlen(v);
    s->data = (const unsigned char *) v;
}


static void
test_request(yibao_auth_request_t *req)
{
    test_str_set(&req->method, TEST_METHOD);
    test_str_set(&req->path, TEST_PATH);
    test_str_set(&req->timestamp, TEST_TS);
    test_str_set(&req->nonce, TEST_NONCE);
    test_str_set(&req->body, TEST_BODY);
}


/* Verifies sig for req under secret; the err is returned to look at. */

static int
test_verify(const char *secret, yibao_auth_request_t *req, const char *sig,
    yibao_err_t *err)
{
    yibao_str_t  s, sg;

    test_str_set(&s, secret);
    test_str_set(&sg, sig);
    memset(err, 0, sizeof(yibao_err_t));

    return yibao_auth_verify(&s, req, &sg, err);
}


static void
test_denied(const char *secret, yibao_auth_request_t *req, const char *sig,
    const char *msg)
{
    yibao_err_t  err;

    assert_int_equal(test_verify(secret, req, sig, &err), YIBAO_ERR_DENIED);
    assert_int_equal(err.gwerr, YIBAO_GWERR_AUTH_SIGNATURE);
    assert_non_null(strstr(err.msg, msg));
    assert_null(strstr(err.msg, secret));
}


static int
test_fresh(yibao_auth_request_t *req, int64_t now, int64_t window,
    int64_t *ts, yibao_err_t *err)
{
    memset(err, 0, sizeof(yibao_err_t));
    *ts = -7;

    return yibao_auth_check_fresh(req, now, window, ts, err);
}


static void
test_stale(yibao_auth_request_t *req, int64_t now, int64_t window,
    int gwerr, const char *msg)
{
    int64_t      ts;
    yibao_err_t  err;

    assert_int_equal(test_fresh(req, now, window, &ts, &err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(err.gwerr, gwerr);
    assert_non_null(strstr(err.msg, msg));

    /* *ts is left alone on failure */
    assert_int_equal(ts, -7);
}


static void
test_sign_vector(void **state)
{
    char                  out[YIBAO_AUTH_SIG_HEX_LEN + 1];
    yibao_str_t           secret = yibao_string(TEST_SECRET);
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(yibao_auth_sign(&secret, &req, out), YIBAO_OK);
    assert_string_equal(out, TEST_SIG);
}


/*
 * Empty body and a short key:
 *   printf 'GET\n/\n0\n0000000000000000\n%s' "$(printf '' |
 *   openssl dgst -sha256 -r | cut -d' ' -f1)" | openssl dgst -sha256 -hmac k
 */

static void
test_sign_empty_body(void **state)
{
    char                  out[YIBAO_AUTH_SIG_HEX_LEN + 1];
    yibao_str_t           secret = yibao_string("k");
    yibao_auth_request_t  req;

    (void) state;

    test_str_set(&req.method, "GET");
    test_str_set(&req.path, "/");
    test_str_set(&req.timestamp, "0");
    test_str_set(&req.nonce, "0000000000000000");
    req.body.len = 0;
    req.body.data = NULL;

    assert_int_equal(yibao_auth_sign(&secret, &req, out), YIBAO_OK);
    assert_string_equal(out, "122f42f656bf280bdfefa49ae557f25d"
                             "52c84ec3973d0b165b86f577f90194d9");
}


/*
 * A path of 2006 bytes does not fit the stack buffer (openssl CLI, with
 * P="/yibao/" followed by 2000 'p'):
 *   printf 'POST\n%s\n1700000000\nNonce0123456789abcdefXYZ\n%s' "$P" "$B"
 */

static void
test_sign_long_path(void **state)
{
    char                  out[YIBAO_AUTH_SIG_HEX_LEN + 1];
    char                 *path;
    yibao_str_t           secret = yibao_string(TEST_SECRET);
    yibao_auth_request_t  req;

    (void) state;

    path = malloc(7 + 2000 + 1);
    assert_non_null(path);
    memcpy(path, "/yibao/", 7);
    memset(path + 7, 'p', 2000);
    path[7 + 2000] = '\0';

    test_request(&req);
    test_str_set(&req.path, path);

    assert_int_equal(yibao_auth_sign(&secret, &req, out), YIBAO_OK);
    assert_string_equal(out, "1f382adb7f7b98d8ef11fb4a127f95f9"
                             "df0a6b0b15a9411454582a9c753fc894");

    free(path);
}


static void
test_sign_empty_secret(void **state)
{
    char                  out[YIBAO_AUTH_SIG_HEX_LEN + 1];
    yibao_str_t           secret = yibao_string("");
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(yibao_auth_sign(&secret, &req, out), YIBAO_ERR_CRYPTO);
    assert_int_equal(yibao_auth_sign(NULL, &req, out), YIBAO_ERR_CRYPTO);

    /* no secret, no pass: even an empty-key HMAC is refused */
    assert_int_equal(test_verify("", &req, TEST_SIG, &err),
                     YIBAO_ERR_CRYPTO);
    assert_int_equal(err.gwerr, YIBAO_GWERR_INTERNAL);

    /* a field with a length but no bytes */
    req.body.data = NULL;
    assert_int_equal(test_verify(TEST_SECRET, &req, TEST_SIG, &err),
                     YIBAO_ERR_CRYPTO);
}


static void
test_verify_ok(void **state)
{
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(test_verify(TEST_SECRET, &req, TEST_SIG, &err),
                     YIBAO_OK);
}


static void
test_verify_uppercase(void **state)
{
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(test_verify(TEST_SECRET, &req, TEST_SIG_UC, &err),
                     YIBAO_OK);

    /* mixed case too */
    assert_int_equal(test_verify(TEST_SECRET, &req,
                                 "ED2613837280c2852bede36d638d58c5"
                                 "bacb608bd0d9fda2b87a3f12072F2082", &err),
                     YIBAO_OK);
}


static void
test_verify_wrong_secret(void **state)
{
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    test_denied("CALLERSECRET-test-0002", &req, TEST_SIG,
                "X-Yibao-Signature does not match");
    test_denied("CALLERSECRET-test-000", &req, TEST_SIG,
                "X-Yibao-Signature does not match");
}


static void
test_verify_tampered(void **state)
{
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);
    test_str_set(&req.body, "{\"infno\":\"1101\","
                            "\"msgid\":\"H43010000001202311150000000002\"}");
    test_denied(TEST_SECRET, &req, TEST_SIG,
                "X-Yibao-Signature does not match");

    test_request(&req);
    test_str_set(&req.path, "/yibao/api/1102");
    test_denied(TEST_SECRET, &req, TEST_SIG, "does not match");

    test_request(&req);
    test_str_set(&req.method, "PUT");
    test_denied(TEST_SECRET, &req, TEST_SIG, "does not match");

    test_request(&req);
    test_str_set(&req.timestamp, "1700000001");
    test_denied(TEST_SECRET, &req, TEST_SIG, "does not match");

    test_request(&req);
    test_str_set(&req.nonce, "Nonce0123456789abcdefXYz");
    test_denied(TEST_SECRET, &req, TEST_SIG, "does not match");

    /* one digit of the signature off */
    test_request(&req);
    test_denied(TEST_SECRET, &req,
                "ed2613837280c2852bede36d638d58c5"
                "bacb608bd0d9fda2b87a3f12072f2083",
                "does not match");
}


static void
test_verify_malformed(void **state)
{
    yibao_err_t           err;
    yibao_str_t           secret = yibao_string(TEST_SECRET);
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    /* 63 and 65 characters */
    test_denied(TEST_SECRET, &req,
                "ed2613837280c2852bede36d638d58c5"
                "bacb608bd0d9fda2b87a3f12072f208",
                "got 63 bytes");
    test_denied(TEST_SECRET, &req, TEST_SIG "0", "got 65 bytes");
    test_denied(TEST_SECRET, &req, "", "got 0 bytes");

    /* 64 characters, not all hex */
    test_denied(TEST_SECRET, &req,
                "ed2613837280c2852bede36d638d58c5"
                "bacb608bd0d9fda2b87a3f12072f208g",
                "byte 64 is not a hex digit");
    test_denied(TEST_SECRET, &req,
                " d2613837280c2852bede36d638d58c5"
                "bacb608bd0d9fda2b87a3f12072f2082",
                "byte 1 is not a hex digit");

    memset(&err, 0, sizeof(yibao_err_t));
    assert_int_equal(yibao_auth_verify(&secret, &req, NULL, &err),
                     YIBAO_ERR_DENIED);
    assert_int_equal(err.gwerr, YIBAO_GWERR_AUTH_SIGNATURE);
}


static void
test_fresh_ok(void **state)
{
    int64_t               ts;
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(test_fresh(&req, TEST_NOW, TEST_WINDOW, &ts, &err),
                     YIBAO_OK);
    assert_int_equal(ts, TEST_NOW);

    test_str_set(&req.timestamp, "0");
    assert_int_equal(test_fresh(&req, 0, 0, &ts, &err), YIBAO_OK);
    assert_int_equal(ts, 0);

    /* 12 digits, leading zeros */
    test_str_set(&req.timestamp, "999999999999");
    assert_int_equal(test_fresh(&req, INT64_C(999999999999), 0, &ts, &err),
                     YIBAO_OK);
    assert_int_equal(ts, INT64_C(999999999999));

    test_str_set(&req.timestamp, "000000000042");
    assert_int_equal(test_fresh(&req, 40, 2, &ts, &err), YIBAO_OK);
    assert_int_equal(ts, 42);
}


static void
test_fresh_window_edge(void **state)
{
    int64_t               ts;
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    /* the caller is behind: exactly the window, then one second more */

    assert_int_equal(test_fresh(&req, TEST_NOW + TEST_WINDOW, TEST_WINDOW,
                                &ts, &err),
                     YIBAO_OK);
    assert_int_equal(ts, TEST_NOW);

    test_stale(&req, TEST_NOW + TEST_WINDOW + 1, TEST_WINDOW,
               YIBAO_GWERR_AUTH_TIMESTAMP,
               "X-Yibao-Timestamp 1700000000 is 301 s away from the gateway "
               "clock (window 300 s)");

    /* the caller is ahead */

    assert_int_equal(test_fresh(&req, TEST_NOW - TEST_WINDOW, TEST_WINDOW,
                                &ts, &err),
                     YIBAO_OK);

    test_stale(&req, TEST_NOW - TEST_WINDOW - 1, TEST_WINDOW,
               YIBAO_GWERR_AUTH_TIMESTAMP, "is 301 s away");
}


static void
test_fresh_message(void **state)
{
    int64_t               ts;
    yibao_err_t           err;
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    assert_int_equal(test_fresh(&req, TEST_NOW + 400, TEST_WINDOW, &ts,
                                &err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(err.gwerr, YIBAO_GWERR_AUTH_TIMESTAMP);
    assert_string_equal(err.msg,
                        "X-Yibao-Timestamp 1700000000 is 400 s away from "
                        "the gateway clock (window 300 s)");
}


static void
test_fresh_extreme_clock(void **state)
{
    yibao_auth_request_t  req;

    (void) state;

    test_request(&req);

    /* no overflow (UBSan watches) and no wrap-around into the window */

    test_stale(&req, INT64_MIN, INT64_MAX, YIBAO_GWERR_AUTH_TIMESTAMP,
               "is 9223372038554775808 s away");
    test_stale(&req, INT64_MAX, TEST_WINDOW, YIBAO_GWERR_AUTH_TIMESTAMP,
               "s away");
    test_stale(&req, TEST_NOW, -1, YIBAO_GWERR_AUTH_TIMESTAMP,
               "is 0 s away");
}


static void
test_fresh_bad_timestamp(void **state)
{
    size_t                i;
    yibao_auth_request_t  req;
    const char           *bad[] = { "", "1700000000000", "17000000a0",
                                    "-1700000000", "+1700000000",
                                    " 1700000000", "1700000000 ",
                                    "1.7e9", "0x65538c00",
                                    "17000000\xef\xbc\x90" };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        test_request(&req);
        test_str_set(&req.timestamp, bad[i]);

        test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_TIMESTAMP,
                   "X-Yibao-Timestamp must be");
    }

    test_request(&req);
    test_str_set(&req.timestamp, "1700000000000");
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_TIMESTAMP,
               "1 to 12 decimal digits, got 13 bytes");

    req.timestamp.len = 10;
    req.timestamp.data = NULL;
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_TIMESTAMP,
               "X-Yibao-Timestamp must be");
}


static void
test_fresh_nonce(void **state)
{
    size_t                i;
    int64_t               ts;
    yibao_err_t           err;
    yibao_auth_request_t  req;
    static const char     n16[] = "0123456789abcdef";
    static const char     n64[] = "0123456789abcdefghijklmnopqrstuv"
                                  "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
    static const char     n65[] = "0123456789abcdefghijklmnopqrstuv"
                                  "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012";
    const char           *bad[] = { "0123456789abcde-", "0123456789abcde_",
                                    "0123456789 abcdef", "0123456789abcde=",
                                    "0123456789abcde\xc3\xa9",
                                    "0123456789abcdef\n" };

    (void) state;

    test_request(&req);

    test_str_set(&req.nonce, n16);
    assert_int_equal(test_fresh(&req, TEST_NOW, TEST_WINDOW, &ts, &err),
                     YIBAO_OK);

    test_str_set(&req.nonce, n64);
    assert_int_equal(test_fresh(&req, TEST_NOW, TEST_WINDOW, &ts, &err),
                     YIBAO_OK);

    /* 15 and 65 characters */

    req.nonce.len = 15;
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_NONCE_FORMAT,
               "X-Yibao-Nonce must be 16 to 64 characters of [A-Za-z0-9], "
               "got 15 bytes");

    test_str_set(&req.nonce, n65);
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_NONCE_FORMAT,
               "got 65 bytes");

    test_str_set(&req.nonce, "");
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_NONCE_FORMAT,
               "got 0 bytes");

    /* characters outside [A-Za-z0-9] */

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        test_str_set(&req.nonce, bad[i]);
        test_stale(&req, TEST_NOW, TEST_WINDOW,
                   YIBAO_GWERR_AUTH_NONCE_FORMAT, "X-Yibao-Nonce must be");
    }

    test_str_set(&req.nonce, "0123456789abcde-");
    test_stale(&req, TEST_NOW, TEST_WINDOW, YIBAO_GWERR_AUTH_NONCE_FORMAT,
               "byte 16 is not");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sign_vector),
        cmocka_unit_test(test_sign_empty_body),
        cmocka_unit_test(test_sign_long_path),
        cmocka_unit_test(test_sign_empty_secret),
        cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_verify_uppercase),
        cmocka_unit_test(test_verify_wrong_secret),
        cmocka_unit_test(test_verify_tampered),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_fresh_ok),
        cmocka_unit_test(test_fresh_window_edge),
        cmocka_unit_test(test_fresh_message),
        cmocka_unit_test(test_fresh_extreme_clock),
        cmocka_unit_test(test_fresh_bad_timestamp),
        cmocka_unit_test(test_fresh_nonce),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
