/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Envelope parsing and validation, the msgid plan, set_entity and the
 * serialize round trip: what the gateway sends upstream must parse
 * again as an envelope and serialize to the same bytes.  A rejected
 * envelope's error message must render a valid JSON error envelope.
 */

#include <jansson.h>

#include "yibao_cache.h"
#include "yibao_codes.h"
#include "yibao_envelope.h"
#include "yibao_gwerr.h"
#include "yibao_msgid.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))

/* 某镇卫生院 */
#define ENTITY_NAME  "\xe6\x9f\x90\xe9\x95\x87\xe5\x8d\xab\xe7\x94\x9f" \
                     "\xe9\x99\xa2"


static void fuzz_error_envelope(const yibao_err_t *err, yibao_alloc_t *a);
static void fuzz_round_trip(yibao_envelope_t *env,
    const yibao_envelope_limits_t *limits, const yibao_str_t *entity,
    yibao_alloc_t *a);
static void fuzz_same_fields(const yibao_envelope_t *x,
    const yibao_envelope_t *y);
static int fuzz_str_eq(const yibao_str_t *x, const yibao_str_t *y);


static const yibao_tm_t  fuzz_now = { 2024, 1, 15, 8, 30, 10, 123 };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       rc, plan;
    unsigned char             code[12];
    yibao_err_t               err;
    yibao_str_t               entity, fixed;
    yibao_alloc_t             alloc;
    yibao_envelope_t          env;
    yibao_fuzz_arena_t        arena;
    yibao_envelope_limits_t   limits;

    limits.max_depth = 32;
    limits.max_values = 100000;

    yibao_fuzz_arena_init(&arena, &alloc);
    memset(&err, 0, sizeof(yibao_err_t));

    rc = yibao_envelope_parse(data, size, &limits, &env, &err);

    if (rc != YIBAO_OK) {
        yibao_fuzz_assert(env.doc == NULL);
        yibao_fuzz_assert(err.gwerr > 1000 && err.gwerr < 1100);
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);

        fuzz_error_envelope(&err, &alloc);

        yibao_envelope_free(&env);
        yibao_fuzz_arena_free(&arena);
        return 0;
    }

    yibao_fuzz_assert(env.doc != NULL);
    yibao_fuzz_assert(yibao_code_is_infno(env.infno.data, env.infno.len));
    yibao_fuzz_assert(env.msgid.len >= 1 && env.msgid.len <= 64);

    /* the gateway's own entity, and the envelope's code as the entity */

    fixed.data = U("H37010200001");
    fixed.len = 12;

    plan = yibao_envelope_msgid_plan(&env, &fixed, &err);
    yibao_fuzz_assert(plan == 0 || plan == 1 || plan == YIBAO_ERR_INVALID);

    entity = env.fixmedins_code;

    plan = yibao_envelope_msgid_plan(&env, &entity, &err);
    yibao_fuzz_assert(plan == 0 || plan == YIBAO_ERR_INVALID);

    if (plan == 0) {
        yibao_fuzz_assert(yibao_code_is_msgid(env.msgid.data,
                                              env.msgid.len));
    }

    /* the cache key of the request, as for a cacheable infno */

    {
        yibao_str_t  key;

        rc = yibao_cache_key(&env, &fixed, &alloc, &key);
        yibao_fuzz_assert(rc == YIBAO_OK);
        yibao_fuzz_assert(key.len > 64);
    }

    /* a copy: set_entity() replaces the string entity points into */

    if (entity.len == 12) {
        memcpy(code, entity.data, 12);
        entity.data = code;

    } else {
        entity = fixed;
    }

    fuzz_round_trip(&env, &limits, &entity, &alloc);

    yibao_envelope_free(&env);
    yibao_envelope_free(&env);
    yibao_fuzz_arena_free(&arena);

    return 0;
}


