/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_PLATFORM_H_INCLUDED_
#define _NGX_HTTP_YIBAO_PLATFORM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_yibao_common.h"


/*
 * The gateway's own small client of the platform (yibao_platform): one
 * signed envelope per connection (HTTP/1.1, Connection: close), plain or
 * TLS with the certificate chain and name verified, under one timer for
 * connect, send and read, with a bounded answer.  The address is
 * resolved when the configuration is read; nothing blocks.
 */

struct ngx_http_yibao_platform_s {
    ngx_addr_t                *addrs;
    ngx_uint_t                 naddrs;
    ngx_uint_t                 next;       /* the address to try */
    ngx_str_t                  host;       /* Host: header */
    ngx_str_t                  name;       /* TLS: SNI and the check */
    ngx_msec_t                 timeout;
    size_t                     max_size;
    ngx_flag_t                 verify;
    ngx_str_t                  trusted;
#if (NGX_SSL)
    ngx_ssl_t                 *ssl;        /* NULL: plain HTTP */
#endif
    void                      *loc;        /* ngx_http_yibao_loc_conf_t */
};


typedef struct {
    ngx_uint_t                 status;     /* 0: no HTTP answer */
    ngx_str_t                  body;       /* valid during the call */
    const char                *error;      /* NULL with an answer */
} ngx_http_yibao_platform_answer_t;


typedef void (*ngx_http_yibao_platform_handler_pt)(void *data,
    ngx_http_yibao_platform_answer_t *ans);


/*
 * What each exchange shows of the platform: ok (an HTTP answer but 502,
 * 503 or 504) or not.  Set by the part that keeps the platform's state
 * (the outage's init_process, ngx_http_yibao_outage.c); NULL: no one
 * listens.
 */
typedef void (*ngx_http_yibao_platform_observe_pt)(ngx_uint_t ok,
    const char *what, ngx_log_t *log);

extern ngx_http_yibao_platform_observe_pt  ngx_http_yibao_platform_observe;


char *ngx_http_yibao_platform_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Sends body (already signed: sign's headers are added) to uri of the
 * platform.  NGX_OK: handler is called once, later, from an event; or
 * NGX_ERROR (nothing was sent, handler is not called).
 */
ngx_int_t ngx_http_yibao_platform_send(ngx_http_yibao_platform_t *pf,
    ngx_str_t *uri, ngx_str_t *content_type, yibao_sign_out_t *sign,
    ngx_str_t *body, ngx_http_yibao_platform_handler_pt handler, void *data,
    ngx_log_t *log);


/*
 * The request that resolves the journal record j (5203 or 2601 by mode,
 * yibao_resolve_mode_e), built, signed and sent with a msgid of its own
 * (*infno, *msgid), from pool.  NGX_OK: handler is called once, later;
 * NGX_DECLINED: the record lacks what the request needs; NGX_ERROR: not
 * sent.  *error says why.  (module/ngx_http_yibao_resolve.c)
 */
ngx_int_t ngx_http_yibao_resolve_send(yibao_journal_t *j, ngx_uint_t mode,
    ngx_pool_t *pool, ngx_str_t *infno, ngx_str_t *msgid,
    ngx_http_yibao_platform_handler_pt handler, void *data,
    const char **error);


#endif /* _NGX_HTTP_YIBAO_PLATFORM_H_INCLUDED_ */
