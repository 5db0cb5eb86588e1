/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_hash.h"
#include "yibao_map.h"
#include "yibao_tsv.h"


#define YIBAO_MAP_FIELDS        5
#define YIBAO_MAP_LOCAL_MAX     150     /* medins_list_codg */
#define YIBAO_MAP_NATIONAL_MAX  50      /* med_list_codg */
#define YIBAO_MAP_NAME_MAX      600
#define YIBAO_MAP_DICT_MAX      30
#define YIBAO_MAP_LINE_MAX      ((size_t) 0xffffff)
#define YIBAO_MAP_ROWS_MAX      ((size_t) 1 << 28)
#define YIBAO_MAP_UNITS_MAX     (((size_t) 1 << 31) - 1)
#define YIBAO_MAP_SEED          0x243f6a8885a308d3ull


/* scope types, the most specific first: the order of a lookup */

typedef enum {
    YIBAO_MAP_SCOPE_CLINIC = 0,
    YIBAO_MAP_SCOPE_ENTITY,
    YIBAO_MAP_SCOPE_ADMDVS6,
    YIBAO_MAP_SCOPE_ADMDVS4,
    YIBAO_MAP_SCOPE_ADMDVS2,
    YIBAO_MAP_SCOPE_GLOBAL,
    YIBAO_MAP_SCOPE_MAX
} yibao_map_scope_e;


/*
 * A row is a record in its file's arena, 4-byte aligned: this header,
 * then the local code, the context (kind, dictionary length,
 * dictionary, scope type, scope value: see yibao_map_context_write),
 * the national code and the national name.  The indexes number a row
 * by its place in the arenas of all the files, in 4-byte units, so
 * that one memory access reaches all that a lookup compares and
 * returns.
 */

typedef struct {
    uint32_t              line;      /* line << 8 | context length */
    uint8_t               llen;
    uint8_t               nlen;
    uint16_t              name_len;
} yibao_map_row_t;


#define YIBAO_MAP_UNIT  4

#define yibao_map_row_size(n)                                                 \
    ((sizeof(yibao_map_row_t) + (n) + YIBAO_MAP_UNIT - 1)                     \
     & ~((size_t) YIBAO_MAP_UNIT - 1))

#define yibao_map_row_data(row)  ((const unsigned char *) ((row) + 1))

#define yibao_map_align(n)                                                    \
    (((n) + YIBAO_MAP_UNIT - 1) & ~((size_t) YIBAO_MAP_UNIT - 1))


typedef struct yibao_map_file_s  yibao_map_file_t;

struct yibao_map_file_s {
    yibao_map_file_t     *next;
    yibao_str_t           label;     /* len 0: no label */
    unsigned char        *arena;
    size_t                size;      /* of the arena */
    size_t                base;      /* the map's unit number of arena */
    size_t                nrows;
    size_t                number;    /* 1-based, in the order added */
};


struct yibao_map_builder_s {
    yibao_alloc_t        *a;
    yibao_alloc_t        *tmp;       /* the rows and build()'s scratch */
    yibao_map_file_t     *files;
    yibao_map_file_t    **last;
    size_t                nfiles;
    size_t                nrows;
    size_t                units;
    unsigned              scopes[YIBAO_KIND_MAX];
};


/*
 * A cell of the map's table, one cache line.  It holds a row (llen 0:
 * none), not necessarily one whose home it is, and says where the rows
 * whose home it is start (disp cells further on) and how many they are.
 * The row's strings, local code, national code and name, are in data
 * in that order as long as they fit; the first that does not and the
 * ones after it are in map->more at unit more, one after the other.
 */

#define YIBAO_MAP_CELL_DATA  48
#define YIBAO_MAP_RUN_MAX    0xffff

typedef struct {
    uint16_t              homed;     /* rows whose home this cell is */
    uint16_t              disp;      /* cells from here to the first */
    uint8_t               llen;
    uint8_t               nlen;
    uint16_t              name_len;
    uint32_t              ctx;       /* its context, a map->ctx unit */
    uint32_t              more;      /* a map->more unit */
    unsigned char         data[YIBAO_MAP_CELL_DATA];
} yibao_map_cell_t;


struct yibao_map_s {
    yibao_map_cell_t     *cells;     /* 64-byte aligned */
    size_t                ncells;    /* the homes; more cells follow */
    size_t                total;     /* cells in all */
    unsigned char        *ctx;       /* contexts: length byte, bytes */
    unsigned char        *more;      /* strings that do not fit a cell */
    size_t                nrows;
    size_t                bytes;
    yibao_hash_t         *reverse;   /* over cell numbers */
    unsigned              scopes[YIBAO_KIND_MAX];   /* 1 << scope type */

    /* while building only: the builder's files, an array */
    yibao_map_file_t     *files;
    size_t                nfiles;
    size_t                units;
};


/* the home cell of a hash: its place in [0, ncells) */

#if defined(__GNUC__)
#define yibao_map_prefetch(p)  __builtin_prefetch(p)
#else
#define yibao_map_prefetch(p)
#endif

#define yibao_map_home(map, hash)                                             \
    ((size_t) (((uint64_t) (hash) * (map)->ncells) >> 32))


typedef struct {
    yibao_kind_e          kind;
    yibao_map_scope_e     scope;
    yibao_str_t           dict;
    yibao_str_t           value;     /* of the scope, without prefix */
    yibao_str_t           local;
    yibao_str_t           national;
    yibao_str_t           name;
} yibao_map_line_t;


/*
 * A key: (local code, context) for the forward index, (context,
 * national code) for the reverse one, the context being the kind,
 * dictionary, scope type and scope value.
 */

typedef struct {
    const unsigned char  *code;
    size_t                len;
    yibao_kind_e          kind;
    yibao_map_scope_e     scope;
    yibao_str_t           dict;
    yibao_str_t           value;
} yibao_map_probe_t;


/* a row on its way into the indexes */

typedef struct {
    uint32_t              unit;
    uint32_t              fhash;
    uint32_t              rhash;
    yibao_map_probe_t     forward;
    yibao_map_probe_t     reverse;
} yibao_map_entry_t;


/* what build() keeps of a row, by its number in the order added */

typedef struct {
    uint32_t              unit;      /* in the builder's arenas */
    uint32_t              fhash;
    uint32_t              rhash;
    uint32_t              ctx;       /* a map->ctx unit */
    uint32_t              cell;
} yibao_map_place_t;


/* the contexts while they are counted: a compact index over rows */

typedef struct {
    const yibao_map_t        *map;
    const yibao_map_place_t  *rows;
} yibao_map_ctxs_t;

#define YIBAO_MAP_BATCH  16


static int yibao_map_count(const unsigned char *data, size_t len,
    size_t *nrows, size_t *size, unsigned *scopes, yibao_err_t *err);
static yibao_map_file_t *yibao_map_file(yibao_map_builder_t *b,
    const yibao_str_t *label, size_t size);
static void yibao_map_copy(yibao_map_file_t *f, const unsigned char *data,
    size_t len, size_t nrows, yibao_err_t *err);
static int yibao_map_files(yibao_map_t *map, yibao_map_builder_t *b);
static void yibao_map_index(const yibao_map_file_t *f,
    yibao_map_place_t *rows, size_t *k);
static size_t yibao_map_entry(const yibao_map_file_t *f, size_t off,
    yibao_map_entry_t *e);
static int yibao_map_duplicates(const yibao_map_t *map,
    const yibao_map_place_t *rows, const uint32_t *order, yibao_err_t *err);
static yibao_hash_t *yibao_map_context_index(yibao_alloc_t *tmp,
    size_t nelts, yibao_map_ctxs_t *ctxs, const uint32_t *firsts,
    size_t nfirsts);
static int yibao_map_contexts(yibao_map_t *map, yibao_alloc_t *a,
    yibao_alloc_t *tmp, yibao_map_place_t *rows);
