/*
 * Copyright (C) yibao-gateway authors
 */


#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "yibao_translate.h"
#include "yibao_json.h"
#include "yibao_codes.h"
#include "yibao_gwerr.h"
#include "yibao_tsv.h"
#include "yibao_fields.h"


#define YIBAO_RULES_FIELDS        7     /* one more than allowed */
#define YIBAO_RULES_MAX_SEGS      8
#define YIBAO_RULES_MAX_KEY       64

#define YIBAO_TRANSLATE_ECHO      40    /* characters of a value shown */
#define YIBAO_TRANSLATE_ECHO_LEN  (YIBAO_TRANSLATE_ECHO * 4 + 8)
#define YIBAO_TRANSLATE_PATH_LEN  512
#define YIBAO_TRANSLATE_NO_INDEX  ((size_t) -1)
#define YIBAO_TRANSLATE_DEC_MAX   18    /* digits an int64_t always holds */
#define YIBAO_TRANSLATE_MEMO      64    /* longest code remembered */


typedef enum {
    YIBAO_RULE_CODE = 0,
    YIBAO_RULE_NUMBER,
    YIBAO_RULE_ID_NUMBER,
    YIBAO_RULE_FEE_AMOUNT,
    YIBAO_RULE_FEEDETL_SN
} yibao_rule_type_e;


/* One step of a path: a key, or the root itself (key NULL). */

typedef struct {
    const char           *key;
    unsigned              array:1;
} yibao_rule_seg_t;


typedef struct {
    yibao_str_t           infno;        /* len 0: "*" */
    yibao_str_t           path;         /* as written, NUL-terminated */
    yibao_str_t           what;         /* as written, NUL-terminated */
    yibao_str_t           dict;         /* YIBAO_KIND_DICT: its name */
    const char           *target;       /* key beside path, NULL: none */
    const char           *name_target;  /* key beside path, NULL: none */
    size_t                nsegs;
    size_t                nkinds;
    size_t                line;
    unsigned              kind_bits;    /* (1 << kind) of every kind */
    yibao_rule_type_e     type;
    unsigned              answer:1;
    unsigned              object:1;     /* the path names an object */
    yibao_kind_e          kinds[YIBAO_KIND_MAX];
    yibao_rule_seg_t      segs[YIBAO_RULES_MAX_SEGS];
} yibao_rule_t;


struct yibao_rules_s {
    yibao_rule_t         *rules;
    size_t                nrules;
};


typedef struct {
    const char           *name;
    yibao_rule_type_e     type;
    unsigned              object:1;
} yibao_rule_check_t;


typedef struct yibao_problem_s  yibao_problem_t;

struct yibao_problem_s {
    yibao_problem_t      *next;
    size_t                len;
    char                 *text;
};


typedef struct {
    const yibao_map_t             *map;
    const yibao_map_scope_t       *scope;
    yibao_alloc_t                 *alloc;
    yibao_problem_t               *first;
    yibao_problem_t              **last;
    size_t                         list_len;
    size_t                         translated;
    size_t                         unmapped;
    size_t                         failed;
    size_t                         changed;
    unsigned                       passthrough;
    int                            gwerr;
    unsigned                       feedetl_sn:1;
    unsigned                       answer:1;
    size_t                         idx[YIBAO_RULES_MAX_SEGS];

    /*
     * The last code a rule looked up and what was found: the lines of
     * a fee upload repeat their doctor and department
     */
    size_t                         memo_len;    /* 0: none */
    unsigned                       memo_found:1;
    yibao_map_hit_t                memo_hit;
    unsigned char                  memo_code[YIBAO_TRANSLATE_MEMO];
} yibao_translate_ctx_t;


/* A decimal: m / 10^scale when exact, else only d; v for messages. */

typedef struct {
    int64_t               m;
    int                   scale;
    unsigned              exact:1;
    long double           d;
    json_t               *v;
} yibao_translate_dec_t;


typedef struct {
    const char           *type_key;
    const char           *no_key;
    const char           *values[3];
} yibao_translate_cert_t;


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
static int yibao_rules_match(const yibao_rule_t *rule,
    const yibao_str_t *infno, unsigned answer);

