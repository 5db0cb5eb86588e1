/*
 * Copyright (C) yibao-gateway authors
 */


#define _GNU_SOURCE

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_gwerr.h"
#include "yibao_map.h"
#include "yibao_translate.h"
#include "yibao_test_alloc.h"
#include "yibao_test_rules.h"


#define U(s)          ((const unsigned char *) (s))

#define ORG1          "PDY60134132080312D6001"
#define ORG2          "PDY60134132080312D6002"

#define DRUG_NAT      "XJ01CAA040A001010102699"
#define DRUG_NAT_ORG  "XJ01CAA040A001010102700"
#define ITEM_NAT      "001102000010000"
#define CONS_NAT      "C0101010011303807555"

#define ID_GOOD       "370102195603152017"
#define ID_BAD        "370102195603152018"


/* 阿莫西林胶囊, 高血压 */
#define NAME_DRUG     "\xe9\x98\xbf\xe8\x8e\xab\xe8\xa5\xbf\xe6\x9e\x97" \
                      "\xe8\x83\xb6\xe5\x9b\x8a"
#define NAME_HTN      "\xe9\xab\x98\xe8\xa1\x80\xe5\x8e\x8b"

#define MAP_TSV                                                              \
    "# kind\tscope\tlocal\tnational\tname\n"                                 \
    "drug\t*\tYP0001\t" DRUG_NAT "\t" NAME_DRUG "\n"                         \
    "drug\tclinic:" ORG1 "\tYP0001\t" DRUG_NAT_ORG "\tclinic own\n"          \
    "item\t*\tZL0001\t" ITEM_NAT "\tconsultation\n"                          \
    "consumable\t*\tHC0001\t" CONS_NAT "\tsyringe\n"                         \
    "staff\t*\tDR01\tD370102000001\tZhang\n"                                 \
    "staff\t*\tDR02\tD370102000002\tLi\n"                                    \
    "dept\t*\tNK\tA03\tinternal medicine\n"                                  \
    "dept\t*\tQK\tA02\tgeneral practice\n"                                   \
    "diagnosis\t*\tGXY\tI10.x00\t" NAME_HTN "\n"                             \
    "chronic\t*\tMXB01\tM01607\tchronic hypertension\n"                      \
    "dict:psn_cert_type\t*\t1\t01\tresident ID card\n"                       \
    "dict:mdtrt_cert_type\t*\tSFZ\t02\tresident ID card\n"


/* JSON written with ' for " to stay readable; see test_json(). */

#define ENV_HEAD(infno)                                                      \
    "{'infno':'" infno "','msgid':'H37010200001202401150830100003',"         \
    "'mdtrtarea_admvs':'370102','insuplc_admdvs':'370102',"                  \
    "'recer_sys_code':'FSI_LOCAL','dev_no':'','dev_safe_info':'',"           \
    "'cainfo':'','signtype':'','infver':'V1.0','opter_type':'1',"            \
    "'opter':'001','opter_name':'Zhang','inf_time':'2024-01-15 08:30:10',"   \
    "'fixmedins_code':'H37010200001','fixmedins_name':'clinic',"             \
    "'sign_no':'370000202401150800000012','input':"

#define ENV(infno, input)  ENV_HEAD(infno) input "}"

#define ROW_IDS                                                              \
    "'mdtrt_id':'370000170527620000000000000001',"                           \
    "'psn_no':'37000000000000000000123456','chrg_bchno':'20240115000001',"

#define REQ_2204                                                             \
    ENV("2204", "{'feedetail':["                                             \
    "{'feedetl_sn':'1'," ROW_IDS "'dise_codg':'','rxno':'RX0001',"           \
    "'rx_circ_flag':'0','fee_ocur_time':'2024-01-15 08:30:00',"              \
    "'med_list_codg':'','medins_list_codg':'ZL0001',"                        \
    "'det_item_fee_sumamt':10.00,'cnt':1,'pric':10.00,'sin_dos_dscr':'',"    \
    "'used_frqu_dscr':'','prd_days':0,'medc_way_dscr':'',"                   \
    "'bilg_dept_codg':'QK','bilg_dept_name':'GP','bilg_dr_codg':'DR01',"     \
    "'bilg_dr_name':'Zhang','hosp_appr_flag':'1'},"                          \
    "{'feedetl_sn':'2'," ROW_IDS "'med_list_codg':'',"                       \
    "'medins_list_codg':'YP0001','det_item_fee_sumamt':'25.20','cnt':2,"     \
    "'pric':'12.60','prd_days':'','bilg_dept_codg':'A02',"                   \
    "'bilg_dr_codg':'D370102000001','hosp_appr_flag':'1'},"                  \
    "{'feedetl_sn':'3'," ROW_IDS "'medins_list_codg':'HC0001',"              \
    "'det_item_fee_sumamt':3.5,'cnt':1,'pric':3.5,'bilg_dept_codg':'NK',"    \
    "'bilg_dr_codg':'DR02'},"                                                \
    "{'feedetl_sn':'4'," ROW_IDS "'med_list_codg':'',"                       \
    "'medins_list_codg':'" DRUG_NAT "','det_item_fee_sumamt':12.6,"          \
    "'cnt':1,'pric':12.6,'bilg_dept_codg':'','bilg_dr_codg':null}"           \
    "]}")


typedef struct {
    yibao_test_arena_t         arena;
    yibao_alloc_t              alloc;
    yibao_err_t                err;
    yibao_map_t               *map;
    yibao_rules_t             *rules;
    yibao_map_scope_t          scope;
    yibao_translate_opts_t     opts;
    yibao_translate_result_t   res;
    yibao_envelope_t           env;
} test_ctx_t;


