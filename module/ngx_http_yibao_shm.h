/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_SHM_H_INCLUDED_
#define _NGX_HTTP_YIBAO_SHM_H_INCLUDED_


#include "ngx_http_yibao_common.h"


/*
 * The shared zone as the embedded store (ngx_http_yibao_shm.c).  Only
 * the door to the stores (ngx_http_yibao_store.c,
 * ngx_http_yibao_store_journal.c) calls these; the zone itself is added
 * by the yibao_zone directive (ngx_http_yibao_module.c).
 */

ngx_int_t ngx_http_yibao_shm_add(ngx_conf_t *cf, ngx_str_t *size);
ngx_int_t ngx_http_yibao_shm_nonce_record(ngx_shm_zone_t *zone,
    ngx_str_t *caller, ngx_str_t *nonce, time_t now, time_t expire);
ngx_int_t ngx_http_yibao_shm_msgid_next(ngx_shm_zone_t *zone,
    ngx_str_t *entity, ngx_uint_t node, ngx_uint_t nodes, time_t now,
    uint64_t *sec, unsigned *seq);
void ngx_http_yibao_shm_limit(ngx_shm_zone_t *shm_zone, ngx_uint_t n,
    ngx_str_t *keys, yibao_limit_policy_t **policies,
    yibao_limit_decision_t *d);
ngx_int_t ngx_http_yibao_shm_key_get(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_key_set(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *value, ngx_uint_t only_new);
ngx_uint_t ngx_http_yibao_shm_key_uses(ngx_shm_zone_t *shm_zone);
ngx_int_t ngx_http_yibao_shm_cache_get(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value);
void ngx_http_yibao_shm_cache_put(ngx_shm_zone_t *shm_zone, ngx_str_t *key,
    ngx_str_t *value, uint64_t expire);
ngx_int_t ngx_http_yibao_shm_cache_purge(ngx_shm_zone_t *shm_zone,
    ngx_str_t *pattern);
ngx_int_t ngx_http_yibao_shm_journal_claim(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *value, uint64_t expire, ngx_pool_t *pool,
    ngx_str_t *existing);
ngx_int_t ngx_http_yibao_shm_journal_get(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value);
void ngx_http_yibao_shm_journal_update(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_journal_unknown(ngx_shm_zone_t *shm_zone,
    ngx_uint_t sent, ngx_pool_t *pool, ngx_str_t *list);
void ngx_http_yibao_shm_journal_open(ngx_http_yibao_shm_cursor_t *cur,
    ngx_str_t *key, size_t max);
ngx_int_t ngx_http_yibao_shm_journal_next(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_shm_cursor_t *cur, ngx_pool_t *pool, ngx_array_t *recs);
void *ngx_http_yibao_shm_inflight_add(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *value, ngx_uint_t local);
void ngx_http_yibao_shm_inflight_remove(ngx_shm_zone_t *shm_zone,
    void *handle);
ngx_int_t ngx_http_yibao_shm_inflight_orphans(ngx_shm_zone_t *shm_zone,
    ngx_uint_t redis_up, ngx_pool_t *pool, ngx_array_t *out);
ngx_uint_t ngx_http_yibao_shm_outage(ngx_shm_zone_t *shm_zone,
    const yibao_outage_conf_t *conf, ngx_uint_t ev, yibao_outage_t *out,
    ngx_uint_t *changed);

ngx_int_t ngx_http_yibao_shm_offline_add(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_offline_add_t *add);
ngx_int_t ngx_http_yibao_shm_offline_load(ngx_shm_zone_t *shm_zone,
    ngx_http_yibao_offline_add_t *add, ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_offline_get(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_offline_put(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_offline_swap(ngx_shm_zone_t *shm_zone,
    ngx_str_t *key, ngx_str_t *old, ngx_str_t *value);
ngx_int_t ngx_http_yibao_shm_offline_list(ngx_shm_zone_t *shm_zone,
    ngx_str_t *prefix, ngx_pool_t *pool, ngx_array_t *out, uint64_t *gen);


#endif /* _NGX_HTTP_YIBAO_SHM_H_INCLUDED_ */