static int yibao_translate_walk(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *node, size_t depth);
static int yibao_translate_visit(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_code(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_reverse(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_number(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_feedetl_sn(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *v);
static int yibao_translate_id_number(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj);
static int yibao_translate_fee_amount(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj);
static int yibao_translate_set(json_t *obj, const char *key, json_t *cur,
    const yibao_str_t *s, int ascii);
static int yibao_translate_is_empty(json_t *v);
static int yibao_translate_is_national(const yibao_rule_t *rule,
    json_t *v);
static int yibao_translate_numeric(const unsigned char *p, size_t len,
    int *real);
static int yibao_translate_dec(json_t *v, yibao_translate_dec_t *dec);
static void yibao_translate_dec_text(const char *p,
    yibao_translate_dec_t *dec);
static const char *yibao_translate_dec_echo(char *buf,
    const yibao_translate_dec_t *dec);
static void yibao_translate_real(double d, char *buf, size_t size);
static int yibao_translate_fee_ok(const yibao_translate_dec_t *sum,
    const yibao_translate_dec_t *cnt, const yibao_translate_dec_t *pric);
static int yibao_translate_scale(int64_t *m, int from, int to);
static int yibao_translate_problem(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, int gwerr, const char *leaf, const char *fmt,
    ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 5, 6)))
#endif
    ;
static size_t yibao_translate_path(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, const char *leaf, char *buf, size_t size);
static const char *yibao_translate_echo(char *buf, json_t *v);
static const char *yibao_translate_mask(char *buf, json_t *v);
static int yibao_translate_list(yibao_translate_ctx_t *ctx,
    yibao_translate_result_t *res);


static const yibao_rule_check_t  yibao_rule_checks[] = {
    { "number", YIBAO_RULE_NUMBER, 0 },
    { "id_number", YIBAO_RULE_ID_NUMBER, 1 },
    { "fee_amount", YIBAO_RULE_FEE_AMOUNT, 1 },
    { "feedetl_sn", YIBAO_RULE_FEEDETL_SN, 0 },
    { NULL, 0, 0 }
};


/*
 * The certificate pairs of check:id_number: when the type field of the
 * object has one of the values, the number field must be an 18-digit
 * resident ID number (research/insurance-interface.md sections 3.2,
 * 5.2 and 6).
 */

static const yibao_translate_cert_t  yibao_translate_certs[] = {
    { "mdtrt_cert_type", "mdtrt_cert_no", { "02", NULL, NULL } },
    { "psn_cert_type", "certno", { "01", "1", NULL } },
    { NULL, NULL, { NULL, NULL, NULL } }
};


static const int64_t  yibao_translate_pow10[] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL,
    100000000LL, 1000000000LL, 10000000000LL, 100000000000LL,
    1000000000000LL, 10000000000000LL, 100000000000000LL,
    1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL
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
    if (rules->rules == NULL) {
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


static int
yibao_rules_match(const yibao_rule_t *rule, const yibao_str_t *infno,
    unsigned answer)
{
    if (rule->answer != answer) {
        return 0;
    }

    return rule->infno.len == 0
           || (rule->infno.len == infno->len
               && memcmp(rule->infno.data, infno->data, infno->len) == 0);
}


int
yibao_translate_request(yibao_envelope_t *env, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    const yibao_translate_opts_t *opts, yibao_alloc_t *a,
    yibao_translate_result_t *res, yibao_err_t *err)
{
    int                     rc;
    size_t                  i, pass;
    json_t                 *input;
    const yibao_rule_t     *rule;
    yibao_translate_ctx_t   ctx;

    memset(res, 0, sizeof(yibao_translate_result_t));
    memset(&ctx, 0, sizeof(yibao_translate_ctx_t));

    ctx.map = map;
    ctx.scope = scope;
    ctx.alloc = a;
    ctx.last = &ctx.first;

    if (opts != NULL) {
        ctx.passthrough = opts->passthrough;
        ctx.feedetl_sn = opts->feedetl_sn_digits;
    }

    input = json_object_get(env->doc, "input");

    if (rules == NULL || !json_is_object(input)) {
        return YIBAO_OK;
    }

    /* codes and numbers first, so that the checks see the results */

    for (pass = 0; pass < 2; pass++) {

        for (i = 0; i < rules->nrules; i++) {
            rule = &rules->rules[i];

            if (!yibao_rules_match(rule, &env->infno, 0)
                || (pass == 0) != (rule->type == YIBAO_RULE_CODE
                                   || rule->type == YIBAO_RULE_NUMBER)
                || (rule->type == YIBAO_RULE_FEEDETL_SN && !ctx.feedetl_sn))
            {
                continue;
            }

            ctx.memo_len = 0;

            rc = yibao_translate_walk(&ctx, rule, input, 0);
            if (rc != YIBAO_OK) {
                goto failed;
            }
        }
    }

    res->translated = ctx.translated;
    res->problems = ctx.unmapped + ctx.failed;

    if (res->problems == 0) {
        return YIBAO_OK;
    }

    rc = yibao_translate_list(&ctx, res);
    if (rc != YIBAO_OK) {
        goto failed;
    }

    if (ctx.unmapped && ctx.failed) {
        yibao_err_set(err, YIBAO_GWERR_UNMAPPED,
                      "%zu code%s no national mapping and %zu check%s "
                      "failed", ctx.unmapped,
                      ctx.unmapped == 1 ? " has" : "s have", ctx.failed,
                      ctx.failed == 1 ? "" : "s");

    } else if (ctx.unmapped) {
        yibao_err_set(err, YIBAO_GWERR_UNMAPPED,
                      "%zu code%s no national mapping", ctx.unmapped,
                      ctx.unmapped == 1 ? " has" : "s have");

    } else {
        yibao_err_set(err, ctx.gwerr, "%zu check%s failed", ctx.failed,
                      ctx.failed == 1 ? "" : "s");
    }

    if (err != NULL) {
        err->line = 0;
    }

    return YIBAO_ERR_INVALID;

failed:

    res->list.len = 0;
    res->list.data = NULL;
    yibao_err_set(err, YIBAO_GWERR_INTERNAL,
                  "out of memory while translating codes");

    return rc;
}


int
yibao_translate_answer(const unsigned char *data, size_t len,
    const yibao_str_t *infno, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    yibao_alloc_t *a, yibao_str_t *out)
{
    int            rc;
    json_t        *doc;
    json_error_t   jerr;

    out->data = data;
    out->len = len;

    if (!yibao_translate_answer_rules(infno, rules, map)) {
        return YIBAO_OK;
    }

    doc = yibao_json_load((const char *) data, len, 0, &jerr);
    if (doc == NULL) {
        return json_error_code(&jerr) == json_error_out_of_memory
               ? YIBAO_ERR_NOMEM : YIBAO_ERR_SYNTAX;
    }

    rc = yibao_translate_answer_doc(doc, data, len, infno, rules, map,
                                    scope, a, out);

    json_decref(doc);

    return rc;
}


int
yibao_translate_answer_rules(const yibao_str_t *infno,
    const yibao_rules_t *rules, const yibao_map_t *map)
{
    size_t  i;

    if (rules == NULL || map == NULL) {
        return 0;
    }

    for (i = 0; i < rules->nrules; i++) {
        if (yibao_rules_match(&rules->rules[i], infno, 1)) {
            return 1;
        }
    }

    return 0;
}


int
yibao_translate_answer_doc(void *parsed, const unsigned char *data,
    size_t len, const yibao_str_t *infno, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    yibao_alloc_t *a, yibao_str_t *out)
{
    int                     rc;
    size_t                  i;
    json_t                 *doc, *output;
    yibao_str_t             s;
    yibao_translate_ctx_t   ctx;

    out->data = data;
    out->len = len;

    if (!yibao_translate_answer_rules(infno, rules, map)) {
        return YIBAO_OK;
    }

    doc = parsed;

    if (doc == NULL) {
        return YIBAO_ERR_SYNTAX;
    }

    memset(&ctx, 0, sizeof(yibao_translate_ctx_t));

    ctx.map = map;
    ctx.scope = scope;
    ctx.alloc = a;
    ctx.last = &ctx.first;
    ctx.answer = 1;

    rc = YIBAO_OK;
    output = json_object_get(doc, "output");

    if (json_is_object(output) || json_is_array(output)) {

        for (i = 0; i < rules->nrules; i++) {
            if (!yibao_rules_match(&rules->rules[i], infno, 1)) {
                continue;
            }

            rc = yibao_translate_walk(&ctx, &rules->rules[i], output, 0);
            if (rc != YIBAO_OK) {
                break;
            }
        }
    }

    if (rc == YIBAO_OK && ctx.changed) {
        rc = yibao_json_serialize(doc, a, &s);

        if (rc == YIBAO_OK) {
            *out = s;
        }
    }

    return rc;
}


/*
 * Follows rule->segs from depth over node, visiting every field or
 * object the path reaches; ctx->idx[depth] holds the index of each
 * array element on the way (YIBAO_TRANSLATE_NO_INDEX where a single
 * object stands for an array, section 1.3: "single row = object").
 * What is absent or has another type on the way is skipped: the
 * national shape is the platform's to check.
 */

static int
yibao_translate_walk(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *node, size_t depth)
{
    int                      rc;
    size_t                   i, last;
    json_t                  *child, *elem;
    const yibao_rule_seg_t  *seg;

    seg = &rule->segs[depth];
    last = (depth + 1 == rule->nsegs);

    if (seg->key != NULL) {
        if (!json_is_object(node)) {
            return YIBAO_OK;
        }

        child = json_object_get(node, seg->key);

        if (!seg->array) {
            ctx->idx[depth] = YIBAO_TRANSLATE_NO_INDEX;

            if (last) {
                return rule->object
                       ? (json_is_object(child)
                          ? yibao_translate_visit(ctx, rule, child, NULL)
                          : YIBAO_OK)
                       : yibao_translate_visit(ctx, rule, node, child);
            }

            if (child == NULL) {
                return YIBAO_OK;
            }

            return yibao_translate_walk(ctx, rule, child, depth + 1);
        }

    } else {
        child = node;
    }

    if (json_is_object(child)) {
        ctx->idx[depth] = YIBAO_TRANSLATE_NO_INDEX;

        return last ? yibao_translate_visit(ctx, rule, child, NULL)
                    : yibao_translate_walk(ctx, rule, child, depth + 1);
    }

    if (!json_is_array(child)) {
        return YIBAO_OK;
    }

    json_array_foreach(child, i, elem) {
        ctx->idx[depth] = i;

        if (last) {
            rc = json_is_object(elem)
                 ? yibao_translate_visit(ctx, rule, elem, NULL)
                 : YIBAO_OK;

        } else {
            rc = yibao_translate_walk(ctx, rule, elem, depth + 1);
        }

        if (rc != YIBAO_OK) {
            return rc;
        }
    }

    return YIBAO_OK;
}


/*
 * For a field rule: obj is the object holding the field, v its value
 * (NULL when absent).  For an object rule: obj is the object named.
 */

static int
yibao_translate_visit(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v)
{
    switch (rule->type) {

    case YIBAO_RULE_CODE:
        return ctx->answer ? yibao_translate_reverse(ctx, rule, obj, v)
                           : yibao_translate_code(ctx, rule, obj, v);

    case YIBAO_RULE_NUMBER:
        return yibao_translate_number(ctx, rule, obj, v);

    case YIBAO_RULE_FEEDETL_SN:
        return yibao_translate_feedetl_sn(ctx, rule, v);

    case YIBAO_RULE_ID_NUMBER:
        return yibao_translate_id_number(ctx, rule, obj);

    default:
        return yibao_translate_fee_amount(ctx, rule, obj);
    }
}


/*
 * A local code to a national one.  For the coding kinds a value with
 * the national shape of one of them is passed without a lookup; a
 * dictionary value is looked up first, since any short code has a
 * dictionary's shape.  A miss is not a problem when the target already
 * holds a national code (the caller mapped it) or passthrough is on
 * for one of the rule's kinds.
 */

static int
yibao_translate_code(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v)
{
    int                   rc, found;
    char                  echo[YIBAO_TRANSLATE_ECHO_LEN];
    size_t                i, len;
    json_t               *tv;
    yibao_str_t           s;
    yibao_map_hit_t       hit;
    const unsigned char  *p;

    if (v == NULL || json_is_null(v)) {
        return YIBAO_OK;
    }

    if (!json_is_string(v)) {
        ctx->failed++;

        return yibao_translate_problem(ctx, rule, YIBAO_GWERR_CODE_INVALID,
                                       NULL, "=%s (%s: not a string)",
                                       yibao_translate_echo(echo, v),
                                       (const char *) rule->what.data);
    }

    p = (const unsigned char *) json_string_value(v);
    len = json_string_length(v);

    if (len == 0) {
        return YIBAO_OK;
    }

    if (rule->kinds[0] != YIBAO_KIND_DICT
        && yibao_translate_is_national(rule, v))
    {
        goto national;
    }

    if (ctx->memo_len == len && memcmp(ctx->memo_code, p, len) == 0) {
        found = ctx->memo_found;
        hit = ctx->memo_hit;

    } else {
        found = 0;

        for (i = 0; ctx->map != NULL && i < rule->nkinds; i++) {
            if (yibao_map_lookup(ctx->map, rule->kinds[i], &rule->dict,
                                 ctx->scope, p, len, &hit))
            {
                found = 1;
                break;
            }
        }

        if (len <= YIBAO_TRANSLATE_MEMO) {
            memcpy(ctx->memo_code, p, len);
            ctx->memo_len = len;
            ctx->memo_found = found;

            if (found) {
                ctx->memo_hit = hit;
            }
        }
    }

    if (found) {
        ctx->translated++;

        if (rule->name_target != NULL && hit.name.len != 0) {
            rc = yibao_translate_set(obj, rule->name_target, NULL,
                                     &hit.name, 0);
            if (rc != YIBAO_OK) {
                return rc;
            }
        }

        /* national codes are ASCII (yibao_kind_is_national) */

        if (rule->target != NULL) {
            return yibao_translate_set(obj, rule->target, NULL,
                                       &hit.national, 1);
        }

        return yibao_translate_set(obj, NULL, v, &hit.national, 1);
    }

    if (rule->kinds[0] == YIBAO_KIND_DICT
        && yibao_translate_is_national(rule, v))
    {
        goto national;
    }

    if (rule->target != NULL) {
        tv = json_object_get(obj, rule->target);

        if (json_is_string(tv) && yibao_translate_is_national(rule, tv)) {
            return YIBAO_OK;
        }
    }

    if (ctx->passthrough & rule->kind_bits) {
        return YIBAO_OK;
    }

    ctx->unmapped++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_UNMAPPED, NULL,
                                   "=%s (%s)", yibao_translate_echo(echo, v),
                                   (const char *) rule->what.data);

national:

    if (rule->target == NULL) {
        return YIBAO_OK;
    }

    tv = json_object_get(obj, rule->target);

    if (!yibao_translate_is_empty(tv)) {
        return YIBAO_OK;
    }

    s.data = p;
    s.len = len;

    return yibao_translate_set(obj, rule->target, tv, &s, 1);
}


/*
 * A national code back to the caller's local one.  In place the value
 * is replaced; a target is filled only when it is absent or empty (the
 * platform usually echoes what the caller sent, and one national code
 * may stand for several local ones).
 */

static int
yibao_translate_reverse(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v)
{
    size_t           i;
    json_t          *tv;
    yibao_map_hit_t  hit;

    if (!json_is_string(v) || json_string_length(v) == 0) {
        return YIBAO_OK;
    }

    tv = NULL;

    if (rule->target != NULL) {
        tv = json_object_get(obj, rule->target);

        if (!yibao_translate_is_empty(tv)) {
            return YIBAO_OK;
        }
    }

    for (i = 0; i < rule->nkinds; i++) {
        if (!yibao_map_reverse(ctx->map, rule->kinds[i], &rule->dict,
                               ctx->scope,
                               (const unsigned char *) json_string_value(v),
                               json_string_length(v), &hit))
        {
            continue;
        }

        if (rule->target == NULL
            && hit.local.len == json_string_length(v)
            && memcmp(hit.local.data, json_string_value(v), hit.local.len)
               == 0)
        {
            return YIBAO_OK;
        }

        ctx->changed++;

        return rule->target != NULL
               ? yibao_translate_set(obj, rule->target, tv, &hit.local, 0)
               : yibao_translate_set(obj, NULL, v, &hit.local, 0);
    }

    return YIBAO_OK;
}


/*
 * National rule 1.3: an empty numeric value is sent as 0.  null and ""
 * become 0, a string holding a decimal number becomes that number,
 * anything else but a number is a problem.
 */

static int
yibao_translate_number(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v)
{
    int                   real;
    char                  echo[YIBAO_TRANSLATE_ECHO_LEN];
    char                 *end;
    double                d;
    size_t                len;
    json_t               *n;
    long long             ll;
    const char           *p;

    if (v == NULL || json_is_number(v)) {
        return YIBAO_OK;
    }

    if (json_is_null(v)
        || (json_is_string(v) && json_string_length(v) == 0))
    {
        n = json_integer(0);
        goto set;
    }

    if (json_is_string(v)) {
        p = json_string_value(v);
        len = json_string_length(v);

        if (yibao_translate_numeric((const unsigned char *) p, len, &real)) {

            if (!real) {
                errno = 0;
                ll = strtoll(p, &end, 10);

                if (errno == 0) {
                    n = json_integer(ll);
                    goto set;
                }
            }

            d = strtod(p, &end);

            if (d - d == 0) {
                n = json_real(d);
                goto set;
            }
        }
    }

    ctx->failed++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_CODE_INVALID, NULL,
                                   "=%s (not a number)",
                                   yibao_translate_echo(echo, v));

set:

    if (n == NULL || json_object_set_new(obj, rule->segs[rule->nsegs - 1].key,
                                         n)
                     != 0)
    {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* HN V1.2: feedetl_sn is digits only, not 0, at most 15 digits. */

static int
yibao_translate_feedetl_sn(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *v)
{
    char                  echo[YIBAO_TRANSLATE_ECHO_LEN];
    size_t                i, len;
    json_int_t            n;
    const char           *why;
    const unsigned char  *p;

    if (yibao_translate_is_empty(v)) {
        return YIBAO_OK;
    }

    why = NULL;

    if (json_is_integer(v)) {
        n = json_integer_value(v);

        if (n <= 0) {
            why = "not a positive number";

        } else if (n > 999999999999999LL) {
            why = "more than 15 digits";
        }

    } else if (json_is_string(v)) {
        p = (const unsigned char *) json_string_value(v);
        len = json_string_length(v);

        if (!yibao_code_is_digits(p, len)) {
            why = "not digits only";

        } else if (len > 15) {
            why = "more than 15 digits";

        } else {
            for (i = 0; i < len && p[i] == '0'; i++) {
                /* void */
            }

            if (i == len) {
                why = "0 is not allowed";
            }
        }

    } else {
        why = "not a string of digits";
    }

    if (why == NULL) {
        return YIBAO_OK;
    }

    ctx->failed++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_FEEDETL_SN, NULL,
                                   "=%s (feedetl_sn: %s; 1 to 15 digits, "
                                   "not 0)", yibao_translate_echo(echo, v),
                                   why);
}


static int
yibao_translate_id_number(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj)
{
    int                            rc;
    char                           echo[YIBAO_TRANSLATE_ECHO_LEN];
    size_t                         i;
    json_t                        *t, *n;
    const char                    *type;
    const yibao_translate_cert_t  *c;

    for (c = yibao_translate_certs; c->type_key != NULL; c++) {
        t = json_object_get(obj, c->type_key);

        if (!json_is_string(t)) {
            continue;
        }

        type = json_string_value(t);

        for (i = 0; c->values[i] != NULL; i++) {
            if (strcmp(type, c->values[i]) == 0) {
                break;
            }
        }

        if (c->values[i] == NULL) {
            continue;
        }

        n = json_object_get(obj, c->no_key);

        if (yibao_translate_is_empty(n)
            || (json_is_string(n)
                && yibao_code_is_id_number(
                       (const unsigned char *) json_string_value(n),
                       json_string_length(n))))
        {
            continue;
        }

        ctx->failed++;

        rc = yibao_translate_problem(ctx, rule, YIBAO_GWERR_ID_NUMBER,
                                     c->no_key,
                                     "=%s (%s %s: not an 18-digit ID "
                                     "number with a valid check "
                                     "character)",
                                     yibao_translate_mask(echo, n),
                                     c->type_key, type);
        if (rc != YIBAO_OK) {
            return rc;
        }
    }

    return YIBAO_OK;
}


/*
 * det_item_fee_sumamt must differ from cnt x pric by less than 0.01,
 * computed exactly in decimal (25.21 against 2 x 12.60 fails).  Absent,
 * null and "" count as 0; a row with a value that is not a number is
 * left to check:number.
 */

static int
yibao_translate_fee_amount(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj)
{
    char                   echo[3][YIBAO_TRANSLATE_ECHO_LEN];
    yibao_translate_dec_t  sum, cnt, pric;

    if (yibao_translate_dec(json_object_get(obj, "det_item_fee_sumamt"),
                            &sum)
           != YIBAO_OK
        || yibao_translate_dec(json_object_get(obj, "cnt"), &cnt)
           != YIBAO_OK
        || yibao_translate_dec(json_object_get(obj, "pric"), &pric)
           != YIBAO_OK)
    {
        return YIBAO_OK;
    }

    if (yibao_translate_fee_ok(&sum, &cnt, &pric)) {
        return YIBAO_OK;
    }

    ctx->failed++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_FEE_AMOUNT,
                                   "det_item_fee_sumamt",
                                   "=%s (not cnt %s x pric %s within 0.01)",
                                   yibao_translate_dec_echo(echo[0], &sum),
                                   yibao_translate_dec_echo(echo[1], &cnt),
                                   yibao_translate_dec_echo(echo[2], &pric));
}


/*
 * Sets obj.key (or, with key NULL, the string cur itself) to s; cur,
 * when not NULL, is the present value of obj.key.  Nothing is written
 * when the value is already s.  ascii: s is known to be ASCII (a
 * national code, or a national-shaped value of the document), so
 * jansson need not validate it as UTF-8 again.
 */

static int
yibao_translate_set(json_t *obj, const char *key, json_t *cur,
    const yibao_str_t *s, int ascii)
{
    int      rc;
    json_t  *v;

    if (key != NULL && cur == NULL) {
        cur = json_object_get(obj, key);
    }

    if (json_is_string(cur)) {
        if (json_string_length(cur) == s->len
            && memcmp(json_string_value(cur), s->data, s->len) == 0)
        {
            return YIBAO_OK;
        }

        rc = ascii ? json_string_setn_nocheck(cur, (const char *) s->data,
                                              s->len)
                   : json_string_setn(cur, (const char *) s->data, s->len);

        return rc == 0 ? YIBAO_OK : YIBAO_ERR_NOMEM;
    }

    v = ascii ? json_stringn_nocheck((const char *) s->data, s->len)
              : json_stringn((const char *) s->data, s->len);

    if (v == NULL || json_object_set_new(obj, key, v) != 0) {
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


static int
yibao_translate_is_empty(json_t *v)
{
    return v == NULL || json_is_null(v)
           || (json_is_string(v) && json_string_length(v) == 0);
}


static int
yibao_translate_is_national(const yibao_rule_t *rule, json_t *v)
{
    size_t                i, len;
    const unsigned char  *p;

    p = (const unsigned char *) json_string_value(v);
    len = json_string_length(v);

    for (i = 0; i < rule->nkinds; i++) {
        if (yibao_kind_is_national(rule->kinds[i], p, len)) {
            return 1;
        }
    }

    return 0;
}


/*
 * 1 if p[0..len) is a decimal number: an optional '-', digits, an
 * optional fraction and exponent; *real says whether it has either.
 */

static int
yibao_translate_numeric(const unsigned char *p, size_t len, int *real)
{
    size_t  i, start;

    i = 0;
    *real = 0;

    if (i < len && p[i] == '-') {
        i++;
    }

    start = i;

    while (i < len && p[i] >= '0' && p[i] <= '9') {
        i++;
    }

    if (i == start) {
        return 0;
    }

    if (i < len && p[i] == '.') {
        start = ++i;
        *real = 1;

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        *real = 1;

        if (i < len && (p[i] == '+' || p[i] == '-')) {
            i++;
        }

        start = i;

        while (i < len && p[i] >= '0' && p[i] <= '9') {
            i++;
        }

        if (i == start) {
            return 0;
        }
    }

    return i == len;
}


/*
 * The decimal value of a number, a numeric string, or 0 for absent,
 * null and "".  A real is taken in the shortest decimal form that reads
 * back to the same double, i.e. as the caller wrote it (12.60 is 1260
 * / 10^2): m / 10^s rounds to d exactly when the division, correctly
 * rounded, gives d back.  YIBAO_ERR_INVALID for anything else.
 */

static int
yibao_translate_dec(json_t *v, yibao_translate_dec_t *dec)
{
    int          s, real;
    double       d, x;
    size_t       len;
    int64_t      m;
    const char  *p;

    dec->m = 0;
    dec->scale = 0;
    dec->exact = 1;
    dec->d = 0;
    dec->v = v;

    if (yibao_translate_is_empty(v)) {
        return YIBAO_OK;
    }

    if (json_is_integer(v)) {
        dec->m = json_integer_value(v);
        dec->d = (long double) dec->m;
        return YIBAO_OK;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);
        dec->d = d;

        for (s = 0; s <= 9; s++) {
            x = d * (double) yibao_translate_pow10[s];

            /* |x| < 2^53: m is exact in a double; NaN fails too */

            if (!(x > -9007199254740992.0 && x < 9007199254740992.0)) {
                break;
            }

            m = (int64_t) (x < 0 ? x - 0.5 : x + 0.5);

            if ((double) m / (double) yibao_translate_pow10[s] == d) {
                dec->m = m;
                dec->scale = s;
                return YIBAO_OK;
            }
        }

        dec->exact = 0;
        return YIBAO_OK;
    }

    if (!json_is_string(v)) {
        return YIBAO_ERR_INVALID;
    }

    p = json_string_value(v);
    len = json_string_length(v);

    if (!yibao_translate_numeric((const unsigned char *) p, len, &real)) {
        return YIBAO_ERR_INVALID;
    }

    yibao_translate_dec_text(p, dec);

    return YIBAO_OK;
}


/* the decimal of a string checked by yibao_translate_numeric() */

static void
yibao_translate_dec_text(const char *text, yibao_translate_dec_t *dec)
{
    int          frac, exp, eneg, digits;
    const char  *p;

    dec->d = strtold(text, NULL);

    p = text;
    digits = 0;
    frac = 0;

    if (*p == '-') {
        p++;
    }

    for ( /* void */ ; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            frac = 1;
            continue;
        }

        if ((dec->m != 0 || *p != '0')
            && ++digits > YIBAO_TRANSLATE_DEC_MAX)
        {
            dec->exact = 0;
            return;
        }

        dec->m = dec->m * 10 + (*p - '0');
        dec->scale += frac;
    }

    if (*p == 'e' || *p == 'E') {
        p++;
        eneg = (*p == '-');

        if (*p == '-' || *p == '+') {
            p++;
        }

        for (exp = 0; *p >= '0' && *p <= '9' && exp < 1000; p++) {
            exp = exp * 10 + (*p - '0');
        }

        dec->scale += eneg ? exp : -exp;
    }

    if (dec->scale < 0) {
        if (yibao_translate_scale(&dec->m, 0, -dec->scale) != YIBAO_OK) {
            dec->exact = 0;
            return;
        }

        dec->scale = 0;
    }

    if (dec->scale > YIBAO_TRANSLATE_DEC_MAX) {
        dec->exact = 0;
        return;
    }

    if (text[0] == '-') {
        dec->m = -dec->m;
    }
}


static const char *
yibao_translate_dec_echo(char *buf, const yibao_translate_dec_t *dec)
{
    if (yibao_translate_is_empty(dec->v)) {
        return "0";
    }

    return yibao_translate_echo(buf, dec->v);
}


/* the shortest of %.15g, %.16g, %.17g that reads back to d */

static void
yibao_translate_real(double d, char *buf, size_t size)
{
    int  prec;

    for (prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);

        if (strtod(buf, NULL) == d) {
            return;
        }
    }
}


