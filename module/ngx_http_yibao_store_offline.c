/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"


/* 记账 records (ngx_http_yibao_offline.c): this node's zone */

ngx_int_t
ngx_http_yibao_store_offline_add(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_offline_add_t *add)
{
    return ngx_http_yibao_shm_offline_add(gmcf->shm_zone, add);
}


ngx_int_t
ngx_http_yibao_store_offline_load(ngx_http_yibao_main_conf_t *gmcf,
    ngx_http_yibao_offline_add_t *add, ngx_str_t *key, ngx_str_t *value)
{
    return ngx_http_yibao_shm_offline_load(gmcf->shm_zone, add, key, value);
}


ngx_int_t
ngx_http_yibao_store_offline_get(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_pool_t *pool, ngx_str_t *value)
{
    return ngx_http_yibao_shm_offline_get(gmcf->shm_zone, key, pool, value);
}


ngx_int_t
ngx_http_yibao_store_offline_put(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_str_t *value)
{
    return ngx_http_yibao_shm_offline_put(gmcf->shm_zone, key, value);
}


ngx_int_t
ngx_http_yibao_store_offline_list(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *prefix, ngx_pool_t *pool, ngx_array_t *out, uint64_t *gen)
{
    return ngx_http_yibao_shm_offline_list(gmcf->shm_zone, prefix, pool, out,
                                           gen);
}


ngx_int_t
ngx_http_yibao_store_offline_swap(ngx_http_yibao_main_conf_t *gmcf,
    ngx_str_t *key, ngx_str_t *old, ngx_str_t *value)
{
    return ngx_http_yibao_shm_offline_swap(gmcf->shm_zone, key, old, value);
}
