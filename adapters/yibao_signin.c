/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "yibao_signin.h"
#include "yibao_json.h"


int
yibao_signin_key(const yibao_str_t *entity, const yibao_str_t *opter,
    const yibao_tm_t *day, yibao_alloc_t *a, yibao_str_t *key)
{
    char    *p, d[32];
    size_t   len;

    len = sizeof("yibao:signin:{}::YYYYMMDD") - 1 + entity->len + opter->len;

    p = yibao_alloc(a, len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, "yibao:signin:{", 14);
    memcpy(p + 14, entity->data, entity->len);
    memcpy(p + 14 + entity->len, "}:", 2);
    memcpy(p + 16 + entity->len, opter->data, opter->len);
    snprintf(d, sizeof(d), ":%04u%02u%02u", (unsigned) day->year % 10000,
             (unsigned) day->mon % 100, (unsigned) day->mday % 100);
    memcpy(p + 16 + entity->len + opter->len, d, 10);

    key->data = (const unsigned char *) p;
    key->len = len;

    return YIBAO_OK;
}


void *
yibao_signin_input(const yibao_str_t *opter, const yibao_str_t *mac,
    const yibao_str_t *ip)
{
    return json_pack("{s:{s:s%,s:s%,s:s%}}", "signIn",
                     "opter_no", (const char *) opter->data, opter->len,
                     "mac", (const char *) mac->data, mac->len,
                     "ip", (const char *) ip->data, ip->len);
}


int
yibao_signin_answer(const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_str_t *sign_no, char *reason, size_t size)
{
    size_t         n;
    json_t        *o, *v;
    const char    *msg;
    json_error_t   jerr;
    unsigned char *p;

    reason[0] = '\0';

    o = yibao_json_load((const char *) data, len, 0, &jerr);

    v = json_object_get(json_object_get(json_object_get(o, "output"),
                                        "signinoutb"),
                        "sign_no");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        msg = json_string_value(json_object_get(o, "err_msg"));
        msg = msg ? msg : (o ? "the 9001 answer has no sign_no"
                             : "the 9001 answer is not JSON");

        n = strlen(msg);

        if (n >= size) {
            n = size - 1;

            while (n > 0 && (((unsigned char) msg[n]) & 0xC0) == 0x80) {
                n--;
            }
        }

        memcpy(reason, msg, n);
        reason[n] = '\0';

        json_decref(o);
        return YIBAO_ERR_INVALID;
    }

    n = json_string_length(v);

    p = yibao_alloc(a, n);
    if (p == NULL) {
        json_decref(o);
        return YIBAO_ERR_NOMEM;
    }

    memcpy(p, json_string_value(v), n);
    sign_no->data = p;
    sign_no->len = n;

    json_decref(o);

    return YIBAO_OK;
}


uint64_t
yibao_signin_ttl_ms(const yibao_tm_t *now)
{
    uint64_t  ms;

    ms = ((uint64_t) now->hour * 3600 + (uint64_t) now->min * 60
          + (uint64_t) now->sec) * 1000 + (uint64_t) now->msec;

    return ms >= 86400000 ? 1000 : 86400000 - ms;
}