/*
 * jansson allocates with these, so that every test can assert that no
 * JSON value outlives its document and make chosen allocations fail.
 */

static size_t  test_json_live;
static size_t  test_json_calls;
static size_t  test_json_fail_at;


static void *
test_json_malloc(size_t size)
{
    void  *p;

    test_json_calls++;

    if (test_json_fail_at != 0 && test_json_calls >= test_json_fail_at) {
        return NULL;
    }

    p = malloc(size);

    if (p != NULL) {
        test_json_live++;
    }

    return p;
}


static void
test_json_free(void *p)
{
    if (p != NULL) {
        test_json_live--;
        free(p);
    }
}


static void
test_json_fail_from(size_t n)
{
    test_json_calls = 0;
    test_json_fail_at = n;
}


/* a copy of s with every ' turned into ", freed by the caller */

static char *
test_json(const char *s)
{
    char    *p;
    size_t   i;

    p = strdup(s);
    assert_non_null(p);

    for (i = 0; p[i] != '\0'; i++) {
        if (p[i] == '\'') {
            p[i] = '"';
        }
    }

    return p;
}


static int
test_setup(void **state)
{
    test_ctx_t           *t;
    yibao_map_builder_t  *b;

    t = calloc(1, sizeof(test_ctx_t));
    if (t == NULL) {
        return -1;
    }

    yibao_test_arena_init(&t->arena, &t->alloc);

    b = yibao_map_builder_create(&t->alloc);
    if (b == NULL
        || yibao_map_builder_add(b, U(MAP_TSV), strlen(MAP_TSV), &t->err)
           != YIBAO_OK)
    {
        fprintf(stderr, "map: line %zu: %s\n", t->err.line, t->err.msg);
        return -1;
    }

    t->map = yibao_map_build(b, &t->err);
    t->rules = yibao_rules_parse(U(RULES_TSV), strlen(RULES_TSV), &t->alloc,
                                 &t->err);

    if (t->map == NULL || t->rules == NULL) {
        fprintf(stderr, "setup: line %zu: %s\n", t->err.line, t->err.msg);
        return -1;
    }

    t->scope.org_code.data = U(ORG2);
    t->scope.org_code.len = sizeof(ORG2) - 1;
    t->scope.entity_code.data = U("H37010200001");
    t->scope.entity_code.len = 12;
    t->scope.admdvs.data = U("370102");
    t->scope.admdvs.len = 6;

    *state = t;

    return 0;
}


static int
test_teardown(void **state)
{
    test_ctx_t  *t = *state;

    yibao_envelope_free(&t->env);
    yibao_test_arena_free(&t->arena);
    free(t);

    assert_int_equal(test_json_live, 0);

    return 0;
}


static void
test_load(test_ctx_t *t, const char *s)
{
    int                             rc;
    char                           *json;
    static yibao_envelope_limits_t  limits = { 32, 100000 };

    yibao_envelope_free(&t->env);

    json = test_json(s);
    rc = yibao_envelope_parse(U(json), strlen(json), &limits, &t->env,
                              &t->err);
    free(json);

    if (rc != YIBAO_OK) {
        fprintf(stderr, "envelope: %s\n", t->err.msg);
    }

    assert_int_equal(rc, YIBAO_OK);
}


static int
test_run(test_ctx_t *t)
{
    memset(&t->err, 0, sizeof(yibao_err_t));

    return yibao_translate_request(&t->env, t->rules, t->map, &t->scope,
                                   &t->opts, &t->alloc, &t->res, &t->err);
}


/* input.<array>[i].<key> of the loaded envelope, or input.<array>.<key> */

static json_t *
test_get(test_ctx_t *t, const char *array, int i, const char *key)
{
    json_t  *v;

    v = json_object_get(json_object_get(t->env.doc, "input"), array);

    if (i >= 0) {
        v = json_array_get(v, (size_t) i);
    }

    return json_object_get(v, key);
}


static void
test_assert_str(json_t *v, const char *s)
{
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), s);
}


static void
test_assert_has(const yibao_str_t *out, const char *s)
{
    if (memmem(out->data, out->len, s, strlen(s)) == NULL) {
        fprintf(stderr, "\"%s\" not in \"%.*s\"\n", s, (int) out->len,
                (const char *) out->data);
    }

    assert_non_null(memmem(out->data, out->len, s, strlen(s)));
}


static void
test_assert_out(const yibao_str_t *out, const char *s)
{
    if (out->len != strlen(s) || memcmp(out->data, s, out->len) != 0) {
        fprintf(stderr, "expected \"%s\"\n     got \"%.*s\"\n", s,
                (int) out->len, (const char *) out->data);
    }

    assert_int_equal(out->len, strlen(s));
    assert_memory_equal(out->data, s, out->len);
}


static char *
test_list(test_ctx_t *t)
{
    assert_non_null(t->res.list.data);
    assert_int_equal(strlen((const char *) t->res.list.data),
                     t->res.list.len);

    return (char *) t->res.list.data;
}


