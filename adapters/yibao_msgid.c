/*
 * Copyright (C) yibao-gateway authors
 */


#include <stdio.h>
#include <string.h>

#include "yibao_msgid.h"


#define YIBAO_MSGID_SEQ_BITS  14
#define YIBAO_MSGID_SEQ_MASK  ((1 << YIBAO_MSGID_SEQ_BITS) - 1)


int
yibao_msgid_advance(uint64_t state, uint64_t now_sec, uint64_t *next,
    uint64_t *sec, unsigned *seq)
{
    uint64_t  last, n;

    last = state >> YIBAO_MSGID_SEQ_BITS;
    n = state & YIBAO_MSGID_SEQ_MASK;

    if (now_sec > last) {
        *sec = now_sec;
        *seq = 0;
        *next = (now_sec << YIBAO_MSGID_SEQ_BITS) | 1;
        return YIBAO_OK;
    }

    if (n >= YIBAO_MSGID_SEQ_MAX) {
        return YIBAO_ERR_EXHAUSTED;
    }

    *sec = last;
    *seq = (unsigned) n;
    *next = (last << YIBAO_MSGID_SEQ_BITS) | (n + 1);

    return YIBAO_OK;
}


int
yibao_msgid_format(const yibao_str_t *entity, const yibao_tm_t *tm,
    unsigned seq, char out[YIBAO_MSGID_LEN + 1])
{
    if (entity->len != 12 || seq >= YIBAO_MSGID_SEQ_MAX) {
        return YIBAO_ERR_INVALID;
    }

    memcpy(out, entity->data, 12);

    snprintf(out + 12, YIBAO_MSGID_LEN + 1 - 12,
             "%04d%02d%02d%02d%02d%02d%04u",
             tm->year % 10000, tm->mon % 100, tm->mday % 100,
             tm->hour % 100, tm->min % 100, tm->sec % 100, seq);

    return YIBAO_OK;
}
