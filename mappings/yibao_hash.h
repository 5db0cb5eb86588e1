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
 *
 * A compact index (yibao_hash_create_compact) has no entries of its
 * own: it indexes the caller's entries by number and asks a
 * match callback whether an entry has the key looked for.  Each slot
 * holds the entry number + 1 in its low bits and some bits of the
 * key's hash in the others, so a probe past another key rarely calls
 * the callback.  It costs 8..16 bytes per key (the table only).  The
 * compact functions (*_index) and the pointer ones (insert, find) do
 * not mix: each fails on the other kind of index.
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

/* The bytes of memory the index took from its allocator. */
size_t yibao_hash_bytes(const yibao_hash_t *h);

/*
 * The 32-bit hash of key[0..len) the index uses: FNV-1a followed by a
 * final avalanche, so that the low bits used as the table position
 * depend on every input byte.
 */
uint32_t yibao_hash_key(const unsigned char *key, size_t len);

/*
 * Whether the caller's entry number index has the key the caller
 * describes (in any form it likes): 1 or 0.  Called by a compact index
 * only for entries inserted into it and only when the hashes agree in
 * some bits; it must answer the same every time.
 */
typedef int (*yibao_hash_match_pt)(const void *ctx, uint32_t index,
    const void *key);

/*
 * Creates an empty compact index with room for nelts entries (0 is
 * allowed: the index stays empty), numbered below limit (at most
 * 2^31 - 1; the fewer bits the numbers need, the more bits of the hash
 * each slot keeps), which match(ctx, n, key) compares with a key.  A
 * compact index never sees key bytes and never hashes: the caller
 * gives the 32-bit hash of each key it inserts or looks up, computed
 * any way that gives equal keys equal hashes and spreads the low bits
 * (e.g. yibao_hash_key).  All memory comes from a, in two blocks.
 * Returns NULL if an allocation fails, if nelts exceeds 2^30 or limit
 * exceeds 2^31 - 1, or if match is NULL.
 */
yibao_hash_t *yibao_hash_create_compact(size_t nelts, size_t limit,
    yibao_hash_match_pt match, const void *ctx, yibao_alloc_t *a);

/*
 * Adds entry number index, whose key (as match() takes it) and hash
 * are given.  Returns YIBAO_OK, YIBAO_ERR_INVALID if an entry with the
 * same key is already present (the index keeps the earlier one, and
 * *prev, when prev is not NULL, receives its number) or h is not
 * compact, or YIBAO_ERR_TOO_LARGE if index >= limit or the index
 * already holds nelts keys.  Never allocates.
 */
int yibao_hash_insert_index(yibao_hash_t *h, uint32_t index, uint32_t hash,
    const void *key, uint32_t *prev);

/*
 * Looks a key of the hash given up in a compact index: returns 1 and
 * sets *index to the entry number, or 0 if the key is absent or h is
 * not compact.  Never allocates.
 */
int yibao_hash_find_index(const yibao_hash_t *h, uint32_t hash,
    const void *key, uint32_t *index);

/*
 * A hint that a key of this hash will be looked up soon: starts
 * loading its slot into the cache, so that the caller can overlap the
 * memory latency of several lookups.  Does nothing else.
 */
void yibao_hash_prefetch(const yibao_hash_t *h, uint32_t hash);


#endif /* _YIBAO_HASH_H_INCLUDED_ */
