/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>

#include "yibao_rules.h"
#include "yibao_codes.h"
#include "yibao_tsv.h"


#define YIBAO_RULES_FIELDS        7     /* one more than allowed */
#define YIBAO_RULES_MAX_KEY       64


typedef struct {
    const char           *name;
    yibao_rule_type_e     type;
    unsigned              object:1;
} yibao_rule_check_t;


/* A line being read: its n columns f[] and the rule they make. */

typedef struct {
    yibao_rule_t         *rule;
    yibao_str_t           f[YIBAO_RULES_FIELDS];
    size_t                n;
    yibao_alloc_t        *a;
    char                  why[160];
} yibao_rules_line_t;


/*
 * One check of a line: step() reads columns into the rule; on a mistake
 * it writes why (shown after the quoted value of the column it names)
 * and returns YIBAO_ERR_INVALID, or YIBAO_ERR_NOMEM.
 */

typedef int (*yibao_rules_step_pt)(yibao_rules_line_t *l);

typedef struct {
    size_t                column;       /* 0-based */
    const char           *name;
    yibao_rules_step_pt   step;
} yibao_rules_step_t;


struct yibao_rules_s {
    yibao_rule_t         *rules;        /* in the file's order */
    uint64_t             *keys;         /* of each rule: yibao_rules_infno_key()
                                           of its infno and direction */
    size_t                nrules;
};


static int yibao_rules_line(const yibao_str_t *line, size_t lineno,
    yibao_rule_t *rule, yibao_alloc_t *a, yibao_err_t *err);
static int yibao_rules_infno(yibao_rules_line_t *l);
static int yibao_rules_direction(yibao_rules_line_t *l);
static int yibao_rules_steps(yibao_rules_line_t *l);
static int yibao_rules_kinds(yibao_rules_line_t *l);
static int yibao_rules_end(yibao_rules_line_t *l);
static int yibao_rules_target(yibao_rules_line_t *l);
static int yibao_rules_name_target(yibao_rules_line_t *l);
static int yibao_rules_path(const yibao_str_t *s, yibao_rule_seg_t *segs,
    size_t *nsegs, yibao_alloc_t *a, char *why, size_t size);
static int yibao_rules_segment(const yibao_str_t *s,
    const unsigned char **pos, yibao_rule_seg_t *segs, size_t n,
    yibao_alloc_t *a, char *why, size_t size);
static int yibao_rules_name_char(unsigned char c);
static int yibao_rules_what(const yibao_str_t *s, yibao_rule_t *rule,
    char *why, size_t size);
static int yibao_rules_beside(const yibao_rule_t *rule,
    const yibao_str_t *s, const char **key, yibao_alloc_t *a, char *why,
    size_t size);
static int yibao_rules_same(const yibao_rule_t *a, const yibao_rule_t *b);
static const char *yibao_rules_class(const yibao_rule_t *rule);
static char *yibao_rules_copy(yibao_alloc_t *a, const unsigned char *p,
    size_t len);
static uint64_t yibao_rules_infno_key(const yibao_str_t *infno,
    unsigned answer);


static const yibao_rule_check_t  yibao_rule_checks[] = {
    { "number", YIBAO_RULE_NUMBER, 0 },
    { "id_number", YIBAO_RULE_ID_NUMBER, 1 },
    { "fee_amount", YIBAO_RULE_FEE_AMOUNT, 1 },
    { "feedetl_sn", YIBAO_RULE_FEEDETL_SN, 0 },
    { NULL, 0, 0 }
};


/*
 * The checks of a line in order (a path that must end with a field
 * name is told after the "what" that says so).
 */

static const yibao_rules_step_t  yibao_rules_line_steps[] = {
    { 0, "infno", yibao_rules_infno },
    { 1, "direction", yibao_rules_direction },
    { 2, "path", yibao_rules_steps },
    { 3, "what", yibao_rules_kinds },
    { 2, "path", yibao_rules_end },
    { 4, "target", yibao_rules_target },
    { 5, "name_target", yibao_rules_name_target },
    { 0, NULL, NULL }
};


