/*
 * Copyright (C) yibao-gateway authors
 */


#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "yibao_crypto.h"


/*
 * EVP_EncodeBlock() takes an int length: longer inputs are encoded in
 * chunks of this many bytes, a multiple of 3 so that no chunk but the
 * last one is padded.
 */
#define YIBAO_CRYPTO_B64_CHUNK  (3 * 1024 * 1024)

/* the largest block of the digests named (SHA-1, SHA-256, SM3: 64) */
#define YIBAO_CRYPTO_BLOCK_MAX  128


/* A valid pointer for empty keys and messages: OpenSSL wants one. */
static const unsigned char  yibao_crypto_empty[1];


/* what yibao_crypto_md() and yibao_crypto_ctx() keep for the process */

static EVP_MD      *yibao_crypto_fetched[YIBAO_MD_SM3 + 1];
static EVP_MD_CTX  *yibao_crypto_kept_ctx;
static EVP_MD_CTX  *yibao_crypto_stream_ctx;


/*
 * HMAC keys of at most a block, with the digest's state after the
 * padded key's block, inner (K ^ ipad) and outer (K ^ opad): an HMAC
 * with a key seen before hashes its data and the inner digest only, not
 * two more blocks for the key.  A small table by the key's hash; a key
 * that takes another's place costs the two blocks again.
 */

#define YIBAO_HMAC_KEYS  64

typedef struct {
    const EVP_MD         *type;      /* NULL: free */
    size_t                len;
    unsigned char         key[YIBAO_CRYPTO_BLOCK_MAX];
    EVP_MD_CTX           *inner;
    EVP_MD_CTX           *outer;
} yibao_hmac_key_t;

static yibao_hmac_key_t  yibao_hmac_keys[YIBAO_HMAC_KEYS];


static yibao_hmac_key_t *yibao_hmac_key(const EVP_MD *type,
    const unsigned char *key, size_t key_len);
static int yibao_hmac_key_set(yibao_hmac_key_t *hk, const EVP_MD *type,
    const unsigned char *key, size_t key_len);


/*
 * The digest md names; NULL if none or larger than YIBAO_MD_MAX_SIZE.
 * Fetched from the default provider once per process and kept: an
 * EVP_sha256() style handle is fetched again by every EVP_DigestInit,
 * a good part of the cost of hashing a short message.
 */

static const EVP_MD *
yibao_crypto_md(yibao_md_e md)
{
    const char     *name;
    EVP_MD         *type;
    EVP_MD        **fetched;

    fetched = yibao_crypto_fetched;

    switch (md) {

    case YIBAO_MD_SHA1:
        name = "SHA1";
        break;

    case YIBAO_MD_SHA256:
        name = "SHA256";
        break;

    case YIBAO_MD_SM3:
        name = "SM3";
        break;

    default:
        return NULL;
    }

    if (fetched[md] != NULL) {
        return fetched[md];
    }

    type = EVP_MD_fetch(NULL, name, NULL);

    if (type == NULL || EVP_MD_get_size(type) > YIBAO_MD_MAX_SIZE
        || EVP_MD_get_block_size(type) > YIBAO_CRYPTO_BLOCK_MAX)
    {
        EVP_MD_free(type);
        return NULL;
    }

    fetched[md] = type;

    return type;
}


/*
 * One digest context per process, reset for each use (the workers are
 * single-threaded): a context allocated and freed per digest costs more
 * than a short digest itself.
 */

static EVP_MD_CTX *
yibao_crypto_ctx(void)
{
    if (yibao_crypto_kept_ctx == NULL) {
        yibao_crypto_kept_ctx = EVP_MD_CTX_new();
    }

    return yibao_crypto_kept_ctx;
}


