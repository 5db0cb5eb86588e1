/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_MAP_H_INCLUDED_
#define _YIBAO_MAP_H_INCLUDED_


#include "yibao_types.h"


/*
 * Code mapping tables (对码): a clinic's local codes to the national
 * coding standards (the national interface specification).
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
 * (yibao_kind_is_national); local_code is 1..150 bytes of UTF-8
 * without spaces or control characters; national_name may be empty
 * or absent (4 fields), at most 600 bytes; a dictionary name is 1..30
 * of [A-Za-z0-9_].  The same (kind, scope, local_code) twice is an
 * error naming both lines.
 *
 * A map is built once, at configuration time, before the workers
 * fork, and is then immutable: every worker reads the same memory.
 *
 * Its rows live in the cells of a hash table, one cache line (64 bytes)
 * each: a lookup reads the cell its hash names and finds there the row
 * with its local code, its context (kind, dictionary and scope, by
 * reference to the map's few distinct contexts), its national code and,
 * when they fit in the cell's 48 bytes, its name; what does not fit
 * goes to an overflow area the cell points to.  Rows are placed in the
 * order of their home cells (linear probing, laid out once), and each
 * cell says how many rows have it as their home and where they start,
 * so that a code that is absent is known from one cell.
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


/*
 * NULL on allocation failure.  The builder and the map it builds take
 * their memory from a, unless yibao_map_builder_scratch() is called.
 */
yibao_map_builder_t *yibao_map_builder_create(yibao_alloc_t *a);

/*
 * Takes the rows added (copied from the files) and what build() needs
 * only while it runs from tmp instead: none of it is used once build()
 * has returned, so the caller may release tmp then (nginx: the
 * configuration's temporary pool).  Called before the first add().
 */
void yibao_map_builder_scratch(yibao_map_builder_t *b, yibao_alloc_t *tmp);

/*
 * Adds the rows of one table file.  The rows are copied: data may be
 * released afterwards.  On error returns YIBAO_ERR_SYNTAX,
 * YIBAO_ERR_INVALID, YIBAO_ERR_TOO_LARGE (more than 2^24 - 1 lines in
 * the file, 2^28 rows or 8 GB in all) or YIBAO_ERR_NOMEM, with err->line the
 * line in this file (0 when no line is at fault) and err->msg naming
 * the column and value, e.g.
 *     column 4 "national_code": "YP0001" is not a national drug code
 * A failed add() adds nothing: the builder stays usable.  The file
 * costs exactly its rows, each an 8-byte header and its strings,
 * 4-byte aligned, in one block (a first pass over data sizes it).
 */
int yibao_map_builder_add(yibao_map_builder_t *b, const unsigned char *data,
    size_t len, yibao_err_t *err);

/*
 * add() with a label (the file name) for build()'s messages; label may
 * be NULL or empty ("file <n>" then, n counting the files added from
 * 1).  The label is copied.
 */
int yibao_map_builder_add_named(yibao_map_builder_t *b,
    const yibao_str_t *label, const unsigned char *data, size_t len,
    yibao_err_t *err);

/*
 * Builds the lookup indexes over every file added.  A duplicate
 * (kind, scope, local), within one file or across files, is reported
 * here: err->line is the later line and err->msg names both places,
 * e.g.
 *     "items.tsv" line 9: column 3 "local_code": "ZL0001" (kind item,
 *     scope *) is a duplicate of "drugs.tsv" line 4
 * ("... of line 4" within one file).  NULL on error (YIBAO_ERR_NOMEM
 * has err->msg "out of memory").
 */
yibao_map_t *yibao_map_build(yibao_map_builder_t *b, yibao_err_t *err);

size_t yibao_map_rows(const yibao_map_t *map);

/* bytes of memory the map holds (rows, strings and indexes) */
size_t yibao_map_bytes(const yibao_map_t *map);

/*
 * Local to national, the most specific scope first: clinic, entity,
 * admdvs (6, then 4, then 2 digits), global.  dict is the dictionary
 * name for YIBAO_KIND_DICT (ignored otherwise).  Returns 1 and fills
 * hit (when not NULL; its strings point into the map) when found, 0
 * otherwise.  scope may be NULL (global rows only); a scope field of
 * the wrong length (org_code 22, entity_code 12, admdvs 6) is skipped.
 * Scope types that no row of the kind uses are not probed.
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
