/*
 * Copyright (C) yibao-gateway authors
 */


#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_platform.h"


typedef struct {
    ngx_pool_t                          *pool;
    ngx_log_t                            log;    /* its own action */
    ngx_peer_connection_t                pc;
    ngx_event_t                          timer;
    ngx_buf_t                           *out;
    ngx_buf_t                           *in;
    ngx_http_yibao_platform_t           *pf;
    ngx_http_yibao_platform_handler_pt   handler;
    void                                *data;
} ngx_http_yibao_platform_ctx_t;


static ngx_int_t ngx_http_yibao_platform_url(ngx_conf_t *cf,
    ngx_http_yibao_platform_t *pf, ngx_str_t *url, ngx_uint_t *tls);
#if (NGX_SSL)
static ngx_int_t ngx_http_yibao_platform_tls(ngx_conf_t *cf,
    ngx_http_yibao_platform_t *pf);
#endif
static ngx_int_t ngx_http_yibao_platform_request(
    ngx_http_yibao_platform_ctx_t *ctx, ngx_str_t *uri,
    ngx_str_t *content_type, yibao_sign_out_t *sign, ngx_str_t *body);
static void ngx_http_yibao_platform_connected(ngx_event_t *ev);
#if (NGX_SSL)
static void ngx_http_yibao_platform_handshaked(ngx_connection_t *c);
#endif
static void ngx_http_yibao_platform_write(ngx_event_t *ev);
static void ngx_http_yibao_platform_read(ngx_event_t *ev);
static ngx_buf_t *ngx_http_yibao_platform_grow(
    ngx_http_yibao_platform_ctx_t *ctx);
static ngx_int_t ngx_http_yibao_platform_parse(
    ngx_http_yibao_platform_ctx_t *ctx, ngx_uint_t eof);
static ngx_int_t ngx_http_yibao_platform_headers(ngx_http_request_t *fr,
    ngx_buf_t *b, off_t *cl, ngx_uint_t *chunked);
static ngx_int_t ngx_http_yibao_platform_dechunk(
    ngx_http_yibao_platform_ctx_t *ctx, ngx_http_request_t *fr,
    ngx_buf_t *b, ngx_str_t *body);
static void ngx_http_yibao_platform_timeout(ngx_event_t *ev);
static void ngx_http_yibao_platform_finish(ngx_http_yibao_platform_ctx_t *ctx,
    const char *error, ngx_uint_t status, u_char *body, size_t len);
static void ngx_http_yibao_platform_dummy(ngx_event_t *ev);


ngx_http_yibao_platform_observe_pt  ngx_http_yibao_platform_observe;


/*
 * yibao_platform URL [name=N] [trusted_certificate=F] [verify=on|off]
 *     [timeout=10s] [max_size=1m];  (URL: http or https, host[:port])
 *
 * In the location that proxies to the platform: its yibao_sign,
 * yibao_route and yibao_upstream_content_type are used for what the
 * gateway sends by itself (the resolver, sign-in).
 */

static ngx_http_yibao_param_t  ngx_http_yibao_platform_params[] = {

    { ngx_string("name"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_platform_t, name),
      0, 0, NULL, NULL, 0 },

    { ngx_string("trusted_certificate"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_platform_t, trusted),
      0, 0, NULL, NULL, 0 },

    { ngx_string("verify"), NGX_HTTP_YIBAO_PARAM_FLAG,
      ngx_http_yibao_param_field(ngx_http_yibao_platform_t, verify),
      0, 0, NULL, NULL, 0 },

    { ngx_string("timeout"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_platform_t, timeout),
      1, 0, NULL, NULL, 0 },

    { ngx_string("max_size"), NGX_HTTP_YIBAO_PARAM_SIZE,
      ngx_http_yibao_param_field(ngx_http_yibao_platform_t, max_size),
      1024, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_platform_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yibao_loc_conf_t *glcf = conf;

    char                        *rv;
    ngx_str_t                   *value;
    ngx_uint_t                   tls;
    ngx_http_yibao_platform_t   *pf;
    ngx_http_yibao_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yibao_module);

    if (gmcf->platform != NULL) {
        return "is duplicate: the gateway has one platform";
    }

    pf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yibao_platform_t));
    if (pf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_yibao_platform_url(cf, pf, &value[1], &tls) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    pf->timeout = 10000;
    pf->max_size = 1024 * 1024;
    pf->verify = 1;
    pf->loc = glcf;

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_platform_params, 2,
                                    pf, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (!tls) {
        if (pf->trusted.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "trusted_certificate= needs an https "
                               "platform");
            return NGX_CONF_ERROR;
        }

        gmcf->platform = pf;
        return NGX_CONF_OK;
    }

