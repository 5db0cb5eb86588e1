/*
 * Copyright (C) yibao-gateway authors
 */


/*
 * The audit's rules and lists files: yibao_audit_add_rules() and
 * yibao_audit_add_lists() on any text and, when both load and build,
 * a run over a visit whose lines carry codes of the lists (the first
 * code of every list entry line), so that fuzzed parameters, scopes and
 * attributes meet the rules; the findings must render.
 *
 * Input: a rules file, YIBAO_FUZZ_SEP, a lists file.
 */

#include <jansson.h>

#include "yibao_audit.h"
#include "yibao_tsv.h"
#include "yibao_fuzz.h"


#define U(s)  ((const unsigned char *) (s))


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 n, nparts;
    json_t                *out;
    yibao_err_t            err;
    yibao_str_t            parts[2], line, f[4], jr = yibao_string("J");
    yibao_tsv_t            tsv;
    yibao_alloc_t          alloc;
    yibao_audit_t         *au;
    unsigned char         *rules, *lists;
    yibao_audit_ctx_t      ctx;
    yibao_fuzz_arena_t     arena;
    yibao_audit_line_t     lines[16];
    yibao_audit_result_t   res;

    nparts = yibao_fuzz_split(data, size, parts, 2);

    if (nparts < 2) {
        return 0;
    }

    yibao_fuzz_arena_init(&arena, &alloc);
    memset(&err, 0, sizeof(yibao_err_t));

    rules = yibao_fuzz_copy(&parts[0]);
    lists = yibao_fuzz_copy(&parts[1]);

    au = yibao_audit_create(&alloc);

    if (au == NULL
        || yibao_audit_add_rules(au, rules, parts[0].len, &err) != YIBAO_OK
        || yibao_audit_add_lists(au, NULL, lists, parts[1].len, &err)
           != YIBAO_OK
        || yibao_audit_build(au, &err) != YIBAO_OK)
    {
        yibao_fuzz_assert(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        goto done;
    }

    /* a visit of the lists' codes, in the scope of one clinic */

    n = 0;
    yibao_tsv_init(&tsv, lists, parts[1].len);

    while (n < 16 && yibao_tsv_next(&tsv, &line)) {
        if (yibao_tsv_split(&line, f, 4) < 3) {
            continue;
        }

        memset(&lines[n], 0, sizeof(yibao_audit_line_t));
        lines[n].sn = f[0];
        lines[n].code = f[2];
        lines[n].doctor = f[2];
        lines[n].cnt = 3000000 * (n + 1);
        lines[n].pric = 1000000 * (n + 1);
        lines[n].amt = lines[n].cnt / 1000000 * lines[n].pric;
        lines[n].day = 20794;
        n++;
    }

    memset(&ctx, 0, sizeof(yibao_audit_ctx_t));
    ctx.scope.org_code = (yibao_str_t) yibao_string("PDY60134132080312D6001");
    ctx.scope.entity_code = (yibao_str_t) yibao_string("H37010200001");
    ctx.scope.admdvs = (yibao_str_t) yibao_string("370102");
    ctx.integrated = 1;
    ctx.gend = '2';
    ctx.birth = 20000;
    ctx.today = 20794;
    ctx.visits_today = 3;
    ctx.earlier = lines;
    ctx.nearlier = n / 2;

    if (yibao_audit_run(au, &ctx, lines + n / 2, n - n / 2, &alloc, &res)
        != YIBAO_OK)
    {
        goto done;
    }

    yibao_fuzz_assert(res.n <= yibao_audit_rules(au));

    out = yibao_audit_json(&res, &jr, 0xf);

    if (out != NULL) {
        yibao_fuzz_assert(json_array_size(out) == res.n);
        json_decref(out);
    }

done:

    free(rules);
    free(lists);
    yibao_fuzz_arena_free(&arena);

    return 0;
}
