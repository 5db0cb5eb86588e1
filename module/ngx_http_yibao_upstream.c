/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "yibao_msgid.h"


/*
 * The making of what is sent to the platform, shared by the clinics'
 * transactions (ngx_http_yibao_handler.c), the resolver's queries and
 * reversals (ngx_http_yibao_resolve.c) and the gateway's own sign-in
 * (ngx_http_yibao_signin.c): the path of an infno, a msgid of the
 * entity's, and the signature of the exact bytes sent.
 */


/*
 * The platform's path of an infno by the location's yibao_route: NGX_OK,
 * NGX_DECLINED (not in the table) or NGX_ERROR.
 */

ngx_int_t
ngx_http_yibao_route_path(ngx_http_yibao_loc_conf_t *glcf, ngx_str_t *infno,
    ngx_pool_t *pool, ngx_str_t *uri)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_http_yibao_route_t  *route;

    switch (glcf->route_type) {

    case NGX_HTTP_YIBAO_ROUTE_PREFIX:
        p = ngx_pnalloc(pool, glcf->route_path.len + infno->len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        uri->data = p;
        p = ngx_cpymem(p, glcf->route_path.data, glcf->route_path.len);
        p = ngx_cpymem(p, infno->data, infno->len);
        uri->len = p - uri->data;

        return NGX_OK;

    case NGX_HTTP_YIBAO_ROUTE_TABLE:
        route = glcf->routes->elts;

        for (i = 0; i < glcf->routes->nelts; i++) {
            if (route[i].infno.len == infno->len
                && ngx_strncmp(route[i].infno.data, infno->data,
                               infno->len) == 0)
            {
                *uri = route[i].path;
                return NGX_OK;
            }
        }

        return NGX_DECLINED;

    default: /* NGX_HTTP_YIBAO_ROUTE_SINGLE */
        *uri = glcf->route_path;
        return NGX_OK;
    }
}


/*
 * A fresh msgid of the clinic's contracting entity, from the entity's
 * sequence in the zone: NGX_OK, NGX_BUSY (the second's 10000 are used)
 * or NGX_ERROR.
 */

