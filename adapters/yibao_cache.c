/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_cache.h"
#include "yibao_codes.h"
#include "yibao_crypto.h"


const char  yibao_cache_lookup_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "local l = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1])\n"
    "return {v, l and 1 or 0, now}\n";

const char  yibao_cache_store_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local fresh = tonumber(ARGV[2])\n"
    "redis.call('SET', KEYS[1], (now + fresh) .. (ARGV[4] or '') .. '\\n'\n"
    "           .. ARGV[1], 'PX',\n"
    "           fresh + tonumber(ARGV[3]))\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 'OK'\n";

const char  yibao_cache_purge_script[] =
    "local n = 0\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    n = n + redis.call('DEL', k)\n"
    "  end\n"
    "until cursor == '0'\n"
    "return n\n";


int
yibao_cache_infno_allowed(const unsigned char *infno, size_t len)
{
    unsigned  n;

    if (len != 4 || !yibao_code_is_digits(infno, 4)) {
        return 0;
    }

    n = (unsigned) yibao_code_number(infno, 4);

    return n == 1101 || n == 1201 || (n >= 1301 && n <= 1319)
           || n == 1901 || n == 2001 || n == 5101 || n == 5102
           || (n >= 5201 && n <= 5206) || (n >= 5301 && n <= 5304);
}


int
yibao_cache_input_digest(const yibao_envelope_t *env, char hex[65])
{
    char           *canon;
    size_t          dlen;
    json_t         *input;
    unsigned char   digest[YIBAO_MD_MAX_SIZE];

    input = json_object_get((json_t *) env->doc, "input");

    canon = json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS
                              | JSON_ENCODE_ANY);
    if (canon == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    if (yibao_digest(YIBAO_MD_SHA256, (const unsigned char *) canon,
                     strlen(canon), digest, &dlen)
        != YIBAO_OK || dlen != 32)
    {
        free(canon);
        return YIBAO_ERR_CRYPTO;
    }

    free(canon);

    yibao_hex_encode(digest, dlen, hex, 0);

    return YIBAO_OK;
}


int
yibao_cache_key(const yibao_envelope_t *env, const yibao_str_t *entity,
    yibao_alloc_t *a, yibao_str_t *key)
{
    int             rc;
    char            hex[65];
    size_t          len;
    unsigned char  *p;

    rc = yibao_cache_input_digest(env, hex);
    if (rc != YIBAO_OK) {
        return rc;
    }

    len = sizeof("yibao:{}:c:::") - 1 + entity->len + env->infno.len
          + env->insuplc_admdvs.len + 64;

    p = yibao_alloc(a, len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    key->data = p;
    key->len = len;

    memcpy(p, "yibao:{", 7);
    p += 7;
    memcpy(p, entity->data, entity->len);
    p += entity->len;
    memcpy(p, "}:c:", 4);
    p += 4;
    memcpy(p, env->infno.data, env->infno.len);
    p += env->infno.len;
    *p++ = ':';

    if (env->insuplc_admdvs.len) {
        memcpy(p, env->insuplc_admdvs.data, env->insuplc_admdvs.len);
        p += env->insuplc_admdvs.len;
    }

    *p++ = ':';

    memcpy(p, hex, 64);

    return YIBAO_OK;
}


int
yibao_cache_unframe(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_str_t *answer)
{
    int             has;
    yibao_fields_t  f;

    return yibao_cache_unframe_fields(data, len, fresh_until_ms, &f, &has,
                                      answer);
}


int
yibao_cache_unframe_fields(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_fields_t *f, int *has_fields,
    yibao_str_t *answer)
{
    size_t        i, k, n, d;
    uint64_t      t;
    yibao_str_t  *s[3];

    memset(f, 0, sizeof(yibao_fields_t));
    *has_fields = 0;

    t = 0;

    /* at most 19 digits: any of them fits a uint64_t */

    for (i = 0; i < len && i < 19 && data[i] >= '0' && data[i] <= '9'; i++) {
        t = t * 10 + (data[i] - '0');
    }

    if (i == 0 || i >= len) {
        return YIBAO_ERR_SYNTAX;
    }

    if (data[i] == ' ') {
        /* " <len>:<bytes>" for mdtrt_id, setl_id, psn_no */

        s[0] = &f->mdtrt_id;
        s[1] = &f->setl_id;
        s[2] = &f->psn_no;

        i++;

        for (k = 0; k < 3; k++) {
            n = 0;
            d = i;

            while (i < len && data[i] >= '0' && data[i] <= '9'
                   && n <= YIBAO_CACHE_FIELD_MAX)
            {
                n = n * 10 + (data[i++] - '0');
            }

            if (i == d || n > YIBAO_CACHE_FIELD_MAX || i >= len
                || data[i] != ':' || len - i - 1 < n)
            {
                memset(f, 0, sizeof(yibao_fields_t));
                return YIBAO_ERR_SYNTAX;
            }

            s[k]->data = data + i + 1;
            s[k]->len = n;
            i += 1 + n;
        }

        if (i >= len) {
            memset(f, 0, sizeof(yibao_fields_t));
            return YIBAO_ERR_SYNTAX;
        }

        *has_fields = 1;
    }

    if (data[i] != '\n') {
        memset(f, 0, sizeof(yibao_fields_t));
        *has_fields = 0;
        return YIBAO_ERR_SYNTAX;
    }

    *fresh_until_ms = t;
    answer->data = data + i + 1;
    answer->len = len - i - 1;

    return YIBAO_OK;
}


size_t
yibao_cache_fields_size(const yibao_fields_t *f)
{
    if (f->mdtrt_id.len > YIBAO_CACHE_FIELD_MAX
        || f->setl_id.len > YIBAO_CACHE_FIELD_MAX
        || f->psn_no.len > YIBAO_CACHE_FIELD_MAX)
    {
        return 0;
    }

    /* " " and three "<up to 3 digits>:" */

    return 1 + 3 * 4 + f->mdtrt_id.len + f->setl_id.len + f->psn_no.len;
}


unsigned char *
yibao_cache_fields_write(unsigned char *p, const yibao_fields_t *f)
{
    size_t              k;
    const yibao_str_t  *s[3];

    if (yibao_cache_fields_size(f) == 0) {
        return p;
    }

    s[0] = &f->mdtrt_id;
    s[1] = &f->setl_id;
    s[2] = &f->psn_no;

    *p++ = ' ';

    for (k = 0; k < 3; k++) {
        p += sprintf((char *) p, "%zu:", s[k]->len);

        if (s[k]->len) {
            memcpy(p, s[k]->data, s[k]->len);
            p += s[k]->len;
        }
    }

    return p;
}
