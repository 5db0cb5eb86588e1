/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The registry: yibao_keys_parse(), yibao_clinics_parse(),
 * yibao_callers_parse() and yibao_caller_allowed().  Every record of a
 * file that parsed must be found again; when a file does not parse,
 * the demo one (conf/demo) stands in so that the next steps still run.
 *
 * Input: keys RS clinics RS callers RS infnos (RS is 0x1e; infnos a
 * comma list tried for every caller and clinic).
 */

#include "yibao_gwerr.h"
#include "yibao_registry.h"
#include "yibao_tsv.h"
#include "yibao_fuzz.h"


#define U(s)          ((const unsigned char *) (s))
#define FUZZ_MAX      12


typedef struct {
    yibao_str_t              keys_text;
    yibao_str_t              clinics_text;
    yibao_str_t              callers_text;
    yibao_keys_t            *keys;
    yibao_clinics_t         *clinics;
    yibao_callers_t         *callers;
} fuzz_demo_t;


static const fuzz_demo_t *fuzz_demo(void);
static size_t fuzz_ids(const yibao_str_t *text, yibao_str_t *ids, size_t n);
static size_t fuzz_records(const yibao_str_t *text);
static void fuzz_check_keys(const yibao_keys_t *keys,
    const yibao_str_t *text);
static void fuzz_check_clinics(const yibao_clinics_t *clinics,
    const yibao_str_t *text);
static void fuzz_allowed(const yibao_callers_t *callers,
    const yibao_str_t *callers_text, const yibao_clinics_t *clinics,
    const yibao_str_t *clinics_text, const yibao_str_t *infnos);
static int fuzz_printable(const yibao_str_t *s);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 i;
    yibao_err_t            err;
    yibao_str_t            parts[4], keys_text, clinics_text, callers_text;
    yibao_alloc_t          alloc;
    yibao_keys_t          *keys;
    unsigned char         *copies[4];
    yibao_clinics_t       *clinics;
    yibao_callers_t       *callers;
    const fuzz_demo_t     *demo;
    yibao_fuzz_arena_t     arena;

    demo = fuzz_demo();

    memset(parts, 0, sizeof(parts));
    (void) yibao_fuzz_split(data, size, parts, 4);

    for (i = 0; i < 4; i++) {
        copies[i] = yibao_fuzz_copy(&parts[i]);
        parts[i].data = copies[i];
    }

    yibao_fuzz_arena_init(&arena, &alloc);

    /* keys */

    keys = yibao_keys_parse(parts[0].data, parts[0].len, &alloc, &err);
    keys_text = parts[0];

    if (keys == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        keys = demo->keys;
        keys_text = demo->keys_text;

    } else {
        fuzz_check_keys(keys, &keys_text);
    }

    /* clinics, against those keys */

    clinics = yibao_clinics_parse(parts[1].data, parts[1].len, keys, &alloc,
                                  &err);
    clinics_text = parts[1];

    if (clinics == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        clinics = demo->clinics;
        clinics_text = demo->clinics_text;

    } else {
        fuzz_check_clinics(clinics, &clinics_text);
    }

    /* callers */

    callers = yibao_callers_parse(parts[2].data, parts[2].len, &alloc, &err);
    callers_text = parts[2];

    if (callers == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        callers = demo->callers;
        callers_text = demo->callers_text;

    } else {
        yibao_fuzz_assert(yibao_callers_count(callers)
                          == fuzz_records(&callers_text));
    }

    (void) keys_text;

    fuzz_allowed(callers, &callers_text, clinics, &clinics_text, &parts[3]);

    yibao_fuzz_arena_free(&arena);

    for (i = 0; i < 4; i++) {
        free(copies[i]);
    }

    return 0;
}


static const fuzz_demo_t *
fuzz_demo(void)
{
    size_t          len;
    yibao_err_t     err;
    yibao_alloc_t  *a;
    unsigned char  *p;

    static fuzz_demo_t  demo;
    static int          done;

    if (done) {
        return &demo;
    }

    a = yibao_fuzz_static_alloc();

    p = yibao_fuzz_read_file("conf/demo/keys.tsv", &len);
    demo.keys_text.data = p;
    demo.keys_text.len = len;
    demo.keys = yibao_keys_parse(p, len, a, &err);

    p = yibao_fuzz_read_file("conf/demo/clinics.tsv", &len);
    demo.clinics_text.data = p;
    demo.clinics_text.len = len;
    demo.clinics = yibao_clinics_parse(p, len, demo.keys, a, &err);

    p = yibao_fuzz_read_file("conf/demo/callers.tsv", &len);
    demo.callers_text.data = p;
    demo.callers_text.len = len;
    demo.callers = yibao_callers_parse(p, len, a, &err);

    if (demo.keys == NULL || demo.clinics == NULL || demo.callers == NULL) {
        abort();
    }

    done = 1;

    return &demo;
}


/* The first field of up to n records. */

static size_t
fuzz_ids(const yibao_str_t *text, yibao_str_t *ids, size_t n)
{
    size_t       k;
    yibao_str_t  line;
    yibao_tsv_t  tsv;

    k = 0;
    yibao_tsv_init(&tsv, text->data, text->len);

    while (k < n && yibao_tsv_next(&tsv, &line)) {
        (void) yibao_tsv_split(&line, &ids[k], 1);
        k++;
    }

    return k;
}


static size_t
fuzz_records(const yibao_str_t *text)
{
    size_t       n;
    yibao_str_t  line;
    yibao_tsv_t  tsv;

    n = 0;
    yibao_tsv_init(&tsv, text->data, text->len);

    while (yibao_tsv_next(&tsv, &line)) {
        n++;
    }

    return n;
}


