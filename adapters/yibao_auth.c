/*
 * Copyright (C) yibao-gateway authors
 */


#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "yibao_auth.h"
#include "yibao_codes.h"
#include "yibao_crypto.h"
#include "yibao_gwerr.h"


#define YIBAO_AUTH_TS_MAX_DIGITS  12

/*
 * The string to sign is built on the stack when it fits, which it does
 * for any sane method and path; longer ones go through malloc().
 */
#define YIBAO_AUTH_STACK_BUF  1024


static unsigned char *yibao_auth_cat(unsigned char *p, const yibao_str_t *s);
static int yibao_auth_str_valid(const yibao_str_t *s);


int
yibao_auth_check_fresh(const yibao_auth_request_t *req, int64_t now_sec,
    int64_t window_sec, int64_t *ts, yibao_err_t *err)
{
    size_t         i;
    int64_t        v;
    uint64_t       diff;
    unsigned char  c;

    if (req->timestamp.len == 0
        || req->timestamp.len > YIBAO_AUTH_TS_MAX_DIGITS
        || req->timestamp.data == NULL)
    {
        yibao_err_set(err, YIBAO_GWERR_AUTH_TIMESTAMP,
                      "X-Yibao-Timestamp must be 1 to %d decimal digits, "
                      "got %zu bytes",
                      YIBAO_AUTH_TS_MAX_DIGITS, req->timestamp.len);
        return YIBAO_ERR_INVALID;
    }

    v = 0;

    for (i = 0; i < req->timestamp.len; i++) {
        c = req->timestamp.data[i];

        if (c < '0' || c > '9') {
            yibao_err_set(err, YIBAO_GWERR_AUTH_TIMESTAMP,
                          "X-Yibao-Timestamp must be decimal digits only, "
                          "byte %zu is not a digit", i + 1);
            return YIBAO_ERR_INVALID;
        }

        v = v * 10 + (c - '0');
    }

    if (req->nonce.len < YIBAO_AUTH_NONCE_MIN
        || req->nonce.len > YIBAO_AUTH_NONCE_MAX
        || req->nonce.data == NULL)
    {
        yibao_err_set(err, YIBAO_GWERR_AUTH_NONCE_FORMAT,
                      "X-Yibao-Nonce must be %d to %d characters of "
                      "[A-Za-z0-9], got %zu bytes",
                      YIBAO_AUTH_NONCE_MIN, YIBAO_AUTH_NONCE_MAX,
                      req->nonce.len);
        return YIBAO_ERR_INVALID;
    }

    i = yibao_code_alnum_span(req->nonce.data, req->nonce.len);

    if (i != req->nonce.len) {
        yibao_err_set(err, YIBAO_GWERR_AUTH_NONCE_FORMAT,
                      "X-Yibao-Nonce must be characters of [A-Za-z0-9] "
                      "only, byte %zu is not", i + 1);
        return YIBAO_ERR_INVALID;
    }

    /* v is in 0..10^12 - 1: the distance fits in a uint64_t */

    if (v >= now_sec) {
        diff = (uint64_t) v - (uint64_t) now_sec;

    } else {
        diff = (uint64_t) now_sec - (uint64_t) v;
    }

    if (window_sec < 0 || diff > (uint64_t) window_sec) {
        yibao_err_set(err, YIBAO_GWERR_AUTH_TIMESTAMP,
                      "X-Yibao-Timestamp %" PRId64 " is %" PRIu64 " s away "
                      "from the gateway clock (window %" PRId64 " s)",
                      v, diff, window_sec);
        return YIBAO_ERR_INVALID;
    }

    *ts = v;

    return YIBAO_OK;
}


