/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_OUTAGE_H_INCLUDED_
#define _YIBAO_OUTAGE_H_INCLUDED_


#include "yibao_types.h"
#include "yibao_infno.h"


/*
 * Is the platform reachable?  The gateway's own view, per node, from
 * what it observes (an exchange that got an HTTP answer, or one that
 * could not connect or timed out) and from the operator's switch.
 *
 *   UP       every transaction is sent
 *   DOWN     `failures` exchanges in a row failed: nothing is sent; a
 *            transaction that creates state or moves money is refused
 *            at once (YB6020, "switch to 记账"), a read is answered from
 *            the cache where it may be, else refused at once too
 *   PROBING  DOWN for `retry` ms: one exchange, a probe, is let
 *            through (a read or a pre-settlement, or the gateway's
 *            own probe); its success makes the platform UP,
 *            its failure DOWN again for another `retry`.  A probe whose
 *            outcome is never seen (its caller left before it was sent)
 *            is replaced by another after `retry`.
 *
 * The operator's switch (down, up, auto) overrides the observations:
 * down refuses as DOWN does and sends no probe; up sends everything and
 * the failures are still counted, so that auto starts from what was
 * seen.  The state lives in the shared zone; these functions are
 * called under its lock with the time passed in.
 */

typedef enum {
    YIBAO_OUTAGE_UP = 0,
    YIBAO_OUTAGE_DOWN,
    YIBAO_OUTAGE_PROBING
} yibao_outage_state_e;


typedef enum {
    YIBAO_OUTAGE_AUTO = 0,
    YIBAO_OUTAGE_FORCE_DOWN,
    YIBAO_OUTAGE_FORCE_UP
} yibao_outage_switch_e;


typedef enum {
    YIBAO_OUTAGE_EV_SUCCESS = 0,   /* an exchange got an HTTP answer */
    YIBAO_OUTAGE_EV_FAILURE,       /* connect failed, reset, timed out */
    YIBAO_OUTAGE_EV_ADMIT,         /* may a transaction be sent? */
    YIBAO_OUTAGE_EV_ADMIT_PROBE,   /* may a probe be sent?  (reads, the
                                      gateway's own probe) */
    YIBAO_OUTAGE_EV_SWITCH_AUTO,
    YIBAO_OUTAGE_EV_SWITCH_DOWN,
    YIBAO_OUTAGE_EV_SWITCH_UP,
    YIBAO_OUTAGE_EV_READ           /* nothing changes: the state */
} yibao_outage_event_e;


typedef enum {
    YIBAO_OUTAGE_SEND = 0,         /* send it */
    YIBAO_OUTAGE_PROBE,            /* send it: it is the probe */
    YIBAO_OUTAGE_REFUSE            /* do not send: the platform is down */
} yibao_outage_verdict_e;


typedef struct {
    uint32_t                   failures;   /* in a row, to go DOWN */
    uint64_t                   retry;      /* ms DOWN before a probe */
} yibao_outage_conf_t;


typedef struct {
    uint32_t                   state;      /* yibao_outage_state_e */
    uint32_t                   sw;         /* yibao_outage_switch_e */
    uint32_t                   failures;   /* in a row */
    uint32_t                   pad;
    uint64_t                   since;      /* ms: state entered */
    uint64_t                   probe;      /* ms: the probe let through */
    uint64_t                   changes;    /* of the effective state */
    uint64_t                   refused;    /* transactions refused */
} yibao_outage_t;


/*
 * Applies ev at now (ms).  Returns the verdict for the ADMIT events
 * (SEND for the others); *changed is 1 when the effective state
 * (yibao_outage_effective) changed.
 */
yibao_outage_verdict_e yibao_outage_apply(yibao_outage_t *o,
    const yibao_outage_conf_t *conf, yibao_outage_event_e ev, uint64_t now,
    int *changed);

/* the state as transactions see it, the switch applied */
yibao_outage_state_e yibao_outage_effective(const yibao_outage_t *o);

/* "up", "down", "probing"; "auto", "down", "up" */
const char *yibao_outage_state_name(yibao_outage_state_e s);
const char *yibao_outage_switch_name(yibao_outage_switch_e s);

/* the switch by its name: -1 if it has none */
int yibao_outage_switch_parse(const unsigned char *p, size_t len);

/*
 * What a transaction of class cls may be while the platform is down: 1
 * if it may be a probe (it changes nothing on the platform: a READ or
 * the pre-settlement, COMPUTE), 0 if it is refused with YB6020 (every
 * other class, and a transaction outside the table).
 */
int yibao_outage_may_probe(yibao_infno_class_e cls);


#endif /* _YIBAO_OUTAGE_H_INCLUDED_ */
