/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_hash.h"
#include "yibao_infno.h"
#include "yibao_registry.h"
#include "yibao_tsv.h"


#define YIBAO_REGISTRY_MAX_LINES    ((size_t) 1 << 24)
#define YIBAO_REGISTRY_ID_MAX       64
#define YIBAO_REGISTRY_SECRET_MAX   512
#define YIBAO_REGISTRY_SECRET_MIN   16
#define YIBAO_REGISTRY_NAME_MAX     200

#define YIBAO_KEYS_FIELDS           3
#define YIBAO_KEYS_FIELDS_MAX       5
#define YIBAO_CLINICS_FIELDS        7
#define YIBAO_CLINICS_FIELDS_MAX    13
#define YIBAO_CALLERS_FIELDS        4


struct yibao_keys_s {
    yibao_key_t          *keys;
    size_t                nkeys;
    yibao_hash_t         *index;
};


struct yibao_clinics_s {
    yibao_clinic_t       *clinics;
    size_t                nclinics;
    yibao_hash_t         *index;     /* org codes, entity codes of "own" */
};


typedef enum {
    YIBAO_CALLER_ORG = 1,
    YIBAO_CALLER_ENTITY,
    YIBAO_CALLER_ADMDVS
} yibao_caller_kind_e;


typedef struct {
    yibao_str_t           code;
    yibao_caller_kind_e   kind;
} yibao_caller_clinic_t;


typedef struct {
    yibao_str_t           code;      /* an exact infno; len 0: a range */
    unsigned              lo;
    unsigned              hi;
} yibao_caller_infno_t;


struct yibao_caller_s {
    yibao_str_t              id;
    yibao_str_t              secret;
    yibao_caller_clinic_t   *clinics;
    size_t                   nclinics;
    yibao_caller_infno_t    *infnos;
    size_t                   ninfnos;
    yibao_hash_t            *set;      /* the clinics items' codes */
    unsigned                 all_clinics:1;
    unsigned                 all_infnos:1;
};


struct yibao_callers_s {
    yibao_caller_t       *callers;
    size_t                ncallers;
    yibao_hash_t         *index;
};


/* what every parser starts with */

typedef struct {
    const unsigned char  *data;      /* the parser's own copy */
    size_t                len;
    size_t                max;       /* an upper bound of the records */
    yibao_tsv_t           tsv;
    yibao_err_t          *err;
    char                 *records;   /* see yibao_registry_records() */
    size_t                size;      /* of a record */
    yibao_hash_t         *index;
} yibao_registry_file_t;


/* the comma list columns of the callers file */

typedef int (*yibao_registry_item_pt)(yibao_registry_file_t *f, void *elt,
    const yibao_str_t *item);

typedef struct {
    int                      col;
    const char              *name;
    size_t                   size;   /* of an element */
    yibao_registry_item_pt   item;   /* checks an item into an element */
} yibao_registry_list_t;


static int yibao_registry_open(yibao_registry_file_t *f,
    const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_err_t *err);
static int yibao_registry_fields(yibao_registry_file_t *f,
    yibao_str_t *fields, size_t n);
static int yibao_registry_fields_range(yibao_registry_file_t *f,
    yibao_str_t *fields, size_t min, size_t max, size_t *got);
static int yibao_registry_key_line(yibao_registry_file_t *f,
    yibao_key_t *key);
static int yibao_registry_key_times(yibao_registry_file_t *f,
    yibao_key_t *key, const yibao_str_t *fields);
static int yibao_registry_key_index(yibao_registry_file_t *f,
    yibao_key_t *key);
static int yibao_registry_clinic_optional(yibao_registry_file_t *f,
    yibao_clinic_t *clinic, const yibao_str_t *fields, size_t n);
static int yibao_registry_caller_set(yibao_registry_file_t *f,
    yibao_caller_t *caller, yibao_alloc_t *a);
static void *yibao_registry_records(yibao_registry_file_t *f, size_t size,
    size_t codes, yibao_alloc_t *a);
static int yibao_registry_index(yibao_registry_file_t *f,
    const yibao_str_t *code, void *record, int col, const char *name,
    const char *what);
static size_t yibao_registry_record_line(yibao_registry_file_t *f,
    size_t index);
static void *yibao_registry_nomem(yibao_err_t *err);
static int yibao_registry_check_ascii(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v, size_t min, size_t max);
static int yibao_registry_check_name(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v);
static int yibao_registry_check_code(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v,
    int (*check)(const unsigned char *p, size_t len), const char *shape);
static int yibao_registry_clinic_line(yibao_registry_file_t *f,
    yibao_clinic_t *clinic, const yibao_keys_t *keys);
static int yibao_registry_list(yibao_registry_file_t *f,
    const yibao_registry_list_t *list, const yibao_str_t *v, void **elts,
    size_t *n, yibao_alloc_t *a);
static int yibao_registry_clinic_item(yibao_registry_file_t *f, void *elt,
    const yibao_str_t *item);
static int yibao_registry_infno_item(yibao_registry_file_t *f, void *elt,
    const yibao_str_t *item);
static size_t yibao_registry_items(const yibao_str_t *v);
static int yibao_registry_next_item(const yibao_str_t *v,
    const unsigned char **pos, yibao_str_t *item);
static int yibao_registry_clinic_match(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic);
static int yibao_registry_infno_match(const yibao_caller_t *caller,
    const unsigned char *infno, size_t len);
static int yibao_registry_str_eq(const yibao_str_t *s,
    const unsigned char *p, size_t len);


static const yibao_registry_list_t  yibao_registry_clinics_list = {
    3, "clinics", sizeof(yibao_caller_clinic_t), yibao_registry_clinic_item
};

