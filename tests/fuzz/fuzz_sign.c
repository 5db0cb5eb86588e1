/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Upstream signing: yibao_sign_headers() for every scheme (and an
 * unknown one) and yibao_sign_csb_string().
 *
 * Input: 8 bytes of now_ms (little-endian, signed), then
 * ak RS sk RS infno RS body RS nonce RS api_version RS api_name_prefix
 * (RS is 0x1e; missing parts are empty).
 */

#include "yibao_crypto.h"
#include "yibao_sign.h"
#include "yibao_fuzz.h"


#define FUZZ_PARTS  7


static void fuzz_scheme(yibao_sign_scheme_e scheme,
    const yibao_str_t *parts, int64_t now_ms, yibao_alloc_t *a);
static void fuzz_csb_string(const yibao_str_t *parts, int64_t now_ms,
    yibao_alloc_t *a);
static int fuzz_printable(const yibao_str_t *s);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               i, n;
    int64_t              now_ms;
    yibao_str_t          parts[FUZZ_PARTS];
    yibao_alloc_t        alloc;
    unsigned char       *copies[FUZZ_PARTS];
    yibao_fuzz_arena_t   arena;

    now_ms = (int64_t) yibao_fuzz_take_u64(&data, &size, 8);

    memset(parts, 0, sizeof(parts));
    n = yibao_fuzz_split(data, size, parts, FUZZ_PARTS);

    for (i = 0; i < FUZZ_PARTS; i++) {
        copies[i] = i < n ? yibao_fuzz_copy(&parts[i]) : NULL;

        /* an empty part is the null string {0, NULL} */
        parts[i].data = parts[i].len ? copies[i] : NULL;
    }

    yibao_fuzz_arena_init(&arena, &alloc);

    fuzz_scheme(YIBAO_SIGN_NONE, parts, now_ms, &alloc);
    fuzz_scheme(YIBAO_SIGN_CSB, parts, now_ms, &alloc);
    fuzz_scheme(YIBAO_SIGN_TIF, parts, now_ms, &alloc);
    fuzz_scheme(YIBAO_SIGN_ZJ_SM3, parts, now_ms, &alloc);
    fuzz_scheme((yibao_sign_scheme_e) 7, parts, now_ms, &alloc);

    fuzz_csb_string(parts, now_ms, &alloc);

    yibao_fuzz_arena_free(&arena);

    for (i = 0; i < FUZZ_PARTS; i++) {
        free(copies[i]);
    }

    return 0;
}


static void
fuzz_scheme(yibao_sign_scheme_e scheme, const yibao_str_t *parts,
    int64_t now_ms, yibao_alloc_t *a)
{
    int                  rc;
    size_t               i, expect;
    yibao_err_t          err;
    yibao_sign_out_t     out;
    yibao_sign_key_t     key;
    yibao_sign_conf_t    conf;
    yibao_sign_input_t   in;

    conf.scheme = scheme;
    conf.api_version = parts[5];
    conf.api_name_prefix = parts[6];

    key.ak = parts[0];
    key.sk = parts[1];

    in.infno = parts[2];
    in.body = parts[3];
    in.nonce = parts[4];
    in.now_ms = now_ms;

    memset(&err, 0, sizeof(yibao_err_t));

    rc = yibao_sign_headers(&conf, &key, &in, a, &out, &err);

    if (rc != YIBAO_OK) {
        yibao_fuzz_assert(rc == YIBAO_ERR_INVALID || rc == YIBAO_ERR_NOMEM
                          || rc == YIBAO_ERR_CRYPTO);
        yibao_fuzz_assert(out.nheaders == 0);
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        yibao_fuzz_assert(scheme != YIBAO_SIGN_NONE);
        return;
    }

    switch (scheme) {
    case YIBAO_SIGN_NONE:
        expect = 0;
        break;
    case YIBAO_SIGN_CSB:
        expect = 5;
        break;
    case YIBAO_SIGN_TIF:
        expect = 4;
        break;
    case YIBAO_SIGN_ZJ_SM3:
        expect = 2;
        break;
    default:
        abort();
    }

    yibao_fuzz_assert(out.nheaders == expect);
    yibao_fuzz_assert(now_ms >= 0 || scheme == YIBAO_SIGN_NONE);

    for (i = 0; i < out.nheaders; i++) {
        yibao_fuzz_assert(out.headers[i].name.len > 0);
        yibao_fuzz_assert(out.headers[i].name.data[out.headers[i].name.len]
                          == '\0');
        yibao_fuzz_assert(
            out.headers[i].value.data[out.headers[i].value.len] == '\0');

        /* with a key and configuration as the registry and the glue
         * accept them, every value can go into a header as it is */

        if (fuzz_printable(&key.ak) && fuzz_printable(&conf.api_version)
            && fuzz_printable(&conf.api_name_prefix))
        {
            yibao_fuzz_assert(fuzz_printable(&out.headers[i].value));
        }
    }

    if (scheme == YIBAO_SIGN_CSB) {
        /* Base64 of an HMAC-SHA1 */
        yibao_fuzz_assert(out.headers[4].value.len == 28);
    }

    if (scheme == YIBAO_SIGN_TIF) {
        yibao_fuzz_assert(out.headers[3].value.len == 64);
    }

    if (scheme == YIBAO_SIGN_ZJ_SM3) {
        yibao_fuzz_assert(out.headers[1].value.len > 65);
    }
}


static void
fuzz_csb_string(const yibao_str_t *parts, int64_t now_ms, yibao_alloc_t *a)
{
    yibao_str_t   ak, name, version, *s;

    ak = parts[0];
    name = parts[2];
    version = parts[5];

    s = yibao_sign_csb_string(&ak, &name, now_ms, &version, a);
    if (s == NULL) {
        return;
    }

    yibao_fuzz_assert(s->data[s->len] == '\0');
    yibao_fuzz_assert(s->len >= sizeof("_api_access_key=&_api_name="
                                       "&_api_timestamp=0&_api_version=")
                                - 1 + ak.len + name.len + version.len);
    yibao_fuzz_assert(memcmp(s->data, "_api_access_key=", 16) == 0);
}


static int
fuzz_printable(const yibao_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}
