/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_FORGET_H_INCLUDED_
#define _YIBAO_FORGET_H_INCLUDED_


#include "yibao_types.h"


/*
 * A journal store that forgets.  The journal in Redis is only worth
 * what Redis remembers: a Redis restarted without persistence, flushed,
 * evicting, or replaced by a replica that had not received the last
 * writes has lost records, and a repeat of a msgid it forgot would look
 * new.  The gateway keeps a marker in Redis and learns, when it
 * connects, the server's run_id and persistence settings:
 *
 *   - the marker gone (or another one than this worker knew, not
 *     marking a loss): the store lost everything it had;
 *   - the run_id changed (the server restarted, or a failover) while
 *     the store does not write every change to its AOF before it
 *     answers (appendfsync always): it may have lost its last writes.
 *
 * Either is a loss at that time.  Until the journal's ttl has passed
 * since (the records it held would have expired by then), the store
 * cannot vouch that a msgid it does not know was never sent: a
 * money-moving one is checked with the platform first.
 *
 * The marker is one key, "ID LOST_MS": ID 16 hex digits chosen by the
 * worker that wrote it first, LOST_MS 0, or when a loss was found (ms
 * since the epoch).  It is shared by every gateway node, so a loss one
 * node finds is known to all, also to a node started afterwards.  An
 * operator ends the window by setting LOST_MS to 0 (same ID).
 */

#define YIBAO_FORGET_MARKER_KEY  "yibao:journal:marker"
#define YIBAO_FORGET_ID_LEN      16       /* a fresh id's */
#define YIBAO_FORGET_ID_MAX      40       /* one set by hand */


/*
 * EVAL: KEYS marker; ARGV known id ("" when this worker knows none), a
 * fresh id, now_ms, "1" when this worker found a restart that may have
 * lost writes -> {changed (0 or 1), marker}.
 *
 *   marker with the known id (or any, when none is known): kept, unless
 *       ARGV 4 marks a loss now (and none was marked within a minute:
 *       the same restart, seen by another worker);
 *   another marker that marks a loss: kept (another node found it);
 *   another marker that marks none: the store was replaced; a loss now;
 *   no marker (or not one): a new marker, a loss now when this worker
 *       knew one, else none (a new store; or one that lost its records
 *       while no gateway was connected, which nobody can tell).
 */
extern const char  yibao_forget_marker_script[];


typedef struct {
    char                  id[YIBAO_FORGET_ID_MAX + 1];
    uint64_t              lost_ms;      /* 0: no loss known */
} yibao_forget_marker_t;


/* "ID LOST_MS" (ID 1 to 40 hex digits); YIBAO_OK or YIBAO_ERR_SYNTAX */
int yibao_forget_marker_parse(const unsigned char *p, size_t len,
    yibao_forget_marker_t *m);

/* A fresh id: the 16 hex digits of r, NUL-terminated. */
void yibao_forget_marker_id(uint64_t r, char *out);

/*
 * The end of the window of records the store cannot vouch for (lost_ms
 * + ttl_ms), or 0 when there is none: no loss, or it has passed.
 */
uint64_t yibao_forget_until(const yibao_forget_marker_t *m, uint64_t ttl_ms,
    uint64_t now_ms);


/* What the server says about itself at connect. */

typedef struct {
    char                  run_id[41];   /* "" when not known */
    int                   aof;          /* appendonly: 1, 0, -1 unknown */
    int                   rdb;          /* save points: 1, 0, -1 unknown */
    char                  fsync[12];    /* appendfsync, "" unknown */
    char                  policy[24];   /* maxmemory-policy, "" unknown */
} yibao_forget_store_t;


void yibao_forget_store_init(yibao_forget_store_t *s);

/* The fields it knows of an INFO answer (run_id, aof_enabled). */
void yibao_forget_info(yibao_forget_store_t *s, const unsigned char *p,
    size_t len);

/* One name and value of a CONFIG GET answer (save, appendfsync, ...). */
void yibao_forget_config(yibao_forget_store_t *s, const unsigned char *name,
    size_t nlen, const unsigned char *value, size_t vlen);

/*
 * 1 when the store keeps its data over a restart (an AOF, or RDB
 * snapshots), 0 when it does not, -1 when that is not known.
 */
int yibao_forget_durable(const yibao_forget_store_t *s);

/*
 * 1 when a restart of the server may have lost writes it acknowledged:
 * everything but an AOF written with appendfsync always.
 */
int yibao_forget_restart_loses(const yibao_forget_store_t *s);

/* 1 when maxmemory-policy may evict keys that have a TTL (records). */
int yibao_forget_evicts(const yibao_forget_store_t *s);

/*
 * The settings in words for the log, NUL-terminated in buf (cut to
 * size): "appendonly yes (appendfsync everysec), RDB snapshots off,
 * maxmemory-policy noeviction".
 */
void yibao_forget_describe(const yibao_forget_store_t *s, char *buf,
    size_t size);


#endif /* _YIBAO_FORGET_H_INCLUDED_ */