#if (NGX_SSL)

    if (ngx_http_yibao_platform_tls(cf, pf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    gmcf->platform = pf;

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "an https platform needs nginx with TLS");
    return NGX_CONF_ERROR;

#endif
}


/* The platform's URL: its addresses, Host and name; *tls for https. */

static ngx_int_t
ngx_http_yibao_platform_url(ngx_conf_t *cf, ngx_http_yibao_platform_t *pf,
    ngx_str_t *url, ngx_uint_t *tls)
{
    size_t     add;
    ngx_url_t  u;

    if (ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0) {
        add = 7;
        *tls = 0;

    } else if (ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0) {
        add = 8;
        *tls = 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL \"%V\": http:// or https:// "
                           "expected", url);
        return NGX_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = url->data + add;
    u.url.len = url->len - add;
    u.default_port = *tls ? 443 : 80;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err ? u.err : "no address", url);
        return NGX_ERROR;
    }

    if (u.uri.len > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" has a path: the paths are yibao_route's",
                           url);
        return NGX_ERROR;
    }

    if (u.uri.len) {
        u.url.len -= u.uri.len;
    }

    pf->addrs = u.addrs;
    pf->naddrs = u.naddrs;
    pf->host = u.url;
    pf->name = u.host;

    return NGX_OK;
}


#if (NGX_SSL)

/* An https platform's TLS context, its certificate verified. */

