/*
 * Copyright (C) yibao-gateway authors
 */


#include <sys/ioctl.h>
#include <hiredis/sds.h>

#include "ngx_http_yibao_common.h"
#include "ngx_http_yibao_redis.h"
#include "ngx_http_yibao_status_hooks.h"
#include "yibao_limit.h"
#include "yibao_crypto.h"
#include "yibao_forget.h"


#define NGX_HTTP_YIBAO_REDIS_DOWN_STATE   0
#define NGX_HTTP_YIBAO_REDIS_CONNECTING   1
#define NGX_HTTP_YIBAO_REDIS_READY        2

#define NGX_HTTP_YIBAO_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_YIBAO_REDIS_BACKOFF_MAX  5000

/* how often a connected worker looks at the journal's marker */
#define NGX_HTTP_YIBAO_REDIS_MARKER_EVERY 5000

/* the scripts a worker sends by their SHA-1 (EVALSHA) */
#define NGX_HTTP_YIBAO_REDIS_SCRIPTS      32


/*
 * A script sent by EVAL: its text (a constant of the pure code, alive as
 * long as the process) and the SHA-1 EVALSHA names it by.
 */

typedef struct {
    const u_char                 *text;
    size_t                        len;
    char                          sha[41];
} ngx_http_yibao_redis_script_t;


/* The worker's connection: one per worker process, set in init_process. */

typedef struct {
    ngx_http_yibao_redis_conf_t  *conf;
    redisAsyncContext            *ac;
    ngx_connection_t             *c;
    ngx_uint_t                    state;
    ngx_uint_t                    was_up;
    ngx_uint_t                    first;      /* the first connection */
    ngx_queue_t                   first_waiters;
    ngx_event_t                   reconnect;
    ngx_event_t                   handshake;
    ngx_msec_t                    backoff;
    ngx_log_t                    *log;
    char                          sha[41];
    ngx_uint_t                    exiting;

    /* the server's name in the log: its address, or the master's */
    ngx_str_t                     name;
    u_char                        name_buf[NGX_INET_ADDRSTRLEN + 80];

    /* Sentinel: asking one now, the next to ask, the master's address */
    ngx_uint_t                    asking;
    ngx_uint_t                    next_sentinel;
    ngx_uint_t                    master_known;
    u_char                        master_host[NGX_INET_ADDRSTRLEN + 1];
    in_port_t                     master_port;

    /*
     * With the journal: what the store remembers (yibao_forget.h).  The
     * marker last seen and the window of records it cannot vouch for;
     * what the server said of itself at this connection; the run_id of
     * the connection before.
     */
    ngx_event_t                   marker_timer;
    ngx_uint_t                    script_loaded;
    ngx_uint_t                    marker_pending;
    ngx_uint_t                    marker_known;
    yibao_forget_marker_t         marker;
    uint64_t                      until;
    yibao_forget_store_t          info;
    char                          run_id[41];
} ngx_http_yibao_redis_t;


struct ngx_http_yibao_redis_op_s {
    ngx_http_yibao_redis_handler_pt  handler;
    void                            *data;
    ngx_event_t                      timer;
    ngx_uint_t                       pending;
    ngx_uint_t                       argc;
    const char                     **argv;
    size_t                          *argvlen;
    /* the text EVAL sends after a NOSCRIPT answer to EVALSHA */
    const u_char                    *script;
    size_t                           script_len;
    unsigned                         done:1;
    unsigned                         retried:1;
    unsigned                         rechecked:1;
};


static ngx_int_t ngx_http_yibao_redis_parse_addr(ngx_conf_t *cf,
    ngx_str_t *text, const char *what, in_port_t default_port,
    ngx_str_t *host, in_port_t *port);
static ngx_int_t ngx_http_yibao_redis_address(ngx_conf_t *cf,
    ngx_http_yibao_redis_conf_t *rcf, ngx_str_t *address);
static ngx_int_t ngx_http_yibao_redis_sentinel(ngx_conf_t *cf,
    ngx_http_yibao_param_t *p, ngx_str_t *value, void *conf);
static ngx_int_t ngx_http_yibao_redis_cstring(ngx_conf_t *cf, ngx_str_t *s);
static ngx_uint_t ngx_http_yibao_redis_by_sha(ngx_uint_t argc,
    ngx_str_t *argv, ngx_uint_t script, ngx_str_t *sha);
static void ngx_http_yibao_redis_connect(void);
static void ngx_http_yibao_redis_first_done(const char *why);
static ngx_msec_t ngx_http_yibao_redis_lag(void);
static void ngx_http_yibao_redis_fail(const char *why);
static void ngx_http_yibao_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_yibao_redis_handshake_handler(ngx_event_t *ev);
static void ngx_http_yibao_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yibao_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yibao_redis_handshake_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_sentinel_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_role_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_script_loaded(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_info_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_config_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static ngx_int_t ngx_http_yibao_redis_marker_check(ngx_uint_t handshake,
    ngx_uint_t loses);
static const char *ngx_http_yibao_redis_marker_read(redisReply *reply,
    yibao_forget_marker_t *m);
static void ngx_http_yibao_redis_describe(yibao_forget_marker_t *m);
static void ngx_http_yibao_redis_marker_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_yibao_redis_marker_apply(yibao_forget_marker_t *m,
    ngx_uint_t changed, ngx_uint_t restarted);
static void ngx_http_yibao_redis_marker_handler(ngx_event_t *ev);
static void ngx_http_yibao_redis_ready(void);
static uint64_t ngx_http_yibao_redis_now(void);
static void ngx_http_yibao_redis_add_read(void *privdata);
static void ngx_http_yibao_redis_del_read(void *privdata);
static void ngx_http_yibao_redis_add_write(void *privdata);
static void ngx_http_yibao_redis_del_write(void *privdata);
static void ngx_http_yibao_redis_cleanup(void *privdata);
static void ngx_http_yibao_redis_read_handler(ngx_event_t *ev);
static void ngx_http_yibao_redis_write_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_yibao_redis_send(ngx_http_yibao_redis_op_t *op,
    ngx_uint_t with_sha);
static void ngx_http_yibao_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_yibao_redis_op_timeout(ngx_event_t *ev);
static void ngx_http_yibao_redis_op_finish(ngx_http_yibao_redis_op_t *op,
    redisReply *reply, ngx_uint_t status);
static void ngx_http_yibao_redis_op_release(ngx_http_yibao_redis_op_t *op);


static const char *ngx_http_yibao_redis_script_sha(ngx_str_t *text);
static ngx_int_t ngx_http_yibao_redis_sha1(const u_char *text, size_t len,
    char *sha);


static ngx_http_yibao_redis_t  ngx_http_yibao_redis;

static ngx_http_yibao_redis_script_t
    ngx_http_yibao_redis_scripts[NGX_HTTP_YIBAO_REDIS_SCRIPTS];
static ngx_uint_t  ngx_http_yibao_redis_nscripts;


/*
 * An "IP:port" or host name, resolved here, when the configuration is
 * read, so that no worker ever blocks in a resolver.
 */

static ngx_int_t
ngx_http_yibao_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *text,
    const char *what, in_port_t default_port, ngx_str_t *host,
    in_port_t *port)
{
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *text;
    u.default_port = default_port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s address \"%V\": %s", what, text,
                           u.err ? u.err : "unknown error");
        return NGX_ERROR;
    }

    if (u.naddrs == 0 || u.addrs[0].sockaddr->sa_family != AF_INET) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s address \"%V\" must resolve to an "
                           "IPv4 address", what, text);
        return NGX_ERROR;
    }

    host->data = ngx_pnalloc(cf->pool, NGX_INET_ADDRSTRLEN + 1);
    if (host->data == NULL) {
        return NGX_ERROR;
    }

    host->len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                              host->data, NGX_INET_ADDRSTRLEN, 0);
    host->data[host->len] = '\0';
    *port = u.port;

    return NGX_OK;
}


