/*
 * Copyright (C) yibao-gateway authors
 */


#ifndef _YIBAO_INFNO_H_INCLUDED_
#define _YIBAO_INFNO_H_INCLUDED_


#include "yibao_types.h"


/*
 * What a transaction does on the platform, by its interface number
 * (infno), and so what the gateway may do with it: cache its answer,
 * journal it before it is sent, and call its outcome unknown when the
 * answer is lost.  The one table of these classes is in yibao_infno.c;
 * docs/operations.md ("Transaction classes") shows it.
 *
 *   READ        reads reference data or a person's status: safe to
 *               repeat, cacheable where configured (1101, 1201,
 *               1301-1319, 1901, 2001, 5101, 5102, 5201-5206,
 *               5301-5304)
 *   STATEMENT   3201, the statement check: a read, journaled for the
 *               totals it is compared with
 *   COMPUTE     2206 pre-settlement: computes, changes nothing: sent
 *               again after a lost answer
 *   REPLACE     2202, 2203, 2205: replaces or cancels what the visit
 *               holds; a repeat is harmless (at worst refused)
 *   CREATE      2201, 2204, 2301-2303, 2401-2405, 9001, 9101: creates
 *               state with no safe repeat (a new mdtrt_id, duplicated
 *               fee lines)
 *   MONEY       2207, 2208, 2102, 2103, 2304, 2305: moves money, never
 *               sent twice; a lost answer is resolved by 5203 or 2601
 *   COMPENSATE  2601, the reversal: repeated only as itself
 *
 * A lettered variant (2207A) is in the class of its number; only the
 * plain number of a READ is cacheable.
 */

typedef enum {
    YIBAO_INFNO_OTHER = 0,     /* not in the table: sent as it is */
    YIBAO_INFNO_READ,
    YIBAO_INFNO_STATEMENT,
    YIBAO_INFNO_COMPUTE,
    YIBAO_INFNO_REPLACE,
    YIBAO_INFNO_CREATE,
    YIBAO_INFNO_MONEY,
    YIBAO_INFNO_COMPENSATE
} yibao_infno_class_e;


yibao_infno_class_e yibao_infno_class(const unsigned char *infno,
    size_t len);

/* "read", "statement", ... ("other") */
const char *yibao_infno_class_name(yibao_infno_class_e cls);

/* 1 if the answer may be cached (a READ, plain number) */
int yibao_infno_cacheable(const unsigned char *infno, size_t len);

/*
 * 1 if the transaction is journaled by msgid before it is sent and
 * never sent twice: STATEMENT, CREATE, MONEY, COMPENSATE.
 */
int yibao_infno_journaled(const unsigned char *infno, size_t len);

/*
 * 1 if a lost answer leaves the outcome unknown (CREATE, MONEY,
 * COMPENSATE): the transaction may have taken effect and cannot simply
 * be sent again.  0: a lost answer is a plain failure, and the caller
 * may send it again.
 */
int yibao_infno_lost_unknown(const unsigned char *infno, size_t len);

/* 1 if it moves money (MONEY): an unknown outcome is resolved */
int yibao_infno_money(const unsigned char *infno, size_t len);


#endif /* _YIBAO_INFNO_H_INCLUDED_ */
