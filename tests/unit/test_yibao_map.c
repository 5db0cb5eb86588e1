/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "yibao_map.h"
#include "yibao_test_alloc.h"


#define U(s)          ((const unsigned char *) (s))
#define ROW(kind, scope, local, national, name)                              \
    kind "\t" scope "\t" local "\t" national "\t" name "\n"

#define ORG1          "PDY60134132080312D6001"
#define ORG2          "PDY60134132080312D6002"
#define ENTITY1       "H37010200001"
#define ENTITY2       "H37010200002"

#define DRUG_NAT      "XJ01CAA040A001010102699"

/* 阿莫西林胶囊, 高血压 */
#define NAME_DRUG     "\xe9\x98\xbf\xe8\x8e\xab\xe8\xa5\xbf\xe6\x9e\x97"     \
                      "\xe8\x83\xb6\xe5\x9b\x8a"
#define NAME_HTN      "\xe9\xab\x98\xe8\xa1\x80\xe5\x8e\x8b"

#define TEST_NCASES(a)  (sizeof(a) / sizeof((a)[0]))


typedef struct {
    yibao_test_arena_t    arena;
    yibao_alloc_t         alloc;
    yibao_err_t           err;
    yibao_map_t          *map;
} test_ctx_t;


/* A table that fails to add (build 0) or build (build 1). */

typedef struct {
    const char           *data;
    int                   rc;
    size_t                line;
    const char           *msg;
} test_failure_t;


static void test_name(char *p, size_t n);


static int
test_setup(void **state)
{
    test_ctx_t  *t;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);
    *state = t;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *t = *state;

    yibao_test_arena_free(&t->arena);
    free(t);

    return 0;
}


static void
test_err_reset(test_ctx_t *t)
{
    memset(&t->err, 0, sizeof(yibao_err_t));
    t->err.line = 12345;
}


/*
 * Builds a map of n tables (NUL-terminated, each copied into a block of
 * its exact length that is wiped after the add, so nothing may point
 * into it), named by labels[i] when labels is not NULL.
 */

static yibao_map_t *
test_build_files(test_ctx_t *t, const char **files, const char **labels,
    size_t n)
{
    int                   rc;
    size_t                i, len;
    yibao_str_t           label;
    unsigned char        *copy;
    yibao_map_builder_t  *b;

    test_err_reset(t);

    b = yibao_map_builder_create(&t->alloc);
    if (b == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        len = strlen(files[i]);
        copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, files[i], len);

        if (labels != NULL) {
            label.data = U(labels[i]);
            label.len = strlen(labels[i]);
            rc = yibao_map_builder_add_named(b, &label, copy, len, &t->err);

        } else {
            rc = yibao_map_builder_add(b, copy, len, &t->err);
        }

        memset(copy, 'Z', len);
        free(copy);

        if (rc != YIBAO_OK) {
            return NULL;
        }
    }

    return yibao_map_build(b, &t->err);
}


static yibao_map_t *
test_build(test_ctx_t *t, const char *data)
{
    return test_build_files(t, &data, NULL, 1);
}


static int
test_lookup(yibao_map_t *map, yibao_kind_e kind, const char *dict,
    const yibao_map_scope_t *scope, const char *code, yibao_map_hit_t *hit)
{
    yibao_str_t  d;

    d.data = U(dict);
    d.len = dict != NULL ? strlen(dict) : 0;

    return yibao_map_lookup(map, kind, dict != NULL ? &d : NULL, scope,
                            U(code), strlen(code), hit);
}


static int
test_reverse(yibao_map_t *map, yibao_kind_e kind, const char *dict,
    const yibao_map_scope_t *scope, const char *code, yibao_map_hit_t *hit)
{
    yibao_str_t  d;

    d.data = U(dict);
    d.len = dict != NULL ? strlen(dict) : 0;

    return yibao_map_reverse(map, kind, dict != NULL ? &d : NULL, scope,
                             U(code), strlen(code), hit);
}


static void
test_str_equal(const yibao_str_t *s, const char *expect)
{
    if (s->len != strlen(expect)
        || (s->len != 0 && memcmp(s->data, expect, s->len) != 0))
    {
        fail_msg("got \"%.*s\", expected \"%s\"", (int) s->len,
                 (const char *) s->data, expect);
    }
}


/* A lookup that must find national (and name, when not NULL). */

static void
test_maps_to(yibao_map_t *map, yibao_kind_e kind, const char *dict,
    const yibao_map_scope_t *scope, const char *code, const char *national,
    const char *name)
{
    yibao_map_hit_t  hit;

    memset(&hit, 0, sizeof(hit));

    if (!test_lookup(map, kind, dict, scope, code, &hit)) {
        fail_msg("%s %s: not found, expected %s", yibao_kind_name(kind),
                 code, national);
    }

    test_str_equal(&hit.local, code);
    test_str_equal(&hit.national, national);

    if (name != NULL) {
        test_str_equal(&hit.name, name);
    }
}


static void
test_scope_set(yibao_map_scope_t *scope, const char *org,
    const char *entity, const char *admdvs)
{
    memset(scope, 0, sizeof(yibao_map_scope_t));

    scope->org_code.data = U(org);
    scope->org_code.len = org != NULL ? strlen(org) : 0;
    scope->entity_code.data = U(entity);
    scope->entity_code.len = entity != NULL ? strlen(entity) : 0;
    scope->admdvs.data = U(admdvs);
    scope->admdvs.len = admdvs != NULL ? strlen(admdvs) : 0;
}