static ngx_int_t
ngx_http_yibao_platform_tls(ngx_conf_t *cf, ngx_http_yibao_platform_t *pf)
{
    ngx_pool_cleanup_t  *cln;

    if (pf->verify && pf->trusted.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "an https platform's certificate is verified: "
                           "trusted_certificate= is required (or "
                           "verify=off, never in production)");
        return NGX_ERROR;
    }

    pf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (pf->ssl == NULL) {
        return NGX_ERROR;
    }

    pf->ssl->log = cf->log;

    if (ngx_ssl_create(pf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(pf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = pf->ssl;

    if (pf->verify) {
        if (ngx_conf_full_name(cf->cycle, &pf->trusted, 1) != NGX_OK
            || ngx_ssl_trusted_certificate(cf, pf->ssl, &pf->trusted, 5)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}

#endif


ngx_int_t
ngx_http_yibao_platform_send(ngx_http_yibao_platform_t *pf, ngx_str_t *uri,
    ngx_str_t *content_type, yibao_sign_out_t *sign, ngx_str_t *body,
    ngx_http_yibao_platform_handler_pt handler, void *data, ngx_log_t *log)
{
    ngx_int_t                       rc;
    ngx_addr_t                     *addr;
    ngx_pool_t                     *pool;
    ngx_connection_t               *c;
    ngx_http_yibao_platform_ctx_t  *ctx;

    pool = ngx_create_pool(2048, log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_yibao_platform_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    ctx->pool = pool;
    ctx->log = *log;
    ctx->log.action = "connecting to the platform";
    ctx->pf = pf;
    ctx->handler = handler;
    ctx->data = data;

    if (ngx_http_yibao_platform_request(ctx, uri, content_type, sign, body)
        != NGX_OK)
    {
        goto failed;
    }

    /* the addresses in turn, one per exchange */

    addr = &pf->addrs[pf->next++ % pf->naddrs];

    ctx->pc.sockaddr = addr->sockaddr;
    ctx->pc.socklen = addr->socklen;
    ctx->pc.name = &addr->name;
    ctx->pc.get = ngx_event_get_peer;
    ctx->pc.log = &ctx->log;
    ctx->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&ctx->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "yibao: platform %V: connect failed", &addr->name);

        if (ctx->pc.connection) {
            ngx_close_connection(ctx->pc.connection);
        }

        goto failed;
    }

    c = ctx->pc.connection;
    c->data = ctx;
    c->pool = pool;
    c->read->handler = ngx_http_yibao_platform_dummy;
    c->write->handler = ngx_http_yibao_platform_connected;

    ctx->timer.handler = ngx_http_yibao_platform_timeout;
    ctx->timer.data = ctx;
    ctx->timer.log = &ctx->log;

    /*
     * Not cancelable: a worker shutting down gracefully waits for the
     * exchange (at most its timeout) instead of exiting with the
     * platform's socket open and the exchange's outcome unknown.
     */
    ctx->timer.cancelable = 0;

    ngx_add_timer(&ctx->timer, pf->timeout);

    if (rc == NGX_OK) {
        /* connected at once: go on from the event loop, not from here */
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


/* The request, whole, in ctx->out; ctx->in for the answer. */

static ngx_int_t
ngx_http_yibao_platform_request(ngx_http_yibao_platform_ctx_t *ctx,
    ngx_str_t *uri, ngx_str_t *content_type, yibao_sign_out_t *sign,
    ngx_str_t *body)
{
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_yibao_platform_t  *pf;

    pf = ctx->pf;

    len = sizeof("POST  HTTP/1.1" CRLF "Host: " CRLF "Content-Type: " CRLF
                 "Content-Length: " CRLF "Connection: close" CRLF CRLF) - 1
          + uri->len + pf->host.len + content_type->len + NGX_SIZE_T_LEN
          + body->len;

    for (i = 0; i < sign->nheaders; i++) {
        len += sign->headers[i].name.len + sign->headers[i].value.len
               + sizeof(": " CRLF) - 1;
    }

    ctx->out = ngx_create_temp_buf(ctx->pool, len);
    ctx->in = ngx_create_temp_buf(ctx->pool, ngx_min(pf->max_size + 1024,
                                                     16384));

    if (ctx->out == NULL || ctx->in == NULL) {
        return NGX_ERROR;
    }

    ctx->out->last = ngx_sprintf(ctx->out->last,
                                 "POST %V HTTP/1.1" CRLF "Host: %V" CRLF
                                 "Content-Type: %V" CRLF
                                 "Content-Length: %uz" CRLF
                                 "Connection: close" CRLF,
                                 uri, &pf->host, content_type, body->len);

    for (i = 0; i < sign->nheaders; i++) {
        ctx->out->last = ngx_sprintf(ctx->out->last, "%*s: %*s" CRLF,
                                     sign->headers[i].name.len,
                                     sign->headers[i].name.data,
                                     sign->headers[i].value.len,
                                     sign->headers[i].value.data);
    }

    *ctx->out->last++ = CR;
    *ctx->out->last++ = LF;
    ctx->out->last = ngx_cpymem(ctx->out->last, body->data, body->len);

    return NGX_OK;
}


static void
ngx_http_yibao_platform_connected(ngx_event_t *ev)
{
    ngx_connection_t               *c;
    ngx_http_yibao_platform_ctx_t  *ctx;
#if (NGX_SSL)
    ngx_int_t                       rc;
    ngx_http_yibao_platform_t      *pf;
#endif

    c = ev->data;
    ctx = c->data;

#if (NGX_SSL)

    pf = ctx->pf;

    if (pf->ssl != NULL) {
        if (ngx_ssl_create_connection(pf->ssl, c,
                                      NGX_SSL_BUFFER|NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_http_yibao_platform_finish(ctx, "TLS setup failed", 0,
                                           NULL, 0);
            return;
        }

        if (pf->name.len && pf->name.len < 256
            && ngx_inet_addr(pf->name.data, pf->name.len) == INADDR_NONE)
        {
            u_char  name[256];

            ngx_memcpy(name, pf->name.data, pf->name.len);
            name[pf->name.len] = '\0';

            if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) name)
                == 0)
            {
                ngx_http_yibao_platform_finish(ctx, "TLS SNI failed", 0,
                                               NULL, 0);
                return;
            }
        }

        c->log->action = "TLS handshake with the platform";

        rc = ngx_ssl_handshake(c);

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_http_yibao_platform_handshaked;
            return;
        }

        ngx_http_yibao_platform_handshaked(c);
        return;
    }

#endif

    c->write->handler = ngx_http_yibao_platform_write;
    c->read->handler = ngx_http_yibao_platform_read;

    ngx_http_yibao_platform_write(c->write);
}


#if (NGX_SSL)

static void
ngx_http_yibao_platform_handshaked(ngx_connection_t *c)
{
    long                            rc;
    ngx_http_yibao_platform_ctx_t  *ctx;

    ctx = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_yibao_platform_finish(ctx, "TLS handshake failed", 0,
                                       NULL, 0);
        return;
    }

    if (ctx->pf->verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "yibao: the platform's certificate is not "
                          "trusted: (%l:%s)", rc,
                          X509_verify_cert_error_string(rc));
            ngx_http_yibao_platform_finish(ctx, "the platform's certificate "
                                           "is not trusted", 0, NULL, 0);
            return;
        }

        if (ngx_ssl_check_host(c, &ctx->pf->name) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "yibao: the platform's certificate does not "
                          "match \"%V\"", &ctx->pf->name);
            ngx_http_yibao_platform_finish(ctx, "the platform's certificate "
                                           "does not match its name", 0,
                                           NULL, 0);
            return;
        }
    }

    c->write->handler = ngx_http_yibao_platform_write;
    c->read->handler = ngx_http_yibao_platform_read;

    ngx_http_yibao_platform_write(c->write);
}

