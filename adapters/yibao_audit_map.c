/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The platform's audit (3101/3102, 3660/3661): the mapping of the visit
 * to the interface's input, as data (yibao_audit.h says the format), and
 * the input it makes.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_audit.h"
#include "yibao_codes.h"
#include "yibao_tsv.h"


typedef enum {
    YIBAO_AUDIT_MAP_DATA = 0,
    YIBAO_AUDIT_MAP_PATIENT,
    YIBAO_AUDIT_MAP_ENCOUNTER,
    YIBAO_AUDIT_MAP_DIAGNOSE,
    YIBAO_AUDIT_MAP_ORDER,
    YIBAO_AUDIT_MAP_LEVELS
} yibao_audit_map_level_e;


typedef enum {
    YIBAO_AUDIT_MAP_VISIT = 0,      /* a yibao_audit_remote_t string */
    YIBAO_AUDIT_MAP_LINE_STR,       /* a yibao_audit_line_t string */
    YIBAO_AUDIT_MAP_LINE_NUM,       /* a yibao_audit_line_t number */
    YIBAO_AUDIT_MAP_TEXT,
    YIBAO_AUDIT_MAP_INT,
    YIBAO_AUDIT_MAP_NEST
} yibao_audit_map_kind_e;


typedef struct {
    yibao_str_t             key;
    unsigned                level;
    yibao_audit_map_kind_e  kind;
    size_t                  offset;     /* VISIT, LINE_*; NEST: level */
    yibao_str_t             text;
    int64_t                 num;
} yibao_audit_map_field_t;


struct yibao_audit_map_s {
    yibao_audit_map_field_t  *fields;
    size_t                    n;
};


typedef struct {
    const char             *name;
    size_t                  offset;
} yibao_audit_map_name_t;


static const char  *yibao_audit_map_levels[] = {
    "data", "patient", "encounter", "diagnose", "order"
};

/* the level each level's array is placed in */
static const unsigned  yibao_audit_map_parent[] = {
    0, YIBAO_AUDIT_MAP_DATA, YIBAO_AUDIT_MAP_PATIENT,
    YIBAO_AUDIT_MAP_ENCOUNTER, YIBAO_AUDIT_MAP_ENCOUNTER
};


