/*
 * Copyright (C) yibao-gateway authors
 */


#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "yibao_codes.h"
#include "yibao_crypto.h"
#include "yibao_gwerr.h"
#include "yibao_sign.h"


/* an int64_t in decimal with its sign, and a NUL */
#define YIBAO_SIGN_INT_LEN  21

#define YIBAO_SIGN_NONCE_MIN  16
#define YIBAO_SIGN_NONCE_MAX  64

#define YIBAO_SIGN_CSB_VERSION  "1.0.0"


typedef struct {
    const char            *name;
    yibao_sign_scheme_e    scheme;
} yibao_sign_scheme_t;


static unsigned char *yibao_sign_cat(unsigned char *p, const void *s,
    size_t n);
static size_t yibao_sign_int(int64_t v, char buf[YIBAO_SIGN_INT_LEN]);
static int yibao_sign_add(yibao_sign_out_t *out, yibao_alloc_t *a,
    const char *name, const void *value, size_t len);
static int yibao_sign_check(const yibao_sign_conf_t *conf,
    const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_err_t *err);
static int yibao_sign_nonce_valid(const yibao_str_t *nonce);
static int yibao_sign_csb(const yibao_sign_conf_t *conf,
    const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_alloc_t *a, yibao_sign_out_t *out, yibao_err_t *err);
static int yibao_sign_tif(const yibao_sign_key_t *key,
    const yibao_sign_input_t *in, yibao_alloc_t *a, yibao_sign_out_t *out,
    yibao_err_t *err);
static int yibao_sign_zj_sm3(const yibao_sign_key_t *key,
    const yibao_sign_input_t *in, yibao_alloc_t *a, yibao_sign_out_t *out);


static const yibao_sign_scheme_t  yibao_sign_schemes[] = {
    { "none", YIBAO_SIGN_NONE },
    { "csb", YIBAO_SIGN_CSB },
    { "tif", YIBAO_SIGN_TIF },
    { "zj-sm3", YIBAO_SIGN_ZJ_SM3 },
    { NULL, YIBAO_SIGN_NONE }
};


int
yibao_sign_scheme_parse(const unsigned char *name, size_t len,
    yibao_sign_scheme_e *scheme)
{
    const yibao_sign_scheme_t  *s;

    if (name == NULL) {
        return YIBAO_ERR_INVALID;
    }

    for (s = yibao_sign_schemes; s->name != NULL; s++) {
        if (strlen(s->name) == len && memcmp(s->name, name, len) == 0) {
            *scheme = s->scheme;
            return YIBAO_OK;
        }
    }

    return YIBAO_ERR_INVALID;
}


const char *
yibao_sign_scheme_name(yibao_sign_scheme_e scheme)
{
    const yibao_sign_scheme_t  *s;

    for (s = yibao_sign_schemes; s->name != NULL; s++) {
        if (s->scheme == scheme) {
            return s->name;
        }
    }

    return "unknown";
}


int
yibao_sign_headers(const yibao_sign_conf_t *conf,
    const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_alloc_t *a, yibao_sign_out_t *out, yibao_err_t *err)
{
    int  rc;

    out->nheaders = 0;

    if (conf->scheme == YIBAO_SIGN_NONE) {
        return YIBAO_OK;
    }

    rc = yibao_sign_check(conf, key, in, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    switch (conf->scheme) {

    case YIBAO_SIGN_CSB:
        rc = yibao_sign_csb(conf, key, in, a, out, err);
        break;

    case YIBAO_SIGN_TIF:
        rc = yibao_sign_tif(key, in, a, out, err);
        break;

    default: /* YIBAO_SIGN_ZJ_SM3, yibao_sign_check() rejected others */
        rc = yibao_sign_zj_sm3(key, in, a, out);
        break;
    }

    if (rc != YIBAO_OK) {
        out->nheaders = 0;

        if (rc == YIBAO_ERR_NOMEM) {
            yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                          "%s signing: out of memory",
                          yibao_sign_scheme_name(conf->scheme));

        } else if (rc == YIBAO_ERR_CRYPTO) {
            yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                          "%s signing: libcrypto failed",
                          yibao_sign_scheme_name(conf->scheme));
        }
    }

    return rc;
}


