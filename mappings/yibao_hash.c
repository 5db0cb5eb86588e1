/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_hash.h"


#define YIBAO_HASH_MAX    ((size_t) 1 << 30)
#define YIBAO_HASH_LIMIT  (((size_t) 1 << 31) - 1)


typedef struct {
    const unsigned char  *key;
    void                 *value;
    uint32_t              len;
    uint32_t              hash;
} yibao_hash_elt_t;


/*
 * In a compact index a slot holds, when not empty, the entry number + 1
 * in its low "bits" bits and a tag (other bits of the key's hash) in
 * the high ones.
 */

struct yibao_hash_s {
    uint32_t             *slots;     /* 0: empty, else entry number + 1 */
    yibao_hash_elt_t     *elts;      /* NULL in a compact index */
    yibao_hash_match_pt   match;     /* NULL unless compact */
    const void           *ctx;
    size_t                mask;
    size_t                nelts;
    size_t                count;
    size_t                bytes;
    size_t                limit;     /* compact: entry numbers below */
    uint32_t              bits;
};


static yibao_hash_t *yibao_hash_alloc(size_t nelts, yibao_alloc_t *a);
static const yibao_hash_elt_t *yibao_hash_lookup(const yibao_hash_t *h,
    const unsigned char *key, uint32_t len, uint32_t hash, size_t *slot);
static int yibao_hash_lookup_index(const yibao_hash_t *h, uint32_t hash,
    const void *key, size_t *slot, uint32_t *index);


yibao_hash_t *
yibao_hash_create(size_t nelts, yibao_alloc_t *a)
{
    yibao_hash_t  *h;

    h = yibao_hash_alloc(nelts, a);
    if (h == NULL) {
        return NULL;
    }

    if (nelts == 0) {
        h->elts = NULL;

    } else {
        h->elts = yibao_alloc(a, nelts * sizeof(yibao_hash_elt_t));
        if (h->elts == NULL) {
            return NULL;
        }

        h->bytes += nelts * sizeof(yibao_hash_elt_t);
    }

    return h;
}


yibao_hash_t *
yibao_hash_create_compact(size_t nelts, size_t limit,
    yibao_hash_match_pt match, const void *ctx, yibao_alloc_t *a)
{
    yibao_hash_t  *h;

    if (match == NULL || limit > YIBAO_HASH_LIMIT) {
        return NULL;
    }

    h = yibao_hash_alloc(nelts, a);
    if (h == NULL) {
        return NULL;
    }

    h->elts = NULL;
    h->match = match;
    h->ctx = ctx;

    h->limit = limit;

    /* the fewest bits that hold every entry number + 1 (at most 31) */

    h->bits = 1;

    while (((size_t) 1 << h->bits) <= limit) {
        h->bits++;
    }

    return h;
}


int
yibao_hash_insert(yibao_hash_t *h, const unsigned char *key, size_t len,
    void *value)
{
    size_t             slot;
    uint32_t           hash;
    yibao_hash_elt_t  *elt;

    if (value == NULL || h->match != NULL) {
        return YIBAO_ERR_INVALID;
    }

    if (len > UINT32_MAX) {
        return YIBAO_ERR_TOO_LARGE;
    }

    hash = yibao_hash_key(key, len);

    if (yibao_hash_lookup(h, key, (uint32_t) len, hash, &slot) != NULL) {
        return YIBAO_ERR_INVALID;
    }

    if (h->count == h->nelts) {
        return YIBAO_ERR_TOO_LARGE;
    }

    elt = &h->elts[h->count];
    elt->key = key;
    elt->value = value;
    elt->len = (uint32_t) len;
    elt->hash = hash;

    h->slots[slot] = (uint32_t) ++h->count;

    return YIBAO_OK;
}


void *
yibao_hash_find(const yibao_hash_t *h, const unsigned char *key, size_t len)
{
    size_t                   slot;
    const yibao_hash_elt_t  *elt;

    if (len > UINT32_MAX || h->match != NULL) {
        return NULL;
    }

    elt = yibao_hash_lookup(h, key, (uint32_t) len, yibao_hash_key(key, len),
                            &slot);

    return elt != NULL ? elt->value : NULL;
}


size_t
yibao_hash_count(const yibao_hash_t *h)
{
    return h->count;
}


size_t
yibao_hash_bytes(const yibao_hash_t *h)
{
    return h->bytes;
}