static void
test_rules_file(void **state)
{
    test_ctx_t     *t = *state;

    long            size;
    FILE           *f;
    char           *data;
    yibao_rules_t  *rules;

    f = fopen("conf/translate-rules.tsv", "rb");
    assert_non_null(f);

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0);
    rewind(f);

    data = malloc((size_t) size);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t) size, f), (size_t) size);
    fclose(f);

    rules = yibao_rules_parse(U(data), (size_t) size, &t->alloc, &t->err);

    /* the rules are copied: the file's bytes may go */

    memset(data, 'x', (size_t) size);
    free(data);

    if (rules == NULL) {
        fprintf(stderr, "translate-rules.tsv line %zu: %s\n", t->err.line,
                t->err.msg);
    }

    assert_non_null(rules);
    assert_true(yibao_rules_count(rules) >= 50);

    /* and they work on the realistic 2204 */

    t->rules = rules;
    test_load(t, REQ_2204);
    assert_int_equal(test_run(t), YIBAO_OK);
    test_assert_str(test_get(t, "feedetail", 0, "med_list_codg"), ITEM_NAT);
    test_assert_str(test_get(t, "feedetail", 2, "bilg_dept_codg"), "A03");
    assert_true(json_is_integer(test_get(t, "feedetail", 1, "prd_days")));
}


static void
test_translate_2204(void **state)
{
    test_ctx_t   *t = *state;

    yibao_str_t   out;

    test_load(t, REQ_2204);

    assert_int_equal(test_run(t), YIBAO_OK);
    assert_int_equal(t->res.problems, 0);
    assert_int_equal(t->res.translated, 7);

    /* row 0: item, dept and staff; the local item code stays */
    test_assert_str(test_get(t, "feedetail", 0, "med_list_codg"), ITEM_NAT);
    test_assert_str(test_get(t, "feedetail", 0, "medins_list_codg"),
                    "ZL0001");
    test_assert_str(test_get(t, "feedetail", 0, "bilg_dept_codg"), "A02");
    test_assert_str(test_get(t, "feedetail", 0, "bilg_dr_codg"),
                    "D370102000001");

    /* row 1: drug; national staff and dept codes passed as they are */
    test_assert_str(test_get(t, "feedetail", 1, "med_list_codg"), DRUG_NAT);
    test_assert_str(test_get(t, "feedetail", 1, "bilg_dept_codg"), "A02");
    test_assert_str(test_get(t, "feedetail", 1, "bilg_dr_codg"),
                    "D370102000001");

    /* row 2: consumable, the target created */
    test_assert_str(test_get(t, "feedetail", 2, "med_list_codg"), CONS_NAT);
    test_assert_str(test_get(t, "feedetail", 2, "bilg_dept_codg"), "A03");
    test_assert_str(test_get(t, "feedetail", 2, "bilg_dr_codg"),
                    "D370102000002");

    /* row 3: a national code in medins_list_codg fills the empty target */
    test_assert_str(test_get(t, "feedetail", 3, "med_list_codg"), DRUG_NAT);
    test_assert_str(test_get(t, "feedetail", 3, "bilg_dept_codg"), "");
    assert_true(json_is_null(test_get(t, "feedetail", 3, "bilg_dr_codg")));

    /* the numbers: strings made numbers, "" made 0, all exact */

    assert_int_equal(yibao_envelope_serialize(&t->env, &t->alloc, &out),
                     YIBAO_OK);
    test_assert_has(&out, "\"det_item_fee_sumamt\":25.2,\"cnt\":2,"
                          "\"pric\":12.6,\"prd_days\":0,");
    test_assert_has(&out, "\"med_list_codg\":\"" ITEM_NAT "\","
                          "\"medins_list_codg\":\"ZL0001\"");
    test_assert_has(&out, "\"bilg_dr_codg\":\"D370102000002\","
                          "\"med_list_codg\":\"" CONS_NAT "\"}");
    test_assert_has(&out, "\"det_item_fee_sumamt\":10,\"cnt\":1,"
                          "\"pric\":10,");
}


static void
test_translate_scope(void **state)
{
    test_ctx_t  *t = *state;

    t->scope.org_code.data = U(ORG1);

    test_load(t, REQ_2204);
    assert_int_equal(test_run(t), YIBAO_OK);

    test_assert_str(test_get(t, "feedetail", 1, "med_list_codg"),
                    DRUG_NAT_ORG);

    /* passed as national; not looked up again */
    test_assert_str(test_get(t, "feedetail", 3, "med_list_codg"), DRUG_NAT);
}


static void
test_translate_names(void **state)
{
    test_ctx_t  *t = *state;

    test_load(t, ENV("2203", "{'mdtrtinfo':{'mdtrt_id':'1',"
                     "'dise_codg':'MXB01','dise_name':'htn'},"
                     "'diseinfo':[{'diag_type':'1','diag_code':'GXY',"
                     "'diag_name':'gao xue ya'},{'diag_code':'I10.x00',"
                     "'diag_name':'kept'},{'diag_code':'GXY'}]}"));

    assert_int_equal(test_run(t), YIBAO_OK);
    assert_int_equal(t->res.translated, 3);

    test_assert_str(test_get(t, "mdtrtinfo", -1, "dise_codg"), "M01607");
    test_assert_str(test_get(t, "mdtrtinfo", -1, "dise_name"),
                    "chronic hypertension");
    test_assert_str(test_get(t, "diseinfo", 0, "diag_code"), "I10.x00");
    test_assert_str(test_get(t, "diseinfo", 0, "diag_name"), NAME_HTN);
    test_assert_str(test_get(t, "diseinfo", 1, "diag_name"), "kept");
    test_assert_str(test_get(t, "diseinfo", 2, "diag_name"), NAME_HTN);
}


