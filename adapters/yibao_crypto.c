/*
 * Copyright (C) yibao-gateway authors
 */


#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "yibao_crypto.h"


/*
 * EVP_EncodeBlock() takes an int length: longer inputs are encoded in
 * chunks of this many bytes, a multiple of 3 so that no chunk but the
 * last one is padded.
 */
#define YIBAO_CRYPTO_B64_CHUNK  (3 * 1024 * 1024)


/* A valid pointer for empty keys and messages: OpenSSL wants one. */
static const unsigned char  yibao_crypto_empty[1];


/* The digest md names; NULL if none or larger than YIBAO_MD_MAX_SIZE. */

static const EVP_MD *
yibao_crypto_md(yibao_md_e md)
{
    const EVP_MD  *type;

    switch (md) {

    case YIBAO_MD_SHA1:
        type = EVP_sha1();
        break;

    case YIBAO_MD_SHA256:
        type = EVP_sha256();
        break;

    case YIBAO_MD_SM3:
        type = EVP_sm3();
        break;

    default:
        return NULL;
    }

    if (type == NULL || EVP_MD_get_size(type) > YIBAO_MD_MAX_SIZE) {
        return NULL;
    }

    return type;
}


/*
 * The bytes p[0..len) as OpenSSL wants them, a valid pointer even when
 * there are none: p, or yibao_crypto_empty for NULL with length 0.  NULL
 * for NULL with a length.
 */

static const unsigned char *
yibao_crypto_bytes(const unsigned char *p, size_t len)
{
    if (p != NULL) {
        return p;
    }

    return (len == 0) ? yibao_crypto_empty : NULL;
}


int
yibao_digest(yibao_md_e md, const unsigned char *data, size_t len,
    unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len)
{
    const EVP_MD  *type;
    unsigned int   n;

    type = yibao_crypto_md(md);
    data = yibao_crypto_bytes(data, len);

    if (type == NULL || data == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    n = 0;

    if (EVP_Digest(data, len, out, &n, type, NULL) != 1) {
        return YIBAO_ERR_CRYPTO;
    }

    *out_len = n;

    return YIBAO_OK;
}


int
yibao_hmac(yibao_md_e md, const unsigned char *key, size_t key_len,
    const unsigned char *data, size_t len,
    unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len)
{
    const EVP_MD  *type;
    unsigned int   n;

    type = yibao_crypto_md(md);
    key = yibao_crypto_bytes(key, key_len);
    data = yibao_crypto_bytes(data, len);

    if (type == NULL || key_len > INT_MAX || key == NULL || data == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    n = 0;

    if (HMAC(type, key, (int) key_len, data, len, out, &n) == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    *out_len = n;

    return YIBAO_OK;
}


void
yibao_hex_encode(const unsigned char *in, size_t len, char *out, int upper)
{
    size_t       i;
    const char  *digits;

    digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

    for (i = 0; i < len; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 0x0f];
    }

    *out = '\0';
}


size_t
yibao_base64_encode(const unsigned char *in, size_t len, char *out)
{
    int             n;
    size_t          chunk, total;
    unsigned char  *p;

    p = (unsigned char *) out;
    total = 0;
    *p = '\0';

    while (len > 0) {
        chunk = len < YIBAO_CRYPTO_B64_CHUNK ? len : YIBAO_CRYPTO_B64_CHUNK;

        /* writes 4 * ((chunk + 2) / 3) bytes and a NUL */
        n = EVP_EncodeBlock(p, in, (int) chunk);

        p += n;
        total += (size_t) n;
        in += chunk;
        len -= chunk;
    }

    return total;
}


int
yibao_secure_compare(const unsigned char *a, size_t a_len,
    const unsigned char *b, size_t b_len)
{
    if (a_len != b_len) {
        return 1;
    }

    if (a_len == 0) {
        return 0;
    }

    return CRYPTO_memcmp(a, b, a_len) != 0;
}
