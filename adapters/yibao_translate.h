/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_TRANSLATE_H_INCLUDED_
#define _YIBAO_TRANSLATE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_envelope.h"
#include "yibao_map.h"
#include "yibao_rules.h"


/*
 * Translation of a request's local codes to national ones, and of an
 * answer's national codes back, by the rules of yibao_rules.h: a walk
 * of the JSON document along each rule's path, applying its kinds or
 * its check to every field it reaches, and the list of every problem.
 *
 * A field that is absent, null or "" is left alone (except by
 * check:number).  A value that already has the national shape of one
 * of the rule's kinds is checked and passed as it is (and copied to an
 * empty target); dictionary values are looked up first, since any
 * short code has a dictionary's shape.  A code that is not found is
 * no problem when the target already holds a national code.  Code
 * rules and check:number run before the other checks.  With map NULL
 * nothing is found.
 */


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
 * Applies the request rules of env->infno and of "*" to env->doc in
 * place.  res->translated counts the codes found in the map.  When
 * any code is unmapped or any check fails, nothing is half-done that
 * matters (the caller must not send the document) and the function
 * returns YIBAO_ERR_INVALID with err->gwerr YIBAO_GWERR_UNMAPPED (if any
 * code was unmapped) or the gwerr of the first failed check, and
 * res->list listing every problem at once, and err->msg a summary
 * such as "3 codes have no national mapping and 1 check failed".  Not
 * a string where a code belongs counts as a failed check (YB4002).
 * YIBAO_ERR_NOMEM on allocation failure (of a or of jansson).
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
 * re-serialized, numbers kept exact (as yibao_json_serialize: 10.00
 * is sent as 10).  An answer rule with a target fills it only when it
 * is absent or empty.  YIBAO_OK, YIBAO_ERR_NOMEM, or YIBAO_ERR_SYNTAX
 * when data is not JSON (jansson reports some of its own allocation
 * failures while parsing as syntax errors too); *out is data on every
 * error, so the answer can always go back as it came.
 */
int yibao_translate_answer(const unsigned char *data, size_t len,
    const yibao_str_t *infno, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    yibao_alloc_t *a, yibao_str_t *out);

/*
 * 1 if an answer rule of infno applies (then the answer is to be
 * parsed), 0 otherwise.
 */
int yibao_translate_answer_rules(const yibao_str_t *infno,
    const yibao_rules_t *rules, const yibao_map_t *map);

/*
 * yibao_translate_answer() over an answer already parsed: doc is its
 * JSON tree (a json_t *, changed in place; NULL for an answer that is
 * not JSON: YIBAO_ERR_SYNTAX), data and len its text, *out on return
 * as above.  The caller releases doc.
 */
int yibao_translate_answer_doc(void *doc, const unsigned char *data,
    size_t len, const yibao_str_t *infno, const yibao_rules_t *rules,
    const yibao_map_t *map, const yibao_map_scope_t *scope,
    yibao_alloc_t *a, yibao_str_t *out);


#endif /* _YIBAO_TRANSLATE_H_INCLUDED_ */
