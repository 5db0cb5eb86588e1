/*
 * Copyright (C) yibao-gateway authors
 */


#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yibao_audit.h"
#include "yibao_codes.h"
#include "yibao_hash.h"
#include "yibao_tsv.h"


/* scope types, the most specific first (as the mapping tables') */

enum {
    YIBAO_AUDIT_SCOPE_CLINIC = 0,
    YIBAO_AUDIT_SCOPE_ENTITY,
    YIBAO_AUDIT_SCOPE_ADMDVS6,
    YIBAO_AUDIT_SCOPE_ADMDVS4,
    YIBAO_AUDIT_SCOPE_ADMDVS2,
    YIBAO_AUDIT_SCOPE_GLOBAL
};


/* the numbers a rule's parameters set */

enum {
    YIBAO_AUDIT_N_MAX = 0,
    YIBAO_AUDIT_N_DAYS,
    YIBAO_AUDIT_N_EMERGENCY,
    YIBAO_AUDIT_N_CHRONIC,
    YIBAO_AUDIT_N_TOLERANCE,
    YIBAO_AUDIT_N_GEND,
    YIBAO_AUDIT_N_MIN_AGE,
    YIBAO_AUDIT_N_MAX_AGE,
    YIBAO_AUDIT_N_MAX_
};

#define YIBAO_AUDIT_UNSET  INT64_MIN
#define YIBAO_AUDIT_ONE    1000000


typedef struct {
    yibao_str_t           scope;      /* value, without its prefix */
    unsigned              type;
} yibao_audit_scope_t;


struct yibao_audit_rule_s {
    yibao_str_t           id;
    yibao_str_t           name;
    yibao_audit_kind_e    kind;
    yibao_audit_mode_e    mode;
    unsigned              sev;
    unsigned              ack;
    size_t                line;
    yibao_audit_scope_t   scope;
    int                   list;          /* list=, -1: none */
    int                   catalogue;     /* catalogue= */
    uint64_t              lists;         /* with= or lists= */
    uint64_t              integrated;    /* integrated= */
    yibao_str_t           types[2];      /* emergency/except, chronic */
    int64_t               n[YIBAO_AUDIT_N_MAX_];
};


typedef struct {
    yibao_str_t           code;
    yibao_audit_scope_t   scope;
    unsigned              list;
    int64_t               units;
    int64_t               dose;
    int64_t               freq;
    int64_t               cap;
    size_t                file;
    size_t                line;
} yibao_audit_entry_t;


typedef struct {
    const yibao_audit_entry_t  *first;
    size_t                      n;
} yibao_audit_group_t;


/* the rows of one rule id, the most specific scope found per clinic */

typedef struct {
    yibao_audit_rule_t  **rows;
    size_t                n;
} yibao_audit_id_t;


struct yibao_audit_s {
    yibao_alloc_t        *a;
    yibao_audit_rule_t   *rules;
    size_t                nrules;
    size_t                rules_read;
    yibao_audit_id_t     *ids;
    size_t                nids;
    yibao_audit_entry_t  *entries;
    size_t                nentries;
    size_t                size;
    yibao_str_t           files[256];
    size_t                nfiles;
    yibao_str_t           lists[YIBAO_AUDIT_MAX_LISTS];
    size_t                list_line[YIBAO_AUDIT_MAX_LISTS]; /* 1st rule */
    uint64_t              list_used;     /* named by a rule */
    uint64_t              list_has;      /* has entries */
    size_t                nlists;
    yibao_hash_t         *index;
};


/* what one fee line is, for this clinic */

typedef struct {
    const yibao_audit_group_t  *group;
    const yibao_audit_line_t   *doctor_line;  /* doctor's bits from */
    uint64_t                    bits;     /* lists that hold its code */
    uint64_t                    doctor;   /* lists that hold its doctor */
} yibao_audit_info_t;


typedef struct {
    const yibao_audit_t          *au;
    const yibao_audit_ctx_t      *ctx;
    const yibao_audit_line_t     *lines;
    size_t                        n;
    yibao_audit_info_t           *info;     /* earlier lines, then lines */
    yibao_alloc_t                *a;
    yibao_audit_result_t         *res;
} yibao_audit_run_t;


typedef int (*yibao_audit_check_pt)(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);


static int yibao_audit_rule_line(yibao_audit_t *au, const yibao_str_t *line,
    size_t lineno, yibao_audit_rule_t *r, yibao_err_t *err);
static int yibao_audit_rule_copy(yibao_audit_t *au, yibao_audit_rule_t *r,
    yibao_err_t *err);
static int yibao_audit_rule_dup(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *id, yibao_err_t *err);
static int yibao_audit_rule_check(yibao_audit_t *au,
    yibao_audit_rule_t *r, yibao_err_t *err);
static int yibao_audit_param(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *key, const yibao_str_t *v, yibao_err_t *err);
static int yibao_audit_params(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *v, yibao_err_t *err);
static int yibao_audit_list_bits(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *v, uint64_t *bits, yibao_err_t *err);
static int yibao_audit_list_id(yibao_audit_t *au, const yibao_str_t *name,
    size_t lineno);
static int yibao_audit_scope_parse(const yibao_str_t *v, size_t lineno,
    size_t column, yibao_audit_scope_t *s, yibao_err_t *err);
static int yibao_audit_entry_line(yibao_audit_t *au, const yibao_str_t *line,
    size_t lineno, yibao_audit_entry_t *e, yibao_err_t *err);
static int yibao_audit_attrs(const yibao_str_t *v, size_t lineno,
    yibao_audit_entry_t *e, yibao_err_t *err);
static int yibao_audit_entry_cmp(const void *one, const void *two);
static int yibao_audit_index(yibao_audit_t *au, yibao_err_t *err);
static int yibao_audit_group_ids(yibao_audit_t *au);
static int yibao_audit_name_ok(const yibao_str_t *v, size_t max, int lower);
static int yibao_audit_str_copy(yibao_alloc_t *a, yibao_str_t *dst,
    const yibao_str_t *src);
static int yibao_audit_int(const yibao_str_t *v, int64_t *n);
static int yibao_audit_eq(const yibao_str_t *s, const char *lit);
static int yibao_audit_in_scope(const yibao_audit_scope_t *s,
    const yibao_map_scope_t *scope);
static const yibao_audit_rule_t *yibao_audit_effective(
    const yibao_audit_id_t *id, const yibao_map_scope_t *scope);
static void yibao_audit_info(const yibao_audit_t *au,
    const yibao_map_scope_t *scope, const yibao_audit_line_t *l,
    yibao_audit_info_t *info, const yibao_audit_info_t *prev);
static const yibao_audit_entry_t *yibao_audit_catalogue(
    const yibao_audit_info_t *info, int list,
    const yibao_map_scope_t *scope);
static int yibao_audit_type_in(const yibao_str_t *types,
    const yibao_str_t *t);
static int yibao_audit_detail(yibao_audit_run_t *run,
    yibao_audit_finding_t *f, const yibao_audit_line_t *l, unsigned type,
    int64_t amt);
static int64_t yibao_audit_supply_x(const yibao_audit_entry_t *e,
    const yibao_audit_line_t *l);
static int yibao_audit_years(int32_t birth, int32_t today);
static int yibao_audit_acked(const yibao_audit_ctx_t *ctx,
    const yibao_str_t *id);
static int yibao_audit_json_fixed(json_t *v, int64_t *x);
static void yibao_audit_say(yibao_audit_finding_t *f,
    const yibao_audit_line_t *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 3, 4)))
#endif
    ;

