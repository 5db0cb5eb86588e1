/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_shm.h"
#include "yibao_msgid.h"
#include "yibao_journal.h"
#include "yibao_outage.h"
#include "yibao_offline.h"


/*
 * The yibao shared zone: the msgid sequence of this node, and the
 * embedded store: the nonces of caller requests seen within the
 * authentication window, the rate-limit states, cached answers and
 * journal records, each an entry with an expiry, in a hash table of
 * its key and in the queue of its type in the order of last use.
 *
 * Each type has its queue so that one type's long-lived entries never
 * stand in front of another's: nonces all live for the authentication
 * window and journal records for the journal's ttl, so theirs are in
 * the order of expiry and are freed from the head as they expire,
 * whatever the cache holds.  When the zone is full, cached answers and
 * then limit states are evicted from the least recently used (a
 * forgotten limit state admits a little more than the limit, never
 * less); nonces and journal records never are.
 *
 * Journal records are indexed as the Redis journal is: each is found
 * under the keys yibao_journal_zone_keys() gives (its msgids, mdtrt_id,
 * setl_ids, clinic and day, entity and day, the problems of its day,
 * the unknown set), the keys a query names (yibao_journal_query_key).
 * The index is a red-black tree of (hash of the key, sequence number of
 * the record); its nodes are allocated with the record, in the same
 * block, so a record and its index entries fit in the zone or fail
 * together, and go when it goes.  A query reads the records under its
 * key only, a batch per hold of the lock, and resumes after the last
 * (hash, sequence) it read: the other workers never wait for more than
 * one batch.
 */

#define NGX_HTTP_YIBAO_MSGID_SLOTS  1024

#define NGX_HTTP_YIBAO_ENTRY_NONCE  1   /* never evicted before expiry */
#define NGX_HTTP_YIBAO_ENTRY_LIMIT  2
#define NGX_HTTP_YIBAO_ENTRY_CACHE  3
#define NGX_HTTP_YIBAO_ENTRY_JOURNAL  4   /* never evicted before expiry */
#define NGX_HTTP_YIBAO_ENTRY_OFFLINE  5   /* 记账: never evicted, kept */
#define NGX_HTTP_YIBAO_ENTRY_KEY    6   /* keys' states: never evicted */
#define NGX_HTTP_YIBAO_ENTRY_TYPES  7

/* the operators' choices of a key among a key_id's two */
#define NGX_HTTP_YIBAO_KEY_USE      "yk:use:"

/* what a journal query reads at most per hold of the zone's lock */
#define NGX_HTTP_YIBAO_HOLD_RECORDS  64
#define NGX_HTTP_YIBAO_HOLD_BYTES    (256 * 1024)


typedef struct ngx_http_yibao_entry_s  ngx_http_yibao_entry_t;

struct ngx_http_yibao_entry_s {
    ngx_http_yibao_entry_t    *next;       /* in its hash bucket */
    uint32_t                   hash;
    uint32_t                   klen;
    ngx_queue_t                queue;
    uint64_t                   expire;     /* ms */
    uint64_t                   value;      /* a limit state; a journal
                                              record's sequence number */
    size_t                     vlen;       /* the value's length */
    uint32_t                   type;
    uint32_t                   nindex;     /* a journal record's index
                                              entries, after the value */
    u_char                     data[1];    /* the key, then the value */
};


/* an index entry of a journal record: in the tree by (key, sequence) */

typedef struct {
    ngx_rbtree_node_t          node;       /* key: the index key's hash */
    ngx_http_yibao_entry_t    *entry;
} ngx_http_yibao_index_t;


/* the hashes of a record's index keys, computed outside the lock */

typedef struct {
    ngx_uint_t                 n;
    ngx_uint_t                 failed;
    ngx_rbtree_key_t           hash[YIBAO_JOURNAL_ZONE_KEYS];
} ngx_http_yibao_index_keys_t;


typedef struct {
    /*
     * msgid sequences: one per slot, an entity's slot chosen by a hash
     * of its code; entities that share a slot share a sequence, which
     * keeps each entity's msgids unique all the same
     */
    ngx_atomic_t               msgid_state[NGX_HTTP_YIBAO_MSGID_SLOTS];
    ngx_http_yibao_entry_t   **buckets;
    ngx_uint_t                 mask;       /* buckets - 1 */
    ngx_queue_t                queue[NGX_HTTP_YIBAO_ENTRY_TYPES];
    ngx_atomic_t               entries;
    ngx_queue_t                inflight;   /* ngx_http_yibao_inflight_t */
    ngx_rbtree_t               index;      /* of the journal records */
    ngx_rbtree_node_t          sentinel;
    uint64_t                   seq;        /* the last record's */
    yibao_outage_t             outage;     /* is the platform there? */
    uint64_t                   offline_gen;    /* 记账 records changed */
    ngx_atomic_t               key_uses;   /* NGX_HTTP_YIBAO_KEY_USE keys */
} ngx_http_yibao_shctx_t;


/*
 * A journaled exchange under way at a worker of this node: its record
 * as claimed, so that another worker can complete it when this one
 * dies before the answer (ngx_http_yibao_shm_inflight_orphans()).
 */

typedef struct {
    ngx_queue_t                queue;
    ngx_pid_t                  pid;
    ngx_uint_t                 local;      /* the record is in the zone */
    size_t                     klen;
    size_t                     vlen;
    u_char                     data[1];    /* the key, then the record */
} ngx_http_yibao_inflight_t;


typedef struct {
    ngx_http_yibao_shctx_t    *sh;
    ngx_slab_pool_t           *shpool;
} ngx_http_yibao_zone_t;


static ngx_int_t ngx_http_yibao_shm_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_yibao_shm_expire(ngx_http_yibao_zone_t *zone,
    uint64_t now, ngx_uint_t n);