static const yibao_registry_list_t  yibao_registry_infnos_list = {
    4, "infnos", sizeof(yibao_caller_infno_t), yibao_registry_infno_item
};


yibao_keys_t *
yibao_keys_parse(const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_err_t *err)
{
    int                     rc;
    yibao_key_t            *key;
    yibao_keys_t           *keys;
    yibao_registry_file_t   f;

    if (yibao_registry_open(&f, data, len, a, err) != YIBAO_OK) {
        return NULL;
    }

    keys = yibao_alloc(a, sizeof(yibao_keys_t));
    if (keys == NULL) {
        return yibao_registry_nomem(err);
    }

    keys->nkeys = 0;
    keys->keys = yibao_registry_records(&f, sizeof(yibao_key_t), 1, a);
    keys->index = f.index;

    if (keys->keys == NULL) {
        return NULL;
    }

    for ( ;; ) {
        key = &keys->keys[keys->nkeys];

        rc = yibao_registry_key_line(&f, key);

        if (rc == YIBAO_ERR_NOT_FOUND) {
            return keys;
        }

        if (rc != YIBAO_OK) {
            return NULL;
        }

        key->index = (uint32_t) keys->nkeys;

        if (yibao_registry_key_index(&f, key) != YIBAO_OK) {
            return NULL;
        }

        keys->nkeys++;
    }
}


const yibao_key_t *
yibao_keys_find(const yibao_keys_t *keys, const unsigned char *id,
    size_t len)
{
    return yibao_hash_find(keys->index, id, len);
}


size_t
yibao_keys_count(const yibao_keys_t *keys)
{
    return keys->nkeys;
}


const yibao_key_t *
yibao_keys_at(const yibao_keys_t *keys, size_t i)
{
    return i < keys->nkeys ? &keys->keys[i] : NULL;
}


const yibao_key_t *
yibao_key_pick(const yibao_key_t *newest, int64_t now,
    const unsigned char *use, size_t use_len)
{
    char                label[YIBAO_KEY_LABEL_LEN];
    size_t              len;
    const yibao_key_t  *older;

    older = newest->older;

    if (older != NULL && use_len != 0
        && now >= older->valid_from && now < older->valid_to)
    {
        len = yibao_key_label(older, label);

        if (len == use_len && memcmp(label, use, len) == 0) {
            return older;
        }
    }

    if (now >= newest->valid_from) {
        return now < newest->valid_to ? newest : NULL;
    }

    if (older != NULL && now >= older->valid_from && now < older->valid_to) {
        return older;
    }

    return NULL;
}


yibao_key_state_e
yibao_key_state(const yibao_key_t *key, int64_t activated, int64_t now)
{
    if (now >= key->valid_to) {
        return YIBAO_KEY_EXPIRED;
    }

    if (key->valid_to != YIBAO_KEY_NEVER
        && key->valid_to - now <= YIBAO_KEY_EXPIRING_S)
    {
        return YIBAO_KEY_EXPIRING;
    }

    if (activated != 0) {
        return YIBAO_KEY_ACTIVATED;
    }

    if (now < key->valid_from) {
        return YIBAO_KEY_PENDING;
    }

    return YIBAO_KEY_NEVER_USED;
}


int
yibao_key_activates(const unsigned char *infno, size_t len)
{
    return (len >= 4 && memcmp(infno, "9001", 4) == 0)
           || yibao_infno_money(infno, len);
}


const char *
yibao_key_state_name(yibao_key_state_e state)
{
    switch (state) {

    case YIBAO_KEY_ACTIVATED:
        return "activated";

    case YIBAO_KEY_EXPIRING:
        return "expiring";

    case YIBAO_KEY_EXPIRED:
        return "expired";

    case YIBAO_KEY_PENDING:
        return "pending";

    default: /* YIBAO_KEY_NEVER_USED */
        return "never_used";
    }
}


size_t
yibao_key_label(const yibao_key_t *key, char *buf)
{
    int  n;

    n = snprintf(buf, YIBAO_KEY_LABEL_LEN, "%.*s@%lld",
                 (int) key->id.len, key->id.data,
                 (long long) key->valid_from);

    return n < 0 ? 0 : (size_t) n;
}


int
yibao_time_parse(const unsigned char *p, size_t len, int64_t *t)
{
    size_t    i;
    int64_t   v[6], off;
    unsigned  sign;

    static const unsigned char  shape[] = "dddd-dd-ddTdd:dd:dd";

    if (len != 20 && len != 25) {
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < 19; i++) {
        if (shape[i] == 'd' ? (p[i] < '0' || p[i] > '9')
                            : (p[i] != shape[i]
                               && !(i == 10 && p[i] == ' ')))
        {
            return YIBAO_ERR_INVALID;
        }
    }

    v[0] = yibao_code_number(p, 4);
    v[1] = yibao_code_number(p + 5, 2);
    v[2] = yibao_code_number(p + 8, 2);
    v[3] = yibao_code_number(p + 11, 2);
    v[4] = yibao_code_number(p + 14, 2);
    v[5] = yibao_code_number(p + 17, 2);

    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1
        || v[2] > yibao_code_days_in_month(v[0], (int) v[1])
        || v[3] > 23 || v[4] > 59 || v[5] > 59)
    {
        return YIBAO_ERR_INVALID;
    }

    off = 0;

    if (len == 20) {
        if (p[19] != 'Z') {
            return YIBAO_ERR_INVALID;
        }

    } else {
        sign = p[19];

        if ((sign != '+' && sign != '-') || p[22] != ':'
            || !yibao_code_is_digits(p + 20, 2)
            || !yibao_code_is_digits(p + 23, 2)
            || yibao_code_number(p + 20, 2) > 14
            || yibao_code_number(p + 23, 2) > 59)
        {
            return YIBAO_ERR_INVALID;
        }

        off = (int64_t) yibao_code_number(p + 20, 2) * 3600
              + (int64_t) yibao_code_number(p + 23, 2) * 60;

        if (sign == '-') {
            off = -off;
        }
    }

    *t = yibao_code_days_from_civil(v[0], (int) v[1], (int) v[2]) * 86400
         + v[3] * 3600 + v[4] * 60 + v[5] - off;

    return YIBAO_OK;
}