uint32_t
yibao_hash_key(const unsigned char *key, size_t len)
{
    size_t    i;
    uint32_t  hash;

    hash = 2166136261u;

    for (i = 0; i < len; i++) {
        hash ^= key[i];
        hash *= 16777619u;
    }

    /* the murmur3 finalizer spreads the high bits over the low ones */

    hash ^= hash >> 16;
    hash *= 0x85ebca6bu;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35u;
    hash ^= hash >> 16;

    return hash;
}


int
yibao_hash_insert_index(yibao_hash_t *h, uint32_t index, uint32_t hash,
    const void *key, uint32_t *prev)
{
    size_t    slot;
    uint32_t  found, tag;

    if (h->match == NULL) {
        return YIBAO_ERR_INVALID;
    }

    if (index >= h->limit) {
        return YIBAO_ERR_TOO_LARGE;
    }

    if (yibao_hash_lookup_index(h, hash, key, &slot, &found)) {
        if (prev != NULL) {
            *prev = found;
        }

        return YIBAO_ERR_INVALID;
    }

    if (h->count == h->nelts) {
        return YIBAO_ERR_TOO_LARGE;
    }

    tag = (uint32_t) (hash * 0x9e3779b1u) >> h->bits;

    h->slots[slot] = (tag << h->bits) | (index + 1);
    h->count++;

    return YIBAO_OK;
}


int
yibao_hash_find_index(const yibao_hash_t *h, uint32_t hash, const void *key,
    uint32_t *index)
{
    size_t  slot;

    if (h->match == NULL) {
        return 0;
    }

    return yibao_hash_lookup_index(h, hash, key, &slot, index);
}


void
yibao_hash_prefetch(const yibao_hash_t *h, uint32_t hash)
{
#if defined(__GNUC__)
    __builtin_prefetch(&h->slots[hash & h->mask]);
#else
    (void) h;
    (void) hash;
#endif
}


/*
 * The index header and its table: the smallest power of two that keeps
 * the load at or below 0.5.
 */

static yibao_hash_t *
yibao_hash_alloc(size_t nelts, yibao_alloc_t *a)
{
    size_t         size;
    yibao_hash_t  *h;

    if (nelts > YIBAO_HASH_MAX) {
        return NULL;
    }

    size = 2;

    while (size < nelts * 2) {
        size *= 2;
    }

    h = yibao_alloc(a, sizeof(yibao_hash_t));
    if (h == NULL) {
        return NULL;
    }

    h->slots = yibao_alloc(a, size * sizeof(uint32_t));
    if (h->slots == NULL) {
        return NULL;
    }

    memset(h->slots, 0, size * sizeof(uint32_t));

    h->elts = NULL;
    h->match = NULL;
    h->ctx = NULL;
    h->mask = size - 1;
    h->nelts = nelts;
    h->count = 0;
    h->bytes = sizeof(yibao_hash_t) + size * sizeof(uint32_t);
    h->limit = 0;
    h->bits = 0;

    return h;
}


/*
 * Returns the entry of key, or NULL with *slot set to the empty slot
 * where key would go.  The table is never full, so the probe ends.
 */

static const yibao_hash_elt_t *
yibao_hash_lookup(const yibao_hash_t *h, const unsigned char *key,
    uint32_t len, uint32_t hash, size_t *slot)
{
    size_t                   i;
    uint32_t                 n;
    const yibao_hash_elt_t  *elt;

    for (i = hash & h->mask; /* void */ ; i = (i + 1) & h->mask) {
        n = h->slots[i];

        if (n == 0) {
            *slot = i;
            return NULL;
        }

        elt = &h->elts[n - 1];

        if (elt->hash == hash && elt->len == len
            && (len == 0 || memcmp(elt->key, key, len) == 0))
        {
            return elt;
        }
    }
}


/*
 * The compact form of yibao_hash_lookup: returns 1 with *index set, or
 * 0 with *slot set to the empty slot where key would go.
 */

static int
yibao_hash_lookup_index(const yibao_hash_t *h, uint32_t hash,
    const void *key, size_t *slot, uint32_t *index)
{
    size_t    i;
    uint32_t  n, low, tag;

    low = ((uint32_t) 1 << h->bits) - 1;
    tag = ((uint32_t) (hash * 0x9e3779b1u) >> h->bits) << h->bits;

    for (i = hash & h->mask; /* void */ ; i = (i + 1) & h->mask) {
        n = h->slots[i];

        if (n == 0) {
            *slot = i;
            return 0;
        }

        if ((n & ~low) == tag && h->match(h->ctx, (n & low) - 1, key)) {
            *index = (n & low) - 1;
            return 1;
        }
    }
}