yibao_rules_t *
yibao_rules_parse(const unsigned char *data, size_t len, yibao_alloc_t *a,
    yibao_err_t *err)
{
    size_t          i, max;
    yibao_str_t     line;
    yibao_tsv_t     tsv;
    yibao_rule_t   *rule, *prev;
    yibao_rules_t  *rules;

    rules = yibao_alloc(a, sizeof(yibao_rules_t));
    if (rules == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return NULL;
    }

    max = yibao_tsv_max_lines(data, len);

    rules->nrules = 0;
    rules->rules = yibao_alloc(a, (max ? max : 1) * sizeof(yibao_rule_t));
    rules->keys = yibao_alloc(a, (max ? max : 1) * sizeof(uint64_t));
    if (rules->rules == NULL || rules->keys == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return NULL;
    }

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        rule = &rules->rules[rules->nrules];

        if (yibao_rules_line(&line, tsv.line, rule, a, err) != YIBAO_OK) {
            return NULL;
        }

        for (i = 0; i < rules->nrules; i++) {
            prev = &rules->rules[i];

            if (yibao_rules_same(prev, rule)) {
                yibao_err_line(err, tsv.line,
                                  "column 3 \"path\": \"%s\" already has "
                                  "a %s %s rule for infno %.*s at line %zu",
                                  rule->path.data, yibao_rules_class(rule),
                                  rule->answer ? "answer" : "request",
                                  rule->infno.len ? (int) rule->infno.len
                                                  : 1,
                                  rule->infno.len
                                      ? (const char *) rule->infno.data
                                      : "*",
                                  prev->line);
                return NULL;
            }
        }

        rules->keys[rules->nrules] = yibao_rules_infno_key(&rule->infno,
                                                     rule->answer);
        rules->nrules++;
    }

    return rules;
}


size_t
yibao_rules_count(const yibao_rules_t *rules)
{
    return rules->nrules;
}