#define yibao_audit_map_visit(m)                                            \
    { #m, offsetof(yibao_audit_remote_t, m) }

static const yibao_audit_map_name_t  yibao_audit_map_visits[] = {
    yibao_audit_map_visit(syscode),
    yibao_audit_map_visit(task_id),
    yibao_audit_map_visit(trig_scen),
    yibao_audit_map_visit(psn_no),
    yibao_audit_map_visit(gend),
    yibao_audit_map_visit(brdy),
    yibao_audit_map_visit(poolarea),
    yibao_audit_map_visit(mdtrt_id),
    yibao_audit_map_visit(entity),
    yibao_audit_map_visit(entity_name),
    yibao_audit_map_visit(admdvs),
    yibao_audit_map_visit(med_type),
    yibao_audit_map_visit(diag),
    { NULL, 0 }
};

static const yibao_audit_map_name_t  yibao_audit_map_line_strs[] = {
    { "line.sn", offsetof(yibao_audit_line_t, sn) },
    { "line.code", offsetof(yibao_audit_line_t, code) },
    { "line.doctor", offsetof(yibao_audit_line_t, doctor) },
    { NULL, 0 }
};

static const yibao_audit_map_name_t  yibao_audit_map_line_nums[] = {
    { "line.cnt", offsetof(yibao_audit_line_t, cnt) },
    { "line.pric", offsetof(yibao_audit_line_t, pric) },
    { "line.amt", offsetof(yibao_audit_line_t, amt) },
    { NULL, 0 }
};


static int yibao_audit_map_nest(yibao_audit_map_field_t *f,
    const yibao_str_t *s, size_t lineno, int *placed, yibao_err_t *err);
static void yibao_audit_map_unknown(const yibao_str_t *s, size_t lineno,
    yibao_err_t *err);


static int
yibao_audit_map_is(const yibao_str_t *s, const char *name)
{
    size_t  len;

    len = strlen(name);

    return s->len == len && memcmp(s->data, name, len) == 0;
}


/* the table's offset of name, or -1 */

static long
yibao_audit_map_find(const yibao_audit_map_name_t *t, const yibao_str_t *s)
{
    for ( /* void */ ; t->name != NULL; t++) {
        if (yibao_audit_map_is(s, t->name)) {
            return (long) t->offset;
        }
    }

    return -1;
}


static int
yibao_audit_map_key(const yibao_str_t *s)
{
    size_t  i;

    if (s->len == 0 || s->len > YIBAO_AUDIT_MAP_KEY) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= 'a' && s->data[i] <= 'z')
              || (s->data[i] >= 'A' && s->data[i] <= 'Z')
              || (s->data[i] >= '0' && s->data[i] <= '9')
              || s->data[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* [level]: 0, or an error in err */

static int
yibao_audit_map_nest(yibao_audit_map_field_t *f, const yibao_str_t *s,
    size_t lineno, int *placed, yibao_err_t *err)
{
    unsigned     l;
    yibao_str_t  inner;

    inner.data = s->data + 1;
    inner.len = s->len - 2;

    for (l = YIBAO_AUDIT_MAP_PATIENT; l < YIBAO_AUDIT_MAP_LEVELS; l++) {
        if (yibao_audit_map_is(&inner, yibao_audit_map_levels[l])) {
            break;
        }
    }

    if (l == YIBAO_AUDIT_MAP_LEVELS) {
        yibao_audit_map_unknown(s, lineno, err);
        return -1;
    }

    if (yibao_audit_map_parent[l] != f->level) {
        yibao_err_line(err, lineno, "column 3 \"source\": %.*s belongs "
                       "in %s, not in %s", (int) s->len,
                       (const char *) s->data,
                       yibao_audit_map_levels[yibao_audit_map_parent[l]],
                       yibao_audit_map_levels[f->level]);
        return -1;
    }

    if (placed[l]) {
        yibao_err_line(err, lineno, "column 3 \"source\": %.*s is "
                       "already placed on line %d", (int) s->len,
                       (const char *) s->data, placed[l]);
        return -1;
    }

    placed[l] = (int) lineno;
    f->kind = YIBAO_AUDIT_MAP_NEST;
    f->offset = l;

    return 0;
}


static void
yibao_audit_map_unknown(const yibao_str_t *s, size_t lineno,
    yibao_err_t *err)
{
    yibao_err_line(err, lineno, "column 3 \"source\": \"%.*s\" is not a "
                   "value of the visit (syscode, task_id, trig_scen, "
                   "psn_no, gend, brdy, poolarea, mdtrt_id, entity, "
                   "entity_name, admdvs, med_type, diag), of the fee line "
                   "(line.sn, line.code, line.doctor, line.cnt, line.pric, "
                   "line.amt), a \"text\", an integer nor a [level]",
                   (int) (s->len > 40 ? 40 : s->len), (const char *) s->data);
}


/* the source column of f (f->level set): 0, or an error in err */

static int
yibao_audit_map_source(yibao_audit_map_field_t *f, const yibao_str_t *s,
    size_t lineno, int *placed, yibao_err_t *err)
{
    long      off;
    size_t    i;
    int64_t   num;

    off = yibao_audit_map_find(yibao_audit_map_visits, s);

    if (off >= 0) {
        f->kind = YIBAO_AUDIT_MAP_VISIT;
        f->offset = (size_t) off;
        return 0;
    }

    if (s->len > 5 && memcmp(s->data, "line.", 5) == 0) {

        if (f->level != YIBAO_AUDIT_MAP_ORDER) {
            yibao_err_line(err, lineno, "column 3 \"source\": \"%.*s\" is "
                           "a value of the fee line: only on order lines",
                           (int) s->len, (const char *) s->data);
            return -1;
        }

        off = yibao_audit_map_find(yibao_audit_map_line_strs, s);
        f->kind = YIBAO_AUDIT_MAP_LINE_STR;

        if (off < 0) {
            off = yibao_audit_map_find(yibao_audit_map_line_nums, s);
            f->kind = YIBAO_AUDIT_MAP_LINE_NUM;
        }

        if (off >= 0) {
            f->offset = (size_t) off;
            return 0;
        }

        goto unknown;
    }

    if (s->len >= 2 && s->data[0] == '"' && s->data[s->len - 1] == '"') {
        for (i = 1; i + 1 < s->len; i++) {
            if (s->data[i] == '"' || s->data[i] == '\\'
                || s->data[i] < 0x20)
            {
                yibao_err_line(err, lineno, "column 3 \"source\": the text "
                               "%.*s holds a quote, a backslash or a "
                               "control character", (int) s->len,
                               (const char *) s->data);
                return -1;
            }
        }

        if (!yibao_code_is_utf8(s->data + 1, s->len - 2)) {
            yibao_err_line(err, lineno, "column 3 \"source\": the text is "
                           "not UTF-8");
            return -1;
        }

        f->kind = YIBAO_AUDIT_MAP_TEXT;
        f->text.data = s->data + 1;
        f->text.len = s->len - 2;
        return 0;
    }

    if (s->len >= 2 && s->data[0] == '[' && s->data[s->len - 1] == ']') {
        return yibao_audit_map_nest(f, s, lineno, placed, err);
    }

    i = (s->len && s->data[0] == '-') ? 1 : 0;

    if (s->len > i && s->len - i <= 18) {
        num = 0;

        for ( /* void */ ; i < s->len; i++) {
            if (s->data[i] < '0' || s->data[i] > '9') {
                goto unknown;
            }

            num = num * 10 + (s->data[i] - '0');
        }

        f->kind = YIBAO_AUDIT_MAP_INT;
        f->num = (s->data[0] == '-') ? -num : num;
        return 0;
    }

unknown:

    yibao_audit_map_unknown(s, lineno, err);
    return -1;
}


/* whether level l has the key already */

static int
yibao_audit_map_twice(const yibao_audit_map_t *map, unsigned l,
    const yibao_str_t *key)
{
    size_t  i;

    for (i = 0; i < map->n; i++) {
        if (map->fields[i].level == l
            && map->fields[i].key.len == key->len
            && memcmp(map->fields[i].key.data, key->data, key->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


yibao_audit_map_t *
yibao_audit_map_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err)
{
    int                       placed[YIBAO_AUDIT_MAP_LEVELS];
    size_t                    nf, last;
    unsigned                  l;
    yibao_str_t               line, col[4];
    yibao_tsv_t               tsv;
    yibao_audit_map_t        *map;
    yibao_audit_map_field_t  *f;

    map = yibao_alloc(a, sizeof(yibao_audit_map_t));
    if (map == NULL) {
        goto nomem;
    }

    map->n = 0;
    map->fields = yibao_alloc(a, (yibao_tsv_max_lines(data, len) + 1)
                                 * sizeof(yibao_audit_map_field_t));
    if (map->fields == NULL) {
        goto nomem;
    }

    memset(placed, 0, sizeof(placed));
    last = 0;
    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        last = tsv.line;
        nf = yibao_tsv_split(&line, col, 4);

        if (nf != 3) {
            yibao_err_line(err, tsv.line, "%zu columns, expected 3: level, "
                           "field, source (one TAB between them)", nf);
            return NULL;
        }

        f = &map->fields[map->n];
        memset(f, 0, sizeof(yibao_audit_map_field_t));

        for (l = 0; l < YIBAO_AUDIT_MAP_LEVELS
                    && !yibao_audit_map_is(&col[0], yibao_audit_map_levels[l]);
             l++)
        {
            /* void */
        }

        if (l == YIBAO_AUDIT_MAP_LEVELS) {
            yibao_err_line(err, tsv.line, "column 1 \"level\": \"%.*s\" is "
                           "not data, patient, encounter, diagnose nor "
                           "order", (int) (col[0].len > 40 ? 40 : col[0].len),
                           (const char *) col[0].data);
            return NULL;
        }

        f->level = l;

        if (!yibao_audit_map_key(&col[1])) {
            yibao_err_line(err, tsv.line, "column 2 \"field\": \"%.*s\" is "
                           "not 1 to %d of A-Z, a-z, 0-9 and _",
                           (int) (col[1].len > 40 ? 40 : col[1].len),
                           (const char *) col[1].data, YIBAO_AUDIT_MAP_KEY);
            return NULL;
        }

        if (yibao_audit_map_twice(map, l, &col[1])) {
            yibao_err_line(err, tsv.line, "column 2 \"field\": \"%.*s\" "
                           "is already a field of %s",
                           (int) col[1].len, (const char *) col[1].data,
                           yibao_audit_map_levels[l]);
            return NULL;
        }

        f->key = col[1];

        if (yibao_audit_map_source(f, &col[2], tsv.line, placed, err) != 0) {
            return NULL;
        }

        map->n++;
    }

    for (l = YIBAO_AUDIT_MAP_PATIENT; l < YIBAO_AUDIT_MAP_LEVELS; l++) {
        if (!placed[l]) {
            yibao_err_line(err, last ? last : 1, "no line of %s places "
                           "[%s] (its array)",
                           yibao_audit_map_levels[yibao_audit_map_parent[l]],
                           yibao_audit_map_levels[l]);
            return NULL;
        }
    }

    return map;

nomem:

    yibao_err_line(err, 0, "out of memory");
    return NULL;
}


/* a string of the visit as a JSON string (jansson copies it) */

static json_t *
yibao_audit_map_jstr(const yibao_str_t *s)
{
    return json_stringn_nocheck(s->data ? (const char *) s->data : "",
                                s->len);
}


static json_t *yibao_audit_map_object(const yibao_audit_map_t *map,
    unsigned level, const yibao_audit_remote_t *v,
    const yibao_audit_line_t *lines, size_t n, const yibao_audit_line_t *l);


/* the array of level's objects */

static json_t *
yibao_audit_map_array(const yibao_audit_map_t *map, unsigned level,
    const yibao_audit_remote_t *v, const yibao_audit_line_t *lines,
    size_t n)
{
    size_t   i, count;
    json_t  *arr, *o;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    count = (level == YIBAO_AUDIT_MAP_ORDER) ? n
            : (level == YIBAO_AUDIT_MAP_DIAGNOSE) ? (v->diag.len != 0) : 1;

    for (i = 0; i < count; i++) {
        o = yibao_audit_map_object(map, level, v, lines, n,
                                   (level == YIBAO_AUDIT_MAP_ORDER)
                                   ? &lines[i] : NULL);

        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
yibao_audit_map_object(const yibao_audit_map_t *map, unsigned level,
    const yibao_audit_remote_t *v, const yibao_audit_line_t *lines,
    size_t n, const yibao_audit_line_t *l)
{
    size_t                          i;
    json_t                         *obj, *val;
    const yibao_audit_map_field_t  *f;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    for (i = 0; i < map->n; i++) {
        f = &map->fields[i];

        if (f->level != level) {
            continue;
        }

        switch (f->kind) {

        case YIBAO_AUDIT_MAP_VISIT:
            val = yibao_audit_map_jstr((const yibao_str_t *)
                                       ((const char *) v + f->offset));
            break;

        case YIBAO_AUDIT_MAP_LINE_STR:
            val = yibao_audit_map_jstr((const yibao_str_t *)
                                       ((const char *) l + f->offset));
            break;

        case YIBAO_AUDIT_MAP_LINE_NUM:
            val = json_real((double) *(const int64_t *)
                            ((const char *) l + f->offset) / 1000000);
            break;

        case YIBAO_AUDIT_MAP_TEXT:
            val = yibao_audit_map_jstr(&f->text);
            break;

        case YIBAO_AUDIT_MAP_INT:
            val = json_integer(f->num);
            break;

        default: /* YIBAO_AUDIT_MAP_NEST */
            val = yibao_audit_map_array(map, (unsigned) f->offset, v, lines,
                                        n);
            break;
        }

        if (val == NULL
            || json_object_setn_new_nocheck(obj, (const char *) f->key.data,
                                            f->key.len, val)
               != 0)
        {
            json_decref(obj);
            return NULL;
        }
    }

    return obj;
}


json_t *
yibao_audit_remote_input(const yibao_audit_map_t *map,
    const yibao_audit_remote_t *v, const yibao_audit_line_t *lines,
    size_t n)
{
    json_t  *data, *input;

    data = yibao_audit_map_object(map, YIBAO_AUDIT_MAP_DATA, v, lines, n,
                                  NULL);
    if (data == NULL) {
        return NULL;
    }

    input = json_object();

    if (input == NULL) {
        json_decref(data);
        return NULL;
    }

    if (json_object_setn_new_nocheck(input, (const char *) v->node.data,
                                     v->node.len, data)
        != 0)
    {
        json_decref(input);
        return NULL;
    }

    return input;
}
