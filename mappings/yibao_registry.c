/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_hash.h"
#include "yibao_registry.h"
#include "yibao_tsv.h"


#define YIBAO_REGISTRY_MAX_LINES    ((size_t) 1 << 24)
#define YIBAO_REGISTRY_ID_MAX       64
#define YIBAO_REGISTRY_SECRET_MAX   512
#define YIBAO_REGISTRY_SECRET_MIN   16
#define YIBAO_REGISTRY_NAME_MAX     200

#define YIBAO_KEYS_FIELDS           3
#define YIBAO_CLINICS_FIELDS        7
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
    yibao_str_t             fields[YIBAO_KEYS_FIELDS];
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
        rc = yibao_registry_fields(&f, fields, YIBAO_KEYS_FIELDS);

        if (rc == YIBAO_ERR_NOT_FOUND) {
            return keys;
        }

        if (rc != YIBAO_OK) {
            return NULL;
        }

        if (yibao_registry_check_ascii(&f, 1, "key_id", &fields[0], 1,
                                       YIBAO_REGISTRY_ID_MAX)
            != YIBAO_OK
            || yibao_registry_check_ascii(&f, 2, "ak", &fields[1], 1,
                                          YIBAO_REGISTRY_SECRET_MAX)
               != YIBAO_OK
            || yibao_registry_check_ascii(&f, 3, "sk", &fields[2], 1,
                                          YIBAO_REGISTRY_SECRET_MAX)
               != YIBAO_OK)
        {
            return NULL;
        }

        key = &keys->keys[keys->nkeys];
        key->id = fields[0];
        key->ak = fields[1];
        key->sk = fields[2];

        if (yibao_registry_index(&f, &key->id, key, 1, "key_id",
                                 "a duplicate of")
            != YIBAO_OK)
        {
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
    size_t       got;
    yibao_str_t  line;

    if (!yibao_tsv_next(&f->tsv, &line)) {
        return YIBAO_ERR_NOT_FOUND;
    }

    got = yibao_tsv_split(&line, fields, n);

    if (got != n) {
        yibao_err_line(f->err, f->tsv.line,
                             "expected %zu TAB-separated fields, got %zu",
                             n, got);
        return YIBAO_ERR_SYNTAX;
    }

    return YIBAO_OK;
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
    yibao_str_t         fields[YIBAO_CLINICS_FIELDS];
    const yibao_key_t  *key;

    rc = yibao_registry_fields(f, fields, YIBAO_CLINICS_FIELDS);
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

    return YIBAO_OK;
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


static int
yibao_registry_clinic_match(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic)
{
    size_t                        i;
    const yibao_str_t            *code;
    const yibao_caller_clinic_t  *c;

    if (caller->all_clinics) {
        return 1;
    }

    for (i = 0; i < caller->nclinics; i++) {
        c = &caller->clinics[i];

        switch (c->kind) {

        case YIBAO_CALLER_ORG:
            code = &clinic->org_code;
            break;

        case YIBAO_CALLER_ENTITY:
            code = &clinic->entity_code;
            break;

        default: /* YIBAO_CALLER_ADMDVS */
            if (c->code.len <= clinic->admdvs.len
                && memcmp(c->code.data, clinic->admdvs.data, c->code.len)
                   == 0)
            {
                return 1;
            }

            continue;
        }

        if (yibao_registry_str_eq(code, c->code.data, c->code.len)) {
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