/*
 * yibao_redis address [password=VALUE] [db=N] [timeout=T]
 *     [connect_timeout=T] [sentinel=IP:port ...];   address: IP:port,
 *     host:port, unix:PATH, or sentinel:NAME (the master NAME, found
 *     through the sentinel= addresses).
 */

static ngx_http_yibao_param_t  ngx_http_yibao_redis_params[] = {

    { ngx_string("db"), NGX_HTTP_YIBAO_PARAM_NUM,
      ngx_http_yibao_param_field(ngx_http_yibao_redis_conf_t, db),
      0, 255, NULL, NULL, 0 },

    { ngx_string("timeout"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_redis_conf_t, timeout),
      1, 0, NULL, NULL, 0 },

    { ngx_string("connect_timeout"), NGX_HTTP_YIBAO_PARAM_MSEC,
      ngx_http_yibao_param_field(ngx_http_yibao_redis_conf_t,
                                 connect_timeout),
      1, 0, NULL, NULL, 0 },

    { ngx_string("sentinel"), NGX_HTTP_YIBAO_PARAM_SET, 0, 0, 0, 0, NULL,
      ngx_http_yibao_redis_sentinel, NGX_HTTP_YIBAO_PARAM_EMPTY },

    { ngx_string("password"), NGX_HTTP_YIBAO_PARAM_STR,
      ngx_http_yibao_param_field(ngx_http_yibao_redis_conf_t, password),
      0, 0, NULL, NULL, 0 },

    ngx_http_yibao_null_param
};


