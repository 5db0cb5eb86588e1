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
#include "yibao_decimal.h"
#include "yibao_gwerr.h"
#include "yibao_fields.h"


#define YIBAO_TRANSLATE_ECHO      40    /* characters of a value shown */
#define YIBAO_TRANSLATE_ECHO_LEN  (YIBAO_TRANSLATE_ECHO * 4 + 8)
#define YIBAO_TRANSLATE_PATH_LEN  512
#define YIBAO_TRANSLATE_NO_INDEX  ((size_t) -1)
#define YIBAO_TRANSLATE_MEMO      64    /* longest code remembered */


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


typedef struct {
    const char           *type_key;
    const char           *no_key;
    const char           *values[3];
} yibao_translate_cert_t;


static int yibao_translate_walk(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *node, size_t depth);
static int yibao_translate_visit(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_code(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v);
static int yibao_translate_invalid(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *v);
static int yibao_translate_lookup(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, const yibao_str_t *code, yibao_map_hit_t *hit);
static int yibao_translate_found(yibao_translate_ctx_t *ctx,
    const yibao_rule_t *rule, json_t *obj, json_t *v,
    const yibao_map_hit_t *hit);
static int yibao_translate_national(const yibao_rule_t *rule, json_t *obj,
    const yibao_str_t *code);
static int yibao_translate_miss(yibao_translate_ctx_t *ctx,
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
static int yibao_translate_dec(json_t *v, yibao_decimal_t *dec);
static const char *yibao_translate_dec_echo(char *buf, json_t *v);
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


/*
 * The certificate pairs of check:id_number: when the type field of the
 * object has one of the values, the number field must be an 18-digit
 * resident ID number (GB 11643-1999).
 */

static const yibao_translate_cert_t  yibao_translate_certs[] = {
    { "mdtrt_cert_type", "mdtrt_cert_no", { "02", NULL, NULL } },
    { "psn_cert_type", "certno", { "01", "1", NULL } },
    { NULL, NULL, { NULL, NULL, NULL } }
};


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

        i = 0;

        while ((rule = yibao_rules_next(rules, &env->infno, 0, &i))
               != NULL)
        {
            if ((pass == 0) != (rule->type == YIBAO_RULE_CODE
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

    i = 0;

    return yibao_rules_next(rules, infno, 1, &i) != NULL;
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
    const yibao_rule_t     *rule;
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

        i = 0;

        while ((rule = yibao_rules_next(rules, infno, 1, &i)) != NULL) {
            rc = yibao_translate_walk(&ctx, rule, output, 0);
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
    int              dict;
    yibao_str_t      code;
    yibao_map_hit_t  hit;

    if (v == NULL || json_is_null(v)) {
        return YIBAO_OK;
    }

    if (!json_is_string(v)) {
        return yibao_translate_invalid(ctx, rule, v);
    }

    code.data = (const unsigned char *) json_string_value(v);
    code.len = json_string_length(v);

    if (code.len == 0) {
        return YIBAO_OK;
    }

    dict = (rule->kinds[0] == YIBAO_KIND_DICT);

    if (dict || !yibao_translate_is_national(rule, v)) {

        if (yibao_translate_lookup(ctx, rule, &code, &hit)) {
            return yibao_translate_found(ctx, rule, obj, v, &hit);
        }

        if (!dict || !yibao_translate_is_national(rule, v)) {
            return yibao_translate_miss(ctx, rule, obj, v);
        }
    }

    return yibao_translate_national(rule, obj, &code);
}


/* a code that is not a string */

static int
yibao_translate_invalid(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *v)
{
    char  echo[YIBAO_TRANSLATE_ECHO_LEN];

    ctx->failed++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_CODE_INVALID, NULL,
                                   "=%s (%s: not a string)",
                                   yibao_translate_echo(echo, v),
                                   (const char *) rule->what.data);
}


/*
 * Looks a code up in the map, kind by kind: 1 and *hit when found.  The
 * last code looked up by the rule is remembered.
 */

static int
yibao_translate_lookup(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    const yibao_str_t *code, yibao_map_hit_t *hit)
{
    int                   found;
    size_t                i, len;
    const unsigned char  *p;

    p = code->data;
    len = code->len;

    if (ctx->memo_len == len && memcmp(ctx->memo_code, p, len) == 0) {
        *hit = ctx->memo_hit;
        return ctx->memo_found;
    }

    found = 0;

    for (i = 0; ctx->map != NULL && i < rule->nkinds; i++) {
        if (yibao_map_lookup(ctx->map, rule->kinds[i], &rule->dict,
                             ctx->scope, p, len, hit))
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
            ctx->memo_hit = *hit;
        }
    }

    return found;
}


/* a code found: its national code in place or in the target, the name */

static int
yibao_translate_found(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v, const yibao_map_hit_t *hit)
{
    int  rc;

    ctx->translated++;

    if (rule->name_target != NULL && hit->name.len != 0) {
        rc = yibao_translate_set(obj, rule->name_target, NULL, &hit->name,
                                 0);
        if (rc != YIBAO_OK) {
            return rc;
        }
    }

    /* national codes are ASCII (yibao_kind_is_national) */

    if (rule->target != NULL) {
        return yibao_translate_set(obj, rule->target, NULL, &hit->national,
                                   1);
    }

    return yibao_translate_set(obj, NULL, v, &hit->national, 1);
}


/* a national code as the caller sent it: copied to an empty target */

static int
yibao_translate_national(const yibao_rule_t *rule, json_t *obj,
    const yibao_str_t *code)
{
    json_t  *tv;

    if (rule->target == NULL) {
        return YIBAO_OK;
    }

    tv = json_object_get(obj, rule->target);

    if (!yibao_translate_is_empty(tv)) {
        return YIBAO_OK;
    }

    return yibao_translate_set(obj, rule->target, tv, code, 1);
}


/*
 * A code not found: no problem when the target already holds a national
 * code or the rule's kinds pass through, otherwise an unmapped code.
 */

static int
yibao_translate_miss(yibao_translate_ctx_t *ctx, const yibao_rule_t *rule,
    json_t *obj, json_t *v)
{
    char     echo[YIBAO_TRANSLATE_ECHO_LEN];
    json_t  *tv;

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

        if (yibao_decimal_is_number((const unsigned char *) p, len, &real)) {

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
    char             echo[3][YIBAO_TRANSLATE_ECHO_LEN];
    json_t          *sv, *cv, *pv;
    yibao_decimal_t  sum, cnt, pric;

    sv = json_object_get(obj, "det_item_fee_sumamt");
    cv = json_object_get(obj, "cnt");
    pv = json_object_get(obj, "pric");

    if (yibao_translate_dec(sv, &sum) != YIBAO_OK
        || yibao_translate_dec(cv, &cnt) != YIBAO_OK
        || yibao_translate_dec(pv, &pric) != YIBAO_OK)
    {
        return YIBAO_OK;
    }

    if (yibao_decimal_within_cent(&sum, &cnt, &pric)) {
        return YIBAO_OK;
    }

    ctx->failed++;

    return yibao_translate_problem(ctx, rule, YIBAO_GWERR_FEE_AMOUNT,
                                   "det_item_fee_sumamt",
                                   "=%s (not cnt %s x pric %s within 0.01)",
                                   yibao_translate_dec_echo(echo[0], sv),
                                   yibao_translate_dec_echo(echo[1], cv),
                                   yibao_translate_dec_echo(echo[2], pv));
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
 * The decimal of a number, a numeric string, or 0 for absent, null and
 * "" (yibao_decimal.h).  YIBAO_ERR_INVALID for anything else.
 */

static int
yibao_translate_dec(json_t *v, yibao_decimal_t *dec)
{
    if (yibao_translate_is_empty(v)) {
        yibao_decimal_int(dec, 0);
        return YIBAO_OK;
    }

    if (json_is_integer(v)) {
        yibao_decimal_int(dec, json_integer_value(v));
        return YIBAO_OK;
    }

    if (json_is_real(v)) {
        yibao_decimal_double(dec, json_real_value(v));
        return YIBAO_OK;
    }

    if (!json_is_string(v)) {
        return YIBAO_ERR_INVALID;
    }

    return yibao_decimal_text(dec, json_string_value(v),
                              json_string_length(v));
}


/* a value of a fee row for the list: absent, null and "" as "0" */

static const char *
yibao_translate_dec_echo(char *buf, json_t *v)
{
    if (yibao_translate_is_empty(v)) {
        return "0";
    }

    return yibao_translate_echo(buf, v);
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
            yibao_decimal_shortest(json_real_value(v), num, sizeof(num));
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
