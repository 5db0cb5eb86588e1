/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_SIGN_H_INCLUDED_
#define _YIBAO_SIGN_H_INCLUDED_


#include "yibao_types.h"


/*
 * Upstream signing schemes of the provincial platforms
 * (the national interface specification):
 *
 *   csb     Alibaba CSB (Hunan, Jiangxi): _api_name, _api_version,
 *           _api_timestamp (ms), _api_access_key, _api_signature =
 *           Base64(HMAC-SHA1(SK, sorted "k=v&..." of the four headers))
 *   tif     Tencent TIF (Guangdong): x-tif-paasid (AK), x-tif-timestamp
 *           (s), x-tif-nonce, x-tif-signature = hex(SHA-256(ts + SK +
 *           nonce + ts)), lower case
 *   zj-sm3  Zhejiang: x-ca-key (AK), x-ca-signature = ts ":" HEX(HMAC-SM3
 *           (SK, ts "\n" body)), upper case, over the exact bytes sent
 */

typedef enum {
    YIBAO_SIGN_NONE = 0,
    YIBAO_SIGN_CSB,
    YIBAO_SIGN_TIF,
    YIBAO_SIGN_ZJ_SM3
} yibao_sign_scheme_e;


typedef struct {
    yibao_sign_scheme_e   scheme;
    yibao_str_t           api_version;      /* csb: _api_version */
    yibao_str_t           api_name_prefix;  /* csb: before infno */
} yibao_sign_conf_t;


typedef struct {
    yibao_str_t           ak;
    yibao_str_t           sk;
} yibao_sign_key_t;


typedef struct {
    yibao_str_t           infno;
    yibao_str_t           body;       /* the exact bytes sent upstream */
    int64_t               now_ms;     /* wall clock, ms since the epoch */
    yibao_str_t           nonce;      /* tif: 32 chars of [A-Za-z0-9] */
} yibao_sign_input_t;


#define YIBAO_SIGN_MAX_HEADERS  5


typedef struct {
    yibao_str_t           name;
    yibao_str_t           value;
} yibao_header_t;


typedef struct {
    size_t                nheaders;
    yibao_header_t        headers[YIBAO_SIGN_MAX_HEADERS];
} yibao_sign_out_t;


/*
 * Parses a scheme name ("none", "csb", "tif", "zj-sm3").  YIBAO_OK or
 * YIBAO_ERR_INVALID.
 */
int yibao_sign_scheme_parse(const unsigned char *name, size_t len,
    yibao_sign_scheme_e *scheme);

const char *yibao_sign_scheme_name(yibao_sign_scheme_e scheme);

/*
 * Computes the headers to add to the upstream request.  Names and
 * values are allocated from a; header names are lower case except the
 * csb ones, which are spelled as the platform documents them.
 * Returns YIBAO_OK, YIBAO_ERR_NOMEM, YIBAO_ERR_CRYPTO or
 * YIBAO_ERR_INVALID (missing key part, bad nonce); err says which.
 */
int yibao_sign_headers(const yibao_sign_conf_t *conf,
    const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_alloc_t *a, yibao_sign_out_t *out, yibao_err_t *err);

/*
 * The csb string to sign, exposed for tests and fuzzing:
 * "_api_access_key=AK&_api_name=N&_api_timestamp=T&_api_version=V".
 * Allocated from a; NULL on allocation failure.
 */
yibao_str_t *yibao_sign_csb_string(yibao_str_t *ak, yibao_str_t *name,
    int64_t ts_ms, yibao_str_t *version, yibao_alloc_t *a);


#endif /* _YIBAO_SIGN_H_INCLUDED_ */