char *
ngx_http_yibao_redis_parse(ngx_conf_t *cf, ngx_http_yibao_redis_conf_t *rcf)
{
    char       *rv;
    ngx_str_t  *value;

    value = cf->args->elts;

    rcf->timeout = 100;
    rcf->connect_timeout = 1000;

    if (ngx_http_yibao_redis_address(cf, rcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* the messages name a parameter only: the value may be the password */

    rv = ngx_http_yibao_conf_params(cf, ngx_http_yibao_redis_params, 2, rcf,
                                    NGX_HTTP_YIBAO_PARAM_HIDE);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (rcf->sentinels && rcf->sentinels->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel:%V\" needs at least one "
                           "\"sentinel=address\"", &rcf->master);
        return NGX_CONF_ERROR;
    }

    /* hiredis takes the master's name and the password as C strings */

    if (ngx_http_yibao_redis_cstring(cf, &rcf->master) != NGX_OK
        || ngx_http_yibao_redis_cstring(cf, &rcf->password) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* The address: IP:port, host:port, unix:PATH or sentinel:NAME. */

static ngx_int_t
ngx_http_yibao_redis_address(ngx_conf_t *cf,
    ngx_http_yibao_redis_conf_t *rcf, ngx_str_t *address)
{
    if (ngx_strncmp(address->data, "unix:", 5) == 0) {
        rcf->host = *address;
        rcf->port = 0;
        return NGX_OK;
    }

    if (ngx_strncmp(address->data, "sentinel:", 9) != 0) {
        return ngx_http_yibao_redis_parse_addr(cf, address, "Redis", 6379,
                                               &rcf->host, &rcf->port);
    }

    rcf->master.data = address->data + 9;
    rcf->master.len = address->len - 9;

    if (rcf->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel:\" needs the master's name, "
                           "as in \"sentinel:mymaster\"");
        return NGX_ERROR;
    }

    rcf->host = rcf->master;

    rcf->sentinels = ngx_array_create(cf->pool, 3,
                                      sizeof(ngx_http_yibao_redis_addr_t));
    if (rcf->sentinels == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* sentinel=IP:port, one per Sentinel, with "sentinel:NAME" only */

static ngx_int_t
ngx_http_yibao_redis_sentinel(ngx_conf_t *cf, ngx_http_yibao_param_t *p,
    ngx_str_t *value, void *conf)
{
    ngx_http_yibao_redis_conf_t *rcf = conf;

    ngx_http_yibao_redis_addr_t  *addr;

    if (rcf->sentinels == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel=%V\" needs \"sentinel:NAME\" as the "
                           "address", value);
        return NGX_ERROR;
    }

    addr = ngx_array_push(rcf->sentinels);
    if (addr == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_yibao_redis_parse_addr(cf, value, "Sentinel", 26379,
                                        &addr->host, &addr->port)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* A copy of s ending in '\0' (s stays as long and as empty). */

static ngx_int_t
ngx_http_yibao_redis_cstring(ngx_conf_t *cf, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    s->data = p;

    return NGX_OK;
}


ngx_int_t
ngx_http_yibao_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_yibao_redis_conf_t *rcf)
{
    ngx_memzero(&ngx_http_yibao_redis, sizeof(ngx_http_yibao_redis_t));

    ngx_http_yibao_redis.conf = rcf;
    ngx_http_yibao_redis.log = cycle->log;
    ngx_http_yibao_redis.backoff = NGX_HTTP_YIBAO_REDIS_BACKOFF_MIN;
    ngx_http_yibao_redis.name = rcf->host;

    if (rcf->sentinels) {
        ngx_http_yibao_redis.name.data = ngx_http_yibao_redis.name_buf;
        ngx_http_yibao_redis.name.len =
                        ngx_snprintf(ngx_http_yibao_redis.name_buf,
                                     sizeof(ngx_http_yibao_redis.name_buf),
                                     "sentinel:%V", &rcf->master)
                        - ngx_http_yibao_redis.name_buf;
        ngx_http_yibao_redis.next_sentinel = ngx_random()
                                             % rcf->sentinels->nelts;
    }

    /* the script's SHA-1, for EVALSHA; Redis checks it at SCRIPT LOAD */

    if (ngx_http_yibao_redis_sha1((const u_char *) yibao_limit_script,
                                  ngx_strlen(yibao_limit_script),
                                  ngx_http_yibao_redis.sha)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_yibao_redis.reconnect.handler =
                                       ngx_http_yibao_redis_reconnect_handler;
    ngx_http_yibao_redis.reconnect.log = cycle->log;
    ngx_http_yibao_redis.reconnect.data = &ngx_http_yibao_redis;
    ngx_http_yibao_redis.reconnect.cancelable = 1;

    ngx_http_yibao_redis.handshake.handler =
                                       ngx_http_yibao_redis_handshake_handler;
    ngx_http_yibao_redis.handshake.log = cycle->log;
    ngx_http_yibao_redis.handshake.data = &ngx_http_yibao_redis;
    ngx_http_yibao_redis.handshake.cancelable = 1;

    ngx_http_yibao_redis.marker_timer.handler =
                                        ngx_http_yibao_redis_marker_handler;
    ngx_http_yibao_redis.marker_timer.log = cycle->log;
    ngx_http_yibao_redis.marker_timer.data = &ngx_http_yibao_redis;
    ngx_http_yibao_redis.marker_timer.cancelable = 1;

    ngx_http_yibao_redis.first = 1;
    ngx_queue_init(&ngx_http_yibao_redis.first_waiters);

    ngx_http_yibao_redis_connect();

    return NGX_OK;
}


void
ngx_http_yibao_redis_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext  *ac;

    if (ngx_http_yibao_redis.conf == NULL) {
        return;
    }

    ngx_http_yibao_redis.exiting = 1;

    ngx_http_yibao_redis_first_done(NULL);

    if (ngx_http_yibao_redis.reconnect.timer_set) {
        ngx_del_timer(&ngx_http_yibao_redis.reconnect);
    }

    if (ngx_http_yibao_redis.handshake.timer_set) {
        ngx_del_timer(&ngx_http_yibao_redis.handshake);
    }

    if (ngx_http_yibao_redis.marker_timer.timer_set) {
        ngx_del_timer(&ngx_http_yibao_redis.marker_timer);
    }

    ac = ngx_http_yibao_redis.ac;

    if (ac != NULL) {
        ngx_http_yibao_redis.ac = NULL;
        redisAsyncFree(ac);
    }
}


ngx_uint_t
ngx_http_yibao_redis_up(void)
{
    return ngx_http_yibao_redis.state == NGX_HTTP_YIBAO_REDIS_READY;
}


ngx_uint_t
ngx_http_yibao_redis_first(void)
{
    return ngx_http_yibao_redis.first;
}


void
ngx_http_yibao_redis_wait(ngx_http_yibao_redis_waiter_t *w)
{
    ngx_queue_insert_tail(&ngx_http_yibao_redis.first_waiters, &w->queue);
    w->waiting = 1;
}


void
ngx_http_yibao_redis_unwait(ngx_http_yibao_redis_waiter_t *w)
{
    if (w->waiting) {
        ngx_queue_remove(&w->queue);
        w->waiting = 0;
    }
}


/* the first connection is up, or failed (why): its waiters go on */

static void
ngx_http_yibao_redis_first_done(const char *why)
{
    ngx_queue_t                    *q;
    ngx_http_yibao_redis_waiter_t  *w;

    if (!ngx_http_yibao_redis.first) {
        return;
    }

    ngx_http_yibao_redis.first = 0;

    if (why != NULL && !ngx_http_yibao_redis.exiting) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V: this worker's first connection "
                      "failed (%s); its requests go on without redis",
                      &ngx_http_yibao_redis.name, why);
    }

    while (!ngx_queue_empty(&ngx_http_yibao_redis.first_waiters)) {
        q = ngx_queue_head(&ngx_http_yibao_redis.first_waiters);
        w = ngx_queue_data(q, ngx_http_yibao_redis_waiter_t, queue);

        ngx_http_yibao_redis_unwait(w);
        ngx_post_event(w->ev, &ngx_posted_events);
    }
}


static void
ngx_http_yibao_redis_connect(void)
{
    redisAsyncContext            *ac;
    ngx_http_yibao_redis_addr_t  *addr;
    ngx_http_yibao_redis_conf_t  *rcf;

    rcf = ngx_http_yibao_redis.conf;

    ngx_http_yibao_redis.asking = 0;

    if (rcf->sentinels && !ngx_http_yibao_redis.master_known) {

        /* ask the Sentinels in turn where the master is */

        addr = rcf->sentinels->elts;
        addr += ngx_http_yibao_redis.next_sentinel;

        ngx_http_yibao_redis.next_sentinel =
                                   (ngx_http_yibao_redis.next_sentinel + 1)
                                   % rcf->sentinels->nelts;
        ngx_http_yibao_redis.asking = 1;

        ac = redisAsyncConnect((char *) addr->host.data, addr->port);

    } else if (rcf->sentinels) {
        ac = redisAsyncConnect((char *) ngx_http_yibao_redis.master_host,
                               ngx_http_yibao_redis.master_port);

    } else if (rcf->port == 0) {
        ac = redisAsyncConnectUnix((char *) rcf->host.data + 5);

    } else {
        ac = redisAsyncConnect((char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_http_yibao_redis_fail("out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_DEBUG, ngx_http_yibao_redis.log, 0,
                      "yibao: redis connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_yibao_redis_fail("connect failed");
        return;
    }

    ngx_http_yibao_redis.c = ngx_get_connection(ac->c.fd,
                                                ngx_http_yibao_redis.log);
    if (ngx_http_yibao_redis.c == NULL) {
        redisAsyncFree(ac);
        ngx_http_yibao_redis_fail("no free connection (worker_connections)");
        return;
    }

    ngx_http_yibao_redis.ac = ac;
    ngx_http_yibao_redis.state = NGX_HTTP_YIBAO_REDIS_CONNECTING;

    ngx_http_yibao_redis.c->data = ac;
    ngx_http_yibao_redis.c->read->handler = ngx_http_yibao_redis_read_handler;
    ngx_http_yibao_redis.c->write->handler =
                                          ngx_http_yibao_redis_write_handler;
    ngx_http_yibao_redis.c->read->log = ngx_http_yibao_redis.log;
    ngx_http_yibao_redis.c->write->log = ngx_http_yibao_redis.log;

    ac->ev.data = ngx_http_yibao_redis.c;
    ac->ev.addRead = ngx_http_yibao_redis_add_read;
    ac->ev.delRead = ngx_http_yibao_redis_del_read;
    ac->ev.addWrite = ngx_http_yibao_redis_add_write;
    ac->ev.delWrite = ngx_http_yibao_redis_del_write;
    ac->ev.cleanup = ngx_http_yibao_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_yibao_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_yibao_redis_disconnected);

    /* the whole handshake, connect to SCRIPT LOAD, within the timeout */

    ngx_add_timer(&ngx_http_yibao_redis.handshake,
                  ngx_http_yibao_redis.conf->connect_timeout);

    /* the connect completes on the first write event */

    ngx_http_yibao_redis_add_write(ngx_http_yibao_redis.c);
}


/*
 * The store is down: log it once, drop the connection (every pending
 * command is answered DOWN), and probe again after the backoff.
 */

static void
ngx_http_yibao_redis_fail(const char *why)
{
    ngx_msec_t          delay;
    redisAsyncContext  *ac;

    if (ngx_http_yibao_redis.was_up
        || ngx_http_yibao_redis.state != NGX_HTTP_YIBAO_REDIS_DOWN_STATE)
    {
        if (ngx_http_yibao_redis.was_up) {
            ngx_log_error(NGX_LOG_WARN, ngx_http_yibao_redis.log, 0,
                          "yibao: redis %V is down (%s): limits and nonces "
                          "fall back to their configured policy",
                          &ngx_http_yibao_redis.name, why);
        }

        ngx_http_yibao_redis.was_up = 0;
    }

    ngx_http_yibao_redis.state = NGX_HTTP_YIBAO_REDIS_DOWN_STATE;
    ngx_http_yibao_redis.marker_pending = 0;

    ngx_http_yibao_redis_first_done(why);

    /* with Sentinel, the next connection asks again where the master is */

    ngx_http_yibao_redis.master_known = 0;

    if (ngx_http_yibao_redis.handshake.timer_set) {
        ngx_del_timer(&ngx_http_yibao_redis.handshake);
    }

    ac = ngx_http_yibao_redis.ac;

    if (ac != NULL) {
        ngx_http_yibao_redis.ac = NULL;
        redisAsyncFree(ac);
    }

    if (ngx_http_yibao_redis.exiting
        || ngx_http_yibao_redis.reconnect.timer_set)
    {
        return;
    }

    delay = ngx_http_yibao_redis.backoff;
    delay += ngx_random() % (delay / 5 + 1);

    ngx_add_timer(&ngx_http_yibao_redis.reconnect, delay);

    ngx_http_yibao_redis.backoff = ngx_min(ngx_http_yibao_redis.backoff * 2,
                                           NGX_HTTP_YIBAO_REDIS_BACKOFF_MAX);
}


static void
ngx_http_yibao_redis_reconnect_handler(ngx_event_t *ev)
{
    if (ngx_http_yibao_redis.exiting || ngx_exiting || ngx_quit) {
        return;
    }

    ngx_http_yibao_redis_connect();
}


static void
ngx_http_yibao_redis_handshake_handler(ngx_event_t *ev)
{
    ngx_http_yibao_redis_fail("no answer within connect_timeout");
}


static void
ngx_http_yibao_redis_connected(const redisAsyncContext *cac, int status)
{
    char               db[16];
    ngx_uint_t         i;
    redisAsyncContext *ac = (redisAsyncContext *) cac;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        ngx_http_yibao_redis.ac = NULL;
        ngx_http_yibao_redis_fail(ngx_http_yibao_redis.asking
                                  ? "Sentinel connect failed"
                                  : "connect failed");
        return;
    }

    if (ngx_http_yibao_redis.asking) {
        redisAsyncCommand(ac, ngx_http_yibao_redis_sentinel_reply, NULL,
                          "SENTINEL get-master-addr-by-name %s",
                          ngx_http_yibao_redis.conf->master.data);
        return;
    }

    if (ngx_http_yibao_redis.conf->password.len) {
        redisAsyncCommand(ac, ngx_http_yibao_redis_handshake_reply, NULL,
                          "AUTH %s",
                          ngx_http_yibao_redis.conf->password.data);
    }

    if (ngx_http_yibao_redis.conf->db) {
        ngx_sprintf((u_char *) db, "%ui%Z", ngx_http_yibao_redis.conf->db);
        redisAsyncCommand(ac, ngx_http_yibao_redis_handshake_reply, NULL,
                          "SELECT %s", db);
    }

    if (ngx_http_yibao_redis.conf->sentinels) {
        redisAsyncCommand(ac, ngx_http_yibao_redis_role_reply, NULL, "ROLE");
    }

    /*
     * What the server says of itself, for the journal: its run_id and
     * whether it keeps its data over a restart.  CONFIG may be renamed
     * or denied: then that is not known.
     */

    yibao_forget_store_init(&ngx_http_yibao_redis.info);
    ngx_http_yibao_redis.script_loaded = 0;

    if (ngx_http_yibao_redis.conf->journal_ttl) {
        redisAsyncCommand(ac, ngx_http_yibao_redis_info_reply, NULL,
                          "INFO server");
        redisAsyncCommand(ac, ngx_http_yibao_redis_info_reply, NULL,
                          "INFO persistence");
        redisAsyncCommand(ac, ngx_http_yibao_redis_config_reply, NULL,
                          "CONFIG GET save");
        redisAsyncCommand(ac, ngx_http_yibao_redis_config_reply, NULL,
                          "CONFIG GET appendfsync");
        redisAsyncCommand(ac, ngx_http_yibao_redis_config_reply, NULL,
                          "CONFIG GET maxmemory-policy");
    }

    /*
     * The scripts this worker has sent before are loaded again (a new
     * server, or the same one restarted, has none): EVALSHA finds them
     * without a NOSCRIPT round trip.  The limit script's answer says
     * the connection may be used.
     */

    for (i = 0; i < ngx_http_yibao_redis_nscripts; i++) {
        redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %b",
                          ngx_http_yibao_redis_scripts[i].text,
                          ngx_http_yibao_redis_scripts[i].len);
    }

    redisAsyncCommand(ac, ngx_http_yibao_redis_script_loaded, NULL,
                      "SCRIPT LOAD %s", yibao_limit_script);

    /*
     * With the journal, the connection is used once the marker says
     * whether the store remembers: no claim is made before that.  Its
     * answer comes after the others: the server's settings are known.
     */

    if (ngx_http_yibao_redis.conf->journal_ttl
        && ngx_http_yibao_redis_marker_check(1, 0) != NGX_OK)
    {
        ngx_http_yibao_redis_fail("the journal's marker could not be read");
    }
}


/*
 * A Sentinel's answer: the master's IP and port.  The Sentinel's
 * connection is closed, and the master's opened at once.
 */

static void
ngx_http_yibao_redis_sentinel_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_int_t     port;
    redisReply   *reply = r, *ip, *pt;
    const char   *why;

    if (reply == NULL || ngx_http_yibao_redis.ac != ac) {
        return;
    }

    why = "the Sentinel does not know the master";

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        goto failed;
    }

    ip = reply->element[0];
    pt = reply->element[1];

    if (ip->type != REDIS_REPLY_STRING || pt->type != REDIS_REPLY_STRING
        || ip->len == 0 || ip->len > NGX_INET_ADDRSTRLEN
        || ngx_inet_addr((u_char *) ip->str, ip->len) == INADDR_NONE)
    {
        why = "the Sentinel's answer is not an IPv4 address";
        goto failed;
    }

    port = ngx_atoi((u_char *) pt->str, pt->len);
    if (port < 1 || port > 65535) {
        why = "the Sentinel's answer has no valid port";
        goto failed;
    }

    ngx_memcpy(ngx_http_yibao_redis.master_host, ip->str, ip->len);
    ngx_http_yibao_redis.master_host[ip->len] = '\0';
    ngx_http_yibao_redis.master_port = (in_port_t) port;
    ngx_http_yibao_redis.master_known = 1;

    ngx_http_yibao_redis.name.len =
          ngx_snprintf(ngx_http_yibao_redis.name_buf,
                       sizeof(ngx_http_yibao_redis.name_buf), "%V (%s:%ui)",
                       &ngx_http_yibao_redis.conf->master,
                       ngx_http_yibao_redis.master_host, (ngx_uint_t) port)
          - ngx_http_yibao_redis.name_buf;

    ngx_log_error(NGX_LOG_INFO, ngx_http_yibao_redis.log, 0,
                  "yibao: redis Sentinel: master %V",
                  &ngx_http_yibao_redis.name);

    /* hiredis frees the Sentinel's context after this callback */

    ngx_http_yibao_redis.ac = NULL;
    redisAsyncFree(ac);

    ngx_http_yibao_redis_connect();
    return;

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_http_yibao_redis.log, 0,
                  "yibao: redis %V: %s", &ngx_http_yibao_redis.name, why);

    ngx_http_yibao_redis_fail(why);
}


