/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_STORE_H_INCLUDED_
#define _NGX_HTTP_YIBAO_STORE_H_INCLUDED_


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_redis.h"
#include "ngx_http_yibao_shm.h"


/*
 * Inside the door to the stores: what its files (ngx_http_yibao_store.c,
 * ngx_http_yibao_store_journal.c and, per feature, _keys.c, _audit.c,
 * _offline.c, _coverage.c) share.  No other file includes this header,
 * nor the Redis and zone headers under it (make lint).
 */

/* how Redis's answer is read into ngx_http_yibao_store_res_t */
#define NGX_HTTP_YIBAO_STORE_READ_STRING  0   /* a string, or none */
#define NGX_HTTP_YIBAO_STORE_READ_COUNT   1   /* an integer */
#define NGX_HTTP_YIBAO_STORE_READ_LIST    2   /* an array of strings */
#define NGX_HTTP_YIBAO_STORE_READ_CACHE   3   /* {value|nil, locked, now} */
#define NGX_HTTP_YIBAO_STORE_READ_CLAIM   4   /* {1}, {2}, {0, existing} */
#define NGX_HTTP_YIBAO_STORE_READ_SCAN    5   /* {cursor, {strings}} */


ngx_int_t ngx_http_yibao_store_run(ngx_http_request_t *r,
    ngx_http_yibao_ctx_t *ctx, ngx_pool_t *pool, ngx_log_t *log,
    ngx_uint_t read, ngx_uint_t argc, ngx_str_t *argv, ngx_uint_t nkeys,
    ngx_http_yibao_store_done_pt done, void *data);
ngx_int_t ngx_http_yibao_store_run_own(ngx_log_t *log, ngx_uint_t read,
    ngx_uint_t argc, ngx_str_t *argv, ngx_http_yibao_store_done_pt done,
    void *data);
ngx_http_yibao_main_conf_t *ngx_http_yibao_store_conf(void);
ngx_int_t ngx_http_yibao_store_copy_reply(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *reply);
void ngx_http_yibao_store_ignore(void *data, redisReply *reply,
    ngx_uint_t status);
void ngx_http_yibao_store_write(ngx_uint_t argc, ngx_str_t *argv,
    ngx_uint_t nkeys, ngx_log_t *log);


#endif /* _NGX_HTTP_YIBAO_STORE_H_INCLUDED_ */