int
yibao_auth_sign(const yibao_str_t *secret, const yibao_auth_request_t *req,
    char out[YIBAO_AUTH_SIG_HEX_LEN + 1])
{
    int             rc;
    char            body_hex[2 * YIBAO_MD_MAX_SIZE + 1];
    size_t          len, md_len;
    yibao_str_t     hex;
    unsigned char  *buf, *p;
    unsigned char   md[YIBAO_MD_MAX_SIZE];
    unsigned char   stack[YIBAO_AUTH_STACK_BUF];

    /* an empty secret would let anyone sign: refuse it */

    if (secret == NULL || secret->len == 0 || secret->data == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    if (!yibao_auth_str_valid(&req->method)
        || !yibao_auth_str_valid(&req->path)
        || !yibao_auth_str_valid(&req->timestamp)
        || !yibao_auth_str_valid(&req->nonce)
        || !yibao_auth_str_valid(&req->body))
    {
        return YIBAO_ERR_CRYPTO;
    }

    rc = yibao_digest(YIBAO_MD_SHA256, req->body.data, req->body.len, md,
                      &md_len);
    if (rc != YIBAO_OK) {
        return rc;
    }

    yibao_hex_encode(md, md_len, body_hex, 0);

    hex.len = 2 * md_len;
    hex.data = (const unsigned char *) body_hex;

    len = req->method.len + 1 + req->path.len + 1 + req->timestamp.len + 1
          + req->nonce.len + 1 + hex.len;

    if (len <= sizeof(stack)) {
        buf = stack;

    } else {
        buf = malloc(len);
        if (buf == NULL) {
            return YIBAO_ERR_CRYPTO;
        }
    }

    p = yibao_auth_cat(buf, &req->method);
    *p++ = '\n';
    p = yibao_auth_cat(p, &req->path);
    *p++ = '\n';
    p = yibao_auth_cat(p, &req->timestamp);
    *p++ = '\n';
    p = yibao_auth_cat(p, &req->nonce);
    *p++ = '\n';
    (void) yibao_auth_cat(p, &hex);

    rc = yibao_hmac(YIBAO_MD_SHA256, secret->data, secret->len, buf, len, md,
                    &md_len);

    if (buf != stack) {
        free(buf);
    }

    if (rc != YIBAO_OK) {
        return rc;
    }

    if (md_len != YIBAO_AUTH_SIG_HEX_LEN / 2) {
        return YIBAO_ERR_CRYPTO;
    }

    yibao_hex_encode(md, md_len, out, 0);

    return YIBAO_OK;
}


int
yibao_auth_verify(const yibao_str_t *secret, const yibao_auth_request_t *req,
    const yibao_str_t *signature, yibao_err_t *err)
{
    int            rc;
    char           expected[YIBAO_AUTH_SIG_HEX_LEN + 1];
    size_t         i;
    unsigned char  c;
    unsigned char  got[YIBAO_AUTH_SIG_HEX_LEN];

    if (signature == NULL
        || signature->len != YIBAO_AUTH_SIG_HEX_LEN
        || signature->data == NULL)
    {
        yibao_err_set(err, YIBAO_GWERR_AUTH_SIGNATURE,
                      "X-Yibao-Signature is malformed: expected %d hex "
                      "digits, got %zu bytes",
                      YIBAO_AUTH_SIG_HEX_LEN,
                      signature != NULL ? signature->len : 0);
        return YIBAO_ERR_DENIED;
    }

    for (i = 0; i < YIBAO_AUTH_SIG_HEX_LEN; i++) {
        c = signature->data[i];

        if (c >= 'A' && c <= 'F') {
            c = (unsigned char) (c + ('a' - 'A'));

        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            yibao_err_set(err, YIBAO_GWERR_AUTH_SIGNATURE,
                          "X-Yibao-Signature is malformed: byte %zu is not "
                          "a hex digit", i + 1);
            return YIBAO_ERR_DENIED;
        }

        got[i] = c;
    }

    rc = yibao_auth_sign(secret, req, expected);
    if (rc != YIBAO_OK) {
        yibao_err_set(err, YIBAO_GWERR_INTERNAL,
                      "cannot compute the expected X-Yibao-Signature "
                      "(empty caller secret or libcrypto failure)");
        return rc;
    }

    rc = yibao_secure_compare(got, sizeof(got),
                              (const unsigned char *) expected,
                              YIBAO_AUTH_SIG_HEX_LEN);

    OPENSSL_cleanse(expected, sizeof(expected));

    if (rc != 0) {
        yibao_err_set(err, YIBAO_GWERR_AUTH_SIGNATURE,
                      "X-Yibao-Signature does not match");
        return YIBAO_ERR_DENIED;
    }

    return YIBAO_OK;
}


static unsigned char *
yibao_auth_cat(unsigned char *p, const yibao_str_t *s)
{
    if (s->len == 0) {
        return p;
    }

    memcpy(p, s->data, s->len);

    return p + s->len;
}


/* A string is usable if it has bytes whenever it has a length. */

static int
yibao_auth_str_valid(const yibao_str_t *s)
{
    return s->len == 0 || s->data != NULL;
}