/* Sentinel: the server must be the master, not a demoted replica */

static void
ngx_http_yibao_redis_role_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r, *role;

    if (reply == NULL || ngx_http_yibao_redis.ac != ac) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
        role = reply->element[0];

        if (role->type == REDIS_REPLY_STRING && role->len == 6
            && ngx_strncmp(role->str, "master", 6) == 0)
        {
            return;
        }
    }

    ngx_http_yibao_redis_fail("not the master (a stale Sentinel answer)");
}


static void
ngx_http_yibao_redis_handshake_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V refused the connection setup: %*s",
                      &ngx_http_yibao_redis.name, reply->len,
                      reply->str);
    }
}


static void
ngx_http_yibao_redis_script_loaded(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r;

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_STRING
        || reply->len != 40
        || ngx_strncmp(reply->str, ngx_http_yibao_redis.sha, 40) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V did not load the limit script: %*s",
                      &ngx_http_yibao_redis.name,
                      reply->str ? reply->len : 0,
                      reply->str ? reply->str : "");
        return;
    }

    if (ngx_http_yibao_redis.ac != ac) {
        return;
    }

    if (ngx_http_yibao_redis.conf->journal_ttl == 0) {
        ngx_http_yibao_redis_ready();
        return;
    }

    /* the marker's answer, which comes next, makes it ready */

    ngx_http_yibao_redis.script_loaded = 1;
}