static void
test_kinds(void **state)
{
    size_t        i;
    yibao_str_t   dict;
    yibao_kind_e  kind;

    static const char  *names[] = {
        "drug", "item", "consumable", "diagnosis", "operation", "chronic",
        "staff", "dept"
    };

    static const char  *bad[] = {
        "", "Drug", "drugs", "dru", "dict", "dict:", "dict:a-b",
        "dict:psn cert", "dict:0123456789012345678901234567890",
        " drug", "drug ", "DICT:insutype", "dict"
    };

    (void) state;

    for (i = 0; i < TEST_NCASES(names); i++) {
        dict.data = U("x");
        dict.len = 1;
        kind = YIBAO_KIND_MAX;

        assert_int_equal(yibao_kind_parse(U(names[i]), strlen(names[i]),
                                          &kind, &dict), YIBAO_OK);
        assert_int_equal(kind, (yibao_kind_e) i);
        assert_int_equal(dict.len, 0);
        assert_string_equal(yibao_kind_name(kind), names[i]);
    }

    assert_int_equal(yibao_kind_parse(U("dict:psn_cert_type"), 18, &kind,
                                      &dict), YIBAO_OK);
    assert_int_equal(kind, YIBAO_KIND_DICT);
    test_str_equal(&dict, "psn_cert_type");
    assert_string_equal(yibao_kind_name(YIBAO_KIND_DICT), "dict");

    /* 30 characters is the longest name */

    assert_int_equal(yibao_kind_parse(U("dict:012345678901234567890123456789"),
                                      35, &kind, NULL), YIBAO_OK);

    for (i = 0; i < TEST_NCASES(bad); i++) {
        if (yibao_kind_parse(U(bad[i]), strlen(bad[i]), &kind, &dict)
            != YIBAO_ERR_INVALID)
        {
            fail_msg("kind \"%s\" was accepted", bad[i]);
        }
    }

    assert_string_equal(yibao_kind_name(YIBAO_KIND_MAX), "unknown");
    assert_string_equal(yibao_kind_name((yibao_kind_e) -1), "unknown");
}


static void
test_national_shapes(void **state)
{
    size_t  i;

    static const struct {
        yibao_kind_e      kind;
        const char       *code;
        int               good;
    } cases[] = {
        { YIBAO_KIND_DRUG, DRUG_NAT, 1 },
        { YIBAO_KIND_DRUG, "ZA01BAA001B002010100001", 1 },
        { YIBAO_KIND_DRUG, "T000100255", 1 },
        { YIBAO_KIND_DRUG, "YP0001", 0 },
        { YIBAO_KIND_DRUG, "XJ01CAA040A00101010269", 0 },
        { YIBAO_KIND_DRUG, "xJ01CAA040A001010102699", 0 },
        { YIBAO_KIND_DRUG, "T0001", 0 },
        { YIBAO_KIND_ITEM, "001102000010000", 1 },
        { YIBAO_KIND_ITEM, "001102000010000-110200001", 1 },
        { YIBAO_KIND_ITEM, "001102000000100-110200002.10", 1 },
        { YIBAO_KIND_ITEM, "ZL0001", 0 },
        { YIBAO_KIND_ITEM, "00110200001000", 0 },
        { YIBAO_KIND_ITEM, "001102000010000-", 0 },
        { YIBAO_KIND_CONSUMABLE, "C0101010011303807555", 1 },
        { YIBAO_KIND_CONSUMABLE, "C010101001130380755", 0 },
        { YIBAO_KIND_CONSUMABLE, "HC0001", 0 },
        { YIBAO_KIND_DIAGNOSIS, "I10.x00", 1 },
        { YIBAO_KIND_DIAGNOSIS, "E11.900", 1 },
        { YIBAO_KIND_DIAGNOSIS, "I10.x00x002", 1 },
        { YIBAO_KIND_DIAGNOSIS, "ZD0001", 0 },
        { YIBAO_KIND_DIAGNOSIS, "I10", 0 },
        { YIBAO_KIND_DIAGNOSIS, "i10.x00", 0 },
        { YIBAO_KIND_OPERATION, "51.2300", 1 },
        { YIBAO_KIND_OPERATION, "51.2300x001", 1 },
        { YIBAO_KIND_OPERATION, "51.23", 0 },
        { YIBAO_KIND_OPERATION, "I10.x00", 0 },
        { YIBAO_KIND_CHRONIC, "M01607", 1 },
        { YIBAO_KIND_CHRONIC, "M0160", 0 },
        { YIBAO_KIND_CHRONIC, "N01607", 0 },
        { YIBAO_KIND_STAFF, "D370102000001", 1 },
        { YIBAO_KIND_STAFF, "N370102000001", 1 },
        { YIBAO_KIND_STAFF, "Y370102000001", 1 },
        { YIBAO_KIND_STAFF, "HY370102000001", 1 },
        { YIBAO_KIND_STAFF, "HJ370102000001", 1 },
        { YIBAO_KIND_STAFF, "D001", 0 },
        { YIBAO_KIND_STAFF, "HX370102000001", 0 },
        { YIBAO_KIND_DEPT, "A03", 1 },
        { YIBAO_KIND_DEPT, "A03.01", 1 },
        { YIBAO_KIND_DEPT, "NK", 0 },
        { YIBAO_KIND_DEPT, "A03.1", 0 },
        { YIBAO_KIND_DICT, "01", 1 },
        { YIBAO_KIND_DICT, "310", 1 },
        { YIBAO_KIND_DICT, "0-1", 0 },
        { YIBAO_KIND_DICT, "", 0 },
        { YIBAO_KIND_DICT, "0123456789012345678901234567890", 0 },
        { YIBAO_KIND_MAX, "01", 0 },
    };

    (void) state;

    for (i = 0; i < TEST_NCASES(cases); i++) {
        if (yibao_kind_is_national(cases[i].kind, U(cases[i].code),
                                   strlen(cases[i].code))
            != cases[i].good)
        {
            fail_msg("%s \"%s\": expected %d", yibao_kind_name(cases[i].kind),
                     cases[i].code, cases[i].good);
        }
    }
}


#define CORE_TABLE                                                           \
    "# kind\tscope\tlocal_code\tnational_code\tnational_name\n"              \
    ROW("drug", "*", "YP0001", DRUG_NAT, NAME_DRUG)                          \
    ROW("item", "*", "ZL0001", "001102000010000", "consultation")            \
    ROW("consumable", "*", "HC0001", "C0101010011303807555", "syringe")      \
    ROW("diagnosis", "*", "ZD0001", "I10.x00", NAME_HTN)                     \
    ROW("operation", "*", "SS0001", "51.2300", "cholecystectomy")            \
    ROW("chronic", "*", "MB0001", "M01607", "hypertension")                  \
    ROW("staff", "entity:" ENTITY1, "D001", "D370102000001", "Zhang")        \
    ROW("dept", "*", "NK", "A03", "internal medicine")                       \
    ROW("dict:psn_cert_type", "*", "1", "01", "ID card")                     \
    ROW("dict:insutype", "*", "1", "310", "employees")