void
yibao_crypto_release(void)
{
    size_t  i;

    EVP_MD_CTX_free(yibao_crypto_kept_ctx);
    yibao_crypto_kept_ctx = NULL;
    EVP_MD_CTX_free(yibao_crypto_stream_ctx);
    yibao_crypto_stream_ctx = NULL;

    for (i = 0; i < sizeof(yibao_crypto_fetched) / sizeof(EVP_MD *); i++) {
        EVP_MD_free(yibao_crypto_fetched[i]);
        yibao_crypto_fetched[i] = NULL;
    }

    for (i = 0; i < YIBAO_HMAC_KEYS; i++) {
        EVP_MD_CTX_free(yibao_hmac_keys[i].inner);
        EVP_MD_CTX_free(yibao_hmac_keys[i].outer);
        OPENSSL_cleanse(&yibao_hmac_keys[i], sizeof(yibao_hmac_key_t));
    }
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
    EVP_MD_CTX     *ctx;
    unsigned int    n;
    const EVP_MD   *type;

    type = yibao_crypto_md(md);
    data = yibao_crypto_bytes(data, len);
    ctx = yibao_crypto_ctx();

    if (type == NULL || data == NULL || ctx == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    n = 0;

    if (EVP_DigestInit_ex2(ctx, type, NULL) != 1
        || EVP_DigestUpdate(ctx, data, len) != 1
        || EVP_DigestFinal_ex(ctx, out, &n) != 1)
    {
        return YIBAO_ERR_CRYPTO;
    }

    *out_len = n;

    return YIBAO_OK;
}


int
yibao_digest_begin(yibao_md_e md)
{
    const EVP_MD  *type;

    type = yibao_crypto_md(md);

    if (yibao_crypto_stream_ctx == NULL) {
        yibao_crypto_stream_ctx = EVP_MD_CTX_new();
    }

    if (type == NULL || yibao_crypto_stream_ctx == NULL
        || EVP_DigestInit_ex2(yibao_crypto_stream_ctx, type, NULL) != 1)
    {
        return YIBAO_ERR_CRYPTO;
    }

    return YIBAO_OK;
}


int
yibao_digest_add(const unsigned char *data, size_t len)
{
    data = yibao_crypto_bytes(data, len);

    if (data == NULL || yibao_crypto_stream_ctx == NULL
        || EVP_DigestUpdate(yibao_crypto_stream_ctx, data, len) != 1)
    {
        return YIBAO_ERR_CRYPTO;
    }

    return YIBAO_OK;
}


int
yibao_digest_end(unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len)
{
    unsigned int  n;

    n = 0;

    if (yibao_crypto_stream_ctx == NULL
        || EVP_DigestFinal_ex(yibao_crypto_stream_ctx, out, &n) != 1)
    {
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
    size_t             i, block, klen;
    EVP_MD_CTX        *ctx;
    unsigned int       n;
    const EVP_MD      *type;
    unsigned char      k[YIBAO_CRYPTO_BLOCK_MAX], pad[YIBAO_CRYPTO_BLOCK_MAX];
    unsigned char      inner[YIBAO_MD_MAX_SIZE];
    yibao_hmac_key_t  *hk;

    type = yibao_crypto_md(md);
    key = yibao_crypto_bytes(key, key_len);
    data = yibao_crypto_bytes(data, len);
    ctx = yibao_crypto_ctx();

    if (type == NULL || key_len > INT_MAX || key == NULL || data == NULL
        || ctx == NULL)
    {
        return YIBAO_ERR_CRYPTO;
    }

    /*
     * HMAC (RFC 2104) over the kept digest: H((K ^ opad) || H((K ^ ipad)
     * || data)), K the key padded with zeros to the block size, or its
     * digest when it is longer than a block.
     */

    block = (size_t) EVP_MD_get_block_size(type);

    hk = (key_len <= block) ? yibao_hmac_key(type, key, key_len) : NULL;

    if (hk != NULL) {
        if (EVP_MD_CTX_copy_ex(ctx, hk->inner) != 1
            || EVP_DigestUpdate(ctx, data, len) != 1
            || EVP_DigestFinal_ex(ctx, inner, &n) != 1
            || EVP_MD_CTX_copy_ex(ctx, hk->outer) != 1
            || EVP_DigestUpdate(ctx, inner, n) != 1
            || EVP_DigestFinal_ex(ctx, out, &n) != 1)
        {
            return YIBAO_ERR_CRYPTO;
        }

        *out_len = n;

        return YIBAO_OK;
    }

    memset(k, 0, sizeof(k));

    if (key_len > block) {
        if (yibao_digest(md, key, key_len, k, &klen) != YIBAO_OK) {
            return YIBAO_ERR_CRYPTO;
        }

    } else {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < block; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    if (EVP_DigestInit_ex2(ctx, type, NULL) != 1
        || EVP_DigestUpdate(ctx, pad, block) != 1
        || EVP_DigestUpdate(ctx, data, len) != 1
        || EVP_DigestFinal_ex(ctx, inner, &n) != 1)
    {
        goto failed;
    }

    for (i = 0; i < block; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    if (EVP_DigestInit_ex2(ctx, type, NULL) != 1
        || EVP_DigestUpdate(ctx, pad, block) != 1
        || EVP_DigestUpdate(ctx, inner, n) != 1
        || EVP_DigestFinal_ex(ctx, out, &n) != 1)
    {
        goto failed;
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));

    *out_len = n;

    return YIBAO_OK;

failed:

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));

    return YIBAO_ERR_CRYPTO;
}


/*
 * The kept states of a key of at most a block, set up when it is not
 * in its place; NULL when they cannot be (the caller then hashes the
 * key's blocks itself).
 */

static yibao_hmac_key_t *
yibao_hmac_key(const EVP_MD *type, const unsigned char *key,
    size_t key_len)
{
    size_t             i;
    uint32_t           h;
    yibao_hmac_key_t  *hk;

    h = 2166136261u;

    for (i = 0; i < key_len; i++) {
        h = (h ^ key[i]) * 16777619u;
    }

    hk = &yibao_hmac_keys[(h ^ (h >> 16)) % YIBAO_HMAC_KEYS];

    if (hk->type == type && hk->len == key_len
        && memcmp(hk->key, key, key_len) == 0)
    {
        return hk;
    }

    if (yibao_hmac_key_set(hk, type, key, key_len) != YIBAO_OK) {
        hk->type = NULL;
        return NULL;
    }

    return hk;
}


static int
yibao_hmac_key_set(yibao_hmac_key_t *hk, const EVP_MD *type,
    const unsigned char *key, size_t key_len)
{
    size_t         i, block;
    unsigned char  pad[YIBAO_CRYPTO_BLOCK_MAX];

    hk->type = NULL;

    if (hk->inner == NULL) {
        hk->inner = EVP_MD_CTX_new();
    }

    if (hk->outer == NULL) {
        hk->outer = EVP_MD_CTX_new();
    }

    if (hk->inner == NULL || hk->outer == NULL) {
        return YIBAO_ERR_CRYPTO;
    }

    block = (size_t) EVP_MD_get_block_size(type);

    OPENSSL_cleanse(hk->key, sizeof(hk->key));
    memcpy(hk->key, key, key_len);

    for (i = 0; i < block; i++) {
        pad[i] = hk->key[i] ^ 0x36;
    }

    if (EVP_DigestInit_ex2(hk->inner, type, NULL) != 1
        || EVP_DigestUpdate(hk->inner, pad, block) != 1)
    {
        goto failed;
    }

    for (i = 0; i < block; i++) {
        pad[i] = hk->key[i] ^ 0x5c;
    }

    if (EVP_DigestInit_ex2(hk->outer, type, NULL) != 1
        || EVP_DigestUpdate(hk->outer, pad, block) != 1)
    {
        goto failed;
    }

    OPENSSL_cleanse(pad, sizeof(pad));

    hk->type = type;
    hk->len = key_len;

    return YIBAO_OK;

failed:

    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(hk->key, sizeof(hk->key));

    return YIBAO_ERR_CRYPTO;
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