static ngx_http_yibao_entry_t *ngx_http_yibao_shm_lookup(
    ngx_http_yibao_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_yibao_entry_t *ngx_http_yibao_shm_insert(
    ngx_http_yibao_zone_t *zone, ngx_str_t *key, uint32_t hash,
    uint64_t now, size_t vlen, ngx_uint_t type, ngx_uint_t nindex);
static void ngx_http_yibao_shm_free(ngx_http_yibao_zone_t *zone,
    ngx_http_yibao_entry_t *e);
static ngx_uint_t ngx_http_yibao_shm_match(u_char *p, u_char *pend,
    u_char *s, u_char *send);
static uint64_t ngx_http_yibao_shm_now(void);
static ngx_int_t ngx_http_yibao_shm_get(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_uint_t type, ngx_pool_t *pool, ngx_str_t *value);
static ngx_rbtree_key_t ngx_http_yibao_shm_index_hash(u_char *p,
    size_t len);
static void ngx_http_yibao_shm_index_keys(ngx_str_t *value,
    ngx_pool_t *pool, ngx_http_yibao_index_keys_t *ix);
static ngx_http_yibao_entry_t *ngx_http_yibao_shm_journal_put(
    ngx_http_yibao_zone_t *zone, ngx_str_t *key, uint32_t hash,
    uint64_t now, ngx_str_t *value, ngx_http_yibao_index_keys_t *ix);
static ngx_http_yibao_index_t *ngx_http_yibao_shm_index(
    ngx_http_yibao_entry_t *e);
static void ngx_http_yibao_shm_index_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_http_yibao_shm_index_first(
    ngx_rbtree_t *tree, ngx_rbtree_key_t hash, uint64_t after);
static ngx_int_t ngx_http_yibao_shm_journal_join(ngx_array_t *recs,
    ngx_str_t *needle, ngx_pool_t *pool, ngx_str_t *list);


#define NGX_HTTP_YIBAO_NONCE_KEY_MAX  160


ngx_str_t  ngx_http_yibao_star = ngx_string("*");


ngx_int_t
ngx_http_yibao_shm_add(ngx_conf_t *cf, ngx_str_t *size)
{
    ssize_t                      n;
    ngx_str_t                    name;
    ngx_http_yibao_zone_t       *zone;
    ngx_http_yibao_main_conf_t  *gmcf;

    n = ngx_parse_size(size);

    if (n == NGX_ERROR || n < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\": at least %uz bytes",
                           size, 8 * ngx_pagesize);
        return NGX_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "yibao");

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yibao_module);

    gmcf->shm_zone = ngx_shared_memory_add(cf, &name, n,
                                           &ngx_http_yibao_module);
    if (gmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (gmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"yibao\" is already used");
        return NGX_ERROR;
    }

    gmcf->shm_zone->init = ngx_http_yibao_shm_init;
    gmcf->shm_zone->data = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yibao_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_yibao_zone_t  *ozone = data;

    size_t                  len;
    uint64_t                state;
    ngx_uint_t              i, n;
    ngx_http_yibao_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: keep the sequence and the nonces already seen */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_yibao_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    /* a bucket for every 512 bytes of zone: about two entries each */

    for (n = 1024; n < shm_zone->shm.size / 512; n <<= 1) {
        /* void */
    }

    zone->sh->buckets = ngx_slab_calloc(zone->shpool,
                                        n * sizeof(ngx_http_yibao_entry_t *));
    if (zone->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    zone->sh->mask = n - 1;

    for (i = 0; i < NGX_HTTP_YIBAO_ENTRY_TYPES; i++) {
        ngx_queue_init(&zone->sh->queue[i]);
    }

    ngx_queue_init(&zone->sh->inflight);

    /* the sequence starts in the next second (yibao_msgid_start) */

    state = yibao_msgid_start((uint64_t) ngx_time());

    for (i = 0; i < NGX_HTTP_YIBAO_MSGID_SLOTS; i++) {
        zone->sh->msgid_state[i] = (ngx_atomic_uint_t) state;
    }
    zone->sh->entries = 0;
    zone->sh->seq = 0;
    ngx_memzero(&zone->sh->outage, sizeof(yibao_outage_t));
    zone->sh->offline_gen = 0;
    zone->sh->key_uses = 0;

    ngx_rbtree_init(&zone->sh->index, &zone->sh->sentinel,
                    ngx_http_yibao_shm_index_insert);

    len = sizeof(" in yibao zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in yibao zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Records caller's nonce until expire.  NGX_OK: first use; NGX_DECLINED:
 * seen before and not yet expired (a replay); NGX_BUSY: the zone is full
 * of nonces that may not be forgotten yet.
 */

ngx_int_t
ngx_http_yibao_shm_nonce_record(ngx_shm_zone_t *shm_zone,
    ngx_str_t *caller, ngx_str_t *nonce, time_t now, time_t expire)
{
    u_char                   key[NGX_HTTP_YIBAO_NONCE_KEY_MAX], *p;
    uint32_t                 hash;
    ngx_str_t                k;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *n;

    if (caller->len + 1 + nonce->len > NGX_HTTP_YIBAO_NONCE_KEY_MAX) {
        return NGX_DECLINED;
    }

    p = ngx_cpymem(key, caller->data, caller->len);
    *p++ = ':';
    p = ngx_cpymem(p, nonce->data, nonce->len);

    k.data = key;
    k.len = p - key;
    hash = ngx_crc32_short(k.data, k.len);

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_yibao_shm_expire(zone, (uint64_t) now * 1000, 2);

    n = ngx_http_yibao_shm_lookup(zone, &k, hash);

    if (n != NULL && n->expire >= (uint64_t) now * 1000) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (n == NULL) {
        n = ngx_http_yibao_shm_insert(zone, &k, hash, (uint64_t) now * 1000,
                                      0, NGX_HTTP_YIBAO_ENTRY_NONCE, 0);

        if (n == NULL) {
            /* forgetting a live nonce would admit a replay: refuse */
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_BUSY;
        }
    }

    n->expire = (uint64_t) expire * 1000;
    ngx_queue_remove(&n->queue);
    ngx_queue_insert_tail(&zone->sh->queue[n->type], &n->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * The embedded rate limiter: all the limits of a request decided under
 * one lock, none consumed when one refuses (as the Redis script).  When
 * the zone is full, the least recently used limit state is forgotten:
 * that admits a little more than the limit, never less.
 */

void
ngx_http_yibao_shm_limit(ngx_shm_zone_t *shm_zone, ngx_uint_t n,
    ngx_str_t *keys, yibao_limit_policy_t **policies,
    yibao_limit_decision_t *d)
{
    uint32_t                 hash[8];
    uint64_t                 now;
    ngx_uint_t               i, allowed;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e[8];

    zone = shm_zone->data;
    now = ngx_http_yibao_shm_now();

    allowed = 1;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_yibao_shm_expire(zone, now, 2);

    for (i = 0; i < n && i < 8; i++) {
        hash[i] = ngx_crc32_short(keys[i].data, keys[i].len);
        e[i] = ngx_http_yibao_shm_lookup(zone, &keys[i], hash[i]);

        yibao_limit_decide(policies[i],
                           (e[i] != NULL && e[i]->expire >= now)
                           ? e[i]->value : 0,
                           now, &d[i]);

        if (!d[i].allowed) {
            allowed = 0;
        }
    }

    if (allowed) {

        /* the missing states first: an insert may evict another of this
         * request's states, which are looked up again afterwards */

        for (i = 0; i < n && i < 8; i++) {
            if (e[i] == NULL) {
                (void) ngx_http_yibao_shm_insert(zone, &keys[i], hash[i],
                                                 now, 0,
                                                 NGX_HTTP_YIBAO_ENTRY_LIMIT,
                                                 0);
            }
        }

        for (i = 0; i < n && i < 8; i++) {
            e[i] = ngx_http_yibao_shm_lookup(zone, &keys[i], hash[i]);

            if (e[i] == NULL) {
                continue;
            }

            e[i]->value = d[i].tat_ms;
            e[i]->expire = d[i].tat_ms;
            ngx_queue_remove(&e[i]->queue);
            ngx_queue_insert_tail(&zone->sh->queue[e[i]->type],
                                  &e[i]->queue);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static ngx_http_yibao_entry_t *
ngx_http_yibao_shm_lookup(ngx_http_yibao_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_http_yibao_entry_t  *e;

    for (e = zone->sh->buckets[hash & zone->sh->mask]; e; e = e->next) {

        if (e->hash == hash && e->klen == key->len
            && ngx_memcmp(e->data, key->data, key->len) == 0)
        {
            return e;
        }
    }

    return NULL;
}


/*
 * A new entry (expire and value 0), with room for nindex index entries
 * after its value (not linked yet), or NULL when the zone is full even
 * after every expired entry, and every cache and limit entry, is freed
 * from the least recently used: a nonce or a journal record is never
 * forgotten before its time.  The caller holds the mutex.
 */

static ngx_http_yibao_entry_t *
ngx_http_yibao_shm_insert(ngx_http_yibao_zone_t *zone, ngx_str_t *key,
    uint32_t hash, uint64_t now, size_t vlen, ngx_uint_t type,
    ngx_uint_t nindex)
{
    size_t                    size;
    ngx_uint_t                i;
    ngx_queue_t              *q, *next, *queue;
    ngx_http_yibao_entry_t   *n, *old, **bucket;
    static const ngx_uint_t   evictable[] = {
        NGX_HTTP_YIBAO_ENTRY_CACHE, NGX_HTTP_YIBAO_ENTRY_LIMIT
    };

    if (key->len > NGX_MAX_UINT32_VALUE) {
        return NULL;
    }

    size = offsetof(ngx_http_yibao_entry_t, data) + key->len + vlen;

    if (nindex) {
        size = ngx_align(size, sizeof(void *))
               + nindex * sizeof(ngx_http_yibao_index_t);
    }

    n = ngx_slab_alloc_locked(zone->shpool, size);

    if (n == NULL) {
        ngx_http_yibao_shm_expire(zone, now, 0);
        n = ngx_slab_alloc_locked(zone->shpool, size);
    }

    for (i = 0; n == NULL && i < sizeof(evictable) / sizeof(ngx_uint_t);
         i++)
    {
        queue = &zone->sh->queue[evictable[i]];

        for (q = ngx_queue_head(queue);
             n == NULL && q != ngx_queue_sentinel(queue);
             q = next)
        {
            next = ngx_queue_next(q);
            old = ngx_queue_data(q, ngx_http_yibao_entry_t, queue);

            ngx_http_yibao_shm_free(zone, old);
            n = ngx_slab_alloc_locked(zone->shpool, size);
        }
    }

    if (n == NULL) {
        return NULL;
    }

    ngx_memcpy(n->data, key->data, key->len);
    n->hash = hash;
    n->klen = (uint32_t) key->len;
    n->expire = 0;
    n->value = 0;
    n->vlen = vlen;
    n->type = (uint32_t) type;
    n->nindex = 0;

    bucket = &zone->sh->buckets[hash & zone->sh->mask];
    n->next = *bucket;
    *bucket = n;

    ngx_queue_insert_tail(&zone->sh->queue[type], &n->queue);
    zone->sh->entries++;

    return n;
}


static void
ngx_http_yibao_shm_free(ngx_http_yibao_zone_t *zone,
    ngx_http_yibao_entry_t *e)
{
    ngx_uint_t                i;
    ngx_http_yibao_index_t   *ix;
    ngx_http_yibao_entry_t  **p;

    if (e->nindex) {
        ix = ngx_http_yibao_shm_index(e);

        for (i = 0; i < e->nindex; i++) {
            ngx_rbtree_delete(&zone->sh->index, &ix[i].node);
        }
    }

    for (p = &zone->sh->buckets[e->hash & zone->sh->mask]; *p != e;
         p = &(*p)->next)
    {
        /* void */
    }

    *p = e->next;

    ngx_queue_remove(&e->queue);
    ngx_slab_free_locked(zone->shpool, e);
    zone->sh->entries--;
}


/*
 * The keys' states (when a key was activated) and the operators'
 * choices of a key (keys starting with NGX_HTTP_YIBAO_KEY_USE), kept
 * until they are changed: never evicted, never expired.  get copies
 * the value into pool; NGX_DECLINED when there is none.
 */

ngx_int_t
ngx_http_yibao_shm_key_get(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *value)
{
    return ngx_http_yibao_shm_get(shm_zone, key, NGX_HTTP_YIBAO_ENTRY_KEY,
                                  pool, value);
}


/*
 * Sets (value not NULL) or removes (NULL) a key's entry; with only_new,
 * an entry that exists is kept.  NGX_OK, NGX_DECLINED (only_new: it
 * existed) or NGX_BUSY (the zone is full).
 */

ngx_int_t
ngx_http_yibao_shm_key_set(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value, ngx_uint_t only_new)
{
    uint32_t                 hash;
    ngx_uint_t               use;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;
    hash = ngx_crc32_short(key->data, key->len);
    use = (key->len >= sizeof(NGX_HTTP_YIBAO_KEY_USE) - 1
           && ngx_strncmp(key->data, NGX_HTTP_YIBAO_KEY_USE,
                          sizeof(NGX_HTTP_YIBAO_KEY_USE) - 1) == 0);

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key, hash);

    if (e != NULL && only_new) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    if (e != NULL) {
        ngx_http_yibao_shm_free(zone, e);
        zone->sh->key_uses -= use;
    }

    if (value == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_OK;
    }

    e = ngx_http_yibao_shm_insert(zone, key, hash, ngx_http_yibao_shm_now(),
                                  value->len, NGX_HTTP_YIBAO_ENTRY_KEY, 0);
    if (e == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    ngx_memcpy(e->data + key->len, value->data, value->len);
    e->expire = (uint64_t) -1;
    zone->sh->key_uses += use;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/* how many operators' choices of a key the zone holds (no lock) */

ngx_uint_t
ngx_http_yibao_shm_key_uses(ngx_shm_zone_t *shm_zone)
{
    ngx_http_yibao_zone_t  *zone;

    zone = shm_zone->data;

    return zone->sh->key_uses;
}


/*
 * The embedded response cache.  get copies the value into pool;
 * NGX_DECLINED when there is none (or it has expired).
 */

ngx_int_t
ngx_http_yibao_shm_cache_get(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *value)
{
    return ngx_http_yibao_shm_get(shm_zone, key, NGX_HTTP_YIBAO_ENTRY_CACHE,
                                  pool, value);
}


/*
 * A copy, in pool, of the value of a live entry of the type; moves it
 * to the recent end.  NGX_DECLINED when there is none.
 */

static ngx_int_t
ngx_http_yibao_shm_get(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_uint_t type, ngx_pool_t *pool, ngx_str_t *value)
{
    uint64_t                 now;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;
    now = ngx_http_yibao_shm_now();

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key,
                                  ngx_crc32_short(key->data, key->len));

    if (e == NULL || e->type != type || e->expire < now) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(pool, e->vlen ? e->vlen : 1);
    if (value->data == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, e->data + e->klen, e->vlen);
    value->len = e->vlen;

    ngx_queue_remove(&e->queue);
    ngx_queue_insert_tail(&zone->sh->queue[e->type], &e->queue);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


void
ngx_http_yibao_shm_cache_put(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value, uint64_t expire)
{
    uint32_t                 hash;
    uint64_t                 now;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;
    now = ngx_http_yibao_shm_now();
    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key, hash);

    if (e != NULL) {
        ngx_http_yibao_shm_free(zone, e);
    }

    e = ngx_http_yibao_shm_insert(zone, key, hash, now, value->len,
                                  NGX_HTTP_YIBAO_ENTRY_CACHE, 0);
    if (e != NULL) {
        ngx_memcpy(e->data + key->len, value->data, value->len);
        e->expire = expire;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Drops the cache entries whose key matches pattern, a key with "*"
 * standing for any run of characters.  Returns the number dropped.
 */

ngx_int_t
ngx_http_yibao_shm_cache_purge(ngx_shm_zone_t *shm_zone, ngx_str_t *pattern)
{
    ngx_int_t                n;
    ngx_queue_t             *q, *next;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    q = ngx_queue_head(&zone->sh->queue[NGX_HTTP_YIBAO_ENTRY_CACHE]);

    for ( /* void */ ;
         q != ngx_queue_sentinel(&zone->sh->queue[NGX_HTTP_YIBAO_ENTRY_CACHE]);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_http_yibao_entry_t, queue);

        if (ngx_http_yibao_shm_match(pattern->data,
                                     pattern->data + pattern->len,
                                     e->data, e->data + e->klen))
        {
            ngx_http_yibao_shm_free(zone, e);
            n++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/* glob with '*' only */

static ngx_uint_t
ngx_http_yibao_shm_match(u_char *p, u_char *pend, u_char *s, u_char *send)
{
    while (p < pend) {

        if (*p == '*') {
            for ( /* void */ ; s <= send; s++) {
                if (ngx_http_yibao_shm_match(p + 1, pend, s, send)) {
                    return 1;
                }
            }

            return 0;
        }

        if (s == send || *p != *s) {
            return 0;
        }

        p++;
        s++;
    }

    return s == send;
}


/*
 * Frees expired entries from the head of each type's queue: at most n
 * of each type, or all that have expired in turn when n is 0.  The
 * caller holds the zone mutex.
 */

static void
ngx_http_yibao_shm_expire(ngx_http_yibao_zone_t *zone, uint64_t now,
    ngx_uint_t n)
{
    ngx_uint_t               i, type;
    ngx_queue_t             *q, *queue;
    ngx_http_yibao_entry_t  *e;

    for (type = 1; type < NGX_HTTP_YIBAO_ENTRY_TYPES; type++) {
        queue = &zone->sh->queue[type];

        for (i = 0; n == 0 || i < n; i++) {

            if (ngx_queue_empty(queue)) {
                break;
            }

            q = ngx_queue_head(queue);
            e = ngx_queue_data(q, ngx_http_yibao_entry_t, queue);

            if (e->expire >= now) {
                break;
            }

            ngx_http_yibao_shm_free(zone, e);
        }
    }
}


/*
 * Draws the entity's next msgid sequence number on this node: shared by
 * all workers, lock-free.  NGX_BUSY when the second's 10,000 numbers of
 * its slot are used up.
 */

ngx_int_t
ngx_http_yibao_shm_msgid_next(ngx_shm_zone_t *shm_zone, ngx_str_t *entity,
    ngx_uint_t node, ngx_uint_t nodes, time_t now, uint64_t *sec,
    unsigned *seq)
{
    uint64_t                next;
    ngx_atomic_t           *state;
    ngx_atomic_uint_t       old;
    ngx_http_yibao_zone_t  *zone;

    zone = shm_zone->data;
    state = &zone->sh->msgid_state[ngx_crc32_short(entity->data, entity->len)
                                   % NGX_HTTP_YIBAO_MSGID_SLOTS];

    for ( ;; ) {
        old = *state;

        if (yibao_msgid_advance(old, (uint64_t) now, (unsigned) node,
                                (unsigned) nodes, &next, sec, seq)
            != YIBAO_OK)
        {
            return NGX_BUSY;
        }

        if (ngx_atomic_cmp_set(state, old,
                               (ngx_atomic_uint_t) next))
        {
            return NGX_OK;
        }
    }
}


/*
 * The embedded journal.  claim: NGX_OK (recorded), NGX_DECLINED (the key
 * exists: *existing is a copy), NGX_BUSY (the zone is full), NGX_ERROR
 * (no memory to index it: not recorded).
 */

ngx_int_t
ngx_http_yibao_shm_journal_claim(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value, uint64_t expire, ngx_pool_t *pool, ngx_str_t *existing)
{
    uint32_t                      hash;
    uint64_t                      now;
    ngx_http_yibao_zone_t        *zone;
    ngx_http_yibao_entry_t       *e;
    ngx_http_yibao_index_keys_t   ix;

    zone = shm_zone->data;
    now = ngx_http_yibao_shm_now();
    hash = ngx_crc32_short(key->data, key->len);

    /* a record the queries cannot find is not recorded at all */

    ngx_http_yibao_shm_index_keys(value, pool, &ix);

    if (ix.failed) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "yibao: a journal record could not be indexed "
                      "(no memory): it is not recorded");
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key, hash);

    if (e != NULL && e->expire >= now) {
        existing->data = ngx_pnalloc(pool, e->vlen ? e->vlen : 1);

        if (existing->data != NULL) {
            ngx_memcpy(existing->data, e->data + e->klen, e->vlen);
            existing->len = e->vlen;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        return existing->data != NULL ? NGX_DECLINED : NGX_ERROR;
    }

    if (e != NULL) {
        ngx_http_yibao_shm_free(zone, e);
    }

    e = ngx_http_yibao_shm_journal_put(zone, key, hash, now, value, &ix);
    if (e == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    e->expire = expire;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_yibao_shm_journal_get(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *value)
{
    return ngx_http_yibao_shm_get(shm_zone, key,
                                  NGX_HTTP_YIBAO_ENTRY_JOURNAL, pool, value);
}


/* Replaces a record's value, keeping its expiry; nothing if it is gone. */

void
ngx_http_yibao_shm_journal_update(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value)
{
    uint32_t                      hash;
    uint64_t                      now;
    ngx_uint_t                    i;
    ngx_pool_t                   *pool;
    ngx_http_yibao_zone_t        *zone;
    ngx_http_yibao_entry_t       *e, *n;
    ngx_http_yibao_index_t       *old;
    ngx_http_yibao_index_keys_t   ix;

    zone = shm_zone->data;
    now = ngx_http_yibao_shm_now();
    hash = ngx_crc32_short(key->data, key->len);

    /* the new value's index keys, outside the lock */

    pool = ngx_create_pool(4096, ngx_cycle->log);

    ngx_http_yibao_shm_index_keys(value, pool, &ix);

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key, hash);

    if (e == NULL || e->type != NGX_HTTP_YIBAO_ENTRY_JOURNAL
        || e->expire < now)
    {
        /* gone, or expired (insert() below could free it) */

        if (e != NULL && e->type == NGX_HTTP_YIBAO_ENTRY_JOURNAL) {
            ngx_http_yibao_shm_free(zone, e);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (pool != NULL) {
            ngx_destroy_pool(pool);
        }

        return;
    }

    if (ix.failed) {
        /* no memory for the new keys: the record keeps its index */

        old = ngx_http_yibao_shm_index(e);
        ix.n = e->nindex;

        for (i = 0; i < ix.n; i++) {
            ix.hash[i] = old[i].node.key;
        }
    }

    /*
     * the new value is stored before the old one is freed (insert()
     * frees only expired entries, cached answers and limit states, never
     * e): when the zone has no room for it, the record keeps its last
     * state ("sent": a repeat is "being processed", then "unknown", and
     * never sent again) instead of being lost
     */

    n = ngx_http_yibao_shm_journal_put(zone, key, hash, now, value, &ix);
    if (n != NULL) {
        n->expire = e->expire;
        ngx_http_yibao_shm_free(zone, e);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (pool != NULL) {
        ngx_destroy_pool(pool);
    }

    if (ix.failed) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "yibao: no memory to index a journal record: it is "
                      "found under its previous index keys");
    }

    if (n == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "yibao: zone \"yibao\" is full: a journal record "
                      "keeps its previous state, the new one (%uz bytes) "
                      "is in its error log line", value->len);
    }
}


/*
 * A new journal record of value, with its index entries (next sequence
 * number), or NULL when the zone is full.  The caller holds the mutex.
 */

static ngx_http_yibao_entry_t *
ngx_http_yibao_shm_journal_put(ngx_http_yibao_zone_t *zone, ngx_str_t *key,
    uint32_t hash, uint64_t now, ngx_str_t *value,
    ngx_http_yibao_index_keys_t *ix)
{
    ngx_uint_t               i;
    ngx_http_yibao_index_t  *x;
    ngx_http_yibao_entry_t  *e;

    e = ngx_http_yibao_shm_insert(zone, key, hash, now, value->len,
                                  NGX_HTTP_YIBAO_ENTRY_JOURNAL, ix->n);
    if (e == NULL) {
        return NULL;
    }

    ngx_memcpy(e->data + key->len, value->data, value->len);

    /* the sequence first: the tree orders a key's entries by it */

    e->value = ++zone->sh->seq;
    e->nindex = (uint32_t) ix->n;

    x = ngx_http_yibao_shm_index(e);

    for (i = 0; i < ix->n; i++) {
        x[i].node.key = ix->hash[i];
        x[i].entry = e;
        ngx_rbtree_insert(&zone->sh->index, &x[i].node);
    }

    return e;
}


/* a journal record's index entries: after its value, aligned */

static ngx_http_yibao_index_t *
ngx_http_yibao_shm_index(ngx_http_yibao_entry_t *e)
{
    return (ngx_http_yibao_index_t *)
               ngx_align_ptr(e->data + e->klen + e->vlen, sizeof(void *));
}


#define ngx_http_yibao_shm_seq(node)                                         \
    (((ngx_http_yibao_index_t *) (node))->entry->value)


/* in the order of (key hash, sequence): a key's records oldest first */

static void
ngx_http_yibao_shm_index_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_http_yibao_shm_seq(node) < ngx_http_yibao_shm_seq(temp))
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* the first index entry of the key hash whose record is after "after" */

static ngx_rbtree_node_t *
ngx_http_yibao_shm_index_first(ngx_rbtree_t *tree, ngx_rbtree_key_t hash,
    uint64_t after)
{
    ngx_rbtree_node_t  *node, *sentinel, *found;

    node = tree->root;
    sentinel = tree->sentinel;
    found = NULL;

    while (node != sentinel) {

        if (hash < node->key
            || (hash == node->key && after < ngx_http_yibao_shm_seq(node)))
        {
            found = node;
            node = node->left;

        } else {
            node = node->right;
        }
    }

    return (found != NULL && found->key == hash) ? found : NULL;
}


/*
 * Two 32-bit hashes of an index key: a query reads the records of
 * another key only when both collide (a 64-bit ngx_rbtree_key_t; where
 * it has 32 bits, when one does), and the caller filters them out.
 */

static ngx_rbtree_key_t
ngx_http_yibao_shm_index_hash(u_char *p, size_t len)
{
    return (ngx_rbtree_key_t) (((uint64_t) ngx_crc32_long(p, len) << 32)
                               | ngx_murmur_hash2(p, len));
}


/* the hashes of the record's index keys; ix->failed: no memory */

static void
ngx_http_yibao_shm_index_keys(ngx_str_t *value, ngx_pool_t *pool,
    ngx_http_yibao_index_keys_t *ix)
{
    size_t         i, n;
    yibao_str_t    keys[YIBAO_JOURNAL_ZONE_KEYS];
    yibao_alloc_t  a;

    ix->n = 0;
    ix->failed = 1;

    if (pool == NULL) {
        return;
    }

    ngx_http_yibao_alloc_init(&a, pool);

    switch (yibao_journal_zone_keys(value->data, value->len, &a, keys, &n)) {

    case YIBAO_OK:
        break;

    case YIBAO_ERR_SYNTAX:
        /* not a record: found by its key only */
        ix->failed = 0;
        return;

    default:
        return;
    }

    for (i = 0; i < n; i++) {
        ix->hash[i] = ngx_http_yibao_shm_index_hash((u_char *) keys[i].data,
                                                    keys[i].len);
    }

    ix->n = n;
    ix->failed = 0;
}


/*
 * A journal query of the zone: copies of this node's records found under
 * an index key (yibao_journal_query_key; the caller filters: two keys can
 * share a hash), at most max bytes of records (st.truncated set when
 * more would match), read one batch per call: the lock is held for at
 * most NGX_HTTP_YIBAO_HOLD_RECORDS records and NGX_HTTP_YIBAO_HOLD_BYTES
 * bytes, and the next call resumes after the last record read (what was
 * written meanwhile has a greater sequence number, what was freed is gone
 * from the tree).  cur->st counts the index entries read and the holds.
 */

void
ngx_http_yibao_shm_journal_open(ngx_http_yibao_shm_cursor_t *cur,
    ngx_str_t *key, size_t max)
{
    ngx_memzero(cur, sizeof(ngx_http_yibao_shm_cursor_t));

    cur->hash = ngx_http_yibao_shm_index_hash(key->data, key->len);
    cur->max = max;
    cur->total = 2;
}


/* The next batch, appended to recs (ngx_str_t); sets cur->done. */

ngx_int_t
ngx_http_yibao_shm_journal_next(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_shm_cursor_t *cur, ngx_pool_t *pool, ngx_array_t *recs)
{
    u_char                  *p;
    size_t                   bytes;
    uint64_t                 now;
    ngx_str_t               *rec;
    ngx_uint_t               n;
    ngx_rbtree_t            *tree;
    ngx_rbtree_node_t       *node;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    if (cur->done) {
        return NGX_OK;
    }

    zone = shm_zone->data;
    tree = &zone->sh->index;
    now = ngx_http_yibao_shm_now();

    n = 0;
    bytes = 0;
    cur->done = 1;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (node = ngx_http_yibao_shm_index_first(tree, cur->hash, cur->after);
         node != NULL && node->key == cur->hash;
         node = ngx_rbtree_next(tree, node))
    {
        if (n == NGX_HTTP_YIBAO_HOLD_RECORDS
            || bytes >= NGX_HTTP_YIBAO_HOLD_BYTES)
        {
            cur->done = 0;
            break;
        }

        e = ((ngx_http_yibao_index_t *) node)->entry;
        cur->after = e->value;
        n++;

        if (e->expire < now) {
            /* expired, not freed yet */
            continue;
        }

        if (cur->total + e->vlen + 1 > cur->max) {
            cur->st.truncated = 1;
            break;
        }

        rec = ngx_array_push(recs);
        p = ngx_pnalloc(pool, e->vlen ? e->vlen : 1);

        if (rec == NULL || p == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_ERROR;
        }

        ngx_memcpy(p, e->data + e->klen, e->vlen);
        rec->data = p;
        rec->len = e->vlen;

        cur->total += e->vlen + 1;
        bytes += e->vlen;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    cur->st.holds++;
    cur->st.examined += n;

    if (n > cur->st.hold_max) {
        cur->st.hold_max = n;
    }

    return NGX_OK;
}


/* "[a,b,...]" of the records (those that contain needle, without case) */

static ngx_int_t
ngx_http_yibao_shm_journal_join(ngx_array_t *recs, ngx_str_t *needle,
    ngx_pool_t *pool, ngx_str_t *list)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *rec;
    ngx_uint_t   i;

    rec = recs->elts;
    len = 2;

    for (i = 0; i < recs->nelts; i++) {
        len += rec[i].len + 1;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    list->data = p;
    *p++ = '[';

    for (i = 0; i < recs->nelts; i++) {

        if (needle != NULL
            && ngx_strlcasestrn(rec[i].data, rec[i].data + rec[i].len,
                                needle->data, needle->len - 1)
               == NULL)
        {
            continue;
        }

        if (p > list->data + 1) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, rec[i].data, rec[i].len);
    }

    *p++ = ']';
    list->len = p - list->data;

    return NGX_OK;
}


/*
 * A JSON array of this node's records in state "unknown"; with sent,
 * those in state "sent" as well (for the resolver, which picks the
 * money-moving ones a gateway lost with its answer): the index's unknown
 * set holds both.
 */

ngx_int_t
ngx_http_yibao_shm_journal_unknown(ngx_shm_zone_t *shm_zone,
    ngx_uint_t sent, ngx_pool_t *pool, ngx_str_t *list)
{
    ngx_str_t                    key, needle;
    ngx_array_t                  recs;
    ngx_http_yibao_shm_cursor_t  cur;

    ngx_str_set(&key, YIBAO_JOURNAL_UNKNOWN_SET);
    ngx_str_set(&needle, "\"state\":\"unknown\"");

    if (ngx_array_init(&recs, pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a batch per hold of the lock */

    ngx_http_yibao_shm_journal_open(&cur, &key, (size_t) -1);

    while (!cur.done) {
        if (ngx_http_yibao_shm_journal_next(shm_zone, &cur, pool, &recs)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_yibao_shm_journal_join(&recs, sent ? NULL : &needle,
                                           pool, list);
}


/* the cached wall clock in milliseconds */

/*
 * The exchanges in flight.  add: the record as claimed, owned by this
 * process; NULL when the zone is full (then nobody takes it over).
 */

void *
ngx_http_yibao_shm_inflight_add(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value, ngx_uint_t local)
{
    ngx_http_yibao_zone_t      *zone;
    ngx_http_yibao_inflight_t  *f;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    f = ngx_slab_alloc_locked(zone->shpool,
                              offsetof(ngx_http_yibao_inflight_t, data)
                              + key->len + value->len);
    if (f != NULL) {
        f->pid = ngx_pid;
        f->local = local;
        f->klen = key->len;
        f->vlen = value->len;
        ngx_memcpy(f->data, key->data, key->len);
        ngx_memcpy(f->data + key->len, value->data, value->len);
        ngx_queue_insert_tail(&zone->sh->inflight, &f->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return f;
}


/* The exchange ended at its own worker. */

void
ngx_http_yibao_shm_inflight_remove(ngx_shm_zone_t *shm_zone, void *handle)
{
    ngx_http_yibao_zone_t      *zone;
    ngx_http_yibao_inflight_t  *f;

    zone = shm_zone->data;
    f = handle;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_queue_remove(&f->queue);
    ngx_slab_free_locked(zone->shpool, f);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * Takes the exchanges of the workers that died (kill(pid, 0) finds no
 * such process) out of the list, copied into *out from pool; those kept
 * in Redis only when Redis is up (redis_up), so that they can be
 * written at once.  NGX_OK or NGX_ERROR (no memory: nothing taken).
 */

ngx_int_t
ngx_http_yibao_shm_inflight_orphans(ngx_shm_zone_t *shm_zone,
    ngx_uint_t redis_up, ngx_pool_t *pool, ngx_array_t *out)
{
    ngx_int_t                   rc;
    ngx_pid_t                   alive, dead;
    ngx_queue_t                *q, *next;
    ngx_http_yibao_zone_t      *zone;
    ngx_http_yibao_orphan_t    *o;
    ngx_http_yibao_inflight_t  *f;

    zone = shm_zone->data;
    rc = NGX_OK;
    alive = ngx_pid;
    dead = NGX_INVALID_PID;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->inflight);
         q != ngx_queue_sentinel(&zone->sh->inflight);
         q = next)
    {
        next = ngx_queue_next(q);
        f = ngx_queue_data(q, ngx_http_yibao_inflight_t, queue);

        if (f->pid == alive || (!f->local && !redis_up)) {
            continue;
        }

        if (f->pid != dead) {
            if (kill(f->pid, 0) == 0 || ngx_errno != NGX_ESRCH) {
                alive = f->pid;
                continue;
            }

            dead = f->pid;
        }

        o = ngx_array_push(out);
        if (o == NULL) {
            rc = NGX_ERROR;
            break;
        }

        o->pid = f->pid;
        o->local = f->local;
        o->key.len = f->klen;
        o->value.len = f->vlen;
        o->key.data = ngx_pnalloc(pool, f->klen + f->vlen);

        if (o->key.data == NULL) {
            out->nelts--;
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(o->key.data, f->data, f->klen + f->vlen);
        o->value.data = o->key.data + f->klen;

        ngx_queue_remove(&f->queue);
        ngx_slab_free_locked(zone->shpool, f);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * The platform's state of this node (yibao_outage): ev applied under the
 * zone's lock; *out is the state after it.
 */

ngx_uint_t
ngx_http_yibao_shm_outage(ngx_shm_zone_t *shm_zone,
    const yibao_outage_conf_t *conf, ngx_uint_t ev, yibao_outage_t *out,
    ngx_uint_t *changed)
{
    int                     c;
    ngx_uint_t              v;
    ngx_http_yibao_zone_t  *zone;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    v = yibao_outage_apply(&zone->sh->outage, conf,
                           (yibao_outage_event_e) ev,
                           ngx_http_yibao_shm_now(), &c);
    *out = zone->sh->outage;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    *changed = c ? 1 : 0;

    return v;
}


static uint64_t
ngx_http_yibao_shm_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * 记账 records (ngx_http_yibao_offline.c, through the store's door): the
 * records under "jz:<id>", each clinic's chain head under "jzh:<clinic>"
 * (its sequence number in the entry's value, the last hash as the
 * value), each clinic's day under "jzd:<clinic>:<day>" (count in the
 * entry's value, the amount in cents as the value), and the record of
 * each caller's msgid under "jzm:<caller>:<msgid>" (the record's key).
 * They never expire and are never evicted; offline_gen counts the
 * changes, for the file that keeps them across restarts.
 */

static ngx_http_yibao_entry_t *
ngx_http_yibao_shm_offline_entry(ngx_http_yibao_zone_t *zone, ngx_str_t *key,
    size_t vlen, ngx_uint_t *created)
{
    uint32_t                 hash;
    ngx_http_yibao_entry_t  *e;

    hash = ngx_crc32_short(key->data, key->len);

    e = ngx_http_yibao_shm_lookup(zone, key, hash);

    *created = 0;

    if (e != NULL && e->type == NGX_HTTP_YIBAO_ENTRY_OFFLINE
        && e->vlen == vlen)
    {
        return e;
    }

    if (e != NULL) {
        ngx_http_yibao_shm_free(zone, e);
    }

    e = ngx_http_yibao_shm_insert(zone, key, hash, ngx_http_yibao_shm_now(),
                                  vlen, NGX_HTTP_YIBAO_ENTRY_OFFLINE, 0);
    if (e == NULL) {
        return NULL;
    }

    e->expire = (uint64_t) -1;
    ngx_memzero(e->data + e->klen, vlen);
    *created = 1;

    return e;
}


/*
 * Adds a record of the clinic's day (amount in cents) under the limits
 * (0: none): under the zone's lock the clinic's head is read, seal()
 * makes the record that follows it (its key and value, from the pool of
 * its data), and the record, the head and the day are written.  NGX_OK;
 * NGX_DONE: the msgid has its record already (add->existing, its key);
 * NGX_DECLINED: over a limit; NGX_BUSY: the zone is full; NGX_ERROR.
 */

ngx_int_t
ngx_http_yibao_shm_offline_add(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_offline_add_t *add)
{
    u_char                   prev[YIBAO_OFFLINE_HASH_LEN + 1];
    ngx_int_t                rc;
    ngx_str_t                hkey, dkey, key, value;
    ngx_uint_t               hnew, dnew, rnew;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *head, *day, *rec, *e;

    zone = shm_zone->data;

    hkey = add->head_key;
    dkey = add->day_key;

    ngx_shmtx_lock(&zone->shpool->mutex);

    head = ngx_http_yibao_shm_offline_entry(zone, &hkey,
                                            YIBAO_OFFLINE_HASH_LEN, &hnew);
    day = ngx_http_yibao_shm_offline_entry(zone, &dkey, sizeof(int64_t),
                                           &dnew);

    if (head == NULL || day == NULL) {
        rc = NGX_BUSY;
        goto done;
    }

    add->day_count = day->value;
    ngx_memcpy(&add->day_amount, day->data + day->klen, sizeof(int64_t));

    /* the caller's msgid again: its record, not another */

    e = ngx_http_yibao_shm_lookup(zone, &add->msgid_key,
                                  ngx_crc32_short(add->msgid_key.data,
                                                  add->msgid_key.len));

    if (e != NULL && e->type == NGX_HTTP_YIBAO_ENTRY_OFFLINE) {
        add->existing.data = ngx_pnalloc(add->pool, e->vlen);

        if (add->existing.data == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ngx_memcpy(add->existing.data, e->data + e->klen, e->vlen);
        add->existing.len = e->vlen;
        rc = NGX_DONE;
        goto done;
    }

    if (!yibao_offline_within(add->day_count, add->day_amount, add->amount,
                              add->max_count, add->max_amount))
    {
        rc = NGX_DECLINED;
        goto done;
    }

    ngx_memcpy(prev, head->data + head->klen, YIBAO_OFFLINE_HASH_LEN);
    prev[hnew ? 0 : YIBAO_OFFLINE_HASH_LEN] = '\0';

    add->seq = head->value + 1;

    if (add->seal(add, (char *) prev, &key, &value) != NGX_OK) {
        rc = NGX_ERROR;
        goto done;
    }

    rec = ngx_http_yibao_shm_offline_entry(zone, &key, value.len, &rnew);
    if (rec == NULL) {
        rc = NGX_BUSY;
        goto done;
    }

    ngx_memcpy(rec->data + rec->klen, value.data, value.len);

    e = ngx_http_yibao_shm_offline_entry(zone, &add->msgid_key, key.len,
                                         &rnew);
    if (e != NULL) {
        ngx_memcpy(e->data + e->klen, key.data, key.len);
    }

    head->value = add->seq;
    ngx_memcpy(head->data + head->klen, add->hash, YIBAO_OFFLINE_HASH_LEN);

    day->value++;
    add->day_amount += add->amount;
    ngx_memcpy(day->data + day->klen, &add->day_amount, sizeof(int64_t));
    add->day_count = day->value;

    zone->sh->offline_gen++;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * A record loaded from the file at the start: put as it is, and the
 * clinic's head and day moved up to it when it is later.
 */

ngx_int_t
ngx_http_yibao_shm_offline_load(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_offline_add_t *add, ngx_str_t *key, ngx_str_t *value)
{
    ngx_int_t                rc;
    ngx_uint_t               created;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *head, *day, *rec;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    rc = NGX_BUSY;

    rec = ngx_http_yibao_shm_offline_entry(zone, key, value->len, &created);
    head = ngx_http_yibao_shm_offline_entry(zone, &add->head_key,
                                            YIBAO_OFFLINE_HASH_LEN,
                                            &created);
    day = ngx_http_yibao_shm_offline_entry(zone, &add->day_key,
                                           sizeof(int64_t), &created);

    if (rec != NULL && head != NULL && day != NULL) {
        ngx_memcpy(rec->data + rec->klen, value->data, value->len);

        if (add->msgid_key.len) {
            rec = ngx_http_yibao_shm_offline_entry(zone, &add->msgid_key,
                                                   key->len, &created);
            if (rec != NULL) {
                ngx_memcpy(rec->data + rec->klen, key->data, key->len);
            }
        }

        if (add->seq > head->value) {
            head->value = add->seq;
            ngx_memcpy(head->data + head->klen, add->hash,
                       YIBAO_OFFLINE_HASH_LEN);
        }

        day->value++;
        ngx_memcpy(&add->day_amount, day->data + day->klen,
                   sizeof(int64_t));
        add->day_amount += add->amount;
        ngx_memcpy(day->data + day->klen, &add->day_amount,
                   sizeof(int64_t));

        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* one record by its key: NGX_OK, NGX_DECLINED (none) or NGX_ERROR */

ngx_int_t
ngx_http_yibao_shm_offline_get(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *value)
{
    return ngx_http_yibao_shm_get(shm_zone, key,
                                  NGX_HTTP_YIBAO_ENTRY_OFFLINE, pool, value);
}


/* a record's new text (its state changed) */

ngx_int_t
ngx_http_yibao_shm_offline_put(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_uint_t               created;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_offline_entry(zone, key, value->len, &created);

    if (e != NULL) {
        ngx_memcpy(e->data + e->klen, value->data, value->len);
        zone->sh->offline_gen++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return e ? NGX_OK : NGX_BUSY;
}


/*
 * A record's new text only when it still is old (the replay's claims
 * and moves: two workers never both move it): NGX_OK; NGX_DECLINED: it
 * changed meanwhile (or is gone); NGX_BUSY: the zone is full.
 */

ngx_int_t
ngx_http_yibao_shm_offline_swap(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *old, ngx_str_t *value)
{
    ngx_int_t                rc;
    ngx_uint_t               created;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    e = ngx_http_yibao_shm_lookup(zone, key,
                                  ngx_crc32_short(key->data, key->len));

    if (e == NULL || e->type != NGX_HTTP_YIBAO_ENTRY_OFFLINE
        || e->vlen != old->len
        || ngx_memcmp(e->data + e->klen, old->data, old->len) != 0)
    {
        rc = NGX_DECLINED;

    } else {
        e = ngx_http_yibao_shm_offline_entry(zone, key, value->len,
                                             &created);

        if (e != NULL) {
            ngx_memcpy(e->data + e->klen, value->data, value->len);
            zone->sh->offline_gen++;
        }

        rc = e ? NGX_OK : NGX_BUSY;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * Every record (ngx_str_t values, from pool) whose key starts with
 * prefix ("jz:" for all), and the zone's change count.
 */

ngx_int_t
ngx_http_yibao_shm_offline_list(ngx_shm_zone_t *shm_zone, ngx_str_t *prefix,
    ngx_pool_t *pool, ngx_array_t *out, uint64_t *gen)
{
    ngx_int_t                rc;
    ngx_str_t               *v;
    ngx_queue_t             *q, *queue;
    ngx_http_yibao_zone_t   *zone;
    ngx_http_yibao_entry_t  *e;

    zone = shm_zone->data;
    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    queue = &zone->sh->queue[NGX_HTTP_YIBAO_ENTRY_OFFLINE];
    *gen = zone->sh->offline_gen;

    for (q = ngx_queue_head(queue);
         q != ngx_queue_sentinel(queue);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_yibao_entry_t, queue);

        if (e->klen < prefix->len
            || ngx_memcmp(e->data, prefix->data, prefix->len) != 0)
        {
            continue;
        }

        v = ngx_array_push(out);
        if (v == NULL) {
            rc = NGX_ERROR;
            break;
        }

        v->data = ngx_pnalloc(pool, e->vlen);
        if (v->data == NULL) {
            rc = NGX_ERROR;
            break;
        }

        ngx_memcpy(v->data, e->data + e->klen, e->vlen);
        v->len = e->vlen;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}