static void
test_every_kind(void **state)
{
    test_ctx_t  *t = *state;

    yibao_map_scope_t  scope;

    t->map = test_build(t, CORE_TABLE);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 10);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");

    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001", DRUG_NAT,
                 NAME_DRUG);
    test_maps_to(t->map, YIBAO_KIND_ITEM, NULL, &scope, "ZL0001",
                 "001102000010000", "consultation");
    test_maps_to(t->map, YIBAO_KIND_CONSUMABLE, NULL, &scope, "HC0001",
                 "C0101010011303807555", "syringe");
    test_maps_to(t->map, YIBAO_KIND_DIAGNOSIS, NULL, &scope, "ZD0001",
                 "I10.x00", NAME_HTN);
    test_maps_to(t->map, YIBAO_KIND_OPERATION, NULL, &scope, "SS0001",
                 "51.2300", "cholecystectomy");
    test_maps_to(t->map, YIBAO_KIND_CHRONIC, NULL, &scope, "MB0001",
                 "M01607", "hypertension");
    test_maps_to(t->map, YIBAO_KIND_STAFF, NULL, &scope, "D001",
                 "D370102000001", "Zhang");
    test_maps_to(t->map, YIBAO_KIND_DEPT, NULL, &scope, "NK", "A03",
                 "internal medicine");
    test_maps_to(t->map, YIBAO_KIND_DICT, "psn_cert_type", &scope, "1",
                 "01", "ID card");

    /* a code is looked up in its own kind only */

    assert_false(test_lookup(t->map, YIBAO_KIND_ITEM, NULL, &scope,
                             "YP0001", NULL));
    assert_false(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "YP0002", NULL));
    assert_false(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "YP000", NULL));
    assert_false(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "YP00011", NULL));

    /* a hit may be NULL */

    assert_true(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                            "YP0001", NULL));
}


static void
test_dicts(void **state)
{
    test_ctx_t  *t = *state;

    yibao_str_t        bad;
    yibao_map_hit_t    hit;
    yibao_map_scope_t  scope;

    t->map = test_build(t,
        ROW("dict:psn_cert_type", "*", "1", "01", "ID card")
        ROW("dict:psn_cert_type", "*", "2", "02", "officer")
        ROW("dict:insutype", "*", "1", "310", "employees")
        ROW("dict:insutype", "*", "2", "390", "residents")
        ROW("dict:mdtrt_cert_type", "*", "SFZ", "02", "ID card")
        ROW("dict:mdtrt_cert_type", "entity:" ENTITY1, "SFZ", "03",
            "card"));
    assert_non_null(t->map);

    test_scope_set(&scope, ORG1, ENTITY2, "370102");

    /* the same local code in two dictionaries */

    test_maps_to(t->map, YIBAO_KIND_DICT, "psn_cert_type", &scope, "1",
                 "01", NULL);
    test_maps_to(t->map, YIBAO_KIND_DICT, "insutype", &scope, "1", "310",
                 NULL);
    test_maps_to(t->map, YIBAO_KIND_DICT, "insutype", &scope, "2", "390",
                 "residents");
    test_maps_to(t->map, YIBAO_KIND_DICT, "mdtrt_cert_type", &scope, "SFZ",
                 "02", NULL);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_DICT, "mdtrt_cert_type", &scope, "SFZ",
                 "03", "card");

    /* an unknown dictionary, a prefix of one, none, a bad name */

    assert_false(test_lookup(t->map, YIBAO_KIND_DICT, "med_type", &scope,
                             "1", &hit));
    assert_false(test_lookup(t->map, YIBAO_KIND_DICT, "insu", &scope, "1",
                             &hit));
    assert_false(test_lookup(t->map, YIBAO_KIND_DICT, NULL, &scope, "1",
                             &hit));
    assert_false(test_lookup(t->map, YIBAO_KIND_DICT, "", &scope, "1",
                             &hit));
    assert_false(test_lookup(t->map, YIBAO_KIND_DICT, "insu type", &scope,
                             "1", &hit));

    bad.data = NULL;
    bad.len = 0;
    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_DICT, &bad, &scope,
                                  U("1"), 1, &hit));

    /* the dictionary name is ignored for other kinds */

    t->map = test_build(t, CORE_TABLE);
    assert_non_null(t->map);
    test_maps_to(t->map, YIBAO_KIND_DRUG, "insutype", &scope, "YP0001",
                 DRUG_NAT, NULL);
}


#define SCOPED_TABLE                                                         \
    ROW("drug", "*", "YP0001", "XA00AAA000A000000000001", "global")          \
    ROW("drug", "admdvs:37", "YP0001", "XA00AAA000A000000000002", "prov")    \
    ROW("drug", "admdvs:3701", "YP0001", "XA00AAA000A000000000003", "city")  \
    ROW("drug", "admdvs:370102", "YP0001", "XA00AAA000A000000000004",        \
        "county")                                                            \
    ROW("drug", "entity:" ENTITY1, "YP0001", "XA00AAA000A000000000005",      \
        "entity")                                                            \
    ROW("drug", "clinic:" ORG1, "YP0001", "XA00AAA000A000000000006",         \
        "clinic")                                                            \
    ROW("item", "*", "ZL0001", "001102000010000", "item global")             \
    ROW("staff", "entity:" ENTITY1, "D001", "D370102000001", "Zhang")        \
    ROW("staff", "entity:" ENTITY2, "D001", "D370102000002", "Li")


