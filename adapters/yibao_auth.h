/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_AUTH_H_INCLUDED_
#define _YIBAO_AUTH_H_INCLUDED_


#include "yibao_types.h"


/*
 * Caller authentication.  A calling system signs each request:
 *
 *   X-Yibao-Caller     caller id
 *   X-Yibao-Timestamp  Unix seconds, decimal
 *   X-Yibao-Nonce      16..64 chars of [A-Za-z0-9]
 *   X-Yibao-Signature  lower-case hex HMAC-SHA256(secret,
 *                        METHOD "\n" PATH "\n" TIMESTAMP "\n" NONCE "\n"
 *                        hex(SHA-256(body)))
 *
 * PATH is the request path without the query string.
 */

#define YIBAO_AUTH_NONCE_MIN    16
#define YIBAO_AUTH_NONCE_MAX    64
#define YIBAO_AUTH_SIG_HEX_LEN  64


typedef struct {
    yibao_str_t           method;
    yibao_str_t           path;
    yibao_str_t           timestamp;
    yibao_str_t           nonce;
    yibao_str_t           body;
} yibao_auth_request_t;


/*
 * Checks the format of timestamp and nonce and that the timestamp is
 * within window_sec of now_sec.  On success *ts receives the parsed
 * timestamp.  Returns YIBAO_OK or YIBAO_ERR_INVALID with err->gwerr
 * YIBAO_GWERR_AUTH_TIMESTAMP or YIBAO_GWERR_AUTH_NONCE_FORMAT.
 */
int yibao_auth_check_fresh(const yibao_auth_request_t *req, int64_t now_sec,
    int64_t window_sec, int64_t *ts, yibao_err_t *err);

/*
 * Computes the signature a caller must send: 64 lower-case hex digits
 * and a NUL into out.  YIBAO_OK or YIBAO_ERR_CRYPTO.
 */
int yibao_auth_sign(const yibao_str_t *secret,
    const yibao_auth_request_t *req, char out[YIBAO_AUTH_SIG_HEX_LEN + 1]);

/*
 * Verifies a received signature (hex, either case) in constant time.
 * Returns YIBAO_OK, or YIBAO_ERR_DENIED with err->gwerr
 * YIBAO_GWERR_AUTH_SIGNATURE (also for a malformed signature).
 */
int yibao_auth_verify(const yibao_str_t *secret,
    const yibao_auth_request_t *req, const yibao_str_t *signature,
    yibao_err_t *err);


#endif /* _YIBAO_AUTH_H_INCLUDED_ */