static int
yibao_translate_fee_ok(const yibao_translate_dec_t *sum,
    const yibao_translate_dec_t *cnt, const yibao_translate_dec_t *pric)
{
    int          e, pscale;
    int64_t      s, prod, diff;
    long double  ld;

    if (!sum->exact || !cnt->exact || !pric->exact) {
        goto inexact;
    }

    if (__builtin_mul_overflow(cnt->m, pric->m, &prod)) {
        goto inexact;
    }

    pscale = cnt->scale + pric->scale;
    e = pscale > sum->scale ? pscale : sum->scale;
    s = sum->m;

    if (e > YIBAO_TRANSLATE_DEC_MAX
        || yibao_translate_scale(&s, sum->scale, e) != YIBAO_OK
        || yibao_translate_scale(&prod, pscale, e) != YIBAO_OK
        || __builtin_sub_overflow(s, prod, &diff)
        || diff == INT64_MIN)
    {
        goto inexact;
    }

    if (diff < 0) {
        diff = -diff;
    }

    if (e < 2) {
        return diff == 0;
    }

    return diff < yibao_translate_pow10[e - 2];

inexact:

    ld = sum->d - cnt->d * pric->d;

    if (ld < 0) {
        ld = -ld;
    }

    return ld < 0.01L;
}


