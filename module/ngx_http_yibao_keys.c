/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"


/*
 * The operators' keys API (yibao_keys_api): every key's state and which
 * key signs for its key_id now, in JSON; POST ?key_id=..&use=older
 * switches a key_id back to its older key (a rollback while the
 * platform has not taken the newer), use=newer to the keys' times
 * again, without a reload (the choice is the store's:
 * ngx_http_yibao_store_key_choose()).  No AK or SK is ever written.
 */


/* a key's line of the answer, at most (the key_id escaped: 6x) */
#define NGX_HTTP_YIBAO_KEYS_LINE  (64 * 6 + YIBAO_KEY_LABEL_LEN * 6 + 256)


static ngx_int_t ngx_http_yibao_keys_api_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_yibao_keys_choose(ngx_http_request_t *r,
    const yibao_key_t *newest, ngx_str_t *use, const char **msg);
static u_char *ngx_http_yibao_keys_render(ngx_http_request_t *r, u_char *p,
    const yibao_key_t *newest, time_t now);


/*
 * The key that signs for newest's key_id at now: the operator's choice
 * (the store's; *use its label, empty: none) or the keys' times; NULL
 * when none is valid now.
 */

const yibao_key_t *
ngx_http_yibao_key_signer(const yibao_key_t *newest, time_t now,
    ngx_pool_t *pool, ngx_str_t *use)
{
    ngx_str_t  id;

    ngx_str_null(use);

    if (newest->older != NULL) {
        id.data = (u_char *) newest->id.data;
        id.len = newest->id.len;
        ngx_http_yibao_store_key_use(&id, pool, use);
    }

    return yibao_key_pick(newest, now, use->data, use->len);
}


/*
 * The state of key k at now, its activation from the keys' store (*act,
 * 0: never): what the keys API, the status document and the coverage's
 * reports show.
 */

yibao_key_state_e
ngx_http_yibao_key_state(const yibao_key_t *k, time_t now, ngx_pool_t *pool,
    time_t *act)
{
    char       label[YIBAO_KEY_LABEL_LEN];
    ngx_str_t  l;

    l.data = (u_char *) label;
    l.len = yibao_key_label(k, label);

    *act = ngx_http_yibao_store_key_activated_at(&l, pool);

    return yibao_key_state(k, *act, now);
}


char *
ngx_http_yibao_keys_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_http_yibao_api_directive(cf, conf,
                                        ngx_http_yibao_keys_api_handler);
}


static ngx_int_t
ngx_http_yibao_keys_api_handler(ngx_http_request_t *r)
{
    u_char                      *buf, *p;
    size_t                       n, i;
    time_t                       now;
    ngx_int_t                    rc;
    ngx_str_t                    id, use;
    ngx_uint_t                   status;
    const char                  *msg;
    const yibao_key_t           *k;
    ngx_http_yibao_main_conf_t  *gmcf;

    rc = ngx_http_yibao_api_start(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_yibao_module);

    if (gmcf->keys == NULL) {
        return ngx_http_yibao_api_error(r, NGX_HTTP_NOT_FOUND,
                                        "no yibao_keys");
    }

    now = ngx_time();
    k = NULL;

    if (ngx_http_arg(r, (u_char *) "key_id", 6, &id) == NGX_OK) {
        k = yibao_keys_find(gmcf->keys, id.data, id.len);

        if (k == NULL) {
            return ngx_http_yibao_api_error(r, NGX_HTTP_NOT_FOUND,
                                            "no such key_id");
        }
    }

    if (r->method == NGX_HTTP_POST) {
        if (k == NULL
            || ngx_http_arg(r, (u_char *) "use", 3, &use) != NGX_OK)
        {
            return ngx_http_yibao_api_error(r, NGX_HTTP_BAD_REQUEST,
                                            "POST needs key_id= and "
                                            "use=older or newer");
        }

        status = ngx_http_yibao_keys_choose(r, k, &use, &msg);
        if (status != NGX_HTTP_OK) {
            return ngx_http_yibao_api_error(r, status, msg);
        }
    }

    n = (k != NULL) ? 2 : yibao_keys_count(gmcf->keys);

    buf = ngx_pnalloc(r->pool, 32 + n * NGX_HTTP_YIBAO_KEYS_LINE);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(buf, "{\"keys\":[", 9);

    if (k != NULL) {
        p = ngx_http_yibao_keys_render(r, p, k, now);

    } else {
        for (i = 0; i < n; i++) {
            k = yibao_keys_at(gmcf->keys, i);

            /* each key_id once, from its newest */

            if (yibao_keys_find(gmcf->keys, k->id.data, k->id.len) == k) {
                p = ngx_http_yibao_keys_render(r, p, k, now);
            }
        }
    }

    if (p[-1] == ',') {
        p--;
    }

    p = ngx_cpymem(p, "]}", 2);

    return ngx_http_yibao_send_json(r, NGX_HTTP_OK, buf, p - buf);
}