void
yibao_time_format(int64_t t, char *buf)
{
    int      m, d;
    int64_t  days, secs, y;

    days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    secs = t - days * 86400;

    yibao_code_civil_from_days(days, &y, &m, &d);

    if (y < 0 || y > 9999) {
        y = y < 0 ? 0 : 9999;
    }

    snprintf(buf, YIBAO_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ",
             (int) y, m, d, (int) (secs / 3600),
             (int) (secs / 60 % 60), (int) (secs % 60));
}


yibao_clinics_t *
yibao_clinics_parse(const unsigned char *data, size_t len,
    const yibao_keys_t *keys, yibao_alloc_t *a, yibao_err_t *err)
{
    int                     rc;
    yibao_clinic_t         *clinic;
    yibao_clinics_t        *clinics;
    yibao_registry_file_t   f;

    if (yibao_registry_open(&f, data, len, a, err) != YIBAO_OK) {
        return NULL;
    }

    clinics = yibao_alloc(a, sizeof(yibao_clinics_t));
    if (clinics == NULL) {
        return yibao_registry_nomem(err);
    }

    /* an org code per clinic, and an entity code per "own" clinic */

    clinics->nclinics = 0;
    clinics->clinics = yibao_registry_records(&f, sizeof(yibao_clinic_t), 2,
                                              a);
    clinics->index = f.index;

    if (clinics->clinics == NULL) {
        return NULL;
    }

    for ( ;; ) {
        clinic = &clinics->clinics[clinics->nclinics];

        rc = yibao_registry_clinic_line(&f, clinic, keys);

        if (rc == YIBAO_ERR_NOT_FOUND) {
            return clinics;
        }

        if (rc != YIBAO_OK) {
            return NULL;
        }

        if (yibao_registry_index(&f, &clinic->org_code, clinic, 1,
                                 "org_code", "a duplicate of")
            != YIBAO_OK
            || (clinic->mode == YIBAO_SETTLE_OWN
                && yibao_registry_index(&f, &clinic->entity_code, clinic, 5,
                                        "entity_code", "already the code "
                                        "of the \"own\" clinic of")
                   != YIBAO_OK))
        {
            return NULL;
        }

        clinics->nclinics++;
    }
}


const yibao_clinic_t *
yibao_clinics_find(const yibao_clinics_t *clinics, const unsigned char *code,
    size_t len)
{
    /* org codes have 22 chars, national codes 12: they never collide */

    return yibao_hash_find(clinics->index, code, len);
}


size_t
yibao_clinics_count(const yibao_clinics_t *clinics)
{
    return clinics->nclinics;
}


const yibao_clinic_t *
yibao_clinics_at(const yibao_clinics_t *clinics, size_t i)
{
    return i < clinics->nclinics ? &clinics->clinics[i] : NULL;
}


size_t
yibao_clinics_index(const yibao_clinics_t *clinics,
    const yibao_clinic_t *clinic)
{
    return (size_t) (clinic - clinics->clinics);
}


const yibao_str_t *
yibao_clinic_township(const yibao_clinic_t *clinic)
{
    return clinic->mode == YIBAO_SETTLE_TOWNSHIP ? &clinic->entity_code
                                                 : &clinic->township_code;
}


yibao_callers_t *
yibao_callers_parse(const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_err_t *err)
{
    int                     rc;
    void                   *clinics, *infnos;
    yibao_str_t             fields[YIBAO_CALLERS_FIELDS];
    yibao_caller_t         *caller;
    yibao_callers_t        *callers;
    yibao_registry_file_t   f;

    if (yibao_registry_open(&f, data, len, a, err) != YIBAO_OK) {
        return NULL;
    }

    callers = yibao_alloc(a, sizeof(yibao_callers_t));
    if (callers == NULL) {
        return yibao_registry_nomem(err);
    }

    callers->ncallers = 0;
    callers->callers = yibao_registry_records(&f, sizeof(yibao_caller_t), 1,
                                              a);
    callers->index = f.index;

    if (callers->callers == NULL) {
        return NULL;
    }

    for ( ;; ) {
        rc = yibao_registry_fields(&f, fields, YIBAO_CALLERS_FIELDS);

        if (rc == YIBAO_ERR_NOT_FOUND) {
            return callers;
        }

        if (rc != YIBAO_OK) {
            return NULL;
        }

        caller = &callers->callers[callers->ncallers];
        memset(caller, 0, sizeof(yibao_caller_t));

        if (yibao_registry_check_ascii(&f, 1, "caller_id", &fields[0], 1,
                                       YIBAO_REGISTRY_ID_MAX)
            != YIBAO_OK
            || yibao_registry_check_ascii(&f, 2, "secret", &fields[1],
                                          YIBAO_REGISTRY_SECRET_MIN,
                                          YIBAO_REGISTRY_SECRET_MAX)
               != YIBAO_OK
            || yibao_registry_list(&f, &yibao_registry_clinics_list,
                                   &fields[2], &clinics, &caller->nclinics, a)
               != YIBAO_OK
            || yibao_registry_list(&f, &yibao_registry_infnos_list,
                                   &fields[3], &infnos, &caller->ninfnos, a)
               != YIBAO_OK)
        {
            return NULL;
        }

        caller->id = fields[0];
        caller->secret = fields[1];
        caller->clinics = clinics;
        caller->all_clinics = (clinics == NULL);
        caller->infnos = infnos;
        caller->all_infnos = (infnos == NULL);

        if (yibao_registry_caller_set(&f, caller, a) != YIBAO_OK) {
            return NULL;
        }

        if (yibao_registry_index(&f, &caller->id, caller, 1, "caller_id",
                                 "a duplicate of")
            != YIBAO_OK)
        {
            return NULL;
        }

        callers->ncallers++;
    }
}