static int yibao_audit_gp_fee(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_split_visit(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_supply_days(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_repeat_rx(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_price_cap(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_drug_list(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_person(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static int yibao_audit_doctor(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f);
static json_t *yibao_audit_finding_json(const yibao_audit_finding_t *f,
    const yibao_str_t *jr, size_t no);
static json_t *yibao_audit_amount(int64_t v);


static const char  *yibao_audit_modes[] = {
    "off", "shadow", "warn", "enforce"
};

static const char  *yibao_audit_kinds[] = {
    "gp_fee", "split_visit", "supply_days", "repeat_rx", "price_cap",
    "drug_list", "gender", "age", "doctor"
};

static const yibao_audit_check_pt  yibao_audit_checks[] = {
    yibao_audit_gp_fee, yibao_audit_split_visit, yibao_audit_supply_days,
    yibao_audit_repeat_rx, yibao_audit_price_cap, yibao_audit_drug_list,
    yibao_audit_person, yibao_audit_person, yibao_audit_doctor
};


#define K(k)  (1u << YIBAO_AUDIT_ ## k)

/* the parameters: key, the kinds that take it, what it sets */

enum {
    YIBAO_AUDIT_P_LIST = 0,
    YIBAO_AUDIT_P_LISTS,
    YIBAO_AUDIT_P_INTEGRATED,
    YIBAO_AUDIT_P_CATALOGUE,
    YIBAO_AUDIT_P_TYPES0,
    YIBAO_AUDIT_P_TYPES1,
    YIBAO_AUDIT_P_NUMBER,
    YIBAO_AUDIT_P_ACK
};

static const struct {
    const char           *key;
    unsigned              kinds;
    unsigned              what;
    unsigned              n;
} yibao_audit_params_table[] = {
    { "list", K(GP_FEE) | K(GENDER) | K(AGE) | K(DOCTOR),
      YIBAO_AUDIT_P_LIST, 0 },
    { "with", K(GP_FEE), YIBAO_AUDIT_P_LISTS, 0 },
    { "lists", K(DRUG_LIST), YIBAO_AUDIT_P_LISTS, 0 },
    { "integrated", K(DRUG_LIST), YIBAO_AUDIT_P_INTEGRATED, 0 },
    { "catalogue", K(SUPPLY_DAYS) | K(PRICE_CAP) | K(REPEAT_RX),
      YIBAO_AUDIT_P_CATALOGUE, 0 },
    { "emergency_types", K(SUPPLY_DAYS), YIBAO_AUDIT_P_TYPES0, 0 },
    { "except_types", K(DOCTOR), YIBAO_AUDIT_P_TYPES0, 0 },
    { "chronic_types", K(SUPPLY_DAYS), YIBAO_AUDIT_P_TYPES1, 0 },
    { "max", K(SPLIT_VISIT), YIBAO_AUDIT_P_NUMBER, YIBAO_AUDIT_N_MAX },
    { "days", K(SUPPLY_DAYS), YIBAO_AUDIT_P_NUMBER, YIBAO_AUDIT_N_DAYS },
    { "emergency", K(SUPPLY_DAYS), YIBAO_AUDIT_P_NUMBER,
      YIBAO_AUDIT_N_EMERGENCY },
    { "chronic", K(SUPPLY_DAYS), YIBAO_AUDIT_P_NUMBER,
      YIBAO_AUDIT_N_CHRONIC },
    { "tolerance", K(REPEAT_RX), YIBAO_AUDIT_P_NUMBER,
      YIBAO_AUDIT_N_TOLERANCE },
    { "gend", K(GENDER), YIBAO_AUDIT_P_NUMBER, YIBAO_AUDIT_N_GEND },
    { "min_age", K(AGE), YIBAO_AUDIT_P_NUMBER, YIBAO_AUDIT_N_MIN_AGE },
    { "max_age", K(AGE), YIBAO_AUDIT_P_NUMBER, YIBAO_AUDIT_N_MAX_AGE },
    { "ack", 0x1ff, YIBAO_AUDIT_P_ACK, 0 }
};

#undef K


yibao_audit_t *
yibao_audit_create(yibao_alloc_t *a)
{
    yibao_audit_t  *au;

    au = yibao_alloc(a, sizeof(yibao_audit_t));
    if (au == NULL) {
        return NULL;
    }

    memset(au, 0, sizeof(yibao_audit_t));
    au->a = a;

    return au;
}


int
yibao_audit_add_rules(yibao_audit_t *au, const unsigned char *data,
    size_t len, yibao_err_t *err)
{
    int           rc;
    size_t        max;
    yibao_tsv_t   tsv;
    yibao_str_t   line;

    if (au->rules_read) {
        yibao_err_line(err, 0, "the rules are already read");
        return YIBAO_ERR_INVALID;
    }

    au->rules_read = 1;
    max = yibao_tsv_max_lines(data, len);

    au->rules = yibao_alloc(au->a, (max ? max : 1)
                                   * sizeof(yibao_audit_rule_t));
    if (au->rules == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        rc = yibao_audit_rule_line(au, &line, tsv.line,
                                   &au->rules[au->nrules], err);
        if (rc != YIBAO_OK) {
            return rc;
        }

        au->nrules++;
    }

    return YIBAO_OK;
}


static int
yibao_audit_rule_line(yibao_audit_t *au, const yibao_str_t *line,
    size_t lineno, yibao_audit_rule_t *r, yibao_err_t *err)
{
    char          buf[YIBAO_QUOTE_LEN];
    size_t        nf, i;
    int64_t       sev;
    yibao_str_t   f[8];

    nf = yibao_tsv_split(line, f, 8);

    if (nf != 7) {
        yibao_err_line(err, lineno, "%zu columns, expected 7: id, name, "
                       "kind, mode, sev, scope, params", nf);
        return YIBAO_ERR_SYNTAX;
    }

    memset(r, 0, sizeof(yibao_audit_rule_t));
    r->line = lineno;
    r->list = -1;
    r->catalogue = -1;

    for (i = 0; i < YIBAO_AUDIT_N_MAX_; i++) {
        r->n[i] = YIBAO_AUDIT_UNSET;
    }

    if (!yibao_audit_name_ok(&f[0], YIBAO_AUDIT_ID_LEN, 0)) {
        yibao_err_line(err, lineno, "column 1 \"id\": %s is not 1 to 20 "
                       "of A-Z a-z 0-9 _ -",
                       yibao_quote(buf, f[0].data, f[0].len));
        return YIBAO_ERR_INVALID;
    }

    if (f[1].len == 0 || f[1].len > 120
        || !yibao_code_is_utf8(f[1].data, f[1].len))
    {
        yibao_err_line(err, lineno, "column 2 \"name\": %s is not 1 to 120 "
                       "bytes of UTF-8",
                       yibao_quote(buf, f[1].data, f[1].len));
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < YIBAO_AUDIT_KIND_MAX; i++) {
        if (yibao_audit_eq(&f[2], yibao_audit_kinds[i])) {
            break;
        }
    }

    if (i == YIBAO_AUDIT_KIND_MAX) {
        yibao_err_line(err, lineno, "column 3 \"kind\": %s is not gp_fee, "
                       "split_visit, supply_days, repeat_rx, price_cap, "
                       "drug_list, gender, age or doctor",
                       yibao_quote(buf, f[2].data, f[2].len));
        return YIBAO_ERR_INVALID;
    }

    r->kind = (yibao_audit_kind_e) i;

    for (i = 0; i < 4; i++) {
        if (yibao_audit_eq(&f[3], yibao_audit_modes[i])) {
            break;
        }
    }

    if (i == 4) {
        yibao_err_line(err, lineno, "column 4 \"mode\": %s is not off, "
                       "shadow, warn or enforce",
                       yibao_quote(buf, f[3].data, f[3].len));
        return YIBAO_ERR_INVALID;
    }

    r->mode = (yibao_audit_mode_e) i;

    if (yibao_audit_int(&f[4], &sev) != YIBAO_OK || sev < 1 || sev > 3) {
        yibao_err_line(err, lineno, "column 5 \"sev\": %s is not 1, 2 or 3",
                       yibao_quote(buf, f[4].data, f[4].len));
        return YIBAO_ERR_INVALID;
    }

    r->sev = (unsigned) sev;

    if (yibao_audit_scope_parse(&f[5], lineno, 6, &r->scope, err)
        != YIBAO_OK
        || yibao_audit_params(au, r, &f[6], err) != YIBAO_OK
        || yibao_audit_rule_check(au, r, err) != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    if (yibao_audit_rule_dup(au, r, &f[0], err) != YIBAO_OK) {
        return YIBAO_ERR_INVALID;
    }

    r->id = f[0];
    r->name = f[1];

    return yibao_audit_rule_copy(au, r, err);
}


/* the strings of a rule, copied out of the file's bytes */

static int
yibao_audit_rule_copy(yibao_audit_t *au, yibao_audit_rule_t *r,
    yibao_err_t *err)
{
    if (yibao_audit_str_copy(au->a, &r->id, &r->id) != YIBAO_OK
        || yibao_audit_str_copy(au->a, &r->name, &r->name) != YIBAO_OK
        || yibao_audit_str_copy(au->a, &r->scope.scope, &r->scope.scope)
           != YIBAO_OK
        || yibao_audit_str_copy(au->a, &r->types[0], &r->types[0])
           != YIBAO_OK
        || yibao_audit_str_copy(au->a, &r->types[1], &r->types[1])
           != YIBAO_OK)
    {
        yibao_err_line(err, r->line, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* one id: one kind, and one row per scope */

static int
yibao_audit_rule_dup(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *id, yibao_err_t *err)
{
    char    buf[YIBAO_QUOTE_LEN];
    size_t  i;

    for (i = 0; i < au->nrules; i++) {
        if (au->rules[i].id.len == id->len
            && memcmp(au->rules[i].id.data, id->data, id->len) == 0
            && au->rules[i].scope.type == r->scope.type
            && au->rules[i].scope.scope.len == r->scope.scope.len
            && memcmp(au->rules[i].scope.scope.data, r->scope.scope.data,
                      r->scope.scope.len) == 0)
        {
            yibao_err_line(err, r->line, "column 1 \"id\": %s with the same "
                           "scope is a duplicate of line %zu",
                           yibao_quote(buf, id->data, id->len),
                           au->rules[i].line);
            return YIBAO_ERR_INVALID;
        }

        if (au->rules[i].id.len == id->len
            && memcmp(au->rules[i].id.data, id->data, id->len) == 0
            && au->rules[i].kind != r->kind)
        {
            yibao_err_line(err, r->line, "column 3 \"kind\": rule %s is "
                           "of kind %s at line %zu",
                           yibao_quote(buf, id->data, id->len),
                           yibao_audit_kinds[au->rules[i].kind],
                           au->rules[i].line);
            return YIBAO_ERR_INVALID;
        }
    }

    return YIBAO_OK;
}


/* the parameters a kind needs, and the defaults of the others */

static int
yibao_audit_rule_check(yibao_audit_t *au, yibao_audit_rule_t *r,
    yibao_err_t *err)
{
    int64_t             *n;
    const char          *need;
    static yibao_str_t   cat = yibao_string("catalogue");

    n = r->n;
    need = NULL;

#define DEF(i, v)  if (n[i] == YIBAO_AUDIT_UNSET) { n[i] = v; }

    switch (r->kind) {

    case YIBAO_AUDIT_GP_FEE:
    case YIBAO_AUDIT_DOCTOR:
        need = (r->list < 0) ? "list=" : NULL;
        break;

    case YIBAO_AUDIT_SPLIT_VISIT:
        DEF(YIBAO_AUDIT_N_MAX, 1);
        break;

    case YIBAO_AUDIT_SUPPLY_DAYS:
        DEF(YIBAO_AUDIT_N_DAYS, 7);
        DEF(YIBAO_AUDIT_N_EMERGENCY, 3);
        DEF(YIBAO_AUDIT_N_CHRONIC, 30);

        if (r->types[0].len == 0) {
            r->types[0].data = (const unsigned char *) "13";
            r->types[0].len = 2;
        }

        if (r->types[1].len == 0) {
            r->types[1].data = (const unsigned char *) "14|9901";
            r->types[1].len = 7;
        }

        /* fall through */

    case YIBAO_AUDIT_PRICE_CAP:
    case YIBAO_AUDIT_REPEAT_RX:
        DEF(YIBAO_AUDIT_N_TOLERANCE, 1);

        if (r->catalogue < 0) {
            r->catalogue = yibao_audit_list_id(au, &cat, r->line);
        }

        need = (r->catalogue < 0) ? "fewer lists" : NULL;
        break;

    case YIBAO_AUDIT_DRUG_LIST:
        need = (r->lists == 0) ? "lists=" : NULL;
        break;

    case YIBAO_AUDIT_GENDER:
        need = (r->list < 0) ? "list="
               : (n[YIBAO_AUDIT_N_GEND] != 1 && n[YIBAO_AUDIT_N_GEND] != 2)
               ? "gend=1 or gend=2" : NULL;
        break;

    case YIBAO_AUDIT_AGE:
        need = (r->list < 0) ? "list="
               : (n[YIBAO_AUDIT_N_MIN_AGE] == YIBAO_AUDIT_UNSET
                  && n[YIBAO_AUDIT_N_MAX_AGE] == YIBAO_AUDIT_UNSET)
               ? "min_age= or max_age=" : NULL;
        break;

    default:
        break;
    }

#undef DEF

    if (need != NULL) {
        yibao_err_line(err, r->line, "column 7 \"params\": kind %s needs %s",
                       yibao_audit_kinds[r->kind], need);
        return YIBAO_ERR_INVALID;
    }

    return YIBAO_OK;
}


static int
yibao_audit_params(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *v, yibao_err_t *err)
{
    char                  buf[YIBAO_QUOTE_LEN];
    yibao_str_t           item, key, val;
    const unsigned char  *p, *last, *c, *eq;

    if (v->len == 1 && v->data[0] == '-') {
        return YIBAO_OK;
    }

    p = v->data;
    last = p + v->len;

    while (p <= last) {
        c = memchr(p, ',', last - p);
        c = (c == NULL) ? last : c;

        item.data = p;
        item.len = c - p;
        eq = memchr(item.data, '=', item.len);

        if (eq == NULL || eq == item.data || eq + 1 == c) {
            yibao_err_line(err, r->line, "column 7 \"params\": %s is not "
                           "key=value",
                           yibao_quote(buf, item.data, item.len));
            return YIBAO_ERR_INVALID;
        }

        key.data = item.data;
        key.len = eq - item.data;
        val.data = eq + 1;
        val.len = c - eq - 1;

        if (yibao_audit_param(au, r, &key, &val, err) != YIBAO_OK) {
            return YIBAO_ERR_INVALID;
        }

        p = c + 1;
    }

    return YIBAO_OK;
}


static int
yibao_audit_param(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *key, const yibao_str_t *v, yibao_err_t *err)
{
    int       id;
    char      buf[YIBAO_QUOTE_LEN];
    size_t    i;
    int64_t   n;

    for (i = 0; i < sizeof(yibao_audit_params_table)
                    / sizeof(yibao_audit_params_table[0]); i++)
    {
        if (yibao_audit_eq(key, yibao_audit_params_table[i].key)
            && (yibao_audit_params_table[i].kinds & (1u << r->kind)))
        {
            break;
        }
    }

    if (i == sizeof(yibao_audit_params_table)
             / sizeof(yibao_audit_params_table[0]))
    {
        yibao_err_line(err, r->line, "column 7 \"params\": %s is not a "
                       "parameter of kind %s",
                       yibao_quote(buf, key->data, key->len),
                       yibao_audit_kinds[r->kind]);
        return YIBAO_ERR_INVALID;
    }

    switch (yibao_audit_params_table[i].what) {

    case YIBAO_AUDIT_P_LIST:
    case YIBAO_AUDIT_P_CATALOGUE:
        if (!yibao_audit_name_ok(v, 30, 1)) {
            break;
        }

        id = yibao_audit_list_id(au, v, r->line);

        if (id < 0) {
            yibao_err_line(err, r->line, "column 7 \"params\": more than "
                           "%d lists", YIBAO_AUDIT_MAX_LISTS);
            return YIBAO_ERR_INVALID;
        }

        if (yibao_audit_params_table[i].what == YIBAO_AUDIT_P_LIST) {
            r->list = id;

        } else {
            r->catalogue = id;
        }

        return YIBAO_OK;

    case YIBAO_AUDIT_P_LISTS:
        return yibao_audit_list_bits(au, r, v, &r->lists, err);

    case YIBAO_AUDIT_P_INTEGRATED:
        return yibao_audit_list_bits(au, r, v, &r->integrated, err);

    case YIBAO_AUDIT_P_TYPES0:
    case YIBAO_AUDIT_P_TYPES1:
        if (v->len > 60) {
            break;
        }

        r->types[yibao_audit_params_table[i].what
                 - YIBAO_AUDIT_P_TYPES0] = *v;
        return YIBAO_OK;

    case YIBAO_AUDIT_P_NUMBER:
        if (yibao_audit_int(v, &n) != YIBAO_OK || n > 100000) {
            break;
        }

        r->n[yibao_audit_params_table[i].n] = n;
        return YIBAO_OK;

    default: /* YIBAO_AUDIT_P_ACK */
        if (yibao_audit_eq(v, "yes") || yibao_audit_eq(v, "no")) {
            r->ack = (v->data[0] == 'y');
            return YIBAO_OK;
        }

        break;
    }

    yibao_err_line(err, r->line, "column 7 \"params\": invalid value for "
                   "%.*s: %s", (int) key->len, (const char *) key->data,
                   yibao_quote(buf, v->data, v->len));

    return YIBAO_ERR_INVALID;
}


static int
yibao_audit_list_bits(yibao_audit_t *au, yibao_audit_rule_t *r,
    const yibao_str_t *v, uint64_t *bits, yibao_err_t *err)
{
    int                   id;
    char                  buf[YIBAO_QUOTE_LEN];
    yibao_str_t           name;
    const unsigned char  *p, *last, *c;

    p = v->data;
    last = p + v->len;

    while (p <= last) {
        c = memchr(p, '|', last - p);
        c = (c == NULL) ? last : c;

        name.data = p;
        name.len = c - p;

        if (!yibao_audit_name_ok(&name, 30, 1)) {
            yibao_err_line(err, r->line, "column 7 \"params\": %s is not a "
                           "list name (1 to 30 of a-z 0-9 _)",
                           yibao_quote(buf, name.data, name.len));
            return YIBAO_ERR_INVALID;
        }

        id = yibao_audit_list_id(au, &name, r->line);

        if (id < 0) {
            yibao_err_line(err, r->line, "column 7 \"params\": more than "
                           "%d lists", YIBAO_AUDIT_MAX_LISTS);
            return YIBAO_ERR_INVALID;
        }

        *bits |= (uint64_t) 1 << id;
        p = c + 1;
    }

    return YIBAO_OK;
}


/*
 * The number of a list by its name, added when new (lineno: the rule
 * naming it, 0 for a lists file); -1 when there are too many.
 */

static int
yibao_audit_list_id(yibao_audit_t *au, const yibao_str_t *name,
    size_t lineno)
{
    size_t  i;

    for (i = 0; i < au->nlists; i++) {
        if (au->lists[i].len == name->len
            && memcmp(au->lists[i].data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (i == au->nlists) {
        if (i == YIBAO_AUDIT_MAX_LISTS
            || yibao_audit_str_copy(au->a, &au->lists[i], name) != YIBAO_OK)
        {
            return -1;
        }

        au->nlists++;
    }

    if (lineno) {
        if (!(au->list_used & ((uint64_t) 1 << i))) {
            au->list_line[i] = lineno;
        }

        au->list_used |= (uint64_t) 1 << i;
    }

    return (int) i;
}


static int
yibao_audit_scope_parse(const yibao_str_t *v, size_t lineno, size_t column,
    yibao_audit_scope_t *s, yibao_err_t *err)
{
    char                  buf[YIBAO_QUOTE_LEN];
    size_t                n;
    const unsigned char  *p;

    p = v->data;
    n = (v->len > 7) ? v->len - 7 : 0;

    s->scope.data = p + (n ? 7 : 0);
    s->scope.len = n;

    if (v->len == 1 && p[0] == '*') {
        s->type = YIBAO_AUDIT_SCOPE_GLOBAL;
        return YIBAO_OK;
    }

    if (n && memcmp(p, "admdvs:", 7) == 0
        && (n == 2 || n == 4 || n == 6) && yibao_code_is_digits(p + 7, n))
    {
        s->type = (n == 6) ? YIBAO_AUDIT_SCOPE_ADMDVS6
                  : (n == 4) ? YIBAO_AUDIT_SCOPE_ADMDVS4
                  : YIBAO_AUDIT_SCOPE_ADMDVS2;
        return YIBAO_OK;
    }

    if (n && memcmp(p, "entity:", 7) == 0
        && yibao_code_is_fixmedins(p + 7, n))
    {
        s->type = YIBAO_AUDIT_SCOPE_ENTITY;
        return YIBAO_OK;
    }

    if (n && memcmp(p, "clinic:", 7) == 0 && yibao_code_is_org(p + 7, n)) {
        s->type = YIBAO_AUDIT_SCOPE_CLINIC;
        return YIBAO_OK;
    }

    yibao_err_line(err, lineno, "column %zu \"scope\": %s is not *, "
                   "admdvs:<2, 4 or 6 digits>, entity:<institution code> or "
                   "clinic:<22-char organisation code>", column,
                   yibao_quote(buf, p, v->len));

    return YIBAO_ERR_INVALID;
}


int
yibao_audit_add_lists(yibao_audit_t *au, const yibao_str_t *label,
    const unsigned char *data, size_t len, yibao_err_t *err)
{
    int                   rc;
    size_t                max, n;
    yibao_tsv_t           tsv;
    yibao_str_t           line, none = yibao_null_string;
    yibao_audit_entry_t  *e;

    if (au->nfiles == sizeof(au->files) / sizeof(au->files[0])) {
        yibao_err_line(err, 0, "more than 256 lists files");
        return YIBAO_ERR_TOO_LARGE;
    }

    max = yibao_tsv_max_lines(data, len);

    if (au->nentries + max > au->size) {
        n = (au->nentries + max) * 2;

        e = yibao_alloc(au->a, (n ? n : 1) * sizeof(yibao_audit_entry_t));
        if (e == NULL) {
            yibao_err_line(err, 0, "out of memory");
            return YIBAO_ERR_NOMEM;
        }

        if (au->nentries) {
            memcpy(e, au->entries,
                   au->nentries * sizeof(yibao_audit_entry_t));
        }

        au->entries = e;
        au->size = n;
    }

    if (yibao_audit_str_copy(au->a, &au->files[au->nfiles],
                             label ? label : &none)
        != YIBAO_OK)
    {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    n = au->nentries;
    yibao_tsv_init(&tsv, data, len);

    while (yibao_tsv_next(&tsv, &line)) {
        rc = yibao_audit_entry_line(au, &line, tsv.line, &au->entries[n],
                                    err);
        if (rc != YIBAO_OK) {
            return rc;   /* the entries read stay out: nentries unchanged */
        }

        n++;
    }

    au->nentries = n;
    au->nfiles++;

    return YIBAO_OK;
}


static int
yibao_audit_entry_line(yibao_audit_t *au, const yibao_str_t *line,
    size_t lineno, yibao_audit_entry_t *e, yibao_err_t *err)
{
    int           id;
    char          buf[YIBAO_QUOTE_LEN];
    size_t        nf, i;
    yibao_str_t   f[6];

    nf = yibao_tsv_split(line, f, 6);

    if (nf < 3 || nf > 5) {
        yibao_err_line(err, lineno, "%zu columns, expected 3 to 5: list, "
                       "scope, code, attrs, name", nf);
        return YIBAO_ERR_SYNTAX;
    }

    memset(e, 0, sizeof(yibao_audit_entry_t));
    e->line = lineno;
    e->file = au->nfiles;

    if (!yibao_audit_name_ok(&f[0], 30, 1)) {
        yibao_err_line(err, lineno, "column 1 \"list\": %s is not 1 to 30 "
                       "of a-z 0-9 _", yibao_quote(buf, f[0].data, f[0].len));
        return YIBAO_ERR_INVALID;
    }

    if (yibao_audit_scope_parse(&f[1], lineno, 2, &e->scope, err)
        != YIBAO_OK)
    {
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < f[2].len; i++) {
        if (f[2].data[i] <= 0x20 || f[2].data[i] >= 0x7f) {
            break;
        }
    }

    if (f[2].len == 0 || f[2].len > 50 || i < f[2].len) {
        yibao_err_line(err, lineno, "column 3 \"code\": %s is not 1 to 50 "
                       "printable ASCII characters",
                       yibao_quote(buf, f[2].data, f[2].len));
        return YIBAO_ERR_INVALID;
    }

    if (nf >= 4 && yibao_audit_attrs(&f[3], lineno, e, err) != YIBAO_OK) {
        return YIBAO_ERR_INVALID;
    }

    if (nf == 5 && (f[4].len > 200
                    || !yibao_code_is_utf8(f[4].data, f[4].len)))
    {
        yibao_err_line(err, lineno, "column 5 \"name\": %s is not at most "
                       "200 bytes of UTF-8",
                       yibao_quote(buf, f[4].data, f[4].len));
        return YIBAO_ERR_INVALID;
    }

    id = yibao_audit_list_id(au, &f[0], 0);

    if (id < 0) {
        yibao_err_line(err, lineno, "column 1 \"list\": more than %d lists",
                       YIBAO_AUDIT_MAX_LISTS);
        return YIBAO_ERR_TOO_LARGE;
    }

    e->list = (unsigned) id;

    if (yibao_audit_str_copy(au->a, &e->code, &f[2]) != YIBAO_OK
        || yibao_audit_str_copy(au->a, &e->scope.scope, &e->scope.scope)
           != YIBAO_OK)
    {
        yibao_err_line(err, lineno, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


static int
yibao_audit_attrs(const yibao_str_t *v, size_t lineno,
    yibao_audit_entry_t *e, yibao_err_t *err)
{
    char                  buf[YIBAO_QUOTE_LEN];
    int64_t               x, *dst;
    yibao_str_t           key;
    const unsigned char  *p, *last, *c, *eq;

    if (v->len == 1 && v->data[0] == '-') {
        return YIBAO_OK;
    }

    p = v->data;
    last = p + v->len;

    while (p <= last) {
        c = memchr(p, ',', last - p);
        c = (c == NULL) ? last : c;
        eq = memchr(p, '=', c - p);

        key.data = p;
        key.len = (eq != NULL) ? (size_t) (eq - p) : 0;
        dst = NULL;

        if (yibao_audit_eq(&key, "units")) {
            dst = &e->units;

        } else if (yibao_audit_eq(&key, "dose")) {
            dst = &e->dose;

        } else if (yibao_audit_eq(&key, "freq")) {
            dst = &e->freq;

        } else if (yibao_audit_eq(&key, "cap")) {
            dst = &e->cap;
        }

        if (dst == NULL
            || yibao_audit_fixed(eq + 1, c - eq - 1, &x) != YIBAO_OK
            || x == 0)
        {
            yibao_err_line(err, lineno, "column 4 \"attrs\": %s is not "
                           "units=, dose=, freq= or cap= and a number above "
                           "0", yibao_quote(buf, p, c - p));
            return YIBAO_ERR_INVALID;
        }

        *dst = x;
        p = c + 1;
    }

    return YIBAO_OK;
}


int
yibao_audit_build(yibao_audit_t *au, yibao_err_t *err)
{
    size_t  i;

    if (yibao_audit_index(au, err) != YIBAO_OK) {
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < au->nlists; i++) {
        if ((au->list_used & ((uint64_t) 1 << i))
            && !(au->list_has & ((uint64_t) 1 << i)))
        {
            yibao_err_line(err, au->list_line[i], "rules: column 7 "
                           "\"params\": the list \"%.*s\" has no entries in "
                           "the lists files", (int) au->lists[i].len,
                           (const char *) au->lists[i].data);
            return YIBAO_ERR_INVALID;
        }
    }

    if (yibao_audit_group_ids(au) != YIBAO_OK) {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    return YIBAO_OK;
}


/* sorts the entries by code and indexes each code's group */

static int
yibao_audit_index(yibao_audit_t *au, yibao_err_t *err)
{
    size_t                 i, j, ngroups;
    yibao_audit_group_t   *groups;
    yibao_audit_entry_t   *e, *prev;

    if (au->nentries) {
        qsort(au->entries, au->nentries, sizeof(yibao_audit_entry_t),
              yibao_audit_entry_cmp);
    }

    ngroups = 0;

    for (i = 0; i < au->nentries; i++) {
        e = &au->entries[i];
        prev = i ? &au->entries[i - 1] : NULL;

        au->list_has |= (uint64_t) 1 << e->list;

        if (prev == NULL || prev->code.len != e->code.len
            || memcmp(prev->code.data, e->code.data, e->code.len) != 0)
        {
            ngroups++;
            continue;
        }

        if (prev->list == e->list && prev->scope.type == e->scope.type
            && prev->scope.scope.len == e->scope.scope.len
            && memcmp(prev->scope.scope.data, e->scope.scope.data,
                      e->scope.scope.len) == 0)
        {
            if (prev->file > e->file
                || (prev->file == e->file && prev->line > e->line))
            {
                e = prev;
                prev = &au->entries[i];
            }

            yibao_err_line(err, e->line, "\"%.*s\" line %zu: column 3 "
                           "\"code\": \"%.*s\" (list %.*s, same scope) is a "
                           "duplicate of \"%.*s\" line %zu",
                           (int) au->files[e->file].len,
                           (const char *) au->files[e->file].data, e->line,
                           (int) e->code.len, (const char *) e->code.data,
                           (int) au->lists[e->list].len,
                           (const char *) au->lists[e->list].data,
                           (int) au->files[prev->file].len,
                           (const char *) au->files[prev->file].data,
                           prev->line);
            return YIBAO_ERR_INVALID;
        }
    }

    groups = yibao_alloc(au->a, (ngroups ? ngroups : 1)
                                * sizeof(yibao_audit_group_t));
    au->index = yibao_hash_create(ngroups, au->a);

    if (groups == NULL || au->index == NULL) {
        yibao_err_line(err, 0, "out of memory");
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0, j = 0; i < au->nentries; j++) {
        groups[j].first = &au->entries[i];
        groups[j].n = 0;

        while (i < au->nentries
               && au->entries[i].code.len == groups[j].first->code.len
               && memcmp(au->entries[i].code.data,
                         groups[j].first->code.data,
                         groups[j].first->code.len) == 0)
        {
            groups[j].n++;
            i++;
        }

        (void) yibao_hash_insert(au->index, groups[j].first->code.data,
                                 groups[j].first->code.len, &groups[j]);
    }

    return YIBAO_OK;
}


static int
yibao_audit_entry_cmp(const void *one, const void *two)
{
    int                         rc;
    size_t                      n;
    const yibao_audit_entry_t  *a, *b;

    a = one;
    b = two;

    n = (a->code.len < b->code.len) ? a->code.len : b->code.len;
    rc = memcmp(a->code.data, b->code.data, n);

    if (rc != 0 || a->code.len != b->code.len) {
        return rc ? rc : (a->code.len < b->code.len ? -1 : 1);
    }

    if (a->list != b->list) {
        return (a->list < b->list) ? -1 : 1;
    }

    if (a->scope.type != b->scope.type) {
        return (a->scope.type < b->scope.type) ? -1 : 1;
    }

    n = a->scope.scope.len;
    rc = (n == b->scope.scope.len) ? memcmp(a->scope.scope.data,
                                            b->scope.scope.data, n) : 0;

    if (rc != 0) {
        return rc;
    }

    if (a->file != b->file) {
        return (a->file < b->file) ? -1 : 1;
    }

    return (a->line < b->line) ? -1 : (a->line > b->line);
}


/* the rules grouped by id, in the order of each id's first row */

static int
yibao_audit_group_ids(yibao_audit_t *au)
{
    size_t               i, j;
    yibao_audit_id_t    *id;
    yibao_audit_rule_t  *r;

    au->ids = yibao_alloc(au->a, (au->nrules ? au->nrules : 1)
                                 * sizeof(yibao_audit_id_t));
    if (au->ids == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    au->nids = 0;

    for (i = 0; i < au->nrules; i++) {
        r = &au->rules[i];

        for (j = 0; j < au->nids; j++) {
            if (au->ids[j].rows[0]->id.len == r->id.len
                && memcmp(au->ids[j].rows[0]->id.data, r->id.data,
                          r->id.len) == 0)
            {
                break;
            }
        }

        id = &au->ids[j];

        if (j == au->nids) {
            id->rows = yibao_alloc(au->a, au->nrules
                                          * sizeof(yibao_audit_rule_t *));
            if (id->rows == NULL) {
                return YIBAO_ERR_NOMEM;
            }

            id->n = 0;
            au->nids++;
        }

        id->rows[id->n++] = r;
    }

    return YIBAO_OK;
}


size_t
yibao_audit_rules(const yibao_audit_t *au)
{
    return au->nrules;
}


size_t
yibao_audit_entries(const yibao_audit_t *au)
{
    return au->nentries;
}


const char *
yibao_audit_mode_name(yibao_audit_mode_e mode)
{
    return ((unsigned) mode < 4) ? yibao_audit_modes[mode] : "?";
}


const char *
yibao_audit_kind_name(yibao_audit_kind_e kind)
{
    return ((unsigned) kind < YIBAO_AUDIT_KIND_MAX)
           ? yibao_audit_kinds[kind] : "?";
}


yibao_str_t
yibao_audit_rule_id(const yibao_audit_rule_t *rule)
{
    return rule->id;
}


yibao_str_t
yibao_audit_rule_name(const yibao_audit_rule_t *rule)
{
    return rule->name;
}


yibao_audit_kind_e
yibao_audit_rule_kind(const yibao_audit_rule_t *rule)
{
    return rule->kind;
}


unsigned
yibao_audit_rule_ack(const yibao_audit_rule_t *rule)
{
    return rule->ack;
}


int
yibao_audit_wants(const yibao_audit_t *au, const yibao_map_scope_t *scope,
    yibao_audit_kind_e kind)
{
    size_t                     i;
    const yibao_audit_rule_t  *r;

    for (i = 0; i < au->nids; i++) {
        r = yibao_audit_effective(&au->ids[i], scope);

        if (r != NULL && r->kind == kind && r->mode != YIBAO_AUDIT_OFF) {
            return 1;
        }
    }

    return 0;
}


int
yibao_audit_run(const yibao_audit_t *au, const yibao_audit_ctx_t *ctx,
    const yibao_audit_line_t *lines, size_t n, yibao_alloc_t *a,
    yibao_audit_result_t *res)
{
    int                        rc;
    size_t                     i, total;
    yibao_audit_run_t          run;
    yibao_audit_info_t         stack[64];
    yibao_audit_finding_t      f;
    const yibao_audit_rule_t  *r;

    memset(res, 0, sizeof(yibao_audit_result_t));

    total = ctx->nearlier + n;
    run.info = stack;

    if (total > sizeof(stack) / sizeof(stack[0])) {
        run.info = yibao_alloc(a, total * sizeof(yibao_audit_info_t));
        if (run.info == NULL) {
            return YIBAO_ERR_NOMEM;
        }
    }

    for (i = 0; i < total; i++) {
        yibao_audit_info(au, &ctx->scope,
                         (i < ctx->nearlier) ? &ctx->earlier[i]
                                             : &lines[i - ctx->nearlier],
                         &run.info[i], i ? &run.info[i - 1] : NULL);
    }

    run.au = au;
    run.ctx = ctx;
    run.lines = lines;
    run.n = n;
    run.a = a;
    run.res = res;

    for (i = 0; i < au->nids; i++) {
        r = yibao_audit_effective(&au->ids[i], &ctx->scope);

        if (r == NULL || r->mode == YIBAO_AUDIT_OFF) {
            continue;
        }

        memset(&f, 0, sizeof(yibao_audit_finding_t));

        rc = yibao_audit_checks[r->kind](&run, r, &f);
        if (rc != YIBAO_OK) {
            return rc;
        }

        if (f.ndetails == 0) {
            continue;
        }

        if (res->findings == NULL) {
            res->findings = yibao_alloc(a, au->nids
                                           * sizeof(yibao_audit_finding_t));
            if (res->findings == NULL) {
                return YIBAO_ERR_NOMEM;
            }
        }

        f.rule = r;
        f.mode = r->mode;
        f.sev = r->sev;
        f.acked = r->ack && yibao_audit_acked(ctx, &r->id);

        if (!f.acked && f.mode > res->worst) {
            res->worst = f.mode;
        }

        res->findings[res->n++] = f;
    }

    return YIBAO_OK;
}


static int
yibao_audit_acked(const yibao_audit_ctx_t *ctx, const yibao_str_t *id)
{
    size_t  i;

    for (i = 0; i < ctx->nacks; i++) {
        if (ctx->acks[i].len == id->len
            && memcmp(ctx->acks[i].data, id->data, id->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* the row of a rule id that applies to a clinic: its most specific */

static const yibao_audit_rule_t *
yibao_audit_effective(const yibao_audit_id_t *id,
    const yibao_map_scope_t *scope)
{
    size_t                     i;
    const yibao_audit_rule_t  *best;

    best = NULL;

    for (i = 0; i < id->n; i++) {
        if ((best == NULL || id->rows[i]->scope.type < best->scope.type)
            && yibao_audit_in_scope(&id->rows[i]->scope, scope))
        {
            best = id->rows[i];
        }
    }

    return best;
}


static int
yibao_audit_in_scope(const yibao_audit_scope_t *s,
    const yibao_map_scope_t *scope)
{
    const yibao_str_t  *v;

    switch (s->type) {

    case YIBAO_AUDIT_SCOPE_GLOBAL:
        return 1;

    case YIBAO_AUDIT_SCOPE_CLINIC:
        v = &scope->org_code;
        break;

    case YIBAO_AUDIT_SCOPE_ENTITY:
        v = &scope->entity_code;
        break;

    default:
        v = &scope->admdvs;

        return v->len >= s->scope.len && v->data != NULL
               && memcmp(v->data, s->scope.data, s->scope.len) == 0;
    }

    return v->len == s->scope.len && v->data != NULL
           && memcmp(v->data, s->scope.data, v->len) == 0;
}


static void
yibao_audit_info(const yibao_audit_t *au, const yibao_map_scope_t *scope,
    const yibao_audit_line_t *l, yibao_audit_info_t *info,
    const yibao_audit_info_t *prev)
{
    size_t                      i;
    const yibao_audit_group_t  *g;

    info->bits = 0;
    info->doctor = 0;
    info->group = NULL;
    info->doctor_line = NULL;

    if (au->index == NULL) {
        return;
    }

    g = yibao_hash_find(au->index, l->code.data, l->code.len);
    info->group = g;

    for (i = 0; g != NULL && i < g->n; i++) {
        if (yibao_audit_in_scope(&g->first[i].scope, scope)) {
            info->bits |= (uint64_t) 1 << g->first[i].list;
        }
    }

    if (l->doctor.len == 0) {
        return;
    }

    /* the lines of a visit are mostly billed by one doctor */

    if (prev != NULL && prev->doctor_line != NULL
        && prev->doctor_line->doctor.len == l->doctor.len
        && memcmp(prev->doctor_line->doctor.data, l->doctor.data,
                  l->doctor.len) == 0)
    {
        info->doctor = prev->doctor;
        info->doctor_line = l;
        return;
    }

    info->doctor_line = l;
    g = yibao_hash_find(au->index, l->doctor.data, l->doctor.len);

    for (i = 0; g != NULL && i < g->n; i++) {
        if (yibao_audit_in_scope(&g->first[i].scope, scope)) {
            info->doctor |= (uint64_t) 1 << g->first[i].list;
        }
    }
}


/* the most specific row of a line's code in list (its attributes) */

static const yibao_audit_entry_t *
yibao_audit_catalogue(const yibao_audit_info_t *info, int list,
    const yibao_map_scope_t *scope)
{
    size_t                      i;
    const yibao_audit_entry_t  *e, *best;

    if (list < 0 || !(info->bits & ((uint64_t) 1 << list))) {
        return NULL;
    }

    best = NULL;

    for (i = 0; i < info->group->n; i++) {
        e = &info->group->first[i];

        if (e->list == (unsigned) list
            && (best == NULL || e->scope.type < best->scope.type)
            && yibao_audit_in_scope(&e->scope, scope))
        {
            best = e;
        }
    }

    return best;
}


static int
yibao_audit_detail(yibao_audit_run_t *run, yibao_audit_finding_t *f,
    const yibao_audit_line_t *l, unsigned type, int64_t amt)
{
    if (f->details == NULL) {
        f->details = yibao_alloc(run->a, (run->n + run->ctx->nearlier)
                                         * sizeof(yibao_audit_detail_t));
        if (f->details == NULL) {
            return YIBAO_ERR_NOMEM;
        }
    }

    f->details[f->ndetails].rx_id = l->sn;
    f->details[f->ndetails].type = type;
    f->details[f->ndetails].amt = amt;
    f->ndetails++;

    if (type == 1) {
        f->amt += amt;
    }

    return YIBAO_OK;
}


/* vola_cont: "明细<feedetl_sn> " and what is wrong with the line */

static void
yibao_audit_say(yibao_audit_finding_t *f, const yibao_audit_line_t *l,
    const char *fmt, ...)
{
    int      n;
    va_list  args;

    n = snprintf(f->cont, sizeof(f->cont), "明细%.*s ",
                 (int) (l->sn.len > 30 ? 30 : l->sn.len),
                 (const char *) l->sn.data);

    va_start(args, fmt);
    vsnprintf(f->cont + n, sizeof(f->cont) - n, fmt, args);
    va_end(args);
}


#define yibao_audit_has(bits, list)                                          \
    ((list) >= 0 && ((bits) & ((uint64_t) 1 << (list))))


/* 一般诊疗费 more than once a visit, or with 挂号费/诊查费 */

static int
yibao_audit_gp_fee(yibao_audit_run_t *run, const yibao_audit_rule_t *rule,
    yibao_audit_finding_t *f)
{
    size_t                     i, total, gp, with, first;
    const yibao_audit_line_t  *l;

    total = run->ctx->nearlier + run->n;
    gp = 0;
    with = 0;
    first = total;

    for (i = 0; i < total; i++) {
        if (yibao_audit_has(run->info[i].bits, rule->list)) {
            first = (gp++ == 0) ? i : first;
        }

        if (run->info[i].bits & rule->lists) {
            with++;
        }
    }

    if (gp == 0 || (gp == 1 && with == 0)) {
        return YIBAO_OK;
    }

    for (i = run->ctx->nearlier; i < total; i++) {
        l = &run->lines[i - run->ctx->nearlier];

        if (yibao_audit_has(run->info[i].bits, rule->list)) {
            if (yibao_audit_detail(run, f, l, (i == first) ? 2 : 1,
                                   (i == first) ? 0 : l->amt)
                != YIBAO_OK)
            {
                return YIBAO_ERR_NOMEM;
            }

        } else if ((run->info[i].bits & rule->lists)
                   && yibao_audit_detail(run, f, l, 1, l->amt) != YIBAO_OK)
        {
            return YIBAO_ERR_NOMEM;
        }
    }

    /* only the visit's earlier lines: nothing new is charged */

    if (f->amt == 0) {
        f->ndetails = 0;
        return YIBAO_OK;
    }

    snprintf(f->cont, sizeof(f->cont), "一般诊疗费%zu次，"
             "与挂号费/诊查费同收%zu项", gp, with);

    return YIBAO_OK;
}


/* more visits of a person a day at one clinic than max (分解就诊) */

static int
yibao_audit_split_visit(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f)
{
    size_t  i;

    if (run->ctx->visits_today <= rule->n[YIBAO_AUDIT_N_MAX]) {
        return YIBAO_OK;
    }

    for (i = 0; i < run->n; i++) {
        if (yibao_audit_detail(run, f, &run->lines[i], 2, 0) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }

        f->amt += run->lines[i].amt;
    }

    snprintf(f->cont, sizeof(f->cont), "同一参保人当日在"
             "本机构就诊%u次（上限%lld次）", run->ctx->visits_today,
             (long long) rule->n[YIBAO_AUDIT_N_MAX]);

    return YIBAO_OK;
}


/* a drug line's supply, in days x 10^6, or -1 when unknown */

static int64_t
yibao_audit_supply_x(const yibao_audit_entry_t *e,
    const yibao_audit_line_t *l)
{
    double  d;

    if (e == NULL || e->units == 0 || e->dose == 0 || e->freq == 0) {
        return -1;
    }

    d = (double) l->cnt * (double) e->units
        / ((double) e->dose * (double) e->freq) * YIBAO_AUDIT_ONE;

    return (d > 1e15) ? (int64_t) 1e15 : (int64_t) d;
}


int32_t
yibao_audit_supply(const yibao_audit_t *au, const yibao_map_scope_t *scope,
    const yibao_audit_line_t *line)
{
    int64_t              x;
    yibao_audit_info_t   info;
    static yibao_str_t   cat = yibao_string("catalogue");
    size_t               i;

    for (i = 0; i < au->nlists; i++) {
        if (au->lists[i].len == cat.len
            && memcmp(au->lists[i].data, cat.data, cat.len) == 0)
        {
            break;
        }
    }

    if (i == au->nlists) {
        return 0;
    }

    yibao_audit_info(au, scope, line, &info, NULL);
    x = yibao_audit_supply_x(yibao_audit_catalogue(&info, (int) i, scope),
                             line);

    return (x <= 0) ? 0 : (int32_t) ((x + YIBAO_AUDIT_ONE - 1)
                                     / YIBAO_AUDIT_ONE);
}


/* more than the days' supply of the visit's med_type (超量开药) */

static int
yibao_audit_supply_days(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f)
{
    size_t                       i, j;
    int64_t                      x, limit, amt;
    const yibao_audit_line_t    *l;
    const yibao_audit_entry_t   *e;

    limit = rule->n[YIBAO_AUDIT_N_DAYS];

    if (yibao_audit_type_in(&rule->types[0], &run->ctx->med_type)) {
        limit = rule->n[YIBAO_AUDIT_N_EMERGENCY];

    } else if (yibao_audit_type_in(&rule->types[1], &run->ctx->med_type)) {
        limit = rule->n[YIBAO_AUDIT_N_CHRONIC];
    }

    for (i = 0; i < run->n; i++) {
        j = run->ctx->nearlier + i;
        l = &run->lines[i];
        e = yibao_audit_catalogue(&run->info[j], rule->catalogue,
                                  &run->ctx->scope);
        x = yibao_audit_supply_x(e, l);

        if (x <= limit * YIBAO_AUDIT_ONE) {
            continue;
        }

        /* the part of the line beyond the limit */

        amt = (int64_t) ((double) l->amt
                         * (double) (x - limit * YIBAO_AUDIT_ONE)
                         / (double) x);

        if (f->ndetails == 0) {
            yibao_audit_say(f, l, "用量%.1f天，超过%lld天",
                            (double) x / YIBAO_AUDIT_ONE, (long long) limit);
        }

        if (yibao_audit_detail(run, f, l, 1, amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* a drug whose earlier supply is not used up (重复开药) */

static int
yibao_audit_repeat_rx(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f)
{
    size_t                       i, j;
    int32_t                      left;
    const yibao_audit_line_t    *l, *o;
    const yibao_audit_group_t   *g;
    const yibao_audit_supply_t  *h;

    for (i = 0; i < run->n; i++) {
        l = &run->lines[i];

        if (!yibao_code_is_drug(l->code.data, l->code.len)) {
            continue;
        }

        left = 0;

        for (j = 0; j < run->ctx->nhistory; j++) {
            h = &run->ctx->history[j];

            if (h->code.len == l->code.len
                && memcmp(h->code.data, l->code.data, l->code.len) == 0
                && h->day + h->days - l->day > left)
            {
                left = h->day + h->days - l->day;
            }
        }

        /* the same drug twice in one visit */

        g = run->info[run->ctx->nearlier + i].group;

        for (j = 0; j < run->ctx->nearlier + i; j++) {

            /* a code of the lists is its group, the others are compared */

            if (g != NULL) {
                if (run->info[j].group == g) {
                    left = INT32_MAX;
                }

                continue;
            }

            o = (j < run->ctx->nearlier) ? &run->ctx->earlier[j]
                                         : &run->lines[j - run->ctx->nearlier];

            if (run->info[j].group == NULL && o->code.len == l->code.len
                && memcmp(o->code.data, l->code.data, l->code.len) == 0)
            {
                left = INT32_MAX;
            }
        }

        if (left <= rule->n[YIBAO_AUDIT_N_TOLERANCE]) {
            continue;
        }

        if (f->ndetails == 0) {
            if (left == INT32_MAX) {
                yibao_audit_say(f, l, "同一药品在本次就诊中"
                                "重复开具");

            } else {
                yibao_audit_say(f, l, "前次所开同一药品"
                                "尚余%d天用量", (int) left);
            }
        }

        if (yibao_audit_detail(run, f, l, 1, l->amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* pric over the catalogue's cap (超标准收费) */

static int
yibao_audit_price_cap(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f)
{
    size_t                       i;
    int64_t                      amt;
    const yibao_audit_line_t    *l;
    const yibao_audit_entry_t   *e;

    for (i = 0; i < run->n; i++) {
        l = &run->lines[i];
        e = yibao_audit_catalogue(&run->info[run->ctx->nearlier + i],
                                  rule->catalogue, &run->ctx->scope);

        if (e == NULL || e->cap == 0 || l->pric <= e->cap) {
            continue;
        }

        amt = (int64_t) ((double) (l->pric - e->cap) * (double) l->cnt
                         / YIBAO_AUDIT_ONE);

        if (f->ndetails == 0) {
            yibao_audit_say(f, l, "单价%.2f超过限价%.2f",
                            (double) l->pric / YIBAO_AUDIT_ONE,
                     (double) e->cap / YIBAO_AUDIT_ONE);
        }

        if (yibao_audit_detail(run, f, l, 1, amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* a drug on none of the lists the clinic may use (基本药物 + county) */

static int
yibao_audit_drug_list(yibao_audit_run_t *run,
    const yibao_audit_rule_t *rule, yibao_audit_finding_t *f)
{
    size_t                      i;
    uint64_t                    allowed, bits;
    const yibao_audit_line_t   *l;

    allowed = rule->lists | (run->ctx->integrated ? rule->integrated : 0);

    for (i = 0; i < run->n; i++) {
        l = &run->lines[i];
        bits = run->info[run->ctx->nearlier + i].bits;

        if ((bits & allowed)
            || !yibao_code_is_drug(l->code.data, l->code.len))
        {
            continue;
        }

        if (f->ndetails == 0) {
            yibao_audit_say(f, l, "药品不在基本药物及"
                            "本地增补目录内");
        }

        if (yibao_audit_detail(run, f, l, 1, l->amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* gender- and age-restricted drugs and items (knowledge points) */

static int
yibao_audit_person(yibao_audit_run_t *run, const yibao_audit_rule_t *rule,
    yibao_audit_finding_t *f)
{
    int                         age;
    size_t                      i;
    const yibao_audit_line_t   *l;
    const yibao_audit_ctx_t    *ctx;

    ctx = run->ctx;
    age = 0;

    if (rule->kind == YIBAO_AUDIT_GENDER) {
        if ((ctx->gend != '1' && ctx->gend != '2')
            || ctx->gend - '0' == rule->n[YIBAO_AUDIT_N_GEND])
        {
            return YIBAO_OK;
        }

    } else {
        if (ctx->birth == INT32_MIN || ctx->birth > ctx->today) {
            return YIBAO_OK;
        }

        age = yibao_audit_years(ctx->birth, ctx->today);

        if ((rule->n[YIBAO_AUDIT_N_MIN_AGE] == YIBAO_AUDIT_UNSET
             || age >= rule->n[YIBAO_AUDIT_N_MIN_AGE])
            && (rule->n[YIBAO_AUDIT_N_MAX_AGE] == YIBAO_AUDIT_UNSET
                || age <= rule->n[YIBAO_AUDIT_N_MAX_AGE]))
        {
            return YIBAO_OK;
        }
    }

    for (i = 0; i < run->n; i++) {
        l = &run->lines[i];

        if (!yibao_audit_has(run->info[ctx->nearlier + i].bits, rule->list)) {
            continue;
        }

        if (f->ndetails == 0) {
            if (rule->kind == YIBAO_AUDIT_GENDER) {
                yibao_audit_say(f, l, "限%s性使用，参保人性别不符",
                                rule->n[YIBAO_AUDIT_N_GEND] == 1
                                ? "男" : "女");

            } else {
                yibao_audit_say(f, l, "限定年龄使用，参保人%d岁",
                                age);
            }
        }

        if (yibao_audit_detail(run, f, l, 1, l->amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* a line billed by a doctor whose payment eligibility is suspended */

static int
yibao_audit_doctor(yibao_audit_run_t *run, const yibao_audit_rule_t *rule,
    yibao_audit_finding_t *f)
{
    size_t                      i;
    const yibao_audit_line_t   *l;

    if (yibao_audit_type_in(&rule->types[0], &run->ctx->med_type)) {
        return YIBAO_OK;
    }

    for (i = 0; i < run->n; i++) {
        l = &run->lines[i];

        if (!yibao_audit_has(run->info[run->ctx->nearlier + i].doctor,
                             rule->list))
        {
            continue;
        }

        if (f->ndetails == 0) {
            yibao_audit_say(f, l, "开单医师医保支付资格"
                            "已暂停");
        }

        if (yibao_audit_detail(run, f, l, 1, l->amt) != YIBAO_OK) {
            return YIBAO_ERR_NOMEM;
        }
    }

    return YIBAO_OK;
}


/* whether t is one of the "|"-joined types (t empty: no) */

static int
yibao_audit_type_in(const yibao_str_t *types, const yibao_str_t *t)
{
    const unsigned char  *p, *last, *c;

    if (t->len == 0 || types->len == 0) {
        return 0;
    }

    p = types->data;
    last = p + types->len;

    while (p <= last) {
        c = memchr(p, '|', last - p);
        c = (c == NULL) ? last : c;

        if ((size_t) (c - p) == t->len && memcmp(p, t->data, t->len) == 0) {
            return 1;
        }

        p = c + 1;
    }

    return 0;
}


int
yibao_audit_lines(json_t *input, yibao_alloc_t *a,
    yibao_audit_line_t **lines, size_t *n)
{
    char                 *sn;
    size_t                i, k;
    json_t               *rows, *row, *v;
    yibao_audit_line_t   *l;

    *lines = NULL;
    *n = 0;

    rows = json_object_get(input, "feedetail");

    if (json_is_object(rows)) {
        k = 1;

    } else if (json_is_array(rows)) {
        k = json_array_size(rows);

    } else {
        return YIBAO_OK;
    }

    if (k == 0) {
        return YIBAO_OK;
    }

    *lines = yibao_alloc(a, k * sizeof(yibao_audit_line_t));
    if (*lines == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    for (i = 0; i < k; i++) {
        row = json_is_array(rows) ? json_array_get(rows, i) : rows;
        l = &(*lines)[*n];
        memset(l, 0, sizeof(yibao_audit_line_t));

        v = json_object_get(row, "med_list_codg");

        if (!json_is_string(v) || json_string_length(v) == 0) {
            continue;
        }

        l->code.data = (const unsigned char *) json_string_value(v);
        l->code.len = json_string_length(v);

        v = json_object_get(row, "feedetl_sn");

        if (json_is_string(v)) {
            l->sn.data = (const unsigned char *) json_string_value(v);
            l->sn.len = json_string_length(v);

        } else if (json_is_integer(v)) {
            sn = yibao_alloc(a, 24);
            if (sn == NULL) {
                return YIBAO_ERR_NOMEM;
            }

            l->sn.len = snprintf(sn, 24, "%lld",
                                 (long long) json_integer_value(v));
            l->sn.data = (const unsigned char *) sn;
        }

        v = json_object_get(row, "bilg_dr_codg");

        if (json_is_string(v)) {
            l->doctor.data = (const unsigned char *) json_string_value(v);
            l->doctor.len = json_string_length(v);
        }

        v = json_object_get(row, "fee_ocur_time");
        l->day = json_is_string(v)
                 ? yibao_audit_day((const unsigned char *)
                                   json_string_value(v),
                                   json_string_length(v))
                 : INT32_MIN;

        if (yibao_audit_json_fixed(json_object_get(row, "cnt"), &l->cnt)
            != YIBAO_OK
            || yibao_audit_json_fixed(json_object_get(row, "pric"), &l->pric)
               != YIBAO_OK
            || yibao_audit_json_fixed(json_object_get(row,
                                                      "det_item_fee_sumamt"),
                                      &l->amt)
               != YIBAO_OK
            || l->day == INT32_MIN)
        {
            continue;
        }

        (*n)++;
    }

    return YIBAO_OK;
}


static int
yibao_audit_json_fixed(json_t *v, int64_t *x)
{
    double  d;

    if (json_is_string(v)) {
        return yibao_audit_fixed((const unsigned char *) json_string_value(v),
                                 json_string_length(v), x);
    }

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0
            || json_integer_value(v) > 1000000000000LL)
        {
            return YIBAO_ERR_INVALID;
        }

        *x = json_integer_value(v) * YIBAO_AUDIT_ONE;
        return YIBAO_OK;
    }

    if (json_is_real(v)) {
        d = json_real_value(v);

        if (!(d >= 0 && d <= 1e12)) {
            return YIBAO_ERR_INVALID;
        }

        *x = (int64_t) (d * YIBAO_AUDIT_ONE + 0.5);
        return YIBAO_OK;
    }

    return YIBAO_ERR_INVALID;
}


json_t *
yibao_audit_json(const yibao_audit_result_t *res, const yibao_str_t *jr,
    unsigned mask)
{
    size_t   i;
    json_t  *arr, *o;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    for (i = 0; i < res->n; i++) {
        if (!(mask & (1u << res->findings[i].mode))) {
            continue;
        }

        o = yibao_audit_finding_json(&res->findings[i], jr, i + 1);

        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
yibao_audit_finding_json(const yibao_audit_finding_t *f,
    const yibao_str_t *jr, size_t no)
{
    char                 id[80];
    size_t               i, len;
    json_t              *o, *dtos, *d;
    const yibao_str_t   *rid, *rname;

    rid = &f->rule->id;
    rname = &f->rule->name;
    len = (jr->len > 60) ? 60 : jr->len;

    snprintf(id, sizeof(id), "%.*s-%zu", (int) len,
             (const char *) jr->data, no);

    dtos = json_array();
    o = json_pack("{s:s, s:s%, s:s%, s:s, s:i, s:o, s:s, s:s, s:s, s:b}",
                  "jr_id", id, "rule_id", rid->data, rid->len,
                  "rule_name", rname->data, rname->len, "vola_cont", f->cont,
                  "sev_deg", (json_int_t) f->sev,
                  "vola_amt", yibao_audit_amount(f->amt),
                  "vola_amt_stas", "0",
                  "vola_bhvr_type",
                  (f->rule->kind == YIBAO_AUDIT_SPLIT_VISIT
                   || f->rule->kind == YIBAO_AUDIT_DOCTOR) ? "1" : "2",
                  "mode", yibao_audit_modes[f->mode], "ack", (int) f->acked);

    if (o == NULL || dtos == NULL
        || json_object_set_new(o, "judge_result_detail_dtos", dtos) != 0)
    {
        json_decref(dtos);
        json_decref(o);
        return NULL;
    }

    for (i = 0; i < f->ndetails; i++) {
        snprintf(id, sizeof(id), "%.*s-%zu-%zu", (int) len,
                 (const char *) jr->data, no, i + 1);

        d = json_pack("{s:s, s:s%, s:s, s:o}", "jrd_id", id,
                      "rx_id", f->details[i].rx_id.data,
                      f->details[i].rx_id.len,
                      "vola_item_type", f->details[i].type == 1 ? "1" : "2",
                      "vola_amt", yibao_audit_amount(f->details[i].amt));

        if (d == NULL || json_array_append_new(dtos, d) != 0) {
            json_decref(o);
            return NULL;
        }
    }

    return o;
}


/* an amount x 10^6 as a number of yuan, to the cent */

static json_t *
yibao_audit_amount(int64_t v)
{
    return json_real((double) ((v + 5000) / 10000) / 100.0);
}


int32_t
yibao_audit_day(const unsigned char *p, size_t len)
{
    int  y, m, d;

    if (len < 10 || p[4] != '-' || p[7] != '-'
        || !yibao_code_is_digits(p, 4) || !yibao_code_is_digits(p + 5, 2)
        || !yibao_code_is_digits(p + 8, 2))
    {
        return INT32_MIN;
    }

    y = yibao_code_number(p, 4);
    m = yibao_code_number(p + 5, 2);
    d = yibao_code_number(p + 8, 2);

    if (y < 1900 || m < 1 || m > 12 || d < 1
        || d > yibao_code_days_in_month(y, m))
    {
        return INT32_MIN;
    }

    return (int32_t) yibao_code_days_from_civil(y, m, d);
}


static int
yibao_audit_years(int32_t birth, int32_t today)
{
    int      bm, bd, tm, td;
    int64_t  by, ty;

    yibao_code_civil_from_days(birth, &by, &bm, &bd);
    yibao_code_civil_from_days(today, &ty, &tm, &td);

    return (int) (ty - by) - (tm < bm || (tm == bm && td < bd));
}


int
yibao_audit_fixed(const unsigned char *p, size_t len, int64_t *v)
{
    size_t    i, frac;
    int64_t   x;
    unsigned  dot;

    x = 0;
    dot = 0;
    frac = 0;

    if (len == 0) {
        return YIBAO_ERR_INVALID;
    }

    for (i = 0; i < len; i++) {
        if (p[i] == '.' && !dot && i > 0 && i + 1 < len) {
            dot = 1;
            continue;
        }

        if (p[i] < '0' || p[i] > '9' || (dot && ++frac > 6)
            || x > 1000000000000000LL)
        {
            return YIBAO_ERR_INVALID;
        }

        x = x * 10 + (p[i] - '0');
    }

    while (frac++ < 6) {
        if (x > 100000000000000000LL) {
            return YIBAO_ERR_INVALID;       /* over 10^18 millionths */
        }

        x *= 10;
    }

    if (x > 1000000000000000000LL) {
        return YIBAO_ERR_INVALID;
    }

    *v = x;

    return YIBAO_OK;
}


static int
yibao_audit_name_ok(const yibao_str_t *v, size_t max, int lower)
{
    size_t         i;
    unsigned char  c;

    if (v->len == 0 || v->len > max) {
        return 0;
    }

    for (i = 0; i < v->len; i++) {
        c = v->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || (!lower && ((c >= 'A' && c <= 'Z') || c == '-'))))
        {
            return 0;
        }
    }

    return 1;
}


static int
yibao_audit_str_copy(yibao_alloc_t *a, yibao_str_t *dst,
    const yibao_str_t *src)
{
    unsigned char  *p;

    p = yibao_alloc(a, src->len + 1);
    if (p == NULL) {
        return YIBAO_ERR_NOMEM;
    }

    if (src->len) {
        memcpy(p, src->data, src->len);
    }

    p[src->len] = '\0';
    dst->data = p;
    dst->len = src->len;

    return YIBAO_OK;
}


static int
yibao_audit_int(const yibao_str_t *v, int64_t *n)
{
    size_t  i;

    if (v->len == 0 || v->len > 9) {
        return YIBAO_ERR_INVALID;
    }

    *n = 0;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            return YIBAO_ERR_INVALID;
        }

        *n = *n * 10 + (v->data[i] - '0');
    }

    return YIBAO_OK;
}


static int
yibao_audit_eq(const yibao_str_t *s, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}
