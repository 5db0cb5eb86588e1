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

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "yibao_crypto.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


/* A test vector: the md digest of data is md_len bytes, hex in hex. */

typedef struct {
    yibao_md_e            md;
    const unsigned char  *data;
    size_t                len;
    size_t                md_len;
    const char           *hex;
} test_vector_t;


/* An HMAC test vector: with key, in upper-case hex if upper. */

typedef struct {
    const unsigned char  *key;
    size_t                key_len;
    int                   upper;
    test_vector_t         mac;
} test_hmac_t;


/* The result of computing v: rc, and md[0..len). */

static void
test_check(const test_vector_t *v, int rc, const unsigned char *md,
    size_t len, int upper)
{
    char  hex[2 * YIBAO_MD_MAX_SIZE + 1];

    assert_int_equal(rc, YIBAO_OK);
    assert_int_equal(len, v->md_len);
    yibao_hex_encode(md, len, hex, upper);
    assert_string_equal(hex, v->hex);
}


static void
test_hmac_vector(const test_hmac_t *h)
{
    int                   rc;
    size_t                len;
    unsigned char         mac[YIBAO_MD_MAX_SIZE];
    const test_vector_t  *v;

    v = &h->mac;

    rc = yibao_hmac(v->md, h->key, h->key_len, v->data, v->len, mac, &len);
    test_check(v, rc, mac, len, h->upper);
}


