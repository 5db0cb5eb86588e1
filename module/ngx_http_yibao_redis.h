/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _NGX_HTTP_YIBAO_REDIS_H_INCLUDED_
#define _NGX_HTTP_YIBAO_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_yibao_common.h"


/*
 * One asynchronous Redis connection per worker (hiredis 0.14 bound to
 * nginx's events).  Commands from all requests are pipelined on it; each
 * has its own timer (hiredis 0.14 has none).  A connection that fails or
 * a command that times out opens the circuit: the store is "down", no
 * request waits on it, and a reconnect with exponential backoff and
 * jitter probes it; every change of state is logged once.
 *
 * With Sentinel, each connection starts by asking a Sentinel (in turn)
 * for the master's address, and checks with ROLE that the server is
 * still the master; a READONLY reply (the master was demoted by a
 * failover) or a lost connection asks the Sentinels again.
 */

typedef struct {
    ngx_str_t                  host;       /* IP address */
    in_port_t                  port;
} ngx_http_yibao_redis_addr_t;


struct ngx_http_yibao_redis_conf_s {
    ngx_str_t                  host;       /* IP address or unix: path */
    in_port_t                  port;
    ngx_str_t                  master;     /* Sentinel: the master's name */
    ngx_array_t               *sentinels;  /* ngx_http_yibao_redis_addr_t */
    ngx_str_t                  password;
    ngx_uint_t                 db;
    ngx_msec_t                 timeout;
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 journal_ttl;  /* 0: no journal, no marker */
};


#define NGX_HTTP_YIBAO_REDIS_OK       0
#define NGX_HTTP_YIBAO_REDIS_TIMEOUT  1
#define NGX_HTTP_YIBAO_REDIS_DOWN     2
#define NGX_HTTP_YIBAO_REDIS_ERROR    3


/*
 * Called once per command: status OK with the reply (valid during the
 * call only), or TIMEOUT, DOWN or ERROR with reply NULL (ERROR: a Redis
 * error reply, logged).  Not called after ngx_http_yibao_redis_orphan().
 */
typedef void (*ngx_http_yibao_redis_handler_pt)(void *data,
    redisReply *reply, ngx_uint_t status);


char *ngx_http_yibao_redis_parse(ngx_conf_t *cf,
    ngx_http_yibao_redis_conf_t *rcf);
ngx_int_t ngx_http_yibao_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_yibao_redis_conf_t *rcf);
void ngx_http_yibao_redis_exit_process(ngx_cycle_t *cycle);

/* 1 when commands may be sent now, 0 when the circuit is open */
ngx_uint_t ngx_http_yibao_redis_up(void);

/*
 * A worker's first connection: from the worker's start until its first
 * connection is up (its handshake done) or has failed, _first() is 1;
 * a waiter's event is posted when that ends (then _first() is 0).  A
 * waiter that goes away first calls _unwait().
 */
typedef struct {
    ngx_queue_t                queue;
    ngx_event_t               *ev;
    ngx_uint_t                 waiting;
} ngx_http_yibao_redis_waiter_t;

ngx_uint_t ngx_http_yibao_redis_first(void);
void ngx_http_yibao_redis_wait(ngx_http_yibao_redis_waiter_t *w);
void ngx_http_yibao_redis_unwait(ngx_http_yibao_redis_waiter_t *w);

/*
 * Runs the limit script with EVALSHA (EVAL after a NOSCRIPT) on the
 * given keys and arguments, which are copied.  Returns the operation,
 * or NULL when the store is down or on allocation failure: the caller
 * then decides without Redis, at once.
 */
ngx_http_yibao_redis_op_t *ngx_http_yibao_redis_eval(ngx_uint_t nkeys,
    ngx_str_t *keys, ngx_uint_t nargs, ngx_str_t *args,
    ngx_http_yibao_redis_handler_pt handler, void *data, ngx_log_t *log);

/*
 * Any command, e.g. GET or EVAL of a script; argv is copied.  EVAL goes
 * as EVALSHA of the script's SHA-1 (EVAL again after a NOSCRIPT): its
 * text, argv[1], must be a constant, alive as long as the process.  NULL
 * when the store is down or on allocation failure.
 */
ngx_http_yibao_redis_op_t *ngx_http_yibao_redis_run(ngx_uint_t argc,
    ngx_str_t *argv, ngx_uint_t nkeys, ngx_uint_t script,
    ngx_http_yibao_redis_handler_pt handler, void *data, ngx_log_t *log);

/* The requester is gone: the reply, when it comes, is dropped. */
void ngx_http_yibao_redis_orphan(ngx_http_yibao_redis_op_t *op);

/*
 * The journal's store and what it remembers (adapters/yibao_forget.h):
 * each connection starts with the server's run_id and persistence
 * settings and the journal's marker, and is used once the marker was
 * read; the marker is read again every few seconds.  A loss is logged
 * once per worker (error) and reported to the status zone.
 *
 * ngx_http_yibao_redis_forgotten(): the end of the window of records
 * the store cannot vouch for (ms since the epoch; the loss plus the
 * journal's ttl), or 0.  ..._forgotten_at(): when the loss was found,
 * or 0.
 */
uint64_t ngx_http_yibao_redis_forgotten(void);
uint64_t ngx_http_yibao_redis_forgotten_at(void);


#endif /* _NGX_HTTP_YIBAO_REDIS_H_INCLUDED_ */
