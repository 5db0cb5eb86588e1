/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_hash.h"


#define YIBAO_HASH_MAX  ((size_t) 1 << 30)


typedef struct {
    const unsigned char  *key;
    void                 *value;
    uint32_t              len;
    uint32_t              hash;
} yibao_hash_elt_t;


struct yibao_hash_s {
    uint32_t             *slots;     /* 0: empty, else entry number + 1 */
    yibao_hash_elt_t     *elts;
    size_t                mask;
    size_t                nelts;
    size_t                count;
};


static const yibao_hash_elt_t *yibao_hash_lookup(const yibao_hash_t *h,
    const unsigned char *key, uint32_t len, uint32_t hash, size_t *slot);


yibao_hash_t *
yibao_hash_create(size_t nelts, yibao_alloc_t *a)
{
    size_t         size;
    yibao_hash_t  *h;

    if (nelts > YIBAO_HASH_MAX) {
        return NULL;
    }

    /* the smallest power of two that keeps the load at or below 0.5 */

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

    if (nelts == 0) {
        h->elts = NULL;

    } else {
        h->elts = yibao_alloc(a, nelts * sizeof(yibao_hash_elt_t));
        if (h->elts == NULL) {
            return NULL;
        }
    }

    h->mask = size - 1;
    h->nelts = nelts;
    h->count = 0;

    return h;
}


int
yibao_hash_insert(yibao_hash_t *h, const unsigned char *key, size_t len,
    void *value)
{
    size_t             slot;
    uint32_t           hash;
    yibao_hash_elt_t  *elt;

    if (value == NULL) {
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

    if (len > UINT32_MAX) {
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
