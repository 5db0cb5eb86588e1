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

#include "yibao_rules.h"
#include "yibao_test_alloc.h"
#include "yibao_test_rules.h"


#define U(s)          ((const unsigned char *) (s))


typedef struct {
    yibao_test_arena_t         arena;
    yibao_alloc_t              alloc;
    yibao_err_t                err;
    yibao_rules_t             *rules;
} test_ctx_t;


static int
test_setup(void **state)
{
    test_ctx_t  *t;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);

    t->rules = yibao_rules_parse(U(RULES_TSV), strlen(RULES_TSV), &t->alloc,
                                 &t->err);
    if (t->rules == NULL) {
        fprintf(stderr, "setup: line %zu: %s\n", t->err.line, t->err.msg);
        return -1;
    }

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
test_rules_parse_good(void **state)
{
    test_ctx_t     *t = *state;
    yibao_rules_t  *rules;

    static const char  text[] =
        "\xef\xbb\xbf# BOM, CRLF, comments, blank lines\r\n"
        "\r\n"
        RULE("2204", "request", "feedetail[].cnt", "check:number")
        RULE("2204", "request", "feedetail[].cnt", "drug")
        RULE("*", "request", "feedetail[].cnt", "drug")
        RULE("2204", "answer", "feedetail[].cnt", "drug")
        RULE("2203A", "request", "diseinfo[].diag_code",
             "diagnosis\t-\t-")
        RULE("5204", "answer", "[]", "drug") "";

    assert_int_equal(RULES_COUNT, yibao_rules_count(t->rules));

    /* the last line ends a code path with "[]": an error */

    rules = yibao_rules_parse(U(text), strlen(text), &t->alloc, &t->err);
    assert_null(rules);
    assert_int_equal(t->err.line, 8);

    rules = yibao_rules_parse(U(text), strlen(text) - strlen("5204\tanswer"
                                                             "\t[]\tdrug\n"),
                              &t->alloc, &t->err);
    assert_non_null(rules);
    assert_int_equal(yibao_rules_count(rules), 5);

    rules = yibao_rules_parse(U(""), 0, &t->alloc, &t->err);
    assert_non_null(rules);
    assert_int_equal(yibao_rules_count(rules), 0);
}


typedef struct {
    const char           *text;
    size_t                line;
    const char           *words1;
    const char           *words2;
} test_rules_error_t;