static void
ngx_http_yibao_redis_ready(void)
{
    if (ngx_http_yibao_redis.handshake.timer_set) {
        ngx_del_timer(&ngx_http_yibao_redis.handshake);
    }

    ngx_http_yibao_redis.state = NGX_HTTP_YIBAO_REDIS_READY;
    ngx_http_yibao_redis.backoff = NGX_HTTP_YIBAO_REDIS_BACKOFF_MIN;

    if (!ngx_http_yibao_redis.was_up) {
        ngx_http_yibao_redis.was_up = 1;
        ngx_log_error(NGX_LOG_NOTICE, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V is up",
                      &ngx_http_yibao_redis.name);
    }

    ngx_http_yibao_redis_first_done(NULL);
}


static void
ngx_http_yibao_redis_info_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r;

    if (reply == NULL || ngx_http_yibao_redis.ac != ac
        || reply->type != REDIS_REPLY_STRING)
    {
        return;
    }

    yibao_forget_info(&ngx_http_yibao_redis.info,
                      (const unsigned char *) reply->str, reply->len);
}


static void
ngx_http_yibao_redis_config_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply  *reply = r, *name, *value;

    if (reply == NULL || ngx_http_yibao_redis.ac != ac
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
    {
        return;
    }

    name = reply->element[0];
    value = reply->element[1];

    if (name->type == REDIS_REPLY_STRING
        && value->type == REDIS_REPLY_STRING)
    {
        yibao_forget_config(&ngx_http_yibao_redis.info,
                            (const unsigned char *) name->str, name->len,
                            (const unsigned char *) value->str, value->len);
    }
}


/*
 * The journal's marker (yibao_forget.h), at connect (handshake: the
 * connection is ready after its answer) and every few seconds.
 */

static ngx_int_t
ngx_http_yibao_redis_marker_check(ngx_uint_t handshake, ngx_uint_t loses)
{
    char          fresh[YIBAO_FORGET_ID_LEN + 1];
    u_char        now[NGX_INT64_LEN + 1];
    size_t        argvlen[8];
    uint64_t      r;
    ngx_uint_t    i;
    const char   *argv[8];

    r = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
        ^ ((uint64_t) ngx_pid << 16) ^ ngx_http_yibao_redis_now();
    yibao_forget_marker_id(r, fresh);

    argv[0] = "EVAL";
    argv[1] = yibao_forget_marker_script;
    argv[2] = "1";
    argv[3] = YIBAO_FORGET_MARKER_KEY;
    argv[4] = ngx_http_yibao_redis.marker_known
              ? ngx_http_yibao_redis.marker.id : "";
    argv[5] = fresh;
    argv[6] = (char *) now;
    argv[7] = loses ? "1" : "0";

    *ngx_sprintf(now, "%uL", ngx_http_yibao_redis_now()) = '\0';

    for (i = 0; i < 8; i++) {
        argvlen[i] = ngx_strlen(argv[i]);
    }

    if (ngx_http_yibao_redis.ac == NULL
        || redisAsyncCommandArgv(ngx_http_yibao_redis.ac,
                                 ngx_http_yibao_redis_marker_reply,
                                 (void *) (uintptr_t) (handshake
                                                       | (loses << 1)),
                                 8, argv, argvlen)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_yibao_redis.marker_pending = 1;

    return NGX_OK;
}


/*
 * {changed, marker}.
 */

static void
ngx_http_yibao_redis_marker_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply             *reply = r;
    ngx_uint_t              handshake, restarted;
    const char             *why;
    yibao_forget_marker_t   m;

    if (reply == NULL || ngx_http_yibao_redis.ac != ac) {
        return;
    }

    handshake = (uintptr_t) privdata & 1;
    restarted = ((uintptr_t) privdata >> 1) & 1;

    ngx_http_yibao_redis.marker_pending = 0;

    why = ngx_http_yibao_redis_marker_read(reply, &m);

    if (why != NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V: the journal's marker \""
                      YIBAO_FORGET_MARKER_KEY "\" could not be checked: %s",
                      &ngx_http_yibao_redis.name, why);

        if (handshake) {
            ngx_http_yibao_redis_fail("the journal's marker could not be "
                                      "checked");
        }

        return;
    }

    if (handshake) {

        if (!ngx_http_yibao_redis.script_loaded) {
            /* logged; the handshake's timer ends the connection */
            return;
        }

        if (!restarted && reply->element[0]->integer == 0
            && ngx_http_yibao_redis.run_id[0]
            && ngx_http_yibao_redis.info.run_id[0]
            && ngx_strcmp(ngx_http_yibao_redis.run_id,
                          ngx_http_yibao_redis.info.run_id) != 0
            && yibao_forget_restart_loses(&ngx_http_yibao_redis.info))
        {
            /*
             * restarted (or another server after a failover) that may
             * have lost its last writes: marked as a loss, then ready
             */

            if (ngx_http_yibao_redis_marker_check(1, 1) != NGX_OK) {
                ngx_http_yibao_redis_fail("the journal's marker could not "
                                          "be written");
            }

            return;
        }

        ngx_http_yibao_redis_describe(&m);
    }

    ngx_http_yibao_redis_marker_apply(&m, reply->element[0]->integer == 1,
                                      restarted);

    if (handshake) {
        ngx_http_yibao_redis_ready();

        ngx_http_yibao_status_journal(ngx_http_yibao_redis.marker.lost_ms,
                                      ngx_http_yibao_redis.until,
                                      yibao_forget_durable(
                                          &ngx_http_yibao_redis.info),
                                      0);
    }

    if (!ngx_http_yibao_redis.marker_timer.timer_set
        && !ngx_http_yibao_redis.exiting)
    {
        ngx_add_timer(&ngx_http_yibao_redis.marker_timer,
                      NGX_HTTP_YIBAO_REDIS_MARKER_EVERY);
    }
}


