/*
 * Copyright (C) yibao-gateway authors
 */


#include <string.h>

#include "yibao_msgid.h"


#define YIBAO_MSGID_SEQ_BITS  14
#define YIBAO_MSGID_SEQ_MASK  ((1 << YIBAO_MSGID_SEQ_BITS) - 1)


static void yibao_msgid_digits(char *p, unsigned v, int n);


int
yibao_msgid_advance(uint64_t state, uint64_t now_sec, unsigned node,
    unsigned count, uint64_t *next, uint64_t *sec, unsigned *seq)
{
    uint64_t  last, n, limit;

    if (count == 0 || node >= count) {
        return YIBAO_ERR_INVALID;
    }

    /* the node's share of the second: n = 0 .. limit - 1 */

    limit = (YIBAO_MSGID_SEQ_MAX - node + count - 1) / count;

    last = state >> YIBAO_MSGID_SEQ_BITS;
    n = state & YIBAO_MSGID_SEQ_MASK;

    if (now_sec > last) {
        last = now_sec;
        n = 0;

    } else if (n >= limit) {
        return YIBAO_ERR_EXHAUSTED;
    }

    *sec = last;
    *seq = (unsigned) (n * count + node);
    *next = (last << YIBAO_MSGID_SEQ_BITS) | (n + 1);

    return YIBAO_OK;
}


uint64_t
yibao_msgid_start(uint64_t now_sec)
{
    return (now_sec + 1) << YIBAO_MSGID_SEQ_BITS;
}


int
yibao_msgid_format(const yibao_str_t *entity, const yibao_tm_t *tm,
    unsigned seq, char out[YIBAO_MSGID_LEN + 1])
{
    if (entity->len != 12 || seq >= YIBAO_MSGID_SEQ_MAX) {
        return YIBAO_ERR_INVALID;
    }

    memcpy(out, entity->data, 12);

    yibao_msgid_digits(out + 12, (unsigned) tm->year, 4);
    yibao_msgid_digits(out + 16, (unsigned) tm->mon, 2);
    yibao_msgid_digits(out + 18, (unsigned) tm->mday, 2);
    yibao_msgid_digits(out + 20, (unsigned) tm->hour, 2);
    yibao_msgid_digits(out + 22, (unsigned) tm->min, 2);
    yibao_msgid_digits(out + 24, (unsigned) tm->sec, 2);
    yibao_msgid_digits(out + 26, seq, 4);
    out[YIBAO_MSGID_LEN] = '\0';

    return YIBAO_OK;
}


/* Writes the n low decimal digits of v, zero-padded. */

static void
yibao_msgid_digits(char *p, unsigned v, int n)
{
    while (n-- > 0) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}
