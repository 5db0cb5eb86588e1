/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_MSGID_H_INCLUDED_
#define _YIBAO_MSGID_H_INCLUDED_


#include "yibao_types.h"


/*
 * Upstream msgid issue: entity code (12) + yyyyMMddHHmmss (14) + a
 * 4-digit sequence (research section 1.1), so at most 10,000 per
 * second.  The sequence state is one 64-bit word, (second << 14) | next,
 * kept in shared memory and advanced by the glue with compare-and-swap,
 * so that every worker draws from the same sequence.
 */

#define YIBAO_MSGID_LEN      30
#define YIBAO_MSGID_SEQ_MAX  10000


/*
 * Computes the state that follows state at now_sec.  *sec receives the
 * second to write into the msgid and *seq the sequence number.  A clock
 * that went backwards keeps the later second, so no msgid is issued
 * twice.
 *
 * Several gateway nodes share the sequence space without talking to
 * each other: node n of count gets the numbers n, n + count,
 * n + 2 count, ... below 10,000.  YIBAO_OK, or YIBAO_ERR_EXHAUSTED when
 * the node's numbers of the second are used up; YIBAO_ERR_INVALID for
 * n >= count or count 0.
 */
int yibao_msgid_advance(uint64_t state, uint64_t now_sec, unsigned node,
    unsigned count, uint64_t *next, uint64_t *sec, unsigned *seq);

/*
 * The state of a sequence that starts at now_sec (a new shared zone: an
 * nginx just started, or the new master of a binary upgrade).  Its first
 * msgid is stamped with the next second: the nginx that ran before, in
 * the same second, may have issued that second's first numbers, and its
 * sequence is gone with its zone.
 */
uint64_t yibao_msgid_start(uint64_t now_sec);

/*
 * Writes entity + yyyyMMddHHmmss of tm + seq (4 digits) and a NUL into
 * out.  YIBAO_ERR_INVALID unless the entity code has 12 characters and
 * seq < 10,000.
 */
int yibao_msgid_format(const yibao_str_t *entity, const yibao_tm_t *tm,
    unsigned seq, char out[YIBAO_MSGID_LEN + 1]);


#endif /* _YIBAO_MSGID_H_INCLUDED_ */
