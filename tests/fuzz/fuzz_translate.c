/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * Code translation with the project's own rules file and the demo
 * mapping tables, read once at start-up (the targets run from the
 * repository root).
 *
 * Input: a request envelope, translated by yibao_translate_request()
 * in the scope of the clinic its fixmedins_code names (or of a demo
 * clinic); the translated document must still serialize to a valid
 * envelope.  Or "@" infno "\n" and an answer body, given to
 * yibao_translate_answer(): what it changes must still be JSON.
 */

#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_gwerr.h"
#include "yibao_hash.h"
#include "yibao_map.h"
#include "yibao_registry.h"
#include "yibao_translate.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))


typedef struct {
    yibao_rules_t            *rules;
    const yibao_map_t        *map;
    yibao_clinics_t          *clinics;
    yibao_map_scope_t         scopes[3];
} fuzz_conf_t;


static const fuzz_conf_t *fuzz_conf(void);
static void fuzz_request(const uint8_t *data, size_t size, uint32_t hash,
    yibao_alloc_t *a);
static void fuzz_answer(const uint8_t *data, size_t size, yibao_alloc_t *a);
static void fuzz_scope(const yibao_clinic_t *clinic,
    yibao_map_scope_t *scope);


static const char  *fuzz_orgs[] = {
    "PDY60134132080312D6001",
    "PDY60134132080312A1002",
    "PDY60134132080312D6005"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yibao_alloc_t        alloc;
    yibao_fuzz_arena_t   arena;

    (void) fuzz_conf();

    yibao_fuzz_arena_init(&arena, &alloc);

    if (size > 0 && data[0] == '@') {
        fuzz_answer(data + 1, size - 1, &alloc);

    } else {
        fuzz_request(data, size, yibao_hash_key(data, size), &alloc);
    }

    yibao_fuzz_arena_free(&arena);

    return 0;
}


static const fuzz_conf_t *
fuzz_conf(void)
{
    size_t                i, len;
    yibao_err_t           err;
    yibao_alloc_t        *a;
    yibao_keys_t         *keys;
    unsigned char        *p;
    const yibao_clinic_t *clinic;

    static fuzz_conf_t    conf;
    static int            done;

    if (done) {
        return &conf;
    }

    a = yibao_fuzz_static_alloc();

    p = yibao_fuzz_read_file("conf/translate-rules.tsv", &len);
    conf.rules = yibao_rules_parse(p, len, a, &err);
    free(p);

    if (conf.rules == NULL) {
        fprintf(stderr, "fuzz: rules line %zu: %s\n", err.line, err.msg);
        abort();
    }

    conf.map = yibao_fuzz_demo_map();

    p = yibao_fuzz_read_file("conf/demo/keys.tsv", &len);
    keys = yibao_keys_parse(p, len, a, &err);
    free(p);

    if (keys == NULL) {
        abort();
    }

    p = yibao_fuzz_read_file("conf/demo/clinics.tsv", &len);
    conf.clinics = yibao_clinics_parse(p, len, keys, a, &err);
    free(p);

    if (conf.clinics == NULL) {
        abort();
    }

    for (i = 0; i < 3; i++) {
        clinic = yibao_clinics_find(conf.clinics, U(fuzz_orgs[i]),
                                    strlen(fuzz_orgs[i]));
        if (clinic == NULL) {
            abort();
        }

        fuzz_scope(clinic, &conf.scopes[i]);
    }

    done = 1;

    return &conf;
}


static void
fuzz_scope(const yibao_clinic_t *clinic, yibao_map_scope_t *scope)
{
    scope->org_code = clinic->org_code;
    scope->entity_code = clinic->entity_code;
    scope->admdvs = clinic->admdvs;
}