static void
test_precedence(void **state)
{
    test_ctx_t  *t = *state;

    yibao_map_scope_t  scope;

    t->map = test_build(t, SCOPED_TABLE);
    assert_non_null(t->map);

    /* clinic beats entity beats admdvs 6, 4, 2 beats global */

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000006", "clinic");

    test_scope_set(&scope, ORG2, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000005", "entity");

    test_scope_set(&scope, ORG2, ENTITY2, "370102");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000004", "county");

    test_scope_set(&scope, ORG2, ENTITY2, "370103");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000003", "city");

    test_scope_set(&scope, ORG2, ENTITY2, "370203");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000002", "prov");

    test_scope_set(&scope, ORG2, ENTITY2, "440103");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000001", "global");

    /* the clinic alone, without entity or region */

    test_scope_set(&scope, ORG1, NULL, NULL);
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000006", "clinic");

    /* no scope: global rows only */

    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, NULL, "YP0001",
                 "XA00AAA000A000000000001", "global");

    /* scope fields of the wrong length are skipped, not cut */

    test_scope_set(&scope, ORG1 "X", ENTITY1 "0", "3701020");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000001", "global");

    test_scope_set(&scope, "PDY60134132080312D600", "H3701020000",
                   "3701");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000001", "global");

    /* a kind without scoped rows still finds its global rows */

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_ITEM, NULL, &scope, "ZL0001",
                 "001102000010000", "item global");

    /* staff ids are per entity, without a global row */

    test_maps_to(t->map, YIBAO_KIND_STAFF, NULL, &scope, "D001",
                 "D370102000001", "Zhang");

    test_scope_set(&scope, ORG2, ENTITY2, "370102");
    test_maps_to(t->map, YIBAO_KIND_STAFF, NULL, &scope, "D001",
                 "D370102000002", "Li");

    test_scope_set(&scope, ORG2, "H37010200003", "370102");
    assert_false(test_lookup(t->map, YIBAO_KIND_STAFF, NULL, &scope, "D001",
                             NULL));
    assert_false(test_lookup(t->map, YIBAO_KIND_STAFF, NULL, NULL, "D001",
                             NULL));
}


static void
test_reverse_lookups(void **state)
{
    test_ctx_t  *t = *state;

    yibao_map_hit_t    hit;
    yibao_map_scope_t  scope;

    t->map = test_build(t,
        SCOPED_TABLE
        ROW("drug", "*", "YP0002", "XA00AAA000A000000000001", "global 2")
        ROW("drug", "*", "YP0000", "XA00AAA000A000000000001", "global 0")
        ROW("drug", "entity:" ENTITY1, "YP0009", "XA00AAA000A000000000001",
            "entity 9")
        ROW("dict:psn_cert_type", "*", "1", "01", "ID card")
        ROW("dict:insutype", "*", "9", "01", "not a real one"));
    assert_non_null(t->map);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");

    /* the most specific scope, and the earliest row within it */

    memset(&hit, 0, sizeof(hit));
    assert_true(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "XA00AAA000A000000000001", &hit));
    test_str_equal(&hit.local, "YP0009");
    test_str_equal(&hit.national, "XA00AAA000A000000000001");
    test_str_equal(&hit.name, "entity 9");

    test_scope_set(&scope, ORG2, ENTITY2, "370102");
    assert_true(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "XA00AAA000A000000000001", &hit));
    test_str_equal(&hit.local, "YP0001");
    test_str_equal(&hit.name, "global");

    assert_true(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "XA00AAA000A000000000004", &hit));
    test_str_equal(&hit.local, "YP0001");
    test_str_equal(&hit.name, "county");

    /* out of scope, another kind, unknown */

    test_scope_set(&scope, ORG2, ENTITY2, "440103");
    assert_false(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                              "XA00AAA000A000000000004", &hit));
    assert_false(test_reverse(t->map, YIBAO_KIND_ITEM, NULL, &scope,
                              "XA00AAA000A000000000001", &hit));
    assert_false(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                              "XA00AAA000A000000000009", &hit));
    assert_false(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope, "",
                              &hit));

    /* staff back to the entity's own id */

    test_scope_set(&scope, ORG2, ENTITY2, "370102");
    assert_true(test_reverse(t->map, YIBAO_KIND_STAFF, NULL, &scope,
                             "D370102000002", &hit));
    test_str_equal(&hit.local, "D001");
    assert_false(test_reverse(t->map, YIBAO_KIND_STAFF, NULL, &scope,
                              "D370102000001", &hit));

    /* dictionaries by name */

    assert_true(test_reverse(t->map, YIBAO_KIND_DICT, "psn_cert_type",
                             &scope, "01", &hit));
    test_str_equal(&hit.local, "1");
    assert_true(test_reverse(t->map, YIBAO_KIND_DICT, "insutype", &scope,
                             "01", &hit));
    test_str_equal(&hit.local, "9");
    assert_false(test_reverse(t->map, YIBAO_KIND_DICT, NULL, &scope, "01",
                              &hit));
    assert_false(test_reverse(t->map, YIBAO_KIND_DICT, "gend", &scope,
                              "01", &hit));
}


static void
test_lookup_arguments(void **state)
{
    test_ctx_t  *t = *state;

    char               code[200];
    yibao_map_hit_t    hit;
    yibao_map_scope_t  scope;

    t->map = test_build(t, CORE_TABLE);
    assert_non_null(t->map);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");

    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_MAX, NULL, &scope,
                                  U("YP0001"), 6, &hit));
    assert_false(yibao_map_lookup(t->map, (yibao_kind_e) -1, NULL, &scope,
                                  U("YP0001"), 6, &hit));
    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                                  U("YP0001"), 0, &hit));
    assert_false(yibao_map_reverse(t->map, YIBAO_KIND_MAX, NULL, &scope,
                                   U(DRUG_NAT), 23, &hit));

    /* longer than any local code can be */

    memset(code, 'A', sizeof(code));
    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                                  U(code), sizeof(code), &hit));
    assert_false(yibao_map_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                                   U(code), sizeof(code), &hit));

    /* a code with a NUL or control byte is simply not found */

    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                                  U("YP0001\0"), 7, &hit));
    assert_false(yibao_map_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                                  U("YP000\x01"), 6, &hit));
}


