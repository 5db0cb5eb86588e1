/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TRANSLATE_H_INCLUDED_
#define _YIBAO_TRANSLATE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_envelope.h"
#include "yibao_map.h"


/*
 * Translation of a request's local codes to national ones, and of an
 * answer's national codes back, driven by a rules file: which field of
 * which infno carries which kind of code is data, not code, so
 * supporting one more field is one line.
 *
 * Rules file: UTF-8 TSV, '#' comments, one rule per line:
 *
 *     infno  direction  path  what  [target]  [name_target]
 *
 *   infno      "2204", "2203A", or "*" for every infno
 *   direction  "request" or "answer"
 *   path       the field, relative to "input" (request) or "output"
 *              (answer): keys joined by ".", "[]" after a key to visit
 *              every element of an array, e.g. feedetail[].medins_list_codg
 *   what       a comma list of kinds (drug,item,consumable), tried in
 *              order, or dict:<name>, or a check:
 *                check:number      empty string -> 0 (national rule 1.3)
 *                check:id_number   18-digit ID (GB 11643) when the
 *                                  sibling cert type field says ID card
 *                check:fee_amount  det_item_fee_sumamt = cnt x pric
 *                                  within 0.01 (path names the row)
 *                check:feedetl_sn  digits only, 1..15 (when enabled)
 *   target     where the national code goes ("-" or absent: in place)
 *   name_target  where the national name goes ("-" or absent: nowhere)
 *
 * A field that is absent, null or "" is left alone (except by
 * check:number).  A value that already has the national shape of one
 * of the rule's kinds is checked and passed as it is.
 */

typedef struct yibao_rules_s  yibao_rules_t;


/* NULL on error, err->line and err->msg say where and what. */
yibao_rules_t *yibao_rules_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err);

size_t yibao_rules_count(const yibao_rules_t *rules);


typedef struct {
    unsigned              passthrough;    /* bit (1 << kind): unknown
                                             local codes pass unchanged */
    unsigned              feedetl_sn_digits:1;
} yibao_translate_opts_t;


typedef struct {
    size_t                translated;     /* codes replaced */
    size_t                problems;       /* unmapped or invalid */

    /*
     * When problems > 0: every problem, e.g.
     * "feedetail[3].medins_list_codg=YP0042 (drug,item,consumable)",
     * joined by "; ", NUL-terminated, allocated from a.  Personal data
     * (ID numbers) is masked in it.
     */
    yibao_str_t           list;
} yibao_translate_result_t;


/*
 * Applies the request rules of env->infno to env->doc in place.  When
 * any code is unmapped or any check fails, nothing is half-done that
 * matters (the caller must not send the document) and the function
 * returns YIBAO_ERR_INVALID with err->gwerr YIBAO_GWERR_UNMAPPED (if any
 * code was unmapped) or the gwerr of the first failed check, and
 * res->list listing every problem at once.  YIBAO_ERR_NOMEM on
 * allocation failure.
 */
int yibao_translate_request(yibao_envelope_t *env,
    const yibao_rules_t *rules, const yibao_map_t *map,
    const yibao_map_scope_t *scope, const yibao_translate_opts_t *opts,
    yibao_alloc_t *a, yibao_translate_result_t *res, yibao_err_t *err);

/*
 * Applies the answer rules of infno to an answer body: national codes
 * are mapped back to the caller's local ones where a mapping exists
 * (others are left as they are).  When no answer rule matches infno,
 * or nothing changed, *out is data itself; otherwise the answer is
 * re-serialized, numbers kept exact.  YIBAO_OK, YIBAO_ERR_NOMEM, or
 * YIBAO_ERR_SYNTAX when data is not JSON (then *out is data).
 */
int yibao_translate_answer(const unsigned char *data, size_t len,
    const yibao_str_t *infno, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    yibao_alloc_t *a, yibao_str_t *out);


#endif /* _YIBAO_TRANSLATE_H_INCLUDED_ */
