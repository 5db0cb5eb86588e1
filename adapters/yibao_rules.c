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


struct yibao_rules_s {
    yibao_rule_t         *rules;        /* in the file's order */
    uint64_t             *keys;         /* of each rule: yibao_rules_key()
                                           of its infno and direction */
    size_t                nrules;
};


static int yibao_rules_line(const yibao_str_t *line, size_t lineno,
    yibao_rule_t *rule, yibao_alloc_t *a, yibao_err_t *err);
static int yibao_rules_path(const yibao_str_t *s, yibao_rule_seg_t *segs,
    size_t *nsegs, yibao_alloc_t *a, char *why, size_t size);
static int yibao_rules_what(const yibao_str_t *s, yibao_rule_t *rule,
    char *why, size_t size);
static int yibao_rules_beside(const yibao_rule_t *rule,
    const yibao_str_t *s, const char **key, yibao_alloc_t *a, char *why,
    size_t size);
static int yibao_rules_same(const yibao_rule_t *a, const yibao_rule_t *b);
static const char *yibao_rules_class(const yibao_rule_t *rule);
static char *yibao_rules_copy(yibao_alloc_t *a, const unsigned char *p,
    size_t len);
static uint64_t yibao_rules_key(const yibao_str_t *infno,
    unsigned answer);



