/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_outage.h"


static const char  *yibao_outage_state_names[] = { "up", "down", "probing" };
static const char  *yibao_outage_switch_names[] = { "auto", "down", "up" };


static void
yibao_outage_enter(yibao_outage_t *o, yibao_outage_state_e s, uint64_t now)
{
    if (o->state != (uint32_t) s) {
        o->state = s;
        o->since = now;
    }
}


static void
yibao_outage_observe(yibao_outage_t *o, const yibao_outage_conf_t *conf,
    yibao_outage_event_e ev, uint64_t now)
{
    if (ev == YIBAO_OUTAGE_EV_SUCCESS) {
        o->failures = 0;
        yibao_outage_enter(o, YIBAO_OUTAGE_UP, now);
        return;
    }

    if (o->failures < UINT32_MAX) {
        o->failures++;
    }

    if (o->state == YIBAO_OUTAGE_PROBING) {
        /* the probe (or another exchange) failed: DOWN anew */
        o->state = YIBAO_OUTAGE_DOWN;
        o->since = now;
        return;
    }

    if (o->state == YIBAO_OUTAGE_UP && o->failures >= conf->failures) {
        yibao_outage_enter(o, YIBAO_OUTAGE_DOWN, now);
    }
}


static yibao_outage_verdict_e
yibao_outage_admit(yibao_outage_t *o, const yibao_outage_conf_t *conf,
    int probe, uint64_t now)
{
    if (o->sw == YIBAO_OUTAGE_FORCE_UP) {
        return YIBAO_OUTAGE_SEND;
    }

    if (o->sw == YIBAO_OUTAGE_FORCE_DOWN) {
        o->refused++;
        return YIBAO_OUTAGE_REFUSE;
    }

    switch (o->state) {

    case YIBAO_OUTAGE_UP:
        return YIBAO_OUTAGE_SEND;

    case YIBAO_OUTAGE_DOWN:
        if (probe && now >= o->since + conf->retry) {
            o->state = YIBAO_OUTAGE_PROBING;
            o->since = now;
            o->probe = now;
            return YIBAO_OUTAGE_PROBE;
        }
        break;

    default: /* PROBING */
        if (probe && now >= o->probe + conf->retry) {
            /* the probe's outcome was never seen: another */
            o->probe = now;
            return YIBAO_OUTAGE_PROBE;
        }
        break;
    }

    o->refused++;

    return YIBAO_OUTAGE_REFUSE;
}


yibao_outage_verdict_e
yibao_outage_apply(yibao_outage_t *o, const yibao_outage_conf_t *conf,
    yibao_outage_event_e ev, uint64_t now, int *changed)
{
    yibao_outage_state_e    before;
    yibao_outage_verdict_e  v;

    before = yibao_outage_effective(o);
    v = YIBAO_OUTAGE_SEND;

    switch (ev) {

    case YIBAO_OUTAGE_EV_SUCCESS:
    case YIBAO_OUTAGE_EV_FAILURE:
        yibao_outage_observe(o, conf, ev, now);
        break;

    case YIBAO_OUTAGE_EV_ADMIT:
    case YIBAO_OUTAGE_EV_ADMIT_PROBE:
        v = yibao_outage_admit(o, conf, ev == YIBAO_OUTAGE_EV_ADMIT_PROBE,
                               now);
        break;

    case YIBAO_OUTAGE_EV_SWITCH_AUTO:
        o->sw = YIBAO_OUTAGE_AUTO;
        break;

    case YIBAO_OUTAGE_EV_SWITCH_DOWN:
        o->sw = YIBAO_OUTAGE_FORCE_DOWN;
        break;

    case YIBAO_OUTAGE_EV_SWITCH_UP:
        o->sw = YIBAO_OUTAGE_FORCE_UP;
        break;

    default: /* READ */
        break;
    }

    *changed = yibao_outage_effective(o) != before;

    if (*changed) {
        o->changes++;
    }

    return v;
}


yibao_outage_state_e
yibao_outage_effective(const yibao_outage_t *o)
{
    if (o->sw == YIBAO_OUTAGE_FORCE_DOWN) {
        return YIBAO_OUTAGE_DOWN;
    }

    if (o->sw == YIBAO_OUTAGE_FORCE_UP) {
        return YIBAO_OUTAGE_UP;
    }

    return o->state <= YIBAO_OUTAGE_PROBING ? (yibao_outage_state_e) o->state
                                            : YIBAO_OUTAGE_UP;
}


const char *
yibao_outage_state_name(yibao_outage_state_e s)
{
    return (unsigned) s <= YIBAO_OUTAGE_PROBING
           ? yibao_outage_state_names[s] : "up";
}


const char *
yibao_outage_switch_name(yibao_outage_switch_e s)
{
    return (unsigned) s <= YIBAO_OUTAGE_FORCE_UP
           ? yibao_outage_switch_names[s] : "auto";
}


int
yibao_outage_switch_parse(const unsigned char *p, size_t len)
{
    int  i;

    for (i = 0; i <= YIBAO_OUTAGE_FORCE_UP; i++) {
        if (len == strlen(yibao_outage_switch_names[i])
            && memcmp(p, yibao_outage_switch_names[i], len) == 0)
        {
            return i;
        }
    }

    return -1;
}


int
yibao_outage_may_probe(yibao_infno_class_e cls)
{
    return cls == YIBAO_INFNO_READ || cls == YIBAO_INFNO_COMPUTE;
}