ngx_int_t
ngx_http_yibao_msgid_issue(ngx_http_yibao_main_conf_t *gmcf,
    const yibao_clinic_t *clinic, ngx_pool_t *pool, ngx_str_t *msgid)
{
    u_char      *p;
    unsigned     seq;
    uint64_t     sec;
    ngx_str_t    entity;
    yibao_tm_t   tm;

    entity.data = (u_char *) clinic->entity_code.data;
    entity.len = clinic->entity_code.len;

    if (ngx_http_yibao_store_msgid_next(gmcf, &entity, ngx_time(), &sec,
                                        &seq)
        != NGX_OK)
    {
        return NGX_BUSY;
    }

    p = ngx_pnalloc(pool, YIBAO_MSGID_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_yibao_localtime((ngx_msec_t) sec * 1000, &tm);

    if (yibao_msgid_format(&clinic->entity_code, &tm, seq, (char *) p)
        != YIBAO_OK)
    {
        return NGX_ERROR;
    }

    msgid->data = p;
    msgid->len = YIBAO_MSGID_LEN;

    return NGX_OK;
}


/*
 * The signature headers of a body sent for the clinic's entity with the
 * key that signs for it now (yibao_key_pick(): the newer of two from its
 * valid_from on, or the older an operator chose), by the scheme of
 * sign: NGX_OK, NGX_DECLINED (no key of the entity is valid now;
 * logged) or NGX_ERROR (logged).  *used (if not NULL) is the key.
 */

ngx_int_t
ngx_http_yibao_sign_body(yibao_sign_conf_t *sign, const yibao_clinic_t *clinic,
    ngx_str_t *infno, yibao_str_t *body, ngx_pool_t *pool, ngx_log_t *log,
    yibao_sign_out_t *out, const yibao_key_t **used)
{
    u_char              nonce[32];
    ngx_str_t           use, id;
    ngx_uint_t          i;
    ngx_time_t         *tp;
    yibao_err_t         err;
    yibao_alloc_t       a;
    yibao_sign_key_t    key;
    yibao_sign_input_t  in;
    const yibao_key_t  *k;

    static u_char  alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789";

    ngx_memzero(&err, sizeof(yibao_err_t));
    ngx_memzero(out, sizeof(yibao_sign_out_t));

    tp = ngx_timeofday();

    /* the operator's choice of the older key, if any (the store's) */

    id.data = (u_char *) clinic->key->id.data;
    id.len = clinic->key->id.len;
    ngx_str_null(&use);

    if (clinic->key->older != NULL) {
        ngx_http_yibao_store_key_use(&id, pool, &use);
    }

    k = yibao_key_pick(clinic->key, tp->sec, use.data, use.len);

    if (used != NULL) {
        *used = k;
    }

    if (k == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yibao: entity %*s has no key valid now (key_id "
                      "\"%V\": expired or not yet valid)",
                      clinic->entity_code.len, clinic->entity_code.data,
                      &id);
        return NGX_DECLINED;
    }

    if (sign->scheme == YIBAO_SIGN_NONE) {
        return NGX_OK;
    }

    in.nonce.data = NULL;
    in.nonce.len = 0;

    if (sign->scheme == YIBAO_SIGN_TIF) {
        if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
            ngx_log_error(NGX_LOG_ERR, log, 0, "yibao: RAND_bytes() failed");
            return NGX_ERROR;
        }

        for (i = 0; i < sizeof(nonce); i++) {
            nonce[i] = alnum[nonce[i] % (sizeof(alnum) - 1)];
        }

        in.nonce.data = nonce;
        in.nonce.len = sizeof(nonce);
    }

    key.ak = k->ak;
    key.sk = k->sk;
    in.infno.data = infno->data;
    in.infno.len = infno->len;
    in.body = *body;
    in.now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ngx_http_yibao_alloc_init(&a, pool);

    if (yibao_sign_headers(sign, &key, &in, &a, out, &err) != YIBAO_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yibao: signing for entity %*s with key \"%*s\" "
                      "failed: %s", clinic->entity_code.len,
                      clinic->entity_code.data, k->id.len, k->id.data,
                      err.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The key signed a 9001 or a settlement the platform accepted: it is
 * activated, if it was not (the keys' store,
 * ngx_http_yibao_store_keys.c).  An activation is never undone, so the
 * worker remembers the keys whose activation the store holds (a byte a
 * key, by its index in the keys file, in the configuration's main conf:
 * a reload's configuration starts afresh) and asks the store, under the
 * zone's lock, once a key.
 */

void
ngx_http_yibao_key_activated(const yibao_key_t *key, ngx_pool_t *pool,
    ngx_log_t *log)
{
    char                         buf[YIBAO_KEY_LABEL_LEN];
    size_t                       n;
    u_char                      *kept;
    ngx_str_t                    label;
    ngx_http_yibao_main_conf_t  *gmcf;

    if (key == NULL) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_yibao_module);
    n = (gmcf && gmcf->keys) ? yibao_keys_count(gmcf->keys) : 0;

    if (n > 0 && gmcf->keys_kept == NULL) {
        /* NULL: ask every time */
        gmcf->keys_kept = ngx_pcalloc(ngx_cycle->pool, n);
    }

    kept = (n > 0 && key->index < n) ? gmcf->keys_kept : NULL;

    if (kept != NULL && kept[key->index]) {
        return;
    }

    label.data = (u_char *) buf;
    label.len = yibao_key_label(key, buf);

    if (ngx_http_yibao_store_key_activated(&label, ngx_time(), pool, log)
            == NGX_OK
        && kept != NULL)
    {
        kept[key->index] = 1;
    }
}