/*
 * The reply of the marker script checked and its marker parsed into m:
 * NULL, or why it cannot be used.
 */

static const char *
ngx_http_yibao_redis_marker_read(redisReply *reply,
    yibao_forget_marker_t *m)
{
    redisReply  *v;

    if (reply->type == REDIS_REPLY_ERROR) {
        return reply->str;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return "not the answer of the marker script";
    }

    v = reply->element[1];

    if (yibao_forget_marker_parse((const unsigned char *) v->str, v->len, m)
        != YIBAO_OK)
    {
        return "the marker is not \"ID LOST_MS\"";
    }

    return NULL;
}


/*
 * The server's settings, once per connection, and its restart if its
 * run_id changed (m: the marker found).
 */

static void
ngx_http_yibao_redis_describe(yibao_forget_marker_t *m)
{
    char        text[160];
    ngx_uint_t  durable, level;

    /* the server's settings, once per connection */

    yibao_forget_describe(&ngx_http_yibao_redis.info, text,
                          sizeof(text));
    durable = yibao_forget_durable(&ngx_http_yibao_redis.info) == 1;
    level = (durable && !yibao_forget_evicts(&ngx_http_yibao_redis.info))
            ? NGX_LOG_NOTICE : NGX_LOG_WARN;

    ngx_log_error(level, ngx_http_yibao_redis.log, 0,
                  "yibao: redis %V run_id %s: %s%s%s",
                  &ngx_http_yibao_redis.name,
                  ngx_http_yibao_redis.info.run_id[0]
                  ? ngx_http_yibao_redis.info.run_id : "unknown", text,
                  durable ? "" : ": it does not persist the journal "
                                 "(or that is not known): a restart "
                                 "loses its records",
                  yibao_forget_evicts(&ngx_http_yibao_redis.info)
                  ? ": its maxmemory-policy may evict journal records"
                  : "");

    if (ngx_http_yibao_redis.run_id[0]
        && ngx_http_yibao_redis.info.run_id[0]
        && ngx_strcmp(ngx_http_yibao_redis.run_id,
                      ngx_http_yibao_redis.info.run_id) != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V restarted (run_id %*s -> "
                      "%*s): the journal's marker is %s",
                      &ngx_http_yibao_redis.name,
                      ngx_min(ngx_strlen(ngx_http_yibao_redis.run_id),
                              8),
                      ngx_http_yibao_redis.run_id,
                      ngx_min(ngx_strlen(
                                  ngx_http_yibao_redis.info.run_id), 8),
                      ngx_http_yibao_redis.info.run_id,
                      (ngx_http_yibao_redis.marker_known
                       && ngx_strcmp(m->id,
                                     ngx_http_yibao_redis.marker.id)
                          == 0)
                      ? "there" : "gone");
    }

    if (ngx_http_yibao_redis.info.run_id[0]) {
        ngx_memcpy(ngx_http_yibao_redis.run_id,
                   ngx_http_yibao_redis.info.run_id,
                   sizeof(ngx_http_yibao_redis.run_id));
    }
}


/* The marker as the store has it now: a loss is said once per worker. */

static void
ngx_http_yibao_redis_marker_apply(yibao_forget_marker_t *m,
    ngx_uint_t changed, ngx_uint_t restarted)
{
    u_char       at[32], until[32];
    uint64_t     end, now;
    const char  *how;

    now = ngx_http_yibao_redis_now();
    end = yibao_forget_until(m, ngx_http_yibao_redis.conf->journal_ttl, now);

    if (changed && m->lost_ms == 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V had no journal marker: a new store, "
                      "taken as empty (marker %s written)",
                      &ngx_http_yibao_redis.name, m->id);
    }

    if (end && (ngx_http_yibao_redis.until == 0
                || m->lost_ms != ngx_http_yibao_redis.marker.lost_ms))
    {
        if (!changed) {
            how = "found by another gateway worker or node";

        } else if (restarted && ngx_http_yibao_redis.marker_known
                   && ngx_strcmp(m->id, ngx_http_yibao_redis.marker.id) == 0)
        {
            how = "it restarted, and does not write every change to disk "
                  "before it answers (appendfsync always): its last writes "
                  "may be lost";

        } else {
            how = "its marker is gone: restarted without persistence, "
                  "flushed, replaced, or its keys evicted";
        }

        *ngx_http_yibao_time_text(at, m->lost_ms) = '\0';
        *ngx_http_yibao_time_text(until, end) = '\0';

        ngx_log_error(NGX_LOG_ERR, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V lost the journal's records (%s) at "
                      "%s: until %s (the journal's ttl later) a "
                      "money-moving msgid the journal does not know is "
                      "checked with the platform (5203) before it is sent",
                      &ngx_http_yibao_redis.name, how, at, until);

        if (changed) {
            ngx_http_yibao_status_journal(m->lost_ms, end,
                                          yibao_forget_durable(
                                              &ngx_http_yibao_redis.info),
                                          1);
        }

    } else if (end == 0 && ngx_http_yibao_redis.until != 0) {
        *ngx_http_yibao_time_text(at, ngx_http_yibao_redis.marker.lost_ms)
            = '\0';

        ngx_log_error(NGX_LOG_NOTICE, ngx_http_yibao_redis.log, 0,
                      "yibao: redis %V: the journal's records are trusted "
                      "again (%s of the loss at %s)",
                      &ngx_http_yibao_redis.name,
                      m->lost_ms == 0 ? "an operator ended the window"
                                      : "the journal's ttl has passed",
                      at);
    }

    if (end != ngx_http_yibao_redis.until
        || m->lost_ms != ngx_http_yibao_redis.marker.lost_ms)
    {
        ngx_http_yibao_status_journal(m->lost_ms, end,
                                      yibao_forget_durable(
                                          &ngx_http_yibao_redis.info),
                                      0);
    }

    ngx_http_yibao_redis.marker = *m;
    ngx_http_yibao_redis.marker_known = 1;
    ngx_http_yibao_redis.until = end;
}


static void
ngx_http_yibao_redis_marker_handler(ngx_event_t *ev)
{
    yibao_forget_marker_t  m;

    if (ngx_http_yibao_redis.exiting || ngx_exiting || ngx_quit) {
        return;
    }

    /* the window may have passed without a change of the marker */

    if (ngx_http_yibao_redis.until
        && ngx_http_yibao_redis_now() >= ngx_http_yibao_redis.until)
    {
        m = ngx_http_yibao_redis.marker;
        ngx_http_yibao_redis_marker_apply(&m, 0, 0);
    }

    if (ngx_http_yibao_redis.state == NGX_HTTP_YIBAO_REDIS_READY
        && !ngx_http_yibao_redis.marker_pending)
    {
        (void) ngx_http_yibao_redis_marker_check(0, 0);
    }

    ngx_add_timer(ev, NGX_HTTP_YIBAO_REDIS_MARKER_EVERY);
}