/* m / 10^from to m' / 10^to with to >= from, checking for overflow. */

static int
yibao_translate_scale(int64_t *m, int from, int to)
{
    if (to - from > YIBAO_TRANSLATE_DEC_MAX
        || __builtin_mul_overflow(*m, yibao_translate_pow10[to - from], m))
    {
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


/*
 * Records a problem: the concrete path of the rule (plus ".leaf" when
 * leaf is not NULL) followed by the formatted text.  The first gwerr
 * of a failed check is kept for the error.
 */

static int
yibao_translate_problem(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    int gwerr, const char *leaf, const char *fmt, ...)
{
    int               n;
    char              buf[YIBAO_TRANSLATE_PATH_LEN + 256];
    size_t            len;
    va_list           args;
    yibao_problem_t  *pr;

    if (gwerr != YIBAO_GWERR_UNMAPPED && ctx->gwerr == 0) {
        ctx->gwerr = gwerr;
    }

    len = yibao_translate_path(ctx, rule, leaf, buf, YIBAO_TRANSLATE_PATH_LEN);

    va_start(args, fmt);
    n = vsnprintf(buf + len, sizeof(buf) - len, fmt, args);
    va_end(args);

    if (n < 0) {
        n = 0;
    }

    if ((size_t) n >= sizeof(buf) - len) {
        n = (int) (sizeof(buf) - len - 1);
    }

    len += (size_t) n;

    pr = yibao_alloc(ctx->alloc, sizeof(yibao_problem_t) + len + 1);
    if (pr == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    pr->text = (char *) (pr + 1);
    pr->len = len;
    memcpy(pr->text, buf, len + 1);

    pr->next = NULL;
    *ctx->last = pr;
    ctx->last = &pr->next;

    ctx->list_len += len + (ctx->list_len ? 2 : 0);

    return YIBAO_OK;
}


/* e.g. "feedetail[3].medins_list_codg", NUL-terminated; returns its len */

static size_t
yibao_translate_path(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    const char *leaf, char *buf, size_t size)
{
    int                      n;
    size_t                   i, len;
    const yibao_rule_seg_t  *seg;

    len = 0;
    buf[0] = '\0';

    for (i = 0; i <= rule->nsegs && len + 1 < size; i++) {

        if (i == rule->nsegs) {
            if (leaf == NULL) {
                break;
            }

            n = snprintf(buf + len, size - len, "%s%s", len ? "." : "",
                         leaf);

        } else {
            seg = &rule->segs[i];

            if (seg->array && ctx->idx[i] != YIBAO_TRANSLATE_NO_INDEX) {
                n = snprintf(buf + len, size - len, "%s%s[%zu]",
                             (len && seg->key != NULL) ? "." : "",
                             seg->key != NULL ? seg->key : "", ctx->idx[i]);

            } else {
                n = snprintf(buf + len, size - len, "%s%s",
                             (len && seg->key != NULL) ? "." : "",
                             seg->key != NULL ? seg->key : "");
            }
        }

        if (n < 0) {
            break;
        }

        len += (size_t) n < size - len ? (size_t) n : size - len - 1;
    }

    return len;
}


/*
 * A value for the list, as yibao_echo() shows a caller's value (at most
 * YIBAO_TRANSLATE_ECHO characters, ';' the list's separator replaced);
 * a number as its digits (an ID number sent as a number is masked as
 * well); other values as JSON type names.
 */

static const char *
yibao_translate_echo(char *buf, json_t *v)
{
    char  num[64];

    if (json_is_string(v)) {
        yibao_echo((const unsigned char *) json_string_value(v),
                   json_string_length(v), YIBAO_TRANSLATE_ECHO, buf,
                   YIBAO_TRANSLATE_ECHO_LEN);
        return buf;
    }

    if (json_is_number(v)) {
        if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));

        } else {
            yibao_translate_real(json_real_value(v), num, sizeof(num));
        }

        yibao_echo((const unsigned char *) num, strlen(num),
                   YIBAO_TRANSLATE_ECHO, buf, YIBAO_TRANSLATE_ECHO_LEN);
        return buf;
    }

    snprintf(buf, YIBAO_TRANSLATE_ECHO_LEN, "(%s)",
             json_is_object(v) ? "object"
             : json_is_array(v) ? "array"
             : json_is_boolean(v) ? "boolean" : "null");

    return buf;
}