#endif


static void
ngx_http_yibao_platform_write(ngx_event_t *ev)
{
    ssize_t                         n;
    ngx_buf_t                      *b;
    ngx_connection_t               *c;
    ngx_http_yibao_platform_ctx_t  *ctx;

    c = ev->data;
    ctx = c->data;
    b = ctx->out;

    c->log->action = "sending to the platform";

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_yibao_platform_finish(ctx, "send failed", 0, NULL,
                                               0);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_yibao_platform_finish(ctx, "connection failed", 0,
                                           NULL, 0);
            return;
        }

        b->pos += n;
    }

    c->write->handler = ngx_http_yibao_platform_dummy;
    c->log->action = "reading the platform's answer";

    if (c->read->ready) {
        ngx_http_yibao_platform_read(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_yibao_platform_finish(ctx, "read failed", 0, NULL, 0);
    }
}


static void
ngx_http_yibao_platform_read(ngx_event_t *ev)
{
    ssize_t                         n;
    ngx_buf_t                      *b;
    ngx_connection_t               *c;
    ngx_http_yibao_platform_ctx_t  *ctx;

    c = ev->data;
    ctx = c->data;
    b = ctx->in;

    for ( ;; ) {

        if (b->last == b->end) {
            b = ngx_http_yibao_platform_grow(ctx);

            if (b == NULL) {
                ngx_http_yibao_platform_finish(ctx, "the platform's answer "
                                               "is too large", 0, NULL, 0);
                return;
            }
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_http_yibao_platform_parse(ctx, 0) != NGX_AGAIN) {
                return;
            }

            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_http_yibao_platform_finish(ctx, "read failed", 0, NULL,
                                               0);
            }

            return;
        }

        if (n == NGX_ERROR) {
            if (ngx_http_yibao_platform_parse(ctx, 1) == NGX_AGAIN) {
                ngx_http_yibao_platform_finish(ctx, "the connection was "
                                               "lost before the answer",
                                               0, NULL, 0);
            }

            return;
        }

        if (n == 0) {
            /* the platform closed: what came is the answer, or not */
            (void) ngx_http_yibao_platform_parse(ctx, 1);
            return;
        }

        b->last += n;
    }
}


/* The answer's buffer twice as large, up to max_size and its header. */

static ngx_buf_t *
ngx_http_yibao_platform_grow(ngx_http_yibao_platform_ctx_t *ctx)
{
    size_t      size, max;
    ngx_buf_t  *b;

    size = ctx->in->end - ctx->in->start;
    max = ctx->pf->max_size + 1024;

    if (size >= max) {
        return NULL;
    }

    b = ngx_create_temp_buf(ctx->pool, ngx_min(2 * size, max));
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_cpymem(b->last, ctx->in->pos, ctx->in->last - ctx->in->pos);
    ctx->in = b;

    return b;
}


/*
 * NGX_AGAIN: more is needed; otherwise the exchange is finished (ctx is
 * gone).
 */