static void
test_errors(void **state)
{
    test_ctx_t  *t = *state;

    char          longer[900];
    size_t        i;
    yibao_map_t  *map;

    static const test_failure_t  cases[] = {
        { "drug\t*\tYP0001\n", YIBAO_ERR_SYNTAX, 1,
          "expected 4 or 5 TAB-separated fields (kind, scope, local_code, "
          "national_code, national_name), got 3" },
        { "# c\n\ndrug\t*\tYP0001\t" DRUG_NAT "\tx\ty\n", YIBAO_ERR_SYNTAX,
          3, "expected 4 or 5 TAB-separated fields (kind, scope, "
          "local_code, national_code, national_name), got 6" },
        { "pill\t*\tYP0001\t" DRUG_NAT "\n", YIBAO_ERR_INVALID, 1,
          "column 1 \"kind\": \"pill\" is not drug, item, consumable, "
          "diagnosis, operation, chronic, staff, dept or dict:<name>" },
        { "dict:psn-cert\t*\t1\t01\n", YIBAO_ERR_INVALID, 1,
          "column 1 \"kind\": \"dict:psn-cert\" has no valid dictionary "
          "name (1..30 letters, digits or _)" },
        { "dict:\t*\t1\t01\n", YIBAO_ERR_INVALID, 1,
          "column 1 \"kind\": \"dict:\" has no valid dictionary name "
          "(1..30 letters, digits or _)" },
        { ROW("drug", "*", "YP0001", DRUG_NAT, "")
          ROW("drug", "city:3701", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 2,
          "column 2 \"scope\": \"city:3701\" is not *, admdvs:, entity: "
          "or clinic:" },
        { ROW("drug", "", "YP0001", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"\" is not *, admdvs:, entity: or "
          "clinic:" },
        { ROW("drug", "**", "YP0001", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"**\" is not *, admdvs:, entity: or "
          "clinic:" },
        { ROW("drug", "admdvs:370", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"admdvs:370\" is not admdvs: and 2, 4 or "
          "6 digits" },
        { ROW("drug", "admdvs:37010x", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"admdvs:37010x\" is not admdvs: and 2, 4 "
          "or 6 digits" },
        { ROW("drug", "admdvs:", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"admdvs:\" is not admdvs: and 2, 4 or 6 "
          "digits" },
        { ROW("drug", "entity:X37010200001", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"entity:X37010200001\" is not entity: and "
          "a national institution code (H or P and 11 digits)" },
        { ROW("drug", "clinic:" ORG1 "0", "YP0001", DRUG_NAT, ""),
          YIBAO_ERR_INVALID, 1,
          "column 2 \"scope\": \"clinic:" ORG1 "0\" is not clinic: and a "
          "22-char organisation code (digits and upper-case letters)" },
        { ROW("drug", "*", "", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 3 \"local_code\" is empty" },
        { ROW("drug", "*", "YP 0001", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 3 \"local_code\": \"YP 0001\" has a space or control "
          "character" },
        { ROW("drug", "*", "YP\x01", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 3 \"local_code\": \"YP\\x01\" has a space or control "
          "character" },
        { ROW("drug", "*", "YP\xff", DRUG_NAT, ""), YIBAO_ERR_INVALID, 1,
          "column 3 \"local_code\": \"YP\\xff\" is not valid UTF-8" },
        { ROW("drug", "*", "YP0001", "", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\" is empty" },
        { "# drugs\n" ROW("drug", "*", "YP0001", "YP0001", ""),
          YIBAO_ERR_INVALID, 2,
          "column 4 \"national_code\": \"YP0001\" is not a national drug "
          "code" },
        { ROW("item", "*", "ZL0001", "ZL0001", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"ZL0001\" is not a national item "
          "code" },
        { ROW("consumable", "*", "HC1", "C123", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"C123\" is not a national "
          "consumable code" },
        { ROW("diagnosis", "*", "ZD1", "I10", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"I10\" is not a national diagnosis "
          "code" },
        { ROW("operation", "*", "SS1", "51.23", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"51.23\" is not a national "
          "operation code" },
        { ROW("chronic", "*", "MB1", "M1", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"M1\" is not a national chronic "
          "code" },
        { ROW("staff", "*", "D001", "D001", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"D001\" is not a national staff "
          "code" },
        { ROW("dept", "*", "NK", "NK", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"NK\" is not a national dept "
          "code" },
        { ROW("dict:insutype", "*", "1", "3-10", ""), YIBAO_ERR_INVALID, 1,
          "column 4 \"national_code\": \"3-10\" is not a dict:insutype "
          "value (1..30 letters and digits)" },
        { ROW("drug", "*", "YP0001", DRUG_NAT, "bad\xc3"),
          YIBAO_ERR_INVALID, 1,
          "column 5 \"national_name\": \"bad\\xc3\" is not valid UTF-8" },
        { ROW("drug", "*", "YP0001", DRUG_NAT, "bad\x7f"),
          YIBAO_ERR_INVALID, 1,
          "column 5 \"national_name\": \"bad\\x7f\" has a control "
          "character" },
        { "drug\t*\tYP0001\t" DRUG_NAT "\tbad\rname\n", YIBAO_ERR_INVALID,
          1, "column 5 \"national_name\": \"bad\\x0dname\" has a control "
          "character" },
    };

    for (i = 0; i < TEST_NCASES(cases); i++) {
        map = test_build(t, cases[i].data);

        if (map != NULL) {
            fail_msg("case %zu was accepted", i);
        }

        if (t->err.line != cases[i].line
            || strcmp(t->err.msg, cases[i].msg) != 0)
        {
            fail_msg("case %zu: line %zu \"%s\", expected line %zu \"%s\"",
                     i, t->err.line, t->err.msg, cases[i].line,
                     cases[i].msg);
        }

        assert_int_equal(t->err.gwerr, 0);
    }

    /* the rc of each failure, through the builder itself */

    for (i = 0; i < TEST_NCASES(cases); i++) {
        yibao_map_builder_t  *b;

        b = yibao_map_builder_create(&t->alloc);
        assert_non_null(b);
        assert_int_equal(yibao_map_builder_add(b, U(cases[i].data),
                                               strlen(cases[i].data),
                                               &t->err),
                         cases[i].rc);
    }

    /* the longest local code and name, and one byte more */

    memset(longer, 'A', sizeof(longer));
    memcpy(longer, "drug\t*\t", 7);
    memcpy(longer + 7 + 150, "\t" DRUG_NAT "\t", 25);
    longer[7 + 150 + 25 + 600] = '\0';

    assert_non_null(test_build(t, longer));

    longer[7 + 150 + 25 + 600] = 'A';
    longer[7 + 150 + 25 + 601] = '\0';
    assert_null(test_build(t, longer));
    assert_int_equal(t->err.line, 1);
    assert_string_equal(t->err.msg, "column 5 \"national_name\" is longer "
                        "than 600 bytes");

    memmove(longer + 8, longer + 7, strlen(longer + 7) + 1);
    longer[7 + 150 + 25 + 601] = '\0';
    assert_null(test_build(t, longer));
    assert_int_equal(t->err.line, 1);
    assert_string_equal(t->err.msg, "column 3 \"local_code\": "
                        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                        "AAAAAAAAAAAAAAAA\"... is longer than 150 bytes");
}


static void
test_duplicates(void **state)
{
    test_ctx_t  *t = *state;

    const char  *files[3], *labels[3];

    /* within one file, at build time, naming both lines */

    assert_null(test_build(t,
        "# drugs\n"
        ROW("drug", "*", "YP0001", DRUG_NAT, "")
        ROW("drug", "entity:" ENTITY1, "YP0001", DRUG_NAT, "")
        ROW("item", "*", "YP0001", "001102000010000", "")
        "\n"
        ROW("drug", "*", "YP0001", "XA00AAA000A000000000001", "")));
    assert_int_equal(t->err.line, 6);
    assert_string_equal(t->err.msg,
                        "file 1 line 6: column 3 \"local_code\": \"YP0001\" "
                        "(kind drug, scope *) is a duplicate of line 2");

    assert_null(test_build(t,
        ROW("dict:insutype", "admdvs:3701", "1", "310", "")
        ROW("dict:psn_cert_type", "admdvs:3701", "1", "01", "")
        ROW("dict:insutype", "admdvs:3701", "1", "390", "")));
    assert_int_equal(t->err.line, 3);
    assert_string_equal(t->err.msg,
                        "file 1 line 3: column 3 \"local_code\": \"1\" "
                        "(kind dict:insutype, scope admdvs:3701) is a "
                        "duplicate of line 1");

    /* across files, with labels */

    files[0] = ROW("drug", "*", "YP0001", DRUG_NAT, "");
    files[1] = "# nothing\n";
    files[2] = ROW("staff", "clinic:" ORG1, "D001", "D370102000001", "")
               ROW("drug", "*", "YP0002", DRUG_NAT, "")
               ROW("drug", "*", "YP0001", DRUG_NAT, "");
    labels[0] = "drugs.tsv";
    labels[1] = "empty.tsv";
    labels[2] = "more \"drugs\".tsv";

    assert_null(test_build_files(t, files, labels, 3));
    assert_int_equal(t->err.line, 3);
    assert_string_equal(t->err.msg,
                        "\"more \\\"drugs\\\".tsv\" line 3: column 3 "
                        "\"local_code\": \"YP0001\" (kind drug, scope *) is "
                        "a duplicate of \"drugs.tsv\" line 1");

    assert_null(test_build_files(t, files, NULL, 3));
    assert_string_equal(t->err.msg,
                        "file 3 line 3: column 3 \"local_code\": \"YP0001\" "
                        "(kind drug, scope *) is a duplicate of file 1 "
                        "line 1");

    /* the same in different scopes is not a duplicate */

    files[2] = ROW("drug", "clinic:" ORG1, "YP0001", DRUG_NAT, "")
               ROW("drug", "entity:" ENTITY1, "YP0001", DRUG_NAT, "");
    t->map = test_build_files(t, files, labels, 3);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 3);
}


static void
test_files(void **state)
{
    test_ctx_t  *t = *state;

    const char         *files[6];
    yibao_map_scope_t   scope;

    files[0] = ROW("drug", "*", "YP0001", DRUG_NAT, NAME_DRUG);
    files[1] = "";
    files[2] = ROW("item", "*", "ZL0001", "001102000010000", "consult")
               ROW("item", "*", "ZL0002", "001102000010000-110200001", "");
    files[3] = "# only a comment\n\n";
    files[4] = ROW("diagnosis", "*", "ZD0001", "I10.x00", NAME_HTN);
    files[5] = ROW("staff", "entity:" ENTITY1, "D001", "D370102000001",
                   "Zhang");

    t->map = test_build_files(t, files, NULL, 6);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 5);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001", DRUG_NAT,
                 NAME_DRUG);
    test_maps_to(t->map, YIBAO_KIND_ITEM, NULL, &scope, "ZL0001",
                 "001102000010000", "consult");
    test_maps_to(t->map, YIBAO_KIND_ITEM, NULL, &scope, "ZL0002",
                 "001102000010000-110200001", "");
    test_maps_to(t->map, YIBAO_KIND_DIAGNOSIS, NULL, &scope, "ZD0001",
                 "I10.x00", NAME_HTN);
    test_maps_to(t->map, YIBAO_KIND_STAFF, NULL, &scope, "D001",
                 "D370102000001", "Zhang");

    /* a map of no rows at all */

    t->map = test_build_files(t, files + 1, NULL, 1);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 0);
    assert_true(yibao_map_bytes(t->map) > 0);
    assert_false(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "YP0001", NULL));
    assert_false(test_reverse(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                              DRUG_NAT, NULL));

    t->map = test_build_files(t, files, NULL, 0);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 0);
}


static void
test_failed_add_keeps_builder(void **state)
{
    test_ctx_t  *t = *state;

    yibao_map_scope_t     scope;
    yibao_map_builder_t  *b;

    static const char  good[] = ROW("drug", "*", "YP0001", DRUG_NAT, "");
    static const char  bad[] = ROW("drug", "*", "YP0002", DRUG_NAT, "")
                               ROW("drug", "*", "YP0003", "YP0003", "");

    b = yibao_map_builder_create(&t->alloc);
    assert_non_null(b);

    assert_int_equal(yibao_map_builder_add(b, U(good), strlen(good), &t->err),
                     YIBAO_OK);
    assert_int_equal(yibao_map_builder_add(b, U(bad), strlen(bad), &t->err),
                     YIBAO_ERR_INVALID);
    assert_int_equal(t->err.line, 2);

    t->map = yibao_map_build(b, &t->err);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 1);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    assert_true(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                            NULL));
    assert_false(test_lookup(t->map, YIBAO_KIND_DRUG, NULL, &scope,
                             "YP0002", NULL));
}


static void
test_crlf_comments(void **state)
{
    test_ctx_t  *t = *state;

    yibao_map_scope_t  scope;

    t->map = test_build(t,
        "\xef\xbb\xbf# a BOM, CRLF, comments, blank lines\r\n"
        "\r\n"
        "drug\t*\tYP0001\t" DRUG_NAT "\t" NAME_DRUG "\r\n"
        "   \t \r\n"
        "# item\t*\tZL0009\t001102000010000\tcommented out\r\n"
        "item\t*\tZL0001\t001102000010000\r\n"
        "consumable\t*\tHC0001\tC0101010011303807555\t\r\n"
        "diagnosis\t*\tZD0001\tJ18.900\tpneumonia");
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 4);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(t->map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001", DRUG_NAT,
                 NAME_DRUG);
    test_maps_to(t->map, YIBAO_KIND_ITEM, NULL, &scope, "ZL0001",
                 "001102000010000", "");
    test_maps_to(t->map, YIBAO_KIND_CONSUMABLE, NULL, &scope, "HC0001",
                 "C0101010011303807555", "");
    test_maps_to(t->map, YIBAO_KIND_DIAGNOSIS, NULL, &scope, "ZD0001",
                 "J18.900", "pneumonia");
    assert_false(test_lookup(t->map, YIBAO_KIND_ITEM, NULL, &scope,
                             "ZL0009", NULL));

    /* an error line counts the comments and blank lines before it */

    assert_null(test_build(t, "# x\r\n\r\n\r\ndrug\t*\tYP1\tbad\r\n"));
    assert_int_equal(t->err.line, 4);
    assert_string_equal(t->err.msg, "column 4 \"national_code\": \"bad\" is "
                        "not a national drug code");
}


/* a file of more lines than a row can name: nothing is allocated */

static void
test_too_many_lines(void **state)
{
    test_ctx_t  *t = *state;

    char                 *data;
    size_t                n, len;
    yibao_map_builder_t  *b;

    static const char  row[] = ROW("drug", "*", "YP0001", DRUG_NAT, "");

    n = 0xffffff;
    len = n + sizeof(row) - 1;

    data = malloc(len);
    assert_non_null(data);
    memset(data, '\n', n);
    memcpy(data + n, row, sizeof(row) - 1);

    b = yibao_map_builder_create(&t->alloc);
    assert_non_null(b);

    test_err_reset(t);
    yibao_test_arena_fail_from(&t->arena, 1);

    assert_int_equal(yibao_map_builder_add(b, U(data), len, &t->err),
                     YIBAO_ERR_TOO_LARGE);
    assert_int_equal(t->err.line, 0x1000000);
    assert_string_equal(t->err.msg, "the file has more than 16777215 "
                        "lines");
    assert_int_equal(t->arena.calls, 0);

    /* one line fewer is fine */

    yibao_test_arena_fail_at(&t->arena, 0);
    assert_int_equal(yibao_map_builder_add(b, U(data + 1), len - 1,
                                           &t->err),
                     YIBAO_OK);

    free(data);

    t->map = yibao_map_build(b, &t->err);
    assert_non_null(t->map);
    assert_int_equal(yibao_map_rows(t->map), 1);
}


/*
 * Every allocation of create, two adds and build fails in turn: each
 * failure is reported as NULL or YIBAO_ERR_NOMEM, never a crash, until
 * the whole sequence succeeds.
 */

static void
test_nomem(void **state)
{
    test_ctx_t  *t = *state;

    int                   rc;
    size_t                n, failures;
    yibao_map_t          *map;
    yibao_str_t           label;
    yibao_map_scope_t     scope;
    yibao_map_builder_t  *b;

    static const char  one[] = CORE_TABLE;
    static const char  two[] =
        ROW("drug", "admdvs:37", "YP0001", "XA00AAA000A000000000002", "p")
        ROW("drug", "clinic:" ORG1, "YP0001", "XA00AAA000A000000000006",
            "clinic")
        ROW("staff", "entity:" ENTITY2, "D001", "D370102000002", "Li");

    label.data = U("scoped.tsv");
    label.len = 10;
    failures = 0;

    for (n = 1; n < 100; n++) {
        yibao_test_arena_free(&t->arena);
        yibao_test_arena_fail_at(&t->arena, n);
        test_err_reset(t);
        map = NULL;

        b = yibao_map_builder_create(&t->alloc);
        if (b == NULL) {
            failures++;
            continue;
        }

        rc = yibao_map_builder_add(b, U(one), strlen(one), &t->err);
        if (rc == YIBAO_OK) {
            rc = yibao_map_builder_add_named(b, &label, U(two), strlen(two),
                                             &t->err);
        }

        if (rc == YIBAO_OK) {
            map = yibao_map_build(b, &t->err);
        }

        if (t->arena.failed == 0) {
            assert_int_equal(rc, YIBAO_OK);
            assert_non_null(map);
            break;
        }

        failures++;
        assert_null(map);
        assert_true(rc == YIBAO_OK || rc == YIBAO_ERR_NOMEM);
        assert_string_equal(t->err.msg, "out of memory");
        assert_int_equal(t->err.line, 0);
    }

    /*
     * create, file + label + arena twice; map, files, rows, order,
     * homes, contexts' firsts, their index (2), contexts, cells,
     * overflow, the reverse index (2)
     */

    assert_int_equal(failures, 19);
    assert_non_null(map);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_maps_to(map, YIBAO_KIND_DRUG, NULL, &scope, "YP0001",
                 "XA00AAA000A000000000006", "clinic");
    test_maps_to(map, YIBAO_KIND_CHRONIC, NULL, &scope, "MB0001", "M01607",
                 "hypertension");
}


/*
 * Rows whose strings do not all fit in a cell (48 bytes: local code,
 * national code, name, in that order), around that size, and the
 * builder's scratch released (and poisoned) before any lookup: the map
 * keeps nothing of it.
 */

static void
test_cells(void **state)
{
    test_ctx_t  *t = *state;

    char                  data[8192], local[160], name[640];
    size_t                i, k, n;
    yibao_map_t          *map;
    yibao_alloc_t         scratch_alloc;
    yibao_map_hit_t       hit;
    yibao_map_scope_t     scope;
    yibao_test_arena_t    scratch;
    yibao_map_builder_t  *b;

    /* local code lengths and name lengths (in 3-byte characters) */

    static const size_t  llens[] = { 2, 10, 25, 26, 47, 48, 49, 150 };
    static const size_t  nlens[] = { 0, 4, 5, 200 };

    yibao_test_arena_init(&scratch, &scratch_alloc);

    n = 0;

    for (i = 0; i < TEST_NCASES(llens); i++) {
        for (k = 0; k < TEST_NCASES(nlens); k++) {
            memset(local, 'A' + (int) k, llens[i]);
            local[llens[i]] = '\0';
            local[0] = (char) ('0' + i);
            test_name(name, nlens[k]);

            n += snprintf(data + n, sizeof(data) - n, "drug\t%s\t%s\t%s\t%s\n",
                          (i + k) % 2 ? "*" : "clinic:" ORG1, local,
                          DRUG_NAT, name);
        }
    }

    test_err_reset(t);

    b = yibao_map_builder_create(&t->alloc);
    assert_non_null(b);
    yibao_map_builder_scratch(b, &scratch_alloc);

    assert_int_equal(yibao_map_builder_add(b, U(data), n, &t->err),
                     YIBAO_OK);

    map = yibao_map_build(b, &t->err);
    assert_non_null(map);

    yibao_test_arena_free(&scratch);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");

    for (i = 0; i < TEST_NCASES(llens); i++) {
        for (k = 0; k < TEST_NCASES(nlens); k++) {
            memset(local, 'A' + (int) k, llens[i]);
            local[llens[i]] = '\0';
            local[0] = (char) ('0' + i);
            test_name(name, nlens[k]);

            test_maps_to(map, YIBAO_KIND_DRUG, NULL, &scope, local,
                         DRUG_NAT, name);

            /* the same code one byte longer or shorter is not there */

            local[llens[i]] = 'A';
            local[llens[i] + 1] = '\0';
            assert_false(test_lookup(map, YIBAO_KIND_DRUG, NULL, &scope,
                                     local, &hit));
        }
    }

    /* the national code back: the earliest row of its scope */

    memset(&hit, 0, sizeof(hit));
    assert_true(test_reverse(map, YIBAO_KIND_DRUG, NULL, NULL, DRUG_NAT,
                             &hit));
    test_str_equal(&hit.local, "0B");
    test_name(name, 4);
    test_str_equal(&hit.name, name);

    test_scope_set(&scope, ORG1, NULL, NULL);
    assert_true(test_reverse(map, YIBAO_KIND_DRUG, NULL, &scope, DRUG_NAT,
                             &hit));
    test_str_equal(&hit.local, "0A");
    test_str_equal(&hit.name, "");
}


/* n characters of 高 (3 bytes each) */

static void
test_name(char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        memcpy(p + 3 * i, "\xe9\xab\x98", 3);
    }

    p[3 * n] = '\0';
}


/* a 100,000-row table built here, every row looked up both ways */

#define TEST_LARGE_ROWS  100000

static void
test_large(void **state)
{
    test_ctx_t  *t = *state;

    char               *data, *p, local[32], national[32], name[64];
    size_t              i, size;
    const char         *kind;
    yibao_map_hit_t     hit;
    yibao_map_scope_t   scope, global;

    size = TEST_LARGE_ROWS * 128;
    data = malloc(size);
    assert_non_null(data);

    p = data;
    p += sprintf(p, "# generated\n");

    for (i = 0; i < TEST_LARGE_ROWS; i++) {
        switch (i % 4) {

        case 0:
            kind = "drug";
            sprintf(local, "YP%06zu", i);
            sprintf(national, "XJ01CAA040A00101%07zu", i);
            break;

        case 1:
            kind = "item";
            sprintf(local, "ZL%06zu", i);
            sprintf(national, "0011020%08zu", i);
            break;

        case 2:
            kind = "consumable";
            sprintf(local, "HC%06zu", i);
            sprintf(national, "C0101010011%09zu", i);
            break;

        default:
            kind = "staff";
            sprintf(local, "D%zu", i);
            sprintf(national, "D370102%06zu", i);
            break;
        }

        sprintf(name, "name %zu", i);

        /* every 10th row for one entity, the others global */

        p += sprintf(p, "%s\t%s\t%s\t%s\t%s\n", kind,
                     (i % 10 == 9) ? "entity:" ENTITY1 : "*", local,
                     national, name);
    }

    assert_true((size_t) (p - data) < size);

    t->map = test_build(t, data);
    free(data);

    if (t->map == NULL) {
        fail_msg("line %zu: %s", t->err.line, t->err.msg);
    }

    assert_int_equal(yibao_map_rows(t->map), TEST_LARGE_ROWS);
    assert_true(yibao_map_bytes(t->map) < TEST_LARGE_ROWS * 150);

    test_scope_set(&scope, ORG1, ENTITY1, "370102");
    test_scope_set(&global, ORG1, ENTITY2, "370102");

    for (i = 0; i < TEST_LARGE_ROWS; i++) {
        yibao_kind_e  k;

        switch (i % 4) {

        case 0:
            k = YIBAO_KIND_DRUG;
            sprintf(local, "YP%06zu", i);
            sprintf(national, "XJ01CAA040A00101%07zu", i);
            break;

        case 1:
            k = YIBAO_KIND_ITEM;
            sprintf(local, "ZL%06zu", i);
            sprintf(national, "0011020%08zu", i);
            break;

        case 2:
            k = YIBAO_KIND_CONSUMABLE;
            sprintf(local, "HC%06zu", i);
            sprintf(national, "C0101010011%09zu", i);
            break;

        default:
            k = YIBAO_KIND_STAFF;
            sprintf(local, "D%zu", i);
            sprintf(national, "D370102%06zu", i);
            break;
        }

        sprintf(name, "name %zu", i);

        test_maps_to(t->map, k, NULL, &scope, local, national, name);

        memset(&hit, 0, sizeof(hit));
        assert_true(test_reverse(t->map, k, NULL, &scope, national, &hit));
        test_str_equal(&hit.local, local);

        /* the entity's rows are out of reach of another entity */

        if (test_lookup(t->map, k, NULL, &global, local, NULL)
            != (i % 10 != 9))
        {
            fail_msg("row %zu: %s in another entity", i, local);
        }
    }
}


#define TEST_MAP(f)                                                          \
    cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_national_shapes),
        TEST_MAP(test_every_kind),
        TEST_MAP(test_dicts),
        TEST_MAP(test_precedence),
        TEST_MAP(test_reverse_lookups),
        TEST_MAP(test_lookup_arguments),
        TEST_MAP(test_errors),
        TEST_MAP(test_duplicates),
        TEST_MAP(test_files),
        TEST_MAP(test_failed_add_keeps_builder),
        TEST_MAP(test_crlf_comments),
        TEST_MAP(test_nomem),
        TEST_MAP(test_too_many_lines),
        TEST_MAP(test_large),
        TEST_MAP(test_cells),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