const yibao_caller_t *
yibao_callers_find(const yibao_callers_t *callers, const unsigned char *id,
    size_t len)
{
    return yibao_hash_find(callers->index, id, len);
}


size_t
yibao_callers_count(const yibao_callers_t *callers)
{
    return callers->ncallers;
}


const yibao_str_t *
yibao_caller_id(const yibao_caller_t *caller)
{
    return &caller->id;
}


const yibao_str_t *
yibao_caller_secret(const yibao_caller_t *caller)
{
    return &caller->secret;
}


int
yibao_caller_allowed(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic, const unsigned char *infno, size_t len,
    yibao_err_t *err)
{
    char         buf[YIBAO_QUOTE_LEN];
    yibao_str_t  v;

    if (!yibao_registry_clinic_match(caller, clinic)) {
        yibao_err_line(err, 0, "caller \"%.*s\" may not act for "
                             "clinic %.*s (%.*s)",
                             (int) caller->id.len, caller->id.data,
                             (int) clinic->org_code.len,
                             clinic->org_code.data,
                             (int) clinic->name.len, clinic->name.data);

        if (err != NULL) {
            err->gwerr = YIBAO_GWERR_DENIED_CLINIC;
        }

        return YIBAO_ERR_DENIED;
    }

    if (!yibao_registry_infno_match(caller, infno, len)) {

        if (yibao_code_is_infno(infno, len)) {
            yibao_err_line(err, 0, "caller \"%.*s\" may not use "
                                 "infno %.*s",
                                 (int) caller->id.len, caller->id.data,
                                 (int) len, infno);

        } else {
            /* the request's bytes: quoted, escaped and cut */

            v.data = infno;
            v.len = len;

            yibao_err_line(err, 0, "caller \"%.*s\" may not use "
                                 "infno %s",
                                 (int) caller->id.len, caller->id.data,
                                 yibao_quote(buf, v.data, v.len));
        }

        if (err != NULL) {
            err->gwerr = YIBAO_GWERR_DENIED_INFNO;
        }

        return YIBAO_ERR_DENIED;
    }

    return YIBAO_OK;
}


/*
 * Copies the input (the results point into the copy, so the caller may
 * release its bytes) and starts reading it.
 */

static int
yibao_registry_open(yibao_registry_file_t *f, const unsigned char *data,
    size_t len, yibao_alloc_t *a, yibao_err_t *err)
{
    unsigned char  *copy;

    f->err = err;
    f->len = len;
    f->max = yibao_tsv_max_lines(data, len);

    if (f->max > YIBAO_REGISTRY_MAX_LINES) {
        yibao_err_line(err, 0, "the file has more than %zu lines",
                             YIBAO_REGISTRY_MAX_LINES);
        return YIBAO_ERR_TOO_LARGE;
    }

    copy = yibao_alloc(a, len ? len : 1);
    if (copy == NULL) {
        yibao_registry_nomem(err);
        return YIBAO_ERR_NOMEM;
    }

    if (len != 0) {
        memcpy(copy, data, len);
    }

    f->data = copy;
    yibao_tsv_init(&f->tsv, copy, len);

    return YIBAO_OK;
}


/*
 * Reads the next record into fields[0..n).  Returns YIBAO_OK,
 * YIBAO_ERR_NOT_FOUND at the end of the file, or YIBAO_ERR_SYNTAX (err
 * set) if the record has not exactly n fields.
 */

static int
yibao_registry_fields(yibao_registry_file_t *f, yibao_str_t *fields,
    size_t n)
{
    return yibao_registry_fields_range(f, fields, n, n, NULL);
}


/*
 * As yibao_registry_fields(), for a record of min to max fields; *got
 * (if not NULL) is set to their number.  The fields past it are set
 * empty, up to max.
 */

static int
yibao_registry_fields_range(yibao_registry_file_t *f, yibao_str_t *fields,
    size_t min, size_t max, size_t *got)
{
    size_t       n, i;
    yibao_str_t  line;

    if (!yibao_tsv_next(&f->tsv, &line)) {
        return YIBAO_ERR_NOT_FOUND;
    }

    n = yibao_tsv_split(&line, fields, max);

    if (n < min || n > max) {
        if (min == max) {
            yibao_err_line(f->err, f->tsv.line,
                                 "expected %zu TAB-separated fields, "
                                 "got %zu", min, n);

        } else {
            yibao_err_line(f->err, f->tsv.line,
                                 "expected %zu to %zu TAB-separated "
                                 "fields, got %zu", min, max, n);
        }

        return YIBAO_ERR_SYNTAX;
    }

    for (i = n; i < max; i++) {
        fields[i].data = (const unsigned char *) "";
        fields[i].len = 0;
    }

    if (got != NULL) {
        *got = n;
    }

    return YIBAO_OK;
}


/*
 * Reads and checks one keys line into *key (but its index and older).
 * Returns YIBAO_OK, YIBAO_ERR_NOT_FOUND at the end, or an error with
 * err set.  A line has 3 fields (a key valid at any time) or 5.
 */