yibao_str_t *
yibao_sign_csb_string(yibao_str_t *ak, yibao_str_t *name, int64_t ts_ms,
    yibao_str_t *version, yibao_alloc_t *a)
{
    char            ts[YIBAO_SIGN_INT_LEN];
    size_t          ts_len, len;
    yibao_str_t    *s;
    unsigned char  *p, *data;

    ts_len = yibao_sign_int(ts_ms, ts);

    /* the keys in byte order: access_key < name < timestamp < version */

    len = sizeof("_api_access_key=") - 1 + ak->len
          + sizeof("&_api_name=") - 1 + name->len
          + sizeof("&_api_timestamp=") - 1 + ts_len
          + sizeof("&_api_version=") - 1 + version->len;

    s = yibao_alloc(a, sizeof(yibao_str_t) + len + 1);
    if (s == NULL) {
        return NULL;
    }

    data = (unsigned char *) (s + 1);

    p = yibao_sign_cat(data, "_api_access_key=", 16);
    p = yibao_sign_cat(p, ak->data, ak->len);
    p = yibao_sign_cat(p, "&_api_name=", 11);
    p = yibao_sign_cat(p, name->data, name->len);
    p = yibao_sign_cat(p, "&_api_timestamp=", 16);
    p = yibao_sign_cat(p, ts, ts_len);
    p = yibao_sign_cat(p, "&_api_version=", 14);
    p = yibao_sign_cat(p, version->data, version->len);
    *p = '\0';

    s->len = (size_t) (p - data);
    s->data = data;

    return s;
}


static unsigned char *
yibao_sign_cat(unsigned char *p, const void *s, size_t n)
{
    if (n == 0) {
        return p;
    }

    memcpy(p, s, n);

    return p + n;
}


static size_t
yibao_sign_int(int64_t v, char buf[YIBAO_SIGN_INT_LEN])
{
    int  n;

    n = snprintf(buf, YIBAO_SIGN_INT_LEN, "%" PRId64, v);

    return n > 0 ? (size_t) n : 0;
}


/* Appends a header whose name and value are copied from a. */

static int
yibao_sign_add(yibao_sign_out_t *out, yibao_alloc_t *a, const char *name,
    const void *value, size_t len)
{
    size_t           name_len;
    unsigned char   *p;
    yibao_header_t  *h;

    if (out->nheaders == YIBAO_SIGN_MAX_HEADERS) {
        return YIBAO_ERR_NOMEM;
    }

    h = &out->headers[out->nheaders];
    name_len = strlen(name);

    p = yibao_alloc(a, name_len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    *yibao_sign_cat(p, name, name_len) = '\0';
    h->name.len = name_len;
    h->name.data = p;

    p = yibao_alloc(a, len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    *yibao_sign_cat(p, value, len) = '\0';
    h->value.len = len;
    h->value.data = p;

    out->nheaders++;

    return YIBAO_OK;
}


/* The checks common to all schemes but "none". */

static int
yibao_sign_check(const yibao_sign_conf_t *conf, const yibao_sign_key_t *key,
    const yibao_sign_input_t *in, yibao_err_t *err)
{
    const char  *name;

    if (conf->scheme != YIBAO_SIGN_CSB
        && conf->scheme != YIBAO_SIGN_TIF
        && conf->scheme != YIBAO_SIGN_ZJ_SM3)
    {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "unknown signing scheme %d", (int) conf->scheme);
        return YIBAO_ERR_INVALID;
    }

    name = yibao_sign_scheme_name(conf->scheme);

    if (key == NULL || key->ak.len == 0 || key->ak.data == NULL) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "%s signing: the platform key has no access key (AK)",
                      name);
        return YIBAO_ERR_INVALID;
    }

    if (key->sk.len == 0 || key->sk.data == NULL) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "%s signing: the platform key has no secret (SK)",
                      name);
        return YIBAO_ERR_INVALID;
    }

    if (in == NULL) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "%s signing: no request to sign", name);
        return YIBAO_ERR_INVALID;
    }

    if (in->now_ms < 0) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "%s signing: the clock is before the epoch", name);
        return YIBAO_ERR_INVALID;
    }

    if (in->body.len != 0 && in->body.data == NULL) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "%s signing: the body has a length but no bytes",
                      name);
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


