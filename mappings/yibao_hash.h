/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_HASH_H_INCLUDED_
#define _YIBAO_HASH_H_INCLUDED_


#include "yibao_types.h"


/*
 * A string-keyed hash index built once at configuration time and read
 * afterwards (by many workers, without locks).  Open addressing with
 * linear probing over a power-of-two table kept at most half full;
 * the table holds 32-bit entry numbers, each entry a key pointer, a
 * value pointer, the key length and its hash (24 bytes on LP64), so an
 * index of n keys costs 32..40 bytes per key.  Keys are NOT copied: the
 * caller keeps the key bytes alive and unchanged as long as the index.
 */

typedef struct yibao_hash_s  yibao_hash_t;


/*
 * Creates an empty index with room for nelts keys (0 is allowed: the
 * index stays empty).  All memory comes from a, in two blocks.  Returns
 * NULL if an allocation fails or nelts exceeds 2^30.
 */
yibao_hash_t *yibao_hash_create(size_t nelts, yibao_alloc_t *a);

/*
 * Adds key[0..len) -> value.  value must not be NULL.  Returns YIBAO_OK,
 * YIBAO_ERR_INVALID if the key is already present (the index keeps the
 * first value; find it with yibao_hash_find) or value is NULL, or
 * YIBAO_ERR_TOO_LARGE if the index already holds nelts keys or len does
 * not fit in 32 bits.  Never allocates.
 */
int yibao_hash_insert(yibao_hash_t *h, const unsigned char *key, size_t len,
    void *value);

/* The value stored under key[0..len), or NULL.  Never allocates. */
void *yibao_hash_find(const yibao_hash_t *h, const unsigned char *key,
    size_t len);

/* The number of keys in the index. */
size_t yibao_hash_count(const yibao_hash_t *h);

/*
 * The 32-bit hash of key[0..len) the index uses: FNV-1a followed by a
 * final avalanche, so that the low bits used as the table position
 * depend on every input byte.
 */
uint32_t yibao_hash_key(const unsigned char *key, size_t len);


#endif /* _YIBAO_HASH_H_INCLUDED_ */