/*
 * The end of the window of journal records the store cannot vouch for
 * (ms since the epoch), or 0 when it remembers what it was told.
 */

uint64_t
ngx_http_yibao_redis_forgotten(void)
{
    if (ngx_http_yibao_redis.until == 0
        || ngx_http_yibao_redis_now() >= ngx_http_yibao_redis.until)
    {
        return 0;
    }

    return ngx_http_yibao_redis.until;
}


uint64_t
ngx_http_yibao_redis_forgotten_at(void)
{
    return ngx_http_yibao_redis_forgotten()
           ? ngx_http_yibao_redis.marker.lost_ms : 0;
}


static uint64_t
ngx_http_yibao_redis_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


static void
ngx_http_yibao_redis_disconnected(const redisAsyncContext *ac, int status)
{
    /* hiredis frees the context after this callback */

    if (ngx_http_yibao_redis.ac == ac) {
        ngx_http_yibao_redis.ac = NULL;
        ngx_http_yibao_redis_fail(status == REDIS_OK ? "closed"
                                                     : "connection lost");
    }
}


/* hiredis event hooks; idempotent, as hiredis requires */

static void
ngx_http_yibao_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yibao: redis add read event failed");
        }
    }
}


static void
ngx_http_yibao_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_yibao_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yibao: redis add write event failed");
        }
    }
}


static void
ngx_http_yibao_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis frees the context: release the nginx connection but let
 * hiredis close the descriptor itself.
 */

static void
ngx_http_yibao_redis_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (ngx_http_yibao_redis.c == c) {
        ngx_http_yibao_redis.c = NULL;
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_yibao_redis_read_handler(ngx_event_t *ev)
{
    int                 n;
    ngx_socket_t        fd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = ev->data;
    ac = c->data;
    fd = c->fd;

    /*
     * hiredis reads at most 16 KB a call: with edge-triggered events the
     * rest would wait for more data, so drain the socket.  The context
     * may be freed inside the call.
     */

    for ( ;; ) {
        redisAsyncHandleRead(ac);

        if (ngx_http_yibao_redis.ac != ac) {
            return;
        }

        if (ioctl(fd, FIONREAD, &n) != 0 || n <= 0) {
            return;
        }
    }
}


static void
ngx_http_yibao_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    redisAsyncHandleWrite(c->data);
}


ngx_http_yibao_redis_op_t *
ngx_http_yibao_redis_eval(ngx_uint_t nkeys, ngx_str_t *keys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_yibao_redis_handler_pt handler, void *data,
    ngx_log_t *log)
{
    ngx_str_t   argv[3 + 2 * 16];
    ngx_uint_t  i;

    if (nkeys + nargs > 2 * 16) {
        return NULL;
    }

    /* EVALSHA sha numkeys keys... args...; EVAL after a NOSCRIPT */

    ngx_str_set(&argv[0], "EVALSHA");
    argv[1].data = (u_char *) ngx_http_yibao_redis.sha;
    argv[1].len = 40;
    ngx_str_null(&argv[2]);

    for (i = 0; i < nkeys + nargs; i++) {
        argv[3 + i] = (i < nkeys) ? keys[i] : args[i - nkeys];
    }

    return ngx_http_yibao_redis_run(3 + nkeys + nargs, argv, nkeys, 1,
                                    handler, data, log);
}


/*
 * Sends a command (argv copied into the op); with script set, argv[0]
 * is EVALSHA of the limit script, argv[2] is filled with nkeys.  EVAL
 * of any other script (argv[1], a constant) goes as EVALSHA of its
 * SHA-1.  A NOSCRIPT answer to either is retried once with EVAL.
 */

ngx_http_yibao_redis_op_t *
ngx_http_yibao_redis_run(ngx_uint_t argc, ngx_str_t *argv, ngx_uint_t nkeys,
    ngx_uint_t script, ngx_http_yibao_redis_handler_pt handler, void *data,
    ngx_log_t *log)
{
    u_char                     *p;
    size_t                      size;
    ngx_str_t                   sha;
    ngx_uint_t                  i, by_sha;
    ngx_http_yibao_redis_op_t  *op;

    if (!ngx_http_yibao_redis_up()) {
        return NULL;
    }

    by_sha = ngx_http_yibao_redis_by_sha(argc, argv, script, &sha);

    size = sizeof(ngx_http_yibao_redis_op_t)
           + argc * (sizeof(char *) + sizeof(size_t)) + NGX_INT_T_LEN + 1
           + sizeof("EVALSHA") + 40;

    for (i = 0; i < argc; i++) {
        size += argv[i].len + 1;
    }

    op = ngx_calloc(size, log);
    if (op == NULL) {
        return NULL;
    }

    op->handler = handler;
    op->data = data;
    op->argc = argc;
    op->retried = (script || by_sha) ? 0 : 1;
    op->argv = (const char **) (op + 1);
    op->argvlen = (size_t *) (op->argv + argc);

    if (script) {
        op->script = (const u_char *) yibao_limit_script;
        op->script_len = ngx_strlen(yibao_limit_script);

    } else if (by_sha) {
        op->script = argv[1].data;
        op->script_len = argv[1].len;
    }

    p = (u_char *) (op->argvlen + argc);

    for (i = 0; i < argc; i++) {
        op->argv[i] = (char *) p;

        if (script && i == 2) {
            p = ngx_sprintf(p, "%ui", nkeys);

        } else if (by_sha && i == 0) {
            p = ngx_cpymem(p, "EVALSHA", 7);

        } else if (by_sha && i == 1) {
            p = ngx_cpymem(p, sha.data, sha.len);

        } else {
            p = ngx_cpymem(p, argv[i].data, argv[i].len);
        }

        op->argvlen[i] = p - (u_char *) op->argv[i];
        *p++ = '\0';
    }

    op->timer.handler = ngx_http_yibao_redis_op_timeout;
    op->timer.data = op;
    /* the op may outlive the request and its connection */
    op->timer.log = ngx_http_yibao_redis.log;

    if (ngx_http_yibao_redis_send(op, 1) != NGX_OK) {
        ngx_free(op);
        return NULL;
    }

    /*
     * The timeout is Redis's time: from now, not from the start of this
     * turn of the event loop, which a long request may have filled.  Now
     * is read from the clock of nginx's timers, without updating nginx's
     * cached time (ngx_time_update) for every command.
     */

    ngx_add_timer(&op->timer, ngx_http_yibao_redis.conf->timeout
                              + ngx_http_yibao_redis_lag());

    return op;
}


/*
 * EVAL of a script: sent as EVALSHA, by the SHA-1 of its text
 * (computed once per worker), and only after a NOSCRIPT answer as EVAL
 * with the whole text, which loads it again.  Returns 1 with *sha.
 */

static ngx_uint_t
ngx_http_yibao_redis_by_sha(ngx_uint_t argc, ngx_str_t *argv,
    ngx_uint_t script, ngx_str_t *sha)
{
    ngx_str_null(sha);

    if (!script && argc >= 3 && argv[0].len == 4
        && ngx_strncasecmp(argv[0].data, (u_char *) "EVAL", 4) == 0)
    {
        sha->data = (u_char *) ngx_http_yibao_redis_script_sha(&argv[1]);

        if (sha->data != NULL) {
            sha->len = 40;
            return 1;
        }
    }

    return 0;
}