static void
fuzz_request(const uint8_t *data, size_t size, uint32_t hash,
    yibao_alloc_t *a)
{
    int                        rc;
    size_t                     i, run;
    yibao_err_t                err;
    yibao_str_t                out;
    yibao_envelope_t           env, again;
    yibao_map_scope_t          scope;
    const fuzz_conf_t         *conf;
    const yibao_clinic_t      *clinic;
    yibao_translate_opts_t     opts;
    yibao_envelope_limits_t    limits;
    yibao_translate_result_t   res;

    conf = fuzz_conf();

    limits.max_depth = 32;
    limits.max_values = 100000;

    if (yibao_envelope_parse(data, size, &limits, &env, &err) != YIBAO_OK) {
        return;
    }

    /* the clinic as the glue finds it, else a demo one */

    clinic = yibao_clinics_find(conf->clinics, env.fixmedins_code.data,
                                env.fixmedins_code.len);

    if (clinic != NULL) {
        fuzz_scope(clinic, &scope);

    } else {
        scope = conf->scopes[hash % 3];
    }

    memset(&opts, 0, sizeof(yibao_translate_opts_t));
    opts.passthrough = (hash >> 8) & ((1u << YIBAO_KIND_MAX) - 1);
    opts.feedetl_sn_digits = (hash >> 20) & 1;

    memset(&res, 0, sizeof(yibao_translate_result_t));
    memset(&err, 0, sizeof(yibao_err_t));

    rc = yibao_translate_request(&env, conf->rules, conf->map, &scope,
                                 &opts, a, &res, &err);

    if (rc == YIBAO_ERR_INVALID) {
        yibao_fuzz_assert(res.problems > 0);
        yibao_fuzz_assert(err.gwerr >= YIBAO_GWERR_UNMAPPED
                          && err.gwerr <= YIBAO_GWERR_FEEDETL_SN);
        yibao_fuzz_assert(res.list.data != NULL);
        yibao_fuzz_assert(strlen((const char *) res.list.data)
                          == res.list.len);

        /*
         * the list goes into a log line and an error message: one line,
         * and what it quotes of the caller's values (yibao_echo) has no
         * character but ASCII (a name) and no run of 15 digits
         */

        run = 0;

        for (i = 0; i < res.list.len; i++) {
            yibao_fuzz_assert(res.list.data[i] >= 0x20
                              && res.list.data[i] < 0x80);

            run = (res.list.data[i] >= '0' && res.list.data[i] <= '9')
                  ? run + 1 : 0;
            yibao_fuzz_assert(run < 15);
        }

    } else {
        yibao_fuzz_assert(rc == YIBAO_OK);
        yibao_fuzz_assert(res.problems == 0);
    }

    /* what would be sent upstream is still an envelope */

    rc = yibao_envelope_serialize(&env, a, &out);
    yibao_fuzz_assert(rc == YIBAO_OK);

    limits.max_values = 10000000;

    rc = yibao_envelope_parse(out.data, out.len, &limits, &again, &err);

    if (rc != YIBAO_OK) {
        fprintf(stderr, "translated: %.*s\nfails: %s\n", (int) out.len,
                (const char *) out.data, err.msg);
        abort();
    }

    yibao_envelope_free(&again);
    yibao_envelope_free(&env);
}


static void
fuzz_answer(const uint8_t *data, size_t size, yibao_alloc_t *a)
{
    int                  rc;
    size_t               i;
    json_t              *doc;
    yibao_str_t          infno, body, out;
    json_error_t         jerr;
    unsigned char       *copy;
    const fuzz_conf_t   *conf;

    conf = fuzz_conf();

    for (i = 0; i < size && i < 8 && data[i] != '\n'; i++) {
        /* void */
    }

    if (i == size || data[i] != '\n') {
        return;
    }

    infno.data = data;
    infno.len = i;
    body.data = data + i + 1;
    body.len = size - i - 1;

    copy = yibao_fuzz_copy(&body);
    body.data = copy;

    rc = yibao_translate_answer(body.data, body.len, &infno, conf->rules,
                                conf->map, &conf->scopes[0], a, &out);

    if (rc != YIBAO_OK) {
        yibao_fuzz_assert(rc == YIBAO_ERR_SYNTAX || rc == YIBAO_ERR_NOMEM);
        yibao_fuzz_assert(out.data == body.data && out.len == body.len);

    } else if (out.data != body.data) {
        doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
        yibao_fuzz_assert(doc != NULL);
        json_decref(doc);
    }

    free(copy);
}