static int
yibao_rules_line(const yibao_str_t *line, size_t lineno, yibao_rule_t *rule,
    yibao_alloc_t *a, yibao_err_t *err)
{
    int                        rc;
    char                       quote[YIBAO_QUOTE_LEN];
    size_t                     n;
    yibao_rules_line_t         l;
    const yibao_rules_step_t  *st;

    memset(rule, 0, sizeof(yibao_rule_t));
    rule->line = lineno;

    n = yibao_tsv_split(line, l.f, YIBAO_RULES_FIELDS);

    if (n < 4) {
        yibao_err_line(err, lineno,
                          "has %zu column%s, needs at least 4: infno, "
                          "direction, path, what", n, n == 1 ? "" : "s");
        return YIBAO_ERR_SYNTAX;
    }

    if (n > 6) {
        yibao_err_line(err, lineno,
                          "has %zu columns, at most 6: infno, direction, "
                          "path, what, target, name_target", n);
        return YIBAO_ERR_SYNTAX;
    }

    l.rule = rule;
    l.n = n;
    l.a = a;

    for (st = yibao_rules_line_steps; st->step != NULL; st++) {
        rc = st->step(&l);

        if (rc == YIBAO_ERR_NOMEM) {
            yibao_err_line(err, lineno, "out of memory");
            return rc;
        }

        if (rc != YIBAO_OK) {
            yibao_err_line(err, lineno, "column %zu \"%s\": %s %s",
                           st->column + 1, st->name,
                           yibao_quote(quote, l.f[st->column].data,
                                       l.f[st->column].len),
                           l.why);
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


/* column 1: "*" or an infno */

static int
yibao_rules_infno(yibao_rules_line_t *l)
{
    const yibao_str_t  *f;

    f = &l->f[0];

    if (f->len == 1 && f->data[0] == '*') {
        l->rule->infno.len = 0;
        l->rule->infno.data = (const unsigned char *) "";
        return YIBAO_OK;
    }

    if (!yibao_code_is_infno(f->data, f->len)) {
        snprintf(l->why, sizeof(l->why), "is not \"*\" or 4 digits with an "
                 "optional upper-case letter");
        return YIBAO_ERR_INVALID;
    }

    l->rule->infno.data = (const unsigned char *)
                          yibao_rules_copy(l->a, f->data, f->len);
    if (l->rule->infno.data == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    l->rule->infno.len = f->len;

    return YIBAO_OK;
}


/* column 2 */

static int
yibao_rules_direction(yibao_rules_line_t *l)
{
    const yibao_str_t  *f;

    f = &l->f[1];

    if (f->len == 7 && memcmp(f->data, "request", 7) == 0) {
        l->rule->answer = 0;

    } else if (f->len == 6 && memcmp(f->data, "answer", 6) == 0) {
        l->rule->answer = 1;

    } else {
        snprintf(l->why, sizeof(l->why),
                 "is not \"request\" or \"answer\"");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/* column 3: the path's steps; the path and "what" kept as written */

static int
yibao_rules_steps(yibao_rules_line_t *l)
{
    int            rc;
    yibao_rule_t  *rule;

    rule = l->rule;

    rc = yibao_rules_path(&l->f[2], rule->segs, &rule->nsegs, l->a, l->why,
                          sizeof(l->why));
    if (rc != YIBAO_OK) {
        return rc;
    }

    rule->path.data = (const unsigned char *)
                      yibao_rules_copy(l->a, l->f[2].data, l->f[2].len);
    rule->what.data = (const unsigned char *)
                      yibao_rules_copy(l->a, l->f[3].data, l->f[3].len);
    if (rule->path.data == NULL || rule->what.data == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    rule->path.len = l->f[2].len;
    rule->what.len = l->f[3].len;

    return YIBAO_OK;
}


/* column 4: kinds, or a check of a request */

static int
yibao_rules_kinds(yibao_rules_line_t *l)
{
    if (yibao_rules_what(&l->f[3], l->rule, l->why, sizeof(l->why))
        != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    if (l->rule->type != YIBAO_RULE_CODE && l->rule->answer) {
        snprintf(l->why, sizeof(l->why),
                 "is a check: checks apply to requests only");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/* column 3 again: a field rule's path ends with a field name */

static int
yibao_rules_end(yibao_rules_line_t *l)
{
    const yibao_rule_seg_t  *last;

    last = &l->rule->segs[l->rule->nsegs - 1];

    if (!l->rule->object && (last->key == NULL || last->array)) {
        snprintf(l->why, sizeof(l->why), "must end with a field name for "
                 "%s, not with \"[]\"", yibao_rules_class(l->rule));
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/* column 5, optional: where a code rule puts the national code */

static int
yibao_rules_target(yibao_rules_line_t *l)
{
    int            rc;
    yibao_rule_t  *rule;

    rule = l->rule;

    if (l->n <= 4 || (l->f[4].len == 1 && l->f[4].data[0] == '-')) {
        return YIBAO_OK;
    }

    if (rule->type != YIBAO_RULE_CODE) {
        snprintf(l->why, sizeof(l->why), "given for %s, which has no "
                 "target (use \"-\" or nothing)", yibao_rules_class(rule));
        return YIBAO_ERR_INVALID;
    }

    rc = yibao_rules_beside(rule, &l->f[4], &rule->target, l->a, l->why,
                            sizeof(l->why));
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (strcmp(rule->target, rule->segs[rule->nsegs - 1].key) == 0) {
        rule->target = NULL;
    }

    return YIBAO_OK;
}


/* column 6, optional: where a request code rule puts the name */

static int
yibao_rules_name_target(yibao_rules_line_t *l)
{
    int            rc;
    yibao_rule_t  *rule;

    rule = l->rule;

    if (l->n <= 5 || (l->f[5].len == 1 && l->f[5].data[0] == '-')) {
        return YIBAO_OK;
    }

    if (rule->type != YIBAO_RULE_CODE || rule->answer) {
        snprintf(l->why, sizeof(l->why), "given for %s, only request code "
                 "rules fill names", rule->answer ? "an answer rule"
                                                  : yibao_rules_class(rule));
        return YIBAO_ERR_INVALID;
    }

    rc = yibao_rules_beside(rule, &l->f[5], &rule->name_target, l->a,
                            l->why, sizeof(l->why));
    if (rc != YIBAO_OK) {
        return rc;
    }

    if (strcmp(rule->name_target, rule->segs[rule->nsegs - 1].key) == 0
        || (rule->target != NULL
            && strcmp(rule->name_target, rule->target) == 0))
    {
        snprintf(l->why, sizeof(l->why), "is where the code goes: the name "
                 "needs a field of its own");
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/*
 * path = [ "[]" [ "." ] ] key [ "[]" ] { "." key [ "[]" ] }
 * key  = 1..64 of [A-Za-z0-9_]
 *
 * A leading "[]" is the root itself (an "output" that is an array).
 */

static int
yibao_rules_path(const yibao_str_t *s, yibao_rule_seg_t *segs,
    size_t *nsegs, yibao_alloc_t *a, char *why, size_t size)
{
    int                   rc;
    size_t                n;
    const unsigned char  *p, *end;

    p = s->data;
    end = s->data + s->len;
    n = 0;

    if (s->len == 0) {
        snprintf(why, size, "is empty");
        return YIBAO_ERR_INVALID;
    }

    if (end - p >= 2 && p[0] == '[' && p[1] == ']') {
        segs[0].key = NULL;
        segs[0].array = 1;
        n = 1;
        p += 2;

        if (p == end) {
            *nsegs = n;
            return YIBAO_OK;
        }

        if (*p != '.') {
            snprintf(why, size, "has a byte 0x%02x at position %zu where "
                     "\".\" must follow \"[]\"", *p,
                     (size_t) (p - s->data) + 1);
            return YIBAO_ERR_INVALID;
        }

        p++;
    }

    for ( ;; ) {
        rc = yibao_rules_segment(s, &p, segs, n, a, why, size);
        if (rc != YIBAO_OK) {
            return rc;
        }

        n++;

        if (p == end) {
            break;
        }

        if (*p != '.') {
            snprintf(why, size, "has a byte 0x%02x at position %zu where "
                     "\".\", \"[]\" or the end must be", *p,
                     (size_t) (p - s->data) + 1);
            return YIBAO_ERR_INVALID;
        }

        p++;
    }

    *nsegs = n;

    return YIBAO_OK;
}


/*
 * Step n of a path at *pos into segs[n]: a key and an optional "[]";
 * *pos moves past it.
 */

static int
yibao_rules_segment(const yibao_str_t *s, const unsigned char **pos,
    yibao_rule_seg_t *segs, size_t n, yibao_alloc_t *a, char *why,
    size_t size)
{
    yibao_rule_seg_t     *seg;
    const unsigned char  *p, *q, *end;

    p = *pos;
    q = p;
    end = s->data + s->len;

    while (p < end && yibao_rules_name_char(*p)) {
        p++;
    }

    if (p == q) {
        if (p == end) {
            snprintf(why, size, "ends where a field name must follow");

        } else {
            snprintf(why, size, "has a byte 0x%02x at position %zu "
                     "where a field name ([A-Za-z0-9_]) must be", *p,
                     (size_t) (p - s->data) + 1);
        }

        return YIBAO_ERR_INVALID;
    }

    if (p - q > YIBAO_RULES_MAX_KEY) {
        snprintf(why, size, "has a field name longer than %d bytes",
                 YIBAO_RULES_MAX_KEY);
        return YIBAO_ERR_INVALID;
    }

    if (n == YIBAO_RULES_MAX_SEGS) {
        snprintf(why, size, "has more than %d steps", YIBAO_RULES_MAX_SEGS);
        return YIBAO_ERR_INVALID;
    }

    seg = &segs[n];
    seg->key = yibao_rules_copy(a, q, p - q);
    if (seg->key == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    seg->array = 0;

    if (end - p >= 2 && p[0] == '[' && p[1] == ']') {
        seg->array = 1;
        p += 2;
    }

    *pos = p;

    return YIBAO_OK;
}


static int
yibao_rules_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}


static int
yibao_rules_what(const yibao_str_t *s, yibao_rule_t *rule, char *why,
    size_t size)
{
    char                       quote[YIBAO_QUOTE_LEN];
    size_t                     i;
    yibao_str_t                item, dict;
    yibao_kind_e               kind;
    const unsigned char       *p, *end, *comma;
    const yibao_rule_check_t  *c;

    if (s->len > 6 && memcmp(s->data, "check:", 6) == 0) {

        for (c = yibao_rule_checks; c->name != NULL; c++) {
            if (strlen(c->name) == s->len - 6
                && memcmp(c->name, s->data + 6, s->len - 6) == 0)
            {
                rule->type = c->type;
                rule->object = c->object;
                return YIBAO_OK;
            }
        }

        snprintf(why, size, "is not a check: check:number, "
                 "check:id_number, check:fee_amount or check:feedetl_sn");
        return YIBAO_ERR_INVALID;
    }

    rule->type = YIBAO_RULE_CODE;
    rule->object = 0;

    p = s->data;
    end = s->data + s->len;

    for ( ;; ) {
        comma = memchr(p, ',', end - p);

        item.data = p;
        item.len = (comma != NULL ? comma : end) - p;

        if (item.len == 0) {
            snprintf(why, size, "has an empty kind");
            return YIBAO_ERR_INVALID;
        }

        if (yibao_kind_parse(item.data, item.len, &kind, &dict) != YIBAO_OK) {
            snprintf(why, size, "has %s, which is not a kind: drug, item, "
                     "consumable, diagnosis, operation, chronic, staff, "
                     "dept, dict:<name>, or a check:...",
                     yibao_quote(quote, item.data, item.len));
            return YIBAO_ERR_INVALID;
        }

        for (i = 0; i < rule->nkinds; i++) {
            if (rule->kinds[i] == kind) {
                snprintf(why, size, "names %s twice", yibao_kind_name(kind));
                return YIBAO_ERR_INVALID;
            }
        }

        if (kind == YIBAO_KIND_DICT || rule->kinds[0] == YIBAO_KIND_DICT) {
            if (rule->nkinds > 0 || comma != NULL) {
                snprintf(why, size, "mixes dict:<name> with other kinds: "
                         "a dictionary stands alone");
                return YIBAO_ERR_INVALID;
            }

            rule->dict.data = (const unsigned char *) rule->what.data
                              + (dict.data - s->data);
            rule->dict.len = dict.len;
        }

        rule->kinds[rule->nkinds++] = kind;
        rule->kind_bits |= 1u << kind;

        if (comma == NULL) {
            return YIBAO_OK;
        }

        p = comma + 1;
    }
}


/*
 * Resolves a target column: a path to a field of the object the rule's
 * path ends in (the same steps, another last key).  *key receives that
 * last key.
 */

static int
yibao_rules_beside(const yibao_rule_t *rule, const yibao_str_t *s,
    const char **key, yibao_alloc_t *a, char *why, size_t size)
{
    int               rc;
    size_t            i, n;
    yibao_rule_seg_t  segs[YIBAO_RULES_MAX_SEGS];

    rc = yibao_rules_path(s, segs, &n, a, why, size);
    if (rc != YIBAO_OK) {
        return rc;
    }

    for (i = 0; n == rule->nsegs && i + 1 < n; i++) {
        if (segs[i].array != rule->segs[i].array
            || (segs[i].key == NULL) != (rule->segs[i].key == NULL)
            || (segs[i].key != NULL
                && strcmp(segs[i].key, rule->segs[i].key) != 0))
        {
            break;
        }
    }

    if (n != rule->nsegs || i + 1 != n || segs[n - 1].key == NULL
        || segs[n - 1].array)
    {
        snprintf(why, size, "is not a field beside the path's (same steps "
                 "up to the last field name, e.g. %s -> a.b[].other)",
                 (const char *) rule->path.data);
        return YIBAO_ERR_INVALID;
    }

    *key = segs[n - 1].key;

    return YIBAO_OK;
}


/*
 * Two rules collide when they would act on the same field of the same
 * infno in the same direction: two code rules, or the same check twice.
 */

static int
yibao_rules_same(const yibao_rule_t *a, const yibao_rule_t *b)
{
    return a->answer == b->answer
           && a->type == b->type
           && a->infno.len == b->infno.len
           && memcmp(a->infno.data, b->infno.data, a->infno.len) == 0
           && a->path.len == b->path.len
           && memcmp(a->path.data, b->path.data, a->path.len) == 0;
}


static const char *
yibao_rules_class(const yibao_rule_t *rule)
{
    const yibao_rule_check_t  *c;

    if (rule->type == YIBAO_RULE_CODE) {
        return "code";
    }

    for (c = yibao_rule_checks; c->name != NULL; c++) {
        if (c->type == rule->type) {
            return c->name;
        }
    }

    return "?";
}


static char *
yibao_rules_copy(yibao_alloc_t *a, const unsigned char *p, size_t len)
{
    char  *s;

    s = yibao_alloc(a, len + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, len);
    s[len] = '\0';

    return s;
}


const yibao_rule_t *
yibao_rules_next(const yibao_rules_t *rules, const yibao_str_t *infno,
    unsigned answer, size_t *i)
{
    size_t           k, n;
    uint64_t         want, any;
    const uint64_t  *keys;

    want = yibao_rules_infno_key(infno, answer);
    any = answer;               /* the key of "*" */
    keys = rules->keys;
    n = rules->nrules;

    for (k = *i; k < n; k++) {
        if (keys[k] == want || keys[k] == any) {
            *i = k + 1;
            return &rules->rules[k];
        }
    }

    *i = n;

    return NULL;
}


/*
 * An infno and a direction in one integer, so that finding the rules of
 * a request is a comparison per rule: bit 0 the direction, bits 1..3 the
 * length, then the bytes.  "*" (length 0) is the direction alone.  A
 * rule's infno has at most 5 bytes; a longer one matches none but "*".
 */

static uint64_t
yibao_rules_infno_key(const yibao_str_t *infno, unsigned answer)
{
    size_t    i;
    uint64_t  key;

    if (infno->len > 7) {
        return UINT64_MAX;
    }

    key = (uint64_t) (answer & 1) | (uint64_t) infno->len << 1;

    for (i = 0; i < infno->len; i++) {
        key |= (uint64_t) infno->data[i] << (8 * (i + 1));
    }

    return key;
}