/* NGX_HTTP_OK, or an HTTP status and *msg why */

static ngx_uint_t
ngx_http_yibao_keys_choose(ngx_http_request_t *r, const yibao_key_t *newest,
    ngx_str_t *use, const char **msg)
{
    char                buf[YIBAO_KEY_LABEL_LEN];
    time_t              now;
    ngx_str_t           id, label;
    const yibao_key_t  *older;

    now = ngx_time();
    older = newest->older;

    id.data = (u_char *) newest->id.data;
    id.len = newest->id.len;
    ngx_str_null(&label);

    if (use->len == 5 && ngx_strncmp(use->data, "older", 5) == 0) {
        if (older == NULL || now < older->valid_from
            || now >= older->valid_to)
        {
            *msg = "the key_id has no older key valid now";
            return NGX_HTTP_CONFLICT;
        }

        label.data = (u_char *) buf;
        label.len = yibao_key_label(older, buf);

    } else if (!(use->len == 5 && ngx_strncmp(use->data, "newer", 5) == 0)) {
        *msg = "use= is older or newer";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_yibao_store_key_choose(&id, &label, r->pool,
                                        r->connection->log)
        != NGX_OK)
    {
        *msg = "the zone could not keep the choice";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "yibao: key_id \"%V\" set to sign with %s key by the "
                  "operator%s%V", &id, label.len ? "its older" : "the "
                  "newer (by the keys' times)", label.len ? ": " : "",
                  &label);

    return NGX_HTTP_OK;
}


/* the keys of newest's key_id, each an object and a comma */

static u_char *
ngx_http_yibao_keys_render(ngx_http_request_t *r, u_char *p,
    const yibao_key_t *newest, time_t now)
{
    char                label[YIBAO_KEY_LABEL_LEN], t[3][YIBAO_TIME_LEN];
    size_t              len;
    time_t              act;
    ngx_str_t           id, use;
    yibao_key_state_e   state;
    const yibao_key_t  *k, *signer;

    id.data = (u_char *) newest->id.data;
    id.len = newest->id.len;

    signer = ngx_http_yibao_key_signer(newest, now, r->pool, &use);

    for (k = newest; k != NULL; k = k->older) {
        len = yibao_key_label(k, label);
        state = ngx_http_yibao_key_state(k, now, r->pool, &act);

        yibao_time_format(k->valid_from, t[0]);
        yibao_time_format(k->valid_to == YIBAO_KEY_NEVER ? 0 : k->valid_to,
                          t[1]);
        yibao_time_format(act, t[2]);

        p = ngx_cpymem(p, "{\"key_id\":\"", 11);
        p = (u_char *) ngx_escape_json(p, id.data, id.len);
        p = ngx_cpymem(p, "\",\"label\":\"", 11);
        p = (u_char *) ngx_escape_json(p, (u_char *) label, len);

        p = ngx_sprintf(p, "\",\"valid_from\":%s%s%s,\"valid_to\":%s%s%s,"
                        "\"state\":\"%s\",\"activated\":%s%s%s,"
                        "\"signs\":%s,\"chosen\":%s},",
                        k->validity ? "\"" : "", k->validity ? t[0] : "null",
                        k->validity ? "\"" : "",
                        k->validity ? "\"" : "", k->validity ? t[1] : "null",
                        k->validity ? "\"" : "",
                        yibao_key_state_name(state),
                        act ? "\"" : "", act ? t[2] : "null", act ? "\"" : "",
                        k == signer ? "true" : "false",
                        (use.len && k == signer && k != newest)
                        ? "true" : "false");
    }

    return p;
}