static void
test_translate_other_infno(void **state)
{
    test_ctx_t  *t = *state;

    /* no rule for 9001: nothing happens; "*" rules apply everywhere */

    test_load(t, ENV("9001", "{'signIn':{'opter_no':'DR01'}}"));
    assert_int_equal(test_run(t), YIBAO_OK);
    assert_int_equal(t->res.translated, 0);
    test_assert_str(test_get(t, "signIn", -1, "opter_no"), "DR01");

    test_load(t, ENV("5301", "{'data':{'atddr_no':'DR02'}}"));
    assert_int_equal(test_run(t), YIBAO_OK);
    assert_int_equal(t->res.translated, 1);
    test_assert_str(test_get(t, "data", -1, "atddr_no"), "D370102000002");

    /* a single object where the rule names an array: one row */

    test_load(t, ENV("2204", "{'feedetail':{'medins_list_codg':'LOC1'}}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail.medins_list_codg=LOC1 "
                        "(drug,item,consumable)");
}


static void
test_translate_repeated_codes(void **state)
{
    test_ctx_t  *t = *state;

    /*
     * the lines of one visit repeat their codes: each is translated,
     * each miss listed, and a code seen by one rule means nothing to
     * the next ("NK" is a department, not a doctor)
     */

    test_load(t, ENV("2204", "{'feedetail':["
                     "{'bilg_dr_codg':'DR01','bilg_dept_codg':'NK'},"
                     "{'bilg_dr_codg':'DR01','bilg_dept_codg':'NK'},"
                     "{'bilg_dr_codg':'NK','bilg_dept_codg':'DR01'},"
                     "{'bilg_dr_codg':'NK','bilg_dept_codg':'NK'},"
                     "{'bilg_dr_codg':'DR02','bilg_dept_codg':'QK'},"
                     "{'bilg_dr_codg':'DR01','bilg_dept_codg':'QK'}]}"));

    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->res.translated, 4 + 5);
    assert_string_equal(test_list(t),
                        "feedetail[2].bilg_dr_codg=NK (staff); "
                        "feedetail[3].bilg_dr_codg=NK (staff); "
                        "feedetail[2].bilg_dept_codg=DR01 (dept)");

    test_assert_str(test_get(t, "feedetail", 0, "bilg_dr_codg"),
                    "D370102000001");
    test_assert_str(test_get(t, "feedetail", 1, "bilg_dr_codg"),
                    "D370102000001");
    test_assert_str(test_get(t, "feedetail", 4, "bilg_dr_codg"),
                    "D370102000002");
    test_assert_str(test_get(t, "feedetail", 5, "bilg_dr_codg"),
                    "D370102000001");
    test_assert_str(test_get(t, "feedetail", 1, "bilg_dept_codg"), "A03");
    test_assert_str(test_get(t, "feedetail", 3, "bilg_dept_codg"), "A03");
    test_assert_str(test_get(t, "feedetail", 5, "bilg_dept_codg"), "A02");
}


static void
test_translate_every_problem(void **state)
{
    test_ctx_t  *t = *state;

    int          i;
    char         buf[8192], *p;

    p = buf;
    p += sprintf(p, "%s", ENV_HEAD("2204") "{'feedetail':[");

    for (i = 0; i < 8; i++) {
        p += sprintf(p, "%s{'feedetl_sn':'%d'," ROW_IDS
                     "'medins_list_codg':'%s%d','det_item_fee_sumamt':%s,"
                     "'cnt':2,'pric':12.60,'bilg_dr_codg':'DR01'}",
                     i ? "," : "", i + 1,
                     (i == 0 || i == 3 || i == 7) ? "LOC00" : "YP000",
                     (i == 0 || i == 3 || i == 7) ? i : 1,
                     i == 5 ? "25.21" : "25.20");
    }

    sprintf(p, "]}}");

    test_load(t, buf);

    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_UNMAPPED);
    assert_string_equal(t->err.msg, "3 codes have no national mapping and "
                                    "1 check failed");
    assert_int_equal(t->res.problems, 4);
    assert_int_equal(t->res.translated, 5 + 8);

    assert_string_equal(test_list(t),
        "feedetail[0].medins_list_codg=LOC000 (drug,item,consumable); "
        "feedetail[3].medins_list_codg=LOC003 (drug,item,consumable); "
        "feedetail[7].medins_list_codg=LOC007 (drug,item,consumable); "
        "feedetail[5].det_item_fee_sumamt=25.21 "
        "(not cnt 2 x pric 12.6 within 0.01)");

    /* the document is released completely (checked in the teardown) */
}


