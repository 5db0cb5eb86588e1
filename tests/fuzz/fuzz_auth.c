/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The caller-signature check: yibao_auth_check_fresh() and
 * yibao_auth_verify() on fuzzed headers and body, and the agreement
 * of yibao_auth_sign() with yibao_auth_verify().
 *
 * Input: 8 bytes of now_sec and 8 bytes of window_sec (little-endian,
 * signed), then secret RS method RS path RS timestamp RS nonce RS body
 * RS signature (RS is 0x1e; missing parts are empty).
 */

#include <ctype.h>
#include <strings.h>

#include "yibao_auth.h"
#include "yibao_gwerr.h"
#include "yibao_fuzz.h"


#define FUZZ_PARTS  7


static void fuzz_fresh(const yibao_auth_request_t *req, int64_t now_sec,
    int64_t window_sec);
static void fuzz_verify(const yibao_str_t *secret,
    const yibao_auth_request_t *req, const yibao_str_t *sig);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 i, n;
    int64_t                now_sec, window_sec;
    yibao_str_t            parts[FUZZ_PARTS];
    unsigned char         *copies[FUZZ_PARTS];
    yibao_auth_request_t   req;

    now_sec = (int64_t) yibao_fuzz_take_u64(&data, &size, 8);
    window_sec = (int64_t) yibao_fuzz_take_u64(&data, &size, 8);

    memset(parts, 0, sizeof(parts));
    n = yibao_fuzz_split(data, size, parts, FUZZ_PARTS);

    for (i = 0; i < FUZZ_PARTS; i++) {
        copies[i] = i < n ? yibao_fuzz_copy(&parts[i]) : NULL;

        /* an empty part is the null string {0, NULL} */
        parts[i].data = parts[i].len ? copies[i] : NULL;
    }

    req.method = parts[1];
    req.path = parts[2];
    req.timestamp = parts[3];
    req.nonce = parts[4];
    req.body = parts[5];

    fuzz_fresh(&req, now_sec, window_sec);
    fuzz_verify(&parts[0], &req, &parts[6]);

    for (i = 0; i < FUZZ_PARTS; i++) {
        free(copies[i]);
    }

    return 0;
}


static void
fuzz_fresh(const yibao_auth_request_t *req, int64_t now_sec,
    int64_t window_sec)
{
    int           rc;
    size_t        i;
    int64_t       ts;
    yibao_err_t   err;

    memset(&err, 0, sizeof(yibao_err_t));
    ts = -1;

    rc = yibao_auth_check_fresh(req, now_sec, window_sec, &ts, &err);

    if (rc != YIBAO_OK) {
        yibao_fuzz_assert(rc == YIBAO_ERR_INVALID);
        yibao_fuzz_assert(err.gwerr == YIBAO_GWERR_AUTH_TIMESTAMP
                          || err.gwerr == YIBAO_GWERR_AUTH_NONCE_FORMAT);
        yibao_fuzz_assert(ts == -1);
        return;
    }

    yibao_fuzz_assert(req->timestamp.len >= 1
                      && req->timestamp.len <= 12);

    for (i = 0; i < req->timestamp.len; i++) {
        yibao_fuzz_assert(isdigit(req->timestamp.data[i]));
    }

    yibao_fuzz_assert(req->nonce.len >= YIBAO_AUTH_NONCE_MIN
                      && req->nonce.len <= YIBAO_AUTH_NONCE_MAX);

    for (i = 0; i < req->nonce.len; i++) {
        yibao_fuzz_assert(isalnum(req->nonce.data[i]));
    }

    /* ts is within the window around now */

    yibao_fuzz_assert(ts >= 0 && ts < 1000000000000LL && window_sec >= 0);
    yibao_fuzz_assert(ts >= now_sec
                      ? (uint64_t) ts - (uint64_t) now_sec
                        <= (uint64_t) window_sec
                      : (uint64_t) now_sec - (uint64_t) ts
                        <= (uint64_t) window_sec);
}


static void
fuzz_verify(const yibao_str_t *secret, const yibao_auth_request_t *req,
    const yibao_str_t *sig)
{
    int           rc;
    char          good[YIBAO_AUTH_SIG_HEX_LEN + 1];
    size_t        i;
    yibao_err_t   err;
    yibao_str_t   s;

    memset(&err, 0, sizeof(yibao_err_t));

    rc = yibao_auth_verify(secret, req, sig, &err);
    yibao_fuzz_assert(rc == YIBAO_OK || rc == YIBAO_ERR_DENIED
                      || rc == YIBAO_ERR_CRYPTO);

    if (yibao_auth_sign(secret, req, good) != YIBAO_OK) {
        /* only an empty secret cannot sign */
        yibao_fuzz_assert(secret->len == 0);
        yibao_fuzz_assert(rc != YIBAO_OK);
        return;
    }

    yibao_fuzz_assert(strlen(good) == YIBAO_AUTH_SIG_HEX_LEN);

    /* the fuzzed signature passes only if it is the right one */

    if (rc == YIBAO_OK) {
        yibao_fuzz_assert(sig->len == YIBAO_AUTH_SIG_HEX_LEN);
        yibao_fuzz_assert(strncasecmp((const char *) sig->data, good,
                                      YIBAO_AUTH_SIG_HEX_LEN) == 0);
    }

    s.data = (const unsigned char *) good;
    s.len = YIBAO_AUTH_SIG_HEX_LEN;

    yibao_fuzz_assert(yibao_auth_verify(secret, req, &s, &err) == YIBAO_OK);

    for (i = 0; i < YIBAO_AUTH_SIG_HEX_LEN; i++) {
        good[i] = (char) toupper((unsigned char) good[i]);
    }

    yibao_fuzz_assert(yibao_auth_verify(secret, req, &s, &err) == YIBAO_OK);

    /* one digit off is refused */

    good[7] = good[7] == '0' ? '1' : '0';

    yibao_fuzz_assert(yibao_auth_verify(secret, req, &s, &err)
                      == YIBAO_ERR_DENIED);
    yibao_fuzz_assert(err.gwerr == YIBAO_GWERR_AUTH_SIGNATURE);
}
