/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_REGISTRY_H_INCLUDED_
#define _YIBAO_REGISTRY_H_INCLUDED_


#include <stdint.h>

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
 * keys file:     key_id  ak  sk  [valid_from  valid_to]
 *     valid_from and valid_to: YYYY-MM-DDTHH:MM:SS and Z or +HH:MM
 *     (valid_to excluded); a line without them is valid at any time.
 *     A key_id with validity may have two lines (two keys, for a
 *     rotation), with different AKs and valid_from times.
 * clinics file:  org_code  name  admdvs  mode  entity_code  entity_name
 *                key_id  [township_code  county  township  org_id
 *                included  reason]
 *     mode is "own" (the clinic has its own designation: entity_code is
 *     its own national code) or "township" (it settles through the
 *     township hospital entity_code, 乡村一体化).  The six optional
 *     columns may be left out from the right or empty: township_code,
 *     the national code of the township hospital that supervises an
 *     "own" village clinic (a "township" clinic's is its entity_code);
 *     the county's and the township's names, the 机构ID, whether the
 *     clinic is included in networked settlement (是/否, yes/no) and
 *     why not (未纳入原因), for the weekly registry report.
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


typedef enum {
    YIBAO_INCLUDED_UNKNOWN = 0,     /* the column is empty or absent */
    YIBAO_INCLUDED_YES,
    YIBAO_INCLUDED_NO
} yibao_included_e;


/* the size of yibao_time_format()'s buf */
#define YIBAO_TIME_LEN         32

/* valid_to of a key without an end */
#define YIBAO_KEY_NEVER        INT64_MAX

/* a key is "expiring" this many seconds before its valid_to */
#define YIBAO_KEY_EXPIRING_S   (30 * 86400)

/* "<key_id>@<valid_from>": the longest yibao_key_label() writes, NUL */
#define YIBAO_KEY_LABEL_LEN    (64 + 1 + 20 + 1)


typedef struct yibao_key_s  yibao_key_t;

/*
 * One key.  A key_id's keys are a list from the newest (the latest
 * valid_from), which the key_id's clinics point to, to the older one.
 * index numbers the keys of the file from 0 in the order of their
 * lines: the slot of the key's state in an array of yibao_keys_count().
 */

struct yibao_key_s {
    yibao_str_t           id;
    yibao_str_t           ak;
    yibao_str_t           sk;
    int64_t               valid_from;   /* s since the epoch; 0: always */
    int64_t               valid_to;     /* excluded; YIBAO_KEY_NEVER */
    const yibao_key_t    *older;        /* the key_id's other, or NULL */
    uint32_t              index;
    unsigned              validity:1;   /* the line gave the times */
};


/* the states of a key (yibao_key_state()) */

typedef enum {
    YIBAO_KEY_NEVER_USED = 0,   /* valid, no success with it yet */
    YIBAO_KEY_ACTIVATED,        /* its first 9001 or settlement passed */
    YIBAO_KEY_EXPIRING,         /* valid_to within 30 days */
    YIBAO_KEY_EXPIRED,          /* valid_to has passed */
    YIBAO_KEY_PENDING           /* valid_from has not come yet */
} yibao_key_state_e;


typedef struct {
    yibao_str_t           org_code;
    yibao_str_t           name;
    yibao_str_t           admdvs;
    yibao_settle_mode_e   mode;
    yibao_str_t           entity_code;
    yibao_str_t           entity_name;
    const yibao_key_t    *key;          /* the key_id's newest key */

    /* optional (empty when not given) */
    yibao_str_t           township_code; /* "own": supervising hospital */
    yibao_str_t           county;
    yibao_str_t           township;
    yibao_str_t           org_id;       /* 机构ID */
    yibao_included_e      included;
    yibao_str_t           reason;       /* 未纳入原因 */
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

/* The key with index i (0..yibao_keys_count()-1), in file order. */
const yibao_key_t *yibao_keys_at(const yibao_keys_t *keys, size_t i);

/*
 * The key that signs for a key_id at now (s since the epoch), from its
 * newest key: the newest from its valid_from on, the older before it;
 * the older also when use names the older (its yibao_key_label(), an
 * operator's rollback) and the older is valid at now.  NULL when no key
 * of the key_id is valid at now (expired, or not yet valid).  use may
 * be NULL (len 0).
 */
const yibao_key_t *yibao_key_pick(const yibao_key_t *newest, int64_t now,
    const unsigned char *use, size_t use_len);

/*
 * The state of a key at now; activated is when its first 9001 or
 * settlement succeeded (s since the epoch), 0 if never.  Expired and
 * expiring come before activated: an expiring key that was activated
 * is "expiring" (yibao_key_activated tells the rest).
 */
yibao_key_state_e yibao_key_state(const yibao_key_t *key, int64_t activated,
    int64_t now);

/*
 * Does a successful answer to this infno activate the key that signed
 * it?  A sign-in (9001) or a settlement (the money class of
 * yibao_infno.h).
 */
int yibao_key_activates(const unsigned char *infno, size_t len);

/* "never_used", "activated", "expiring", "expired", "pending" */
const char *yibao_key_state_name(yibao_key_state_e state);

/*
 * Writes "<key_id>@<valid_from>" (valid_from in seconds since the
 * epoch, 0 for a key valid at any time) and a NUL into buf (at least
 * YIBAO_KEY_LABEL_LEN bytes); returns its length.  The label names a
 * key in the stores, in the status and in the operators' requests; it
 * holds nothing secret.
 */
size_t yibao_key_label(const yibao_key_t *key, char *buf);

/*
 * Parses an instant YYYY-MM-DDTHH:MM:SS followed by Z or +HH:MM or
 * -HH:MM (a space is accepted for the T) into seconds since the epoch:
 * YIBAO_OK or YIBAO_ERR_INVALID.
 */
int yibao_time_parse(const unsigned char *p, size_t len, int64_t *t);

/* Writes t as YYYY-MM-DDTHH:MM:SSZ and a NUL into buf[YIBAO_TIME_LEN]. */
void yibao_time_format(int64_t t, char *buf);

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

/*
 * The national code of the township hospital a clinic belongs to (乡村
 * 一体化 roll-ups): a "township" clinic's entity_code, an "own"
 * clinic's township_code (empty when none is given: a township
 * hospital itself, or a village clinic without its link).
 */
const yibao_str_t *yibao_clinic_township(const yibao_clinic_t *clinic);

yibao_callers_t *yibao_callers_parse(const unsigned char *data, size_t len,
    yibao_alloc_t *a, yibao_err_t *err);
const yibao_caller_t *yibao_callers_find(const yibao_callers_t *callers,
    const unsigned char *id, size_t len);
size_t yibao_callers_count(const yibao_callers_t *callers);

/* The caller's id and secret. */
const yibao_str_t *yibao_caller_id(const yibao_caller_t *caller);
const yibao_str_t *yibao_caller_secret(const yibao_caller_t *caller);

/*
 * May this caller act for this clinic with this infno?  The clinic is
 * matched in a hash set of the caller's list built at load: the time
 * does not grow with the list.  YIBAO_OK, or
 * YIBAO_ERR_DENIED with err->gwerr YIBAO_GWERR_DENIED_CLINIC or
 * YIBAO_GWERR_DENIED_INFNO and a message naming the caller and the
 * clinic or infno.
 */
int yibao_caller_allowed(const yibao_caller_t *caller,
    const yibao_clinic_t *clinic, const unsigned char *infno, size_t len,
    yibao_err_t *err);


#endif /* _YIBAO_REGISTRY_H_INCLUDED_ */
