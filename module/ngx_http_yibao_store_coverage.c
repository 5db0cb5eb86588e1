/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_store.h"


/*
 * Hashes for clinic coverage (module/ngx_http_yibao_coverage.c): the
 * reply of HSET or HSCAN handed on in nginx's strings.
 */

typedef struct {
    ngx_http_yibao_store_hash_pt   handler;
    void                          *data;
    ngx_log_t                     *log;
} ngx_http_yibao_store_hash_t;


static void ngx_http_yibao_store_hash_reply(void *data, redisReply *reply,
    ngx_uint_t status);
static ngx_int_t ngx_http_yibao_store_hash_run(ngx_uint_t argc,
    ngx_str_t *argv, ngx_http_yibao_store_hash_pt handler, void *data,
    ngx_log_t *log);


ngx_int_t
ngx_http_yibao_store_hash_set(ngx_str_t *key, ngx_str_t *items, ngx_uint_t n,
    ngx_http_yibao_store_hash_pt handler, void *data, ngx_log_t *log)
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

    rc = ngx_http_yibao_store_hash_run(n + 2, argv, handler, data, log);

    ngx_free(argv);

    return rc;
}


ngx_int_t
ngx_http_yibao_store_hash_scan(ngx_str_t *key, ngx_str_t *cursor,
    ngx_uint_t count, ngx_http_yibao_store_hash_pt handler, void *data,
    ngx_log_t *log)
{
    u_char     num[NGX_INT_T_LEN];
    ngx_str_t  argv[5];

    ngx_str_set(&argv[0], "HSCAN");
    argv[1] = *key;
    argv[2] = *cursor;
    ngx_str_set(&argv[3], "COUNT");
    argv[4].data = num;
    argv[4].len = ngx_sprintf(num, "%ui", count) - num;

    return ngx_http_yibao_store_hash_run(5, argv, handler, data, log);
}


static ngx_int_t
ngx_http_yibao_store_hash_run(ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_yibao_store_hash_pt handler, void *data, ngx_log_t *log)
{
    ngx_http_yibao_store_hash_t  *h;

    h = ngx_alloc(sizeof(ngx_http_yibao_store_hash_t), log);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    h->handler = handler;
    h->data = data;
    h->log = log;

    if (ngx_http_yibao_redis_run(argc, argv, 0, 0,
                                 ngx_http_yibao_store_hash_reply, h, log)
        == NULL)
    {
        ngx_free(h);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_yibao_store_hash_reply(void *data, redisReply *reply,
    ngx_uint_t status)
{
    ngx_http_yibao_store_hash_t *h = data;

    size_t        i, n;
    ngx_str_t     cursor, *items;
    redisReply   *list;

    items = NULL;
    n = 0;
    ngx_str_null(&cursor);

    if (status != NGX_HTTP_YIBAO_REDIS_OK || reply == NULL) {
        goto failed;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        h->handler(h->data, NGX_OK, NULL, NULL, 0);
        goto done;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        goto failed;
    }

    cursor.data = (u_char *) reply->element[0]->str;
    cursor.len = reply->element[0]->len;

    list = reply->element[1];
    n = list->elements;

    if (n) {
        items = ngx_alloc(n * sizeof(ngx_str_t), h->log);
        if (items == NULL) {
            goto failed;
        }
    }

    for (i = 0; i < n; i++) {
        if (list->element[i]->type != REDIS_REPLY_STRING) {
            ngx_free(items);
            goto failed;
        }

        items[i].data = (u_char *) list->element[i]->str;
        items[i].len = list->element[i]->len;
    }

    h->handler(h->data, NGX_OK, &cursor, items, n);

    if (items) {
        ngx_free(items);
    }

    goto done;

failed:

    h->handler(h->data, NGX_ERROR, NULL, NULL, 0);

done:

    ngx_free(h);
}