static int yibao_map_match_context(const void *ctx, uint32_t n,
    const void *key);
static const unsigned char *yibao_map_row_context(const yibao_map_t *map,
    uint32_t unit, size_t *tlen);
static int yibao_map_cells(yibao_map_t *map, yibao_alloc_t *a,
    const yibao_map_place_t *rows, const uint32_t *order, size_t total);
static int yibao_map_order(yibao_map_t *map, yibao_alloc_t *tmp,
    yibao_map_place_t *rows, uint32_t *order, size_t *total,
    yibao_err_t *err);
static size_t yibao_map_more_size(const yibao_map_t *map,
    const yibao_map_place_t *rows);
static void yibao_map_cell_put(yibao_map_t *map, yibao_map_cell_t *c,
    const yibao_map_place_t *r, size_t *more);
static void yibao_map_cell_strings(const yibao_map_t *map,
    const yibao_map_cell_t *c, yibao_map_hit_t *s);
static int yibao_map_cell_match(const yibao_map_t *map,
    const yibao_map_cell_t *c, const yibao_map_probe_t *pr);
static int yibao_map_reverse_index(yibao_map_t *map, yibao_alloc_t *a,
    const yibao_map_place_t *rows);
static int yibao_map_parse_line(const yibao_str_t *line, size_t lineno,
    yibao_map_line_t *l, int check, yibao_err_t *err);
static int yibao_map_parse_kind(const yibao_str_t *v, size_t lineno,
    yibao_map_line_t *l, yibao_err_t *err);
static int yibao_map_parse_scope(const yibao_str_t *v, size_t lineno,
    yibao_map_line_t *l, yibao_err_t *err);
static int yibao_map_check_local(const yibao_str_t *v, size_t lineno,
    yibao_err_t *err);
static int yibao_map_check_national(const yibao_map_line_t *l,
    size_t lineno, yibao_err_t *err);
static int yibao_map_check_name(const yibao_str_t *v, size_t lineno,
    yibao_err_t *err);
static int yibao_map_dict_name(const unsigned char *p, size_t len);
static uint64_t yibao_map_step(uint64_t h, uint64_t w);
static uint64_t yibao_map_mix(uint64_t h, const unsigned char *p,
    size_t len);
static uint64_t yibao_map_context(uint64_t h, const yibao_map_probe_t *pr);
static uint32_t yibao_map_final(uint64_t h);
static size_t yibao_map_context_write(unsigned char *p, yibao_kind_e kind,
    const yibao_str_t *dict, yibao_map_scope_e scope,
    const yibao_str_t *value);
static unsigned yibao_map_scope_values(const yibao_map_scope_t *scope,
    yibao_str_t *values);
static const yibao_map_row_t *yibao_map_row(const yibao_map_t *map,
    uint32_t n, const yibao_map_file_t **file);
static void yibao_map_row_probe(const yibao_map_row_t *row,
    yibao_map_probe_t *pr, const unsigned char **national, size_t *nlen);
static void yibao_map_tail_probe(const unsigned char *t,
    yibao_map_probe_t *pr);
static int yibao_map_match_tail(const unsigned char *t, size_t tlen,
    const yibao_map_probe_t *pr);
static int yibao_map_match_forward(const void *ctx, uint32_t n,
    const void *key);
static int yibao_map_match_reverse(const void *ctx, uint32_t n,
    const void *key);
static void yibao_map_duplicate(const yibao_map_t *map, uint32_t n,
    uint32_t prev, yibao_err_t *err);
static const char *yibao_map_place(char *buf, const yibao_map_file_t *f);


static const char  *yibao_map_kind_names[] = {
    "drug", "item", "consumable", "diagnosis", "operation", "chronic",
    "staff", "dept", "dict"
};


/* the length of a scope value by scope type */

static const size_t  yibao_map_scope_len[] = { 22, 12, 6, 4, 2, 0 };


const char *
yibao_kind_name(yibao_kind_e kind)
{
    if ((unsigned) kind >= YIBAO_KIND_MAX) {
        return "unknown";
    }

    return yibao_map_kind_names[kind];
}


int
yibao_kind_parse(const unsigned char *p, size_t len, yibao_kind_e *kind,
    yibao_str_t *dict)
{
    size_t  k, n;

    if (len > 5 && memcmp(p, "dict:", 5) == 0) {
        if (!yibao_map_dict_name(p + 5, len - 5)) {
            return YIBAO_ERR_INVALID;
        }

        *kind = YIBAO_KIND_DICT;

        if (dict != NULL) {
            dict->data = p + 5;
            dict->len = len - 5;
        }

        return YIBAO_OK;
    }

    for (k = 0; k < YIBAO_KIND_DICT; k++) {
        n = strlen(yibao_map_kind_names[k]);

        if (len == n && memcmp(p, yibao_map_kind_names[k], n) == 0) {
            *kind = (yibao_kind_e) k;

            if (dict != NULL) {
                dict->data = NULL;
                dict->len = 0;
            }

            return YIBAO_OK;
        }
    }

    return YIBAO_ERR_INVALID;
}


int
yibao_kind_is_national(yibao_kind_e kind, const unsigned char *p,
    size_t len)
{
    switch (kind) {

    case YIBAO_KIND_DRUG:
        return yibao_code_is_drug(p, len);

    case YIBAO_KIND_ITEM:
        return yibao_code_is_item(p, len);

    case YIBAO_KIND_CONSUMABLE:
        return yibao_code_is_consumable(p, len);

    case YIBAO_KIND_DIAGNOSIS:
        return yibao_code_is_icd10(p, len);

    case YIBAO_KIND_OPERATION:
        return yibao_code_is_icd9cm3(p, len);

    case YIBAO_KIND_CHRONIC:
        return yibao_code_is_chronic(p, len);

    case YIBAO_KIND_STAFF:
        return yibao_code_is_staff(p, len);

    case YIBAO_KIND_DEPT:
        return yibao_code_is_caty(p, len);

    case YIBAO_KIND_DICT:
        return yibao_code_is_alnum(p, len, YIBAO_MAP_DICT_MAX);

    default:
        return 0;
    }
}


yibao_map_builder_t *
yibao_map_builder_create(yibao_alloc_t *a)
{
    yibao_map_builder_t  *b;

    b = yibao_alloc(a, sizeof(yibao_map_builder_t));
    if (b == NULL) {
        return NULL;
    }

    memset(b, 0, sizeof(yibao_map_builder_t));

    b->a = a;
    b->tmp = a;
    b->files = NULL;
    b->last = &b->files;

    return b;
}


void
yibao_map_builder_scratch(yibao_map_builder_t *b, yibao_alloc_t *tmp)
{
    b->tmp = tmp;
}


int
yibao_map_builder_add(yibao_map_builder_t *b, const unsigned char *data,
    size_t len, yibao_err_t *err)
{
    return yibao_map_builder_add_named(b, NULL, data, len, err);
}