static void
test_translate_summaries(void **state)
{
    test_ctx_t  *t = *state;

    test_load(t, ENV("2204", "{'feedetail':[{'medins_list_codg':'LOC1'}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(t->err.msg, "1 code has no national mapping");
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_UNMAPPED);

    test_load(t, ENV("2204", "{'feedetail':[{'det_item_fee_sumamt':1,"
                     "'cnt':1,'pric':2},{'det_item_fee_sumamt':5,"
                     "'cnt':1,'pric':2}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(t->err.msg, "2 checks failed");
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_FEE_AMOUNT);

    /* the gwerr is the first listed check's; codes run first */

    test_load(t, ENV("2204", "{'feedetail':[{'det_item_fee_sumamt':1,"
                     "'cnt':1,'pric':2},{'bilg_dr_codg':7}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_CODE_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[1].bilg_dr_codg=7 (staff: not a string); "
                        "feedetail[0].det_item_fee_sumamt=1 "
                        "(not cnt 1 x pric 2 within 0.01)");
}


static void
test_translate_target_national(void **state)
{
    test_ctx_t  *t = *state;

    /* the caller mapped the code itself: no problem, nothing changes */

    test_load(t, ENV("2204", "{'feedetail':[{'medins_list_codg':'LOC9',"
                     "'med_list_codg':'" ITEM_NAT "'},"
                     "{'medins_list_codg':'LOC8','med_list_codg':'LOC8'}]}"));

    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[1].medins_list_codg=LOC8 "
                        "(drug,item,consumable)");
    test_assert_str(test_get(t, "feedetail", 0, "med_list_codg"), ITEM_NAT);
}


static void
test_translate_passthrough(void **state)
{
    test_ctx_t  *t = *state;

#define REQ_LOCAL                                                            \
    ENV("2204", "{'feedetail':[{'medins_list_codg':'LOC9',"                  \
        "'bilg_dr_codg':'DRX','bilg_dept_codg':'NK'}]}")

    t->opts.passthrough = 1u << YIBAO_KIND_DRUG;

    test_load(t, REQ_LOCAL);
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t), "feedetail[0].bilg_dr_codg=DRX "
                                      "(staff)");

    t->opts.passthrough = (1u << YIBAO_KIND_CONSUMABLE)
                          | (1u << YIBAO_KIND_STAFF);

    test_load(t, REQ_LOCAL);
    assert_int_equal(test_run(t), YIBAO_OK);
    assert_int_equal(t->res.translated, 1);
    test_assert_str(test_get(t, "feedetail", 0, "medins_list_codg"), "LOC9");
    test_assert_str(test_get(t, "feedetail", 0, "bilg_dr_codg"), "DRX");
    test_assert_str(test_get(t, "feedetail", 0, "bilg_dept_codg"), "A03");
    assert_null(test_get(t, "feedetail", 0, "med_list_codg"));

    t->opts.passthrough = 1u << YIBAO_KIND_DEPT;

    test_load(t, REQ_LOCAL);
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->res.problems, 2);
}


static void
test_check_number(void **state)
{
    test_ctx_t  *t = *state;

    json_t      *v;

    test_load(t, ENV("2204", "{'feedetail':["
                     "{'det_item_fee_sumamt':'','cnt':null,'pric':'12.60',"
                     "'prd_days':'3'},"
                     "{'det_item_fee_sumamt':'-1.5e1','cnt':'-3',"
                     "'pric':5},"
                     "{'cnt':1}]}"));

    assert_int_equal(test_run(t), YIBAO_OK);

    v = test_get(t, "feedetail", 0, "det_item_fee_sumamt");
    assert_true(json_is_integer(v) && json_integer_value(v) == 0);
    v = test_get(t, "feedetail", 0, "cnt");
    assert_true(json_is_integer(v) && json_integer_value(v) == 0);
    v = test_get(t, "feedetail", 0, "pric");
    assert_true(json_is_real(v) && json_real_value(v) == 12.6);
    v = test_get(t, "feedetail", 0, "prd_days");
    assert_true(json_is_integer(v) && json_integer_value(v) == 3);
    v = test_get(t, "feedetail", 1, "det_item_fee_sumamt");
    assert_true(json_is_real(v) && json_real_value(v) == -15.0);

    /* absent stays absent */
    assert_null(test_get(t, "feedetail", 2, "pric"));
    assert_null(test_get(t, "feedetail", 2, "prd_days"));

    test_load(t, ENV("2204", "{'feedetail':[{'cnt':'abc'},{'pric':true},"
                     "{'prd_days':'1.'},{'cnt':'1e999'},"
                     "{'pric':{'a':1}},{'cnt':'12'}]}"));

    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_CODE_INVALID);
    assert_int_equal(t->res.problems, 5);
    assert_string_equal(test_list(t),
                        "feedetail[0].cnt=abc (not a number); "
                        "feedetail[3].cnt=1e999 (not a number); "
                        "feedetail[1].pric=(boolean) (not a number); "
                        "feedetail[4].pric=(object) (not a number); "
                        "feedetail[2].prd_days=1. (not a number)");
}