static void
test_digest_vectors(void **state)
{
    int                          rc;
    size_t                       i, len;
    unsigned char                md[YIBAO_MD_MAX_SIZE];
    const test_vector_t         *v;
    static const test_vector_t   vectors[] = {
        { YIBAO_MD_SHA1, S("abc"), 20,
          "a9993e364706816aba3e25717850c26c9cd0d89d" },
        { YIBAO_MD_SHA256, S("abc"), 32,
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },

        /* zj-sm3 (Zhejiang): a sanity vector */
        { YIBAO_MD_SM3, S("abc"), 32,
          "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" },

        /* NULL with length 0 is the empty message */
        { YIBAO_MD_SHA256, NULL, 0, 32,
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { YIBAO_MD_SM3, S(""), 32,
          "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b" },
        { YIBAO_MD_SHA1, NULL, 0, 20,
          "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
    };

    (void) state;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        v = &vectors[i];

        rc = yibao_digest(v->md, v->data, v->len, md, &len);
        test_check(v, rc, md, len, 0);
    }
}


static void
test_digest_errors(void **state)
{
    size_t         len;
    unsigned char  md[YIBAO_MD_MAX_SIZE];

    (void) state;

    len = 77;

    assert_int_equal(yibao_digest((yibao_md_e) 99, S("abc"), md, &len),
                     YIBAO_ERR_CRYPTO);
    assert_int_equal(yibao_digest((yibao_md_e) -1, S("abc"), md, &len),
                     YIBAO_ERR_CRYPTO);
    assert_int_equal(yibao_digest(YIBAO_MD_SHA256, NULL, 3, md, &len),
                     YIBAO_ERR_CRYPTO);

    /* out_len untouched on failure */
    assert_int_equal(len, 77);
}


static void
test_hmac_vectors(void **state)
{
    size_t                     i;
    static const test_hmac_t   vectors[] = {

        /* RFC 2202 test case 2 and RFC 4231 test case 2 */
        { S("Jefe"), 0,
          { YIBAO_MD_SHA1, S("what do ya want for nothing?"), 20,
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79" } },
        { S("Jefe"), 0,
          { YIBAO_MD_SHA256, S("what do ya want for nothing?"), 32,
            "5bdcc146bf60754e6a042426089575c7"
            "5a003f089d2739839dec58b964ec3843" } },

        /* zj-sm3: the Zhejiang MAC */
        { S("TESTSECRET"), 1,
          { YIBAO_MD_SM3, S("1700000000\n{\"infno\":\"9001\"}"), 32,
            "E4C9E2F1F9D82A2E8650B29715E1AD41"
            "6F877B5D79C7A076BC050F5CA2DE71F2" } },

        /* an empty key over an empty message */
        { NULL, 0, 0,
          { YIBAO_MD_SHA256, NULL, 0, 32,
            "b613679a0814d9ec772f95d778c35fc5"
            "ff1697c493715653c6c712144292c5ad" } },
    };

    (void) state;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        test_hmac_vector(&vectors[i]);
    }
}


/* RFC 4231 test case 6: a key longer than the block is hashed first */

static void
test_hmac_rfc_long_key(void **state)
{
    unsigned char  key[131];
    test_hmac_t    h = {
        key, sizeof(key), 0,
        { YIBAO_MD_SHA256,
          S("Test Using Larger Than Block-Size Key - Hash Key First"), 32,
          "60e431591ee0b67f0d8a26aacbf5b77f"
          "8e0bc6213728c5140546040f0ee37f54" }
    };

    (void) state;

    memset(key, 0xaa, sizeof(key));

    test_hmac_vector(&h);
}


/*
 * Keys kept with their padded states: 300 keys of 0 to 160 bytes (more
 * than the table's places, so that they take each other's; longer than
 * a block, kept by their digest), used in turns, two and three times
 * each, with every digest (SHA-1 and SHA-256 kept as structures, SM3 as
 * EVP contexts), then keys of every size around a block, each three
 * times in a row (found kept the second and third time): the same MAC
 * as OpenSSL's HMAC() every time.
 */

static void
test_hmac_kept_keys(void **state)
{
    size_t          i, j, k, len, mlen;
    uint64_t        x;
    unsigned int    n;
    unsigned char   keys[300][160], klen[300], msg[200];
    unsigned char   mac[YIBAO_MD_MAX_SIZE], ref[EVP_MAX_MD_SIZE];

    static const struct {
        yibao_md_e      md;
        const char     *name;
    } mds[] = {
        { YIBAO_MD_SHA1, "SHA1" },
        { YIBAO_MD_SHA256, "SHA256" },
        { YIBAO_MD_SM3, "SM3" },
    };

    (void) state;

    x = 0x9e3779b97f4a7c15ull;

    for (i = 0; i < 300; i++) {
        klen[i] = (unsigned char) (i % 161);

        for (j = 0; j < 160; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            keys[i][j] = (unsigned char) x;
        }
    }

    for (k = 0; k < 3 * 300 * 3; k++) {
        i = (k * 7) % 300;
        mlen = k % sizeof(msg);

        for (j = 0; j < mlen; j++) {
            msg[j] = (unsigned char) (k + j);
        }

        assert_int_equal(yibao_hmac(mds[k % 3].md, keys[i], klen[i], msg,
                                    mlen, mac, &len),
                         YIBAO_OK);

        assert_non_null(HMAC(EVP_get_digestbyname(mds[k % 3].name), keys[i],
                             (int) klen[i], msg, mlen, ref, &n));
        assert_int_equal(len, n);
        assert_memory_equal(mac, ref, n);
    }

    for (k = 0; k < 3 * 3 * 161; k++) {
        i = k / 9 % 300;
        mlen = (k * 13) % sizeof(msg);

        assert_int_equal(yibao_hmac(mds[k / 3 % 3].md, keys[i], k / 9,
                                    msg, mlen, mac, &len),
                         YIBAO_OK);

        assert_non_null(HMAC(EVP_get_digestbyname(mds[k / 3 % 3].name),
                             keys[i], (int) (k / 9), msg, mlen, ref, &n));
        assert_int_equal(len, n);
        assert_memory_equal(mac, ref, n);
    }
}


static void
test_hmac_errors(void **state)
{
    size_t         len;
    unsigned char  mac[YIBAO_MD_MAX_SIZE];

    (void) state;

    assert_int_equal(yibao_hmac((yibao_md_e) 42, S("k"), S("m"), mac, &len),
                     YIBAO_ERR_CRYPTO);
    assert_int_equal(yibao_hmac(YIBAO_MD_SHA1, NULL, 4, S("m"), mac, &len),
                     YIBAO_ERR_CRYPTO);
    assert_int_equal(yibao_hmac(YIBAO_MD_SHA1, S("k"), NULL, 1, mac, &len),
                     YIBAO_ERR_CRYPTO);
}


static void
test_hex_encode(void **state)
{
    char                        out[2 * 5 + 1];
    static const unsigned char  in[] = { 0x00, 0x0f, 0xa5, 0xff, 0x10 };

    (void) state;

    yibao_hex_encode(in, sizeof(in), out, 0);
    assert_string_equal(out, "000fa5ff10");

    yibao_hex_encode(in, sizeof(in), out, 1);
    assert_string_equal(out, "000FA5FF10");

    memset(out, 'x', sizeof(out));
    yibao_hex_encode(in, 0, out, 0);
    assert_int_equal(out[0], '\0');
}


/* RFC 4648 section 10 */

static void
test_base64_rfc4648(void **state)
{
    size_t       i, n;
    char         out[16];
    const char  *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    const char  *b64[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
                           "Zm9vYmE=", "Zm9vYmFy" };

    (void) state;

    for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        memset(out, 'x', sizeof(out));

        n = yibao_base64_encode((const unsigned char *) in[i], strlen(in[i]),
                                out);
        assert_string_equal(out, b64[i]);
        assert_int_equal(n, strlen(b64[i]));
    }
}


static void
test_base64_binary(void **state)
{
    size_t                      n;
    char                        out[4 * ((4 + 2) / 3) + 1];
    static const unsigned char  in[] = { 0xff, 0xfe, 0x00, 0xfb };

    (void) state;

    n = yibao_base64_encode(in, 2, out);
    assert_int_equal(n, 4);
    assert_string_equal(out, "//4=");

    /* exactly the documented size: ASan catches an overrun */
    n = yibao_base64_encode(in, sizeof(in), out);
    assert_int_equal(n, 8);
    assert_string_equal(out, "//4A+w==");
}


/* Inputs longer than one EVP_EncodeBlock() chunk come out unchanged. */

static void
test_base64_chunks(void **state)
{
    int             ref_len;
    char           *out, *ref;
    size_t          i, len, n;
    unsigned char  *in;

    (void) state;

    len = 3 * 1024 * 1024 * 2 + 5;

    in = malloc(len);
    out = malloc(4 * ((len + 2) / 3) + 1);
    ref = malloc(4 * ((len + 2) / 3) + 1);
    assert_non_null(in);
    assert_non_null(out);
    assert_non_null(ref);

    for (i = 0; i < len; i++) {
        in[i] = (unsigned char) (i * 131 + (i >> 8));
    }

    n = yibao_base64_encode(in, len, out);
    ref_len = EVP_EncodeBlock((unsigned char *) ref, in, (int) len);

    assert_int_equal(n, 4 * ((len + 2) / 3));
    assert_int_equal(n, (size_t) ref_len);
    assert_int_equal(out[n], '\0');
    assert_memory_equal(out, ref, n);

    free(in);
    free(out);
    free(ref);
}


static void
test_secure_compare(void **state)
{
    unsigned char  *three;

    (void) state;

    assert_int_equal(yibao_secure_compare(S("abcdef"), S("abcdef")), 0);
    assert_int_not_equal(yibao_secure_compare(S("abcdef"), S("abcdeg")), 0);
    assert_int_not_equal(yibao_secure_compare(S("Abcdef"), S("abcdef")), 0);

    /* empty buffers are equal, even without bytes */
    assert_int_equal(yibao_secure_compare(NULL, 0, NULL, 0), 0);
    assert_int_not_equal(yibao_secure_compare(NULL, 0, S("a")), 0);

    /*
     * Different lengths with an equal prefix compare unequal, and the
     * shorter buffer is not read past its end: it sits alone in a
     * malloc()ed block, so ASan would report an overread.
     */

    three = malloc(3);
    assert_non_null(three);
    memcpy(three, "abc", 3);

    assert_int_not_equal(yibao_secure_compare(three, 3, S("abcd")), 0);
    assert_int_not_equal(yibao_secure_compare(S("abcd"), three, 3), 0);
    assert_int_not_equal(yibao_secure_compare(three, 3, S("ab")), 0);
    assert_int_equal(yibao_secure_compare(three, 3, S("abc")), 0);

    free(three);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_digest_vectors),
        cmocka_unit_test(test_digest_errors),
        cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_hmac_rfc_long_key),
        cmocka_unit_test(test_hmac_errors),
        cmocka_unit_test(test_hmac_kept_keys),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_base64_binary),
        cmocka_unit_test(test_base64_chunks),
        cmocka_unit_test(test_secure_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