static void
fuzz_error_envelope(const yibao_err_t *err, yibao_alloc_t *a)
{
    json_t        *doc, *v;
    yibao_str_t    out;
    json_error_t   jerr;

    if (yibao_envelope_error(err->gwerr, err->msg, &fuzz_now, a, &out)
        != YIBAO_OK)
    {
        abort();
    }

    doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
    yibao_fuzz_assert(doc != NULL);

    v = json_object_get(doc, "err_msg");
    yibao_fuzz_assert(json_is_string(v));
    yibao_fuzz_assert(strncmp(json_string_value(v), "YB1", 3) == 0);

    v = json_object_get(doc, "infcode");
    yibao_fuzz_assert(json_is_integer(v) && json_integer_value(v) == -1);

    json_decref(doc);
}


static void
fuzz_round_trip(yibao_envelope_t *env, const yibao_envelope_limits_t *limits,
    const yibao_str_t *entity, yibao_alloc_t *a)
{
    int                       rc;
    char                      msgid[YIBAO_MSGID_LEN + 1];
    yibao_err_t               err;
    yibao_str_t               name, id, out1, out2;
    yibao_envelope_t          again;
    yibao_envelope_limits_t   more;

    name.data = U(ENTITY_NAME);
    name.len = sizeof(ENTITY_NAME) - 1;

    if (yibao_msgid_format(entity, &fuzz_now, 42, msgid) != YIBAO_OK) {
        abort();
    }

    id.data = U(msgid);
    id.len = YIBAO_MSGID_LEN;

    rc = yibao_envelope_set_entity(env, entity, &name, &id);
    yibao_fuzz_assert(rc == YIBAO_OK);

    yibao_fuzz_assert(fuzz_str_eq(&env->fixmedins_code, entity));
    yibao_fuzz_assert(fuzz_str_eq(&env->fixmedins_name, &name));
    yibao_fuzz_assert(fuzz_str_eq(&env->msgid, &id));

    rc = yibao_envelope_serialize(env, a, &out1);
    yibao_fuzz_assert(rc == YIBAO_OK);

    /* set_entity may add fixmedins_name: one value more */

    more = *limits;
    more.max_values += 2;

    rc = yibao_envelope_parse(out1.data, out1.len, &more, &again, &err);

    if (rc != YIBAO_OK) {
        fprintf(stderr, "round trip: %.*s\nfails: %s\n", (int) out1.len,
                (const char *) out1.data, err.msg);
        abort();
    }

    fuzz_same_fields(env, &again);

    rc = yibao_envelope_serialize(&again, a, &out2);
    yibao_fuzz_assert(rc == YIBAO_OK);

    if (out1.len != out2.len
        || memcmp(out1.data, out2.data, out1.len) != 0)
    {
        fprintf(stderr, "round trip:\n%.*s\n%.*s\n", (int) out1.len,
                (const char *) out1.data, (int) out2.len,
                (const char *) out2.data);
        abort();
    }

    yibao_envelope_free(&again);
}


static void
fuzz_same_fields(const yibao_envelope_t *x, const yibao_envelope_t *y)
{
    yibao_fuzz_assert(fuzz_str_eq(&x->infno, &y->infno));
    yibao_fuzz_assert(fuzz_str_eq(&x->msgid, &y->msgid));
    yibao_fuzz_assert(fuzz_str_eq(&x->mdtrtarea_admvs, &y->mdtrtarea_admvs));
    yibao_fuzz_assert(fuzz_str_eq(&x->insuplc_admdvs, &y->insuplc_admdvs));
    yibao_fuzz_assert(fuzz_str_eq(&x->fixmedins_code, &y->fixmedins_code));
    yibao_fuzz_assert(fuzz_str_eq(&x->fixmedins_name, &y->fixmedins_name));
    yibao_fuzz_assert(fuzz_str_eq(&x->opter, &y->opter));
    yibao_fuzz_assert(fuzz_str_eq(&x->inf_time, &y->inf_time));
    yibao_fuzz_assert(fuzz_str_eq(&x->sign_no, &y->sign_no));
}


static int
fuzz_str_eq(const yibao_str_t *x, const yibao_str_t *y)
{
    return x->len == y->len
           && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}