static void
test_check_id_number(void **state)
{
    test_ctx_t  *t = *state;

    char        *list;

    /* good: "1" is mapped to "01" before the check sees it */

    test_load(t, ENV("2201", "{'data':{'mdtrt_cert_type':'SFZ',"
                     "'mdtrt_cert_no':'" ID_GOOD "','psn_cert_type':'1',"
                     "'certno':'11010519491231002x','caty':'NK'}}"));
    assert_int_equal(test_run(t), YIBAO_OK);
    test_assert_str(test_get(t, "data", -1, "mdtrt_cert_type"), "02");
    test_assert_str(test_get(t, "data", -1, "psn_cert_type"), "01");
    test_assert_str(test_get(t, "data", -1, "caty"), "A03");
    assert_int_equal(t->res.translated, 3);

    /* bad check characters in both pairs, masked in the list */

    test_load(t, ENV("2201", "{'data':{'mdtrt_cert_type':'02',"
                     "'mdtrt_cert_no':'" ID_BAD "','psn_cert_type':'1',"
                     "'certno':'44052418800101001X'}}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_ID_NUMBER);
    assert_string_equal(t->err.msg, "2 checks failed");

    list = test_list(t);
    assert_string_equal(list,
        "data.mdtrt_cert_no=3701**********2018 (mdtrt_cert_type 02: not an "
        "18-digit ID number with a valid check character); "
        "data.certno=4405**********001X (psn_cert_type 01: not an "
        "18-digit ID number with a valid check character)");
    assert_null(strstr(list, ID_BAD));
    assert_null(strstr(t->err.msg, "3701"));

    /* short, wrong date, not a string */

    test_load(t, ENV("2201", "{'data':{'mdtrt_cert_type':'02',"
                     "'mdtrt_cert_no':'3701021956','psn_cert_type':'01',"
                     "'certno':12}}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
        "data.mdtrt_cert_no=3701**1956 (mdtrt_cert_type 02: not an "
        "18-digit ID number with a valid check character); "
        "data.certno=** (psn_cert_type 01: not an 18-digit ID number "
        "with a valid check character)");

    /* a number where the string belongs is masked as well */

    test_load(t, ENV("2201", "{'data':{'psn_cert_type':'01',"
                     "'certno':370102195603152017}}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
        "data.certno=3701**********2017 (psn_cert_type 01: not an "
        "18-digit ID number with a valid check character)");

    test_load(t, ENV("2201", "{'data':{'psn_cert_type':'01',"
                     "'certno':'370102195602302011'}}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->res.problems, 1);

    /* other certificate types and empty numbers are not checked */

    test_load(t, ENV("2201", "{'data':{'mdtrt_cert_type':'03',"
                     "'mdtrt_cert_no':'A1234','psn_cert_type':'90',"
                     "'certno':'X'}}"));
    assert_int_equal(test_run(t), YIBAO_OK);

    test_load(t, ENV("2201", "{'data':{'mdtrt_cert_type':'02',"
                     "'mdtrt_cert_no':'','psn_cert_type':'01'}}"));
    assert_int_equal(test_run(t), YIBAO_OK);
}


static void
test_check_fee_amount(void **state)
{
    test_ctx_t  *t = *state;

    char        *list;

    test_load(t, ENV("2204", "{'feedetail':["
        "{'det_item_fee_sumamt':25.20,'cnt':2,'pric':12.60},"      /* 0 */
        "{'det_item_fee_sumamt':25.21,'cnt':2,'pric':12.60},"      /* 1 */
        "{'det_item_fee_sumamt':25.19,'cnt':2,'pric':12.60},"      /* 2 */
        "{'det_item_fee_sumamt':10,'cnt':3,'pric':3.333333},"      /* 3 */
        "{'det_item_fee_sumamt':10.00,'cnt':3,'pric':3.33},"       /* 4 */
        "{'det_item_fee_sumamt':-25.20,'cnt':-2,'pric':12.60},"    /* 5 */
        "{'det_item_fee_sumamt':'25.20','cnt':'2','pric':'12.6'}," /* 6 */
        "{'det_item_fee_sumamt':123456789.12,'cnt':1,"
        "'pric':123456789.12},"                                    /* 7 */
        "{'det_item_fee_sumamt':0.01,'cnt':1,'pric':0.005},"       /* 8 */
        "{'det_item_fee_sumamt':1e3,'cnt':1000,'pric':1},"         /* 9 */
        "{'cnt':1,'pric':5},"                                      /* 10 */
        "{'det_item_fee_sumamt':1,'cnt':'x','pric':1},"            /* 11 */
        "{'det_item_fee_sumamt':3.0003,'cnt':1.0001,'pric':3}"     /* 12 */
        "]}"));

    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);

    list = test_list(t);
    assert_string_equal(list,
        "feedetail[11].cnt=x (not a number); "
        "feedetail[1].det_item_fee_sumamt=25.21 "
        "(not cnt 2 x pric 12.6 within 0.01); "
        "feedetail[2].det_item_fee_sumamt=25.19 "
        "(not cnt 2 x pric 12.6 within 0.01); "
        "feedetail[4].det_item_fee_sumamt=10 "
        "(not cnt 3 x pric 3.33 within 0.01); "
        "feedetail[10].det_item_fee_sumamt=0 "
        "(not cnt 1 x pric 5 within 0.01)");
    assert_int_equal(t->res.problems, 5);

    /* only fee problems: YB4004 */

    test_load(t, ENV("2204", "{'feedetail':["
                     "{'det_item_fee_sumamt':25.20,'cnt':2,'pric':12.60},"
                     "{'det_item_fee_sumamt':25.21,'cnt':2,'pric':12.60}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_FEE_AMOUNT);
    assert_int_equal(t->res.problems, 1);
}


static void
test_check_feedetl_sn(void **state)
{
    test_ctx_t  *t = *state;

#define REQ_SN                                                               \
    ENV("2204", "{'feedetail':[{'feedetl_sn':'1'},{'feedetl_sn':'A1'},"      \
        "{'feedetl_sn':'0'},{'feedetl_sn':'1234567890123456'},"              \
        "{'feedetl_sn':'123456789012345'},{'feedetl_sn':'000'},"             \
        "{'feedetl_sn':7},{'feedetl_sn':''},{'feedetl_sn':-1},"              \
        "{'feedetl_sn':'012'}]}")

    /* off by default */

    test_load(t, REQ_SN);
    assert_int_equal(test_run(t), YIBAO_OK);

    t->opts.feedetl_sn_digits = 1;

    test_load(t, REQ_SN);
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_int_equal(t->err.gwerr, YIBAO_GWERR_FEEDETL_SN);
    assert_string_equal(t->err.msg, "5 checks failed");
    assert_string_equal(test_list(t),
        "feedetail[1].feedetl_sn=A1 (feedetl_sn: not digits only; "
        "1 to 15 digits, not 0); "
        "feedetail[2].feedetl_sn=0 (feedetl_sn: 0 is not allowed; "
        "1 to 15 digits, not 0); "
        "feedetail[3].feedetl_sn=1234********3456 (feedetl_sn: more than "
        "15 digits; 1 to 15 digits, not 0); "
        "feedetail[5].feedetl_sn=000 (feedetl_sn: 0 is not allowed; "
        "1 to 15 digits, not 0); "
        "feedetail[8].feedetl_sn=-1 (feedetl_sn: not a positive number; "
        "1 to 15 digits, not 0)");
}


static void
test_list_echo(void **state)
{
    test_ctx_t  *t = *state;

    char         buf[512];

    /* quotes, backslashes, ';' and control characters do not get in */

    test_load(t, ENV("2204", "{'feedetail':[{'bilg_dr_codg':"
                     "'a\\'b\\\\c;d\\u0001e'}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[0].bilg_dr_codg=a?b?c?d?e (staff)");

    /* long values are cut after 40 characters */

    snprintf(buf, sizeof(buf), ENV("2204", "{'feedetail':[{'bilg_dr_codg':"
             "'%s'}]}"), "abcdefghijabcdefghijabcdefghijabcdefghijKLMNOP");
    test_load(t, buf);
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[0].bilg_dr_codg="
                        "abcdefghijabcdefghijabcdefghijabcdefghij... "
                        "(staff)");

    /*
     * a caller's value is echoed without what could be personal data:
     * other than ASCII as '*', ID numbers masked, also sent as numbers
     */

    test_load(t, ENV("2204", "{'feedetail':[{'bilg_dr_codg':'欧阳娜娜',"
                     "'bilg_dept_codg':'11010519491231002X'}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[0].bilg_dr_codg=**** (staff); "
                        "feedetail[0].bilg_dept_codg=1101**********002X "
                        "(dept)");

    test_load(t, ENV("2204", "{'feedetail':[{'bilg_dr_codg':"
                     "370102195603152017}]}"));
    assert_int_equal(test_run(t), YIBAO_ERR_INVALID);
    assert_string_equal(test_list(t),
                        "feedetail[0].bilg_dr_codg=3701**********2017 "
                        "(staff: not a string)");
}


static void
test_translate_nomem(void **state)
{
    test_ctx_t  *t = *state;

    int          rc;
    size_t       n;

    /* the allocator: the problems and the list */

    rc = YIBAO_ERR_NOMEM;

    for (n = 1; n < 100; n++) {
        test_load(t, ENV("2204", "{'feedetail':[{'medins_list_codg':'L1'},"
                         "{'medins_list_codg':'L2','cnt':'x'}]}"));

        yibao_test_arena_fail_at(&t->arena, n);
        rc = test_run(t);
        yibao_test_arena_fail_at(&t->arena, 0);

        if (rc != YIBAO_ERR_NOMEM) {
            break;
        }

        assert_int_equal(t->err.gwerr, YIBAO_GWERR_INTERNAL);
        assert_null(t->res.list.data);
    }

    assert_int_equal(rc, YIBAO_ERR_INVALID);
    assert_int_equal(n, 5);
    assert_int_equal(t->res.problems, 3);

    /* jansson: every write of the document; nothing may leak */

    for (n = 1; n < 1000; n++) {
        test_load(t, REQ_2204);

        test_json_fail_from(n);
        rc = test_run(t);
        test_json_fail_from(0);

        yibao_envelope_free(&t->env);
        assert_int_equal(test_json_live, 0);

        if (rc != YIBAO_ERR_NOMEM) {
            break;
        }
    }

    assert_int_equal(rc, YIBAO_OK);
    assert_true(n > 5);
}


#define ANSWER_5204                                                          \
    "{'infcode':0,'inf_refmsgid':'370000202401150830100123456790',"          \
    "'err_msg':null,'output':["                                              \
    "{'feedetl_sn':'1','med_list_codg':'" DRUG_NAT "',"                      \
    "'medins_list_codg':'','bilg_dr_codg':'D370102000001',"                  \
    "'det_item_fee_sumamt':25.20,'pric_uplmt_amt':99999999.000000,"          \
    "'selfpay_prop':0.1234},"                                                \
    "{'feedetl_sn':'2','med_list_codg':'" ITEM_NAT "',"                      \
    "'medins_list_codg':'ZL9999','bilg_dr_codg':'D379999999999'}]}"


static void
test_answer(void **state)
{
    test_ctx_t   *t = *state;

    int           rc;
    char         *data;
    yibao_str_t   out, infno;

    data = test_json(ANSWER_5204);

    infno.data = U("5204");
    infno.len = 4;

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_ptr_not_equal(out.data, U(data));

    test_assert_out(&out,
        "{\"infcode\":0,\"inf_refmsgid\":\"370000202401150830100123456790\","
        "\"err_msg\":null,\"output\":["
        "{\"feedetl_sn\":\"1\",\"med_list_codg\":\"" DRUG_NAT "\","
        "\"medins_list_codg\":\"YP0001\",\"bilg_dr_codg\":\"DR01\","
        "\"det_item_fee_sumamt\":25.2,\"pric_uplmt_amt\":99999999,"
        "\"selfpay_prop\":0.1234},"
        "{\"feedetl_sn\":\"2\",\"med_list_codg\":\"" ITEM_NAT "\","
        "\"medins_list_codg\":\"ZL9999\","
        "\"bilg_dr_codg\":\"D379999999999\"}]}");

    /* another infno without answer rules: the very same bytes */

    infno.data = U("2204");

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_ptr_equal(out.data, U(data));
    assert_int_equal(out.len, strlen(data));

    free(data);

    /* nothing to map back: the very same bytes */

    data = test_json("{'infcode':0,'output':[{'bilg_dr_codg':'D379999999999',"
                     "'med_list_codg':'" ITEM_NAT "','medins_list_codg':'X'}"
                     ",{'bilg_dr_codg':''},7]}");
    infno.data = U("5204");

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_ptr_equal(out.data, U(data));

    free(data);

    /* a dictionary back: "01" to the clinic's "1"; output null */

    data = test_json("{'infcode':0,'output':{'setlinfo':"
                     "{'psn_cert_type':'01','medfee_sumamt':35.20}}}");
    infno.data = U("5203");

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_OK);
    test_assert_out(&out, "{\"infcode\":0,\"output\":{\"setlinfo\":"
                          "{\"psn_cert_type\":\"1\",\"medfee_sumamt\":35.2}}}");

    free(data);

    data = test_json("{'infcode':-1,'err_msg':'FSI-x','output':null}");

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_ptr_equal(out.data, U(data));

    free(data);

    /* not JSON */

    rc = yibao_translate_answer(U("<html>502</html>"), 16, &infno,
                                t->rules, t->map, &t->scope, &t->alloc,
                                &out);
    assert_int_equal(rc, YIBAO_ERR_SYNTAX);
    assert_memory_equal(out.data, "<html>502</html>", 16);
    assert_int_equal(out.len, 16);
}


/*
 * The answer parsed once (yibao_answer_parse) and translated in place:
 * the same bytes as yibao_translate_answer() from the text; no rule, the
 * very bytes; not JSON, a syntax error with the bytes as they came.
 */

static void
test_answer_doc(void **state)
{
    test_ctx_t      *t = *state;

    int              rc;
    char            *data;
    void            *doc;
    yibao_str_t      out, ref, infno;
    yibao_answer_t   ans;

    data = test_json(ANSWER_5204);

    infno.data = U("5204");
    infno.len = 4;

    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &ref);
    assert_int_equal(rc, YIBAO_OK);

    assert_int_equal(yibao_answer_parse(U(data), strlen(data), &ans, &doc),
                     YIBAO_OK);
    assert_non_null(doc);
    assert_true(ans.is_envelope);
    assert_true(yibao_translate_answer_rules(&infno, t->rules, t->map));

    rc = yibao_translate_answer_doc(doc, U(data), strlen(data), &infno,
                                    t->rules, t->map, &t->scope, &t->alloc,
                                    &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_int_equal(out.len, ref.len);
    assert_memory_equal(out.data, ref.data, ref.len);

    infno.data = U("2204");
    assert_false(yibao_translate_answer_rules(&infno, t->rules, t->map));
    rc = yibao_translate_answer_doc(doc, U(data), strlen(data), &infno,
                                    t->rules, t->map, &t->scope, &t->alloc,
                                    &out);
    assert_int_equal(rc, YIBAO_OK);
    assert_ptr_equal(out.data, U(data));

    yibao_answer_release(doc);
    free(data);

    infno.data = U("5204");
    assert_int_equal(yibao_answer_parse(U("<html>"), 6, &ans, &doc),
                     YIBAO_OK);
    assert_null(doc);
    rc = yibao_translate_answer_doc(doc, U("<html>"), 6, &infno, t->rules,
                                    t->map, &t->scope, &t->alloc, &out);
    assert_int_equal(rc, YIBAO_ERR_SYNTAX);
    assert_ptr_equal(out.data, U("<html>"));
    yibao_answer_release(NULL);
}


static void
test_answer_nomem(void **state)
{
    test_ctx_t   *t = *state;

    int           rc;
    char         *data;
    size_t        n;
    yibao_str_t   out, infno;

    data = test_json(ANSWER_5204);

    infno.data = U("5204");
    infno.len = 4;

    yibao_test_arena_fail_at(&t->arena, 1);
    rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                t->map, &t->scope, &t->alloc, &out);
    yibao_test_arena_fail_at(&t->arena, 0);

    assert_int_equal(rc, YIBAO_ERR_NOMEM);
    assert_ptr_equal(out.data, U(data));
    assert_int_equal(test_json_live, 0);

    /*
     * jansson reports some allocation failures of its parser as syntax
     * errors: either way the answer goes back as it came
     */

    for (n = 1; n < 1000; n++) {
        test_json_fail_from(n);
        rc = yibao_translate_answer(U(data), strlen(data), &infno, t->rules,
                                    t->map, &t->scope, &t->alloc, &out);
        test_json_fail_from(0);

        assert_int_equal(test_json_live, 0);

        if (rc == YIBAO_OK) {
            break;
        }

        assert_true(rc == YIBAO_ERR_NOMEM || rc == YIBAO_ERR_SYNTAX);
        assert_ptr_equal(out.data, U(data));
        assert_int_equal(out.len, strlen(data));
    }

    assert_int_equal(rc, YIBAO_OK);
    assert_true(n > 10);
    assert_ptr_not_equal(out.data, U(data));

    free(data);
}


static void
test_json_serialize(void **state)
{
    test_ctx_t   *t = *state;

    json_t       *v;
    yibao_str_t   out;

    v = json_pack("[s,f,I,n,{s:b}]", "a\"b", 25.2, (json_int_t) 7, "k", 1);
    assert_non_null(v);

    assert_int_equal(yibao_json_serialize(v, &t->alloc, &out), YIBAO_OK);
    test_assert_out(&out, "[\"a\\\"b\",25.2,7,null,{\"k\":true}]");

    yibao_test_arena_fail_at(&t->arena, 1);
    assert_int_equal(yibao_json_serialize(v, &t->alloc, &out),
                     YIBAO_ERR_NOMEM);
    yibao_test_arena_fail_at(&t->arena, 0);

    json_decref(v);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test_setup_teardown(test_rules_file, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_2204, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_scope, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_names, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_other_infno,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_repeated_codes,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_every_problem,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_summaries,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_target_national,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_passthrough,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_check_number, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_check_id_number, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_check_fee_amount, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_check_feedetl_sn, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_list_echo, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_translate_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_answer, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_answer_doc, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_answer_nomem, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_json_serialize, test_setup,
                                        test_teardown),
    };

    json_set_alloc_funcs(test_json_malloc, test_json_free);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
