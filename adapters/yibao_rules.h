/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_RULES_H_INCLUDED_
#define _YIBAO_RULES_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_map.h"


/*
 * The translation rules file: which field of which infno carries which
 * kind of code, or which check applies to it.  This is data, not code,
 * so supporting one more field is one line.  The parser checks every
 * line and keeps the rules; yibao_translate.h applies them.
 *
 * Rules file: UTF-8 TSV, '#' comments, one rule per line, columns
 * separated by exactly one TAB:
 *
 *     infno  direction  path  what  [target]  [name_target]
 *
 *   infno      "2204", "2203A", or "*" for every infno
 *   direction  "request" or "answer"
 *   path       the field, relative to "input" (request) or "output"
 *              (answer): keys ([A-Za-z0-9_]) joined by ".", "[]" after
 *              a key to visit every element of an array, e.g.
 *              feedetail[].medins_list_codg; a single object where an
 *              array is named counts as one row; a leading "[]" is the
 *              root itself when it is an array ([].bilg_dr_codg, 5204)
 *   what       a comma list of kinds (drug,item,consumable), tried in
 *              order, or dict:<name> alone, or a check (request only):
 *                check:number      path names the field: null and ""
 *                                  -> 0 (national rule 1.3), a numeric
 *                                  string -> that number, anything
 *                                  else fails (YB4002)
 *                check:id_number   path names the object holding the
 *                                  certificate pairs: mdtrt_cert_type
 *                                  "02" -> mdtrt_cert_no, and
 *                                  psn_cert_type "01" or "1" -> certno
 *                                  must be an 18-digit ID (GB 11643,
 *                                  YB4003); the list masks the number
 *                check:fee_amount  path names the row: its
 *                                  det_item_fee_sumamt differs from
 *                                  cnt x pric by less than 0.01,
 *                                  computed in exact decimal (YB4004)
 *                check:feedetl_sn  digits only, 1..15, not 0 (when
 *                                  enabled, YB4005)
 *   target     a field beside path (same steps, another last key)
 *              where the national code goes ("-" or absent: in place);
 *              for an answer rule it is filled only when empty
 *   name_target  a field beside path where the national name goes
 *              ("-" or absent: nowhere); request code rules only
 *
 * Unknown kinds or checks, bad paths, bad infno, a target that is not
 * beside the path, and the same (infno, direction, path) twice for two
 * code rules or the same check are errors.
 */

#define YIBAO_RULES_MAX_SEGS  8


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


/* One line of the file, as the translation walks it. */

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


typedef struct yibao_rules_s  yibao_rules_t;


/*
 * Everything needed is copied into a: data may be released afterwards.
 * NULL on error: err->line is the line, err->msg names the column and
 * quotes the value (without repeating the line).
 */
yibao_rules_t *yibao_rules_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err);

size_t yibao_rules_count(const yibao_rules_t *rules);

/*
 * The rules that apply to infno (its own and those of "*") in one
 * direction (answer 1 or 0), in the file's order: each call returns the
 * next one from *i on (start with *i = 0), NULL after the last.
 */
const yibao_rule_t *yibao_rules_next(const yibao_rules_t *rules,
    const yibao_str_t *infno, unsigned answer, size_t *i);


#endif /* _YIBAO_RULES_H_INCLUDED_ */