static ngx_int_t
ngx_http_yibao_platform_parse(ngx_http_yibao_platform_ctx_t *ctx,
    ngx_uint_t eof)
{
    off_t                cl;
    ngx_int_t            rc;
    ngx_buf_t            b;
    ngx_str_t            body;
    ngx_uint_t           chunked;
    ngx_http_status_t    status;
    ngx_http_request_t   fr;

    ngx_memzero(&fr, sizeof(ngx_http_request_t));
    ngx_memzero(&status, sizeof(ngx_http_status_t));

    fr.connection = ctx->pc.connection;

    b = *ctx->in;

    rc = ngx_http_parse_status_line(&fr, &b, &status);

    if (rc == NGX_AGAIN) {
        goto again;
    }

    if (rc != NGX_OK) {
        ngx_http_yibao_platform_finish(ctx, "the platform's answer is not "
                                       "HTTP", 0, NULL, 0);
        return NGX_ERROR;
    }

    rc = ngx_http_yibao_platform_headers(&fr, &b, &cl, &chunked);

    if (rc == NGX_AGAIN) {
        goto again;
    }

    if (rc == NGX_ERROR || (cl >= 0 && (size_t) cl > ctx->pf->max_size)) {
        ngx_http_yibao_platform_finish(ctx, "the platform's answer has an "
                                       "invalid or too large header", 0,
                                       NULL, 0);
        return NGX_ERROR;
    }

    if (chunked) {
        if (!eof) {
            return NGX_AGAIN;
        }

        if (ngx_http_yibao_platform_dechunk(ctx, &fr, &b, &body) != NGX_OK) {
            ngx_http_yibao_platform_finish(ctx, "the platform's chunked "
                                           "answer is invalid", 0, NULL, 0);
            return NGX_ERROR;
        }

    } else if (cl >= 0) {
        if (b.last - b.pos < cl) {
            goto again;
        }

        body.data = b.pos;
        body.len = (size_t) cl;

    } else {
        if (!eof) {
            return NGX_AGAIN;
        }

        body.data = b.pos;
        body.len = b.last - b.pos;
    }

    if (body.len > ctx->pf->max_size) {
        ngx_http_yibao_platform_finish(ctx, "the platform's answer is too "
                                       "large", 0, NULL, 0);
        return NGX_ERROR;
    }

    ngx_http_yibao_platform_finish(ctx, NULL, status.code, body.data,
                                   body.len);
    return NGX_OK;

again:

    if (eof) {
        ngx_http_yibao_platform_finish(ctx, "the platform's answer is "
                                       "incomplete", 0, NULL, 0);
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * The answer's header lines: its Content-Length (*cl, -1 without) and
 * whether it is chunked.  NGX_OK at their end, NGX_AGAIN, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_yibao_platform_headers(ngx_http_request_t *fr, ngx_buf_t *b,
    off_t *cl, ngx_uint_t *chunked)
{
    ngx_int_t  rc;

    *cl = -1;
    *chunked = 0;

    for ( ;; ) {
        rc = ngx_http_parse_header_line(fr, b, 1);

        if (rc == NGX_OK) {
            if (fr->header_name_end - fr->header_name_start == 14
                && ngx_strncasecmp(fr->header_name_start,
                                   (u_char *) "Content-Length", 14) == 0)
            {
                *cl = ngx_atoof(fr->header_start,
                                fr->header_end - fr->header_start);
                if (*cl == NGX_ERROR) {
                    return NGX_ERROR;
                }
            }

            if (fr->header_name_end - fr->header_name_start == 17
                && ngx_strncasecmp(fr->header_name_start,
                                   (u_char *) "Transfer-Encoding", 17) == 0
                && fr->header_end - fr->header_start == 7
                && ngx_strncasecmp(fr->header_start, (u_char *) "chunked", 7)
                   == 0)
            {
                *chunked = 1;
            }

            continue;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return NGX_OK;
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_http_yibao_platform_dechunk(ngx_http_yibao_platform_ctx_t *ctx,
    ngx_http_request_t *fr, ngx_buf_t *b, ngx_str_t *body)
{
    u_char              *p;
    size_t               n;
    ngx_int_t            rc;
    ngx_http_chunked_t   ch;

    ngx_memzero(&ch, sizeof(ngx_http_chunked_t));

    p = ngx_pnalloc(ctx->pool, b->last - b->pos + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for ( ;; ) {
        rc = ngx_http_parse_chunked(fr, b, &ch);

        if (rc == NGX_OK) {
            n = ngx_min((off_t) (b->last - b->pos), ch.size);
            p = ngx_cpymem(p, b->pos, n);
            b->pos += n;
            ch.size -= n;

            if (ch.size > 0) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc == NGX_DONE) {
            body->len = p - body->data;
            return NGX_OK;
        }

        return NGX_ERROR;
    }
}


static void
ngx_http_yibao_platform_timeout(ngx_event_t *ev)
{
    ngx_http_yibao_platform_finish(ev->data, "the platform did not answer "
                                   "in time", 0, NULL, 0);
}


static void
ngx_http_yibao_platform_finish(ngx_http_yibao_platform_ctx_t *ctx,
    const char *error, ngx_uint_t status, u_char *body, size_t len)
{
    ngx_connection_t                  *c;
    ngx_http_yibao_platform_answer_t   ans;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    c = ctx->pc.connection;

    if (c != NULL) {
#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_close_connection(c);
        ctx->pc.connection = NULL;
    }

    ans.status = status;
    ans.body.data = body;
    ans.body.len = len;
    ans.error = error;

    /* what the exchange shows of the platform (yibao_outage) */

    if (ngx_http_yibao_platform_observe != NULL) {
        ngx_http_yibao_platform_observe(status != 0
                                        && (status < 502 || status > 504),
                                        "an exchange of the gateway's own",
                                        &ctx->log);
    }

    ctx->handler(ctx->data, &ans);

    ngx_destroy_pool(ctx->pool);
}


static void
ngx_http_yibao_platform_dummy(ngx_event_t *ev)
{
}
