/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The rules file: yibao_rules_parse() on any text and, when it parses,
 * the rules applied to a request and to answers that carry every field
 * the project's rules name (with the demo mapping tables), so that
 * fuzzed paths, kinds, targets and checks meet real documents.
 *
 * Input: a rules file.  The request's infno is the first rule's one.
 */

#include <jansson.h>

#include "yibao_envelope.h"
#include "yibao_gwerr.h"
#include "yibao_map.h"
#include "yibao_translate.h"
#include "yibao_tsv.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))


#define ROW(sn, code)                                                        \
    "{\"feedetl_sn\":\"" sn "\",\"medins_list_codg\":\"" code "\","          \
    "\"med_list_codg\":\"\",\"det_item_fee_sumamt\":\"25.20\",\"cnt\":2,"    \
    "\"pric\":12.6,\"prd_days\":\"\",\"bilg_dr_codg\":\"DR001\","            \
    "\"orders_dr_code\":null,\"bilg_dept_codg\":\"NK\","                     \
    "\"acord_dept_codg\":\"\",\"dise_codg\":\"GXY\"}"

#define INPUT                                                                \
    "{\"data\":{\"psn_no\":\"37000000000000000000123456\","                  \
    "\"mdtrt_cert_type\":\"SFZ\",\"mdtrt_cert_no\":\"370102195603152017\","  \
    "\"psn_cert_type\":\"1\",\"certno\":\"370102195603152018\","             \
    "\"atddr_no\":\"DR001\",\"caty\":\"NK\",\"medfee_sumamt\":\"100.5\","    \
    "\"fulamt_ownpay_amt\":\"\",\"overlmt_selfpay\":null,"                   \
    "\"preselfpay_amt\":0,\"inscp_scp_amt\":\"x\"},"                         \
    "\"mdtrtinfo\":{\"dise_codg\":\"GXY\",\"dise_name\":\"\"},"              \
    "\"diseinfo\":[{\"diag_code\":\"TNB\",\"diag_name\":\"\","               \
    "\"dise_dor_no\":\"DR002\"},{\"diag_code\":\"I10.x00\"}],"               \
    "\"feedetail\":[" ROW("1", "YP0001") "," ROW("2", "ZL0001") ","          \
    ROW("0", "XJ01CAA040A001010102699") "]}"

#define HEAD                                                                 \
    "{\"infno\":\"%.*s\",\"msgid\":\"H37010200001202401150830100003\","        \
    "\"mdtrtarea_admvs\":\"370102\",\"insuplc_admdvs\":\"370102\","          \
    "\"recer_sys_code\":\"FSI_LOCAL\",\"infver\":\"V1.0\","                  \
    "\"opter_type\":\"1\",\"opter\":\"001\",\"opter_name\":\"Zhang\","       \
    "\"inf_time\":\"2024-01-15 08:30:10\","                                  \
    "\"fixmedins_code\":\"H37010200001\",\"input\":"

#define ANSWER_ROW                                                           \
    "{\"bilg_dr_codg\":\"D370102000001\",\"orders_dr_code\":\"\","           \
    "\"bilg_dept_codg\":\"A03\",\"med_list_codg\":\"001102000010000\","      \
    "\"medins_list_codg\":\"\",\"setl_id\":\"1\",\"cnt\":1.50}"

#define ANSWER_OBJECT                                                        \
    "{\"infcode\":0,\"err_msg\":null,\"output\":" INPUT "}"

#define ANSWER_ARRAY                                                         \
    "{\"infcode\":\"0\",\"output\":[" ANSWER_ROW "," ANSWER_ROW "]}"


static void fuzz_request(const yibao_rules_t *rules, const yibao_str_t *infno,
    yibao_alloc_t *a);
