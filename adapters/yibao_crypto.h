/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_CRYPTO_H_INCLUDED_
#define _YIBAO_CRYPTO_H_INCLUDED_


#include "yibao_types.h"


/*
 * Thin wrappers over OpenSSL's libcrypto: every hash, HMAC and cipher
 * of the project goes through here.  Output buffers are the caller's.
 */

typedef enum {
    YIBAO_MD_SHA1 = 0,
    YIBAO_MD_SHA256,
    YIBAO_MD_SM3
} yibao_md_e;


#define YIBAO_MD_MAX_SIZE  64


/*
 * Frees what the digests keep for the process (the fetched digests and
 * the reused context); the next digest sets them up again.  Called when
 * a process exits: the module may be unloaded before the C library's
 * exit, and its pointers with it.
 */
void yibao_crypto_release(void);

/* Digest of data; *out_len receives the digest size.  YIBAO_OK or
 * YIBAO_ERR_CRYPTO. */
int yibao_digest(yibao_md_e md, const unsigned char *data, size_t len,
    unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len);

/*
 * A digest of bytes given in pieces: yibao_digest_begin(), any number of
 * yibao_digest_add(), yibao_digest_end(), which gives what yibao_digest()
 * of the pieces one after the other gives.  One such digest at a time
 * per process (its context is kept, as yibao_digest()'s is); the other
 * digest functions may run in between.  YIBAO_OK or YIBAO_ERR_CRYPTO.
 */
int yibao_digest_begin(yibao_md_e md);
int yibao_digest_add(const unsigned char *data, size_t len);
int yibao_digest_end(unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len);

/* HMAC over data with key; *out_len receives the MAC size.  YIBAO_OK or
 * YIBAO_ERR_CRYPTO. */
int yibao_hmac(yibao_md_e md, const unsigned char *key, size_t key_len,
    const unsigned char *data, size_t len,
    unsigned char out[YIBAO_MD_MAX_SIZE], size_t *out_len);

/* Writes 2 * len hex digits and a NUL to out (lower or upper case). */
void yibao_hex_encode(const unsigned char *in, size_t len, char *out,
    int upper);

/* Writes the Base64 (RFC 4648, padded) of in and a NUL to out, which
 * must hold 4 * ((len + 2) / 3) + 1 bytes; returns the length. */
size_t yibao_base64_encode(const unsigned char *in, size_t len, char *out);

/* Constant-time comparison of two equal-length buffers: 0 if equal.
 * Different lengths compare unequal without reading past either. */
int yibao_secure_compare(const unsigned char *a, size_t a_len,
    const unsigned char *b, size_t b_len);


#endif /* _YIBAO_CRYPTO_H_INCLUDED_ */