static int
yibao_registry_key_line(yibao_registry_file_t *f, yibao_key_t *key)
{
    int          rc;
    size_t       n;
    yibao_str_t  fields[YIBAO_KEYS_FIELDS_MAX];

    rc = yibao_registry_fields_range(f, fields, YIBAO_KEYS_FIELDS,
                                     YIBAO_KEYS_FIELDS_MAX, &n);
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (n == 4) {
        yibao_err_line(f->err, f->tsv.line,
                             "expected 3 or 5 TAB-separated fields "
                             "(valid_from and valid_to together), got 4");
        return YIBAO_ERR_SYNTAX;
    }

    if (yibao_registry_check_ascii(f, 1, "key_id", &fields[0], 1,
                                   YIBAO_REGISTRY_ID_MAX)
        != YIBAO_OK
        || yibao_registry_check_ascii(f, 2, "ak", &fields[1], 1,
                                      YIBAO_REGISTRY_SECRET_MAX)
           != YIBAO_OK
        || yibao_registry_check_ascii(f, 3, "sk", &fields[2], 1,
                                      YIBAO_REGISTRY_SECRET_MAX)
           != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    key->id = fields[0];
    key->ak = fields[1];
    key->sk = fields[2];
    key->valid_from = 0;
    key->valid_to = YIBAO_KEY_NEVER;
    key->older = NULL;
    key->validity = 0;

    if (n == YIBAO_KEYS_FIELDS) {
        return YIBAO_OK;
    }

    return yibao_registry_key_times(f, key, fields);
}


/* the valid_from and valid_to columns of a keys line */

static int
yibao_registry_key_times(yibao_registry_file_t *f, yibao_key_t *key,
    const yibao_str_t *fields)
{
    int          i;
    char         buf[YIBAO_QUOTE_LEN];
    int64_t      t[2];
    const char  *name[2] = { "valid_from", "valid_to" };

    for (i = 0; i < 2; i++) {
        if (yibao_time_parse(fields[3 + i].data, fields[3 + i].len, &t[i])
            != YIBAO_OK)
        {
            yibao_err_line(f->err, f->tsv.line,
                                 "column %d \"%s\": %s is not "
                                 "YYYY-MM-DDTHH:MM:SS and Z or +HH:MM",
                                 4 + i, name[i],
                                 yibao_quote(buf, fields[3 + i].data,
                                             fields[3 + i].len));
            return YIBAO_ERR_INVALID;
        }
    }

    if (t[1] <= t[0]) {
        yibao_err_line(f->err, f->tsv.line,
                             "column 5 \"valid_to\" is not after column 4 "
                             "\"valid_from\"");
        return YIBAO_ERR_INVALID;
    }

    key->valid_from = t[0];
    key->valid_to = t[1];
    key->validity = 1;

    return YIBAO_OK;
}


/*
 * Indexes a key under its key_id: the first of the id, or its second,
 * both with validity, with another AK and another valid_from; the index
 * then points to the newer, which points to the older.
 */

static int
yibao_registry_key_index(yibao_registry_file_t *f, yibao_key_t *key)
{
    size_t        line;
    const char   *why;
    yibao_key_t  *prev, tmp;

    if (yibao_hash_insert(f->index, key->id.data, key->id.len, key)
        == YIBAO_OK)
    {
        return YIBAO_OK;
    }

    prev = yibao_hash_find(f->index, key->id.data, key->id.len);
    line = yibao_registry_record_line(f, prev->index);

    if (!key->validity || !prev->validity) {
        why = "(two keys of a key_id need valid_from and valid_to)";

    } else if (prev->older != NULL) {
        why = "(a key_id has two keys at most)";

    } else if (prev->ak.len == key->ak.len
               && memcmp(prev->ak.data, key->ak.data, key->ak.len) == 0)
    {
        why = "with the same AK";

    } else if (prev->valid_from == key->valid_from) {
        why = "with the same valid_from";

    } else {
        /* the index keeps pointing at the first: it gets the newer */

        if (key->valid_from > prev->valid_from) {
            tmp = *prev;
            *prev = *key;
            *key = tmp;
            key->index = prev->index;
            prev->index = tmp.index;
        }

        prev->older = key;
        key->older = NULL;

        return YIBAO_OK;
    }

    yibao_err_line(f->err, f->tsv.line, "column 1 \"key_id\": \"%.*s\" "
                         "is a duplicate of line %zu %s",
                         (int) key->id.len, key->id.data, line, why);

    return YIBAO_ERR_INVALID;
}


/*
 * Allocates the records of the file: an array of f->max records (at
 * least one) of size bytes, and an index of f->max * codes codes.
 * Returns the array, or NULL (err set) if out of memory.
 */

static void *
yibao_registry_records(yibao_registry_file_t *f, size_t size, size_t codes,
    yibao_alloc_t *a)
{
    f->size = size;
    f->records = yibao_alloc(a, (f->max ? f->max : 1) * size);
    f->index = yibao_hash_create(f->max * codes, a);

    if (f->records == NULL || f->index == NULL) {
        return yibao_registry_nomem(f->err);
    }

    return f->records;
}


/*
 * Indexes record, one of the records, under code.  If an earlier record
 * has the code: YIBAO_ERR_INVALID, and err says
 * column <col> "<name>": "<code>" is <what> line <its line>.
 */

static int
yibao_registry_index(yibao_registry_file_t *f, const yibao_str_t *code,
    void *record, int col, const char *name, const char *what)
{
    size_t       line;
    const char  *prev;

    if (yibao_hash_insert(f->index, code->data, code->len, record)
        == YIBAO_OK)
    {
        return YIBAO_OK;
    }

    prev = yibao_hash_find(f->index, code->data, code->len);
    line = yibao_registry_record_line(f, (size_t) (prev - f->records)
                                         / f->size);

    yibao_err_line(f->err, f->tsv.line,
                         "column %d \"%s\": \"%.*s\" is %s line %zu",
                         col, name, (int) code->len, code->data, what, line);
    return YIBAO_ERR_INVALID;
}


/*
 * The line number of record number index (0-based).  Only error paths
 * need it, so it reads the file again rather than keeping a line
 * number per record.
 */

static size_t
yibao_registry_record_line(yibao_registry_file_t *f, size_t index)
{
    size_t       i;
    yibao_tsv_t  tsv;
    yibao_str_t  line;

    yibao_tsv_init(&tsv, f->data, f->len);

    for (i = 0; yibao_tsv_next(&tsv, &line); i++) {
        if (i == index) {
            break;
        }
    }

    return tsv.line;
}


static void *
yibao_registry_nomem(yibao_err_t *err)
{
    yibao_err_line(err, 0, "out of memory");
    return NULL;
}


/*
 * min..max bytes of printable ASCII without space: an id, a key or a
 * secret.  The value is never shown.
 */

static int
yibao_registry_check_ascii(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v, size_t min, size_t max)
{
    size_t  i;

    if (v->len == 0) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is empty", col, name);
        return YIBAO_ERR_INVALID;
    }

    if (v->len < min) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is shorter than %zu "
                             "characters", col, name, min);
        return YIBAO_ERR_INVALID;
    }

    if (v->len > max) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is longer than %zu bytes",
                             col, name, max);
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] <= 0x20 || v->data[i] >= 0x7f) {
            yibao_err_line(f->err, f->tsv.line,
                                 "column %d \"%s\" has a byte that is not "
                                 "printable ASCII (byte %zu)",
                                 col, name, i + 1);
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


/* 1..200 bytes of UTF-8 without control characters */

static int
yibao_registry_check_name(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v)
{
    size_t  i;

    if (v->len == 0) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is empty", col, name);
        return YIBAO_ERR_INVALID;
    }

    if (v->len > YIBAO_REGISTRY_NAME_MAX) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is longer than %d bytes "
                             "(%zu)", col, name, YIBAO_REGISTRY_NAME_MAX,
                             v->len);
        return YIBAO_ERR_INVALID;
    }

    if (!yibao_code_is_utf8(v->data, v->len)) {
        yibao_err_line(f->err, f->tsv.line,
                             "column %d \"%s\" is not valid UTF-8",
                             col, name);
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] == 0x7f) {
            yibao_err_line(f->err, f->tsv.line,
                                 "column %d \"%s\" has a control character "
                                 "(byte %zu)", col, name, i + 1);
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


static int
yibao_registry_check_code(yibao_registry_file_t *f, int col,
    const char *name, const yibao_str_t *v,
    int (*check)(const unsigned char *p, size_t len), const char *shape)
{
    char  buf[YIBAO_QUOTE_LEN];

    if (check(v->data, v->len)) {
        return YIBAO_OK;
    }

    yibao_err_line(f->err, f->tsv.line, "column %d \"%s\": %s is not %s",
                         col, name, yibao_quote(buf, v->data, v->len), shape);

    return YIBAO_ERR_INVALID;
}


/*
 * Reads and checks one clinics line into *clinic.  Returns YIBAO_OK,
 * YIBAO_ERR_NOT_FOUND at the end, or an error with err set.
 */

static int
yibao_registry_clinic_line(yibao_registry_file_t *f,
    yibao_clinic_t *clinic, const yibao_keys_t *keys)
{
    int                 rc;
    char                buf[YIBAO_QUOTE_LEN];
    size_t              n;
    yibao_str_t         fields[YIBAO_CLINICS_FIELDS_MAX];
    const yibao_key_t  *key;

    rc = yibao_registry_fields_range(f, fields, YIBAO_CLINICS_FIELDS,
                                     YIBAO_CLINICS_FIELDS_MAX, &n);
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (yibao_registry_check_code(f, 1, "org_code", &fields[0],
                                  yibao_code_is_org,
                                  "a 22-character org code of [0-9A-Z]")
        != YIBAO_OK
        || yibao_registry_check_name(f, 2, "name", &fields[1]) != YIBAO_OK
        || yibao_registry_check_code(f, 3, "admdvs", &fields[2],
                                     yibao_code_is_admdvs, "6 digits")
           != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    if (yibao_registry_str_eq(&fields[3], (const unsigned char *) "own", 3)) {
        clinic->mode = YIBAO_SETTLE_OWN;

    } else if (yibao_registry_str_eq(&fields[3],
                                     (const unsigned char *) "township", 8))
    {
        clinic->mode = YIBAO_SETTLE_TOWNSHIP;

    } else {
        yibao_err_line(f->err, f->tsv.line,
                             "column 4 \"mode\": %s is not \"own\" or "
                             "\"township\"",
                             yibao_quote(buf, fields[3].data, fields[3].len));
        return YIBAO_ERR_INVALID;
    }

    if (yibao_registry_check_code(f, 5, "entity_code", &fields[4],
                                  yibao_code_is_fixmedins,
                                  "a national code ('H' or 'P' and "
                                  "11 digits)")
        != YIBAO_OK
        || yibao_registry_check_name(f, 6, "entity_name", &fields[5])
           != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    key = yibao_keys_find(keys, fields[6].data, fields[6].len);

    if (key == NULL) {
        yibao_err_line(f->err, f->tsv.line,
                             "column 7 \"key_id\": key %s is not in the "
                             "keys file",
                             yibao_quote(buf, fields[6].data, fields[6].len));
        return YIBAO_ERR_INVALID;
    }

    clinic->org_code = fields[0];
    clinic->name = fields[1];
    clinic->admdvs = fields[2];
    clinic->entity_code = fields[4];
    clinic->entity_name = fields[5];
    clinic->key = key;

    return yibao_registry_clinic_optional(f, clinic, fields, n);
}


/* the optional columns 8..n of a clinics line */

static int
yibao_registry_clinic_optional(yibao_registry_file_t *f,
    yibao_clinic_t *clinic, const yibao_str_t *fields, size_t n)
{
    int                v;
    char               buf[YIBAO_QUOTE_LEN];
    size_t             i;
    const yibao_str_t *t;

    static const struct {
        const char    *text;
        size_t         len;
        int            value;
    } included[] = {
        { "是", sizeof("是") - 1, YIBAO_INCLUDED_YES },
        { "否", sizeof("否") - 1, YIBAO_INCLUDED_NO },
        { "yes", 3, YIBAO_INCLUDED_YES },
        { "no", 2, YIBAO_INCLUDED_NO }
    };

    static const char  *names[] = { "county", "township", NULL, NULL,
                                    "reason" };

    t = &fields[7];
    clinic->township_code = *t;

    if (t->len != 0) {
        if (yibao_registry_check_code(f, 8, "township_code", t,
                                      yibao_code_is_fixmedins,
                                      "a national code ('H' or 'P' and "
                                      "11 digits)")
            != YIBAO_OK)
        {
            return YIBAO_ERR_INVALID;
        }

        if (clinic->mode == YIBAO_SETTLE_TOWNSHIP
            ? !yibao_registry_str_eq(t, clinic->entity_code.data,
                                     clinic->entity_code.len)
            : yibao_registry_str_eq(t, clinic->entity_code.data,
                                    clinic->entity_code.len))
        {
            yibao_err_line(f->err, f->tsv.line,
                                 "column 8 \"township_code\": %s %s",
                                 yibao_quote(buf, t->data, t->len),
                                 clinic->mode == YIBAO_SETTLE_TOWNSHIP
                                 ? "is not the entity_code of a "
                                   "\"township\" clinic"
                                 : "is the clinic's own entity_code");
            return YIBAO_ERR_INVALID;
        }
    }

    for (i = 0; i < 5; i++) {
        if (names[i] != NULL && fields[8 + i].len != 0
            && yibao_registry_check_name(f, (int) (9 + i), names[i],
                                         &fields[8 + i])
               != YIBAO_OK)
        {
            return YIBAO_ERR_INVALID;
        }
    }

    if (fields[10].len != 0
        && yibao_registry_check_ascii(f, 11, "org_id", &fields[10], 1,
                                      YIBAO_REGISTRY_ID_MAX)
           != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    clinic->county = fields[8];
    clinic->township = fields[9];
    clinic->org_id = fields[10];
    clinic->reason = fields[12];
    clinic->included = YIBAO_INCLUDED_UNKNOWN;

    t = &fields[11];

    if (t->len == 0) {
        return YIBAO_OK;
    }

    for (i = 0; i < sizeof(included) / sizeof(included[0]); i++) {
        if (yibao_registry_str_eq(t, (const unsigned char *) included[i].text,
                                  included[i].len))
        {
            v = included[i].value;
            clinic->included = (yibao_included_e) v;
            return YIBAO_OK;
        }
    }

    yibao_err_line(f->err, f->tsv.line,
                         "column 12 \"included\": %s is not 是, 否, yes, "
                         "no or empty", yibao_quote(buf, t->data, t->len));

    (void) n;
    return YIBAO_ERR_INVALID;
}


/*
 * Reads a comma list column: "*" alone (*elts NULL and *n 0: every
 * value), or items, none empty, each checked by list->item() into the
 * next of *n elements of a new array *elts.
 */

static int
yibao_registry_list(yibao_registry_file_t *f,
    const yibao_registry_list_t *list, const yibao_str_t *v, void **elts,
    size_t *n, yibao_alloc_t *a)
{
    int                   rc;
    char                 *p;
    yibao_str_t           item;
    const unsigned char  *pos;

    *elts = NULL;
    *n = 0;

    if (v->len == 0) {
        yibao_err_line(f->err, f->tsv.line, "column %d \"%s\" is empty",
                             list->col, list->name);
        return YIBAO_ERR_INVALID;
    }

    if (yibao_registry_str_eq(v, (const unsigned char *) "*", 1)) {
        return YIBAO_OK;
    }

    p = yibao_alloc(a, yibao_registry_items(v) * list->size);
    if (p == NULL) {
        yibao_registry_nomem(f->err);
        return YIBAO_ERR_NOMEM;
    }

    *elts = p;
    pos = v->data;

    while (yibao_registry_next_item(v, &pos, &item)) {
        if (item.len == 0) {
            yibao_err_line(f->err, f->tsv.line,
                                 "column %d \"%s\": item %zu is empty",
                                 list->col, list->name, *n + 1);
            return YIBAO_ERR_INVALID;
        }

        rc = list->item(f, p + *n * list->size, &item);
        if (rc != YIBAO_OK) {
            return rc;
        }

        (*n)++;
    }

    return YIBAO_OK;
}


/* an item of the clinics column into a yibao_caller_clinic_t */

static int
yibao_registry_clinic_item(yibao_registry_file_t *f, void *elt,
    const yibao_str_t *item)
{
    char                    buf[YIBAO_QUOTE_LEN];
    yibao_caller_clinic_t  *c;

    c = elt;

    if (item->len >= 7 && memcmp(item->data, "admdvs:", 7) == 0) {
        c->kind = YIBAO_CALLER_ADMDVS;
        c->code.data = item->data + 7;
        c->code.len = item->len - 7;

        if (c->code.len > 6
            || !yibao_code_is_digits(c->code.data, c->code.len))
        {
            yibao_err_line(f->err, f->tsv.line,
                                 "column 3 \"clinics\": item %s is not "
                                 "admdvs:<1 to 6 digits>",
                                 yibao_quote(buf, item->data, item->len));
            return YIBAO_ERR_INVALID;
        }

    } else if (yibao_code_is_org(item->data, item->len)) {
        c->kind = YIBAO_CALLER_ORG;
        c->code = *item;

    } else if (yibao_code_is_fixmedins(item->data, item->len)) {
        c->kind = YIBAO_CALLER_ENTITY;
        c->code = *item;

    } else {
        yibao_err_line(f->err, f->tsv.line,
                             "column 3 \"clinics\": item %s is not "
                             "\"*\" alone, an org code, a national "
                             "code or admdvs:<prefix>",
                             yibao_quote(buf, item->data, item->len));
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/* an item of the infnos column into a yibao_caller_infno_t */

static int
yibao_registry_infno_item(yibao_registry_file_t *f, void *elt,
    const yibao_str_t *item)
{
    char                   buf[YIBAO_QUOTE_LEN];
    const unsigned char   *p;
    yibao_caller_infno_t  *in;

    in = elt;
    p = item->data;

    if (memchr(p, '-', item->len) != NULL) {

        if (item->len != 9 || p[4] != '-'
            || !yibao_code_is_digits(p, 4)
            || !yibao_code_is_digits(p + 5, 4)
            || yibao_code_number(p, 4) > yibao_code_number(p + 5, 4))
        {
            yibao_err_line(f->err, f->tsv.line,
                                 "column 4 \"infnos\": range %s is not "
                                 "<4 digits>-<4 digits>, low to high",
                                 yibao_quote(buf, item->data, item->len));
            return YIBAO_ERR_INVALID;
        }

        in->code.data = NULL;
        in->code.len = 0;
        in->lo = yibao_code_number(p, 4);
        in->hi = yibao_code_number(p + 5, 4);

    } else if (yibao_code_is_infno(p, item->len)) {
        in->code = *item;
        in->lo = 0;
        in->hi = 0;

    } else {
        yibao_err_line(f->err, f->tsv.line,
                             "column 4 \"infnos\": item %s is not "
                             "\"*\" alone, an infno (4 digits and an "
                             "optional letter) or a range",
                             yibao_quote(buf, item->data, item->len));
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/* the number of comma-separated items in v */

static size_t
yibao_registry_items(const yibao_str_t *v)
{
    size_t  i, n;

    n = 1;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] == ',') {
            n++;
        }
    }

    return n;
}


/*
 * Sets *item to the comma-separated item of v at *pos and moves *pos
 * past it; returns 0 when v is exhausted.  *pos starts at v->data; an
 * item after a trailing comma is returned, empty.
 */

static int
yibao_registry_next_item(const yibao_str_t *v, const unsigned char **pos,
    yibao_str_t *item)
{
    const unsigned char  *p, *last, *comma;

    p = *pos;
    last = v->data + v->len;

    if (p == NULL) {
        return 0;
    }

    comma = memchr(p, ',', last - p);

    item->data = p;

    if (comma == NULL) {
        item->len = last - p;
        *pos = NULL;

    } else {
        item->len = comma - p;
        *pos = comma + 1;
    }

    return 1;
}


/*
 * The caller's clinics items in one hash set of their codes: org codes
 * (22 characters), national codes (12) and admdvs prefixes (1 to 6
 * digits) never have the same length, so they never collide; an item
 * given twice is kept once.
 */

static int
yibao_registry_caller_set(yibao_registry_file_t *f, yibao_caller_t *caller,
    yibao_alloc_t *a)
{
    int                           rc;
    size_t                        i;
    const yibao_caller_clinic_t  *c;

    caller->set = NULL;

    if (caller->all_clinics) {
        return YIBAO_OK;
    }

    caller->set = yibao_hash_create(caller->nclinics, a);
    if (caller->set == NULL) {
        yibao_registry_nomem(f->err);
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < caller->nclinics; i++) {
        c = &caller->clinics[i];

        rc = yibao_hash_insert(caller->set, c->code.data, c->code.len,
                               (void *) c);

        if (rc != YIBAO_OK && rc != YIBAO_ERR_INVALID) {
            yibao_registry_nomem(f->err);
            return rc;
        }
    }

    return YIBAO_OK;
}


static int
yibao_registry_clinic_match(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic)
{
    size_t  len;

    if (caller->all_clinics) {
        return 1;
    }

    if (yibao_hash_find(caller->set, clinic->org_code.data,
                        clinic->org_code.len)
        != NULL
        || yibao_hash_find(caller->set, clinic->entity_code.data,
                           clinic->entity_code.len)
           != NULL)
    {
        return 1;
    }

    for (len = 1; len <= clinic->admdvs.len; len++) {
        if (yibao_hash_find(caller->set, clinic->admdvs.data, len) != NULL) {
            return 1;
        }
    }

    return 0;
}


static int
yibao_registry_infno_match(const yibao_caller_t *caller,
    const unsigned char *infno, size_t len)
{
    size_t                       i;
    unsigned                     n;
    const yibao_caller_infno_t  *in;

    if (caller->all_infnos) {
        return 1;
    }

    if (!yibao_code_is_infno(infno, len)) {
        return 0;
    }

    n = yibao_code_number(infno, 4);

    for (i = 0; i < caller->ninfnos; i++) {
        in = &caller->infnos[i];

        if (in->code.len != 0) {
            if (yibao_registry_str_eq(&in->code, infno, len)) {
                return 1;
            }

        } else if (n >= in->lo && n <= in->hi) {
            return 1;
        }
    }

    return 0;
}


static int
yibao_registry_str_eq(const yibao_str_t *s, const unsigned char *p,
    size_t len)
{
    return s->len == len && (len == 0 || memcmp(s->data, p, len) == 0);
}