/*
 * A personal number for the list: the first and last 4 characters of
 * a value of 9 or more ASCII letters and digits, the rest as '*'
 * (3701**********2017); anything shorter or else entirely as '*'.
 * Numbers are masked as their digits.
 */

static const char *
yibao_translate_mask(char *buf, json_t *v)
{
    size_t                i, len;
    const unsigned char  *p;

    if (json_is_string(v)) {
        p = (const unsigned char *) json_string_value(v);
        len = json_string_length(v);

    } else if (json_is_number(v)) {
        p = (const unsigned char *) yibao_translate_echo(buf, v);
        len = strlen(buf);

    } else {
        return yibao_translate_echo(buf, v);
    }

    if (len > YIBAO_TRANSLATE_ECHO) {
        len = YIBAO_TRANSLATE_ECHO;
    }

    for (i = 0; i < len; i++) {
        buf[i] = (len >= 9 && (i < 4 || i >= len - 4)
                  && ((p[i] >= '0' && p[i] <= '9')
                      || (p[i] >= 'A' && p[i] <= 'Z')
                      || (p[i] >= 'a' && p[i] <= 'z')))
                 ? (char) p[i] : '*';
    }

    buf[len] = '\0';

    return buf;
}


static int
yibao_translate_list(yibao_translate_ctx_t *ctx,
    yibao_translate_result_t *res)
{
    char             *p, *start;
    yibao_problem_t  *pr;

    start = yibao_alloc(ctx->alloc, ctx->list_len + 1);
    if (start == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    p = start;

    for (pr = ctx->first; pr != NULL; pr = pr->next) {
        if (p != start) {
            *p++ = ';';
            *p++ = ' ';
        }

        memcpy(p, pr->text, pr->len);
        p += pr->len;
    }

    *p = '\0';

    res->list.data = (const unsigned char *) start;
    res->list.len = (size_t) (p - start);

    return YIBAO_OK;
}
