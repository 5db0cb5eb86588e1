/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_CACHE_H_INCLUDED_
#define _YIBAO_CACHE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_infno.h"
#include "yibao_envelope.h"
#include "yibao_fields.h"


/* the longest id a stored answer carries beside it (yibao_fields_t) */
#define YIBAO_CACHE_FIELD_MAX  128


/*
 * The response cache of read-only transactions.  Only infnos that read
 * reference data or a person's status are ever cacheable: anything that
 * creates state or moves money is refused at configuration time.
 *
 * A cached value is "<fresh_until_ms>\n" followed by the platform's
 * answer as it was received; after fresh_until it is stale, kept to be
 * served (marked) while the platform is down.  The first line may carry
 * the ids the log takes from the answer, each as "<length>:<bytes>":
 *
 *     <fresh_until_ms> <n>:<mdtrt_id><n>:<setl_id><n>:<psn_no>\n<answer>
 *
 * so that a hit is served without parsing the answer again.  A reader
 * that does not know them refuses the value (a miss), never serves them.
 */

/*
 * The key: "yibao:{<entity>}:c:<infno>:<insuplc_admdvs>:<sha256 of the
 * canonical input>" - the input with its keys sorted, compact; never
 * msgid, inf_time or sign_no.  Allocated from a.  YIBAO_OK,
 * YIBAO_ERR_NOMEM or YIBAO_ERR_CRYPTO.
 */
int yibao_cache_key(const yibao_envelope_t *env, const yibao_str_t *entity,
    yibao_alloc_t *a, yibao_str_t *key);

/*
 * The SHA-256 (64 hex digits and a NUL) of the envelope's input, keys
 * sorted, compact: what identifies the question, for the cache key and
 * for the journal's same-msgid-same-request check.  YIBAO_OK,
 * YIBAO_ERR_NOMEM or YIBAO_ERR_CRYPTO.
 */
int yibao_cache_input_digest(const yibao_envelope_t *env, char hex[65]);

/*
 * The canonical text of json (a json_t *) that the digest is taken of:
 * byte for byte what json_dumps() writes with JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY (keys sorted by their bytes, reals
 * as "%.17g" with ".0" or an exponent, jansson's escapes; UTF-8 passed
 * as it is).  Allocated with malloc(), *len bytes, not NUL-terminated;
 * NULL when out of memory or for NULL.
 */
unsigned char *yibao_json_canonical(const void *json, size_t *len);

/*
 * Splits a stored value.  YIBAO_OK, or YIBAO_ERR_SYNTAX for a value that
 * is not framed (then it must be ignored).
 */
int yibao_cache_unframe(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_str_t *answer);

/*
 * The same, with the ids of the first line in *f (pointing into data)
 * and *has_fields 1 when it carries them, 0 (and *f empty) otherwise.
 */
int yibao_cache_unframe_fields(const unsigned char *data, size_t len,
    uint64_t *fresh_until_ms, yibao_fields_t *f, int *has_fields,
    yibao_str_t *answer);

/*
 * The ids of the log written as the first line wants them after
 * "<fresh_until_ms>": yibao_cache_fields_size() bytes at most (0 when an
 * id is longer than YIBAO_CACHE_FIELD_MAX: then none is written), and
 * yibao_cache_fields_write() writes them at p and returns the end.
 */
size_t yibao_cache_fields_size(const yibao_fields_t *f);
unsigned char *yibao_cache_fields_write(unsigned char *p,
    const yibao_fields_t *f);

/*
 * Redis scripts (sent with EVAL):
 *   lookup  KEYS key, lock; ARGV lock_ms  -> {value|false, locked 0/1,
 *           now_ms}
 *   store   KEYS key, lock; ARGV answer, fresh_ms, stale_ms[, the
 *           ids (yibao_cache_fields_write(), may be empty)] -> "OK"
 *   purge   ARGV pattern -> number of keys deleted
 */
extern const char  yibao_cache_lookup_script[];
extern const char  yibao_cache_store_script[];
extern const char  yibao_cache_purge_script[];


#endif /* _YIBAO_CACHE_H_INCLUDED_ */