static void
test_rules_parse_errors(void **state)
{
    test_ctx_t                *t = *state;
    yibao_rules_t             *rules;
    const test_rules_error_t  *e;

    static const test_rules_error_t  errors[] = {
        { RULE("2204", "request", "a.b", "drug")
          RULE("22O4", "request", "a.b", "drug"),
          2, "column 1 \"infno\"", "\"22O4\"" },
        { "# comment\n\n" RULE("2204", "requst", "a.b", "drug"),
          3, "column 2 \"direction\"", "\"requst\"" },
        { RULE("2204", "request", "feedetail[.x", "drug"),
          1, "column 3 \"path\": \"feedetail[.x\"", "position 10" },
        { RULE("2204", "request", "a..b", "drug"),
          1, "column 3 \"path\": \"a..b\"", "position 3" },
        { RULE("2204", "request", "a.", "drug"),
          1, "column 3 \"path\"", "ends where a field name" },
        { RULE("2204", "request", "[]x", "drug"),
          1, "column 3 \"path\"", "position 3" },
        { RULE("2204", "request", "", "drug"),
          1, "column 3 \"path\": \"\"", "is empty" },
        { RULE("2204", "request", "a.b.c.d.e.f.g.h.i", "drug"),
          1, "column 3 \"path\"", "more than 8 steps" },
        { RULE("2204", "request", "a.b", "drugs"),
          1, "column 4 \"what\": \"drugs\"", "not a kind" },
        { RULE("2204", "request", "a.b", "drug,,item"),
          1, "column 4 \"what\"", "empty kind" },
        { RULE("2204", "request", "a.b", "drug,item,drug"),
          1, "column 4 \"what\"", "drug twice" },
        { RULE("2204", "request", "a.b", "drug,dict:psn_cert_type"),
          1, "column 4 \"what\"", "stands alone" },
        { RULE("2204", "request", "a.b", "check:numbr"),
          1, "column 4 \"what\": \"check:numbr\"", "not a check" },
        { RULE("5204", "answer", "[].a", "check:number"),
          1, "column 4 \"what\"", "requests only" },
        { RULE("2204", "request", "feedetail[]", "drug"),
          1, "column 3 \"path\"", "must end with a field name" },
        { RULE("2204", "request", "feedetail[].a", "drug\tb"),
          1, "column 5 \"target\": \"b\"", "beside" },
        { RULE("2204", "request", "feedetail[].a", "drug\tother[].b"),
          1, "column 5 \"target\"", "beside" },
        { RULE("2204", "request", "feedetail[].a",
               "check:number\tfeedetail[].b"),
          1, "column 5 \"target\"", "has no target" },
        { RULE("5204", "answer", "[].a", "staff\t-\t[].b"),
          1, "column 6 \"name_target\"", "answer rule" },
        { RULE("2204", "request", "f[].a", "drug\tf[].b\tf[].b"),
          1, "column 6 \"name_target\"", "field of its own" },
        { "2204\trequest\ta.b\n",
          1, "3 columns", "at least 4" },
        { "2204\trequest\ta.b\tdrug\t-\t-\tx\n",
          1, "7 columns", "at most 6" },
        { RULE("2204", "request", "a.b", "drug\x01"),
          1, "column 4", "\\x01" },
        { RULE("2204", "request", "feedetail[].cnt", "check:number")
          "# duplicate below\n"
          RULE("2204", "request", "feedetail[].cnt", "check:number"),
          3, "feedetail[].cnt", "at line 1" },
        { RULE("*", "request", "data.a", "staff")
          RULE("*", "request", "data.a", "dept"),
          2, "code request rule for infno *", "at line 1" },
        { NULL, 0, NULL, NULL }
    };

    for (e = errors; e->text != NULL; e++) {
        memset(&t->err, 0, sizeof(yibao_err_t));

        rules = yibao_rules_parse(U(e->text), strlen(e->text), &t->alloc,
                                  &t->err);

        if (rules != NULL || t->err.line != e->line
            || strstr(t->err.msg, e->words1) == NULL
            || strstr(t->err.msg, e->words2) == NULL)
        {
            fprintf(stderr, "case \"%s\": line %zu: %s\n", e->text,
                    t->err.line, t->err.msg);
        }

        assert_null(rules);
        assert_int_equal(t->err.line, e->line);
        assert_int_equal(t->err.gwerr, 0);
        assert_non_null(strstr(t->err.msg, e->words1));
        assert_non_null(strstr(t->err.msg, e->words2));
    }
}


static void
test_rules_parse_nomem(void **state)
{
    test_ctx_t     *t = *state;

    size_t          n;
    yibao_rules_t  *rules;

    rules = NULL;

    for (n = 1; n < 1000; n++) {
        yibao_test_arena_fail_at(&t->arena, n);

        rules = yibao_rules_parse(U(RULES_TSV), strlen(RULES_TSV),
                                  &t->alloc, &t->err);
        if (rules != NULL) {
            break;
        }

        assert_string_equal(t->err.msg, "out of memory");
    }

    yibao_test_arena_fail_at(&t->arena, 0);

    assert_non_null(rules);
    assert_true(n > 10);
    assert_int_equal(yibao_rules_count(rules), RULES_COUNT);
}


/* the rules of an infno and direction: its own and "*", in file order */