static void fuzz_answer(const yibao_rules_t *rules, const yibao_str_t *infno,
    const char *answer, yibao_alloc_t *a);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               n;
    yibao_err_t          err;
    yibao_str_t          line, infno, fields[1];
    yibao_tsv_t          tsv;
    yibao_alloc_t        alloc;
    yibao_rules_t       *rules;
    unsigned char       *copy;
    yibao_fuzz_arena_t   arena;

    (void) yibao_fuzz_demo_map();

    yibao_fuzz_arena_init(&arena, &alloc);

    line.data = data;
    line.len = size;
    copy = yibao_fuzz_copy(&line);

    memset(&err, 0, sizeof(yibao_err_t));

    rules = yibao_rules_parse(copy, size, &alloc, &err);

    if (rules == NULL) {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        goto done;
    }

    /* every record line is a rule */

    n = 0;
    infno.data = U("2204");
    infno.len = 4;

    yibao_tsv_init(&tsv, copy, size);

    while (yibao_tsv_next(&tsv, &line)) {
        if (n++ == 0) {
            (void) yibao_tsv_split(&line, fields, 1);

            if (fields[0].len >= 4 && fields[0].len <= 5) {
                infno = fields[0];
            }
        }
    }

    yibao_fuzz_assert(yibao_rules_count(rules) == n);

    fuzz_request(rules, &infno, &alloc);
    fuzz_answer(rules, &infno, ANSWER_OBJECT, &alloc);
    fuzz_answer(rules, &infno, ANSWER_ARRAY, &alloc);

done:

    free(copy);
    yibao_fuzz_arena_free(&arena);

    return 0;
}


static void
fuzz_request(const yibao_rules_t *rules, const yibao_str_t *infno,
    yibao_alloc_t *a)
{
    int                        rc;
    char                       buf[4096];
    size_t                     i;
    yibao_err_t                err;
    yibao_str_t                out;
    yibao_envelope_t           env, again;
    yibao_map_scope_t          scope;
    yibao_translate_opts_t     opts;
    yibao_envelope_limits_t    limits;
    yibao_translate_result_t   res;

    limits.max_depth = 32;
    limits.max_values = 100000;

    snprintf(buf, sizeof(buf), HEAD "%s}", (int) infno->len,
             (const char *) infno->data, INPUT);

    if (yibao_envelope_parse(U(buf), strlen(buf), &limits, &env, &err)
        != YIBAO_OK)
    {
        /* an infno column that is not an infno */
        return;
    }

    scope.org_code.data = U("PDY60134132080312D6001");
    scope.org_code.len = 22;
    scope.entity_code.data = U("H37010200001");
    scope.entity_code.len = 12;
    scope.admdvs.data = U("370102");
    scope.admdvs.len = 6;

    memset(&opts, 0, sizeof(yibao_translate_opts_t));
    opts.feedetl_sn_digits = 1;
    memset(&res, 0, sizeof(yibao_translate_result_t));

    rc = yibao_translate_request(&env, rules, yibao_fuzz_demo_map(), &scope,
                                 &opts, a, &res, &err);

    if (rc == YIBAO_ERR_INVALID) {
        yibao_fuzz_assert(res.problems > 0);
        yibao_fuzz_assert(strlen((const char *) res.list.data)
                          == res.list.len);

        for (i = 0; i < res.list.len; i++) {
            yibao_fuzz_assert(res.list.data[i] >= 0x20);
        }

    } else {
        yibao_fuzz_assert(rc == YIBAO_OK);
    }

    rc = yibao_envelope_serialize(&env, a, &out);
    yibao_fuzz_assert(rc == YIBAO_OK);

    limits.max_values = 10000000;

    rc = yibao_envelope_parse(out.data, out.len, &limits, &again, &err);

    if (rc != YIBAO_OK) {
        fprintf(stderr, "translated: %.*s\nfails: %s\n", (int) out.len,
                (const char *) out.data, err.msg);
        abort();
    }

    yibao_envelope_free(&again);
    yibao_envelope_free(&env);
}


static void
fuzz_answer(const yibao_rules_t *rules, const yibao_str_t *infno,
    const char *answer, yibao_alloc_t *a)
{
    int                 rc;
    json_t             *doc;
    yibao_str_t         out;
    json_error_t        jerr;
    yibao_map_scope_t   scope;

    scope.org_code.data = U("PDY60134132080312D6001");
    scope.org_code.len = 22;
    scope.entity_code.data = U("H37010200001");
    scope.entity_code.len = 12;
    scope.admdvs.data = U("370102");
    scope.admdvs.len = 6;

    rc = yibao_translate_answer(U(answer), strlen(answer), infno, rules,
                                yibao_fuzz_demo_map(), &scope, a, &out);

    yibao_fuzz_assert(rc == YIBAO_OK);

    if (out.data != U(answer)) {
        doc = json_loadb((const char *) out.data, out.len, 0, &jerr);
        yibao_fuzz_assert(doc != NULL);
        json_decref(doc);
    }
}