static const yibao_rule_check_t  yibao_rule_checks[] = {
    { "number", YIBAO_RULE_NUMBER, 0 },
    { "id_number", YIBAO_RULE_ID_NUMBER, 1 },
    { "fee_amount", YIBAO_RULE_FEE_AMOUNT, 1 },
    { "feedetl_sn", YIBAO_RULE_FEEDETL_SN, 0 },
    { NULL, 0, 0 }
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

        rules->keys[rules->nrules] = yibao_rules_key(&rule->infno,
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
    char         why[160];
    char         quote[YIBAO_QUOTE_LEN];
    size_t       n;
    yibao_str_t  f[YIBAO_RULES_FIELDS];

    memset(rule, 0, sizeof(yibao_rule_t));
    rule->line = lineno;

    n = yibao_tsv_split(line, f, YIBAO_RULES_FIELDS);

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

    /* column 1: infno */

    if (f[0].len == 1 && f[0].data[0] == '*') {
        rule->infno.len = 0;
        rule->infno.data = (const unsigned char *) "";

    } else if (yibao_code_is_infno(f[0].data, f[0].len)) {
        rule->infno.data = (const unsigned char *)
                           yibao_rules_copy(a, f[0].data, f[0].len);
        if (rule->infno.data == NULL) {
            goto nomem;
        }

        rule->infno.len = f[0].len;

    } else {
        yibao_err_line(err, lineno,
                          "column 1 \"infno\": %s is not \"*\" or 4 digits "
                          "with an optional upper-case letter",
                          yibao_quote(quote, f[0].data, f[0].len));
        return YIBAO_ERR_INVALID;
    }

    /* column 2: direction */

    if (f[1].len == 7 && memcmp(f[1].data, "request", 7) == 0) {
        rule->answer = 0;

    } else if (f[1].len == 6 && memcmp(f[1].data, "answer", 6) == 0) {
        rule->answer = 1;

    } else {
        yibao_err_line(err, lineno,
                          "column 2 \"direction\": %s is not \"request\" "
                          "or \"answer\"",
                          yibao_quote(quote, f[1].data, f[1].len));
        return YIBAO_ERR_INVALID;
    }

    /* column 3: path */

    switch (yibao_rules_path(&f[2], rule->segs, &rule->nsegs, a, why,
                             sizeof(why)))
    {
    case YIBAO_OK:
        break;
    case YIBAO_ERR_NOMEM:
        goto nomem;
    default:
        yibao_err_line(err, lineno, "column 3 \"path\": %s %s",
                          yibao_quote(quote, f[2].data, f[2].len), why);
        return YIBAO_ERR_INVALID;
    }

    rule->path.data = (const unsigned char *)
                      yibao_rules_copy(a, f[2].data, f[2].len);
    rule->what.data = (const unsigned char *)
                      yibao_rules_copy(a, f[3].data, f[3].len);
    if (rule->path.data == NULL || rule->what.data == NULL) {
        goto nomem;
    }

    rule->path.len = f[2].len;
    rule->what.len = f[3].len;

    /* column 4: what */

    if (yibao_rules_what(&f[3], rule, why, sizeof(why)) != YIBAO_OK) {
        yibao_err_line(err, lineno, "column 4 \"what\": %s %s",
                          yibao_quote(quote, f[3].data, f[3].len), why);
        return YIBAO_ERR_INVALID;
    }

    if (rule->type != YIBAO_RULE_CODE && rule->answer) {
        yibao_err_line(err, lineno,
                          "column 4 \"what\": %s is a check: checks apply "
                          "to requests only",
                          yibao_quote(quote, f[3].data, f[3].len));
        return YIBAO_ERR_INVALID;
    }

    if (!rule->object
        && (rule->segs[rule->nsegs - 1].key == NULL
            || rule->segs[rule->nsegs - 1].array))
    {
        yibao_err_line(err, lineno,
                          "column 3 \"path\": %s must end with a field name "
                          "for %s, not with \"[]\"",
                          yibao_quote(quote, f[2].data, f[2].len),
                          yibao_rules_class(rule));
        return YIBAO_ERR_INVALID;
    }

    /* columns 5 and 6: target, name_target */

    if (n > 4 && !(f[4].len == 1 && f[4].data[0] == '-')) {

        if (rule->type != YIBAO_RULE_CODE) {
            yibao_err_line(err, lineno,
                              "column 5 \"target\": %s given for %s, which "
                              "has no target (use \"-\" or nothing)",
                              yibao_quote(quote, f[4].data, f[4].len),
                              yibao_rules_class(rule));
            return YIBAO_ERR_INVALID;
        }

        switch (yibao_rules_beside(rule, &f[4], &rule->target, a, why,
                                   sizeof(why)))
        {
        case YIBAO_OK:
            break;
        case YIBAO_ERR_NOMEM:
            goto nomem;
        default:
            yibao_err_line(err, lineno, "column 5 \"target\": %s %s",
                              yibao_quote(quote, f[4].data, f[4].len), why);
            return YIBAO_ERR_INVALID;
        }

        if (strcmp(rule->target, rule->segs[rule->nsegs - 1].key) == 0) {
            rule->target = NULL;
        }
    }

    if (n > 5 && !(f[5].len == 1 && f[5].data[0] == '-')) {

        if (rule->type != YIBAO_RULE_CODE || rule->answer) {
            yibao_err_line(err, lineno,
                              "column 6 \"name_target\": %s given for %s, "
                              "only request code rules fill names",
                              yibao_quote(quote, f[5].data, f[5].len),
                              rule->answer ? "an answer rule"
                                           : yibao_rules_class(rule));
            return YIBAO_ERR_INVALID;
        }

        switch (yibao_rules_beside(rule, &f[5], &rule->name_target, a, why,
                                   sizeof(why)))
        {
        case YIBAO_OK:
            break;
        case YIBAO_ERR_NOMEM:
            goto nomem;
        default:
            yibao_err_line(err, lineno,
                              "column 6 \"name_target\": %s %s",
                              yibao_quote(quote, f[5].data, f[5].len), why);
            return YIBAO_ERR_INVALID;
        }

        if (strcmp(rule->name_target, rule->segs[rule->nsegs - 1].key) == 0
            || (rule->target != NULL
                && strcmp(rule->name_target, rule->target) == 0))
        {
            yibao_err_line(err, lineno,
                              "column 6 \"name_target\": %s is where the "
                              "code goes: the name needs a field of its "
                              "own", yibao_quote(quote, f[5].data, f[5].len));
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;

nomem:

    yibao_err_line(err, lineno, "out of memory");
    return YIBAO_ERR_NOMEM;
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
    size_t                n;
    const unsigned char  *p, *q, *end;

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
        q = p;

        while (p < end
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9') || *p == '_'))
        {
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
            snprintf(why, size, "has more than %d steps",
                     YIBAO_RULES_MAX_SEGS);
            return YIBAO_ERR_INVALID;
        }

        segs[n].key = yibao_rules_copy(a, q, p - q);
        if (segs[n].key == NULL) {
            return YIBAO_ERR_NOMEM;
        }

        segs[n].array = 0;

        if (end - p >= 2 && p[0] == '[' && p[1] == ']') {
            segs[n].array = 1;
            p += 2;
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

    want = yibao_rules_key(infno, answer);
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
yibao_rules_key(const yibao_str_t *infno, unsigned answer)
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
