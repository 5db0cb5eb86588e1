/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_MAP_H_INCLUDED_
#define _YIBAO_MAP_H_INCLUDED_


#include "yibao_types.h"


/*
 * Code mapping tables (对码): a clinic's local codes to the national
 * coding standards (research/insurance-interface.md sections 3 and 5).
 *
 * Table files are UTF-8 TSV, one mapping per line, '#' comments and
 * blank lines ignored, CRLF accepted:
 *
 *     kind  scope  local_code  national_code  national_name
 *
 *   kind   drug | item | consumable | diagnosis | operation | chronic |
 *          staff | dept | dict:<dictionary>   (e.g. dict:psn_cert_type)
 *   scope  *  |  admdvs:<2, 4 or 6 digits>  |  entity:<12-char code>  |
 *          clinic:<22-char org code>
 *
 * national_code must have the national shape of its kind
 * (yibao_kind_is_national); national_name may be empty.  The same
 * (kind, scope, local_code) twice is an error naming both lines.
 *
 * A map is built once, at configuration time, before the workers
 * fork, and is then immutable: every worker reads the same memory.
 */

typedef enum {
    YIBAO_KIND_DRUG = 0,
    YIBAO_KIND_ITEM,
    YIBAO_KIND_CONSUMABLE,
    YIBAO_KIND_DIAGNOSIS,
    YIBAO_KIND_OPERATION,
    YIBAO_KIND_CHRONIC,
    YIBAO_KIND_STAFF,
    YIBAO_KIND_DEPT,
    YIBAO_KIND_DICT,
    YIBAO_KIND_MAX
} yibao_kind_e;


/* "drug", ... "dict"; never NULL */
const char *yibao_kind_name(yibao_kind_e kind);

/*
 * Parses a kind name; for "dict:<name>" *kind is YIBAO_KIND_DICT and
 * dict receives <name> (pointing into p).  YIBAO_OK or
 * YIBAO_ERR_INVALID.
 */
int yibao_kind_parse(const unsigned char *p, size_t len, yibao_kind_e *kind,
    yibao_str_t *dict);

/*
 * 1 if p[0..len) has the national shape of the kind: drug X/Z + 22
 * chars or T + digits; item 15 digits, optionally "-" + a local price
 * code; consumable C + 19 digits; diagnosis ICD-10 (e.g. I10.x00,
 * J18.900); operation ICD-9-CM-3 (51.2300); chronic M + 5 digits;
 * staff D/N/Y + 12 digits or HY/HJ + 12 digits; dept the caty
 * dictionary shape (letter + 2 digits, optionally "." + 2 digits);
 * dict: 1..30 letters and digits.
 */
int yibao_kind_is_national(yibao_kind_e kind, const unsigned char *p,
    size_t len);


typedef struct {
    yibao_str_t           org_code;       /* the clinic, 22 chars */
    yibao_str_t           entity_code;    /* its contracting entity */
    yibao_str_t           admdvs;         /* the clinic's region */
} yibao_map_scope_t;


typedef struct {
    yibao_str_t           local;
    yibao_str_t           national;
    yibao_str_t           name;
} yibao_map_hit_t;


typedef struct yibao_map_s          yibao_map_t;
typedef struct yibao_map_builder_s  yibao_map_builder_t;


/* NULL on allocation failure. */
yibao_map_builder_t *yibao_map_builder_create(yibao_alloc_t *a);

/*
 * Adds the rows of one table file.  The rows are copied: data may be
 * released afterwards.  On error returns YIBAO_ERR_SYNTAX,
 * YIBAO_ERR_INVALID or YIBAO_ERR_NOMEM, with err->line the line in
 * this file and err->msg naming the column and value.
 */
int yibao_map_builder_add(yibao_map_builder_t *b, const unsigned char *data,
    size_t len, yibao_err_t *err);

/*
 * Builds the lookup indexes over every file added.  A duplicate
 * (kind, scope, local) across files is reported here (err->msg names
 * both places).  NULL on error.
 */
yibao_map_t *yibao_map_build(yibao_map_builder_t *b, yibao_err_t *err);

size_t yibao_map_rows(const yibao_map_t *map);

/* bytes of memory the map holds (rows, strings and indexes) */
size_t yibao_map_bytes(const yibao_map_t *map);

/*
 * Local to national, the most specific scope first: clinic, entity,
 * admdvs (6, then 4, then 2 digits), global.  dict is the dictionary
 * name for YIBAO_KIND_DICT (ignored otherwise).  Returns 1 and fills
 * hit when found, 0 otherwise.
 */
int yibao_map_lookup(const yibao_map_t *map, yibao_kind_e kind,
    const yibao_str_t *dict, const yibao_map_scope_t *scope,
    const unsigned char *code, size_t len, yibao_map_hit_t *hit);

/*
 * National to local, for answers given back to the caller: the same
 * scope order; with several local codes for one national code in the
 * same scope, the one of the earliest row.  1 if found, 0 otherwise.
 */
int yibao_map_reverse(const yibao_map_t *map, yibao_kind_e kind,
    const yibao_str_t *dict, const yibao_map_scope_t *scope,
    const unsigned char *code, size_t len, yibao_map_hit_t *hit);


#endif /* _YIBAO_MAP_H_INCLUDED_ */