/*
 * The SHA-1 (hex) EVALSHA names a script's text by, or NULL (the table
 * is full: the script goes as EVAL).  Scripts are known by the address
 * of their text, a constant: computed once per worker and script.
 */

static const char *
ngx_http_yibao_redis_script_sha(ngx_str_t *text)
{
    ngx_uint_t                      i;
    ngx_http_yibao_redis_script_t  *s;

    for (i = 0; i < ngx_http_yibao_redis_nscripts; i++) {
        s = &ngx_http_yibao_redis_scripts[i];

        if (s->text == text->data && s->len == text->len) {
            return s->sha;
        }
    }

    if (i == NGX_HTTP_YIBAO_REDIS_SCRIPTS) {
        return NULL;
    }

    s = &ngx_http_yibao_redis_scripts[i];

    if (ngx_http_yibao_redis_sha1(text->data, text->len, s->sha) != NGX_OK) {
        return NULL;
    }

    s->text = text->data;
    s->len = text->len;
    ngx_http_yibao_redis_nscripts++;

    return s->sha;
}


/* the SHA-1 of a text in lower-case hex, as Redis names scripts */

static ngx_int_t
ngx_http_yibao_redis_sha1(const u_char *text, size_t len, char *sha)
{
    size_t         n, i;
    unsigned char  digest[YIBAO_MD_MAX_SIZE];

    static const char  hex[] = "0123456789abcdef";

    if (yibao_digest(YIBAO_MD_SHA1, text, len, digest, &n) != YIBAO_OK
        || n != 20)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        sha[2 * i] = hex[digest[i] >> 4];
        sha[2 * i + 1] = hex[digest[i] & 0x0f];
    }

    sha[40] = '\0';

    return NGX_OK;
}


/*
 * How far the clock of nginx's timers (ngx_current_msec, the monotonic
 * clock, read at the start of this turn of the event loop) is behind.
 */

static ngx_msec_t
ngx_http_yibao_redis_lag(void)
{
#if (NGX_HAVE_CLOCK_MONOTONIC)
    ngx_msec_t       now;
    struct timespec  ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        return 0;
    }

    now = (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    return (ngx_msec_int_t) (now - ngx_current_msec) > 0
           ? now - ngx_current_msec : 0;
#else
    return 0;
#endif
}


static ngx_int_t
ngx_http_yibao_redis_send(ngx_http_yibao_redis_op_t *op, ngx_uint_t with_sha)
{
    if (ngx_http_yibao_redis.ac == NULL) {
        return NGX_ERROR;
    }

    if (!with_sha) {
        op->argv[0] = "EVAL";
        op->argvlen[0] = 4;
        op->argv[1] = (const char *) op->script;
        op->argvlen[1] = op->script_len;
    }

    if (redisAsyncCommandArgv(ngx_http_yibao_redis.ac,
                              ngx_http_yibao_redis_reply, op,
                              (int) op->argc, op->argv, op->argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    op->pending++;

    return NGX_OK;
}


static void
ngx_http_yibao_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                 *reply = r;
    ngx_http_yibao_redis_op_t  *op = privdata;

    op->pending--;

    if (reply == NULL) {
        /* the connection is gone */
        ngx_http_yibao_redis_op_finish(op, NULL, NGX_HTTP_YIBAO_REDIS_DOWN);
        ngx_http_yibao_redis_op_release(op);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
        && !op->retried && !op->done)
    {
        /* Redis restarted or flushed its scripts: EVAL loads it again */

        op->retried = 1;

        if (ngx_http_yibao_redis_send(op, 0) == NGX_OK) {
            return;
        }
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (!op->done) {
            ngx_log_error(NGX_LOG_ERR, op->timer.log, 0,
                          "yibao: redis %V: %*s",
                          &ngx_http_yibao_redis.name, reply->len,
                          reply->str);
        }

        ngx_http_yibao_redis_op_finish(op, NULL, NGX_HTTP_YIBAO_REDIS_ERROR);

        if (reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0
            && ngx_http_yibao_redis.ac == ac)
        {
            /* a failover demoted the server: find the master again */

            ngx_http_yibao_redis_op_release(op);
            ngx_http_yibao_redis_fail("the server became a read-only "
                                      "replica");
            return;
        }

    } else {
        ngx_http_yibao_redis_op_finish(op, reply, NGX_HTTP_YIBAO_REDIS_OK);
    }

    ngx_http_yibao_redis_op_release(op);
}


static void
ngx_http_yibao_redis_op_timeout(ngx_event_t *ev)
{
    ngx_http_yibao_redis_op_t  *op = ev->data;

    ngx_uint_t          unsent;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = ngx_http_yibao_redis.ac;

    if (!op->rechecked && ac != NULL) {

        /*
         * The worker itself may have been the slow one (long requests
         * before this event, a loaded machine, valgrind): the command
         * may still wait in hiredis' buffer, its answer in the socket.
         * Send and read what there is before calling Redis slow; a
         * command that had not even left gets the whole timeout again.
         * The op is kept alive (pending) through the callbacks.
         */

        op->rechecked = 1;
        unsent = (ac->c.obuf != NULL && sdslen(ac->c.obuf) > 0);
        c = ac->ev.data;

        op->pending++;

        if (unsent) {
            redisAsyncHandleWrite(ac);
        }

        if (ngx_http_yibao_redis.ac == ac) {
            ngx_http_yibao_redis_read_handler(c->read);
        }

        op->pending--;

        if (op->done) {
            ngx_http_yibao_redis_op_release(op);
            return;
        }

        if (unsent && ngx_http_yibao_redis.ac == ac) {
            ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0,
                           "yibao: redis command sent late: timer again");
            ngx_add_timer(&op->timer, ngx_http_yibao_redis.conf->timeout);
            return;
        }
    }

    ngx_http_yibao_redis_op_finish(op, NULL, NGX_HTTP_YIBAO_REDIS_TIMEOUT);

    /*
     * A slow store is a down store: open the circuit so that no other
     * request waits for it; this answers the pending commands DOWN and
     * ends with the release of this op through its hiredis callback.
     */

    ngx_http_yibao_redis_fail("a command timed out");
}


static void
ngx_http_yibao_redis_op_finish(ngx_http_yibao_redis_op_t *op,
    redisReply *reply, ngx_uint_t status)
{
    void  *data;

    if (op->done) {
        return;
    }

    op->done = 1;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    data = op->data;
    op->data = NULL;

    if (data != NULL) {
        op->handler(data, reply, status);
    }
}


static void
ngx_http_yibao_redis_op_release(ngx_http_yibao_redis_op_t *op)
{
    if (op->pending == 0 && op->done) {
        ngx_free(op);
    }
}


void
ngx_http_yibao_redis_orphan(ngx_http_yibao_redis_op_t *op)
{
    op->data = NULL;
    op->done = 1;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    ngx_http_yibao_redis_op_release(op);
}
