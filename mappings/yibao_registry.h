/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_REGISTRY_H_INCLUDED_
#define _YIBAO_REGISTRY_H_INCLUDED_


#include "yibao_types.h"


/*
 * The gateway's three data files, parsed from bytes (the glue reads the
 * files at configuration time).  All three are UTF-8, one record per
 * line, fields separated by one TAB; blank lines and lines starting
 * with '#' are ignored; CRLF line ends are accepted.  The parsers copy
 * what they keep into memory from the allocator, so the input bytes may
 * be released afterwards.  The results are immutable and are shared
 * read-only by the workers.  A parse error sets err->line and a message
 * naming the column and the offending value (never a secret).
 *
 * keys file:     key_id  ak  sk
 * clinics file:  org_code  name  admdvs  mode  entity_code  entity_name
 *                key_id
 *     mode is "own" (the clinic has its own designation: entity_code is
 *     its own national code) or "township" (it settles through the
 *     township hospital entity_code, 乡村一体化).
 * callers file:  caller_id  secret  clinics  infnos
 *     clinics: "*", or a comma list of 22-char org codes, 12-char
 *     national codes (matching the clinic's entity_code) and
 *     "admdvs:<prefix>" items (matching the clinic's admdvs).
 *     infnos: "*", or a comma list of infno ("1101", "2203A") and
 *     inclusive ranges of 4-digit numbers ("2201-2208"; a range also
 *     admits the lettered variants of its numbers).
 */

typedef enum {
    YIBAO_SETTLE_OWN = 1,
    YIBAO_SETTLE_TOWNSHIP
} yibao_settle_mode_e;


typedef struct {
    yibao_str_t           id;
    yibao_str_t           ak;
    yibao_str_t           sk;
} yibao_key_t;


typedef struct {
    yibao_str_t           org_code;
    yibao_str_t           name;
    yibao_str_t           admdvs;
    yibao_settle_mode_e   mode;
    yibao_str_t           entity_code;
    yibao_str_t           entity_name;
    const yibao_key_t    *key;
} yibao_clinic_t;


typedef struct yibao_keys_s     yibao_keys_t;
typedef struct yibao_clinics_s  yibao_clinics_t;
typedef struct yibao_callers_s  yibao_callers_t;
typedef struct yibao_caller_s   yibao_caller_t;


/* Returns NULL on error (err says why and where). */
yibao_keys_t *yibao_keys_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err);
const yibao_key_t *yibao_keys_find(const yibao_keys_t *keys,
    const unsigned char *id, size_t len);
size_t yibao_keys_count(const yibao_keys_t *keys);

/*
 * Every key_id must exist in keys.  Duplicate org codes, and duplicate
 * entity codes among "own" clinics, are errors.
 */
yibao_clinics_t *yibao_clinics_parse(const unsigned char *data, size_t len,
    const yibao_keys_t *keys, yibao_alloc_t *a, yibao_err_t *err);

/*
 * Finds a clinic by its 22-char org code, or by the national code of a
 * clinic with its own designation.  NULL if none.
 */
const yibao_clinic_t *yibao_clinics_find(const yibao_clinics_t *clinics,
    const unsigned char *code, size_t len);
size_t yibao_clinics_count(const yibao_clinics_t *clinics);

/*
 * The clinic at position i (0 .. count - 1, the file's order), and the
 * position of a clinic of this registry: the index of its coverage
 * slot (adapters/yibao_coverage.h).
 */
const yibao_clinic_t *yibao_clinics_at(const yibao_clinics_t *clinics,
    size_t i);
size_t yibao_clinics_index(const yibao_clinics_t *clinics,
    const yibao_clinic_t *clinic);

yibao_callers_t *yibao_callers_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err);
const yibao_caller_t *yibao_callers_find(const yibao_callers_t *callers,
    const unsigned char *id, size_t len);
size_t yibao_callers_count(const yibao_callers_t *callers);

/* The caller's id and secret. */
const yibao_str_t *yibao_caller_id(const yibao_caller_t *caller);
const yibao_str_t *yibao_caller_secret(const yibao_caller_t *caller);

/*
 * May this caller act for this clinic with this infno?  YIBAO_OK, or
 * YIBAO_ERR_DENIED with err->gwerr YIBAO_GWERR_DENIED_CLINIC or
 * YIBAO_GWERR_DENIED_INFNO and a message naming the caller and the
 * clinic or infno.
 */
int yibao_caller_allowed(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic, const unsigned char *infno, size_t len,
    yibao_err_t *err);


#endif /* _YIBAO_REGISTRY_H_INCLUDED_ */