static int
yibao_sign_nonce_valid(const yibao_str_t *nonce)
{
    return nonce->len >= YIBAO_SIGN_NONCE_MIN
           && nonce->data != NULL
           && yibao_code_is_alnum(nonce->data, nonce->len,
                                  YIBAO_SIGN_NONCE_MAX);
}


/*
 * _api_signature = Base64(HMAC-SHA1(SK, "_api_access_key=AK&_api_name=N
 * &_api_timestamp=T&_api_version=V")), T in milliseconds.
 */

static int
yibao_sign_csb(const yibao_sign_conf_t *conf, const yibao_sign_key_t *key,
    const yibao_sign_input_t *in, yibao_alloc_t *a, yibao_sign_out_t *out,
    yibao_err_t *err)
{
    int             rc;
    char            ts[YIBAO_SIGN_INT_LEN];
    char            b64[4 * ((YIBAO_MD_MAX_SIZE + 2) / 3) + 1];
    size_t          i, ts_len, mac_len, b64_len;
    yibao_str_t     ak, name, version, *s;
    unsigned char  *p;
    unsigned char   mac[YIBAO_MD_MAX_SIZE];

    if (in->infno.len == 0 || in->infno.data == NULL) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "csb signing: infno is empty, no _api_name");
        return YIBAO_ERR_INVALID;
    }

    /* _api_name is a header value: no controls, spaces or non-ASCII */

    for (i = 0; i < in->infno.len; i++) {
        if (in->infno.data[i] <= 0x20 || in->infno.data[i] >= 0x7f) {
            yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                          "csb signing: infno has a byte 0x%02x at offset "
                          "%zu that cannot go into _api_name",
                          in->infno.data[i], i);
            return YIBAO_ERR_INVALID;
        }
    }

    ak = key->ak;

    if (conf->api_version.len != 0) {
        version = conf->api_version;

    } else {
        version.len = sizeof(YIBAO_SIGN_CSB_VERSION) - 1;
        version.data = (const unsigned char *) YIBAO_SIGN_CSB_VERSION;
    }

    name.len = conf->api_name_prefix.len + in->infno.len;

    p = yibao_alloc(a, name.len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    name.data = p;
    p = yibao_sign_cat(p, conf->api_name_prefix.data,
                       conf->api_name_prefix.len);
    p = yibao_sign_cat(p, in->infno.data, in->infno.len);
    *p = '\0';

    s = yibao_sign_csb_string(&ak, &name, in->now_ms, &version, a);
    if (s == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rc = yibao_hmac(YIBAO_MD_SHA1, key->sk.data, key->sk.len, s->data,
                    s->len, mac, &mac_len);
    if (rc != YIBAO_OK) {
        return rc;
    }

    b64_len = yibao_base64_encode(mac, mac_len, b64);
    ts_len = yibao_sign_int(in->now_ms, ts);

    if (yibao_sign_add(out, a, "_api_name", name.data, name.len) != YIBAO_OK
        || yibao_sign_add(out, a, "_api_version", version.data, version.len)
           != YIBAO_OK
        || yibao_sign_add(out, a, "_api_timestamp", ts, ts_len) != YIBAO_OK
        || yibao_sign_add(out, a, "_api_access_key", ak.data, ak.len)
           != YIBAO_OK
        || yibao_sign_add(out, a, "_api_signature", b64, b64_len)
           != YIBAO_OK)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/*
 * x-tif-signature = hex(SHA-256(ts + SK + nonce + ts)), lower case,
 * ts in seconds.
 */

static int
yibao_sign_tif(const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_alloc_t *a, yibao_sign_out_t *out, yibao_err_t *err)
{
    int             rc;
    char            ts[YIBAO_SIGN_INT_LEN];
    char            hex[2 * YIBAO_MD_MAX_SIZE + 1];
    size_t          ts_len, len, md_len;
    unsigned char  *buf, *p;
    unsigned char   md[YIBAO_MD_MAX_SIZE];

    if (!yibao_sign_nonce_valid(&in->nonce)) {
        yibao_err_set(err, YIBAO_GWERR_SIGN_FAILED,
                      "tif signing: x-tif-nonce must be %d to %d characters "
                      "of [A-Za-z0-9], got %zu bytes",
                      YIBAO_SIGN_NONCE_MIN, YIBAO_SIGN_NONCE_MAX,
                      in->nonce.len);
        return YIBAO_ERR_INVALID;
    }

    ts_len = yibao_sign_int(in->now_ms / 1000, ts);
    len = 2 * ts_len + key->sk.len + in->nonce.len;

    buf = yibao_alloc(a, len);
    if (buf == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = yibao_sign_cat(buf, ts, ts_len);
    p = yibao_sign_cat(p, key->sk.data, key->sk.len);
    p = yibao_sign_cat(p, in->nonce.data, in->nonce.len);
    (void) yibao_sign_cat(p, ts, ts_len);

    rc = yibao_digest(YIBAO_MD_SHA256, buf, len, md, &md_len);

    /* the buffer holds the token: do not leave it in the pool */
    OPENSSL_cleanse(buf, len);

    if (rc != YIBAO_OK) {
        return rc;
    }

    yibao_hex_encode(md, md_len, hex, 0);

    if (yibao_sign_add(out, a, "x-tif-paasid", key->ak.data, key->ak.len)
        != YIBAO_OK
        || yibao_sign_add(out, a, "x-tif-timestamp", ts, ts_len) != YIBAO_OK
        || yibao_sign_add(out, a, "x-tif-nonce", in->nonce.data,
                          in->nonce.len)
           != YIBAO_OK
        || yibao_sign_add(out, a, "x-tif-signature", hex, 2 * md_len)
           != YIBAO_OK)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/*
 * x-ca-signature = ts ":" HEX(HMAC-SM3(SK, ts "\n" body)), upper case,
 * ts in seconds.
 */

static int
yibao_sign_zj_sm3(const yibao_sign_key_t *key, const yibao_sign_input_t *in,
    yibao_alloc_t *a, yibao_sign_out_t *out)
{
    int             rc;
    char            ts[YIBAO_SIGN_INT_LEN];
    char            sig[YIBAO_SIGN_INT_LEN + 1 + 2 * YIBAO_MD_MAX_SIZE + 1];
    size_t          ts_len, len, mac_len;
    unsigned char  *buf, *p;
    unsigned char   mac[YIBAO_MD_MAX_SIZE];

    ts_len = yibao_sign_int(in->now_ms / 1000, ts);
    len = ts_len + 1 + in->body.len;

    buf = yibao_alloc(a, len);
    if (buf == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = yibao_sign_cat(buf, ts, ts_len);
    *p++ = '\n';
    (void) yibao_sign_cat(p, in->body.data, in->body.len);

    rc = yibao_hmac(YIBAO_MD_SM3, key->sk.data, key->sk.len, buf, len, mac,
                    &mac_len);
    if (rc != YIBAO_OK) {
        return rc;
    }

    memcpy(sig, ts, ts_len);
    sig[ts_len] = ':';
    yibao_hex_encode(mac, mac_len, &sig[ts_len + 1], 1);

    if (yibao_sign_add(out, a, "x-ca-key", key->ak.data, key->ak.len)
        != YIBAO_OK
        || yibao_sign_add(out, a, "x-ca-signature", sig,
                          ts_len + 1 + 2 * mac_len)
           != YIBAO_OK)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}
