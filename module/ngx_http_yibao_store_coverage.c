/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"


/*
 * Hashes for clinic coverage (module/ngx_http_yibao_coverage.c), from
 * worker 0's timer: HSET of n/2 field-value pairs, read as a count, and
 * one HSCAN step from cursor (NGX_HTTP_YIBAO_STORE_READ_SCAN), each
 * answered through done in the common shape, with a pool of its own.
 */


ngx_int_t
ngx_http_yibao_store_hash_set(ngx_str_t *key, ngx_str_t *items, ngx_uint_t n,
    ngx_http_yibao_store_done_pt done, void *data, ngx_log_t *log)
{
    ngx_int_t   rc;
    ngx_str_t  *argv;

    argv = ngx_alloc((n + 2) * sizeof(ngx_str_t), log);
    if (argv == NULL) {
        return NGX_DECLINED;
    }

    ngx_str_set(&argv[0], "HSET");
    argv[1] = *key;
    ngx_memcpy(&argv[2], items, n * sizeof(ngx_str_t));

    rc = ngx_http_yibao_store_run_own(log, NGX_HTTP_YIBAO_STORE_READ_COUNT,
                                      n + 2, argv, done, data);

    ngx_free(argv);

    return rc == NGX_AGAIN ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_yibao_store_hash_scan(ngx_str_t *key, ngx_str_t *cursor,
    ngx_uint_t count, ngx_http_yibao_store_done_pt done, void *data,
    ngx_log_t *log)
{
    u_char     num[NGX_INT_T_LEN];
    ngx_int_t  rc;
    ngx_str_t  argv[5];

    ngx_str_set(&argv[0], "HSCAN");
    argv[1] = *key;
    argv[2] = *cursor;
    ngx_str_set(&argv[3], "COUNT");
    argv[4].data = num;
    argv[4].len = ngx_sprintf(num, "%ui", count) - num;

    rc = ngx_http_yibao_store_run_own(log, NGX_HTTP_YIBAO_STORE_READ_SCAN, 5,
                                      argv, done, data);

    return rc == NGX_AGAIN ? NGX_OK : NGX_DECLINED;
}