int
yibao_map_builder_add_named(yibao_map_builder_t *b, const yibao_str_t *label,
    const unsigned char *data, size_t len, yibao_err_t *err)
{
    int                rc;
    size_t             nrows, size, i;
    unsigned           scopes[YIBAO_KIND_MAX];
    yibao_map_file_t  *f;

    /* the first pass checks every line and counts rows and bytes */

    rc = yibao_map_count(data, len, &nrows, &size, scopes, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (nrows > YIBAO_MAP_ROWS_MAX - b->nrows
        || size / YIBAO_MAP_UNIT > YIBAO_MAP_UNITS_MAX - b->units)
    {
        yibao_err_line(err, 0, "the tables have more than %zu rows or "
                        "take more than %zu bytes", YIBAO_MAP_ROWS_MAX,
                        YIBAO_MAP_UNITS_MAX * YIBAO_MAP_UNIT);
        return YIBAO_ERR_TOO_LARGE;
    }

    /* exactly the memory the rows need, then the second pass copies */

    f = yibao_map_file(b, label, size);
    if (f == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    yibao_map_copy(f, data, len, nrows, err);

    f->size = size;
    f->nrows = nrows;
    f->base = b->units;
    f->number = ++b->nfiles;
    f->next = NULL;

    *b->last = f;
    b->last = &f->next;
    b->nrows += nrows;
    b->units += size / YIBAO_MAP_UNIT;

    for (i = 0; i < YIBAO_KIND_MAX; i++) {
        b->scopes[i] |= scopes[i];
    }

    return YIBAO_OK;
}


/*
 * The first pass over a file: every line checked; the rows, the bytes
 * they take and the scope types of each kind counted.
 */

static int
yibao_map_count(const unsigned char *data, size_t len, size_t *nrows,
    size_t *size, unsigned *scopes, yibao_err_t *err)
{
    int               rc;
    yibao_str_t       line;
    yibao_tsv_t       tsv;
    yibao_map_line_t  l;

    memset(scopes, 0, YIBAO_KIND_MAX * sizeof(unsigned));
    *nrows = 0;
    *size = 0;

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {

        if (tsv.line > YIBAO_MAP_LINE_MAX) {
            yibao_err_line(err, tsv.line, "the file has more than %zu "
                            "lines", YIBAO_MAP_LINE_MAX);
            return YIBAO_ERR_TOO_LARGE;
        }

        rc = yibao_map_parse_line(&line, tsv.line, &l, 1, err);
        if (rc != YIBAO_OK) {
            return rc;
        }

        (*nrows)++;
        *size += yibao_map_row_size(l.local.len + 3 + l.dict.len
                                    + l.value.len + l.national.len
                                    + l.name.len);
        scopes[l.kind] |= 1u << l.scope;
    }

    return YIBAO_OK;
}


/* a file of the builder with its label and an arena of size bytes */

static yibao_map_file_t *
yibao_map_file(yibao_map_builder_t *b, const yibao_str_t *label,
    size_t size)
{
    unsigned char     *p;
    yibao_map_file_t  *f;

    f = yibao_alloc(b->tmp, sizeof(yibao_map_file_t));
    if (f == NULL) {
        return NULL;
    }

    memset(f, 0, sizeof(yibao_map_file_t));

    if (label != NULL && label->len != 0) {
        p = yibao_alloc(b->tmp, label->len);
        if (p == NULL) {
            return NULL;
        }

        memcpy(p, label->data, label->len);
        f->label.data = p;
        f->label.len = label->len;
    }

    if (size != 0) {
        f->arena = yibao_alloc(b->tmp, size);
        if (f->arena == NULL) {
            return NULL;
        }
    }

    return f;
}


/* The second pass: the nrows rows, checked by the first, into f->arena. */

static void
yibao_map_copy(yibao_map_file_t *f, const unsigned char *data, size_t len,
    size_t nrows, yibao_err_t *err)
{
    size_t            i, clen;
    yibao_str_t       line;
    yibao_tsv_t       tsv;
    unsigned char    *p, *q, *end;
    yibao_map_row_t  *row;
    yibao_map_line_t  l;

    yibao_tsv_init(&tsv, data, len);
    p = f->arena;

    for (i = 0; i < nrows; i++) {
        (void) yibao_tsv_next(&tsv, &line);
        (void) yibao_map_parse_line(&line, tsv.line, &l, 0, err);

        row = (yibao_map_row_t *) p;
        q = p + sizeof(yibao_map_row_t);

        memcpy(q, l.local.data, l.local.len);
        q += l.local.len;

        clen = yibao_map_context_write(q, l.kind, &l.dict, l.scope,
                                       &l.value);
        q += clen;

        memcpy(q, l.national.data, l.national.len);
        q += l.national.len;

        if (l.name.len != 0) {
            memcpy(q, l.name.data, l.name.len);
            q += l.name.len;
        }

        row->line = (uint32_t) (tsv.line << 8 | clen);
        row->llen = (uint8_t) l.local.len;
        row->nlen = (uint8_t) l.national.len;
        row->name_len = (uint16_t) l.name.len;

        /* the padding too: no byte of the map is left unset */

        end = p + yibao_map_row_size(q - p - sizeof(yibao_map_row_t));

        while (q < end) {
            *q++ = '\0';
        }

        p = end;
    }
}


yibao_map_t *
yibao_map_build(yibao_map_builder_t *b, yibao_err_t *err)
{
    int                 rc;
    size_t              i, k, total;
    uint32_t           *order;
    yibao_map_t        *map;
    yibao_map_place_t  *rows;

    map = yibao_alloc(b->a, sizeof(yibao_map_t));
    if (map == NULL || yibao_map_files(map, b) != YIBAO_OK) {
        goto nomem;
    }

    /* the rows' hashes, then their order by home: a duplicate is found
     * among the rows of its home */

    rows = yibao_alloc(b->tmp, (map->nrows ? map->nrows : 1)
                               * sizeof(yibao_map_place_t));
    order = yibao_alloc(b->tmp, (map->nrows ? map->nrows : 1)
                                * sizeof(uint32_t));
    if (rows == NULL || order == NULL) {
        goto nomem;
    }

    k = 0;

    for (i = 0; i < map->nfiles; i++) {
        yibao_map_index(&map->files[i], rows, &k);
    }

    map->ncells = map->nrows + map->nrows * 2 / 3 + 1;

    rc = yibao_map_order(map, b->tmp, rows, order, &total, err);
    if (rc != YIBAO_OK) {
        return NULL;
    }

    if (yibao_map_duplicates(map, rows, order, err) != YIBAO_OK) {
        return NULL;
    }

    /* then the map's own memory: contexts, cells, the reverse index */

    if (yibao_map_contexts(map, b->a, b->tmp, rows) != YIBAO_OK
        || yibao_map_cells(map, b->a, rows, order, total) != YIBAO_OK
        || yibao_map_reverse_index(map, b->a, rows) != YIBAO_OK)
    {
        goto nomem;
    }

    map->files = NULL;
    map->nfiles = 0;

    return map;

nomem:

    yibao_err_line(err, 0, "out of memory");
    return NULL;
}


/* the map's array of the builder's files with rows, in the order added */

static int
yibao_map_files(yibao_map_t *map, yibao_map_builder_t *b)
{
    size_t             n;
    yibao_map_file_t  *f;

    memset(map, 0, sizeof(yibao_map_t));

    n = 0;

    for (f = b->files; f != NULL; f = f->next) {
        n += (f->nrows != 0);
    }

    map->files = yibao_alloc(b->tmp, (n ? n : 1) * sizeof(yibao_map_file_t));
    if (map->files == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    map->bytes = sizeof(yibao_map_t);

    for (f = b->files; f != NULL; f = f->next) {
        if (f->nrows != 0) {
            map->files[map->nfiles++] = *f;
        }
    }

    map->nrows = b->nrows;
    map->units = b->units;
    memcpy(map->scopes, b->scopes, sizeof(map->scopes));

    return YIBAO_OK;
}


/* the rows of a file: rows[*k...] receive each row's unit and hashes */

static void
yibao_map_index(const yibao_map_file_t *f, yibao_map_place_t *rows,
    size_t *k)
{
    size_t             off;
    yibao_map_entry_t  e;

    for (off = 0; off < f->size; (*k)++) {
        off += yibao_map_entry(f, off, &e);

        rows[*k].unit = e.unit;
        rows[*k].fhash = e.fhash;
        rows[*k].rhash = e.rhash;
    }
}


/*
 * The same (kind, scope, local code) twice: the rows of a key share a
 * home, and the rows of a home are in the order added.  The error
 * names the earliest row added that repeats an earlier one, and the
 * first of those, as a check in the order added would.
 */

static int
yibao_map_duplicates(const yibao_map_t *map, const yibao_map_place_t *rows,
    const uint32_t *order, yibao_err_t *err)
{
    size_t                  a, i, j, nlen;
    uint32_t                later, first;
    yibao_map_probe_t       pr;
    const unsigned char    *national;
    const yibao_map_row_t  *row;
    const yibao_map_file_t *f;

    later = UINT32_MAX;
    first = 0;

    for (a = 0; a < map->nrows; a = j) {

        for (j = a + 1; j < map->nrows
                        && yibao_map_home(map, rows[order[j]].fhash)
                           == yibao_map_home(map, rows[order[a]].fhash);
             j++)
        {
            if (order[j] > later) {
                continue;
            }

            row = yibao_map_row(map, rows[order[j]].unit, &f);
            yibao_map_row_probe(row, &pr, &national, &nlen);

            for (i = a; i < j; i++) {
                if (rows[order[i]].fhash == rows[order[j]].fhash
                    && yibao_map_match_forward(map, rows[order[i]].unit,
                                               &pr))
                {
                    later = order[j];
                    first = order[i];
                    break;
                }
            }
        }
    }

    if (later == UINT32_MAX) {
        return YIBAO_OK;
    }

    yibao_map_duplicate(map, rows[later].unit, rows[first].unit, err);

    return YIBAO_ERR_INVALID;
}


/*
 * The row of f at off as an entry: its keys and hashes, its slots
 * prefetched.  Returns the row's size.
 */

static size_t
yibao_map_entry(const yibao_map_file_t *f, size_t off, yibao_map_entry_t *e)
{
    size_t                  nlen;
    const unsigned char    *national;
    const yibao_map_row_t  *row;

    row = (const yibao_map_row_t *) (f->arena + off);

    e->unit = (uint32_t) (f->base + off / YIBAO_MAP_UNIT);

    yibao_map_row_probe(row, &e->forward, &national, &nlen);

    e->reverse = e->forward;
    e->reverse.code = national;
    e->reverse.len = nlen;

    e->fhash = yibao_map_final(yibao_map_context(
                   yibao_map_mix(YIBAO_MAP_SEED, e->forward.code,
                                 e->forward.len),
                   &e->forward));
    e->rhash = yibao_map_final(yibao_map_mix(
                   yibao_map_context(YIBAO_MAP_SEED, &e->reverse),
                   national, nlen));

    return yibao_map_row_size(row->llen + (row->line & 0xff) + row->nlen
                              + row->name_len);
}


/*
 * The distinct contexts of the rows (kind, dictionary, scope), each
 * once in map->ctx as a length byte and its bytes, 4-byte aligned;
 * rows[k].ctx receives the unit of row k's.  A map has few of them (a
 * gateway's clinics, entities and regions), so that they stay in the
 * cache while every lookup compares them.
 */

static int
yibao_map_contexts(yibao_map_t *map, yibao_alloc_t *a, yibao_alloc_t *tmp,
    yibao_map_place_t *rows)
{
    size_t                i, size, tlen, nelts;
    uint32_t              n, hash, *firsts, nfirsts;
    yibao_str_t           key;
    yibao_hash_t         *index;
    unsigned char        *p;
    yibao_map_ctxs_t      ctxs;
    const unsigned char  *t;

    ctxs.map = map;
    ctxs.rows = rows;

    firsts = yibao_alloc(tmp, (map->nrows ? map->nrows : 1)
                              * sizeof(uint32_t));
    if (firsts == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    /* an index of a few contexts, four times larger when full */

    nelts = 1024;
    nfirsts = 0;
    size = 0;

    index = yibao_map_context_index(tmp, nelts, &ctxs, firsts, 0);
    if (index == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < map->nrows; i++) {
        t = yibao_map_row_context(map, rows[i].unit, &tlen);
        key.data = t;
        key.len = tlen;
        hash = yibao_hash_key(t, tlen);

        if (yibao_hash_find_index(index, hash, &key, &n)) {
            rows[i].ctx = rows[n].ctx;
            continue;
        }

        if (yibao_hash_count(index) == nelts) {
            nelts *= 4;
            index = yibao_map_context_index(tmp, nelts, &ctxs, firsts,
                                            nfirsts);
            if (index == NULL) {
                return YIBAO_ERR_NOMEM;
            }
        }

        (void) yibao_hash_insert_index(index, (uint32_t) i, hash, &key,
                                       NULL);

        rows[i].ctx = (uint32_t) (size / YIBAO_MAP_UNIT);
        size += yibao_map_align(1 + tlen);
        firsts[nfirsts++] = (uint32_t) i;
    }

    map->ctx = yibao_alloc(a, size ? size : 1);
    if (map->ctx == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    memset(map->ctx, 0, size ? size : 1);
    map->bytes += size;

    for (i = 0; i < nfirsts; i++) {
        t = yibao_map_row_context(map, rows[firsts[i]].unit, &tlen);
        p = map->ctx + (size_t) rows[firsts[i]].ctx * YIBAO_MAP_UNIT;
        p[0] = (unsigned char) tlen;
        memcpy(p + 1, t, tlen);
    }

    return YIBAO_OK;
}


/* an index of contexts for nelts, with the first nfirsts in it */

static yibao_hash_t *
yibao_map_context_index(yibao_alloc_t *tmp, size_t nelts,
    yibao_map_ctxs_t *ctxs, const uint32_t *firsts, size_t nfirsts)
{
    size_t                i, tlen;
    yibao_str_t           key;
    yibao_hash_t         *index;
    const unsigned char  *t;

    index = yibao_hash_create_compact(nelts, ctxs->map->nrows + 1,
                                      yibao_map_match_context, ctxs, tmp);
    if (index == NULL) {
        return NULL;
    }

    for (i = 0; i < nfirsts; i++) {
        t = yibao_map_row_context(ctxs->map, ctxs->rows[firsts[i]].unit,
                                  &tlen);
        key.data = t;
        key.len = tlen;

        (void) yibao_hash_insert_index(index, firsts[i],
                                       yibao_hash_key(t, tlen), &key, NULL);
    }

    return index;
}


static int
yibao_map_match_context(const void *ctx, uint32_t n, const void *key)
{
    const yibao_map_ctxs_t  *ctxs = ctx;
    const yibao_str_t       *k = key;

    size_t                tlen;
    const unsigned char  *t;

    t = yibao_map_row_context(ctxs->map, ctxs->rows[n].unit, &tlen);

    return tlen == k->len && memcmp(t, k->data, tlen) == 0;
}


/* the context of the row at unit n in the builder's arenas */

static const unsigned char *
yibao_map_row_context(const yibao_map_t *map, uint32_t unit, size_t *tlen)
{
    const yibao_map_row_t   *row;
    const yibao_map_file_t  *f;

    row = yibao_map_row(map, unit, &f);
    *tlen = row->line & 0xff;

    return yibao_map_row_data(row) + row->llen;
}


/*
 * The table: about 5 cells for every 3 rows (so that most homes hold
 * their own rows, and 60 % of the homes of an absent code are empty),
 * the rows in the order of their homes, each row's strings copied in.
 */

static int
yibao_map_cells(yibao_map_t *map, yibao_alloc_t *a,
    const yibao_map_place_t *rows, const uint32_t *order, size_t total)
{
    size_t             i, more;
    unsigned char     *p;
    yibao_map_cell_t  *c;

    more = yibao_map_more_size(map, rows);

    p = yibao_alloc(a, total * sizeof(yibao_map_cell_t) + 64);
    map->more = yibao_alloc(a, more ? more : 1);
    if (p == NULL || map->more == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    map->cells = (yibao_map_cell_t *)
                     (p + ((64 - ((uintptr_t) p & 63)) & 63));
    map->total = total;
    map->bytes += total * sizeof(yibao_map_cell_t) + 64 + more;

    memset(map->cells, 0, total * sizeof(yibao_map_cell_t));
    memset(map->more, 0, more ? more : 1);

    /* the homes' runs, then the rows */

    for (i = 0; i < map->nrows; i++) {
        c = &map->cells[yibao_map_home(map, rows[order[i]].fhash)];

        if (c->homed++ == 0) {
            c->disp = (uint16_t) (rows[order[i]].cell - (c - map->cells));
        }
    }

    more = 0;

    for (i = 0; i < map->nrows; i++) {
        yibao_map_cell_put(map, &map->cells[rows[i].cell], &rows[i], &more);
    }

    return YIBAO_OK;
}


/*
 * The rows in the order of their homes (a counting sort into order),
 * and each row's cell: the first free one from its home on.  Sets the
 * number of cells the table needs (the homes and the cells the last
 * runs take beyond them); a run longer than the cells' counters take
 * is an error.
 */

static int
yibao_map_order(yibao_map_t *map, yibao_alloc_t *tmp,
    yibao_map_place_t *rows, uint32_t *order, size_t *total,
    yibao_err_t *err)
{
    size_t     i, h, pos, first;
    uint32_t  *start;

    start = yibao_alloc(tmp, (map->ncells + 1) * sizeof(uint32_t));
    if (start == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    memset(start, 0, (map->ncells + 1) * sizeof(uint32_t));

    for (i = 0; i < map->nrows; i++) {
        start[yibao_map_home(map, rows[i].fhash) + 1]++;
    }

    pos = 0;

    for (h = 0; h < map->ncells; h++) {
        if (start[h + 1] > YIBAO_MAP_RUN_MAX) {
            goto collide;
        }

        if (start[h + 1] != 0) {
            first = pos > h ? pos : h;

            if (first - h > YIBAO_MAP_RUN_MAX) {
                goto collide;
            }

            pos = first + start[h + 1];
        }
    }

    *total = (pos > map->ncells ? pos : map->ncells) + 1;

    for (h = 0; h < map->ncells; h++) {
        start[h + 1] += start[h];
    }

    for (i = 0; i < map->nrows; i++) {
        order[start[yibao_map_home(map, rows[i].fhash)]++] = (uint32_t) i;
    }

    /* the rows of each home in turn, from the home or the next free cell */

    pos = 0;

    for (i = 0; i < map->nrows; i++) {
        h = yibao_map_home(map, rows[order[i]].fhash);
        pos = pos > h ? pos : h;
        rows[order[i]].cell = (uint32_t) pos++;
    }

    return YIBAO_OK;

collide:

    yibao_err_line(err, 0, "more than %d codes have hashes alike",
                   YIBAO_MAP_RUN_MAX);
    return YIBAO_ERR_TOO_LARGE;
}


/* the bytes of the strings that do not fit in their cells */

static size_t
yibao_map_more_size(const yibao_map_t *map, const yibao_map_place_t *rows)
{
    size_t                   i, used, size, n;
    const yibao_map_row_t   *row;
    const yibao_map_file_t  *f;

    size = 0;

    for (i = 0; i < map->nrows; i++) {
        row = yibao_map_row(map, rows[i].unit, &f);

        used = row->llen;
        n = 0;

        if (used > YIBAO_MAP_CELL_DATA) {
            n = row->llen + row->nlen + row->name_len;

        } else if (used + row->nlen > YIBAO_MAP_CELL_DATA) {
            n = row->nlen + row->name_len;

        } else if (used + row->nlen + row->name_len > YIBAO_MAP_CELL_DATA) {
            n = row->name_len;
        }

        size += yibao_map_align(n);
    }

    return size;
}


/* row r into cell c: its strings, in the cell while they fit */

static void
yibao_map_cell_put(yibao_map_t *map, yibao_map_cell_t *c,
    const yibao_map_place_t *r, size_t *more)
{
    size_t                   i, used, n;
    yibao_str_t              strs[3];
    const unsigned char     *p;
    const yibao_map_row_t   *row;
    const yibao_map_file_t  *f;

    row = yibao_map_row(map, r->unit, &f);
    p = yibao_map_row_data(row);

    strs[0].data = p;
    strs[0].len = row->llen;
    strs[1].data = p + row->llen + (row->line & 0xff);
    strs[1].len = row->nlen;
    strs[2].data = strs[1].data + row->nlen;
    strs[2].len = row->name_len;

    c->llen = row->llen;
    c->nlen = row->nlen;
    c->name_len = row->name_len;
    c->ctx = r->ctx;
    c->more = (uint32_t) (*more / YIBAO_MAP_UNIT);

    used = 0;
    n = 0;

    for (i = 0; i < 3; i++) {
        if (n == 0 && used + strs[i].len <= YIBAO_MAP_CELL_DATA) {
            memcpy(c->data + used, strs[i].data, strs[i].len);
            used += strs[i].len;
            continue;
        }

        memcpy(map->more + *more + n, strs[i].data, strs[i].len);
        n += strs[i].len;
    }

    *more += yibao_map_align(n);
}


/* the strings of the row in cell c, as a hit */

static void
yibao_map_cell_strings(const yibao_map_t *map, const yibao_map_cell_t *c,
    yibao_map_hit_t *s)
{
    size_t                used;
    const unsigned char  *q;

    q = map->more + (size_t) c->more * YIBAO_MAP_UNIT;

    s->local.len = c->llen;
    s->national.len = c->nlen;
    s->name.len = c->name_len;

    used = c->llen;

    if (used > YIBAO_MAP_CELL_DATA) {
        s->local.data = q;
        s->national.data = q + c->llen;
        s->name.data = q + c->llen + c->nlen;
        return;
    }

    s->local.data = c->data;
    used += c->nlen;

    if (used > YIBAO_MAP_CELL_DATA) {
        s->national.data = q;
        s->name.data = q + c->nlen;
        return;
    }

    s->national.data = c->data + c->llen;
    used += c->name_len;

    s->name.data = (used > YIBAO_MAP_CELL_DATA)
                   ? q : c->data + c->llen + c->nlen;
}


/* whether cell c holds the row of the probe's local code and context */

static int
yibao_map_cell_match(const yibao_map_t *map, const yibao_map_cell_t *c,
    const yibao_map_probe_t *pr)
{
    const unsigned char  *local, *t;

    if (c->llen != pr->len) {
        return 0;
    }

    local = (c->llen <= YIBAO_MAP_CELL_DATA)
            ? c->data : map->more + (size_t) c->more * YIBAO_MAP_UNIT;

    if (memcmp(local, pr->code, pr->len) != 0) {
        return 0;
    }

    t = map->ctx + (size_t) c->ctx * YIBAO_MAP_UNIT;

    return yibao_map_match_tail(t + 1, t[0], pr);
}


/*
 * National to local: a compact index over the cells, the rows inserted
 * in the order added, so that the earliest row of a national code in a
 * context keeps it.
 */

static int
yibao_map_reverse_index(yibao_map_t *map, yibao_alloc_t *a,
    const yibao_map_place_t *rows)
{
    size_t                   i;
    yibao_map_hit_t          s;
    yibao_map_probe_t        pr;
    const unsigned char     *t;
    const yibao_map_cell_t  *c;

    map->reverse = yibao_hash_create_compact(map->nrows, map->total,
                                             yibao_map_match_reverse, map,
                                             a);
    if (map->reverse == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    map->bytes += yibao_hash_bytes(map->reverse);

    for (i = 0; i < map->nrows; i++) {
        c = &map->cells[rows[i].cell];
        t = map->ctx + (size_t) c->ctx * YIBAO_MAP_UNIT;

        yibao_map_cell_strings(map, c, &s);
        yibao_map_tail_probe(t + 1, &pr);
        pr.code = s.national.data;
        pr.len = s.national.len;

        (void) yibao_hash_insert_index(map->reverse, rows[i].cell,
                                       rows[i].rhash, &pr, NULL);
    }

    return YIBAO_OK;
}


size_t
yibao_map_rows(const yibao_map_t *map)
{
    return map->nrows;
}


size_t
yibao_map_bytes(const yibao_map_t *map)
{
    return map->bytes;
}


int
yibao_map_lookup(const yibao_map_t *map, yibao_kind_e kind,
    const yibao_str_t *dict, const yibao_map_scope_t *scope,
    const unsigned char *code, size_t len, yibao_map_hit_t *hit)
{
    size_t                   i, j, homes[YIBAO_MAP_SCOPE_MAX];
    uint64_t                 h;
    unsigned                 mask;
    yibao_str_t              values[YIBAO_MAP_SCOPE_MAX];
    yibao_map_probe_t        pr;
    const yibao_map_cell_t  *c, *run;

    if ((unsigned) kind >= YIBAO_KIND_MAX
        || len == 0 || len > YIBAO_MAP_LOCAL_MAX)
    {
        return 0;
    }

    pr.code = code;
    pr.len = len;
    pr.kind = kind;
    pr.dict.len = 0;
    pr.dict.data = NULL;

    if (kind == YIBAO_KIND_DICT) {
        if (dict == NULL || !yibao_map_dict_name(dict->data, dict->len)) {
            return 0;
        }

        pr.dict = *dict;
    }

    mask = map->scopes[kind] & yibao_map_scope_values(scope, values);

    if (mask == 0) {
        return 0;
    }

    /*
     * The home cells of every scope first, so that all of them are on
     * their way into the cache together; then the probes, the most
     * specific scope first.  A home without rows of its own is a miss.
     */

    h = yibao_map_mix(YIBAO_MAP_SEED, code, len);

    for (i = 0; i < YIBAO_MAP_SCOPE_MAX; i++) {
        if (mask & (1u << i)) {
            pr.scope = (yibao_map_scope_e) i;
            pr.value = values[i];

            homes[i] = yibao_map_home(map,
                           yibao_map_final(yibao_map_context(h, &pr)));
            yibao_map_prefetch(&map->cells[homes[i]]);
            yibao_map_prefetch(&map->cells[homes[i] + 1]);
        }
    }

    for (i = 0; i < YIBAO_MAP_SCOPE_MAX; i++) {
        if (!(mask & (1u << i))) {
            continue;
        }

        c = &map->cells[homes[i]];

        if (c->homed == 0) {
            continue;
        }

        pr.scope = (yibao_map_scope_e) i;
        pr.value = values[i];
        run = c + c->disp;

        for (j = 0; j < c->homed; j++) {
            if (yibao_map_cell_match(map, &run[j], &pr)) {
                if (hit != NULL) {
                    yibao_map_cell_strings(map, &run[j], hit);
                }

                return 1;
            }
        }
    }

    return 0;
}


int
yibao_map_reverse(const yibao_map_t *map, yibao_kind_e kind,
    const yibao_str_t *dict, const yibao_map_scope_t *scope,
    const unsigned char *code, size_t len, yibao_map_hit_t *hit)
{
    size_t             i;
    uint32_t           n, hash;
    unsigned           mask;
    yibao_str_t        values[YIBAO_MAP_SCOPE_MAX];
    yibao_map_probe_t  pr;

    if ((unsigned) kind >= YIBAO_KIND_MAX
        || len == 0 || len > YIBAO_MAP_NATIONAL_MAX)
    {
        return 0;
    }

    pr.code = code;
    pr.len = len;
    pr.kind = kind;
    pr.dict.len = 0;
    pr.dict.data = NULL;

    if (kind == YIBAO_KIND_DICT) {
        if (dict == NULL || !yibao_map_dict_name(dict->data, dict->len)) {
            return 0;
        }

        pr.dict = *dict;
    }

    mask = map->scopes[kind] & yibao_map_scope_values(scope, values);

    for (i = 0; i < YIBAO_MAP_SCOPE_MAX; i++) {
        if (!(mask & (1u << i))) {
            continue;
        }

        pr.scope = (yibao_map_scope_e) i;
        pr.value = values[i];

        hash = yibao_map_final(yibao_map_mix(
                   yibao_map_context(YIBAO_MAP_SEED, &pr), code, len));

        if (yibao_hash_find_index(map->reverse, hash, &pr, &n)) {
            if (hit != NULL) {
                yibao_map_cell_strings(map, &map->cells[n], hit);
            }

            return 1;
        }
    }

    return 0;
}


/*
 * Splits and checks one line into l.  With check 0 (the second pass
 * over a file already checked) only what the copy needs is parsed.
 */

static int
yibao_map_parse_line(const yibao_str_t *line, size_t lineno,
    yibao_map_line_t *l, int check, yibao_err_t *err)
{
    int          rc;
    size_t       n;
    yibao_str_t  fields[YIBAO_MAP_FIELDS];

    n = yibao_tsv_split(line, fields, YIBAO_MAP_FIELDS);

    if (n != 4 && n != 5) {
        yibao_err_line(err, lineno, "expected 4 or 5 TAB-separated fields "
                        "(kind, scope, local_code, national_code, "
                        "national_name), got %zu", n);
        return YIBAO_ERR_SYNTAX;
    }

    rc = yibao_map_parse_kind(&fields[0], lineno, l, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    rc = yibao_map_parse_scope(&fields[1], lineno, l, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    l->local = fields[2];
    l->national = fields[3];

    if (n == 5) {
        l->name = fields[4];

    } else {
        l->name.data = NULL;
        l->name.len = 0;
    }

    if (!check) {
        return YIBAO_OK;
    }

    rc = yibao_map_check_local(&l->local, lineno, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    rc = yibao_map_check_national(l, lineno, err);
    if (rc != YIBAO_OK) {
        return rc;
    }

    return yibao_map_check_name(&l->name, lineno, err);
}


static int
yibao_map_parse_kind(const yibao_str_t *v, size_t lineno,
    yibao_map_line_t *l, yibao_err_t *err)
{
    char  buf[YIBAO_QUOTE_LEN];

    if (yibao_kind_parse(v->data, v->len, &l->kind, &l->dict) == YIBAO_OK) {
        return YIBAO_OK;
    }

    if (v->len >= 5 && memcmp(v->data, "dict:", 5) == 0) {
        yibao_err_line(err, lineno, "column 1 \"kind\": %s has no valid "
                        "dictionary name (1..%d letters, digits or _)",
                        yibao_quote(buf, v->data, v->len),
                        YIBAO_MAP_DICT_MAX);
        return YIBAO_ERR_INVALID;
    }

    yibao_err_line(err, lineno, "column 1 \"kind\": %s is not drug, item, "
                    "consumable, diagnosis, operation, chronic, staff, "
                    "dept or dict:<name>",
                    yibao_quote(buf, v->data, v->len));

    return YIBAO_ERR_INVALID;
}


static int
yibao_map_parse_scope(const yibao_str_t *v, size_t lineno,
    yibao_map_line_t *l, yibao_err_t *err)
{
    char                  buf[YIBAO_QUOTE_LEN];
    size_t                n, i;
    const unsigned char  *p;

    p = v->data;

    if (v->len == 1 && p[0] == '*') {
        l->scope = YIBAO_MAP_SCOPE_GLOBAL;
        l->value.data = p;
        l->value.len = 0;
        return YIBAO_OK;
    }

    if (v->len >= 7 && memcmp(p, "admdvs:", 7) == 0) {
        n = v->len - 7;

        for (i = 0; i < n; i++) {
            if (p[7 + i] < '0' || p[7 + i] > '9') {
                break;
            }
        }

        if (i == n && (n == 2 || n == 4 || n == 6)) {
            l->scope = (n == 6) ? YIBAO_MAP_SCOPE_ADMDVS6
                       : (n == 4) ? YIBAO_MAP_SCOPE_ADMDVS4
                       : YIBAO_MAP_SCOPE_ADMDVS2;
            l->value.data = p + 7;
            l->value.len = n;
            return YIBAO_OK;
        }

        yibao_err_line(err, lineno, "column 2 \"scope\": %s is not "
                        "admdvs: and 2, 4 or 6 digits",
                        yibao_quote(buf, p, v->len));
        return YIBAO_ERR_INVALID;
    }

    if (v->len >= 7 && memcmp(p, "entity:", 7) == 0) {
        if (yibao_code_is_fixmedins(p + 7, v->len - 7)) {
            l->scope = YIBAO_MAP_SCOPE_ENTITY;
            l->value.data = p + 7;
            l->value.len = v->len - 7;
            return YIBAO_OK;
        }

        yibao_err_line(err, lineno, "column 2 \"scope\": %s is not "
                        "entity: and a national institution code (H or P "
                        "and 11 digits)", yibao_quote(buf, p, v->len));
        return YIBAO_ERR_INVALID;
    }

    if (v->len >= 7 && memcmp(p, "clinic:", 7) == 0) {
        if (yibao_code_is_org(p + 7, v->len - 7)) {
            l->scope = YIBAO_MAP_SCOPE_CLINIC;
            l->value.data = p + 7;
            l->value.len = v->len - 7;
            return YIBAO_OK;
        }

        yibao_err_line(err, lineno, "column 2 \"scope\": %s is not "
                        "clinic: and a 22-char organisation code (digits "
                        "and upper-case letters)",
                        yibao_quote(buf, p, v->len));
        return YIBAO_ERR_INVALID;
    }

    yibao_err_line(err, lineno, "column 2 \"scope\": %s is not *, "
                    "admdvs:, entity: or clinic:",
                    yibao_quote(buf, p, v->len));

    return YIBAO_ERR_INVALID;
}


/* 1..150 bytes of UTF-8 without spaces or control characters */

static int
yibao_map_check_local(const yibao_str_t *v, size_t lineno, yibao_err_t *err)
{
    char    buf[YIBAO_QUOTE_LEN];
    size_t  i;

    if (v->len == 0) {
        yibao_err_line(err, lineno, "column 3 \"local_code\" is empty");
        return YIBAO_ERR_INVALID;
    }

    if (v->len > YIBAO_MAP_LOCAL_MAX) {
        yibao_err_line(err, lineno, "column 3 \"local_code\": %s is "
                        "longer than %d bytes",
                        yibao_quote(buf, v->data, v->len),
                        YIBAO_MAP_LOCAL_MAX);
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] <= 0x20 || v->data[i] == 0x7f) {
            yibao_err_line(err, lineno, "column 3 \"local_code\": %s has "
                            "a space or control character",
                            yibao_quote(buf, v->data, v->len));
            return YIBAO_ERR_INVALID;
        }
    }

    if (!yibao_code_is_utf8(v->data, v->len)) {
        yibao_err_line(err, lineno, "column 3 \"local_code\": %s is not "
                        "valid UTF-8", yibao_quote(buf, v->data, v->len));
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


static int
yibao_map_check_national(const yibao_map_line_t *l, size_t lineno,
    yibao_err_t *err)
{
    char                buf[YIBAO_QUOTE_LEN];
    const yibao_str_t  *v;

    v = &l->national;

    if (v->len == 0) {
        yibao_err_line(err, lineno, "column 4 \"national_code\" is empty");
        return YIBAO_ERR_INVALID;
    }

    if (yibao_kind_is_national(l->kind, v->data, v->len)) {
        return YIBAO_OK;
    }

    if (l->kind == YIBAO_KIND_DICT) {
        yibao_err_line(err, lineno, "column 4 \"national_code\": %s is "
                        "not a dict:%.*s value (1..%d letters and digits)",
                        yibao_quote(buf, v->data, v->len),
                        (int) l->dict.len, l->dict.data,
                        YIBAO_MAP_DICT_MAX);

    } else {
        yibao_err_line(err, lineno, "column 4 \"national_code\": %s is "
                        "not a national %s code",
                        yibao_quote(buf, v->data, v->len),
                        yibao_kind_name(l->kind));
    }

    return YIBAO_ERR_INVALID;
}


/* empty, or at most 600 bytes of UTF-8 without control characters */

static int
yibao_map_check_name(const yibao_str_t *v, size_t lineno, yibao_err_t *err)
{
    char    buf[YIBAO_QUOTE_LEN];
    size_t  i;

    if (v->len > YIBAO_MAP_NAME_MAX) {
        yibao_err_line(err, lineno, "column 5 \"national_name\" is longer "
                        "than %d bytes", YIBAO_MAP_NAME_MAX);
        return YIBAO_ERR_INVALID;
    }

    if (!yibao_code_is_utf8(v->data, v->len)) {
        yibao_err_line(err, lineno, "column 5 \"national_name\": %s is not "
                        "valid UTF-8", yibao_quote(buf, v->data, v->len));
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] == 0x7f) {
            yibao_err_line(err, lineno, "column 5 \"national_name\": %s "
                            "has a control character",
                            yibao_quote(buf, v->data, v->len));
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


/* a dictionary name: 1..30 of [A-Za-z0-9_] */

static int
yibao_map_dict_name(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > YIBAO_MAP_DICT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9')
              || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= 'a' && p[i] <= 'z')
              || p[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * The hash of a key is computed from its parts, so that a lookup
 * hashes its code once for every scope: a part 8 bytes at a time, each
 * step a multiply and a shift, its last word overlapping the one
 * before when the part is longer than 8 bytes, its length mixed in.
 */

static uint64_t
yibao_map_step(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;

    return h ^ (h >> 29);
}


static uint64_t
yibao_map_mix(uint64_t h, const unsigned char *p, size_t len)
{
    size_t    n;
    uint64_t  w;

    h = yibao_map_step(h, len);

    if (len >= 8) {
        for (n = len; n > 8; n -= 8) {
            memcpy(&w, p, 8);
            h = yibao_map_step(h, w);
            p += 8;
        }

        memcpy(&w, p + n - 8, 8);

        return yibao_map_step(h, w);
    }

    w = 0;

    switch (len) {
    case 7:
        w |= (uint64_t) p[6] << 48;
        /* fall through */
    case 6:
        w |= (uint64_t) p[5] << 40;
        /* fall through */
    case 5:
        w |= (uint64_t) p[4] << 32;
        /* fall through */
    case 4:
        w |= (uint64_t) p[3] << 24;
        /* fall through */
    case 3:
        w |= (uint64_t) p[2] << 16;
        /* fall through */
    case 2:
        w |= (uint64_t) p[1] << 8;
        /* fall through */
    case 1:
        w |= (uint64_t) p[0];
        break;
    default:
        break;
    }

    return yibao_map_step(h, w);
}


/* the context of a key: kind, scope type, dictionary, scope value */

static uint64_t
yibao_map_context(uint64_t h, const yibao_map_probe_t *pr)
{
    h = yibao_map_step(h, (uint64_t) pr->kind << 8 | pr->scope);

    if (pr->dict.len != 0) {
        h = yibao_map_mix(h, pr->dict.data, pr->dict.len);
    }

    if (pr->value.len != 0) {
        h = yibao_map_mix(h, pr->value.data, pr->value.len);
    }

    return h;
}


/* the murmur3 64-bit finalizer, folded to 32 bits */

static uint32_t
yibao_map_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;

    return (uint32_t) h;
}


/*
 * Writes a row's context at p: the kind, the dictionary's length and
 * name, the scope type and the scope value (whose length the type
 * gives); returns its length.
 */

static size_t
yibao_map_context_write(unsigned char *p, yibao_kind_e kind,
    const yibao_str_t *dict, yibao_map_scope_e scope,
    const yibao_str_t *value)
{
    size_t  n;

    p[0] = (unsigned char) kind;
    p[1] = (unsigned char) dict->len;
    n = 2;

    if (dict->len != 0) {
        memcpy(p + n, dict->data, dict->len);
        n += dict->len;
    }

    p[n++] = (unsigned char) scope;

    if (value->len != 0) {
        memcpy(p + n, value->data, value->len);
        n += value->len;
    }

    return n;
}


/*
 * The scope values of a request, by scope type, and the mask of the
 * types it has: an org code of 22 chars, an entity code of 12, an
 * admdvs of 6 (and its 4- and 2-digit prefixes), and always global.
 */

static unsigned
yibao_map_scope_values(const yibao_map_scope_t *scope, yibao_str_t *values)
{
    size_t    i;
    unsigned  mask;

    mask = 1u << YIBAO_MAP_SCOPE_GLOBAL;

    for (i = 0; i < YIBAO_MAP_SCOPE_MAX; i++) {
        values[i].data = NULL;
        values[i].len = 0;
    }

    if (scope == NULL) {
        return mask;
    }

    if (scope->org_code.len == 22) {
        values[YIBAO_MAP_SCOPE_CLINIC] = scope->org_code;
        mask |= 1u << YIBAO_MAP_SCOPE_CLINIC;
    }

    if (scope->entity_code.len == 12) {
        values[YIBAO_MAP_SCOPE_ENTITY] = scope->entity_code;
        mask |= 1u << YIBAO_MAP_SCOPE_ENTITY;
    }

    if (scope->admdvs.len == 6) {
        for (i = YIBAO_MAP_SCOPE_ADMDVS6; i <= YIBAO_MAP_SCOPE_ADMDVS2; i++) {
            values[i].data = scope->admdvs.data;
            values[i].len = yibao_map_scope_len[i];
            mask |= 1u << i;
        }
    }

    return mask;
}


/* the row at unit n, and the file that holds it */

static const yibao_map_row_t *
yibao_map_row(const yibao_map_t *map, uint32_t n,
    const yibao_map_file_t **file)
{
    size_t                   lo, hi, mid;
    const yibao_map_file_t  *f;

    f = map->files;

    if (map->nfiles > 1) {

        /* the last file whose arena starts at most at n */

        lo = 0;
        hi = map->nfiles;

        while (hi - lo > 1) {
            mid = lo + (hi - lo) / 2;

            if (map->files[mid].base <= n) {
                lo = mid;

            } else {
                hi = mid;
            }
        }

        f = &map->files[lo];
    }

    *file = f;

    return (const yibao_map_row_t *)
               (f->arena + (n - f->base) * YIBAO_MAP_UNIT);
}


/*
 * The key of a row: its local code and context (kind, dictionary
 * length, dictionary, scope type, scope value), and its national code.
 */

static void
yibao_map_row_probe(const yibao_map_row_t *row, yibao_map_probe_t *pr,
    const unsigned char **national, size_t *nlen)
{
    const unsigned char  *p, *t;

    p = yibao_map_row_data(row);
    t = p + row->llen;

    yibao_map_tail_probe(t, pr);

    pr->code = p;
    pr->len = row->llen;

    *national = t + (row->line & 0xff);
    *nlen = row->nlen;
}


/* a context's bytes as the kind, dictionary and scope of a probe */

static void
yibao_map_tail_probe(const unsigned char *t, yibao_map_probe_t *pr)
{
    pr->kind = (yibao_kind_e) t[0];
    pr->dict.len = t[1];
    pr->dict.data = t + 2;
    pr->scope = (yibao_map_scope_e) t[2 + pr->dict.len];
    pr->value.len = yibao_map_scope_len[pr->scope];
    pr->value.data = t + 3 + pr->dict.len;
}


static int
yibao_map_match_tail(const unsigned char *t, size_t tlen,
    const yibao_map_probe_t *pr)
{
    size_t  dlen;

    dlen = pr->dict.len;

    return tlen == 3 + dlen + pr->value.len
           && t[0] == (unsigned char) pr->kind
           && t[1] == dlen
           && t[2 + dlen] == (unsigned char) pr->scope
           && (dlen == 0 || memcmp(t + 2, pr->dict.data, dlen) == 0)
           && (pr->value.len == 0
               || memcmp(t + 3 + dlen, pr->value.data, pr->value.len) == 0);
}


static int
yibao_map_match_forward(const void *ctx, uint32_t n, const void *key)
{
    const yibao_map_t        *map = ctx;
    const yibao_map_probe_t  *pr = key;

    const unsigned char     *p;
    const yibao_map_row_t   *row;
    const yibao_map_file_t  *f;

    row = yibao_map_row(map, n, &f);
    p = yibao_map_row_data(row);

    return row->llen == pr->len
           && memcmp(p, pr->code, pr->len) == 0
           && yibao_map_match_tail(p + row->llen, row->line & 0xff, pr);
}


static int
yibao_map_match_reverse(const void *ctx, uint32_t n, const void *key)
{
    const yibao_map_t        *map = ctx;
    const yibao_map_probe_t  *pr = key;

    yibao_map_hit_t          s;
    const unsigned char     *t;
    const yibao_map_cell_t  *c;

    c = &map->cells[n];

    if (c->nlen != pr->len) {
        return 0;
    }

    t = map->ctx + (size_t) c->ctx * YIBAO_MAP_UNIT;

    if (!yibao_map_match_tail(t + 1, t[0], pr)) {
        return 0;
    }

    yibao_map_cell_strings(map, c, &s);

    return memcmp(s.national.data, pr->code, pr->len) == 0;
}


/*
 * Row n repeats the (kind, scope, local code) of the earlier row prev:
 * names both places and what is repeated.
 */

static void
yibao_map_duplicate(const yibao_map_t *map, uint32_t n, uint32_t prev,
    yibao_err_t *err)
{
    char                     place[YIBAO_QUOTE_LEN];
    char                     other[YIBAO_QUOTE_LEN + 2];
    char                     local[YIBAO_QUOTE_LEN];
    char                     kind[8 + YIBAO_MAP_DICT_MAX];
    char                     scope[16 + 22];
    size_t                   nlen;
    yibao_map_probe_t        pr;
    const unsigned char     *national;
    const yibao_map_row_t   *row, *first;
    const yibao_map_file_t  *f, *g;

    row = yibao_map_row(map, n, &f);
    first = yibao_map_row(map, prev, &g);

    yibao_map_row_probe(row, &pr, &national, &nlen);

    if (pr.dict.len != 0) {
        snprintf(kind, sizeof(kind), "%s:%.*s", yibao_kind_name(pr.kind),
                 (int) pr.dict.len, pr.dict.data);

    } else {
        snprintf(kind, sizeof(kind), "%s", yibao_kind_name(pr.kind));
    }

    switch (pr.scope) {

    case YIBAO_MAP_SCOPE_CLINIC:
        snprintf(scope, sizeof(scope), "clinic:%.*s", (int) pr.value.len,
                 pr.value.data);
        break;

    case YIBAO_MAP_SCOPE_ENTITY:
        snprintf(scope, sizeof(scope), "entity:%.*s", (int) pr.value.len,
                 pr.value.data);
        break;

    case YIBAO_MAP_SCOPE_GLOBAL:
        snprintf(scope, sizeof(scope), "*");
        break;

    default:
        snprintf(scope, sizeof(scope), "admdvs:%.*s", (int) pr.value.len,
                 pr.value.data);
        break;
    }

    if (f == g) {
        other[0] = '\0';

    } else {
        snprintf(other, sizeof(other), "%s ", yibao_map_place(place, g));
    }

    yibao_err_line(err, row->line >> 8, "%s line %u: column 3 "
                    "\"local_code\": %s (kind %s, scope %s) is a duplicate "
                    "of %sline %u",
                    yibao_map_place(place, f), (unsigned) (row->line >> 8),
                    yibao_quote(local, pr.code, pr.len), kind, scope,
                    other, (unsigned) (first->line >> 8));
}


/* a file in a message: its label quoted, or "file <number>" */

static const char *
yibao_map_place(char *buf, const yibao_map_file_t *f)
{
    if (f->label.len != 0) {
        return yibao_quote(buf, f->label.data, f->label.len);
    }

    snprintf(buf, YIBAO_QUOTE_LEN, "file %zu", f->number);

    return buf;
}