static void
fuzz_check_keys(const yibao_keys_t *keys, const yibao_str_t *text)
{
    size_t              i, n;
    yibao_str_t         ids[FUZZ_MAX];
    const yibao_key_t  *key;

    yibao_fuzz_assert(yibao_keys_count(keys) == fuzz_records(text));

    n = fuzz_ids(text, ids, FUZZ_MAX);

    for (i = 0; i < n; i++) {
        key = yibao_keys_find(keys, ids[i].data, ids[i].len);
        yibao_fuzz_assert(key != NULL);
        yibao_fuzz_assert(key->id.len == ids[i].len
                          && memcmp(key->id.data, ids[i].data, ids[i].len)
                             == 0);

        /* they go into upstream headers and HMAC keys */
        yibao_fuzz_assert(key->ak.len > 0 && fuzz_printable(&key->ak));
        yibao_fuzz_assert(key->sk.len > 0 && fuzz_printable(&key->sk));
    }
}


static void
fuzz_check_clinics(const yibao_clinics_t *clinics, const yibao_str_t *text)
{
    size_t                 i, n;
    yibao_str_t            ids[FUZZ_MAX];
    const yibao_clinic_t  *c, *own;

    yibao_fuzz_assert(yibao_clinics_count(clinics) == fuzz_records(text));

    n = fuzz_ids(text, ids, FUZZ_MAX);

    for (i = 0; i < n; i++) {
        c = yibao_clinics_find(clinics, ids[i].data, ids[i].len);
        yibao_fuzz_assert(c != NULL);
        yibao_fuzz_assert(c->org_code.len == 22
                          && memcmp(c->org_code.data, ids[i].data, 22)
                             == 0);
        yibao_fuzz_assert(c->key != NULL);
        yibao_fuzz_assert(c->entity_code.len == 12);
        yibao_fuzz_assert(c->admdvs.len == 6);
        yibao_fuzz_assert(c->mode == YIBAO_SETTLE_OWN
                          || c->mode == YIBAO_SETTLE_TOWNSHIP);

        /* an own clinic is also found by its national code */

        if (c->mode == YIBAO_SETTLE_OWN) {
            own = yibao_clinics_find(clinics, c->entity_code.data,
                                     c->entity_code.len);
            yibao_fuzz_assert(own == c);
        }
    }
}


static void
fuzz_allowed(const yibao_callers_t *callers, const yibao_str_t *callers_text,
    const yibao_clinics_t *clinics, const yibao_str_t *clinics_text,
    const yibao_str_t *infnos)
{
    int                    rc;
    size_t                 i, j, k, ncallers, nclinics, ninfnos;
    yibao_err_t            err;
    yibao_str_t            caller_ids[FUZZ_MAX], org_ids[FUZZ_MAX];
    yibao_str_t            codes[FUZZ_MAX];
    yibao_clinic_t         any;
    const yibao_caller_t  *caller;
    const yibao_clinic_t  *clinics_found[FUZZ_MAX + 1];
    const unsigned char   *p, *last, *comma;

    static const char  *fixed[] = { "1101", "2204", "2207A", "9001", "" };

    /* the infnos to try: the fixed ones and the input's comma list */

    ninfnos = 0;

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        codes[ninfnos].data = U(fixed[i]);
        codes[ninfnos].len = strlen(fixed[i]);
        ninfnos++;
    }

    p = infnos->len ? infnos->data : NULL;
    last = infnos->len ? infnos->data + infnos->len : NULL;

    while (p != NULL && p < last && ninfnos < FUZZ_MAX) {
        comma = memchr(p, ',', (size_t) (last - p));
        codes[ninfnos].data = p;
        codes[ninfnos].len = (size_t) ((comma ? comma : last) - p);
        ninfnos++;
        p = comma ? comma + 1 : NULL;
    }

    nclinics = fuzz_ids(clinics_text, org_ids, FUZZ_MAX);

    for (i = 0, j = 0; i < nclinics; i++) {
        clinics_found[j] = yibao_clinics_find(clinics, org_ids[i].data,
                                              org_ids[i].len);
        if (clinics_found[j] != NULL) {
            j++;
        }
    }

    /* a clinic that matches no list, as the cache configuration uses */

    memset(&any, 0, sizeof(yibao_clinic_t));
    clinics_found[j++] = &any;
    nclinics = j;

    ncallers = fuzz_ids(callers_text, caller_ids, FUZZ_MAX);

    for (i = 0; i < ncallers; i++) {
        caller = yibao_callers_find(callers, caller_ids[i].data,
                                    caller_ids[i].len);
        yibao_fuzz_assert(caller != NULL);
        yibao_fuzz_assert(yibao_caller_id(caller)->len == caller_ids[i].len);
        yibao_fuzz_assert(yibao_caller_secret(caller)->len > 0);

        for (j = 0; j < nclinics; j++) {
            for (k = 0; k < ninfnos; k++) {
                memset(&err, 0, sizeof(yibao_err_t));

                rc = yibao_caller_allowed(caller, clinics_found[j],
                                          codes[k].data, codes[k].len,
                                          &err);

                if (rc != YIBAO_OK) {
                    yibao_fuzz_assert(rc == YIBAO_ERR_DENIED);
                    yibao_fuzz_assert(
                        err.gwerr == YIBAO_GWERR_DENIED_CLINIC
                        || err.gwerr == YIBAO_GWERR_DENIED_INFNO);
                    yibao_fuzz_assert(memchr(err.msg, '\0',
                                             sizeof(err.msg))
                                      != NULL);
                }

                /* the same answer without a message */

                yibao_fuzz_assert(yibao_caller_allowed(caller,
                                                       clinics_found[j],
                                                       codes[k].data,
                                                       codes[k].len, NULL)
                                  == rc);
            }
        }
    }
}


static int
fuzz_printable(const yibao_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}