static void
test_rules_next(void **state)
{
    test_ctx_t          *t = *state;

    size_t               i, k, n;
    yibao_str_t          infno;
    const yibao_rule_t  *rule;

    static const struct {
        const char      *infno;
        unsigned         answer;
        size_t           count;
        const char      *first;
        const char      *last;
    } cases[] = {
        { "2204", 0, 10, "feedetail[].medins_list_codg", "data.atddr_no" },
        { "2201", 0, 5, "data.psn_cert_type", "data.atddr_no" },
        { "9999", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "5204", 1, 2, "[].bilg_dr_codg", "[].med_list_codg" },
        { "5203", 1, 1, "setlinfo.psn_cert_type", "setlinfo.psn_cert_type" },
        { "2204", 1, 0, NULL, NULL },
        { "5204", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "22041", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "220", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "2204220422042204", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "", 0, 1, "data.atddr_no", "data.atddr_no" },
        { "", 1, 0, NULL, NULL }
    };

    for (n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
        infno.data = U(cases[n].infno);
        infno.len = strlen(cases[n].infno);

        i = 0;
        rule = yibao_rules_next(t->rules, &infno, cases[n].answer, &i);

        if (cases[n].count == 0) {
            assert_null(rule);
            continue;
        }

        assert_non_null(rule);
        assert_string_equal((const char *) rule->path.data,
                            cases[n].first);

        i = 0;

        for (k = 0; k < cases[n].count; k++) {
            rule = yibao_rules_next(t->rules, &infno, cases[n].answer, &i);
            assert_non_null(rule);
            assert_int_equal(rule->answer, cases[n].answer);
        }

        assert_string_equal((const char *) rule->path.data, cases[n].last);
        assert_null(yibao_rules_next(t->rules, &infno, cases[n].answer, &i));
        assert_null(yibao_rules_next(t->rules, &infno, cases[n].answer, &i));
    }
}


/* what the translation reads of a rule: steps, kinds, targets, type */

static void
test_rules_fields(void **state)
{
    test_ctx_t          *t = *state;

    size_t               i;
    yibao_str_t          infno = yibao_string("2204");
    const yibao_rule_t  *rule;

    i = 0;
    rule = yibao_rules_next(t->rules, &infno, 0, &i);
    assert_non_null(rule);

    assert_int_equal(rule->type, YIBAO_RULE_CODE);
    assert_int_equal(rule->line, 2);
    assert_int_equal(rule->nsegs, 2);
    assert_string_equal(rule->segs[0].key, "feedetail");
    assert_true(rule->segs[0].array);
    assert_string_equal(rule->segs[1].key, "medins_list_codg");
    assert_false(rule->segs[1].array);
    assert_int_equal(rule->nkinds, 3);
    assert_int_equal(rule->kinds[0], YIBAO_KIND_DRUG);
    assert_int_equal(rule->kinds[1], YIBAO_KIND_ITEM);
    assert_int_equal(rule->kinds[2], YIBAO_KIND_CONSUMABLE);
    assert_int_equal(rule->kind_bits, (1u << YIBAO_KIND_DRUG)
                                      | (1u << YIBAO_KIND_ITEM)
                                      | (1u << YIBAO_KIND_CONSUMABLE));
    assert_string_equal(rule->target, "med_list_codg");
    assert_null(rule->name_target);
    assert_false(rule->object);

    /* check:fee_amount names the row itself */

    while ((rule = yibao_rules_next(t->rules, &infno, 0, &i)) != NULL
           && rule->type != YIBAO_RULE_FEE_AMOUNT)
    {
        /* void */
    }

    assert_non_null(rule);
    assert_true(rule->object);
    assert_int_equal(rule->nsegs, 1);
    assert_null(rule->target);

    /* a dictionary, its name pointing into what; a root array */

    infno.data = U("5203");
    infno.len = 4;
    i = 0;
    rule = yibao_rules_next(t->rules, &infno, 1, &i);
    assert_non_null(rule);
    assert_int_equal(rule->kinds[0], YIBAO_KIND_DICT);
    assert_int_equal(rule->dict.len, strlen("psn_cert_type"));
    assert_memory_equal(rule->dict.data, "psn_cert_type", rule->dict.len);

    infno.data = U("5204");
    i = 0;
    rule = yibao_rules_next(t->rules, &infno, 1, &i);
    assert_non_null(rule);
    assert_null(rule->segs[0].key);
    assert_true(rule->segs[0].array);
    assert_string_equal(rule->segs[1].key, "bilg_dr_codg");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_rules_parse_good, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_rules_parse_errors, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_rules_parse_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_rules_next, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_rules_fields, test_setup,
                                        test_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
